/**
 * VFIO_DEVICE_IOEVENTFD (spec §2.8, claim 36, defect H4): registration and its errno,
 * the write performed from the eventfd wakeup, and what each design does with that write
 * while the user has memory disabled.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VARIANT_5_8, type Knobs } from '../../src/kernel/variant/knobs.js';
import { VFIO_DEVICE_RESET, VFIO_DEVICE_IOEVENTFD, encodeDeviceIoeventfd, vfioPciIndexToOffset } from '../../src/uapi/vfio.js';
import { rawIoctl, unwrap } from '../../src/user/vfio-client.js';
import { countSince, EDU0, holds, MEMORY_LOCK, NIC, openDevice, runAll, setMem, start, stepUntil } from './helpers.js';

const LIVENESS = 0x04;
const BAR0 = vfioPciIndexToOffset(0);
const knobs = (ioeventfdWrite: Knobs['ioeventfdWrite']): Knobs => ({ ...VARIANT_5_8.knobs, ioeventfdWrite });

/** The edu liveness register as the device holds it (reads back ~last write). */
function liveness(d: ReturnType<typeof openDevice>['d']): number {
  const b = unwrap(d.readRegion(0, LIVENESS, 4));
  return ((b[0] ?? 0) | ((b[1] ?? 0) << 8) | ((b[2] ?? 0) << 16) | ((b[3] ?? 0) << 24)) >>> 0;
}

test('VFIO_DEVICE_IOEVENTFD (5.8): signalling the eventfd performs the registered 4-byte MMIO write', () => {
  const { p, d } = openDevice(EDU0);
  const efd = p.eventfd(0, 0);
  unwrap(d.ioeventfd({ offset: BigInt(BAR0 + LIVENESS), size: 4, data: 0x12345678n, fd: efd }));
  assert.equal(p.eventfdWrite(efd, 1), 8);
  assert.equal(liveness(d), ~0x12345678 >>> 0, 'the device saw the write');
});

test('VFIO_DEVICE_IOEVENTFD (5.8): an event already pending on the eventfd fires at registration (vfio_virqfd_enable polls)', () => {
  const { p, d } = openDevice(EDU0);
  const efd = p.eventfd(1, 0);
  unwrap(d.ioeventfd({ offset: BigInt(BAR0 + LIVENESS), size: 4, data: 0xabcdn, fd: efd }));
  assert.equal(liveness(d), ~0xabcd >>> 0);
});

test('claim 36 (5.8.0): an ioeventfd write to a memory BAR is performed while MEM is clear and is an Unsupported Request (H4)', () => {
  const { sys, p, d } = openDevice(EDU0);
  const efd = p.eventfd(0, 0);
  setMem(d, false);
  unwrap(d.ioeventfd({ offset: BigInt(BAR0 + LIVENESS), size: 4, data: 0x5a5an, fd: efd })); // registration ignores the memory state
  const seq = sys.events.lastSeq;
  assert.equal(p.eventfdWrite(efd, 1), 8);
  assert.equal(sys.platformErrors, 1, 'the write reached a BAR whose decode is off');
  assert.equal(countSince(sys, seq, 'platform.error', (e) => e.dir === 'w'), 1);
  assert.equal(countSince(sys, seq, 'vfio.blocked'), 0);
});

test('claim 36 (5.10+, checked-trylock): while MEM is clear the ioeventfd write is silently dropped', () => {
  const { sys, p, d } = openDevice(EDU0, { variant: knobs('checked-trylock') });
  const efd = p.eventfd(0, 0);
  const before = liveness(d);
  setMem(d, false);
  unwrap(d.ioeventfd({ offset: BigInt(BAR0 + LIVENESS), size: 4, data: 0x5a5an, fd: efd }));
  const seq = sys.events.lastSeq;
  assert.equal(p.eventfdWrite(efd, 1), 8, 'the eventfd write itself succeeds');
  assert.equal(sys.platformErrors, 0);
  assert.equal(countSince(sys, seq, 'mmio'), 0, 'nothing reached the device');
  assert.equal(countSince(sys, seq, 'vfio.blocked', (e) => e.path === 'ioeventfd'), 1);
  setMem(d, true);
  assert.equal(liveness(d), before, 'register unchanged');
  assert.equal(p.eventfdWrite(efd, 1), 8);
  assert.equal(liveness(d), ~0x5a5a >>> 0, 'enabled again: the write is performed');
});

