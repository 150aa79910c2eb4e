/**
 * The type1 IOMMU backend (drivers/vfio/vfio_iommu_type1.c, Linux 5.8): per-container
 * DMA mappings of user memory into IOMMU domains, pinned page by page.
 *
 * Platform model: one IOMMU (k.hw.iommu) whose domains are all compatible, so every
 * group of a container shares the first domain (the kernel's "try to match an existing
 * compatible domain"); 4 KiB pages only; aperture [0, 2^aw) (VT-d: aw = the IOMMU's address
 * width, 48 by default, 39 on QEMU 7.2's intel-iommu) minus the x86
 * MSI window 0xfee00000-0xfeefffff (IOMMU_RESV_MSI); interrupt remapping present;
 * no IOMMU_CACHE; RLIMIT_MEMLOCK not enforced (locked_vm is still accounted, under the
 * mmap lock taken for write, as vfio_lock_acct does). mdev external pinning, dirty-page
 * tracking and the notifier chain are not modelled.
 */
import { IOMMU_READ, IOMMU_WRITE } from '../../../hw/api.js';
import { u64 } from '../../../uapi/ioctl.js';
import {
  SIZEOF_VFIO_BITMAP,
  SIZEOF_VFIO_IOMMU_TYPE1_INFO,
  VFIO_CHECK_EXTENSION,
  VFIO_DMA_CC_IOMMU,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_INFO_CAPS,
  VFIO_IOMMU_INFO_PGSIZES,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_TYPE1_DMA_MAP_MINSZ,
  VFIO_IOMMU_TYPE1_DMA_UNMAP_MINSZ,
  VFIO_IOMMU_TYPE1_INFO_CAPSZ,
  VFIO_IOMMU_TYPE1_INFO_MINSZ,
  VFIO_IOMMU_UNMAP_DMA,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1_NESTING_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  decodeDmaMap,
  decodeDmaUnmap,
  decodeIommuType1Info,
  encodeCapIovaRange,
  encodeCapMigration,
  encodeDmaUnmap,
  encodeIommuType1Info,
} from '../../../uapi/vfio.js';
import { EAGAIN, EBUSY, EEXIST, EFAULT, EINVAL, ENODEV, ENOSPC, ENOTTY, ESRCH } from '../../errno.js';
import type { Kernel } from '../../kernel.js';
import type { Mutex } from '../../locking/mutex.js';
import { findVma, fixupUserFault, followPfn, pinUserPagesRemote, unpinUserPage } from '../../mm/index.js';
import { FAULT_FLAG_REMOTE, FAULT_FLAG_WRITE, FOLL_LONGTERM, FOLL_WRITE, VM_PFNMAP, type MmStructRef, type Vma } from '../../mm/types.js';
import { threadProcess } from '../../proc.js';
import { point, type Task } from '../../sched/task.js';
import type { VfioIommuDriverOps } from '../device.js';
import { VfioInfoCapChain } from '../info-cap.js';
import { fetchUser, storeUser } from '../uaccess.js';
import { SideTable } from '../../../util/side-table.js';

const PAGE_SIZE = 4096;
/** dma_entry_limit module parameter default (U16_MAX). */
export const DMA_ENTRY_LIMIT = 65535;
/** INTEL_IOMMU_PGSIZES (drivers/iommu/intel/iommu.c, before 5.15): ~0xfff, every power of two from 4 KiB. */
export const INTEL_IOMMU_PGSIZES_ALL = ((1n << 64n) - 1n) & ~0xfffn;
/** Domain geometry: aperture end with the default VT-d 48-bit address width. */
export const TYPE1_APERTURE_END = 2 ** 48 - 1;

/**
 * The domain geometry's aperture end intel-iommu sets (intel_iommu_domain_alloc /
 * md_domain_init, Linux 5.8-6.12: __DOMAIN_MAX_ADDR of the guest address width): the
 * last address the IOMMU's address width covers.
 */
function apertureEnd(addressWidth: number): number {
  return 2 ** addressWidth - 1;
}
/** IOMMU_RESV_MSI window on x86. */
export const TYPE1_RESV_MSI_START = 0xfee00000;
export const TYPE1_RESV_MSI_END = 0xfeefffff;
/** DIRTY_BITMAP_SIZE_MAX = DIRTY_BITMAP_BYTES(INT_MAX) */
const DIRTY_BITMAP_SIZE_MAX = 0x10000000n;
const U64_MAX = (1n << 64n) - 1n;

