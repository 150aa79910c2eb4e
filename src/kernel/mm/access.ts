/**
 * Memory accesses through the MMU: user-thread CPU loads/stores with the x86 page-fault
 * path (arch/x86/mm/fault.c, 5.8), and the kernel's user copies (copy_to_user /
 * copy_from_user, lib/usercopy.c + exception fixup, 5.8).
 */
import { FUTEX_OP_ADD, FUTEX_OP_ANDN, FUTEX_OP_OR, FUTEX_OP_SET } from '../../uapi/futex.js';
import type { AccessSize } from '../../hw/api.js';
import type { Kernel } from '../kernel.js';
import { threadProcess, type KProcess } from '../proc.js';
import { MachineHalted } from '../sched/errors.js';
import { StepTask, type Task, type Yielded } from '../sched/task.js';
import type { KThread } from '../sched/thread.js';
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
function doUserAddrFault(k: Kernel, mm: MmStruct, addr: number, write: boolean, user: boolean): Task<FaultOutcome> {
  return new DoUserAddrFault(k, mm, addr, write, user);
}

const FAULT_FN = 'do_user_addr_fault';

/** do_user_addr_fault (arch/x86/mm/fault.c, 5.8) as a StepTask (every refault; no generator). */
class DoUserAddrFault extends StepTask<FaultOutcome> {
  private flags: number;
  private fault = 0;
  /** The outcome of a fault with no usable vma (returned once mmap_lock is dropped). */
  private bad: FaultOutcome = FAULT_OK;

  constructor(
    private readonly k: Kernel,
    private readonly mm: MmStruct,
    private readonly addr: number,
    private readonly write: boolean,
    user: boolean,
  ) {
    super();
    let flags = FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE;
    if (user) flags |= FAULT_FLAG_USER;
    if (write) flags |= FAULT_FLAG_WRITE;
    this.flags = flags;
  }

