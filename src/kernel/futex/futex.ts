/**
 * A sliver of futex(2): FUTEX_WAKE_OP, the operation whose page-fault path is a
 * fixup_user_fault that may not retry (fault_in_user_writeable) — the kind of caller that
 * patch v1's fault handler answered with SIGBUS under memory_lock contention (spec §3.3).
 * Waiters are not modelled: a wake wakes nobody and returns 0.
 */
import { EFAULT, EINVAL, ENOSYS } from '../errno.js';
import type { Kernel } from '../kernel.js';
import { atomicOpInuserNoFault, currentMm } from '../mm/access.js';
import { fixupUserFault } from '../mm/gup.js';
import { findVma } from '../mm/mm.js';
import { FAULT_FLAG_WRITE, VM_IO, VM_PFNMAP } from '../mm/types.js';
import type { Task } from '../sched/task.js';
import {
  FUTEX_CMD_MASK, FUTEX_OP_ADD, FUTEX_OP_ANDN, FUTEX_OP_CMP_EQ, FUTEX_OP_CMP_GE, FUTEX_OP_CMP_GT, FUTEX_OP_CMP_LE, FUTEX_OP_CMP_LT,
  FUTEX_OP_CMP_NE, FUTEX_OP_OPARG_SHIFT, FUTEX_OP_OR, FUTEX_OP_SET, FUTEX_OP_XOR, FUTEX_PRIVATE_FLAG, FUTEX_WAKE_OP,
} from '../../uapi/futex.js';

function signExtend12(v: number): number {
  return (v << 20) >> 20;
}

/**
 * futex_atomic_op_inuser (kernel/futex.c, 5.8): decode the op, apply it atomically to the
 * u32 at `uaddr` without faulting, then compare the old value: 1/0, or -errno (-EFAULT
 * when the page is not mapped writable, -ENOSYS for an unknown op or comparison).
 */
function* futexAtomicOpInuser(k: Kernel, encoded: number, uaddr: number): Task<number> {
  const op = (encoded >>> 28) & 7;
  const cmp = (encoded >>> 24) & 15;
  let oparg = signExtend12((encoded >>> 12) & 0xfff);
  const cmparg = signExtend12(encoded & 0xfff);
  if (((encoded >>> 28) & FUTEX_OP_OPARG_SHIFT) !== 0) {
    if (oparg < 0 || oparg > 31) oparg &= 31; // the kernel warns once ("futex_wake_op: ... tries to shift op by ...")
    oparg = 1 << oparg;
  }
  switch (op) {
    case FUTEX_OP_SET:
    case FUTEX_OP_ADD:
    case FUTEX_OP_OR:
    case FUTEX_OP_ANDN:
    case FUTEX_OP_XOR:
      break;
    default:
      return -ENOSYS;
  }
  const r = yield* atomicOpInuserNoFault(k, uaddr, op, oparg);
  if (typeof r === 'number') return r; // -EFAULT
  const old = r.old | 0;
  switch (cmp) {
    case FUTEX_OP_CMP_EQ: return old === cmparg ? 1 : 0;
    case FUTEX_OP_CMP_NE: return old !== cmparg ? 1 : 0;
    case FUTEX_OP_CMP_LT: return old < cmparg ? 1 : 0;
    case FUTEX_OP_CMP_LE: return old <= cmparg ? 1 : 0;
    case FUTEX_OP_CMP_GT: return old > cmparg ? 1 : 0;
    case FUTEX_OP_CMP_GE: return old >= cmparg ? 1 : 0;
    default: return -ENOSYS;
  }
}

/**
 * fault_in_user_writeable (kernel/futex.c, 5.8): fixup_user_fault for write with
 * `unlocked` NULL under mmap_read_lock — a fault that may not retry.
 */
function* faultInUserWriteable(k: Kernel, uaddr: number): Task<number> {
  const mm = currentMm(k);
  if (mm === null) return -EFAULT;
  const fn = 'fault_in_user_writeable';
  yield* mm.mmapLock.downRead(fn);
  const ret = yield* fixupUserFault(k, mm, uaddr, FAULT_FLAG_WRITE, null);
  yield* mm.mmapLock.upRead(fn);
  return ret < 0 ? ret : 0;
}

/**
 * futex_wake_op (kernel/futex.c, 5.8), private futexes: apply the op to *uaddr2; when its
 * page is not mapped writable, fault it in with fault_in_user_writeable and retry; then
 * wake (nobody: waiters are not modelled). Returns the number woken or -errno.
 */
function* futexWakeOp(k: Kernel, uaddr1: number, uaddr2: number, encoded: number): Task<number> {
  if (uaddr1 % 4 !== 0 || uaddr2 % 4 !== 0) return -EINVAL; // get_futex_key: misaligned
  for (;;) {
    // double_lock_hb: the hash-bucket spinlocks are not modelled (no waiters)
    const opRet = yield* futexAtomicOpInuser(k, encoded, uaddr2);
    if (opRet >= 0) return 0;
    if (opRet !== -EFAULT) return opRet;
    const ret = yield* faultInUserWriteable(k, uaddr2);
    if (ret !== 0) return ret;
    // private futex: cond_resched() and retry
  }
}

/** do_futex (kernel/futex.c, 5.8): futex(2), FUTEX_WAKE_OP only; other commands -ENOSYS. */
export function* sysFutex(k: Kernel, uaddr: number, op: number, _val: number, uaddr2: number, val3: number): Task<number> {
  const cmd = op & FUTEX_CMD_MASK;
  if (cmd !== FUTEX_WAKE_OP) return -ENOSYS;
  if ((op & FUTEX_PRIVATE_FLAG) === 0) {
    // get_futex_key of a shared futex pins the backing page (get_user_pages_fast), which
    // refuses VM_IO/VM_PFNMAP vmas: a futex word in a BAR mapping is -EFAULT there
    const mm = currentMm(k);
    if (mm === null) return -EFAULT;
    for (const a of [uaddr, uaddr2]) {
      const vma = findVma(mm, a);
      if (vma === null || a < vma.start || (vma.flags & (VM_IO | VM_PFNMAP)) !== 0) return -EFAULT;
    }
  }
  return yield* futexWakeOp(k, uaddr, uaddr2, val3);
}