/** locked_vm per mm (pages), maintained by vfio_lock_acct. */
const lockedVmByMm = new SideTable<MmStructRef, number>('lockedVmByMm');

/** mm->locked_vm as accounted by type1 (pages). */
export function lockedVm(mm: MmStructRef): number {
  return lockedVmByMm.get(mm) ?? 0;
}

/** struct vfio_domain */
interface VfioDomain {
  /** The hardware IOMMU domain id. */
  readonly domain: number;
  /** IOMMU group numbers attached to this domain. */
  readonly groups: number[];
  /** IOMMU_CACHE or 0 */
  readonly prot: number;
}

/** struct vfio_dma: one user mapping (iova, vaddr, size are byte values below 2^53). */
export interface VfioDma {
  readonly iova: number;
  readonly vaddr: number;
  size: number;
  readonly prot: number;
  iommuMapped: boolean;
  /** dma->task->mm: the address space that created the mapping. */
  readonly mm: MmStructRef;
}

/** struct vfio_iova: a valid IOVA range [start, end] (inclusive). */
interface VfioIova {
  readonly start: number;
  readonly end: number;
}

/** struct vfio_iommu: the type1 state of one container. */
export class VfioIommu {
  /** Per-kernel id. */
  readonly id: number;
  readonly lock: Mutex;
  readonly domains: VfioDomain[] = [];
  /** dma_list, kept sorted by iova. */
  readonly dmaList: VfioDma[] = [];
  readonly iovaList: VfioIova[] = [];
  dmaAvail = DMA_ENTRY_LIMIT;
  pgsizeBitmap = 0n;
  constructor(
    k: Kernel,
    readonly v2: boolean,
    readonly nesting: boolean,
  ) {
    this.id = k.sched.allocId('vfio-iommu');
    this.lock = k.mutex('&iommu->lock', `iommu_lock:${this.id}`);
  }
}

/** Overlap search of vfio_find_dma: a dma with !(start + size <= iova) && !(start >= iova + size). */
function vfioFindDma(iommu: VfioIommu, start: bigint, size: bigint): VfioDma | null {
  for (const d of iommu.dmaList) {
    const di = BigInt(d.iova);
    if (start + size <= di) continue;
    if (start >= di + BigInt(d.size)) continue;
    return d;
  }
  return null;
}

/** vfio_link_dma */
function vfioLinkDma(iommu: VfioIommu, dma: VfioDma): void {
  let i = 0;
  while (i < iommu.dmaList.length && (iommu.dmaList[i] as VfioDma).iova < dma.iova) i++;
  iommu.dmaList.splice(i, 0, dma);
}

/**
 * The type1 driver of one kernel. Register it with `core.registerIommuDriver(new
 * VfioIommuType1(k))` (vfio_iommu_type1_init).
 */
export class VfioIommuType1 implements VfioIommuDriverOps {
  readonly name = 'vfio-iommu-type1';

  constructor(readonly k: Kernel) {}

  private asIommu(data: object | null): VfioIommu | null {
    return data instanceof VfioIommu ? data : null;
  }

  // ---- pinning -------------------------------------------------------------------------

  /** is_invalid_reserved_pfn (drivers/vfio/vfio_iommu_type1.c, 5.8): not ordinary RAM. */
  private isInvalidReservedPfn(pfn: number): boolean {
    return !this.k.hw.ram.isRam(pfn);
  }

  /** put_pfn (drivers/vfio/vfio_iommu_type1.c, 5.8): unpin a RAM page; returns 1 if one was unpinned. */
  private putPfn(pfn: number): number {
    if (!this.isInvalidReservedPfn(pfn)) {
      unpinUserPage(this.k, pfn);
      return 1;
    }
    return 0;
  }

  /** vfio_lock_acct (drivers/vfio/vfio_iommu_type1.c, 5.8): adjust locked_vm under mmap_write_lock. */
  private *lockAcct(mm: MmStructRef, npage: number, async: boolean): Task<number> {
    if (npage === 0) return 0;
    // get_task_mm fails once the process has exited
    if (async && mm.users <= 0) return -ESRCH;
    yield* mm.mmapLock.downWrite('vfio_lock_acct');
    lockedVmByMm.set(mm, Math.max(0, lockedVm(mm) + npage));
    yield* mm.mmapLock.upWrite('vfio_lock_acct');
    return 0;
  }

