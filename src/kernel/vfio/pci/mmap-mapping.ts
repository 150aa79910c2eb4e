/**
 * vfio-pci BAR mmaps under the address-space design (drivers/vfio/pci/vfio_pci_core.c):
 *
 * - 6.10 (knob zapMethod 'address-space'; aac6db75a9fc "vfio/pci: Use
 *   unmap_mapping_range()" on top of b7c5e64fecfa's per-device inode): no vma_list, no
 *   vma_lock, no vm_ops open/close. vm_pgoff keeps the region encoding `index << 40 |
 *   offset` (in pages), so one unmap_mapping_range over [BAR0, ROM) offsets zaps every
 *   BAR mapping of the device in every process; the pfn is computed from the BAR start.
 *   Zapping is down_write(memory_lock) *then* unmap_mapping_range (lock order
 *   memory_lock → i_mmap_rwsem; no path needs mmap_lock under memory_lock).
 * - mmapPopulate 'fault-insert-full-vma' (d71a989cf5d9, 6.10): the fault inserts the
 *   faulting page with vmf_insert_pfn, then the rest of the vma page by page, silently
 *   stopping at the first error.
 * - mmapPopulate 'huge-fault' (f9e54c3a2f5b, 6.12, with 09dfc8a5f2ce "Fallback huge faults
 *   for unaligned pfn" and c1d9dac0db16 "Align huge faults to order"): ->huge_fault maps
 *   the order-aligned block containing the fault with one PMD/PUD leaf when the block lies
 *   inside the vma and its pfn is aligned to the order, else VM_FAULT_FALLBACK; order 0 is
 *   one vmf_insert_pfn. No full-vma prefault.
 */
import { PAGE_SHIFT, PAGE_SIZE } from '../../../hw/api.js';
import {
  VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_NUM_REGIONS, VFIO_PCI_OFFSET_SHIFT, VFIO_PCI_ROM_REGION_INDEX, vfioPciIndexToOffset,
} from '../../../uapi/vfio.js';
import { EINVAL } from '../../errno.js';
import type { Kernel } from '../../kernel.js';
import { unmapMappingRange } from '../../mm/address-space.js';
import { PMD_ORDER, PUD_ORDER, vmfInsertPfn, vmfInsertPfnEach, vmfInsertPfnPmd, vmfInsertPfnPud } from '../../mm/pfn-insert.js';
import {
  type Vma, type VmFault, type VmOperations, VM_DONTDUMP, VM_DONTEXPAND, VM_FAULT_ERROR, VM_FAULT_FALLBACK, VM_FAULT_SIGBUS, VM_IO,
  VM_PFNMAP, VM_SHARED,
} from '../../mm/types.js';
import type { Task } from '../../sched/task.js';
import { vfioDeviceMapping } from '../vfio-fs.js';
import { faultMayMap, type VfioPciDevice } from './vfio-pci-device.js';
import { SideTable } from '../../../util/side-table.js';

/** Pages per region index in the fd offset space (1 << (VFIO_PCI_OFFSET_SHIFT - PAGE_SHIFT)). */
const INDEX_PAGES = 2 ** (VFIO_PCI_OFFSET_SHIFT - PAGE_SHIFT);

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
 * vfio_pci_zap_and_down_write_memory_lock (drivers/vfio/pci/vfio_pci_core.c, 6.10):
 * down_write(memory_lock), then zap. Once the write lock is held no fault can install a
 * PTE (faults take memory_lock for read), so zapping afterwards leaves nothing behind.
 */
