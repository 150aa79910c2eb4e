/**
 * vfio-pci BAR mmaps (drivers/vfio/pci/vfio_pci.c, 5.7-5.14; vfio_pci_core.c from 5.15):
 * vfio_pci_mmap in every version, and the vm_operations_struct tables its mappings get —
 * 5.8's {open, close, fault} over the tracked vma_list, 6.10's {fault} and 6.12's
 * {fault, huge_fault} over the device inode's address space. The fault handlers are in
 * mmap-fault.ts, the zap side in memory-lock.ts.
 */
import { PAGE_SIZE } from '../../../hw/api.js';
import { VFIO_PCI_NUM_REGIONS, VFIO_PCI_ROM_REGION_INDEX } from '../../../uapi/vfio.js';
import { EINVAL } from '../../errno.js';
import type { Kernel } from '../../kernel.js';
import { remapPfnRange, zapVmaPtes } from '../../mm/index.js';
import { type Vma, type VmFault, type VmOperations, VM_DONTDUMP, VM_DONTEXPAND, VM_IO, VM_PFNMAP, VM_SHARED } from '../../mm/types.js';
import type { Task } from '../../sched/task.js';
import { SideTable } from '../../../util/side-table.js';
import {
  INDEX_PAGES, vfioPciMmapFault, vfioPciMmapFaultHoldAcrossRemap, vfioPciMmapFaultInsertFullVma, vfioPciMmapFaultTrylockRetry,
  vfioPciMmapHugeFault,
} from './mmap-fault.js';
import type { VfioPciDevice } from './vfio-pci-device.js';

/** The BAR a vfio_pci_mmap request maps, once its checks have passed. */
interface MmapRequest {
  readonly index: number;
  readonly start: number;
  /** The page offset inside the BAR. */
  readonly pgoff: number;
  readonly len: number;
}

/**
 * vfio_pci_mmap (drivers/vfio/pci/vfio_pci.c, 5.7-6.12): the checks every version makes, in the
 * kernel's order — a sane range, MAP_SHARED, a BAR region (no device-specific regions with
 * mmap here, never the ROM), a BAR that may be mmapped, and a request inside the BAR's
 * page-aligned length. Null: -EINVAL.
 */
function vfioPciMmapCheck(vdev: VfioPciDevice, vma: Vma): MmapRequest | null {
  const index = Math.floor(vma.pgoff / INDEX_PAGES);
  if (vma.end < vma.start) return null;
  if ((vma.flags & VM_SHARED) === 0) return null;
  if (index >= VFIO_PCI_NUM_REGIONS) return null;
  if (index >= VFIO_PCI_ROM_REGION_INDEX) return null;
  if (!vdev.barMmapSupported[index]) return null;
  const res = vdev.pdev.resource(index);
  if (res === null) return null;
  const physLen = Math.ceil(res.size / PAGE_SIZE) * PAGE_SIZE;
  const len = vma.end - vma.start;
  const pgoff = vma.pgoff % INDEX_PAGES;
  if (pgoff * PAGE_SIZE + len > physLen) return null;
  return { index, start: res.start, pgoff, len };
}

/**
 * vfio_pci_mmap (drivers/vfio/pci/vfio_pci.c, 5.7, 5.8; vfio_pci_core_mmap, vfio_pci_core.c,
 * 6.10/6.12): check (vfioPciMmapCheck), request the BAR, uncached protection, then by knob:
 * - 5.7 (mmapPopulate 'remap-at-mmap'): vm_pgoff rewritten to the BAR's pfn, the whole range
 *   remapped now;
 * - 5.8 (fault-time population): vm_pgoff rewritten to the BAR's pfn; VM_IO|VM_PFNMAP|
 *   VM_DONTEXPAND|VM_DONTDUMP set here, because the fault handler must not change vm_flags;
 *   `ops` (vfio_pci_mmap_ops) installed; no PTEs;
 * - 6.10 (zapMethod 'address-space'): vm_pgoff is left as the region encoding (the device
 *   inode's offsets, which vfio_pci_zap_bars unmaps); the same flags; the address-space
 *   design's vm_ops; no PTEs.
 */
export function* vfioPciMmap(k: Kernel, vdev: VfioPciDevice, vma: Vma, ops: VmOperations): Task<number> {
  const req = vfioPciMmapCheck(vdev, vma);
  if (req === null) return -EINVAL;
  vdev.barmap[req.index] = true; // pci_request_selected_regions + pci_iomap
  vma.privateData = vdev;
  vma.pageProt = { prot: vma.pageProt.prot, uncached: true };
  if (k.knobs.zapMethod === 'address-space') {
    vma.flags |= VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP;
    vma.ops = vfioPciMmapOpsAddressSpace(k);
    return 0;
  }
  vma.pgoff = Math.floor(req.start / PAGE_SIZE) + req.pgoff;
  if (k.knobs.mmapPopulate === 'remap-at-mmap') {
    return yield* remapPfnRange(k, vma, vma.start, vma.pgoff, req.len, vma.pageProt, 'vfio_pci_mmap');
  }
  vma.flags |= VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP;
  vma.ops = ops;
  return 0;
}