  /**
   * follow_fault_pfn (drivers/vfio/vfio_iommu_type1.c, 5.8; patch 41311242221e): the PTE's pfn, faulting
   * it in with fixup_user_fault if absent. -EAGAIN when the mmap lock was dropped (the
   * caller must look the vma up again).
   */
  private *followFaultPfn(vma: Vma, mm: MmStructRef, vaddr: number, writeFault: boolean): Task<number> {
    let ret = yield* followPfn(this.k, vma, vaddr);
    if (ret < 0) {
      const unlocked = { value: false };
      const fr = yield* fixupUserFault(this.k, mm, vaddr, FAULT_FLAG_REMOTE | (writeFault ? FAULT_FLAG_WRITE : 0), unlocked);
      if (unlocked.value) return -EAGAIN;
      if (fr !== 0) return fr;
      ret = yield* followPfn(this.k, vma, vaddr);
    }
    return ret;
  }

  /**
   * vaddr_get_pfn (drivers/vfio/vfio_iommu_type1.c, 5.8; 5.7 without fault-in when
   * !knobs.type1FaultIn): the pfn backing `vaddr`, pinned if it is RAM, or -errno.
   */
  private *vaddrGetPfn(mm: MmStructRef, vaddr: number, prot: number): Task<number> {
    const gup = FOLL_LONGTERM | ((prot & IOMMU_WRITE) !== 0 ? FOLL_WRITE : 0);
    yield* mm.mmapLock.downRead('vaddr_get_pfn');
    const pinned = yield* pinUserPagesRemote(this.k, mm, vaddr, 1, gup);
    let ret: number;
    if (typeof pinned !== 'number' && pinned.length === 1) {
      ret = pinned[0] as number;
    } else {
      ret = typeof pinned === 'number' ? pinned : -EFAULT;
      if (this.k.knobs.type1FaultIn) {
        for (;;) {
          // retry: find_vma_intersection(mm, vaddr, vaddr + 1)
          const vma = findVma(mm, vaddr);
          if (vma === null || vma.start > vaddr || (vma.flags & VM_PFNMAP) === 0) break;
          const r = yield* this.followFaultPfn(vma, mm, vaddr, (prot & IOMMU_WRITE) !== 0);
          if (r === -EAGAIN) continue;
          ret = r >= 0 && !this.isInvalidReservedPfn(r) ? -EFAULT : r;
          break;
        }
      } else {
        // 5.7: follow_pfn only, no fault-in; success only for a present non-RAM pfn
        const vma = findVma(mm, vaddr);
        if (vma !== null && vma.start <= vaddr && (vma.flags & VM_PFNMAP) !== 0) {
          const r = yield* followPfn(this.k, vma, vaddr);
          if (r >= 0 && this.isInvalidReservedPfn(r)) ret = r;
        }
      }
    }
    yield* mm.mmapLock.upRead('vaddr_get_pfn');
    return ret;
  }

  /**
   * vfio_pin_pages_remote (drivers/vfio/vfio_iommu_type1.c, 5.8): pin the first page at `vaddr` and
   * every following page that is physically contiguous with it and of the same kind
   * (RAM vs reserved), up to `npage`. Returns {pinned, pfnBase} or -errno (only when the
   * first page fails).
   */
  private *pinPagesRemote(dma: VfioDma, vaddr: number, npage: number): Task<{ pinned: number; pfnBase: number } | number> {
    const mm = threadProcess(this.k.sched.current)?.mm ?? null;
    // This path is only user initiated.
    if (mm === null) return -ENODEV;
    const pfnBase = yield* this.vaddrGetPfn(mm, vaddr, dma.prot);
    if (pfnBase < 0) return pfnBase;
    let pinned = 1;
    const rsvd = this.isInvalidReservedPfn(pfnBase);
    let lockAcct = rsvd ? 0 : 1;
    for (let va = vaddr + PAGE_SIZE; pinned < npage; pinned++, va += PAGE_SIZE) {
      const pfn = yield* this.vaddrGetPfn(mm, va, dma.prot);
      if (pfn < 0) break;
      if (pfn !== pfnBase + pinned || rsvd !== this.isInvalidReservedPfn(pfn)) {
        this.putPfn(pfn);
        break;
      }
      if (!rsvd) lockAcct++;
    }
    const ret = yield* this.lockAcct(mm, lockAcct, false);
    if (ret !== 0) {
      if (!rsvd) for (let i = 0; i < pinned; i++) this.putPfn(pfnBase + i);
      return ret;
    }
    return { pinned, pfnBase };
  }

