/**
 * Page faults, PFN remapping, zapping and page-table copies (mm/memory.c, 5.8).
 */
import { EINVAL, ENOMEM } from '../errno.js';
import type { Kernel } from '../kernel.js';
import { KernelBug } from '../sched/errors.js';
import type { Task } from '../sched/task.js';
import { createHugeFault } from './pfn-insert.js';
import {
  allocUserPage,
  getPage,
  mmOf,
  type MmStruct,
  PAGE_SIZE,
  pageAlignDown,
  pageAlignUp,
  pageOffset,
  PTRS_PER_PTE,
  putPage,
  type VmaImpl,
  vpnOf,
} from './mm.js';
import {
  FAULT_FLAG_USER,
  FAULT_FLAG_WRITE,
  PROT_WRITE,
  type Pte,
  type Vma,
  type VmFault,
  VM_DONTDUMP,
  VM_DONTEXPAND,
  VM_FAULT_LOCKED,
  VM_FAULT_MAJOR,
  VM_FAULT_NOPAGE,
  VM_FAULT_OOM,
  VM_FAULT_RETRY,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
  VM_FAULT_FALLBACK,
  VM_IO,
  VM_MAYWRITE,
  VM_PFNMAP,
  VM_SHARED,
  VM_WRITE,
} from './types.js';
import { SideTable } from '../../util/side-table.js';

/** VM_MIXEDMAP (include/linux/mm.h); not in the shared contract because no driver here sets it. */
export const VM_MIXEDMAP = 0x10000000;

const FAULT_NAMES: readonly [number, string][] = [
  [VM_FAULT_OOM, 'OOM'],
  [VM_FAULT_SIGBUS, 'SIGBUS'],
  [VM_FAULT_MAJOR, 'MAJOR'],
  [VM_FAULT_SIGSEGV, 'SIGSEGV'],
  [VM_FAULT_NOPAGE, 'NOPAGE'],
  [VM_FAULT_LOCKED, 'LOCKED'],
  [VM_FAULT_RETRY, 'RETRY'],
  [VM_FAULT_FALLBACK, 'FALLBACK'],
];

/** Render a vm_fault_t mask, e.g. 'NOPAGE', 'SIGBUS', '0'. */
export function vmFaultName(r: number): string {
  const parts: string[] = [];
  for (const [bit, name] of FAULT_NAMES) if ((r & bit) !== 0) parts.push(name);
  return parts.length === 0 ? String(r) : parts.join('|');
}

/** A PTE for `pfn` with the vma's protection. */
function mkPte(pfn: number, writable: boolean, special: boolean): Pte {
  return { pfn, writable, special };
}

/** is_cow_mapping (mm/internal.h): private and may become writable. */
export function isCowMapping(flags: number): boolean {
  return (flags & (VM_SHARED | VM_MAYWRITE)) === VM_MAYWRITE;
}

/** vma_is_anonymous (include/linux/mm.h, 5.8): no vm_ops at all. */
export function vmaIsAnonymous(vma: Vma): boolean {
  return vma.ops === null;
}

/**
 * handle_mm_fault (mm/memory.c, 5.8): resolve one page fault in `vma`; returns a VM_FAULT_* mask.
 * The thread's inFault count is raised around handle_pte_fault, also when it throws; then the
 * `fault` event.
 */
export function* handleMmFault(k: Kernel, vma: Vma, addr: number, flags: number): Task<number> {
  const t = k.sched.current;
  if (t !== null) t.inFault++;
  let ret: number;
  try {
    ret = yield* handlePteFault(k, vma, addr, flags);
  } finally {
    if (t !== null) t.inFault--;
  }
  const ev = k.events;
  if (!ev.active) {
    ev.skipCounted(ev.hot.fault);
    return ret;
  }
  ev.emit({
    kind: 'fault',
    mm: vma.mm.id,
    addr,
    write: (flags & FAULT_FLAG_WRITE) !== 0,
    user: (flags & FAULT_FLAG_USER) !== 0,
    fn: vma.ops?.fault !== undefined ? vma.ops.name : 'handle_mm_fault',
    result: vmFaultName(ret),
  });
  return ret;
}

