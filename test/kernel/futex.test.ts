/**
 * The futex(2) sliver (kernel/futex.c, 5.8): FUTEX_WAKE_OP applies its op to the futex
 * word without faulting, and when the page is not mapped writable faults it in with
 * fault_in_user_writeable — a fixup_user_fault that may not retry — and tries again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unwrap } from '../../src/user/vfio-client.js';
import {
  FUTEX_OP_ADD, FUTEX_OP_CMP_EQ, FUTEX_OP_OPARG_SHIFT, FUTEX_OP_OR, FUTEX_OP_SET, FUTEX_PRIVATE_FLAG, FUTEX_WAIT, FUTEX_WAKE_OP, futexOp,
} from '../../src/uapi/futex.js';
import { EDU0, openDevice, PROT_RW, setMem } from '../claims/helpers.js';

const WAKE_OP_PRIVATE = FUTEX_WAKE_OP | FUTEX_PRIVATE_FLAG;
const EFAULT = 14;
const EINVAL = 22;
const ENOSYS = 38;

test('futex WAKE_OP_PRIVATE on ordinary memory: applies the op (add, set, or, shifted oparg) and wakes nobody', () => {
  const { p } = openDevice(EDU0);
  const a = p.alloc(16);
  assert.ok(p.store(a, 4, 5).ok);
  assert.equal(p.futex(a, WAKE_OP_PRIVATE, 1, a, futexOp(FUTEX_OP_ADD, 3, FUTEX_OP_CMP_EQ, 0)), 0);
  assert.deepEqual(p.load(a, 4), { ok: true, value: 8n });
  assert.equal(p.futex(a, WAKE_OP_PRIVATE, 1, a, futexOp(FUTEX_OP_SET, 0x7ff, FUTEX_OP_CMP_EQ, 0)), 0);
  assert.deepEqual(p.load(a, 4), { ok: true, value: 0x7ffn });
  assert.equal(p.futex(a, WAKE_OP_PRIVATE, 1, a, futexOp(FUTEX_OP_OR | FUTEX_OP_OPARG_SHIFT, 20, FUTEX_OP_CMP_EQ, 0)), 0);
  assert.deepEqual(p.load(a, 4), { ok: true, value: BigInt(0x7ff | (1 << 20)) });
});

test('futex: a misaligned word is -EINVAL, an unmodelled command -ENOSYS, an unmapped word -EFAULT', () => {
  const { p } = openDevice(EDU0);
  const a = p.alloc(16);
  assert.equal(p.futex(a + 2, WAKE_OP_PRIVATE, 1, a + 2, 0), -EINVAL);
  assert.equal(p.futex(a, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 0, 0, 0), -ENOSYS);
  assert.equal(p.futex(0x1000, WAKE_OP_PRIVATE, 1, 0x1000, 0), -EFAULT);
});

test('futex WAKE_OP on a never-touched BAR mapping (5.8): fault_in_user_writeable faults the vma in and the op reaches the device register', () => {
  const { p, d } = openDevice(EDU0);
  const bar = unwrap(d.mmapRegion(0, { length: 0x1000, prot: PROT_RW }));
  // edu's liveness register at 0x04 reads back the bitwise NOT of the last write
  assert.equal(p.futex(bar + 4, WAKE_OP_PRIVATE, 1, bar + 4, futexOp(FUTEX_OP_SET, 0x12, FUTEX_OP_CMP_EQ, 0)), 0);
  assert.deepEqual(p.load(bar + 4, 4), { ok: true, value: BigInt(~0x12 >>> 0) });
});

test('futex WAKE_OP on a BAR mapping while MEM is clear (5.8): the fault is SIGBUS, which fixup_user_fault turns into -EFAULT', () => {
  const { p, d } = openDevice(EDU0);
  const bar = unwrap(d.mmapRegion(0, { length: 0x1000, prot: PROT_RW }));
  setMem(d, false);
  assert.equal(p.futex(bar + 4, WAKE_OP_PRIVATE, 1, bar + 4, futexOp(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_EQ, 0)), -EFAULT);
});

test('shared futex WAKE_OP on a BAR mapping is -EFAULT: get_futex_key pins the page and GUP refuses VM_PFNMAP', () => {
  const { p, d } = openDevice(EDU0);
  const bar = unwrap(d.mmapRegion(0, { length: 0x1000, prot: PROT_RW }));
  assert.ok(p.load(bar, 4).ok);
  assert.equal(p.futex(bar + 4, FUTEX_WAKE_OP, 1, bar + 4, futexOp(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_EQ, 0)), -EFAULT);
});