  /** vfio_unpin_pages_remote (drivers/vfio/vfio_iommu_type1.c, 5.8): returns the number of RAM pages unpinned. */
  private *unpinPagesRemote(dma: VfioDma, pfn: number, npage: number, doAccounting: boolean): Task<number> {
    let unlocked = 0;
    for (let i = 0; i < npage; i++) unlocked += this.putPfn(pfn + i);
    if (doAccounting) yield* this.lockAcct(dma.mm, -unlocked, true);
    return unlocked;
  }

  // ---- mapping ---------------------------------------------------------------------------

  /** vfio_iommu_map (drivers/vfio/vfio_iommu_type1.c, 5.8): map a pinned chunk into every domain, unwinding on failure. */
  private *iommuMap(iommu: VfioIommu, iova: number, pfn: number, npage: number, prot: number): Task<number> {
    for (let i = 0; i < iommu.domains.length; i++) {
      const d = iommu.domains[i] as VfioDomain;
      yield point('iommu_map', `iommu-domain:${d.domain}`, 'w');
      if (!this.k.hw.iommu.map(d.domain, iova, pfn, npage, prot | d.prot)) {
        for (let j = i - 1; j >= 0; j--) {
          const dj = iommu.domains[j] as VfioDomain;
          yield point('iommu_unmap', `iommu-domain:${dj.domain}`, 'w');
          this.k.hw.iommu.unmap(dj.domain, iova, npage);
        }
        return -EBUSY;
      }
    }
    return 0;
  }

  /** vfio_unmap_unpin (drivers/vfio/vfio_iommu_type1.c, 5.8): unmap the dma from every domain and unpin its RAM pages. */
  private *unmapUnpin(iommu: VfioIommu, dma: VfioDma, doAccounting: boolean): Task<number> {
    if (dma.size === 0) return 0;
    const first = iommu.domains[0];
    if (first === undefined) return 0;
    const iommuHw = this.k.hw.iommu;
    // All but the first domain are unmapped up front; the first one tells us the pfns.
    for (const d of iommu.domains.slice(1)) {
      yield point('iommu_unmap', `iommu-domain:${d.domain}`, 'w');
      iommuHw.unmap(d.domain, dma.iova, dma.size / PAGE_SIZE);
    }
    let unlocked = 0;
    const end = dma.iova + dma.size;
    let iova = dma.iova;
    while (iova < end) {
      yield point('iommu_lookup', `iommu-domain:${first.domain}`, 'r');
      const t = iommuHw.lookup(first.domain, iova);
      if (t === null) {
        this.k.events.emit({ kind: 'warn', message: `no translation for iova 0x${iova.toString(16)} of a mapped dma`, fn: 'vfio_unmap_unpin' });
        iova += PAGE_SIZE;
        continue;
      }
      let len = PAGE_SIZE;
      while (iova + len < end) {
        const n = iommuHw.lookup(first.domain, iova + len);
        if (n === null || n.pfn !== t.pfn + len / PAGE_SIZE) break;
        len += PAGE_SIZE;
      }
      yield point('iommu_unmap', `iommu-domain:${first.domain}`, 'w');
      const pages = iommuHw.unmap(first.domain, iova, len / PAGE_SIZE);
      if (pages === 0) {
        this.k.events.emit({ kind: 'warn', message: `iommu_unmap of 0x${iova.toString(16)} unmapped nothing`, fn: 'vfio_unmap_unpin' });
        break;
      }
      unlocked += yield* this.unpinPagesRemote(dma, t.pfn, pages, false);
      iova += pages * PAGE_SIZE;
    }
    dma.iommuMapped = false;
    if (doAccounting) {
      yield* this.lockAcct(dma.mm, -unlocked, true);
      return 0;
    }
    return unlocked;
  }

  /** vfio_remove_dma (drivers/vfio/vfio_iommu_type1.c, 5.8) */
  private *removeDma(iommu: VfioIommu, dma: VfioDma): Task<void> {
    yield* this.unmapUnpin(iommu, dma, true);
    const i = iommu.dmaList.indexOf(dma);
    if (i >= 0) iommu.dmaList.splice(i, 1);
    iommu.dmaAvail++;
  }

