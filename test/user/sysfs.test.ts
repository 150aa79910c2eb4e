/**
 * The PCI sysfs (src/kernel/pci/pci-sysfs.ts) through the C-shaped layer and the typed
 * API: listings, attribute contents as Linux prints them, the links, and `config`
 * written as root behind vfio-pci's back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DT_DIR, DT_LNK, DT_REG, EACCES, EINVAL, EISDIR, ENAMETOOLONG, ENOTDIR, libc, type Libc, O_RDONLY, O_RDWR, O_WRONLY, PciSysfs, PROT_READ, PROT_WRITE,
  strerror, System, unwrap, VfioContainer, VfioGroup, VFIO_TYPE1v2_IOMMU,
} from '../../src/index.js';

const EDU = '0000:01:00.0';
const NIC = '0000:03:00.0';

/** cat(1): the file's whole content. */
function cat(c: Libc, path: string): string {
  const fd = c.open(path, O_RDONLY);
  assert.ok(fd >= 0, `${path}: ${strerror(c.errno)}`);
  const buf = c.malloc(4096);
  let out = '';
  for (;;) {
    const n = c.read(fd, buf, 7); // small reads: the file position carries over
    assert.ok(n >= 0, strerror(c.errno));
    if (n === 0) break;
    out += new TextDecoder().decode(c.peek(buf, n));
  }
  c.close(fd);
  return out;
}

/** ls -f: the names readdir returns, '.' and '..' included, with a type mark. */
function ls(c: Libc, path: string): string[] {
  const d = c.opendir(path);
  assert.ok(d !== null, `${path}: ${strerror(c.errno)}`);
  const out: string[] = [];
  for (let e = c.readdir(d); e !== null; e = c.readdir(d)) out.push(e.d_name + (e.d_type === DT_DIR ? '/' : e.d_type === DT_LNK ? '@' : e.d_type === DT_REG ? '' : '?'));
  c.closedir(d);
  return out;
}

function readlink(c: Libc, path: string): string {
  const buf = c.malloc(256);
  const n = c.readlink(path, buf, 256);
  assert.ok(n >= 0, `${path}: ${strerror(c.errno)}`);
  return c.peekString(buf, n);
}

test('sysfs /sys/bus/pci/devices lists every function as a link into /sys/devices (bus_add_device)', () => {
  const sys = new System();
  const c = libc(sys.spawnProcess('ls'));
  assert.deepEqual(ls(c, '/sys'), ['./', '../', 'bus/', 'devices/', 'kernel/']);
  assert.deepEqual(ls(c, '/sys/bus/pci/devices'), ['./', '../', ...sys.pci.devs.map((d) => `${d.name}@`)]);
  assert.equal(readlink(c, `/sys/bus/pci/devices/${EDU}`), `../../../devices/pci0000:00/0000:00:01.0/${EDU}`);
  assert.deepEqual(ls(c, `/sys/bus/pci/devices/${EDU}`), ['./', '../', 'class', 'config', 'device', 'driver@', 'iommu_group@', 'reset_method', 'vendor']);
  // a bridge's directory holds the functions below it
  assert.deepEqual(ls(c, '/sys/devices/pci0000:00/0000:00:01.0').filter((n) => n.startsWith('0000')), [`${EDU}/`]);
});

test('sysfs attributes read as Linux prints them: vendor "0x1234\\n", device, class "0x00ff00\\n", reset_method per device', () => {
  const sys = new System();
  const c = libc(sys.spawnProcess('cat'));
  assert.equal(cat(c, `/sys/bus/pci/devices/${EDU}/vendor`), '0x1234\n');
  assert.equal(cat(c, `/sys/bus/pci/devices/${EDU}/device`), '0x11e8\n');
  assert.equal(cat(c, `/sys/bus/pci/devices/${EDU}/class`), '0x00ff00\n');
  // edu has no FLR, no PM reset: only the bus reset through its root port
  assert.equal(cat(c, `/sys/bus/pci/devices/${EDU}/reset_method`), 'bus\n');
  assert.equal(cat(c, `/sys/bus/pci/devices/${NIC}/reset_method`), 'flr bus\n');
  assert.equal(cat(c, `/sys/bus/pci/devices/${NIC}/class`), '0x020000\n');
  // root ports have no reset method: the attribute is hidden (reset_method_attr_is_visible)
  assert.equal(c.open('/sys/bus/pci/devices/0000:00:01.0/reset_method', O_RDONLY), -1);
});

