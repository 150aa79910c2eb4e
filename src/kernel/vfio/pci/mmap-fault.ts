/**
 * vfio_pci_mmap_fault (drivers/vfio/pci/vfio_pci.c, 5.8; vfio_pci_core.c from 5.15), every
 * version side by side, chosen by the knobs faultLocking and mmapPopulate (the vm_ops tables
 * in mmap.ts pick one):
 *
 * - 5.8 as merged ('drop-before-remap'): vma_lock, memory_lock (read), track, drop vma_lock,
 *   remap the whole vma (defects H1/H2 live in that window);
 * - patch series v1 ('trylock-retry'): memory_lock only tried, VM_FAULT_RETRY on contention;
 * - 5.14 ('hold-across-remap', 6a45ece4c9af): both locks held to the end, tracked after the map;
 * - 6.10 ('fault-insert-full-vma', d71a989cf5d9): no tracking; vmf_insert_pfn the faulting page,
 *   then the rest of the vma;
 * - 6.12 ('huge-fault', f9e54c3a2f5b + 09dfc8a5f2ce + c1d9dac0db16): vfio_pci_mmap_huge_fault.
 *
 * Every version refuses with SIGBUS while the device may not be mapped (faultMayMap: memory
 * disabled, or runtime low power engaged from 6.1) — reported once, by faultBlocked.
 */
import { PAGE_SHIFT, PAGE_SIZE } from '../../../hw/api.js';
import { VFIO_PCI_OFFSET_SHIFT } from '../../../uapi/vfio.js';
import type { Kernel } from '../../kernel.js';
import { remapPfnRange, zapVmaPtes } from '../../mm/index.js';
import { PMD_ORDER, PUD_ORDER, vmfInsertPfn, vmfInsertPfnEach, vmfInsertPfnPmd, vmfInsertPfnPud } from '../../mm/pfn-insert.js';
import {
  FAULT_FLAG_ALLOW_RETRY, FAULT_FLAG_RETRY_NOWAIT, type Vma, type VmFault, VM_FAULT_ERROR, VM_FAULT_FALLBACK, VM_FAULT_NOPAGE,
  VM_FAULT_RETRY, VM_FAULT_SIGBUS,
} from '../../mm/types.js';
import type { Task } from '../../sched/task.js';
import { faultMayMap, type VfioPciDevice } from './vfio-pci-device.js';

/** Pages per region index in the fd offset space (1 << (VFIO_PCI_OFFSET_SHIFT - PAGE_SHIFT)). */
export const INDEX_PAGES = 2 ** (VFIO_PCI_OFFSET_SHIFT - PAGE_SHIFT);

/**
 * [model] The fault's refusal, as every version makes it (the device may not be mapped): the
 * model's `vfio.blocked` event, saying when runtime low power (not the command register) refused.
 */
function faultBlocked(k: Kernel, vdev: VfioPciDevice): void {
  k.events.emit({ kind: 'vfio.blocked', dev: vdev.name, path: 'fault', errno: 0, ...(vdev.pmRuntimeEngaged ? { lowPower: true as const } : {}) });
}

/** __vfio_pci_add_vma (drivers/vfio/pci/vfio_pci.c, 5.8): push a tracking node at the head of vma_list. Caller holds vma_lock. */
function addVma(k: Kernel, vdev: VfioPciDevice, vma: Vma): void {
  vdev.vmaList.unshift(vma);
  if (k.events.active) k.events.emit({ kind: 'vfio.vma-track', dev: vdev.name, op: 'add', mm: vma.mm.id, start: vma.start, end: vma.end });
  else k.events.skipCounted(k.events.hot.vmaTrack);
}

/**
 * vfio_pci_mmap_fault (drivers/vfio/pci/vfio_pci.c, 5.8 as merged; knob faultLocking
 * 'drop-before-remap'): vma_lock, then memory_lock for read; SIGBUS if memory is
 * disabled; otherwise push a tracking node (no duplicate check), drop vma_lock, and
 * remap the whole vma (defects H1/H2 live in that window).
 */
