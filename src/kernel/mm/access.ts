/**
 * Memory accesses through the MMU: user-thread CPU loads/stores with the x86 page-fault
 * path (arch/x86/mm/fault.c, 5.8), and the kernel's user copies (copy_to_user /
 * copy_from_user, lib/usercopy.c + exception fixup, 5.8).
 */
import { FUTEX_OP_ADD, FUTEX_OP_ANDN, FUTEX_OP_OR, FUTEX_OP_SET } from '../../uapi/futex.js';
import type { AccessSize } from '../../hw/api.js';
import type { Kernel } from '../kernel.js';
import { threadProcess, type KProcess } from '../proc.js';
import type { Task } from '../sched/task.js';
import { handleMmFault } from './memory.js';
import { asMm, findVmaImpl, type MmStruct, PAGE_SIZE, pageAlignDown, pageOffset, TASK_SIZE } from './mm.js';
import {
  FAULT_FLAG_ALLOW_RETRY,
  FAULT_FLAG_KILLABLE,
  FAULT_FLAG_TRIED,
  FAULT_FLAG_USER,
  FAULT_FLAG_WRITE,
  type Vma,
  VM_EXEC,
  VM_FAULT_ERROR,
  VM_FAULT_OOM,
  VM_FAULT_RETRY,
  VM_FAULT_SIGBUS,
  VM_READ,
  VM_WRITE,
} from './types.js';

/** What a user thread's CPU access produced: the value read (0n for stores), or a signal. */
export type CpuAccessResult =
  | { ok: true; value: bigint }
  | { ok: false; signal: 'SIGBUS' | 'SIGSEGV'; code: 'BUS_ADRERR' | 'SEGV_MAPERR' | 'SEGV_ACCERR'; addr: number };

/** The signal half of CpuAccessResult. */
export type CpuSignal = Extract<CpuAccessResult, { ok: false }>;

/**
 * A fault that "succeeds" without ever producing a PTE makes the CPU refault forever (a
 * livelock on a real kernel too). The model stops with an Error after this many
 * attempts at one address instead of hanging.
 */
export const LIVELOCK_LIMIT = 10_000;
function livelock(addr: number): Error {
  return new Error(`livelock: fault at 0x${addr.toString(16)} keeps resolving without a PTE (a fault handler returned success without mapping)`);
}

const OK_STORE: CpuAccessResult = Object.freeze({ ok: true, value: 0n }) as CpuAccessResult;

/** The mm of the running thread's process, or null (kernel thread). */
export function currentMm(k: Kernel): MmStruct | null {
  const p = threadProcess(k.sched.current);
  return p === null ? null : asMm(p.mm);
}

/** access_error (arch/x86/mm/fault.c, 5.8): the vma does not allow this kind of access. */
function accessError(write: boolean, vma: Vma): boolean {
  if (write) return (vma.flags & VM_WRITE) === 0;
  return (vma.flags & (VM_READ | VM_EXEC | VM_WRITE)) === 0;
}

type FaultOutcome =
  | { readonly kind: 'ok' }
  | { readonly kind: 'maperr' }
  | { readonly kind: 'accerr' }
  | { readonly kind: 'error'; readonly fault: number };
const FAULT_OK: FaultOutcome = { kind: 'ok' };
const FAULT_MAPERR: FaultOutcome = { kind: 'maperr' };
const FAULT_ACCERR: FaultOutcome = { kind: 'accerr' };

/**
 * do_user_addr_fault (arch/x86/mm/fault.c, 5.8): mmap_read_trylock (else mmap_read_lock),
 * find_vma, access_error, handle_mm_fault with FAULT_FLAG_ALLOW_RETRY|KILLABLE (|USER for
 * user mode, |WRITE for stores); on VM_FAULT_RETRY (the handler dropped mmap_lock) retake
 * the lock and retry with FAULT_FLAG_TRIED, ALLOW_RETRY kept (4064b9827063, 5.7). It
 * never sets FAULT_FLAG_RETRY_NOWAIT, so a VM_FAULT_RETRY always comes back with
 * mmap_lock released and must not be unlocked again.
 */
