/**
 * The address space: mm_struct, vm_area_struct bookkeeping, the page table, and the
 * page reference counts of user RAM pages (include/linux/mm_types.h, mm/mmap.c, 5.8).
 */
import type { KFile } from '../fs/file.js';
import type { Kernel } from '../kernel.js';
import type { RwSemaphore } from '../locking/rwsem.js';
import type { SchedPoint } from '../sched/task.js';
import { PageTable } from './pagetable.js';
import type { MmStructRef, Vma, VmOperations } from './types.js';
import { SideTable } from '../../util/side-table.js';

export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;
/** x86-64 TASK_SIZE (47-bit user space, minus the guard page). */
export const TASK_SIZE = 0x7ffffffff000;
/** mm->mmap_base: top of the top-down mmap area. */
export const MMAP_BASE = 0x7f0000000000;
/** vm.mmap_min_addr default. */
export const MMAP_MIN_ADDR = 0x10000;
/** PTEs covered by one page-table page (one PTE lock): 2 MiB of address space. */
export const PTRS_PER_PTE = 512;

/** Per-kernel id counters, so that two kernels in one Node process number things alike. */
interface KernelIds {
  mm: number;
  vma: number;
  pid: number;
}
const ids = new SideTable<Kernel, KernelIds>('ids');

/** The per-kernel id counters (mm ids, vma ids, pids). */
export function kernelIds(k: Kernel): KernelIds {
  let c = ids.get(k);
  if (c === undefined) {
    c = { mm: 1, vma: 1, pid: 1 };
    ids.set(k, c);
  }
  return c;
}

/**
 * `a % PAGE_SIZE`, exactly, for any number. User addresses lie above 2^31, where `%` is a
 * floating-point remainder (a library call, some ten times slower than the rest of an
 * address computation); for a positive `a` the division by a power of two, the floor, the
 * product and the difference are all exact, so they give the same remainder.
 */
export function pageOffset(a: number): number {
  return a > 0 && a <= Number.MAX_SAFE_INTEGER ? a - Math.floor(a / PAGE_SIZE) * PAGE_SIZE : a % PAGE_SIZE;
}

export function pageAlignDown(a: number): number {
  return a - pageOffset(a);
}

export function pageAlignUp(a: number): number {
  const r = pageOffset(a);
  return r === 0 ? a : a + (PAGE_SIZE - r);
}

export function vpnOf(addr: number): number {
  return Math.floor(addr / PAGE_SIZE);
}

/** The end of the range a whole-page-table scheduling point covers (from 0; see SchedPoint.lo/hi). */
export const PT_WHOLE_END = Number.MAX_SAFE_INTEGER;

/** struct mm_struct */
export class MmStruct implements MmStructRef {
  readonly id: number;
  /** mm->mmap_lock (mmap_sem in 5.7). */
  readonly mmapLock: RwSemaphore;
  /** mm_users */
  users = 1;
  /** The vma list, sorted by start address (mm->mmap). */
  readonly vmas: VmaImpl[] = [];
  /** The page table: virtual page number → PTE (contiguous pfn ranges stored as runs). */
  readonly pt = new PageTable();
  /** Scheduling-point object of this page table. */
  readonly ptObj: string;
  /** Points of a read / write of the whole page table (prefer ptReadAt / ptWriteAt: a range). */
  readonly ptRead: SchedPoint;
  readonly ptWrite: SchedPoint;
  readonly mmapBase = MMAP_BASE;
  /** Set once exit_mmap has torn the address space down. */
  exited = false;

  constructor(k: Kernel) {
    this.id = kernelIds(k).mm++;
    this.mmapLock = k.rwsem('&mm->mmap_lock', `mmap_lock:mm${this.id}`);
    this.ptObj = `pt:mm${this.id}`;
    this.ptRead = { op: 'pte', obj: this.ptObj, access: 'r', lo: 0, hi: PT_WHOLE_END };
    this.ptWrite = { op: 'pte', obj: this.ptObj, access: 'w', lo: 0, hi: PT_WHOLE_END };
  }

  /** The scheduling point of a read of the PTEs of [lo, hi) (a walk, a fault's pte check). */
  ptReadAt(lo: number, hi: number): SchedPoint {
    return { op: 'pte', obj: this.ptObj, access: 'r', lo, hi };
  }

  /** The scheduling point of a write of the PTEs of [lo, hi) (an install, a zap). */
  ptWriteAt(lo: number, hi: number): SchedPoint {
    return { op: 'pte', obj: this.ptObj, access: 'w', lo, hi };
  }

  /** vma_link: insert keeping the list sorted. */
  linkVma(v: VmaImpl): void {
    let i = this.vmas.length;
    while (i > 0 && (this.vmas[i - 1] as VmaImpl).start > v.start) i--;
    this.vmas.splice(i, 0, v);
  }