/** handle_pte_fault (mm/memory.c, 5.8) with do_anonymous_page / do_fault / do_wp_page folded in. */
function* handlePteFault(k: Kernel, vma: Vma, addr: number, flags: number): Task<number> {
  const mm = mmOf(vma);
  const page = pageAlignDown(addr);
  const vpn = vpnOf(page);
  if (!k.sched.passPoint()) yield mm.ptReadAt(page, page + PAGE_SIZE);
  const pte = mm.pt.get(vpn);
  if (pte !== undefined) {
    // Present: a write to a read-only PTE of a writable vma is a write-protect fault
    // (do_wp_page: reuse / pfn_mkwrite); anything else was a spurious fault.
    if ((flags & FAULT_FLAG_WRITE) !== 0 && !pte.writable && (vma.flags & VM_WRITE) !== 0) {
      if (!k.sched.passPoint()) yield mm.ptWriteAt(page, page + PAGE_SIZE);
      const cur = mm.pt.get(vpn);
      if (cur !== undefined) mm.pt.set(vpn, mkPte(cur.pfn, true, cur.special));
    }
    return 0;
  }
  if (vmaIsAnonymous(vma)) {
    const impl = vma as VmaImpl;
    if (vma.file === null && impl.shmem !== null) return yield* shmemFault(k, mm, impl, page);
    // do_anonymous_page: a shared mapping without vm_ops cannot be served.
    if ((vma.flags & VM_SHARED) !== 0) return VM_FAULT_SIGBUS;
    return yield* doAnonymousPage(k, mm, vma, page);
  }
  // __handle_mm_fault (6.12): a vma with ->huge_fault first gets a PUD, then a PMD try.
  if (vma.ops?.hugeFault !== undefined) {
    const huge = yield* createHugeFault(k, vma, addr, flags);
    if ((huge & VM_FAULT_FALLBACK) === 0) return huge;
  }
  const ops = vma.ops;
  if (ops === null || ops.fault === undefined) return VM_FAULT_SIGBUS; // do_fault without ->fault
  const vmf: VmFault = {
    vma,
    address: page,
    realAddress: addr,
    flags,
    pgoff: vma.pgoff + (page - vma.start) / PAGE_SIZE,
  };
  return yield* ops.fault(vmf);
}

/**
 * do_anonymous_page (mm/memory.c, 5.8): a zeroed page. The model maps a fresh page on read
 * faults too (instead of the shared zero page); values read are the same.
 */
function* doAnonymousPage(k: Kernel, mm: MmStruct, vma: Vma, page: number): Task<number> {
  const pfn = allocUserPage(k);
  if (pfn < 0) return VM_FAULT_OOM;
  if (!k.sched.passPoint()) yield mm.ptWriteAt(page, page + PAGE_SIZE);
  const vpn = vpnOf(page);
  if (mm.pt.has(vpn)) {
    // Someone else populated it while we allocated (pte_same check failed).
    putPage(k, pfn);
    return 0;
  }
  mm.pt.set(vpn, mkPte(pfn, (vma.flags & VM_WRITE) !== 0, false));
  k.events.emit({ kind: 'pte.install', mm: mm.id, start: page, end: page + PAGE_SIZE, pfn, fn: 'do_anonymous_page' });
  return 0;
}

/** shmem_fault (mm/shmem.c, 5.8): find or allocate the object's page and map it. */
function* shmemFault(k: Kernel, mm: MmStruct, vma: VmaImpl, page: number): Task<number> {
  const s = vma.shmem;
  if (s === null) return VM_FAULT_SIGBUS;
  const idx = vma.pgoff + (page - vma.start) / PAGE_SIZE;
  let pfn = s.pages.get(idx);
  if (pfn === undefined) {
    pfn = allocUserPage(k);
    if (pfn < 0) return VM_FAULT_OOM;
    s.pages.set(idx, pfn);
  }
  if (!k.sched.passPoint()) yield mm.ptWriteAt(page, page + PAGE_SIZE);
  const vpn = vpnOf(page);
  if (mm.pt.has(vpn)) return 0;
  getPage(k, pfn);
  mm.pt.set(vpn, mkPte(pfn, (vma.flags & VM_WRITE) !== 0, false));
  k.events.emit({ kind: 'pte.install', mm: mm.id, start: page, end: page + PAGE_SIZE, pfn, fn: 'shmem_fault' });
  return 0;
}