function* doUserAddrFault(k: Kernel, mm: MmStruct, addr: number, write: boolean, user: boolean): Task<FaultOutcome> {
  const fn = 'do_user_addr_fault';
  let flags = FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE;
  if (user) flags |= FAULT_FLAG_USER;
  if (write) flags |= FAULT_FLAG_WRITE;
  const sem = mm.mmapLock;
  if (!(yield* sem.downReadTrylock(fn))) yield* sem.downRead(fn);
  for (;;) {
    const vma = findVmaImpl(mm, addr);
    if (vma === null || vma.start > addr) {
      // bad_area
      yield* sem.upRead(fn);
      return FAULT_MAPERR;
    }
    if (accessError(write, vma)) {
      // bad_area_access_error
      yield* sem.upRead(fn);
      return FAULT_ACCERR;
    }
    const fault = yield* handleMmFault(k, vma, addr, flags);
    if ((fault & VM_FAULT_RETRY) !== 0 && (flags & FAULT_FLAG_ALLOW_RETRY) !== 0) {
      flags |= FAULT_FLAG_TRIED;
      yield* sem.downRead(fn); // retry:
      continue;
    }
    yield* sem.upRead(fn);
    if ((fault & VM_FAULT_ERROR) !== 0) return { kind: 'error', fault };
    return FAULT_OK;
  }
}

/** Turn a user-mode fault outcome into the signal delivered (mm_fault_error / bad_area), emitting it. */
function userSignal(k: Kernel, proc: KProcess | null, addr: number, o: FaultOutcome): CpuSignal | null {
  let sig: CpuSignal;
  switch (o.kind) {
    case 'ok':
      return null;
    case 'maperr':
      sig = { ok: false, signal: 'SIGSEGV', code: 'SEGV_MAPERR', addr };
      break;
    case 'accerr':
      sig = { ok: false, signal: 'SIGSEGV', code: 'SEGV_ACCERR', addr };
      break;
    case 'error':
      // VM_FAULT_SIGBUS → do_sigbus (BUS_ADRERR); VM_FAULT_SIGSEGV → bad_area_nosemaphore.
      // VM_FAULT_OOM would invoke the OOM killer; the model reports it as SIGBUS.
      if ((o.fault & (VM_FAULT_SIGBUS | VM_FAULT_OOM)) !== 0) sig = { ok: false, signal: 'SIGBUS', code: 'BUS_ADRERR', addr };
      else sig = { ok: false, signal: 'SIGSEGV', code: 'SEGV_MAPERR', addr };
      break;
  }
  k.events.emit({ kind: 'signal', pid: proc === null ? 0 : proc.pid, sig: sig.signal, code: sig.code, addr });
  return sig;
}

// ---- byte helpers -------------------------------------------------------------

function loadLe(p: Uint8Array, o: number, size: number): bigint {
  switch (size) {
    case 1:
      return BigInt(p[o] as number);
    case 2:
      return BigInt((p[o] as number) | ((p[o + 1] as number) << 8));
    case 4:
      return BigInt(((p[o] as number) | ((p[o + 1] as number) << 8) | ((p[o + 2] as number) << 16) | ((p[o + 3] as number) << 24)) >>> 0);
    default: {
      const lo = ((p[o] as number) | ((p[o + 1] as number) << 8) | ((p[o + 2] as number) << 16) | ((p[o + 3] as number) << 24)) >>> 0;
      const hi = ((p[o + 4] as number) | ((p[o + 5] as number) << 8) | ((p[o + 6] as number) << 16) | ((p[o + 7] as number) << 24)) >>> 0;
      return (BigInt(hi) << 32n) | BigInt(lo);
    }
  }
}

function storeLe(p: Uint8Array, o: number, size: number, v: bigint): void {
  if (size === 8) {
    const lo = Number(v & 0xffffffffn);
    const hi = Number((v >> 32n) & 0xffffffffn);
    p[o] = lo & 0xff;
    p[o + 1] = (lo >>> 8) & 0xff;
    p[o + 2] = (lo >>> 16) & 0xff;
    p[o + 3] = lo >>> 24;
    p[o + 4] = hi & 0xff;
    p[o + 5] = (hi >>> 8) & 0xff;
    p[o + 6] = (hi >>> 16) & 0xff;
    p[o + 7] = hi >>> 24;
    return;
  }
  const n = Number(BigInt.asUintN(32, v));
  p[o] = n & 0xff;
  if (size >= 2) p[o + 1] = (n >>> 8) & 0xff;
  if (size === 4) {
    p[o + 2] = (n >>> 16) & 0xff;
    p[o + 3] = n >>> 24;
  }
}

/** Largest naturally aligned access (≤ 8 bytes) at `addr` not exceeding `left`. */
function chunkSize(addr: number, left: number): AccessSize {
  if (left >= 8 && addr % 8 === 0) return 8;
  if (left >= 4 && addr % 4 === 0) return 4;
  if (left >= 2 && addr % 2 === 0) return 2;
  return 1;
}

