/**
 * Creating, splitting, removing and duplicating mappings (mm/mmap.c, mm/util.c,
 * kernel/fork.c, kernel/fork.c's mmput; 5.8).
 */
import { EINVAL, ENODEV, ENOMEM, EOVERFLOW, EACCES } from '../errno.js';
import { fput, getFile, type KFile } from '../fs/file.js';
import type { Kernel } from '../kernel.js';
import type { KProcess } from '../proc.js';
import type { Task } from '../sched/task.js';
import { copyPageRange, zapRange } from './memory.js';
import { unlinkFileVma, vmaCompleteSplit, vmaLinkFile, vmaPrepareSplit } from './address-space.js';
import {
  asMm,
  findVmaImpl,
  MMAP_MIN_ADDR,
  type MmStruct,
  PAGE_SIZE,
  pageAlignUp,
  ShmemObject,
  shmemPut,
  TASK_SIZE,
  VmaImpl,
  vmAreaDup,
  vpnOf,
} from './mm.js';
import {
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  type MmStructRef,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  VM_DONTCOPY,
  VM_EXEC,
  VM_MAYREAD,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
} from './types.js';

/** MAP_TYPE mask and MAP_SHARED_VALIDATE (uapi/linux/mman.h). */
export const MAP_TYPE = 0x0f;
export const MAP_SHARED_VALIDATE = 0x03;
/** VM_MAYEXEC (include/linux/mm.h). */
export const VM_MAYEXEC = 0x40;

/** O_ACCMODE bits of an open file: FMODE_READ / FMODE_WRITE. */
export function fileCanRead(f: KFile): boolean {
  return (f.flags & 3) !== 1;
}
export function fileCanWrite(f: KFile): boolean {
  const acc = f.flags & 3;
  return acc === 1 || acc === 2;
}

function mmOfProc(proc: KProcess): MmStruct {
  return asMm(proc.mm);
}

/** calc_vm_prot_bits (include/linux/mman.h). */
function calcVmProtBits(prot: number): number {
  return (
    ((prot & PROT_READ) !== 0 ? VM_READ : 0) |
    ((prot & PROT_WRITE) !== 0 ? VM_WRITE : 0) |
    ((prot & PROT_EXEC) !== 0 ? VM_EXEC : 0)
  );
}

/** vm_get_page_prot: the PROT_* bits a vma's PTEs get. */
function protFromFlags(flags: number): number {
  return (
    ((flags & VM_READ) !== 0 ? PROT_READ : 0) |
    ((flags & VM_WRITE) !== 0 ? PROT_WRITE : 0) |
    ((flags & VM_EXEC) !== 0 ? PROT_EXEC : 0)
  );
}

/** True if [start, end) overlaps no vma. */
function rangeFree(mm: MmStruct, start: number, end: number): boolean {
  const v = findVmaImpl(mm, start);
  return v === null || v.start >= end;
}

/**
 * get_unmapped_area → arch_get_unmapped_area_topdown (arch/x86/kernel/sys_x86_64.c, 5.8):
 * MAP_FIXED takes `addr` as is; a free page-aligned hint is honoured; otherwise the
 * highest gap below mmap_base that fits.
 */
function getUnmappedArea(mm: MmStruct, addr: number, len: number, flags: number): number {
  if (len > TASK_SIZE) return -ENOMEM;
  let ret: number;
  if ((flags & MAP_FIXED) !== 0) {
    ret = addr;
  } else {
    const hint = pageAlignUp(addr);
    if (hint !== 0 && hint >= MMAP_MIN_ADDR && hint <= TASK_SIZE - len && rangeFree(mm, hint, hint + len)) {
      ret = hint;
    } else {
      ret = -ENOMEM;
      let end = mm.mmapBase;
      for (let i = mm.vmas.length - 1; i >= 0; i--) {
        const v = mm.vmas[i] as VmaImpl;
        if (v.start >= end) continue;
        if (v.end <= end - len) break;
        end = v.start;
      }
      if (end - len >= MMAP_MIN_ADDR) ret = end - len;
    }
  }
  if (ret < 0) return ret;
  if (ret > TASK_SIZE - len) return -ENOMEM;
  if (ret % PAGE_SIZE !== 0) return -EINVAL;
  return ret;
}

function emitMmap(k: Kernel, mm: MmStruct, start: number, len: number, prot: number, flags: number, file: KFile | null, ret: number): void {
  k.events.emit({ kind: 'mmap', mm: mm.id, start, len, prot, flags, file: file === null ? null : file.name, ret });
}