for (const kernelConfig of ['debug', 'distro'] as const) {
  test(`claim 36 (5.9, checked-sleeping, ${kernelConfig} kernel): the write is dropped while MEM is clear, and down_read runs in atomic context — __might_sleep prints "BUG: sleeping function called from invalid context" at error level with a stack dump only with CONFIG_DEBUG_ATOMIC_SLEEP (debug), not as a WARNING`, () => {
    const { sys, p, d } = openDevice(EDU0, { variant: knobs('checked-sleeping'), kernelConfig });
    const efd = p.eventfd(0, 0);
    setMem(d, false);
    unwrap(d.ioeventfd({ offset: BigInt(BAR0 + LIVENESS), size: 4, data: 0x77n, fd: efd }));
    const seq = sys.events.lastSeq;
    p.eventfdWrite(efd, 1);
    assert.equal(sys.platformErrors, 0);
    const bug = (e: { level?: unknown; line?: unknown; stack?: unknown }): boolean => e.level === 'err' && e.stack === true && String(e.line) === 'BUG: sleeping function called from invalid context at kernel/locking/rwsem.c';
    assert.equal(countSince(sys, seq, 'printk', bug), kernelConfig === 'debug' ? 1 : 0);
    assert.equal(countSince(sys, seq, 'warn'), 0, 'not a WARNING');
    assert.equal(countSince(sys, seq, 'vfio.blocked', (e) => e.path === 'ioeventfd'), 1);
  });
}

test('IOEVENT (5.10+, checked-trylock): with memory_lock write-held by a reset, the write is deferred to a kworker and performed after the reset', () => {
  const { sys, p, d } = openDevice(EDU0, { variant: knobs('checked-trylock') });
  const efd = p.eventfd(0, 0);
  unwrap(d.ioeventfd({ offset: BigInt(BAR0 + LIVENESS), size: 4, data: 0x4242n, fd: efd }));
  const vcpu = p.thread('vcpu');
  start(sys, p.kthread, p.ops.ioctl(d.fd, VFIO_DEVICE_RESET, 0), 'reset');
  assert.ok(stepUntil(sys, p.kthread, () => holds(p.kthread, MEMORY_LOCK, 'w')));
  const buf = vcpu.alloc(8);
  vcpu.writeBytes(buf, new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]));
  start(sys, vcpu.kthread, vcpu.ops.write(efd, buf, 8), 'eventfd write');
  const seq = sys.events.lastSeq;
  stepUntil(sys, vcpu.kthread, () => vcpu.kthread.state !== 'runnable');
  assert.equal(vcpu.kthread.state, 'done', 'the eventfd writer never sleeps');
  assert.equal(countSince(sys, seq, 'lock.trylock-failed', (e) => e.cls === MEMORY_LOCK), 1, 'handler trylock contended');
  const kworker = sys.kernel.sched.threads.find((t) => t.name.startsWith('kworker/virqfd-inject'));
  assert.ok(kworker, 'inject work queued on a kworker');
  runAll(sys);
  assert.equal(sys.platformErrors, 0);
  assert.equal(liveness(d), ~0x4242 >>> 0, 'the deferred write reached the device after the reset');
});