/** One access to a present, permitted page: RAM directly, anything else through the root complex. */
function physAccess(k: Kernel, pfn: number, off: number, size: AccessSize, write: boolean, value: bigint): bigint {
  const ram = k.hw.ram;
  if (ram.isRam(pfn)) {
    const p = ram.page(pfn);
    if (write) {
      storeLe(p, off, size, value);
      return 0n;
    }
    return loadLe(p, off, size);
  }
  const phys = pfn * PAGE_SIZE + off;
  if (write) {
    k.hw.memWrite(phys, size, value);
    return 0n;
  }
  return k.hw.memRead(phys, size);
}

/** Where a user-mode accessRange reports the signal that ended it. */
interface SignalOut {
  signal: CpuSignal | null;
}

/**
 * [model] Copy between `buf` and user memory [addr, addr + buf.length) page by page: RAM pages in
 * one step, device pages in naturally aligned chunks of up to 8 bytes (each chunk
 * re-translated, so a zap between chunks is seen). A missing or read-only PTE takes the
 * fault path (user mode: a signal ends the copy and is stored in `out`; kernel mode: the
 * exception fixup ends it). Returns how many bytes were copied.
 *
 * With `kernelCopy` (copy_to_user / copy_from_user, `mm` null) it first does their
 * checks on the current thread — might_fault, the current mm, access_ok — and returns
 * the kernel's convention instead: how many bytes were NOT copied, the uncopied tail of
 * `buf` zeroed on a read. (One generator for both, so a user copy is a single level.)
 */
function* accessRange(
  k: Kernel,
  mmIn: MmStruct | null,
  proc: KProcess | null,
  addr: number,
  buf: Uint8Array,
  write: boolean,
  user: boolean,
  out: SignalOut | null,
  kernelCopy: boolean,
): Task<number> {
  const len = buf.length;
  let mm = mmIn;
  if (kernelCopy) {
    mightFault(k, write ? 'copy_to_user' : 'copy_from_user');
    mm = currentMm(k);
    if (mm === null || !accessOk(addr, len)) {
      if (!write) buf.fill(0);
      return len;
    }
  }
  if (mm === null) return 0;
  let off = 0;
  let tries = 0;
  let lastOff = -1;
  const ram = k.hw.ram;
  while (off < len) {
    const a = addr + off;
    tries = off === lastOff ? tries + 1 : 0;
    lastOff = off;
    if (tries > LIVELOCK_LIMIT) throw livelock(a);
    const vpn = Math.floor(a / PAGE_SIZE);
    if (!k.sched.passPoint()) yield mm.ptReadAt(vpn * PAGE_SIZE, (vpn + 1) * PAGE_SIZE);
    const pte = mm.pt.get(vpn);
    if (pte === undefined || (write && !pte.writable)) {
      const o = yield* doUserAddrFault(k, mm, a, write, user);
      if (o.kind === 'ok') continue;
      if (user && out !== null) out.signal = userSignal(k, proc, a, o);
      break;
    }
    const pageOff = pageOffset(a);
    if (ram.isRam(pte.pfn)) {
      const n = Math.min(len - off, PAGE_SIZE - pageOff);
      copyPage(ram.page(pte.pfn), pageOff, buf, off, n, write);
      off += n;
    } else {
      const size = chunkSize(a, len - off);
      if (write) {
        physAccess(k, pte.pfn, pageOff, size, true, loadLe(buf, off, size));
      } else {
        storeLe(buf, off, size, physAccess(k, pte.pfn, pageOff, size, false, 0n));
      }
      off += size;
    }
  }
  if (!kernelCopy) return off;
  if (!write && off < len) buf.fill(0, off);
  return len - off;
}

/** Copy `n` bytes between a RAM page (at `pageOff`) and `buf` (at `off`); small copies byte by byte. */
function copyPage(page: Uint8Array, pageOff: number, buf: Uint8Array, off: number, n: number, toPage: boolean): void {
  if (n <= 16) {
    if (toPage) for (let i = 0; i < n; i++) page[pageOff + i] = buf[off + i] as number;
    else for (let i = 0; i < n; i++) buf[off + i] = page[pageOff + i] as number;
  } else if (toPage) {
    page.set(off === 0 && n === buf.length ? buf : buf.subarray(off, off + n), pageOff);
  } else {
    buf.set(page.subarray(pageOff, pageOff + n), off);
  }
}