  /** vfio_pin_map_dma (drivers/vfio/vfio_iommu_type1.c, 5.8): pin and map in contiguous chunks; on error remove everything. */
  private *pinMapDma(iommu: VfioIommu, dma: VfioDma, mapSize: number): Task<number> {
    let size = mapSize;
    let ret = 0;
    while (size > 0) {
      const r = yield* this.pinPagesRemote(dma, dma.vaddr + dma.size, size / PAGE_SIZE);
      if (typeof r === 'number') {
        ret = r;
        break;
      }
      ret = yield* this.iommuMap(iommu, dma.iova + dma.size, r.pfnBase, r.pinned, dma.prot);
      if (ret !== 0) {
        yield* this.unpinPagesRemote(dma, r.pfnBase, r.pinned, true);
        break;
      }
      size -= r.pinned * PAGE_SIZE;
      dma.size += r.pinned * PAGE_SIZE;
    }
    dma.iommuMapped = true;
    if (ret !== 0) yield* this.removeDma(iommu, dma);
    return ret;
  }

  /** vfio_iommu_iova_dma_valid (drivers/vfio/vfio_iommu_type1.c, 5.8) */
  private iovaDmaValid(iommu: VfioIommu, start: bigint, end: bigint): boolean {
    if (iommu.iovaList.length === 0) return true;
    return iommu.iovaList.some((n) => start >= BigInt(n.start) && end <= BigInt(n.end));
  }

  /** vfio_dma_do_map (drivers/vfio/vfio_iommu_type1.c, 5.8) */
  private *dmaDoMap(iommu: VfioIommu, vaddr: bigint, iova: bigint, size: bigint, flags: number): Task<number> {
    let prot = 0;
    if ((flags & VFIO_DMA_MAP_FLAG_WRITE) !== 0) prot |= IOMMU_WRITE;
    if ((flags & VFIO_DMA_MAP_FLAG_READ) !== 0) prot |= IOMMU_READ;
    yield* iommu.lock.lock('vfio_dma_do_map');
    const ret = yield* this.dmaDoMapLocked(iommu, vaddr, iova, size, prot);
    yield* iommu.lock.unlock('vfio_dma_do_map');
    return ret;
  }

  /** vfio_dma_do_map (drivers/vfio/vfio_iommu_type1.c, 5.8): its body under iommu->lock. */
  private *dmaDoMapLocked(iommu: VfioIommu, vaddr: bigint, iova: bigint, size: bigint, prot: number): Task<number> {
    const pgsize = lowestBit(iommu.pgsizeBitmap);
    if (prot === 0 || size === 0n || ((size | iova | vaddr) & (pgsize - 1n)) !== 0n) return -EINVAL;
    // Don't allow IOVA or virtual address wrap
    if (u64(iova + size - 1n) < iova || u64(vaddr + size - 1n) < vaddr) return -EINVAL;
    if (vfioFindDma(iommu, iova, size) !== null) return -EEXIST;
    if (iommu.dmaAvail === 0) return -ENOSPC;
    if (!this.iovaDmaValid(iommu, iova, iova + size - 1n)) return -EINVAL;
    const mm = threadProcess(this.k.sched.current)?.mm ?? null;
    if (mm === null) return -ENODEV;
    iommu.dmaAvail--;
    // iova and size are below 2^52 here (aperture check); a vaddr beyond 2^53 can never be mapped and fails in GUP.
    const dma: VfioDma = { iova: Number(iova), vaddr: Number(vaddr), size: 0, prot, iommuMapped: false, mm };
    // Insert zero-sized and grow as chunks are mapped.
    vfioLinkDma(iommu, dma);
    if (iommu.domains.length === 0) {
      dma.size = Number(size);
      return 0;
    }
    return yield* this.pinMapDma(iommu, dma, Number(size));
  }

  /** vfio_dma_do_unmap (drivers/vfio/vfio_iommu_type1.c, 5.8): returns {ret, unmapped bytes}. */
  private *dmaDoUnmap(iommu: VfioIommu, iova: bigint, size: bigint, flags: number): Task<{ ret: number; unmapped: bigint }> {
    yield* iommu.lock.lock('vfio_dma_do_unmap');
    const r = yield* this.dmaDoUnmapLocked(iommu, iova, size, flags);
    yield* iommu.lock.unlock('vfio_dma_do_unmap');
    return r;
  }

