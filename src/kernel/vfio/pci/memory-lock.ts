/**
 * Zapping a device's user mappings and taking its memory_lock (drivers/vfio/pci/vfio_pci.c,
 * 5.8; vfio_pci_core.c from 5.15), every version side by side:
 *
 * - 5.8 (knob zapMethod 'vma-list', zapOrder 'vma-lock-first'): the faults record each
 *   mapping on vma_list under vma_lock; a zapper walks the list honouring mmap_lock →
 *   vma_lock and takes memory_lock for write only once the list is empty, under vma_lock.
 * - patch series v1 (zapOrder 'memory-lock-first', spec §3.3): memory_lock for write first,
 *   then the same zap walk (memory_lock → mmap_lock, the ABBA against the fault path that
 *   v1's fault breaks with a trylock).
 * - 6.10 (zapMethod 'address-space'; aac6db75a9fc "vfio/pci: Use unmap_mapping_range()" on
 *   top of b7c5e64fecfa's per-device inode): no vma_list, no vma_lock.
 *   vm_pgoff keeps the region encoding `index << 40 | offset` (in pages), so one
 *   unmap_mapping_range over [BAR0, ROM) offsets zaps every BAR mapping of the device in
 *   every process. Zapping is down_write(memory_lock) *then* unmap_mapping_range (lock
 *   order memory_lock → i_mmap_rwsem; no path needs mmap_lock under memory_lock).
 */
import { PCI_COMMAND, PCI_COMMAND_MEMORY } from '../../../uapi/pci-regs.js';
import { VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_ROM_REGION_INDEX, vfioPciIndexToOffset } from '../../../uapi/vfio.js';
import type { Kernel } from '../../kernel.js';
import { removeAt } from '../../locking/mutex.js';
import { unmapMappingRange } from '../../mm/address-space.js';
import { mmgetNotZero, mmgetStillValid, mmput, zapVmaPtes } from '../../mm/index.js';
import type { MmStructRef, Vma } from '../../mm/types.js';
import { pciReadConfig, pciWriteConfig } from '../../pci/pci-dev.js';
import type { Task } from '../../sched/task.js';
import { vfioDeviceMapping } from '../vfio-fs.js';
import type { VfioPciDevice } from './vfio-pci-device.js';

/**
 * vfio_pci_zap_and_vma_lock (drivers/vfio/pci/vfio_pci.c, 5.8): zap every tracked vma,
 * honouring mmap_lock → vma_lock. Returns true holding vma_lock with vma_list empty;
 * with `tryOnly`, false on any contention, holding nothing.
 */
export function* vfioPciZapAndVmaLock(k: Kernel, vdev: VfioPciDevice, tryOnly: boolean): Task<boolean> {
  const fn = 'vfio_pci_zap_and_vma_lock';
  let zapped = 0;
  for (;;) {
    let mm: MmStructRef | null = null;
    if (tryOnly) {
      if (!(yield* vdev.vmaLock.trylock(fn))) return false;
    } else {
      yield* vdev.vmaLock.lock(fn);
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
        else k.events.skipCounted(k.events.hot.vfioZap);
      }
      return true;
    }
    yield* vdev.vmaLock.unlock(fn);

    if (tryOnly) {
      if (!(yield* mm.mmapLock.downReadTrylock(fn))) {
        yield* mmput(k, mm);
        return false;
      }
    } else {
      yield* mm.mmapLock.downRead(fn);
    }
    if (mmgetStillValid(mm)) {
      if (tryOnly) {
        if (!(yield* vdev.vmaLock.trylock(fn))) {
          yield* mm.mmapLock.upRead(fn);
          yield* mmput(k, mm);
          return false;
        }
      } else {
        yield* vdev.vmaLock.lock(fn);
      }
      // list_for_each_entry_safe: vma_list may change while a zap sleeps
      for (let i = 0; i < vdev.vmaList.length; ) {
        const vma = vdev.vmaList[i] as Vma;
        if (vma.mm !== mm) {
          i++;
          continue;
        }
        removeAt(vdev.vmaList, i);
        if (k.events.active) k.events.emit({ kind: 'vfio.vma-track', dev: vdev.name, op: 'del', mm: mm.id, start: vma.start, end: vma.end });
        else k.events.skipCounted(k.events.hot.vmaTrack);
        yield* zapVmaPtes(k, vma, vma.start, vma.end - vma.start);
        zapped++;
      }
      yield* vdev.vmaLock.unlock(fn);
    }
    yield* mm.mmapLock.upRead(fn);
    yield* mmput(k, mm);
  }
}