  // States are checked in order (a state that completes sets `pc` to a later one and falls
  // through to it); a VM_FAULT_RETRY goes back to 2.
  protected run(): IteratorResult<Yielded, FaultOutcome> {
    const sem = this.mm.mmapLock;
    const fn = FAULT_FN;
    if (this.pc === 0) {
      const s = this.call(sem.downReadTrylock(fn), 1);
      if (s !== null) return s;
    }
    if (this.pc === 1) {
      this.pc = 2;
      if (!(this.got as boolean)) {
        const s = this.call(sem.downRead(fn), 2);
        if (s !== null) return s;
      }
    }
    for (;;) {
      if (this.pc === 2) {
        // the (re)try with mmap_lock held for read
        const addr = this.addr;
        const vma = findVmaImpl(this.mm, addr);
        let bad: FaultOutcome | null = null;
        if (vma === null || vma.start > addr) bad = FAULT_MAPERR;
        else if (accessError(this.write, vma)) bad = FAULT_ACCERR;
        if (bad !== null) {
          this.bad = bad;
          this.pc = 5;
          {
            const s = this.call(sem.upRead(fn), 5);
            if (s !== null) return s;
          }
        } else {
          const s = this.call(handleMmFault(this.k, vma as Vma, addr, this.flags), 3);
          if (s !== null) return s;
        }
      }
      if (this.pc === 3) {
        const fault = this.got as number;
        this.fault = fault;
        if ((fault & VM_FAULT_RETRY) !== 0 && (this.flags & FAULT_FLAG_ALLOW_RETRY) !== 0) {
          this.flags |= FAULT_FLAG_TRIED;
          const s = this.call(sem.downRead(fn), 2);
          if (s !== null) return s;
          continue;
        }
        this.pc = 4;
        {
          const s = this.call(sem.upRead(fn), 4);
          if (s !== null) return s;
        }
      }
      if (this.pc === 4) {
        const fault = this.fault;
        if ((fault & VM_FAULT_ERROR) !== 0) return this.finish({ kind: 'error', fault });
        return this.finish(FAULT_OK);
      }
      if (this.pc === 5) return this.finish(this.bad);
      throw new Error(`DoUserAddrFault: bad state ${this.pc}`);
    }
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
  prechecked = false,
): Task<number> {
  const len = buf.length;
  let mm = mmIn;
  if (kernelCopy && !prechecked) {
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
 * copy_to_user / copy_from_user (include/linux/uaccess.h, 5.8): a kernel user copy (to when `write`) that completes
 * without a generator when it can: the checks of accessRange's kernel-copy prologue
 * (might_fault, the current mm, access_ok) run now; if [addr, addr + len) lies in one
 * present RAM page (writable for copy_to_user) and the page-table point can be passed
 * (Scheduler.passPoint), the copy is done and the number of bytes not copied returned —
 * exactly what the copy task would return. Otherwise the copy task from the page-table
 * point on is returned, for the caller to `yield*` at once.
 */
function kernelCopyFast(k: Kernel, addr: number, buf: Uint8Array, write: boolean): number | Task<number> {
  const len = buf.length;
  mightFault(k, write ? 'copy_to_user' : 'copy_from_user');
  const mm = currentMm(k);
  if (mm === null || !accessOk(addr, len)) {
    if (!write) buf.fill(0);
    return len;
  }
  if (len === 0) return 0;
  const pageOff = pageOffset(addr);
  const pte = pageOff + len <= PAGE_SIZE ? mm.pt.get(Math.floor(addr / PAGE_SIZE)) : undefined;
  const ram = k.hw.ram;
  if (pte !== undefined && (!write || pte.writable) && ram.isRam(pte.pfn) && k.sched.passPoint()) {
    copyPage(ram.page(pte.pfn), pageOff, buf, 0, len, write);
    return 0;
  }
  return accessRange(k, mm, null, addr, buf, write, false, null, true, true);
}

/**
 * copy_from_user of `len` bytes for a caller that only looks at them before it next
 * suspends: when kernelCopyFast would copy without suspending, a view of the bytes in
 * their RAM page instead of a copy (the caller must copy what it keeps across a
 * suspension). Otherwise what kernelCopyFast gives for a fresh buffer `buf` of `len`
 * bytes: `left`, the bytes not copied (a number, or the copy task to `yield*`).
 */
export function copyFromUserView(k: Kernel, addr: number, len: number): Uint8Array | { left: number | Task<number>; buf: Uint8Array } {
  mightFault(k, 'copy_from_user');
  const mm = currentMm(k);
  if (mm === null || !accessOk(addr, len)) return { left: len, buf: new Uint8Array(len) };
  if (len > 0) {
    const pageOff = pageOffset(addr);
    const pte = pageOff + len <= PAGE_SIZE ? mm.pt.get(Math.floor(addr / PAGE_SIZE)) : undefined;
    const ram = k.hw.ram;
    if (pte !== undefined && ram.isRam(pte.pfn) && k.sched.passPoint()) return ram.page(pte.pfn).subarray(pageOff, pageOff + len);
  }
  const buf = new Uint8Array(len);
  return { left: len === 0 ? 0 : accessRange(k, mm, null, addr, buf, false, false, null, true, true), buf };
}

/**
 * copy_from_user (include/linux/uaccess.h, 5.8) of a `size`-byte little-endian value
 * into a bounce buffer the caller only decodes: when kernelCopyFast would copy without
 * suspending, the value itself (read from the RAM page; no buffer). Otherwise what
 * kernelCopyFast gives for a fresh buffer `buf` of `size` bytes: `left`, the bytes not
 * copied (a number, or the copy task to `yield*`), and the buffer to decode afterwards.
 */
export function copyValueFromUserFast(k: Kernel, addr: number, size: 1 | 2 | 4): number | { left: number | Task<number>; buf: Uint8Array } {
  mightFault(k, 'copy_from_user');
  const mm = currentMm(k);
  if (mm === null || !accessOk(addr, size)) return { left: size, buf: new Uint8Array(size) };
  const pageOff = pageOffset(addr);
  const pte = pageOff + size <= PAGE_SIZE ? mm.pt.get(Math.floor(addr / PAGE_SIZE)) : undefined;
  const ram = k.hw.ram;
  if (pte !== undefined && ram.isRam(pte.pfn) && k.sched.passPoint()) {
    const page = ram.page(pte.pfn);
    let v = 0;
    for (let i = 0; i < size; i++) v |= (page[pageOff + i] as number) << (8 * i);
    return v >>> 0;
  }
  const buf = new Uint8Array(size);
  return { left: accessRange(k, mm, null, addr, buf, false, false, null, true, true), buf };
}

/**
 * copy_to_user (include/linux/uaccess.h, 5.8): the `size` bytes of the little-endian value `v` (a bounce buffer the
 * caller would fill and copy), without a task or a buffer when it need not suspend: the
 * bytes NOT copied, or the copy task to `yield*` (see kernelCopyFast, which this equals).
 */
export function copyValueToUserFast(k: Kernel, addr: number, size: 1 | 2 | 4, v: number): number | Task<number> {
  mightFault(k, 'copy_to_user');
  const mm = currentMm(k);
  if (mm === null || !accessOk(addr, size)) return size;
  const pageOff = pageOffset(addr);
  const pte = pageOff + size <= PAGE_SIZE ? mm.pt.get(Math.floor(addr / PAGE_SIZE)) : undefined;
  const ram = k.hw.ram;
  if (pte !== undefined && pte.writable && ram.isRam(pte.pfn) && k.sched.passPoint()) {
    const page = ram.page(pte.pfn);
    for (let i = 0; i < size; i++) page[pageOff + i] = (v >>> (8 * i)) & 0xff;
    return 0;
  }
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (v >>> (8 * i)) & 0xff;
  return accessRange(k, mm, null, addr, b, true, false, null, true, true);
}

/**
 * copy_to_user (include/linux/uaccess.h, 5.8) without a task when it need not suspend:
 * the bytes NOT copied, or the copy task to `yield*` (see kernelCopyFast). Used as
 * `const c = copyToUserFast(k, addr, data); const left = typeof c === 'number' ? c : yield* c;`.
 */
export function copyToUserFast(k: Kernel, addr: number, data: Uint8Array): number | Task<number> {
  return kernelCopyFast(k, addr, data, true);
}

/** copy_from_user (include/linux/uaccess.h, 5.8) without a task when it need not suspend; see copyToUserFast. */
export function copyFromUserFast(k: Kernel, addr: number, dst: Uint8Array): number | Task<number> {
  return kernelCopyFast(k, addr, dst, false);
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
export function userAccess(k: Kernel, addr: number, size: AccessSize, write: boolean, value: bigint): Task<CpuAccessResult> {
  return new UserAccess(k, addr, size, write, value);
}

/** [model] userAccess as a StepTask (a CPU access that faults; no generator). */
class UserAccess extends StepTask<CpuAccessResult> {
  private proc: KProcess | null = null;
  private mm: MmStruct | null = null;
  private tries = 0;
  private buf: Uint8Array | null = null;
  private out: SignalOut | null = null;

  constructor(
    private readonly k: Kernel,
    private readonly addr: number,
    private readonly size: AccessSize,
    private readonly write: boolean,
    private readonly value: bigint,
  ) {
    super();
  }

  // State 0 once; then 1, 2, 3 per attempt (checked in order; 3 goes back to 1); 4 ends a
  // page-crossing access.
  protected run(): IteratorResult<Yielded, CpuAccessResult> {
    const { k, addr, size, write } = this;
    if (this.pc === 0) {
      const proc = threadProcess(k.sched.current);
      if (proc === null) return this.finish({ ok: false, signal: 'SIGSEGV', code: 'SEGV_MAPERR', addr });
      const mm = asMm(proc.mm);
      this.proc = proc;
      this.mm = mm;
      if (addr < 0 || addr + size > TASK_SIZE) {
        const sig: CpuSignal = { ok: false, signal: 'SIGSEGV', code: 'SEGV_MAPERR', addr };
        k.events.emit({ kind: 'signal', pid: proc.pid, sig: sig.signal, code: sig.code, addr });
        return this.finish(sig);
      }
      if (pageOffset(addr) + size > PAGE_SIZE) {
        const buf = new Uint8Array(size);
        if (write) storeLe(buf, 0, size, this.value);
        const out: SignalOut = { signal: null };
        this.buf = buf;
        this.out = out;
        const s = this.call(accessRange(k, mm, proc, addr, buf, write, true, out, false), 4);
        if (s !== null) return s;
      } else {
        this.tries = 0;
        this.pc = 1;
      }
    }
    for (;;) {
      if (this.pc === 1) {
        // an attempt: the page-table point
        if (this.tries > LIVELOCK_LIMIT) throw livelock(addr);
        if (!k.sched.passPoint()) {
          const pg = pageAlignDown(addr);
          return this.yieldAt((this.mm as MmStruct).ptReadAt(pg, pg + PAGE_SIZE), 2);
        }
        this.pc = 2;
      }
      if (this.pc === 2) {
        const mm = this.mm as MmStruct; // set in state 0
        const pte = mm.pt.get(Math.floor(addr / PAGE_SIZE));
        if (pte !== undefined && (!write || pte.writable)) {
          const v = physAccess(k, pte.pfn, pageOffset(addr), size, write, this.value);
          return this.finish(write ? OK_STORE : { ok: true, value: v });
        }
        const s = this.call(doUserAddrFault(k, mm, addr, write, true), 3);
        if (s !== null) return s;
      }
      if (this.pc === 3) {
        const sig = userSignal(k, this.proc, addr, this.got as FaultOutcome);
        if (sig !== null) return this.finish(sig);
        this.tries++;
        this.pc = 1;
        continue;
      }
      if (this.pc === 4) {
        // the page-crossing access is done
        const out = this.out as SignalOut;
        if (out.signal !== null) return this.finish(out.signal);
        return this.finish(write ? OK_STORE : { ok: true, value: loadLe(this.buf as Uint8Array, 0, size) });
      }
      throw new Error(`UserAccess: bad state ${this.pc}`);
    }
  }
}

/**
 * The synchronous fast path of `k.sched.runSync(t, userAccess(...))` for the common case
 * of a present, permitted PTE and an access within one page: same result, same step
 * count, same event stream, without creating a generator. Returns null when the slow
 * path must be taken (no PTE, insufficient PTE, page-crossing access, busy/dead thread).
 */
export function userAccessFast(
  k: Kernel,
  t: KThread,
  mm: MmStruct,
  addr: number,
  size: AccessSize,
  write: boolean,
  value: bigint,
  label = '',
): CpuAccessResult | null {
  if (t.state !== 'idle' && t.state !== 'done') return null;
  const pageOff = pageOffset(addr);
  if (addr < 0 || pageOff + size > PAGE_SIZE || addr + size > TASK_SIZE) return null;
  const pte = mm.pt.get(Math.floor(addr / PAGE_SIZE));
  if (pte === undefined || (write && !pte.writable)) return null;
  const halt = k.hw.platform.haltReason;
  if (halt !== null) throw new MachineHalted(halt);
  const sched = k.sched;
  // runSync would take two steps: 'start' → the page-table point, then the access.
  sched.steps += 2;
  t.label = label;
  const prev = sched.current;
  sched.current = t;
  let res: CpuAccessResult;
  try {
    const v = physAccess(k, pte.pfn, pageOff, size, write, value);
    res = write ? OK_STORE : { ok: true, value: v };
  } finally {
    sched.current = prev;
  }
  t.result = res;
  t.state = 'idle';
  return res;
}

/**
 * The synchronous fast path of `k.sched.runSync(t, userReadBytes / userWriteBytes)` (a
 * user-mode memcpy on thread `t`) when every page of [addr, addr + buf.length) has a
 * present RAM PTE (writable for a store): the bytes are copied with the same step count
 * (the start step and one page-table point per page) and the same (empty) event stream,
 * without a generator, and true is returned. False, having done nothing, when the slow
 * path must be taken (a missing or insufficient PTE, a device page, a busy thread).
 */
export function userBytesFast(k: Kernel, t: KThread, mm: MmStruct, addr: number, buf: Uint8Array, write: boolean, label: string): boolean {
  if (t.state !== 'idle' && t.state !== 'done') return false;
  const len = buf.length;
  const ram = k.hw.ram;
  const first = pageOffset(addr);
  if (len > 0 && first + len <= PAGE_SIZE) {
    // within one page (most copies): one lookup
    const pte = mm.pt.get(Math.floor(addr / PAGE_SIZE));
    if (pte === undefined || (write && !pte.writable) || !ram.isRam(pte.pfn)) return false;
    const halt = k.hw.platform.haltReason;
    if (halt !== null) throw new MachineHalted(halt);
    k.sched.steps += 2;
    t.label = label;
    copyPage(ram.page(pte.pfn), first, buf, 0, len, write);
    t.state = 'idle';
    return true;
  }
  let pages = 0;
  for (let off = 0; off < len; pages++) {
    const a = addr + off;
    const pte = mm.pt.get(Math.floor(a / PAGE_SIZE));
    if (pte === undefined || (write && !pte.writable) || !ram.isRam(pte.pfn)) return false;
    off += Math.min(len - off, PAGE_SIZE - (pageOffset(a)));
  }
  const halt = k.hw.platform.haltReason;
  if (halt !== null) throw new MachineHalted(halt);
  // runSync would take the 'start' step, then pass one page-table point per page
  k.sched.steps += 1 + pages;
  t.label = label;
  for (let off = 0; off < len; ) {
    const a = addr + off;
    const pte = mm.pt.get(Math.floor(a / PAGE_SIZE)) as { pfn: number };
    const pageOff = pageOffset(a);
    const n = Math.min(len - off, PAGE_SIZE - pageOff);
    copyPage(ram.page(pte.pfn), pageOff, buf, off, n, write);
    off += n;
  }
  t.state = 'idle';
  return true;
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