/**
 * vm_mmap_pgoff → do_mmap → mmap_region (mm/mmap.c, 5.8; vm_mmap_pgoff in mm/util.c): create a mapping
 * under mmap_lock (write). Returns the address or -errno.
 */
export function* doMmap(
  k: Kernel,
  proc: KProcess,
  addr: number,
  len: number,
  prot: number,
  flags: number,
  file: KFile | null,
  pgoff: number,
): Task<number> {
  const mm = mmOfProc(proc);
  yield* mm.mmapLock.downWrite('vm_mmap_pgoff');
  // No try/finally: a kernel BUG kills the thread with its locks held, as on Linux.
  const ret = yield* doMmapLocked(k, mm, addr, len, prot, flags, file, pgoff);
  yield* mm.mmapLock.upWrite('vm_mmap_pgoff');
  emitMmap(k, mm, ret >= 0 ? ret : addr, len, prot, flags, file, ret);
  return ret;
}

/** do_mmap (mm/mmap.c, 5.8), caller holds mmap_lock for write. */
function* doMmapLocked(
  k: Kernel,
  mm: MmStruct,
  addr: number,
  len: number,
  prot: number,
  flags: number,
  file: KFile | null,
  pgoff: number,
): Task<number> {
  if (len <= 0 || !Number.isSafeInteger(len)) return -EINVAL;
  if ((flags & MAP_FIXED) === 0 && addr !== 0 && addr < MMAP_MIN_ADDR) addr = MMAP_MIN_ADDR; // round_hint_to_min
  len = pageAlignUp(len);
  if (len > TASK_SIZE) return -ENOMEM;
  if (!Number.isSafeInteger(pgoff + len / PAGE_SIZE) || pgoff < 0 || pgoff + len / PAGE_SIZE > 2 ** 52) return -EOVERFLOW;
  const a = getUnmappedArea(mm, addr, len, flags);
  if (a < 0) return a;
  let vmFlags = calcVmProtBits(prot) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
  const type = flags & MAP_TYPE;
  if (file !== null) {
    if (type !== MAP_SHARED && type !== MAP_SHARED_VALIDATE && type !== MAP_PRIVATE) return -EINVAL;
    if (type !== MAP_PRIVATE) {
      if ((prot & PROT_WRITE) !== 0 && !fileCanWrite(file)) return -EACCES;
      vmFlags |= VM_SHARED | VM_MAYSHARE;
      if (!fileCanWrite(file)) vmFlags &= ~(VM_MAYWRITE | VM_SHARED);
    }
    if (!fileCanRead(file)) return -EACCES;
    if (file.fops.mmap === undefined) return -ENODEV;
  } else {
    if (type === MAP_SHARED || type === MAP_SHARED_VALIDATE) {
      pgoff = 0;
      vmFlags |= VM_SHARED | VM_MAYSHARE;
    } else if (type === MAP_PRIVATE) {
      pgoff = a / PAGE_SIZE;
    } else {
      return -EINVAL;
    }
  }
  return yield* mmapRegion(k, mm, file, a, len, vmFlags, pgoff);
}

/** mmap_region (mm/mmap.c, 5.8). */
function* mmapRegion(k: Kernel, mm: MmStruct, file: KFile | null, addr: number, len: number, vmFlags: number, pgoff: number): Task<number> {
  // Clear old maps (MAP_FIXED over existing vmas).
  if (!rangeFree(mm, addr, addr + len)) {
    const r = yield* doMunmapLocked(k, mm, addr, len, false);
    if (r < 0) return -ENOMEM;
  }
  const vma = new VmaImpl(k, mm, addr, addr + len, vmFlags, pgoff, { prot: protFromFlags(vmFlags), uncached: false }, null);
  if (file !== null) {
    vma.file = getFile(file);
    const mmapOp = file.fops.mmap;
    const err = mmapOp === undefined ? -ENODEV : yield* mmapOp(file, vma);
    if (err !== 0) {
      // unmap_and_free_vma: drop the file and undo any partial mapping by the driver.
      vma.file = null;
      yield* fput(file);
      yield* zapRange(k, mm, vma.start, vma.end);
      vma.live = false;
      return err < 0 ? err : -EINVAL;
    }
    addr = vma.start;
  } else if ((vmFlags & VM_SHARED) !== 0) {
    vma.shmem = new ShmemObject(); // shmem_zero_setup
  }
  mm.linkVma(vma);
  yield* vmaLinkFile(vma, 'mmap_region'); // i_mmap (only files with an f_mapping, 6.10)
  return addr;
}

