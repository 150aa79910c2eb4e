import { PAGE_SHIFT, PAGE_SIZE } from '../../../hw/api.js';
import { PCI_COMMAND, PCI_COMMAND_MEMORY } from '../../../uapi/pci-regs.js';
import { VFIO_PCI_NUM_REGIONS, VFIO_PCI_OFFSET_SHIFT, VFIO_PCI_ROM_REGION_INDEX } from '../../../uapi/vfio.js';
import { EINVAL } from '../../errno.js';
import type { Kernel } from '../../kernel.js';
import { mmgetNotZero, mmgetStillValid, mmput, remapPfnRange, zapVmaPtes } from '../../mm/index.js';
import {
  type MmStructRef, type Vma, type VmFault, type VmOperations, VM_DONTDUMP, VM_DONTEXPAND, VM_FAULT_NOPAGE,
  VM_FAULT_SIGBUS, VM_IO, VM_PFNMAP, VM_SHARED,
} from '../../mm/types.js';
import { pciReadConfig, pciWriteConfig } from '../../pci/pci-dev.js';
import type { Task } from '../../sched/task.js';
import { faultMayMap, type VfioPciDevice } from './vfio-pci-device.js';

/**
 * vfio_pci_zap_and_vma_lock (drivers/vfio/pci/vfio_pci.c, 5.8): zap every tracked vma,
 * honouring mmap_lock → vma_lock. Returns true holding vma_lock with vma_list empty;
 * with `tryOnly`, false on any contention, holding nothing.
 */
export function* zapAndVmaLock(k: Kernel, vdev: VfioPciDevice, tryOnly: boolean): Task<boolean> {
  const fn = 'vfio_pci_zap_and_vma_lock';
  let zapped = 0;
  for (;;) {
    let mm: MmStructRef | null = null;
    if (tryOnly) {
      if (!(yield* vdev.vmaLock.trylock(fn))) return false;
    } else {
      if (!vdev.vmaLock.lockPassed(fn)) yield* vdev.vmaLock.lock(fn);
    }
    while (vdev.vmaList.length > 0) {
      const vma = vdev.vmaList[0] as Vma;
      mm = vma.mm;
      if (mmgetNotZero(mm)) break;
      vdev.vmaList.shift();
      k.events.emit({ kind: 'vfio.vma-track', dev: vdev.name, op: 'del', mm: mm.id, start: vma.start, end: vma.end });
      mm = null;
    }
    if (mm === null) {
      if (zapped > 0 || !tryOnly) {
        if (k.events.active) k.events.emit({ kind: 'vfio.zap', dev: vdev.name, vmas: zapped, fn });
        else k.events.skip('vfio.zap');
      }
      return true;
    }
    if (!vdev.vmaLock.unlockPassed(fn)) yield* vdev.vmaLock.unlock(fn);
    if (tryOnly) {
      if (!(yield* mm.mmapLock.downReadTrylock(fn))) {
        yield* mmput(k, mm);
        return false;
      }
    } else {
      if (!mm.mmapLock.downReadPassed(fn)) yield* mm.mmapLock.downRead(fn);
    }
    if (mmgetStillValid(mm)) {
      if (tryOnly) {
        if (!(yield* vdev.vmaLock.trylock(fn))) {
          if (!mm.mmapLock.upReadPassed(fn)) yield* mm.mmapLock.upRead(fn);
          yield* mmput(k, mm);
          return false;
        }
      } else {
        if (!vdev.vmaLock.lockPassed(fn)) yield* vdev.vmaLock.lock(fn);
      }
      for (let i = 0; i < vdev.vmaList.length; ) {
        const vma = vdev.vmaList[i] as Vma;
        if (vma.mm !== mm) {
          i++;
          continue;
        }
        vdev.vmaList.splice(i, 1);
        if (k.events.active) k.events.emit({ kind: 'vfio.vma-track', dev: vdev.name, op: 'del', mm: mm.id, start: vma.start, end: vma.end });
        else k.events.skip('vfio.vma-track');
        yield* zapVmaPtes(k, vma, vma.start, vma.end - vma.start);
        zapped++;
      }
      if (!vdev.vmaLock.unlockPassed(fn)) yield* vdev.vmaLock.unlock(fn);
    }
    if (!mm.mmapLock.upReadPassed(fn)) yield* mm.mmapLock.upRead(fn);
    yield* mmput(k, mm);
  }
}