test('sysfs links: iommu_group -> kernel/iommu_groups/<n>, driver -> bus/pci/drivers/vfio-pci; /sys/kernel/iommu_groups/<n>/devices lists the group', () => {
  const sys = new System();
  const c = libc(sys.spawnProcess('t'));
  const g = sys.hw.fn(EDU).iommuGroup;
  assert.equal(readlink(c, `/sys/bus/pci/devices/${EDU}/iommu_group`), `../../../../kernel/iommu_groups/${g}`);
  assert.equal(readlink(c, `/sys/bus/pci/devices/${EDU}/driver`), '../../../../bus/pci/drivers/vfio-pci');
  assert.deepEqual(ls(c, `/sys/kernel/iommu_groups/${g}/devices`), ['./', '../', `${EDU}@`]);
  assert.equal(readlink(c, `/sys/kernel/iommu_groups/${g}/devices/${EDU}`), `../../../../devices/pci0000:00/0000:00:01.0/${EDU}`);
  // the links resolve: the group's device entry reaches the device's attributes
  assert.equal(cat(c, `/sys/kernel/iommu_groups/${g}/devices/${EDU}/vendor`), '0x1234\n');
  assert.ok(ls(c, '/sys/bus/pci/drivers/vfio-pci').includes(`${EDU}@`));
  // a function bound to no driver has no driver link
  const unbound = new System({ bind: (n) => n !== EDU });
  const cu = libc(unbound.spawnProcess('t'));
  assert.equal(cu.readlink(`/sys/bus/pci/devices/${EDU}/driver`, cu.malloc(64), 64), -1);
});

test('sysfs errors as the VFS gives them: ENOTDIR, EISDIR, EACCES for writing a read-only attribute, EINVAL for readlink of a file, ENAMETOOLONG', () => {
  const sys = new System();
  const c = libc(sys.spawnProcess('t'));
  assert.equal(c.opendir(`/sys/bus/pci/devices/${EDU}/vendor`), null);
  assert.equal(c.errno, ENOTDIR);
  c.errno = 0;
  assert.equal(c.opendir('/dev/vfio/vfio'), null, 'a device node is no directory');
  assert.equal(c.errno, ENOTDIR);
  const dfd = c.open('/sys/bus/pci/devices', O_RDONLY);
  assert.equal(c.read(dfd, c.malloc(8), 8), -1);
  assert.equal(c.errno, EISDIR);
  assert.equal(c.open(`/sys/bus/pci/devices/${EDU}/vendor`, O_WRONLY), -1);
  assert.equal(c.errno, EACCES);
  assert.equal(c.readlink(`/sys/bus/pci/devices/${EDU}/vendor`, c.malloc(8), 8), -1);
  assert.equal(c.errno, EINVAL);
  assert.equal(c.open(`/sys/${'a/'.repeat(3000)}`, O_RDONLY), -1, 'a path of PATH_MAX bytes or more');
  assert.equal(c.errno, ENAMETOOLONG);
});

test('sysfs config is the whole config space at its offsets (pread of 256 bytes starts with the vendor and device ids)', () => {
  const sys = new System();
  const c = libc(sys.spawnProcess('t'));
  const fd = c.open(`/sys/bus/pci/devices/${EDU}/config`, O_RDONLY);
  const buf = c.malloc(4096);
  assert.equal(c.pread(fd, buf, 4096, 0), 256, 'a conventional function has 256 bytes');
  assert.deepEqual([...c.peek(buf, 4)], [0x34, 0x12, 0xe8, 0x11]);
  assert.equal(c.pread(fd, buf, 16, 256), 0, 'past the end: 0');
  assert.equal(c.pread(fd, buf, 3, 1), 3, 'an unaligned read');
  assert.deepEqual([...c.peek(buf, 3)], [0x12, 0xe8, 0x11]);
});