  /** vfio_dma_do_unmap (drivers/vfio/vfio_iommu_type1.c, 5.8): its body under iommu->lock. */
  private *dmaDoUnmapLocked(iommu: VfioIommu, iova: bigint, size: bigint, flags: number): Task<{ ret: number; unmapped: bigint }> {
    const pgsize = lowestBit(iommu.pgsizeBitmap);
    const fail = { ret: -EINVAL, unmapped: 0n };
    if ((iova & (pgsize - 1n)) !== 0n) return fail;
    if (size === 0n || (size & (pgsize - 1n)) !== 0n) return fail;
    if (u64(iova + size - 1n) < iova) return fail;
    // Dirty-page tracking is never enabled in the model.
    if ((flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) !== 0) return fail;
    if (iommu.v2) {
      // v2: unmaps must not bisect a mapping
      const head = vfioFindDma(iommu, iova, 1n);
      if (head !== null && BigInt(head.iova) !== iova) return fail;
      const tail = vfioFindDma(iommu, iova + size - 1n, 0n);
      if (tail !== null && BigInt(tail.iova + tail.size) !== iova + size) return fail;
    }
    const mm = threadProcess(this.k.sched.current)?.mm ?? null;
    let unmapped = 0n;
    for (;;) {
      const dma = vfioFindDma(iommu, iova, size);
      if (dma === null) break;
      // v1: an unmap starting inside a mapping unmaps nothing of it
      if (!iommu.v2 && iova > BigInt(dma.iova)) break;
      // Only the address space that mapped it may unmap it.
      if (dma.mm !== mm) break;
      unmapped += BigInt(dma.size);
      yield* this.removeDma(iommu, dma);
    }
    return { ret: 0, unmapped };
  }

  // ---- ioctls ------------------------------------------------------------------------------

  /** vfio_iommu_type1_get_info (drivers/vfio/vfio_iommu_type1.c, 5.8) */
  private *getInfo(iommu: VfioIommu, arg: number): Task<number> {
    let minsz = VFIO_IOMMU_TYPE1_INFO_MINSZ;
    const capsz = VFIO_IOMMU_TYPE1_INFO_CAPSZ;
    const b = yield* fetchUser(this.k, arg, minsz);
    if (typeof b === 'number') return b;
    const info = decodeIommuType1Info(b);
    if (info.argsz < minsz) return -EINVAL;
    if (info.argsz >= capsz) {
      minsz = capsz;
      info.capOffset = 0;
    }
    yield* iommu.lock.lock('vfio_iommu_type1_get_info');
    info.flags = VFIO_IOMMU_INFO_PGSIZES;
    info.iovaPgsizes = iommu.pgsizeBitmap;
    const caps = new VfioInfoCapChain();
    // vfio_iommu_migration_build_caps
    caps.addCapability(encodeCapMigration({ flags: 0, pgsizeBitmap: lowestBit(iommu.pgsizeBitmap), maxDirtyBitmapSize: DIRTY_BITMAP_SIZE_MAX }));
    // vfio_iommu_iova_build_caps
    if (iommu.iovaList.length > 0) caps.addCapability(encodeCapIovaRange(iommu.iovaList));
    yield* iommu.lock.unlock('vfio_iommu_type1_get_info');
    if (caps.size > 0) {
      info.flags |= VFIO_IOMMU_INFO_CAPS;
      if (info.argsz < SIZEOF_VFIO_IOMMU_TYPE1_INFO + caps.size) {
        info.argsz = SIZEOF_VFIO_IOMMU_TYPE1_INFO + caps.size;
      } else {
        caps.shift(SIZEOF_VFIO_IOMMU_TYPE1_INFO);
        const r = yield* storeUser(this.k, arg + SIZEOF_VFIO_IOMMU_TYPE1_INFO, caps.buf);
        if (r !== 0) return r;
        info.capOffset = SIZEOF_VFIO_IOMMU_TYPE1_INFO;
      }
    }
    return yield* storeUser(this.k, arg, encodeIommuType1Info(info).subarray(0, minsz));
  }

  /** vfio_iommu_type1_map_dma (drivers/vfio/vfio_iommu_type1.c, 5.8) */
  private *mapDma(iommu: VfioIommu, arg: number): Task<number> {
    const minsz = VFIO_IOMMU_TYPE1_DMA_MAP_MINSZ;
    const b = yield* fetchUser(this.k, arg, minsz);
    if (typeof b === 'number') return b;
    const map = decodeDmaMap(b);
    const mask = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
    if (map.argsz < minsz || (map.flags & ~mask) !== 0) return -EINVAL;
    return yield* this.dmaDoMap(iommu, map.vaddr, map.iova, map.size, map.flags);
  }