export function* vfioPciMmapFault(k: Kernel, vmf: VmFault): Task<number> {
  const fn = 'vfio_pci_mmap_fault';
  const vma = vmf.vma;
  const vdev = vma.privateData as VfioPciDevice;
  yield* vdev.vmaLock.lock(fn);
  yield* vdev.memoryLock.downRead(fn);
  const ret = yield* mmapFaultLocked(k, vdev, vma, fn);
  yield* vdev.memoryLock.upRead(fn);
  return ret;
}

/**
 * vfio_pci_mmap_fault (drivers/vfio/pci/vfio_pci.c, 5.8, v1): its middle, shared by 5.8 and v1,
 * entered with vma_lock and memory_lock (read) held and leaving with only memory_lock: SIGBUS if
 * the device may not be mapped; otherwise push a tracking node (no duplicate check), drop
 * vma_lock, and remap the whole vma. (The GFP_KERNEL node allocation cannot fail in the model,
 * so its VM_FAULT_OOM branch is absent.)
 */
function* mmapFaultLocked(k: Kernel, vdev: VfioPciDevice, vma: Vma, fn: string): Task<number> {
  if (!faultMayMap(k, vdev)) {
    yield* vdev.vmaLock.unlock(fn);
    faultBlocked(k, vdev);
    return VM_FAULT_SIGBUS;
  }
  addVma(k, vdev, vma);
  yield* vdev.vmaLock.unlock(fn);
  if ((yield* remapPfnRange(k, vma, vma.start, vma.pgoff, vma.end - vma.start, vma.pageProt, fn)) !== 0) return VM_FAULT_SIGBUS;
  return VM_FAULT_NOPAGE;
}

/**
 * vfio_pci_mmap_fault (drivers/vfio/pci/vfio_pci.c, v1): of patch series v1 ("[PATCH 3/3] vfio-pci:
 * Invalidate mmaps and block MMIO access on disabled memory", 2020-05-01, as quoted in Jason
 * Gunthorpe's reply 20200501234849.GQ26002@ziepe.ca; spec §3.3; knob faultLocking 'trylock-retry').
 * Zappers hold memory_lock for write while they take mmap_lock, so the fault, which runs under
 * mmap_lock, may only try memory_lock:
 * - on contention, without FAULT_FLAG_ALLOW_RETRY: VM_FAULT_SIGBUS (the defect: a
 *   caller that cannot retry gets SIGBUS although memory is enabled);
 * - with FAULT_FLAG_RETRY_NOWAIT: VM_FAULT_RETRY at once, mmap_lock still held;
 * - otherwise: drop mmap_lock, wait for memory_lock by taking and releasing it (read;
 *   the killable variant is the same here, the model has no fatal signals) and return
 *   VM_FAULT_RETRY with mmap_lock released, as the fault-retry contract requires.
 * With memory_lock held the rest is 5.8's body (vma_lock, check, node pushed without a
 * duplicate check, vma_lock dropped, whole-vma remap) [inferred: the quoted part of v1
 * 3/3 ends at the trylock block].
 */
export function* vfioPciMmapFaultTrylockRetry(k: Kernel, vmf: VmFault): Task<number> {
  const fn = 'vfio_pci_mmap_fault';
  const vma = vmf.vma;
  const vdev = vma.privateData as VfioPciDevice;
  const sem = vdev.memoryLock;
  if (!(yield* sem.downReadTrylock(fn))) {
    // Not 'vfio.blocked': memory may well be enabled; the trace shows the failed trylock.
    if ((vmf.flags & FAULT_FLAG_ALLOW_RETRY) === 0) return VM_FAULT_SIGBUS;
    if ((vmf.flags & FAULT_FLAG_RETRY_NOWAIT) !== 0) return VM_FAULT_RETRY;
    yield* vma.mm.mmapLock.upRead(fn);
    yield* sem.downRead(fn);
    yield* sem.upRead(fn);
    return VM_FAULT_RETRY;
  }
  yield* vdev.vmaLock.lock(fn);
  const ret = yield* mmapFaultLocked(k, vdev, vma, fn);
  yield* sem.upRead(fn);
  return ret;
}