/** remove_vma (mm/mmap.c, 5.8): ->close, fput, free. */
function* removeVma(k: Kernel, vma: VmaImpl, fn: string): Task<void> {
  yield* unlinkFileVma(vma, 'unlink_file_vma'); // free_pgtables → unlink_file_vma (6.10)
  const close = vma.ops?.close;
  if (close !== undefined) {
    k.events.emit({ kind: 'vma.close', mm: vma.mm.id, start: vma.start, end: vma.end, fn });
    yield* close.call(vma.ops, vma);
  }
  const f = vma.file;
  if (f !== null) yield* fput(f);
  if (vma.shmem !== null) shmemPut(k, vma.shmem);
  vma.live = false;
}

/**
 * __split_vma (mm/mmap.c, 5.8): split `vma` at `addr`. The new vma is the part below
 * `addr` if `newBelow`, else the part above; it gets a file reference and ->open before
 * the old one is shrunk and the new one linked.
 */
function* splitVma(k: Kernel, mm: MmStruct, vma: VmaImpl, addr: number, newBelow: boolean): Task<VmaImpl> {
  const n = vmAreaDup(k, vma, mm);
  if (newBelow) {
    n.end = addr;
  } else {
    n.start = addr;
    n.pgoff += (addr - vma.start) / PAGE_SIZE;
  }
  if (n.file !== null) getFile(n.file);
  if (n.shmem !== null) n.shmem.refs++;
  const open = n.ops?.open;
  if (open !== undefined) {
    k.events.emit({ kind: 'vma.open', mm: mm.id, start: n.start, end: n.end, fn: '__split_vma' });
    yield* open.call(n.ops, n);
  }
  const mapping = yield* vmaPrepareSplit(vma, '__split_vma'); // vma_prepare: i_mmap_lock_write (6.10)
  mm.pt.splitHugeAt(vpnOf(addr)); // vma_adjust_trans_huge
  if (newBelow) {
    vma.pgoff += (addr - n.start) / PAGE_SIZE;
    vma.start = addr;
  } else {
    vma.end = addr;
  }
  mm.linkVma(n);
  yield* vmaCompleteSplit(mapping, n, '__split_vma'); // vma_complete: link into i_mmap, unlock
  return n;
}

/**
 * __do_munmap (mm/mmap.c, 5.8), caller holds mmap_lock for write. With `downgrade` the
 * lock is downgraded to read after the vmas are detached (as munmap(2) does) and 1 is
 * returned on success. Returns 0/1 or -errno.
 */
function* doMunmapLocked(k: Kernel, mm: MmStruct, start: number, len: number, downgrade: boolean): Task<number> {
  if (start % PAGE_SIZE !== 0 || start > TASK_SIZE || len > TASK_SIZE - start || len < 0) return -EINVAL;
  len = pageAlignUp(len);
  const end = start + len;
  if (len === 0) return -EINVAL;
  const vma = findVmaImpl(mm, start);
  if (vma === null || vma.start >= end) return 0;
  if (start > vma.start) yield* splitVma(k, mm, vma, start, false);
  const last = findVmaImpl(mm, end);
  if (last !== null && end > last.start) yield* splitVma(k, mm, last, end, true);
  // detach_vmas_to_be_unmapped
  const victims = mm.vmas.filter((v) => v.start >= start && v.end <= end);
  for (const v of victims) mm.unlinkVma(v);
  k.events.emit({ kind: 'munmap', mm: mm.id, start, len });
  if (downgrade) yield* mm.mmapLock.downgradeWrite('__do_munmap');
  // unmap_region
  for (const v of victims) {
    const present = yield* zapRange(k, mm, v.start, v.end);
    if (present > 0) k.events.emit({ kind: 'pte.zap', mm: mm.id, start: v.start, end: v.end, present, fn: 'unmap_region' });
  }
  // remove_vma_list
  for (const v of victims) yield* removeVma(k, v, 'remove_vma');
  return downgrade ? 1 : 0;
}

/** __vm_munmap / munmap(2) (mm/mmap.c, 5.8): returns 0 or -errno. */
export function* doMunmap(k: Kernel, proc: KProcess, addr: number, len: number): Task<number> {
  const mm = mmOfProc(proc);
  yield* mm.mmapLock.downWrite('__vm_munmap');
  const ret = yield* doMunmapLocked(k, mm, addr, len, true);
  if (ret === 1) {
    yield* mm.mmapLock.upRead('__vm_munmap');
    return 0;
  }
  yield* mm.mmapLock.upWrite('__vm_munmap');
  return ret;
}

