/**
 * The typed view of the PCI sysfs (what lspci, setpci and a VMM's device setup read),
 * on the typed client's conventions: every method returns `Result<T>`. Every access goes
 * through the C-shaped layer (`Libc`: open/read/pread/pwrite/readlink/opendir), exactly
 * as a C program's would.
 */
import { EINVAL, EIO } from '../kernel/errno.js';
import { type Libc, O_RDONLY, O_RDWR } from './libc.js';
import { err, ok, type Result } from './vfio-client.js';

const DEVICES = '/sys/bus/pci/devices';

/** PCI sysfs through one thread's C library. */
export class PciSysfs {
  /** One buffer in model memory, reused by every call (the allocator never frees). */
  private buf = 0;

  constructor(readonly c: Libc) {}

  /** The reusable 4 KiB buffer (0 if out of memory, errno set). */
  private scratch(): number {
    if (this.buf === 0) this.buf = this.c.malloc(4096);
    return this.buf;
  }

  private fail<T>(): Result<T> {
    return err(this.c.errno);
  }

  /** The whole text of a sysfs attribute (open, read until 0, close). */
  readText(path: string): Result<string> {
    const c = this.c;
    const buf = this.scratch();
    if (buf === 0) return this.fail();
    const fd = c.open(path, O_RDONLY);
    if (fd < 0) return this.fail();
    let out = '';
    for (;;) {
      const n = c.read(fd, buf, 4096);
      if (n < 0) {
        c.close(fd);
        return this.fail();
      }
      if (n === 0) break;
      out += new TextDecoder().decode(c.peek(buf, n));
    }
    c.close(fd);
    return ok(out);
  }

  /** readlink(2) of a sysfs link. */
  readlink(path: string): Result<string> {
    const buf = this.scratch();
    if (buf === 0) return this.fail();
    const n = this.c.readlink(path, buf, 4096);
    return n < 0 ? this.fail() : ok(this.c.peekString(buf, n));
  }

  /** The entry names of a sysfs directory ('.' and '..' left out), in readdir order. */
  list(path: string): Result<string[]> {
    const d = this.c.opendir(path);
    if (d === null) return this.fail();
    const names: string[] = [];
    for (let e = this.c.readdir(d); e !== null; e = this.c.readdir(d)) if (e.d_name !== '.' && e.d_name !== '..') names.push(e.d_name);
    this.c.closedir(d);
    return ok(names);
  }

  private hexAttr(bdf: string, attr: string): Result<number> {
    const r = this.readText(`${DEVICES}/${bdf}/${attr}`);
    if (!r.ok) return r;
    const v = Number.parseInt(r.value.trim(), 16);
    return Number.isNaN(v) ? err(EINVAL) : ok(v);
  }

  /** ls /sys/bus/pci/devices */
  devices(): Result<string[]> {
    return this.list(DEVICES);
  }

  /** <bdf>/vendor (pdev->vendor) */
  vendor(bdf: string): Result<number> {
    return this.hexAttr(bdf, 'vendor');
  }

  /** <bdf>/device (pdev->device) */
  device(bdf: string): Result<number> {
    return this.hexAttr(bdf, 'device');
  }

  /** <bdf>/class (pdev->class: base class, subclass, prog-if) */
  pciClass(bdf: string): Result<number> {
    return this.hexAttr(bdf, 'class');
  }

  /** The group number from the <bdf>/iommu_group link. */
  iommuGroup(bdf: string): Result<number> {
    const r = this.readlink(`${DEVICES}/${bdf}/iommu_group`);
    if (!r.ok) return r;
    return ok(Number(r.value.slice(r.value.lastIndexOf('/') + 1)));
  }

  /** The bound driver's name from the <bdf>/driver link, or null when no driver is bound. */
  driver(bdf: string): Result<string | null> {
    const r = this.readlink(`${DEVICES}/${bdf}/driver`);
    if (r.ok) return ok(r.value.slice(r.value.lastIndexOf('/') + 1));
    const dir = this.list(`${DEVICES}/${bdf}`);
    return dir.ok ? ok(null) : dir;
  }

  /** <bdf>/reset_method as a list ([] when the attribute is hidden: no method works). */
  resetMethods(bdf: string): Result<string[]> {
    const r = this.readText(`${DEVICES}/${bdf}/reset_method`);
    if (r.ok) return ok(r.value.trim().split(/\s+/).filter((x) => x !== ''));
    const dir = this.list(`${DEVICES}/${bdf}`);
    return dir.ok ? ok([]) : dir;
  }

  /** ls /sys/kernel/iommu_groups/<n>/devices */
  groupDevices(group: number): Result<string[]> {
    return this.list(`/sys/kernel/iommu_groups/${group}/devices`);
  }

  /** A little-endian read of 1/2/4 bytes of <bdf>/config at `offset` (pread). */
  readConfig(bdf: string, offset: number, size: 1 | 2 | 4): Result<number> {
    const c = this.c;
    const buf = this.scratch();
    if (buf === 0) return this.fail();
    const fd = c.open(`${DEVICES}/${bdf}/config`, O_RDONLY);
    if (fd < 0) return this.fail();
    const n = c.pread(fd, buf, size, offset);
    c.close(fd);
    if (n < 0) return this.fail();
    if (n !== size) return err(EIO);
    const b = c.peek(buf, size);
    let v = 0;
    for (let i = 0; i < size; i++) v |= (b[i] as number) << (8 * i);
    return ok(v >>> 0);
  }

  /** A little-endian write of 1/2/4 bytes to <bdf>/config at `offset` (pwrite; as root, behind any driver's back). */
  writeConfig(bdf: string, offset: number, size: 1 | 2 | 4, value: number): Result<void> {
    const c = this.c;
    const buf = this.scratch();
    if (buf === 0) return this.fail();
    const fd = c.open(`${DEVICES}/${bdf}/config`, O_RDWR);
    if (fd < 0) return this.fail();
    const b = new Uint8Array(size);
    for (let i = 0; i < size; i++) b[i] = (value >>> (8 * i)) & 0xff;
    c.poke(buf, b);
    const n = c.pwrite(fd, buf, size, offset);
    c.close(fd);
    if (n < 0) return this.fail();
    return n === size ? ok(undefined) : err(EIO);
  }
}