  /** Remove a vma from the list (detach_vmas_to_be_unmapped). */
  unlinkVma(v: Vma): void {
    const i = this.vmas.indexOf(v as VmaImpl);
    if (i >= 0) this.vmas.splice(i, 1);
  }

  /** Number of present PTEs in [start, end). */
  presentPtes(start: number, end: number): number {
    return this.pt.countRange(vpnOf(start), vpnOf(end));
  }
}

/** The mm behind a vma (every vma is created by this module, so its mm is an MmStruct). */
export function mmOf(vma: Vma): MmStruct {
  const mm = vma.mm;
  if (!(mm instanceof MmStruct)) throw new Error(`vma ${vma.id} does not belong to an MmStruct`);
  return mm;
}

/**
 * Shared anonymous memory (shmem_zero_setup's object): the pages by page offset, shared
 * by every vma copied from the same mapping (split, fork).
 */
export class ShmemObject {
  readonly pages = new Map<number, number>();
  refs = 1;
}

/** struct vm_area_struct */
export class VmaImpl implements Vma {
  readonly id: number;
  live = true;
  ops: VmOperations | null = null;
  privateData: unknown = null;
  /** For anonymous MAP_SHARED mappings: the shmem object backing it. */
  shmem: ShmemObject | null = null;

  constructor(
    k: Kernel,
    readonly mm: MmStruct,
    public start: number,
    public end: number,
    public flags: number,
    public pgoff: number,
    public pageProt: { prot: number; uncached: boolean },
    public file: KFile | null,
  ) {
    this.id = kernelIds(k).vma++;
  }
}

/** vm_area_dup: a copy of `v` (same flags, pgoff, ops, private data) for `mm`. */
export function vmAreaDup(k: Kernel, v: VmaImpl, mm: MmStruct): VmaImpl {
  const n = new VmaImpl(k, mm, v.start, v.end, v.flags, v.pgoff, { ...v.pageProt }, v.file);
  n.ops = v.ops;
  n.privateData = v.privateData;
  n.shmem = v.shmem;
  return n;
}

/**
 * find_vma (mm/mmap.c, 5.8): the first vma whose end lies above `addr`, or null. As in
 * the kernel it may start above `addr`: callers check `vma.start <= addr`.
 */
export function findVma(mm: MmStructRef, addr: number): Vma | null {
  return findVmaImpl(asMm(mm), addr);
}

export function findVmaImpl(mm: MmStruct, addr: number): VmaImpl | null {
  for (const v of mm.vmas) if (v.end > addr) return v;
  return null;
}

/** find_vma_intersection (include/linux/mm.h, 5.8): a vma overlapping [start, end), or null. */
export function findVmaIntersection(mm: MmStructRef, start: number, end: number): Vma | null {
  const v = findVmaImpl(asMm(mm), start);
  return v !== null && end > v.start ? v : null;
}

export function asMm(mm: MmStructRef): MmStruct {
  if (!(mm instanceof MmStruct)) throw new Error(`mm ${mm.id} is not an MmStruct`);
  return mm;
}

// ---- user page reference counts (page_count) ----------------------------------

const pageRefs = new SideTable<Kernel, Map<number, number>>('pageRefs');

function refsOf(k: Kernel): Map<number, number> {
  let m = pageRefs.get(k);
  if (m === undefined) {
    m = new Map();
    pageRefs.set(k, m);
  }
  return m;
}

/** alloc_page(GFP_HIGHUSER | __GFP_ZERO): a zeroed RAM page with one reference, or -1. */
export function allocUserPage(k: Kernel): number {
  const pfn = k.hw.ram.allocPage();
  if (pfn >= 0) refsOf(k).set(pfn, 1);
  return pfn;
}

/** get_page: one more reference to a user RAM page (no-op for pages the mm does not own). */
export function getPage(k: Kernel, pfn: number): void {
  const m = refsOf(k);
  const r = m.get(pfn);
  if (r !== undefined) m.set(pfn, r + 1);
}

/** put_page: drop a reference; the last one frees the page. */
export function putPage(k: Kernel, pfn: number): void {
  const m = refsOf(k);
  const r = m.get(pfn);
  if (r === undefined) return;
  if (r <= 1) {
    m.delete(pfn);
    k.hw.ram.freePage(pfn);
  } else {
    m.set(pfn, r - 1);
  }
}

/** page_count of a user page (0 if it is not a page the mm allocated). */
export function pageCount(k: Kernel, pfn: number): number {
  return refsOf(k).get(pfn) ?? 0;
}

/** Drop a vma's reference on its shmem object; the last one frees its pages. */
export function shmemPut(k: Kernel, s: ShmemObject): void {
  s.refs--;
  if (s.refs > 0) return;
  for (const pfn of s.pages.values()) putPage(k, pfn);
  s.pages.clear();
}