/**
 * vfio_pci_mmap_fault (drivers/vfio/pci/vfio_pci.c, 5.14; after 6a45ece4c9af "vfio/pci: Handle
 * concurrent vma faults", v5.14-rc1 and stable; vfio_pci_core.c in 5.15; knob faultLocking
 * 'hold-across-remap'): vma_lock then memory_lock (read) are held to the end. SIGBUS while
 * disabled; a vma already on vma_list was mapped by a concurrent fault: VM_FAULT_NOPAGE without a
 * second remap (closes H1); the whole vma is remapped (io_remap_pfn_range, the same as
 * remap_pfn_range here) and zapped again on failure; the tracking node is added only after a
 * successful map, still under vma_lock, so a zapper can never see the node before the PTEs exist
 * (closes H2). (The GFP_KERNEL node allocation cannot fail in the model, so its VM_FAULT_OOM branch
 * is absent.)
 */
export function* vfioPciMmapFaultHoldAcrossRemap(k: Kernel, vmf: VmFault): Task<number> {
  const fn = 'vfio_pci_mmap_fault';
  const vma = vmf.vma;
  const vdev = vma.privateData as VfioPciDevice;
  let ret = VM_FAULT_NOPAGE;
  yield* vdev.vmaLock.lock(fn);
  yield* vdev.memoryLock.downRead(fn);
  if (!faultMayMap(k, vdev)) {
    ret = VM_FAULT_SIGBUS;
    faultBlocked(k, vdev);
  } else if (!vdev.vmaList.includes(vma)) {
    const r = yield* remapPfnRange(k, vma, vma.start, vma.pgoff, vma.end - vma.start, vma.pageProt, fn);
    if (r !== 0) {
      ret = VM_FAULT_SIGBUS;
      yield* zapVmaPtes(k, vma, vma.start, vma.end - vma.start);
    } else {
      addVma(k, vdev, vma);
    }
  }
  yield* vdev.memoryLock.upRead(fn);
  yield* vdev.vmaLock.unlock(fn);
  return ret;
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
 * vfio_pci_mmap_fault (drivers/vfio/pci/vfio_pci_core.c, 6.10 with d71a989cf5d9; knob
 * mmapPopulate 'fault-insert-full-vma'): memory_lock for read; SIGBUS when memory is disabled or
 * runtime low power is engaged; else vmf_insert_pfn the faulting page and, unless that failed,
 * pre-fault the rest of the vma (errors there are ignored). Concurrent faults on one vma are
 * harmless: an existing PTE is skipped.
 */
export function* vfioPciMmapFaultInsertFullVma(k: Kernel, vmf: VmFault): Task<number> {
  const fn = 'vfio_pci_mmap_fault';
  const vma = vmf.vma;
  const vdev = vma.privateData as VfioPciDevice;
  const pfn = vmaToPfn(vma);
  const pgoff = vmf.pgoff - vma.pgoff;
  let ret = VM_FAULT_SIGBUS;
  yield* vdev.memoryLock.downRead(fn);
  if (!faultMayMap(k, vdev)) {
    faultBlocked(k, vdev);
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
 * vfio_pci_mmap_huge_fault (drivers/vfio/pci/vfio_pci_core.c, 6.12 + HF1 + HF2; knob mmapPopulate
 * 'huge-fault'): align the fault address down to the order; for order > 0 fall back
 * (VM_FAULT_FALLBACK, before taking any lock) unless the aligned block lies inside the vma and
 * its pfn is aligned to the order. Then memory_lock for read, SIGBUS while disabled, and one
 * vmf_insert_pfn / vmf_insert_pfn_pmd / vmf_insert_pfn_pud. Orders other than 0, PMD and PUD
 * fall back.
 */
export function* vfioPciMmapHugeFault(k: Kernel, vmf: VmFault, order: number): Task<number> {
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
    faultBlocked(k, vdev);
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
