/**
 * get_user_pages and friends (mm/gup.c, 5.8).
 */
import { EFAULT, ENOMEM } from '../errno.js';
import type { Kernel } from '../kernel.js';
import { KernelBug } from '../sched/errors.js';
import type { Task } from '../sched/task.js';
import { handleMmFault } from './memory.js';
import { asMm, findVmaImpl, getPage, PAGE_SIZE, putPage, vpnOf } from './mm.js';
import {
  FAULT_FLAG_ALLOW_RETRY,
  FAULT_FLAG_KILLABLE,
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_TRIED,
  FAULT_FLAG_WRITE,
  FOLL_WRITE,
  type MmStructRef,
  type Vma,
  VM_FAULT_ERROR,
  VM_FAULT_OOM,
  VM_FAULT_RETRY,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
  VM_IO,
  VM_PFNMAP,
  VM_READ,
  VM_WRITE,
} from './types.js';

/** vm_fault_to_errno (include/linux/mm.h, 5.8): OOM → -ENOMEM, SIGBUS/SIGSEGV → -EFAULT, else 0. */
export function vmFaultToErrno(fault: number): number {
  if ((fault & VM_FAULT_OOM) !== 0) return -ENOMEM;
  if ((fault & (VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV)) !== 0) return -EFAULT;
  return 0;
}

/** vma_permits_fault (mm/gup.c, 5.8): the vma allows a read (or write) fault. */
export function vmaPermitsFault(vma: Vma, faultFlags: number): boolean {
  const need = (faultFlags & FAULT_FLAG_WRITE) !== 0 ? VM_WRITE : VM_READ;
  return (vma.flags & need) !== 0;
}

/**
 * fixup_user_fault (mm/gup.c, 5.8): fault `addr` of `mm` in on behalf of a kernel caller
 * holding mmap_lock for read. With `unlocked` given, the fault may drop the lock
 * (VM_FAULT_RETRY): it is retaken, `unlocked.value` is set, and the fault is retried
 * with FAULT_FLAG_TRIED (ALLOW_RETRY kept since the 5.7 multiple-retry series). With
 * `unlocked` null the fault may not retry, so a handler that cannot make progress must
 * fail instead (patch v1's fault: VM_FAULT_SIGBUS → -EFAULT). Callers never pass
 * FAULT_FLAG_RETRY_NOWAIT (spec §3.3), so VM_FAULT_RETRY always means the handler
 * released mmap_lock. Returns 0 or -errno.
 */
export function* fixupUserFault(
  k: Kernel,
  mm: MmStructRef,
  addr: number,
  faultFlags: number,
  unlocked: { value: boolean } | null,
): Task<number> {
  const m = asMm(mm);
  let flags = faultFlags;
  if (unlocked !== null) flags |= FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE;
  for (;;) {
    const vma = findVmaImpl(m, addr);
    if (vma === null || addr < vma.start) return -EFAULT;
    if (!vmaPermitsFault(vma, flags)) return -EFAULT;
    const ret = yield* handleMmFault(k, vma, addr, flags);
    if ((ret & VM_FAULT_ERROR) !== 0) {
      const err = vmFaultToErrno(ret);
      if (err !== 0) return err;
      throw new KernelBug('unexpected VM_FAULT_ERROR', 'fixup_user_fault');
    }
    if ((ret & VM_FAULT_RETRY) !== 0) {
      // The fault handler dropped mmap_lock; take it again and retry.
      yield* m.mmapLock.downRead('fixup_user_fault');
      if (unlocked !== null) unlocked.value = true;
      flags |= FAULT_FLAG_TRIED;
      continue;
    }
    return 0;
  }
}

/** check_vma_flags (mm/gup.c, 5.8): GUP refuses VM_IO/VM_PFNMAP and accesses the vma does not allow. */
function checkVmaFlags(vma: Vma, gupFlags: number): number {
  if ((vma.flags & (VM_IO | VM_PFNMAP)) !== 0) return -EFAULT;
  if ((gupFlags & FOLL_WRITE) !== 0) {
    if ((vma.flags & VM_WRITE) === 0) return -EFAULT;
  } else if ((vma.flags & VM_READ) === 0) {
    return -EFAULT;
  }
  return 0;
}

/**
 * pin_user_pages_remote / __get_user_pages (mm/gup.c, 5.8): pin `nrPages` pages from
 * `addr` of `mm` (caller holds mmap_lock for read). Faults missing pages in (for write
 * if FOLL_WRITE). Returns the pinned RAM pfns (fewer than asked if a later page failed)
 * or -errno if the first page failed.
 */
export function* pinUserPagesRemote(
  k: Kernel,
  mm: MmStructRef,
  addr: number,
  nrPages: number,
  gupFlags: number,
): Task<number[] | number> {
  const m = asMm(mm);
  const write = (gupFlags & FOLL_WRITE) !== 0;
  const pfns: number[] = [];
  const fail = (err: number): number[] | number => (pfns.length > 0 ? pfns : err);
  let start = addr - (addr % PAGE_SIZE);
  while (pfns.length < nrPages) {
    const vma = findVmaImpl(m, start);
    if (vma === null || start < vma.start) return fail(-EFAULT);
    const err = checkVmaFlags(vma, gupFlags);
    if (err !== 0) return fail(err);
    // follow_page_mask, then faultin_page until the page is there.
    for (let tries = 0; ; tries++) {
      if (tries > 10_000) throw new Error(`livelock: GUP fault at 0x${start.toString(16)} never produced a PTE`);
      if (!k.sched.passPoint()) yield m.ptReadAt(start, start + PAGE_SIZE);
      const pte = m.pt.get(vpnOf(start));
      if (pte !== undefined && (!write || pte.writable)) {
        if (pte.special || !k.hw.ram.isRam(pte.pfn)) return fail(-EFAULT);
        getPage(k, pte.pfn);
        pfns.push(pte.pfn);
        break;
      }
      const ret = yield* handleMmFault(k, vma, start, FAULT_FLAG_REMOTE | (write ? FAULT_FLAG_WRITE : 0));
      if ((ret & VM_FAULT_ERROR) !== 0) return fail(vmFaultToErrno(ret));
    }
    start += PAGE_SIZE;
  }
  return pfns;
}

/** unpin_user_page (mm/gup.c, 5.8): drop a pin taken by pinUserPagesRemote. */
export function unpinUserPage(k: Kernel, pfn: number): void {
  putPage(k, pfn);
}