test('VFIO_DEVICE_IOEVENTFD (5.8): removal with fd -1 stops the writes; duplicate, unknown and malformed requests get the kernel errno', () => {
  const { sys, p, d } = openDevice(EDU0);
  const efd = p.eventfd(0, 0);
  unwrap(d.ioeventfd({ offset: BigInt(BAR0 + LIVENESS), size: 4, data: 1n, fd: efd }));
  assert.deepEqual(d.ioeventfd({ offset: BigInt(BAR0 + LIVENESS), size: 4, data: 1n, fd: efd }), { ok: false, errno: 17 }, 'EEXIST for the same pos/bar/data/size');
  unwrap(d.ioeventfd({ offset: BigInt(BAR0 + LIVENESS), size: 4, data: 2n, fd: efd })); // different data: a second ioeventfd
  assert.deepEqual(d.ioeventfd({ offset: BigInt(BAR0 + LIVENESS), size: 2, data: 1n, fd: -1 }), { ok: false, errno: 19 }, 'ENODEV removing one that does not exist');
  unwrap(d.ioeventfd({ offset: BigInt(BAR0 + LIVENESS), size: 4, data: 1n, fd: -1 }));
  unwrap(d.ioeventfd({ offset: BigInt(BAR0 + LIVENESS), size: 4, data: 2n, fd: -1 }));
  const seq = sys.events.lastSeq;
  p.eventfdWrite(efd, 1);
  assert.equal(countSince(sys, seq, 'mmio'), 0, 'removed: no write');
  assert.deepEqual(d.ioeventfd({ offset: BigInt(vfioPciIndexToOffset(6)), size: 4, data: 1n, fd: efd }), { ok: false, errno: 22 }, 'EINVAL: ROM is not a BAR');
  assert.deepEqual(d.ioeventfd({ offset: BigInt(vfioPciIndexToOffset(7)), size: 4, data: 1n, fd: efd }), { ok: false, errno: 22 }, 'EINVAL: config is not a BAR');
  assert.deepEqual(d.ioeventfd({ offset: BigInt(BAR0 + 0x100000 - 2), size: 4, data: 1n, fd: efd }), { ok: false, errno: 22 }, 'EINVAL: past the BAR end');
  assert.deepEqual(d.ioeventfd({ offset: BigInt(vfioPciIndexToOffset(1)), size: 4, data: 1n, fd: efd }), { ok: false, errno: 22 }, 'EINVAL: BAR1 not implemented');
  assert.deepEqual(d.ioeventfd({ offset: BigInt(BAR0), size: 4, data: 1n, fd: 9999 }), { ok: false, errno: 9 }, 'EBADF: no such fd');
  assert.deepEqual(d.ioeventfd({ offset: BigInt(BAR0), size: 4, data: 1n, fd: d.fd }), { ok: false, errno: 22 }, 'EINVAL: not an eventfd');
  const raw = (flags: number, fd: number, argsz?: number): number =>
    rawIoctl(p, d.fd, VFIO_DEVICE_IOEVENTFD, encodeDeviceIoeventfd({ argsz, flags, offset: BAR0, data: 0, fd })).ret;
  assert.equal(raw(3, efd), -22, 'EINVAL: two size bits');
  assert.equal(raw(0x10 | 4, efd), -22, 'EINVAL: unknown flag');
  assert.equal(raw(0, efd), -22, 'EINVAL: no size bit');
  assert.equal(raw(4, -2), -22, 'EINVAL: fd < -1');
  assert.equal(raw(4, efd, 27), -22, 'EINVAL: argsz below offsetofend(fd)');
});

test('VFIO_DEVICE_IOEVENTFD (5.8): an ioeventfd over the MSI-X table is refused with EINVAL; beside it is accepted', () => {
  const { sys, p, d } = openDevice(NIC);
  const vdev = sys.vfioDevice(NIC);
  assert.ok(vdev && vdev.msixBar !== 0xff);
  const efd = p.eventfd(0, 0);
  const table = vfioPciIndexToOffset(vdev.msixBar) + vdev.msixOffset;
  assert.deepEqual(d.ioeventfd({ offset: BigInt(table), size: 4, data: 0n, fd: efd }), { ok: false, errno: 22 });
  const end = table + vdev.msixSize;
  assert.deepEqual(d.ioeventfd({ offset: BigInt(end - 2), size: 4, data: 0n, fd: efd }), { ok: false, errno: 22 }, 'straddling the table end');
  unwrap(d.ioeventfd({ offset: BigInt(end), size: 4, data: 0n, fd: efd }));
});

test('VFIO_DEVICE_IOEVENTFD (5.8): the last close of the device (vfio_pci_disable) tears every ioeventfd down', () => {
  const { sys, p, d } = openDevice(EDU0);
  const efd = p.eventfd(0, 0);
  unwrap(d.ioeventfd({ offset: BigInt(BAR0 + LIVENESS), size: 4, data: 3n, fd: efd }));
  assert.equal(sys.vfioDevice(EDU0)?.ioeventfds.length, 1);
  unwrap(d.close());
  assert.equal(sys.vfioDevice(EDU0)?.ioeventfds.length, 0);
  const seq = sys.events.lastSeq;
  p.eventfdWrite(efd, 1);
  assert.equal(countSince(sys, seq, 'mmio') + countSince(sys, seq, 'platform.error'), 0, 'no write after release');
});