/**
 * might_fault (mm/memory.c, 5.8): lockdep is told the caller may take mmap_lock for read,
 * whether or not a fault happens (might_lock_read). Only the validator sees it.
 */
export function mightFault(k: Kernel, fn = 'might_fault'): void {
  const v = k.validator;
  const t = k.sched.current;
  if (v === null || t === null) return;
  const mm = currentMm(k);
  if (mm === null) return;
  const sem = mm.mmapLock;
  if (v.mightFault !== undefined) {
    v.mightFault(t, sem.id, sem.cls, fn, sem);
    return;
  }
  v.acquire(t, sem.id, sem.cls, 'r', false, fn);
  v.release(t, sem.id, sem.cls, 'r', fn);
}

/** access_ok (arch/x86/include/asm/uaccess.h, 5.8). */
function accessOk(addr: number, len: number): boolean {
  return addr >= 0 && len >= 0 && addr + len <= TASK_SIZE;
}

/**
 * copy_to_user (include/linux/uaccess.h, 5.8): copy `data` to the current process's user
 * memory at `addr`. Returns the number of bytes NOT copied (0 on success).
 *
 * The copy task itself is returned (no wrapper generator level); its checks run when it
 * starts, on the thread that runs it.
 */
export function copyToUser(k: Kernel, addr: number, data: Uint8Array): Task<number> {
  return accessRange(k, null, null, addr, data, true, false, null, true);
}

/**
 * copy_from_user (include/linux/uaccess.h, 5.8): copy user memory at `addr` into `dst`.
 * Returns the number of bytes NOT copied; as in the kernel the uncopied tail of `dst` is
 * zeroed. Like copyToUser, returns the copy task itself.
 */
export function copyFromUser(k: Kernel, addr: number, dst: Uint8Array): Task<number> {
  return accessRange(k, null, null, addr, dst, false, false, null, true);
}

/** get_user (arch/x86/include/asm/uaccess.h, 5.8): a u32; the value, or null on fault (-EFAULT for the caller). */
export function* getUserU32(k: Kernel, addr: number): Task<number | null> {
  const b = new Uint8Array(4);
  if ((yield* copyFromUser(k, addr, b)) !== 0) return null;
  return Number(loadLe(b, 0, 4));
}

/** put_user (arch/x86/include/asm/uaccess.h, 5.8): a u32; 0 or -EFAULT. */
export function* putUserU32(k: Kernel, addr: number, v: number): Task<number> {
  const b = new Uint8Array(4);
  storeLe(b, 0, 4, BigInt(v >>> 0));
  return (yield* copyToUser(k, addr, b)) === 0 ? 0 : -14;
}

/** get_user (arch/x86/include/asm/uaccess.h, 5.8): a u64; the value, or null on fault. */
export function* getUserU64(k: Kernel, addr: number): Task<bigint | null> {
  const b = new Uint8Array(8);
  if ((yield* copyFromUser(k, addr, b)) !== 0) return null;
  return loadLe(b, 0, 8);
}

/** put_user (arch/x86/include/asm/uaccess.h, 5.8): a u64; 0 or -EFAULT. */
export function* putUserU64(k: Kernel, addr: number, v: bigint): Task<number> {
  const b = new Uint8Array(8);
  storeLe(b, 0, 8, BigInt.asUintN(64, v));
  return (yield* copyToUser(k, addr, b)) === 0 ? 0 : -14;
}

// ---- user-thread CPU accesses ------------------------------------------------------

/**
 * [model] A load or store of `size` bytes by the current user thread at `addr` (the MMU, then
 * do_user_addr_fault on a miss). One scheduling point on the page table per attempt;
 * a fault that resolves retries the access. A page-crossing access is performed as
 * byte accesses in address order.
 */