  /** vfio_iommu_type1_unmap_dma (drivers/vfio/vfio_iommu_type1.c, 5.8) */
  private *unmapDma(iommu: VfioIommu, arg: number): Task<number> {
    const minsz = VFIO_IOMMU_TYPE1_DMA_UNMAP_MINSZ;
    const b = yield* fetchUser(this.k, arg, minsz);
    if (typeof b === 'number') return b;
    const unmap = decodeDmaUnmap(b);
    if (unmap.argsz < minsz || (unmap.flags & ~VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) !== 0) return -EINVAL;
    if ((unmap.flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) !== 0) {
      if (unmap.argsz < minsz + SIZEOF_VFIO_BITMAP) return -EINVAL;
      const bm = yield* fetchUser(this.k, arg + minsz, SIZEOF_VFIO_BITMAP);
      if (typeof bm === 'number') return bm;
      // The bitmap is validated, then vfio_dma_do_unmap refuses it: tracking is never started.
    }
    const r = yield* this.dmaDoUnmap(iommu, unmap.iova, unmap.size, unmap.flags);
    if (r.ret !== 0) return r.ret;
    unmap.size = r.unmapped;
    return yield* storeUser(this.k, arg, encodeDmaUnmap(unmap).subarray(0, minsz));
  }

  /** vfio_domains_have_iommu_cache (drivers/vfio/vfio_iommu_type1.c, 5.8) */
  private *domainsHaveIommuCache(iommu: VfioIommu): Task<number> {
    yield* iommu.lock.lock('vfio_domains_have_iommu_cache');
    const ret = iommu.domains.every((d) => d.prot !== 0) ? 1 : 0;
    yield* iommu.lock.unlock('vfio_domains_have_iommu_cache');
    return ret;
  }

  /** vfio_iommu_type1_check_extension (drivers/vfio/vfio_iommu_type1.c, 5.8) */
  private *checkExtension(iommu: VfioIommu | null, arg: number): Task<number> {
    switch (arg) {
      case VFIO_TYPE1_IOMMU:
      case VFIO_TYPE1v2_IOMMU:
      case VFIO_TYPE1_NESTING_IOMMU:
        return 1;
      case VFIO_DMA_CC_IOMMU:
        if (iommu === null) return 0;
        return yield* this.domainsHaveIommuCache(iommu);
      default:
        return 0;
    }
  }

  /** vfio_iommu_type1_ioctl (drivers/vfio/vfio_iommu_type1.c, 5.8) */
  *ioctl(data: object | null, cmd: number, arg: number): Task<number> {
    const iommu = this.asIommu(data);
    if (cmd === VFIO_CHECK_EXTENSION) return yield* this.checkExtension(iommu, arg);
    if (iommu === null) return -EINVAL;
    switch (cmd) {
      case VFIO_IOMMU_GET_INFO:
        return yield* this.getInfo(iommu, arg);
      case VFIO_IOMMU_MAP_DMA:
        return yield* this.mapDma(iommu, arg);
      case VFIO_IOMMU_UNMAP_DMA:
        return yield* this.unmapDma(iommu, arg);
      default:
        // VFIO_IOMMU_DIRTY_PAGES (5.8) is not modelled
        return -ENOTTY;
    }
  }

  // ---- open / release / attach / detach ----------------------------------------------------

  /** vfio_iommu_type1_open (drivers/vfio/vfio_iommu_type1.c, 5.8) */
  // eslint-disable-next-line require-yield
  *open(arg: number): Task<object | number> {
    switch (arg) {
      case VFIO_TYPE1_IOMMU:
        return new VfioIommu(this.k, false, false);
      case VFIO_TYPE1_NESTING_IOMMU:
        return new VfioIommu(this.k, true, true);
      case VFIO_TYPE1v2_IOMMU:
        return new VfioIommu(this.k, true, false);
      default:
        return -EINVAL;
    }
  }

  /**
   * An intel-iommu domain's pgsize_bitmap: INTEL_IOMMU_PGSIZES (~0xfff) before 5.15; from
   * 5.15 SZ_4K | domain_super_pgsize_bitmap (the hardware's 2 MiB/1 GiB superpages).
   */
  private domainPgsizeBitmap(): bigint {
    if (this.k.knobs.iommuPgsizes === 'all-4k-multiples') return INTEL_IOMMU_PGSIZES_ALL;
    return BigInt(PAGE_SIZE) | this.k.hw.iommu.superpageBitmap;
  }

  /** vfio_update_pgsize_bitmap (drivers/vfio/vfio_iommu_type1.c, 5.8) */
  private updatePgsizeBitmap(iommu: VfioIommu): void {
    // ULONG_MAX & every domain's bitmap; sub-page sizes are hidden behind PAGE_SIZE
    let bm = U64_MAX;
    for (let i = 0; i < iommu.domains.length; i++) bm &= this.domainPgsizeBitmap();
    if ((bm & 0xfffn) !== 0n) bm = (bm & ~0xfffn & U64_MAX) | BigInt(PAGE_SIZE);
    iommu.pgsizeBitmap = bm;
  }

