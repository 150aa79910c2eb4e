/**
 * VFIO_DEVICE_IOEVENTFD (drivers/vfio/pci/vfio_pci_rdwr.c): a user eventfd bound to a
 * fixed MMIO/IO write. Signalling the eventfd performs the write from the eventfd wakeup,
 * never through read()/write() on the device fd — so it is a path to the device that the
 * memory-enable blocking must cover too (H4, spec §2.8). What the handler checks is the
 * `ioeventfdWrite` knob.
 */
import { VFIO_PCI_BAR5_REGION_INDEX, VFIO_PCI_OFFSET_MASK } from '../../../uapi/vfio.js';
import { EEXIST, EINVAL, ENODEV, ENOSPC } from '../../errno.js';
import type { Kernel } from '../../kernel.js';
import { ioportWrite, iowrite } from '../../pci/pci-dev.js';
import type { Task } from '../../sched/task.js';
import { vfioVirqfdDisable, vfioVirqfdEnable, type VirqfdSlot } from '../virqfd.js';
import { vfioPciIowrite } from './io.js';
import { memoryEnabled, type VfioPciDevice } from './vfio-pci-device.js';

/** VFIO_PCI_IOEVENTFD_MAX (drivers/vfio/pci/vfio_pci_private.h, 5.8) */
export const VFIO_PCI_IOEVENTFD_MAX = 1000;

/** struct vfio_pci_ioeventfd */
export class VfioPciIoeventfd implements VirqfdSlot {
  virqfd: VirqfdSlot['virqfd'] = null;
  /** Writes that reached the device / were dropped because memory was disabled (for reports). */
  performed = 0;
  dropped = 0;

  constructor(
    readonly vdev: VfioPciDevice,
    /** Bus address (MMIO) or port (I/O BAR) of the write. */
    readonly addr: number,
    readonly data: bigint,
    readonly pos: number,
    readonly bar: number,
    readonly count: 1 | 2 | 4 | 8,
    /** The BAR is a memory resource: the write must respect the memory-enable state. */
    readonly testMem: boolean,
    readonly port: boolean,
  ) {}
}

/** vfio_pci_ioeventfd_do_write (drivers/vfio/pci/vfio_pci_rdwr.c, 5.10): the write itself, unchecked (test_mem false; before 5.10 the handler body). */
function* doWrite(k: Kernel, io: VfioPciIoeventfd): Task<void> {
  const pdev = io.vdev.pdev;
  if (!io.port) yield* iowrite(k, pdev, io.addr, io.count, BigInt.asUintN(io.count * 8, io.data));
  else if (io.count !== 8) yield* ioportWrite(k, pdev, io.addr, io.count, Number(BigInt.asUintN(io.count * 8, io.data)));
  else {
    // iowrite64 on a port cookie (lib/iomap.c iowrite64_lo_hi): two 32-bit writes, low half first
    yield* ioportWrite(k, pdev, io.addr, 4, Number(io.data & 0xffff_ffffn));
    yield* ioportWrite(k, pdev, io.addr + 4, 4, Number(io.data >> 32n));
  }
  io.performed++;
}

/** vfio_pci_ioeventfd_do_write (drivers/vfio/pci/vfio_pci_rdwr.c, 5.10): with test_mem (in 5.9 the handler body), the checked write; dropped (-EIO ignored) while disabled. */
function* checkedWrite(k: Kernel, io: VfioPciIoeventfd, fn: string): Task<void> {
  if (io.port) return yield* doWrite(k, io);
  const r = yield* vfioPciIowrite(k, io.vdev, io.testMem, io.addr, io.count, BigInt.asUintN(io.count * 8, io.data), fn);
  if (r === 0) io.performed++;
  else {
    io.dropped++;
    k.events.emit({ kind: 'vfio.blocked', dev: io.vdev.name, path: 'ioeventfd', errno: -r });
  }
}

/**
 * __might_sleep (kernel/sched/core.c, 5.9) called in atomic context: with
 * CONFIG_DEBUG_ATOMIC_SLEEP (the debug config) it prints, at error level, "BUG: sleeping
 * function called from invalid context at FILE:LINE" followed by the task's state, its held
 * locks and a stack dump; a distro kernel checks nothing. (The model leaves out the line
 * number: it does not model the source lines.)
 */
function mightSleepInAtomic(k: Kernel, file: string, fn: string): void {
  if (k.config !== 'debug') return;
  k.events.emit({ kind: 'printk', level: 'err', line: `BUG: sleeping function called from invalid context at ${file}`, fn, stack: true });
}