export function* userAccess(k: Kernel, addr: number, size: AccessSize, write: boolean, value: bigint): Task<CpuAccessResult> {
  const proc = threadProcess(k.sched.current);
  if (proc === null) return { ok: false, signal: 'SIGSEGV', code: 'SEGV_MAPERR', addr };
  const mm = asMm(proc.mm);
  if (addr < 0 || addr + size > TASK_SIZE) {
    const sig: CpuSignal = { ok: false, signal: 'SIGSEGV', code: 'SEGV_MAPERR', addr };
    k.events.emit({ kind: 'signal', pid: proc.pid, sig: sig.signal, code: sig.code, addr });
    return sig;
  }
  const pageOff = pageOffset(addr);
  if (pageOff + size > PAGE_SIZE) {
    const buf = new Uint8Array(size);
    if (write) storeLe(buf, 0, size, value);
    const out: SignalOut = { signal: null };
    yield* accessRange(k, mm, proc, addr, buf, write, true, out, false);
    if (out.signal !== null) return out.signal;
    return write ? OK_STORE : { ok: true, value: loadLe(buf, 0, size) };
  }
  const page = pageAlignDown(addr);
  for (let tries = 0; ; tries++) {
    if (tries > LIVELOCK_LIMIT) throw livelock(addr);
    if (!k.sched.passPoint()) yield mm.ptReadAt(page, page + PAGE_SIZE);
    const pte = mm.pt.get(Math.floor(addr / PAGE_SIZE));
    if (pte !== undefined && (!write || pte.writable)) {
      const v = physAccess(k, pte.pfn, pageOff, size, write, value);
      return write ? OK_STORE : { ok: true, value: v };
    }
    const o = yield* doUserAddrFault(k, mm, addr, write, true);
    const sig = userSignal(k, proc, addr, o);
    if (sig !== null) return sig;
  }
}

/**
 * [model] A user-mode memcpy out of user memory (a sequence of CPU loads): the bytes, or the
 * signal that stopped it and how many bytes were read before.
 */
export function* userReadBytes(k: Kernel, addr: number, len: number): Task<{ data: Uint8Array; signal: CpuSignal | null }> {
  const proc = threadProcess(k.sched.current);
  const buf = new Uint8Array(len);
  if (proc === null) return { data: buf.subarray(0, 0), signal: { ok: false, signal: 'SIGSEGV', code: 'SEGV_MAPERR', addr } };
  const out: SignalOut = { signal: null };
  const n = yield* accessRange(k, asMm(proc.mm), proc, addr, buf, false, true, out, false);
  return { data: buf.subarray(0, n), signal: out.signal };
}

/** [model] A user-mode memcpy into user memory (a sequence of CPU stores): bytes written and the signal, if any. */
export function* userWriteBytes(k: Kernel, addr: number, data: Uint8Array): Task<{ done: number; signal: CpuSignal | null }> {
  const proc = threadProcess(k.sched.current);
  if (proc === null) return { done: 0, signal: { ok: false, signal: 'SIGSEGV', code: 'SEGV_MAPERR', addr } };
  const out: SignalOut = { signal: null };
  const n = yield* accessRange(k, asMm(proc.mm), proc, addr, data, true, true, out, false);
  return { done: n, signal: out.signal };
}

/**
 * arch_futex_atomic_op_inuser (arch/x86/include/asm/futex.h, 5.8): under pagefault_disable,
 * a locked read-modify-write of the naturally aligned u32 at `addr` of the current mm
 * that never faults: the old value, or -EFAULT when the PTE is missing or read-only (the
 * exception fixup; the caller then faults the page in and retries). One scheduling point
 * on the page table. A device page gets a read then a write through the root complex.
 */
export function* atomicOpInuserNoFault(k: Kernel, addr: number, op: number, oparg: number): Task<number | { old: number }> {
  const mm = currentMm(k);
  if (mm === null || !accessOk(addr, 4)) return -EFAULT_;
  const vpn = Math.floor(addr / PAGE_SIZE);
  if (!k.sched.passPoint()) yield mm.ptReadAt(vpn * PAGE_SIZE, (vpn + 1) * PAGE_SIZE);
  const pte = mm.pt.get(vpn);
  if (pte === undefined || !pte.writable) return -EFAULT_;
  const off = pageOffset(addr);
  const old = Number(physAccess(k, pte.pfn, off, 4, false, 0n)) >>> 0;
  physAccess(k, pte.pfn, off, 4, true, BigInt(futexOpApply(op, oparg, old) >>> 0));
  return { old };
}

const EFAULT_ = 14;

/** [model] The new value of the u32 under a futex op (the body of arch_futex_atomic_op_inuser's switch; the op was checked by the caller). */
function futexOpApply(op: number, oparg: number, old: number): number {
  switch (op) {
    case FUTEX_OP_SET:
      return oparg;
    case FUTEX_OP_ADD:
      return old + oparg;
    case FUTEX_OP_OR:
      return old | oparg;
    case FUTEX_OP_ANDN:
      return old & ~oparg;
    default: // FUTEX_OP_XOR
      return old ^ oparg;
  }
}