  /** The valid IOVA list for the domain geometry and reserved regions (vfio_iommu_aper_resize + vfio_iommu_resv_exclude). */
  private refreshIovaList(iommu: VfioIommu): void {
    iommu.iovaList.length = 0;
    if (iommu.domains.length === 0) return;
    iommu.iovaList.push({ start: 0, end: TYPE1_RESV_MSI_START - 1 }, { start: TYPE1_RESV_MSI_END + 1, end: apertureEnd(this.k.hw.iommu.addressWidth) });
  }

  /** vfio_iommu_type1_attach_group (drivers/vfio/vfio_iommu_type1.c, 5.8) */
  *attachGroup(data: object, iommuGroup: number): Task<number> {
    const iommu = this.asIommu(data);
    if (iommu === null) return -EINVAL;
    yield* iommu.lock.lock('vfio_iommu_type1_attach_group');
    let ret = 0;
    if (iommu.domains.some((d) => d.groups.includes(iommuGroup))) {
      ret = -EINVAL;
    } else {
      const hw = this.k.hw.iommu;
      const existing = iommu.domains[0];
      yield point('iommu_attach', `iommu-group:${iommuGroup}`, 'w');
      if (existing !== undefined) {
        // Every domain is compatible on this platform: join the existing one.
        hw.attachGroup(existing.domain, iommuGroup);
        existing.groups.push(iommuGroup);
      } else {
        const domain: VfioDomain = { domain: hw.createDomain(), groups: [iommuGroup], prot: 0 };
        hw.attachGroup(domain.domain, iommuGroup);
        // vfio_iommu_replay has nothing to replay: mappings only exist while a domain does.
        iommu.domains.push(domain);
        this.updatePgsizeBitmap(iommu);
      }
      this.refreshIovaList(iommu);
    }
    yield* iommu.lock.unlock('vfio_iommu_type1_attach_group');
    return ret;
  }

  /** vfio_iommu_unmap_unpin_all (drivers/vfio/vfio_iommu_type1.c, 5.8) */
  private *unmapUnpinAll(iommu: VfioIommu): Task<void> {
    for (;;) {
      const dma = iommu.dmaList[0];
      if (dma === undefined) break;
      yield* this.removeDma(iommu, dma);
    }
  }

  /** vfio_iommu_type1_detach_group (drivers/vfio/vfio_iommu_type1.c, 5.8) */
  *detachGroup(data: object, iommuGroup: number): Task<void> {
    const iommu = this.asIommu(data);
    if (iommu === null) return;
    yield* iommu.lock.lock('vfio_iommu_type1_detach_group');
    for (const domain of iommu.domains) {
      const gi = domain.groups.indexOf(iommuGroup);
      if (gi < 0) continue;
      yield point('iommu_detach', `iommu-group:${iommuGroup}`, 'w');
      this.k.hw.iommu.detachGroup(iommuGroup);
      domain.groups.splice(gi, 1);
      // Group ownership is the privilege: the last group takes the domain (and, if it is the last domain, every mapping) with it.
      if (domain.groups.length === 0) {
        if (iommu.domains.length === 1) yield* this.unmapUnpinAll(iommu);
        this.k.hw.iommu.destroyDomain(domain.domain);
        iommu.domains.splice(iommu.domains.indexOf(domain), 1);
        this.updatePgsizeBitmap(iommu);
      }
      break;
    }
    this.refreshIovaList(iommu);
    yield* iommu.lock.unlock('vfio_iommu_type1_detach_group');
  }

  /** vfio_iommu_type1_release (drivers/vfio/vfio_iommu_type1.c, 5.8) */
  *release(data: object): Task<void> {
    const iommu = this.asIommu(data);
    if (iommu === null) return;
    yield* this.unmapUnpinAll(iommu);
    for (const domain of iommu.domains.splice(0)) {
      for (const g of domain.groups.splice(0)) {
        yield point('iommu_detach', `iommu-group:${g}`, 'w');
        this.k.hw.iommu.detachGroup(g);
      }
      this.k.hw.iommu.destroyDomain(domain.domain);
    }
    iommu.iovaList.length = 0;
  }
}

/** 1 << __ffs(bitmap) */
function lowestBit(bitmap: bigint): bigint {
  if (bitmap === 0n) return 1n;
  return bitmap & -bitmap;
}