/**
 * vfio_pci_ioeventfd_handler (drivers/vfio/pci/vfio_pci_rdwr.c, 5.8, 5.9, 5.10): runs in the eventfd
 * wakeup. 5.8.0 writes unconditionally; 5.9 takes memory_lock with a sleeping down_read in
 * atomic context; 5.10-rc3+ try-locks and defers to the thread on contention.
 */
function* ioeventfdHandler(k: Kernel, io: VfioPciIoeventfd): Task<boolean> {
  const fn = 'vfio_pci_ioeventfd_handler';
  const mode = k.knobs.ioeventfdWrite;
  if (mode === 'unchecked' || !io.testMem) {
    yield* doWrite(k, io);
    return false;
  }
  if (mode === 'checked-sleeping') {
    mightSleepInAtomic(k, 'kernel/locking/rwsem.c', 'vfio_pci_iowrite');
    yield* checkedWrite(k, io, fn);
    return false;
  }
  const vdev = io.vdev;
  if (!(yield* vdev.memoryLock.downReadTrylock(fn))) return true; // contended: use thread
  if (!memoryEnabled(k, vdev)) {
    yield* vdev.memoryLock.upRead(fn);
    io.dropped++;
    k.events.emit({ kind: 'vfio.blocked', dev: vdev.name, path: 'ioeventfd', errno: 5 });
    return false;
  }
  yield* doWrite(k, io);
  yield* vdev.memoryLock.upRead(fn);
  return false;
}

/** vfio_pci_ioeventfd_thread (drivers/vfio/pci/vfio_pci_rdwr.c, 5.10): the checked write from process context. */
function* ioeventfdThread(k: Kernel, io: VfioPciIoeventfd): Task<void> {
  yield* checkedWrite(k, io, 'vfio_pci_ioeventfd_thread');
}

/**
 * vfio_pci_ioeventfd (drivers/vfio/pci/vfio_pci_rdwr.c, 5.8): add, or with fd -1 remove,
 * an ioeventfd for `count` bytes of `data` at device-fd offset `offset`. BARs only; not
 * over the MSI-X table; -EEXIST for a duplicate, -ENODEV removing one that does not
 * exist, -ENOSPC past VFIO_PCI_IOEVENTFD_MAX. Registration ignores the memory state.
 */
export function* vfioPciIoeventfd(k: Kernel, vdev: VfioPciDevice, offset: bigint, data: bigint, count: 1 | 2 | 4 | 8, fd: number): Task<number> {
  const fn = 'vfio_pci_ioeventfd';
  const pdev = vdev.pdev;
  const pos = Number(offset & BigInt(VFIO_PCI_OFFSET_MASK));
  const bar = Number(offset >> 40n); // VFIO_PCI_OFFSET_TO_INDEX
  if (bar > VFIO_PCI_BAR5_REGION_INDEX) return -EINVAL;
  const res = pdev.resource(bar);
  const len = res === null ? 0 : res.size;
  if (pos + count > len || res === null) return -EINVAL;
  if (bar === vdev.msixBar && !(pos + count <= vdev.msixOffset || pos >= vdev.msixOffset + vdev.msixSize)) return -EINVAL;
  vdev.barmap[bar] = true; // vfio_pci_setup_barmap
  yield* vdev.ioeventfdsLock.lock(fn);
  let ret: number;
  const same = vdev.ioeventfds.find((e) => e.pos === pos && e.bar === bar && e.data === data && e.count === count);
  if (same !== undefined) {
    if (fd === -1) {
      vfioVirqfdDisable(same);
      vdev.ioeventfds.splice(vdev.ioeventfds.indexOf(same), 1);
      ret = 0;
    } else {
      ret = -EEXIST;
    }
  } else if (fd < 0) {
    ret = -ENODEV;
  } else if (vdev.ioeventfds.length >= VFIO_PCI_IOEVENTFD_MAX) {
    ret = -ENOSPC;
  } else {
    const io = new VfioPciIoeventfd(vdev, res.start + pos, data, pos, bar, count, res.kind === 'mem', res.kind === 'io');
    const name = `${vdev.name}:bar${bar}+0x${pos.toString(16)}`;
    ret = yield* vfioVirqfdEnable(k, name, () => ioeventfdHandler(k, io), () => ioeventfdThread(k, io), io, fd);
    if (ret === 0) vdev.ioeventfds.unshift(io); // list_add
  }
  yield* vdev.ioeventfdsLock.unlock(fn);
  return ret;
}

/** The ioeventfd teardown of vfio_pci_disable (drivers/vfio/pci/vfio_pci.c, 5.8): device closed, no lock needed. */
export function vfioPciIoeventfdsRelease(vdev: VfioPciDevice): void {
  for (const io of vdev.ioeventfds) vfioVirqfdDisable(io);
  vdev.ioeventfds.length = 0;
}