/**
 * vfio_pci_zap_and_down_write_memory_lock (drivers/vfio/pci/vfio_pci.c, 5.8, v1; vfio_pci_core.c,
 * 6.10), by the knobs zapMethod and zapOrder:
 * - 5.8 ('vma-lock-first'): zap, take memory_lock for write while vma_list is empty, drop vma_lock;
 * - v1 ('memory-lock-first', spec §3.3): down_write(memory_lock) first, then the mmap_lock →
 *   vma_lock zap walk, then drop vma_lock;
 * - 6.10 ('address-space'): down_write(memory_lock), then vfio_pci_zap_bars. Once the write
 *   lock is held no fault can install a PTE (faults take memory_lock for read), so zapping
 *   afterwards leaves nothing behind.
 */
export function* vfioPciZapAndDownWriteMemoryLock(k: Kernel, vdev: VfioPciDevice): Task<void> {
  const fn = 'vfio_pci_zap_and_down_write_memory_lock';
  if (k.knobs.zapMethod === 'address-space') {
    yield* vdev.memoryLock.downWrite(fn);
    yield* vfioPciZapBars(k, vdev);
    return;
  }
  if (k.knobs.zapOrder === 'memory-lock-first') {
    yield* vdev.memoryLock.downWrite(fn);
    yield* vfioPciZapAndVmaLock(k, vdev, false);
    yield* vdev.vmaLock.unlock(fn);
    return;
  }
  yield* vfioPciZapAndVmaLock(k, vdev, false);
  yield* vdev.memoryLock.downWrite(fn);
  yield* vdev.vmaLock.unlock(fn);
}

/**
 * vfio_pci_zap_bars (drivers/vfio/pci/vfio_pci_core.c, 6.10): unmap_mapping_range of the
 * device inode's mapping over the fd offsets of BAR0 up to (not including) the ROM region:
 * every BAR mapping, by every process, forked children and split vmas included.
 */
export function* vfioPciZapBars(k: Kernel, vdev: VfioPciDevice): Task<void> {
  const device = vdev.vdev;
  if (device === null) return;
  const start = vfioPciIndexToOffset(VFIO_PCI_BAR0_REGION_INDEX);
  const end = vfioPciIndexToOffset(VFIO_PCI_ROM_REGION_INDEX);
  const vmas = yield* unmapMappingRange(k, vfioDeviceMapping(k, device), start, end - start, true);
  if (k.events.active) k.events.emit({ kind: 'vfio.zap', dev: vdev.name, vmas, fn: 'vfio_pci_zap_bars' });
  else k.events.skipCounted(k.events.hot.vfioZap);
}

/**
 * vfio_pci_dev_set_hot_reset (drivers/vfio/pci/vfio_pci_core.c, 6.10): the per-device step;
 * down_write_trylock(memory_lock) — false on contention (the caller unwinds with -EBUSY) — then
 * zap. No vma_lock, no mmap_lock.
 */
export function* hotResetTryLockAndZap(k: Kernel, vdev: VfioPciDevice, fn: string): Task<boolean> {
  if (!(yield* vdev.memoryLock.downWriteTrylock(fn))) return false;
  yield* vfioPciZapBars(k, vdev);
  return true;
}

/**
 * vfio_pci_memory_lock_and_enable (drivers/vfio/pci/vfio_pci.c, 5.8): write-lock
 * memory_lock and turn the hardware MEM bit on; returns the original command.
 */
export function* vfioPciMemoryLockAndEnable(vdev: VfioPciDevice): Task<number> {
  yield* vdev.memoryLock.downWrite('vfio_pci_memory_lock_and_enable');
  const cmd = yield* pciReadConfig(vdev.pdev, PCI_COMMAND, 2);
  if ((cmd & PCI_COMMAND_MEMORY) === 0) yield* pciWriteConfig(vdev.pdev, PCI_COMMAND, 2, cmd | PCI_COMMAND_MEMORY);
  return cmd;
}

/** vfio_pci_memory_unlock_and_restore (drivers/vfio/pci/vfio_pci.c, 5.8). */
export function* vfioPciMemoryUnlockAndRestore(vdev: VfioPciDevice, cmd: number): Task<void> {
  yield* pciWriteConfig(vdev.pdev, PCI_COMMAND, 2, cmd);
  yield* vdev.memoryLock.upWrite('vfio_pci_memory_unlock_and_restore');
}