// ---- vm_flags written while mmap_lock was only read-held (defect H9) -------------

interface FlagWrite {
  /** vm_flags was stored to while the writer held mmap_lock only for read. */
  written: boolean;
  /** ... and the stored value differed from the old one. */
  changed: boolean;
  fn: string;
  /** The assertion warning for this vma has been emitted. */
  warned: boolean;
}
const flagWrites = new SideTable<Vma, FlagWrite>('flagWrites');

/** True if some thread changed this vma's vm_flags while holding mmap_lock only for read (H9). */
export function vmFlagsChangedUnderReadLock(vma: Vma): boolean {
  return flagWrites.get(vma)?.changed ?? false;
}

/** True if vm_flags was stored to (even with an unchanged value) under a read-held mmap_lock. */
export function vmFlagsWrittenUnderReadLock(vma: Vma): boolean {
  return flagWrites.get(vma)?.written ?? false;
}

/**
 * Whether a vm_flags store under a read-held mmap_lock prints a WARNING (defect H9, spec
 * §2.13), per knob vmFlagsAssert: before 6.3 nothing checks it; from 6.3 vm_flags_set
 * asserts mmap_assert_write_locked (include/linux/mmap_lock.h), which is
 * lockdep_assert_held_write — a WARN only with CONFIG_LOCKDEP and while lockdep is on
 * (debug_locks); since ba168b52bf8e "mm: use rwsem assertion macros for mmap_lock"
 * (6.10-rc1) it is rwsem_assert_held_write, which without lockdep WARNs on the rwsem's
 * writer bit, so it fires on every kernel config.
 */
function vmFlagsAssertWarns(k: Kernel): boolean {
  switch (k.knobs.vmFlagsAssert) {
    case 'none': return false;
    case 'lockdep': return k.lockdep?.debugLocks === true;
    case 'always': return true;
  }
}

/**
 * The WARNING of mmap_assert_write_locked (6.3+) for a vm_flags store under a read-held
 * mmap_lock (H9). The kernel WARNs on every such store; the model reports the first store per
 * vma only, so that counts do not depend on refaults.
 */
function warnVmFlagsUnderReadLock(k: Kernel, vma: Vma, chain: string): void {
  const mm = vma.mm;
  const check = k.knobs.vmFlagsAssert === 'always' ? 'rwsem_assert_held_write' : 'lockdep_assert_held_write';
  k.events.emit({
    kind: 'warn',
    fn: 'mmap_assert_write_locked',
    message:
      `vm_flags_set on vma 0x${vma.start.toString(16)}-0x${vma.end.toString(16)} of mm${mm.id} ` +
      `with &mm->mmap_lock held for read, not write (${check}); call chain: ${chain}`,
  });
}

/**
 * Store vm_flags (vm_flags_set in 6.3+), remembering whether the current thread held
 * mmap_lock only for read. The first such store per vma is reported as an `mm.vm-flags`
 * event (the latent defect, whatever the kernel checks) and, where the kernel asserts the
 * write lock, as its WARNING.
 */
function setVmFlags(k: Kernel, vma: Vma, flags: number, chain: string): void {
  const t = k.sched.current;
  const sem = vma.mm.mmapLock;
  if (t !== null && sem.writer !== t && sem.readers.includes(t)) {
    let prev = flagWrites.get(vma);
    const changed = flags !== vma.flags;
    if (prev === undefined) {
      prev = { written: true, changed, fn: chain, warned: false };
      flagWrites.set(vma, prev);
    } else {
      prev.written = true;
      prev.changed = prev.changed || changed;
      prev.fn = chain;
    }
    if (!prev.warned) {
      prev.warned = true;
      k.events.emit({ kind: 'mm.vm-flags', mm: vma.mm.id, start: vma.start, end: vma.end, lock: 'read', fn: chain });
      if (vmFlagsAssertWarns(k)) warnVmFlagsUnderReadLock(k, vma, chain);
    }
  }
  vma.flags = flags;
}