test('sysfs config written as root clears MEM behind vfio-pci: vfio (5.8 reads its virtual command register) neither zaps nor refuses, so BAR accesses become Unsupported Requests', () => {
  const sys = new System({ variant: '5.8' });
  const p = sys.spawnProcess('qemu');
  const cont = unwrap(VfioContainer.open(p));
  const grp = unwrap(VfioGroup.open(p, sys.hw.fn(EDU).iommuGroup));
  unwrap(grp.setContainer(cont));
  unwrap(cont.setIommu(VFIO_TYPE1v2_IOMMU));
  const d = unwrap(grp.getDevice(EDU));
  const bar = unwrap(d.mmapRegion(0, { length: 0x2000, prot: PROT_READ | PROT_WRITE }));
  assert.deepEqual(p.load(bar, 4), { ok: true, value: 0x010000edn }, 'page 0 faulted in');
  // root, in another process: setpci COMMAND=0 through sysfs
  const root = libc(sys.spawnProcess('setpci'));
  const fd = root.open(`/sys/bus/pci/devices/${EDU}/config`, O_RDWR);
  const w = root.malloc(2);
  root.store16(w, 0);
  assert.equal(root.pwrite(fd, w, 2, 4), 2);
  assert.equal(sys.hw.fn(EDU).state().memDecode, false, 'the hardware stopped decoding');
  const ur = sys.platformErrors;
  // vfio-pci did not see it: the PTE of page 0 is still there, so the access reaches the bus
  assert.deepEqual(p.load(bar, 4), { ok: true, value: 0xffffffffn }, 'an Unsupported Request reads all-ones');
  // page 1 was never faulted: __vfio_pci_memory_enabled reads vconfig, which still says MEM, so the fault maps it
  assert.deepEqual(p.load(bar + 0x1000, 4), { ok: true, value: 0xffffffffn });
  // and vfio_pci_bar_rw goes to the device as well
  assert.deepEqual(d.readRegion(0, 0, 4), { ok: true, value: new Uint8Array([0xff, 0xff, 0xff, 0xff]) });
  assert.equal(sys.platformErrors, ur + 3, 'three URs, where clearing MEM through vfio gives SIGBUS/EIO and none');
});

test('typed sysfs API: devices, ids, group, driver, reset methods, config read/write, group members (all through libc)', () => {
  const sys = new System();
  const s = new PciSysfs(libc(sys.spawnProcess('t')));
  assert.deepEqual(unwrap(s.devices()), sys.pci.devs.map((d) => d.name));
  assert.equal(unwrap(s.vendor(EDU)), 0x1234);
  assert.equal(unwrap(s.device(EDU)), 0x11e8);
  assert.equal(unwrap(s.pciClass(EDU)), 0x00ff00);
  assert.equal(unwrap(s.iommuGroup(EDU)), sys.hw.fn(EDU).iommuGroup);
  assert.equal(unwrap(s.driver(EDU)), 'vfio-pci');
  assert.equal(unwrap(s.driver('0000:00:01.0')), null);
  assert.deepEqual(unwrap(s.resetMethods(NIC)), ['flr', 'bus']);
  assert.deepEqual(unwrap(s.resetMethods('0000:00:01.0')), []);
  assert.deepEqual(unwrap(s.groupDevices(sys.hw.fn(EDU).iommuGroup)), [EDU]);
  assert.equal(unwrap(s.readConfig(EDU, 0, 4)), 0x11e81234);
  unwrap(s.writeConfig(EDU, 4, 2, 0));
  assert.equal(unwrap(s.readConfig(EDU, 4, 2)), 0);
  assert.deepEqual(s.vendor('0000:09:00.0'), { ok: false, errno: 2 });
});

test('the host bridge 00:00.0 is bound to no driver (nobody binds a host bridge to vfio-pci): no driver link, not among vfio-pci\'s devices, and its group has no /dev/vfio node', () => {
  const sys = new System();
  const c = libc(sys.spawnProcess('t'));
  const HB = '0000:00:00.0';
  assert.equal(c.readlink(`/sys/bus/pci/devices/${HB}/driver`, c.malloc(64), 64), -1);
  assert.ok(!ls(c, '/sys/bus/pci/drivers/vfio-pci').includes(`${HB}@`));
  assert.equal(c.open(`/dev/vfio/${sys.hw.fn(HB).iommuGroup}`, O_RDWR), -1);
});