/**
 * vfio_pci_zap_and_down_write_memory_lock (drivers/vfio/pci/vfio_pci.c, 5.8): zap,
 * then take memory_lock for write while vma_list is empty, then drop vma_lock.
 */
export function* zapAndDownWriteMemoryLock(k: Kernel, vdev: VfioPciDevice): Task<void> {
  const fn = 'vfio_pci_zap_and_down_write_memory_lock';
  yield* zapAndVmaLock(k, vdev, false);
  if (!vdev.memoryLock.downWritePassed(fn)) yield* vdev.memoryLock.downWrite(fn);
  if (!vdev.vmaLock.unlockPassed(fn)) yield* vdev.vmaLock.unlock(fn);
}

/**
 * vfio_pci_memory_lock_and_enable (drivers/vfio/pci/vfio_pci.c, 5.8): write-lock
 * memory_lock and turn the hardware MEM bit on; returns the original command.
 */
export function* memoryLockAndEnable(vdev: VfioPciDevice): Task<number> {
  yield* vdev.memoryLock.downWrite('vfio_pci_memory_lock_and_enable');
  const cmd = yield* pciReadConfig(vdev.pdev, PCI_COMMAND, 2);
  if ((cmd & PCI_COMMAND_MEMORY) === 0) yield* pciWriteConfig(vdev.pdev, PCI_COMMAND, 2, cmd | PCI_COMMAND_MEMORY);
  return cmd;
}

/** vfio_pci_memory_unlock_and_restore (drivers/vfio/pci/vfio_pci.c, 5.8). */
export function* memoryUnlockAndRestore(vdev: VfioPciDevice, cmd: number): Task<void> {
  yield* pciWriteConfig(vdev.pdev, PCI_COMMAND, 2, cmd);
  yield* vdev.memoryLock.upWrite('vfio_pci_memory_unlock_and_restore');
}

/** vfio_pci_mmap_open (drivers/vfio/pci/vfio_pci.c, 5.8): zap the copy so it faults and gets tracked. */
function* mmapOpen(k: Kernel, vma: Vma): Task<void> {
  yield* zapVmaPtes(k, vma, vma.start, vma.end - vma.start);
}

/** vfio_pci_mmap_close (drivers/vfio/pci/vfio_pci.c, 5.8): drop the first tracking node of this vma. */
function* mmapClose(k: Kernel, vma: Vma): Task<void> {
  const vdev = vma.privateData as VfioPciDevice;
  if (!vdev.vmaLock.lockPassed('vfio_pci_mmap_close')) yield* vdev.vmaLock.lock('vfio_pci_mmap_close');
  const i = vdev.vmaList.indexOf(vma);
  if (i >= 0) {
    vdev.vmaList.splice(i, 1);
    k.events.emit({ kind: 'vfio.vma-track', dev: vdev.name, op: 'del', mm: vma.mm.id, start: vma.start, end: vma.end });
  }
  if (!vdev.vmaLock.unlockPassed('vfio_pci_mmap_close')) yield* vdev.vmaLock.unlock('vfio_pci_mmap_close');
}

/**
 * vfio_pci_mmap_fault (drivers/vfio/pci/vfio_pci.c, 5.8 as merged): vma_lock, then
 * memory_lock for read; SIGBUS if memory is disabled; otherwise push a tracking node
 * (no duplicate check), drop vma_lock, and remap the whole vma (defects H1/H2 live in
 * that window).
 */