export function* zapBarsAndDownWriteMemoryLock(k: Kernel, vdev: VfioPciDevice): Task<void> {
  const fn = 'vfio_pci_zap_and_down_write_memory_lock';
  yield* vdev.memoryLock.downWrite(fn);
  yield* vfioPciZapBars(k, vdev);
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

/** vma_to_pfn (drivers/vfio/pci/vfio_pci_core.c, 6.10): BAR start pfn + the page offset encoded in vm_pgoff. */
export function vmaToPfn(vma: Vma): number {
  const vdev = vma.privateData as VfioPciDevice;
  const index = Math.floor(vma.pgoff / INDEX_PAGES);
  const pgoff = vma.pgoff % INDEX_PAGES;
  const res = vdev.pdev.resource(index);
  return (res === null ? 0 : Math.floor(res.start / PAGE_SIZE)) + pgoff;
}

/**
 * vfio_pci_mmap_fault (drivers/vfio/pci/vfio_pci_core.c, 6.10 with d71a989cf5d9):
 * memory_lock for read; SIGBUS when memory is disabled or runtime low power is engaged;
 * else vmf_insert_pfn the faulting page and, unless that failed, pre-fault the rest of the
 * vma (errors there are ignored). Concurrent faults on one vma are harmless: an existing
 * PTE is skipped.
 */
function* mmapFaultInsertFullVma(k: Kernel, vmf: VmFault): Task<number> {
  const fn = 'vfio_pci_mmap_fault';
  const vma = vmf.vma;
  const vdev = vma.privateData as VfioPciDevice;
  const pfn = vmaToPfn(vma);
  const pgoff = vmf.pgoff - vma.pgoff;
  let ret = VM_FAULT_SIGBUS;
  yield* vdev.memoryLock.downRead(fn);
  if (!faultMayMap(k, vdev)) {
    k.events.emit({ kind: 'vfio.blocked', dev: vdev.name, path: 'fault', errno: 0, ...(vdev.pmRuntimeEngaged ? { lowPower: true as const } : {}) });
  } else {
    ret = yield* vmfInsertPfn(k, vma, vmf.address, pfn + pgoff);
    if ((ret & VM_FAULT_ERROR) === 0) {
      // "Pre-fault the remainder of the vma, abort further insertions and supress error
      // if fault is encountered during pre-fault."
      yield* vmfInsertPfnEach(k, vma, vma.start, (vma.end - vma.start) / PAGE_SIZE, pfn);
    }
  }
  yield* vdev.memoryLock.upRead(fn);
  return ret;
}

/**
 * vfio_pci_mmap_huge_fault (drivers/vfio/pci/vfio_pci_core.c, 6.12 + HF1 + HF2): align the
 * fault address down to the order; for order > 0 fall back (VM_FAULT_FALLBACK, before
 * taking any lock) unless the aligned block lies inside the vma and its pfn is aligned to
 * the order. Then memory_lock for read, SIGBUS while disabled, and one vmf_insert_pfn /
 * vmf_insert_pfn_pmd / vmf_insert_pfn_pud. Orders other than 0, PMD and PUD fall back.
 */
function* mmapHugeFault(k: Kernel, vmf: VmFault, order: number): Task<number> {
  const fn = 'vfio_pci_mmap_huge_fault';
  const vma = vmf.vma;
  const vdev = vma.privateData as VfioPciDevice;
  const size = PAGE_SIZE * 2 ** order;
  const addr = Math.floor(vmf.address / size) * size;
  const pgoff = (addr - vma.start) / PAGE_SIZE;
  const pfn = vmaToPfn(vma) + pgoff;
  if (order !== 0 && (addr < vma.start || addr + size > vma.end || pfn % 2 ** order !== 0)) return VM_FAULT_FALLBACK;
  let ret = VM_FAULT_SIGBUS;
  yield* vdev.memoryLock.downRead(fn);
  if (!faultMayMap(k, vdev)) {
    k.events.emit({ kind: 'vfio.blocked', dev: vdev.name, path: 'fault', errno: 0, ...(vdev.pmRuntimeEngaged ? { lowPower: true as const } : {}) });
  } else if (order === 0) {
    ret = yield* vmfInsertPfn(k, vma, vmf.address, pfn);
  } else if (order === PMD_ORDER) {
    ret = yield* vmfInsertPfnPmd(k, vmf, pfn, false);
  } else if (order === PUD_ORDER) {
    ret = yield* vmfInsertPfnPud(k, vmf, pfn, false);
  } else {
    ret = VM_FAULT_FALLBACK;
  }
  yield* vdev.memoryLock.upRead(fn);
  return ret;
}

/**
 * vfio_pci_mmap_ops (6.10): {fault}. Objects over their kernel rather than closures, so
 * that a copy of the whole System (the explorer's snapshots, src/check/snapshot.ts)
 * faults in its own.
 */
class MmapOps implements VmOperations {
  readonly name = 'vfio_pci_mmap_ops';

  constructor(protected readonly k: Kernel) {}

  /** vfio_pci_mmap_fault (drivers/vfio/pci/vfio_pci_core.c, 6.10): the vm_operations_struct entry. */
  fault(vmf: VmFault): Task<number> {
    return mmapFaultInsertFullVma(this.k, vmf);
  }
}

/** vfio_pci_mmap_ops (6.12): {fault = huge_fault at order 0, huge_fault}. */
class MmapOpsHuge extends MmapOps {
  /** vfio_pci_mmap_page_fault (drivers/vfio/pci/vfio_pci_core.c, 6.12): huge_fault at order 0. */
  override fault(vmf: VmFault): Task<number> {
    return mmapHugeFault(this.k, vmf, 0);
  }

  /** vfio_pci_mmap_huge_fault (drivers/vfio/pci/vfio_pci_core.c, 6.12): the vm_operations_struct entry. */
  hugeFault(vmf: VmFault, order: number): Task<number> {
    return mmapHugeFault(this.k, vmf, order);
  }
}

const opsByKernel = new SideTable<Kernel, VmOperations>('opsByKernel');

/**
 * vfio_pci_mmap_ops (drivers/vfio/pci/vfio_pci_core.c): 6.10 {fault}; 6.12 {fault =
 * vfio_pci_mmap_page_fault (huge_fault at order 0), huge_fault}. No open/close.
 */
export function vfioPciMmapOpsAddressSpace(k: Kernel): VmOperations {
  let ops = opsByKernel.get(k);
  if (ops === undefined) {
    ops = k.knobs.mmapPopulate === 'huge-fault' ? new MmapOpsHuge(k) : new MmapOps(k);
    opsByKernel.set(k, ops);
  }
  return ops;
}

/**
 * vfio_pci_core_mmap (drivers/vfio/pci/vfio_pci_core.c, 6.10/6.12): the same checks as
 * before; request the BAR; vm_pgoff is left as the region encoding; uncached (and
 * decrypted) protection; VM_IO|VM_PFNMAP|VM_DONTEXPAND|VM_DONTDUMP set here, because the
 * fault handler must not change vm_flags; vm_ops installed; no PTEs.
 */
export function* vfioPciMmapAddressSpace(k: Kernel, vdev: VfioPciDevice, vma: Vma): Task<number> {
  const index = Math.floor(vma.pgoff / INDEX_PAGES);
  if (index >= VFIO_PCI_NUM_REGIONS) return -EINVAL; // no device-specific regions here
  if (vma.end < vma.start) return -EINVAL;
  if ((vma.flags & VM_SHARED) === 0) return -EINVAL;
  if (index >= VFIO_PCI_ROM_REGION_INDEX) return -EINVAL;
  if (!vdev.barMmapSupported[index]) return -EINVAL;
  const res = vdev.pdev.resource(index);
  if (res === null) return -EINVAL;
  const physLen = Math.ceil(res.size / PAGE_SIZE) * PAGE_SIZE;
  const reqLen = vma.end - vma.start;
  const reqStart = (vma.pgoff % INDEX_PAGES) * PAGE_SIZE;
  if (reqStart + reqLen > physLen) return -EINVAL;
  vdev.barmap[index] = true; // pci_request_selected_regions + pci_iomap
  vma.privateData = vdev;
  vma.pageProt = { prot: vma.pageProt.prot, uncached: true };
  vma.flags |= VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP;
  vma.ops = vfioPciMmapOpsAddressSpace(k);
  return 0;
}
