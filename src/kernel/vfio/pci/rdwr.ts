import { VFIO_PCI_OFFSET_MASK, VFIO_PCI_ROM_REGION_INDEX, vfioPciOffsetToIndex } from '../../../uapi/vfio.js';
import { EFAULT, EINVAL, EIO, ENOMEM } from '../../errno.js';
import type { FilePos } from '../../fs/file.js';
import type { Kernel } from '../../kernel.js';
import { copyFromUser, copyToUser } from '../../mm/index.js';
import { ioportRead, ioportWrite, ioread, iowrite, type PciDev } from '../../pci/pci-dev.js';
import { pciMapRom, pciUnmapRom } from '../../pci/rom.js';
import type { Task } from '../../sched/task.js';
import { vfioPciIoread, vfioPciIowrite } from './io.js';
import { memoryEnabled, type VfioPciDevice } from './vfio-pci-device.js';

/** [model] ioread32/16/8 or inl/inw/inb of the target, as do_io_rw picks them (`port`: an I/O-port BAR at `base`). */
function* ioRead(k: Kernel, pdev: PciDev, port: boolean, addr: number, size: 1 | 2 | 4): Task<number> {
  if (port) return yield* ioportRead(k, pdev, addr, size);
  return Number(yield* ioread(k, pdev, addr, size));
}

/** [model] iowrite32/16/8 or outl/outw/outb of the target, as do_io_rw picks them. */
function* ioWrite(k: Kernel, pdev: PciDev, port: boolean, addr: number, size: 1 | 2 | 4, v: number): Task<void> {
  if (port) yield* ioportWrite(k, pdev, addr, size, v);
  else yield* iowrite(k, pdev, addr, size, BigInt(v >>> 0));
}

/** The vfio_pci_ioread/iowrite helper names by access size (lockdep and trace labels). */
const IOREAD_FN = { 1: 'vfio_pci_ioread8', 2: 'vfio_pci_ioread16', 4: 'vfio_pci_ioread32' } as const;
const IOWRITE_FN = { 1: 'vfio_pci_iowrite8', 2: 'vfio_pci_iowrite16', 4: 'vfio_pci_iowrite32' } as const;

/**
 * do_io_rw (drivers/vfio/pci/vfio_pci_rdwr.c, 5.8; 5.9 with `testMem`): naturally
 * aligned 4/2/1-byte accesses, user copies in between; the excluded range [xStart, xEnd)
 * reads as 0xff and drops writes without touching the device. With `testMem` (the
 * per-access design, bc93b9ae0151) each device access goes through the checked
 * vfio_pci_ioreadN/iowriteN helpers, which take memory_lock for read around that one
 * access only; the first refused access ends the call with -EIO (bytes already
 * transferred are not reported), and the user copies run with no lock held.
 *
 * The target is the memory or I/O-port (`port`) range at `base` of `pdev`.
 */
function* doIoRw(
  k: Kernel,
  pdev: PciDev,
  base: number,
  port: boolean,
  buf: number,
  off: number,
  count: number,
  xStart: number,
  xEnd: number,
  iswrite: boolean,
  testMem: VfioPciDevice | null,
): Task<number> {
  let done = 0;
  while (count > 0) {
    let fillable: number;
    if (off < xStart) fillable = Math.min(count, xStart - off);
    else if (off >= xEnd) fillable = count;
    else fillable = 0;
    let filled: number;
    const size: 0 | 1 | 2 | 4 = fillable >= 4 && off % 4 === 0 ? 4 : fillable >= 2 && off % 2 === 0 ? 2 : fillable > 0 ? 1 : 0;
    if (size !== 0) {
      // A fresh bounce buffer per chunk: the copy may sleep, and another thread may run
      // this same code meanwhile.
      const b = new Uint8Array(size);
      if (iswrite) {
        if ((yield* copyFromUser(k, buf, b)) !== 0) {
          done = -EFAULT;
          break;
        }
        let v = 0;
        for (let i = 0; i < size; i++) v |= (b[i] ?? 0) << (8 * i);
        if (testMem !== null && !port) {
          const r = yield* vfioPciIowrite(k, testMem, true, base + off, size, BigInt(v >>> 0), IOWRITE_FN[size]);
          if (r !== 0) {
            done = r;
            break;
          }
        } else {
          yield* ioWrite(k, pdev, port, base + off, size, v >>> 0);
        }
      } else {
        let v: number;
        if (testMem !== null && !port) {
          const r = yield* vfioPciIoread(k, testMem, true, base + off, size, IOREAD_FN[size]);
          if (typeof r === 'number') {
            done = r;
            break;
          }
          v = Number(r);
        } else {
          v = yield* ioRead(k, pdev, port, base + off, size);
        }
        for (let i = 0; i < size; i++) b[i] = (v >>> (8 * i)) & 0xff;
        if ((yield* copyToUser(k, buf, b)) !== 0) {
          done = -EFAULT;
          break;
        }
      }
      filled = size;
    } else {
      filled = Math.min(count, xEnd - off);
      if (!iswrite) {
        const ff = new Uint8Array([0xff]);
        let fault = false;
        for (let i = 0; i < filled; i++) {
          if ((yield* copyToUser(k, buf + i, ff)) !== 0) {
            fault = true;
            break;
          }
        }
        if (fault) {
          done = -EFAULT;
          break;
        }
      }
    }
    count -= filled;
    done += filled;
    off += filled;
    buf += filled;
  }
  return done;
}