function* mmapFault(k: Kernel, vmf: VmFault): Task<number> {
  const fn = 'vfio_pci_mmap_fault';
  const vma = vmf.vma;
  const vdev = vma.privateData as VfioPciDevice;
  let ret = VM_FAULT_NOPAGE;
  if (!vdev.vmaLock.lockPassed(fn)) yield* vdev.vmaLock.lock(fn);
  if (!vdev.memoryLock.downReadPassed(fn)) yield* vdev.memoryLock.downRead(fn);
  if (!faultMayMap(k, vdev)) {
    ret = VM_FAULT_SIGBUS;
    if (!vdev.vmaLock.unlockPassed(fn)) yield* vdev.vmaLock.unlock(fn);
    k.events.emit({ kind: 'vfio.blocked', dev: vdev.name, path: 'fault', errno: 0 });
  } else {
    vdev.vmaList.unshift(vma);
    if (k.events.active) k.events.emit({ kind: 'vfio.vma-track', dev: vdev.name, op: 'add', mm: vma.mm.id, start: vma.start, end: vma.end });
    else k.events.skip('vfio.vma-track');
    if (!vdev.vmaLock.unlockPassed(fn)) yield* vdev.vmaLock.unlock(fn);
    const r = yield* remapPfnRange(k, vma, vma.start, vma.pgoff, vma.end - vma.start, vma.pageProt);
    if (r !== 0) ret = VM_FAULT_SIGBUS;
  }
  if (!vdev.memoryLock.upReadPassed(fn)) yield* vdev.memoryLock.upRead(fn);
  return ret;
}

/** vfio_pci_mmap_ops (drivers/vfio/pci/vfio_pci.c, 5.8) for kernel `k`. */
export function vfioPciMmapOps(k: Kernel): VmOperations {
  return {
    name: 'vfio_pci_mmap_ops',
    open: (vma) => mmapOpen(k, vma),
    close: (vma) => mmapClose(k, vma),
    fault: (vmf) => mmapFault(k, vmf),
  };
}

/**
 * vfio_pci_mmap (drivers/vfio/pci/vfio_pci.c, 5.8; 5.7 with the 'remap-at-mmap'
 * knob): validate, rewrite vm_pgoff to the BAR's pfn, and either install vm_ops for
 * fault-time population (5.8) or remap the whole range now (5.7).
 */
export function* vfioPciMmap(k: Kernel, vdev: VfioPciDevice, vma: Vma, ops: VmOperations): Task<number> {
  const indexShift = VFIO_PCI_OFFSET_SHIFT - PAGE_SHIFT;
  const index = Math.floor(vma.pgoff / 2 ** indexShift);
  if (vma.end < vma.start) return -EINVAL;
  if ((vma.flags & VM_SHARED) === 0) return -EINVAL;
  if (index >= VFIO_PCI_NUM_REGIONS) return -EINVAL; // no device-specific regions with mmap here
  if (index >= VFIO_PCI_ROM_REGION_INDEX) return -EINVAL;
  if (!vdev.barMmapSupported[index]) return -EINVAL;
  const res = vdev.pdev.resource(index);
  if (res === null) return -EINVAL;
  const physLen = Math.ceil(res.size / PAGE_SIZE) * PAGE_SIZE;
  const reqLen = vma.end - vma.start;
  const pgoff = vma.pgoff % 2 ** indexShift;
  const reqStart = pgoff * PAGE_SIZE;
  if (reqStart + reqLen > physLen) return -EINVAL;
  vdev.barmap[index] = true; // pci_request_selected_regions + pci_iomap
  vma.privateData = vdev;
  vma.pageProt = { prot: vma.pageProt.prot, uncached: true };
  vma.pgoff = Math.floor(res.start / PAGE_SIZE) + pgoff;
  if (k.knobs.mmapPopulate === 'remap-at-mmap') {
    return yield* remapPfnRange(k, vma, vma.start, vma.pgoff, reqLen, vma.pageProt);
  }
  vma.flags |= VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP;
  vma.ops = ops;
  return 0;
}
