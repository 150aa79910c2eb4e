/**
 * mm vocabulary shared by the mm core and the drivers that implement vm_ops
 * (include/linux/mm.h, mm_types.h). Numeric values are the kernel's.
 */
import type { RwSemaphore } from '../locking/rwsem.js';
import type { Task } from '../sched/task.js';
import type { KFile } from '../fs/file.js';

// vm_flags (include/linux/mm.h)
export const VM_READ = 0x1;
export const VM_WRITE = 0x2;
export const VM_EXEC = 0x4;
export const VM_SHARED = 0x8;
export const VM_MAYREAD = 0x10;
export const VM_MAYWRITE = 0x20;
export const VM_MAYSHARE = 0x80;
export const VM_PFNMAP = 0x400;
export const VM_IO = 0x4000;
export const VM_DONTCOPY = 0x20000;
export const VM_DONTEXPAND = 0x40000;
export const VM_DONTDUMP = 0x4000000;

// mmap prot / flags (uapi)
export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
/** mmap's error return is (void *)-errno; the model returns -errno as a number. */

// vm_fault_t (include/linux/mm_types.h)
export const VM_FAULT_OOM = 0x0001;
export const VM_FAULT_SIGBUS = 0x0002;
export const VM_FAULT_MAJOR = 0x0004;
export const VM_FAULT_SIGSEGV = 0x0040;
export const VM_FAULT_NOPAGE = 0x0100;
export const VM_FAULT_LOCKED = 0x0200;
export const VM_FAULT_RETRY = 0x0400;
export const VM_FAULT_FALLBACK = 0x0800;
export const VM_FAULT_ERROR = VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV;

// fault flags (FAULT_FLAG_*)
export const FAULT_FLAG_WRITE = 0x01;
export const FAULT_FLAG_MKWRITE = 0x02;
export const FAULT_FLAG_ALLOW_RETRY = 0x04;
export const FAULT_FLAG_RETRY_NOWAIT = 0x08;
export const FAULT_FLAG_KILLABLE = 0x10;
export const FAULT_FLAG_TRIED = 0x20;
export const FAULT_FLAG_USER = 0x40;
export const FAULT_FLAG_REMOTE = 0x80;

// gup flags (FOLL_*)
export const FOLL_WRITE = 0x01;
export const FOLL_LONGTERM = 0x10000;

/** Level of a huge leaf entry: PMD (2 MiB) or PUD (1 GiB). */
export type HugeLevel = 'pmd' | 'pud';

/** A page-table entry (one 4 KiB page). */
export interface Pte {
  readonly pfn: number;
  readonly writable: boolean;
  /** Set for entries installed by remap_pfn_range / vmf_insert_pfn (pte_special). */
  readonly special: boolean;
  /** Present only when the page is mapped by a huge PMD/PUD leaf entry (6.12 huge pfnmaps). */
  readonly huge?: HugeLevel;
}

/** struct vm_operations_struct (subset). */
export interface VmOperations {
  /** Called when a vma is duplicated (fork, split, mremap). */
  open?(vma: Vma): Task<void>;
  /** Called when a vma is torn down (munmap, exit). */
  close?(vma: Vma): Task<void>;
  /** Page fault on a page with no PTE; returns a VM_FAULT_* mask. */
  fault?(vmf: VmFault): Task<number>;
  /**
   * Huge fault (6.12 huge_fault): map the naturally aligned block of 2^order pages around
   * the fault (order 9 = PMD, 18 = PUD), or return VM_FAULT_FALLBACK for a smaller order.
   */
  hugeFault?(vmf: VmFault, order: number): Task<number>;
  /** Name of the driver, for traces. */
  readonly name: string;
}

/** struct vm_fault (subset). */
export interface VmFault {
  readonly vma: Vma;
  /** Faulting address, page aligned. */
  readonly address: number;
  /** Exact faulting address. */
  readonly realAddress: number;
  readonly flags: number;
  /** Page offset of the faulting address within the vma's file (vm_pgoff + page index). */
  readonly pgoff: number;
}

/** The mm_struct fields drivers look at; the mm core owns the rest. */
export interface MmStructRef {
  readonly id: number;
  readonly mmapLock: RwSemaphore;
  /** mm_users */
  users: number;
}

/** struct vm_area_struct */
export interface Vma {
  readonly id: number;
  readonly mm: MmStructRef;
  start: number;
  end: number;
  flags: number;
  /** vm_pgoff (in pages). vfio-pci rewrites it to the BAR's pfn. */
  pgoff: number;
  /** vm_page_prot, kept as the PROT_* bits plus 'uncached'. */
  pageProt: { prot: number; uncached: boolean };
  readonly file: KFile | null;
  ops: VmOperations | null;
  privateData: unknown;
  /** False once the vma has been unmapped and freed (for use-after-free detection). */
  live: boolean;
}