/**
 * dup_mmap (kernel/fork.c, 5.8): copy every vma of `parent` (except VM_DONTCOPY) into
 * `child`, taking a file reference. 5.8 order: copy_page_range, then ->open. With
 * `openBeforeCopy` the order of commit 35e351780fa9 (->open, then copy). Returns 0 or
 * -ENOMEM.
 */
export function* dupMmap(k: Kernel, parent: MmStructRef, child: MmStructRef, openBeforeCopy: boolean): Task<number> {
  const oldmm = asMm(parent);
  const mm = asMm(child);
  yield* oldmm.mmapLock.downWrite('dup_mmap');
  // mmap_write_lock_nested(mm, SINGLE_DEPTH_NESTING): the child is not reachable by
  // anyone yet; a trylock models the nesting annotation (no lockdep dependency).
  yield* mm.mmapLock.downWriteTrylock('dup_mmap');
  let retval = 0;
  for (const mpnt of [...oldmm.vmas]) {
    if ((mpnt.flags & VM_DONTCOPY) !== 0) continue;
    const tmp = vmAreaDup(k, mpnt, mm);
    if (tmp.file !== null) getFile(tmp.file);
    if (tmp.shmem !== null) tmp.shmem.refs++;
    mm.linkVma(tmp);
    const open = tmp.ops?.open;
    if (openBeforeCopy && open !== undefined) {
      k.events.emit({ kind: 'vma.open', mm: mm.id, start: tmp.start, end: tmp.end, fn: 'dup_mmap' });
      yield* open.call(tmp.ops, tmp);
    }
    yield* vmaLinkFile(tmp, 'dup_mmap'); // i_mmap insert before the page tables are copied
    retval = yield* copyPageRange(k, tmp, mpnt);
    if (!openBeforeCopy && open !== undefined) {
      k.events.emit({ kind: 'vma.open', mm: mm.id, start: tmp.start, end: tmp.end, fn: 'dup_mmap' });
      yield* open.call(tmp.ops, tmp);
    }
    if (retval !== 0) break;
  }
  yield* mm.mmapLock.upWrite('dup_mmap');
  yield* oldmm.mmapLock.upWrite('dup_mmap');
  return retval;
}

/**
 * exit_mmap (mm/mmap.c, 5.8; 6.0+ with knob exitMmapWriteLock): unmap everything, then
 * ->close and fput every vma. 5.8 takes no mmap_lock (the mm has no other user); from
 * 6.0 (bf3980c85212) unmap_vmas runs under mmap_read_lock and free_pgtables +
 * remove_vma under mmap_write_lock. fput only queues the files' release (task_work), so
 * no ->release runs under it either way.
 */
export function* exitMmap(k: Kernel, mmRef: MmStructRef): Task<void> {
  const mm = asMm(mmRef);
  if (mm.exited) return;
  mm.exited = true;
  const locked = k.knobs.exitMmapWriteLock;
  if (locked) yield* mm.mmapLock.downRead('exit_mmap');
  const vmas = [...mm.vmas];
  for (const v of vmas) {
    const present = yield* zapRange(k, mm, v.start, v.end);
    if (present > 0) k.events.emit({ kind: 'pte.zap', mm: mm.id, start: v.start, end: v.end, present, fn: 'exit_mmap' });
  }
  if (locked) {
    yield* mm.mmapLock.upRead('exit_mmap');
    yield* mm.mmapLock.downWrite('exit_mmap');
  }
  for (const v of vmas) {
    mm.unlinkVma(v);
    yield* removeVma(k, v, 'exit_mmap');
  }
  if (locked) yield* mm.mmapLock.upWrite('exit_mmap');
}

/** mmget_not_zero (include/linux/sched/mm.h, 5.8): take an mm_users reference unless the mm is dying. */
export function mmgetNotZero(mm: MmStructRef): boolean {
  if (mm.users <= 0) return false;
  mm.users++;
  return true;
}

/** mmget_still_valid (include/linux/sched/mm.h, 5.8): false only while a core dump runs (never here). */
export function mmgetStillValid(_mm: MmStructRef): boolean {
  return true;
}

/**
 * mmput (kernel/fork.c, 5.8): drop an mm_users reference; the last one runs exit_mmap.
 * exit_mmap calls vm_ops->close and may sleep.
 */
export function* mmput(k: Kernel, mm: MmStructRef): Task<void> {
  mm.users--;
  if (mm.users === 0) yield* exitMmap(k, mm);
}