/** The H9 call chain `remap_pfn_range <- caller`, the last one kept (the fault path asks for the same one every time). */
let lastChainCaller: string | null = null;
let lastChain = 'remap_pfn_range';
function remapChain(caller: string | undefined): string {
  if (caller === undefined) return 'remap_pfn_range';
  if (caller !== lastChainCaller) {
    lastChain = `remap_pfn_range <- ${caller}`;
    lastChainCaller = caller;
  }
  return lastChain;
}

/** The end of the page-table page (PTRS_PER_PTE entries, one PTE lock) holding `addr`, or `end` (pmd_addr_end). */
function ptPageEnd(addr: number, end: number): number {
  return Math.min(end, (Math.floor(addr / PAGE_SIZE / PTRS_PER_PTE) + 1) * PTRS_PER_PTE * PAGE_SIZE);
}

/**
 * remap_pfn_range (mm/memory.c, 5.8): map `size` bytes at `addr` to consecutive pfns from
 * `pfn` with special PTEs, one page-table page at a time (one scheduling point each). Marks the
 * vma VM_IO|VM_PFNMAP|VM_DONTEXPAND|VM_DONTDUMP. A PTE that is already present is the kernel's
 * BUG_ON(!pte_none(*pte)) in remap_pte_range. `caller` names the function that called it (for
 * the H9 warning's call chain).
 */
export function* remapPfnRange(
  k: Kernel,
  vma: Vma,
  addr: number,
  pfn: number,
  size: number,
  prot: { prot: number; uncached: boolean },
  caller?: string,
): Task<number> {
  const end = addr + pageAlignUp(size);
  const mm = mmOf(vma);
  if (pageOffset(addr) !== 0 || addr < vma.start || end > vma.end) return -EINVAL;
  if (isCowMapping(vma.flags)) {
    if (addr !== vma.start || end !== vma.end) return -EINVAL;
    vma.pgoff = pfn;
  }
  setVmFlags(k, vma, vma.flags | VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP, remapChain(caller));
  if (addr >= end) throw new KernelBug('BUG_ON(addr >= end)', 'remap_pfn_range');
  const writable = (prot.prot & PROT_WRITE) !== 0;
  for (let a = addr; a < end; ) {
    const next = ptPageEnd(a, end);
    if (!k.sched.passPoint()) yield mm.ptWriteAt(a, next);
    // remap_pte_range fills the PTEs in address order and BUGs at the first present one:
    // the pages before it end up installed.
    const firstPfn = pfn + (a - addr) / PAGE_SIZE;
    const busy = mm.pt.firstPresent(vpnOf(a), vpnOf(next));
    if (busy >= 0) {
      const at = busy * PAGE_SIZE;
      if (at > a) {
        mm.pt.installRun(vpnOf(a), busy - vpnOf(a), firstPfn, writable, true);
        emitInstall(k, mm, a, at, firstPfn);
      }
      throw new KernelBug(`BUG_ON(!pte_none(*pte)) at 0x${at.toString(16)} (mm${mm.id})`, 'remap_pte_range');
    }
    mm.pt.installRun(vpnOf(a), (next - a) / PAGE_SIZE, firstPfn, writable, true);
    emitInstall(k, mm, a, next, firstPfn);
    a = next;
  }
  return 0;
}

function emitInstall(k: Kernel, mm: MmStruct, start: number, end: number, pfn: number): void {
  if (k.events.active) k.events.emit({ kind: 'pte.install', mm: mm.id, start, end, pfn, fn: 'remap_pfn_range' });
  else k.events.skipCounted(k.events.hot.pteInstall);
}

/** A zapped ordinary (non-special) page: its reference is dropped. */
function putZapped(_vpn: number, pte: Pte, k: Kernel): void {
  putPage(k, pte.pfn);
}

/**
 * zap_pte_range (mm/memory.c, 5.8): clear the PTEs of [start, end) page-table page by page (one
 * scheduling point per page-table page), dropping the references of ordinary (non-special) pages.
 * Returns how many PTEs were present.
 */
export function* zapRange(k: Kernel, mm: MmStruct, start: number, end: number): Task<number> {
  let present = 0;
  for (let a = start; a < end; ) {
    const next = ptPageEnd(a, end);
    if (!k.sched.passPoint()) yield mm.ptWriteAt(a, next);
    present += mm.pt.deleteRange(vpnOf(a), vpnOf(next), putZapped, k);
    a = next;
  }
  return present;
}