/** vfio_pci_mmap_open (drivers/vfio/pci/vfio_pci.c, 5.8): zap the copy so it faults and gets tracked. */
function* mmapOpen(k: Kernel, vma: Vma): Task<void> {
  yield* zapVmaPtes(k, vma, vma.start, vma.end - vma.start);
}

/** vfio_pci_mmap_close (drivers/vfio/pci/vfio_pci.c, 5.8): drop the first tracking node of this vma. */
function* mmapClose(k: Kernel, vma: Vma): Task<void> {
  const vdev = vma.privateData as VfioPciDevice;
  yield* vdev.vmaLock.lock('vfio_pci_mmap_close');
  const i = vdev.vmaList.indexOf(vma);
  if (i >= 0) {
    vdev.vmaList.splice(i, 1);
    k.events.emit({ kind: 'vfio.vma-track', dev: vdev.name, op: 'del', mm: vma.mm.id, start: vma.start, end: vma.end });
  }
  yield* vdev.vmaLock.unlock('vfio_pci_mmap_close');
}

/**
 * vfio_pci_mmap_ops (drivers/vfio/pci/vfio_pci.c, 5.8) of one kernel: an object over its
 * kernel rather than closures, so that a copy of the whole System (the explorer's
 * snapshots, src/check/snapshot.ts) faults in its own.
 */
class VfioPciMmapOps implements VmOperations {
  readonly name = 'vfio_pci_mmap_ops';

  constructor(private readonly k: Kernel) {}

  /** vfio_pci_mmap_open (drivers/vfio/pci/vfio_pci.c, 5.8): the vm_operations_struct entry. */
  open(vma: Vma): Task<void> {
    return mmapOpen(this.k, vma);
  }

  /** vfio_pci_mmap_close (drivers/vfio/pci/vfio_pci.c, 5.8): the vm_operations_struct entry. */
  close(vma: Vma): Task<void> {
    return mmapClose(this.k, vma);
  }

  /** vfio_pci_mmap_fault (drivers/vfio/pci/vfio_pci.c, 5.8, 5.14, v1): the vm_operations_struct entry; the version by the faultLocking knob. */
  fault(vmf: VmFault): Task<number> {
    const k = this.k;
    switch (k.knobs.faultLocking) {
      case 'hold-across-remap':
        return vfioPciMmapFaultHoldAcrossRemap(k, vmf);
      case 'trylock-retry':
        return vfioPciMmapFaultTrylockRetry(k, vmf);
      case 'drop-before-remap':
        return vfioPciMmapFault(k, vmf);
    }
  }
}

/** vfio_pci_mmap_ops (drivers/vfio/pci/vfio_pci.c, 5.8) for kernel `k`. */
export function vfioPciMmapOps(k: Kernel): VmOperations {
  return new VfioPciMmapOps(k);
}

/**
 * vfio_pci_mmap_ops (drivers/vfio/pci/vfio_pci_core.c, 6.10): {fault}. Objects over their
 * kernel rather than closures, so that a copy of the whole System (the explorer's snapshots,
 * src/check/snapshot.ts) faults in its own.
 */
class MmapOpsAddressSpace implements VmOperations {
  readonly name = 'vfio_pci_mmap_ops';

  constructor(protected readonly k: Kernel) {}

  /** vfio_pci_mmap_fault (drivers/vfio/pci/vfio_pci_core.c, 6.10): the vm_operations_struct entry. */
  fault(vmf: VmFault): Task<number> {
    return vfioPciMmapFaultInsertFullVma(this.k, vmf);
  }
}

/** vfio_pci_mmap_ops (drivers/vfio/pci/vfio_pci_core.c, 6.12): {fault = huge_fault at order 0, huge_fault}. */
class MmapOpsHuge extends MmapOpsAddressSpace {
  /** vfio_pci_mmap_page_fault (drivers/vfio/pci/vfio_pci_core.c, 6.12): huge_fault at order 0. */
  override fault(vmf: VmFault): Task<number> {
    return vfioPciMmapHugeFault(this.k, vmf, 0);
  }

  /** vfio_pci_mmap_huge_fault (drivers/vfio/pci/vfio_pci_core.c, 6.12): the vm_operations_struct entry. */
  hugeFault(vmf: VmFault, order: number): Task<number> {
    return vfioPciMmapHugeFault(this.k, vmf, order);
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
    ops = k.knobs.mmapPopulate === 'huge-fault' ? new MmapOpsHuge(k) : new MmapOpsAddressSpace(k);
    opsByKernel.set(k, ops);
  }
  return ops;
}