const BAR_RW = 'vfio_pci_bar_rw';

/**
 * vfio_pci_bar_rw (drivers/vfio/pci/vfio_pci_rdwr.c, 5.7, 5.8, 5.9), by the rwLocking knob:
 * - 'whole-call' (5.8.0 as merged): for a memory BAR or the ROM, memory_lock is read-held
 *   across the whole call — ROM mapping and the user copies included (defect H3) — and the
 *   call fails with -EIO while memory is disabled.
 * - 'per-access' (5.9 and 5.8.y, bc93b9ae0151 "vfio-pci: Avoid recursive read-lock usage"):
 *   no lock at function level. Each 4/2/1-byte access of a memory BAR or the ROM takes
 *   memory_lock for read, checks, accesses and releases (vfio_pci_ioreadN/iowriteN); a
 *   refused access returns -EIO at once, the file position is not advanced and bytes
 *   already moved are not reported. The user copies run with no lock held, so a buffer
 *   inside a BAR mapping of the same device faults without a recursive read (H3 fixed).
 *   Excluded ranges (MSI-X table, ROM past its image) never touch the device and succeed
 *   even while memory is disabled. pci_map_rom runs without the lock and without a check:
 *   with decode disabled its header reads are unclaimed (Unsupported Requests, all-ones),
 *   the signature check fails and the read returns -ENOMEM (spec §2.7, [inferred]).
 * - 'none' (5.7): no lock, no check.
 * I/O-port BARs are never checked.
 */
export function* vfioPciBarRw(k: Kernel, vdev: VfioPciDevice, buf: number, count: number, ppos: FilePos, iswrite: boolean): Task<number> {
  const fn = BAR_RW;
  const pdev = vdev.pdev;
  const bar = vfioPciOffsetToIndex(ppos.value);
  const pos = ppos.value - bar * (VFIO_PCI_OFFSET_MASK + 1); // pos & VFIO_PCI_OFFSET_MASK (pos >= 0)
  const res = pdev.resource(bar);
  if (res === null) return -EINVAL;
  const end = res.size;
  if (pos >= end) return -EINVAL;
  count = Math.min(count, end - pos);
  const perAccess = k.knobs.rwLocking === 'per-access';
  const checked = res.kind === 'mem' && k.knobs.rwLocking === 'whole-call';
  if (checked) {
    yield* vdev.memoryLock.downRead(fn);
    if (k.knobs.blockDisabledMemory && !memoryEnabled(k, vdev)) {
      yield* vdev.memoryLock.upRead(fn);
      k.events.emit({ kind: 'vfio.blocked', dev: vdev.name, path: iswrite ? 'pwrite' : 'pread', errno: EIO });
      return -EIO;
    }
  }
  let xStart = 0;
  let xEnd = 0;
  let base: number;
  let port = false;
  const rom = bar === VFIO_PCI_ROM_REGION_INDEX;
  if (rom) {
    // The ROM can fill less space than the BAR: the excluded range starts at the image end.
    const m = yield* pciMapRom(k, pdev);
    if (m === null) {
      if (checked) yield* vdev.memoryLock.upRead(fn);
      return -ENOMEM;
    }
    base = m.base;
    xStart = m.size;
    xEnd = end;
  } else {
    vdev.barmap[bar] = true; // vfio_pci_setup_barmap
    base = res.start;
    port = res.kind === 'io';
  }
  if (bar === vdev.msixBar) {
    xStart = vdev.msixOffset;
    xEnd = vdev.msixOffset + vdev.msixSize;
  }
  // per-access: test_mem = res->flags & IORESOURCE_MEM (memory BARs and the ROM)
  const testMem = perAccess && res.kind === 'mem' ? vdev : null;
  const done = yield* doIoRw(k, pdev, base, port, buf, pos, count, xStart, xEnd, iswrite, testMem);
  if (done >= 0) ppos.value += done;
  else if (perAccess && done === -EIO) k.events.emit({ kind: 'vfio.blocked', dev: vdev.name, path: iswrite ? 'pwrite' : 'pread', errno: EIO });
  if (rom) yield* pciUnmapRom(pdev);
  if (checked) yield* vdev.memoryLock.upRead(fn);
  return done;
}