/**
 * zap_vma_ptes (mm/memory.c, 5.8): remove the PTEs of a range of a VM_PFNMAP vma (nothing for a
 * range outside the vma or a vma without VM_PFNMAP), then the `pte.zap` event.
 */
export function* zapVmaPtes(k: Kernel, vma: Vma, addr: number, size: number): Task<void> {
  const end = addr + size;
  if (addr < vma.start || end > vma.end || (vma.flags & VM_PFNMAP) === 0) return;
  const mm = mmOf(vma);
  const present = yield* zapRange(k, mm, addr, end);
  if (k.events.active) k.events.emit({ kind: 'pte.zap', mm: mm.id, start: addr, end, present, fn: 'zap_vma_ptes' });
  else k.events.skipCounted(k.events.hot.pteZap);
}

/** follow_pfn (mm/memory.c, 5.8): the pfn mapped at `addr` of a VM_IO/VM_PFNMAP vma, or -EINVAL. */
export function* followPfn(k: Kernel, vma: Vma, addr: number): Task<number> {
  if ((vma.flags & (VM_IO | VM_PFNMAP)) === 0) return -EINVAL;
  const mm = mmOf(vma);
  const page = pageAlignDown(addr);
  if (!k.sched.passPoint()) yield mm.ptReadAt(page, page + PAGE_SIZE);
  const pte = mm.pt.get(vpnOf(addr));
  if (pte === undefined) return -EINVAL;
  return pte.pfn;
}

/**
 * copy_page_range (mm/memory.c, 5.8): copy the parent's PTEs of `src` into the child's
 * page table for `dst`. Only VM_PFNMAP/VM_MIXEDMAP vmas and vmas with anonymous pages
 * are copied; anonymous private pages are copied eagerly (observably equivalent to COW
 * here). Shared mappings without pfnmap refault in the child. Returns 0 or -ENOMEM.
 */
export function* copyPageRange(k: Kernel, dst: VmaImpl, src: VmaImpl): Task<number> {
  const pfnmap = (src.flags & (VM_PFNMAP | VM_MIXEDMAP)) !== 0;
  const anonPrivate = !pfnmap && (src.flags & VM_SHARED) === 0;
  if (!pfnmap && !anonPrivate) return 0;
  const smm = mmOf(src);
  const dmm = mmOf(dst);
  if (smm.presentPtes(src.start, src.end) === 0) return 0;
  if (!k.sched.passPoint()) yield dmm.ptWriteAt(dst.start, dst.end);
  let copied = 0;
  let firstPfn = -1;
  let oom = false;
  // Page by page in address order (anonymous pages are allocated in that order); a run
  // of pfnmap PTEs is copied as a run when the child's range is still empty.
  const onPage = (vpn: number, pte: Pte): void => {
    if (oom) return;
    if (pte.special || pfnmap) {
      dmm.pt.set(vpn, pte);
    } else {
      const pfn = allocUserPage(k);
      if (pfn < 0) {
        oom = true;
        return;
      }
      k.hw.ram.page(pfn).set(k.hw.ram.page(pte.pfn));
      dmm.pt.set(vpn, mkPte(pfn, pte.writable, false));
    }
    if (firstPfn < 0) firstPfn = pte.pfn;
    copied++;
  };
  const onRun = (vpn: number, n: number, first: Pte): void => {
    if (oom) return;
    if (!(first.special || pfnmap) || dmm.pt.firstPresent(vpn, vpn + n) >= 0) {
      for (let i = 0; i < n; i++) onPage(vpn + i, mkPte(first.pfn + i, first.writable, first.special));
      return;
    }
    dmm.pt.setRange(vpn, n, first.pfn, first.writable, first.special, first.huge ?? null); // huge pfnmap leaves are copied as such (6.12)
    if (firstPfn < 0) firstPfn = first.pfn;
    copied += n;
  };
  smm.pt.forEachInRange(vpnOf(src.start), vpnOf(src.end), onPage, onRun);
  if (oom) return -ENOMEM;
  if (copied > 0) {
    k.events.emit({ kind: 'pte.install', mm: dmm.id, start: dst.start, end: dst.end, pfn: firstPfn, fn: 'copy_page_range' });
  }
  return 0;
}
