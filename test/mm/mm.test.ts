import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EBADF, EINVAL, ENODEV, EOVERFLOW, ENOMEM } from '../../src/kernel/errno.js';
import { devfs } from '../../src/kernel/fs/devfs.js';
import { getFile, KFile } from '../../src/kernel/fs/file.js';
import { copyFromUser, copyToUser, getUserU32, putUserU64 } from '../../src/kernel/mm/access.js';
import { MmStruct, pageCount, TASK_SIZE } from '../../src/kernel/mm/mm.js';
import { doMmap } from '../../src/kernel/mm/mmap.js';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
  VM_PFNMAP,
} from '../../src/kernel/mm/types.js';
import { Process } from '../../src/user/process.js';
import { makeDevice, makeKernel, MMIO_BASE } from './fake.js';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

function setup() {
  const { k, hw } = makeKernel();
  const p = Process.create(k, 'app');
  const dev = makeDevice(k);
  devfs(k).register('/dev/fake', function* () {
    return getFile(dev.file);
  });
  return { k, hw, p, dev, mm: p.kproc.mm };
}

test('anonymous private memory is demand-zero paged: first touch faults, later accesses do not', () => {
  const { k, p, mm } = setup();
  const a = p.mmap(0, 3 * 4096, RW, ANON, -1, 0);
  assert.ok(a > 0 && a % 4096 === 0);
  assert.equal(mm.pt.size, 0, 'no PTE before first touch');
  assert.deepEqual(p.load(a + 4096, 4), { ok: true, value: 0n });
  assert.equal(k.events.count('fault'), 1);
  assert.equal(mm.pt.size, 1, 'only the touched page is populated');
  assert.deepEqual(p.store(a + 4096 + 8, 8, 0x1122334455667788n), { ok: true, value: 0n });
  assert.deepEqual(p.load(a + 4096 + 8, 8), { ok: true, value: 0x1122334455667788n });
  assert.deepEqual(p.load(a + 4096 + 8, 2), { ok: true, value: 0x7788n });
  assert.equal(k.events.count('fault'), 1, 'present PTE: no further fault');
});

test('a page-crossing store and load assemble bytes from both pages', () => {
  const { p } = setup();
  const a = p.mmap(0, 2 * 4096, RW, ANON, -1, 0);
  assert.ok(p.store(a + 4094, 4, 0xa1b2c3d4).ok);
  assert.deepEqual(p.load(a + 4094, 4), { ok: true, value: 0xa1b2c3d4n });
  assert.deepEqual(p.load(a + 4096, 1), { ok: true, value: 0xb2n });
});

test('the present-PTE fast path takes the same scheduler steps as runSync', () => {
  const { k, p } = setup();
  const a = p.mmap(0, 4096, RW, ANON, -1, 0);
  p.store(a, 4, 7);
  const s0 = k.sched.steps;
  assert.deepEqual(p.load(a, 4), { ok: true, value: 7n });
  const fast = k.sched.steps - s0;
  const s1 = k.sched.steps;
  const r = k.sched.runSync(p.kthread, p.ops.load(a, 4));
  assert.deepEqual(r, { ok: true, value: 7n });
  assert.equal(fast, k.sched.steps - s1);
  assert.equal(p.kthread.state, 'idle');
});

test('copy_to_user / copy_from_user fault anonymous pages in and return bytes not copied', () => {
  const { k, p } = setup();
  const a = p.mmap(0, 2 * 4096, RW, ANON, -1, 0);
  const data = new Uint8Array(6000).map((_, i) => i & 0xff);
  assert.equal(k.sched.runSync(p.kthread, copyToUser(k, a + 100, data)), 0);
  const back = new Uint8Array(6000);
  assert.equal(k.sched.runSync(p.kthread, copyFromUser(k, a + 100, back)), 0);
  assert.deepEqual(back, data);
  // The kernel fault path took mmap_lock for read without FAULT_FLAG_USER.
  const faults = k.events.all().filter((e) => e.kind === 'fault');
  assert.ok(faults.length >= 2);
  assert.ok(faults.every((e) => e.kind === 'fault' && !e.user));
  // A copy running off the end of the mapping stops there.
  const tail = new Uint8Array(200);
  assert.equal(k.sched.runSync(p.kthread, copyToUser(k, a + 2 * 4096 - 50, tail)), 150);
  const src = new Uint8Array(100).fill(9);
  const dst = new Uint8Array(100).fill(1);
  assert.equal(k.sched.runSync(p.kthread, copyFromUser(k, a + 2 * 4096 - 40, dst)), 60);
  assert.ok(dst.subarray(40).every((b) => b === 0), 'uncopied tail zeroed');
  void src;
  assert.equal(k.sched.runSync(p.kthread, copyToUser(k, TASK_SIZE - 4, new Uint8Array(8))), 8, 'access_ok fails');
  assert.equal(k.sched.runSync(p.kthread, putUserU64(k, a, 0x0102030405060708n)), 0);
  assert.equal(k.sched.runSync(p.kthread, getUserU32(k, a)), 0x05060708);
  assert.equal(k.sched.runSync(p.kthread, getUserU32(k, 0x1000)), null);
});

test('copy_to_user into a device mapping reaches the device in naturally aligned chunks', () => {
  const { k, hw, p } = setup();
  const fd = p.open('/dev/fake');
  const a = p.mmap(0, 4096, RW, MAP_SHARED, fd, 0);
  assert.ok(a > 0);
  const data = new Uint8Array(13).map((_, i) => 0x10 + i);
  assert.equal(k.sched.runSync(p.kthread, copyToUser(k, a + 3, data)), 0);
  const writes = hw.accesses.filter((x) => x.dir === 'w');
  assert.deepEqual(
    writes.map((w) => [w.addr - MMIO_BASE, w.size]),
    [
      [3, 1],
      [4, 4],
      [8, 8],
    ],
  );
  assert.deepEqual(hw.mmio.subarray(3, 16), data);
  const back = new Uint8Array(13);
  assert.equal(k.sched.runSync(p.kthread, copyFromUser(k, a + 3, back)), 0);
  assert.deepEqual(back, data);
});

test('mmap validation: EINVAL, EBADF, ENODEV, EOVERFLOW, ENOMEM as the kernel returns them', () => {
  const { k, p } = setup();
  const fd = p.open('/dev/fake');
  assert.equal(p.mmap(0, 0, RW, ANON, -1, 0), -EINVAL, 'len 0');
  assert.equal(p.mmap(0, 4096, RW, MAP_ANONYMOUS, -1, 0), -EINVAL, 'neither shared nor private');
  assert.equal(p.mmap(0x10000123, 4096, RW, ANON | MAP_FIXED, -1, 0), -EINVAL, 'misaligned MAP_FIXED');
  assert.equal(p.mmap(0, 4096, RW, MAP_SHARED, fd, 100), -EINVAL, 'offset not page aligned');
  assert.equal(p.mmap(0, 4096, RW, MAP_SHARED, -1, 0), -EBADF, 'fd -1 without MAP_ANONYMOUS');
  assert.equal(p.mmap(0, 4096, RW, MAP_SHARED, 77, 0), -EBADF);
  assert.equal(p.mmap(0, 4096, RW, MAP_PRIVATE, fd, 0), -EINVAL, 'the driver refuses private mappings');
  assert.equal(p.mmap(0, TASK_SIZE + 4096, RW, ANON, -1, 0), -ENOMEM);
  // A file without an mmap op.
  const plain = new KFile('plain', {}, 2);
  devfs(k).register('/dev/plain', function* () {
    return getFile(plain);
  });
  const pfd = p.open('/dev/plain');
  assert.equal(p.mmap(0, 4096, RW, MAP_SHARED, pfd, 0), -ENODEV);
  const over = k.sched.runSync(p.kthread, doMmap(k, p.kproc, 0, 8192, RW, MAP_SHARED, plain, Number.MAX_SAFE_INTEGER));
  assert.equal(over, -EOVERFLOW);
  assert.equal(p.kproc.mm.vmas.length, 0, 'no vma left behind');
});

test('a driver mmap error is returned, the vma freed and the file reference dropped', () => {
  const { p, dev } = setup();
  const fd = p.open('/dev/fake');
  const refs = dev.file.refs;
  dev.mmapError = -16;
  assert.equal(p.mmap(0, 4096, RW, MAP_SHARED, fd, 0), -16);
  assert.equal(dev.file.refs, refs);
  assert.equal(p.kproc.mm.vmas.length, 0);
});

test('MAP_FIXED over an existing mapping unmaps it first (vm_ops.close runs)', () => {
  const { p, dev } = setup();
  const fd = p.open('/dev/fake');
  const a = p.mmap(0, 2 * 4096, RW, MAP_SHARED, fd, 0);
  assert.ok(p.load(a, 4).ok);
  const b = p.mmap(a, 2 * 4096, RW, ANON | MAP_FIXED, -1, 0);
  assert.equal(b, a);
  assert.equal(dev.log.closes.length, 1);
  assert.equal(dev.log.closes[0]?.live, false);
  assert.deepEqual(p.load(a, 4), { ok: true, value: 0n }, 'now anonymous memory');
});

test('munmap of the middle of a driver vma splits it: open on each new piece, close on the removed one', () => {
  const { k, p, dev, mm } = setup();
  const fd = p.open('/dev/fake');
  const a = p.mmap(0, 4 * 4096, RW, MAP_SHARED, fd, 0);
  assert.ok(p.store(a, 4, 1).ok);
  assert.equal(mm.presentPtes(a, a + 4 * 4096), 4, 'fault remapped the whole vma');
  const refs = dev.file.refs;
  assert.equal(p.munmap(a + 4096, 4096), 0);
  assert.equal(dev.log.opens.length, 2, '__split_vma calls ->open for each new vma');
  assert.equal(dev.log.closes.length, 1);
  const closed = dev.log.closes[0];
  assert.ok(closed !== undefined);
  assert.equal(closed.start, a + 4096);
  assert.equal(closed.end, a + 2 * 4096);
  assert.equal(closed.live, false);
  assert.equal(dev.log.closeUnderRead[0], true, 'munmap downgrades mmap_lock before ->close');
  assert.deepEqual(
    mm.vmas.map((v) => [v.start - a, v.end - a, v.pgoff - (mm.vmas[0]?.pgoff ?? 0)]),
    [
      [0, 4096, 0],
      [2 * 4096, 4 * 4096, 2],
    ],
  );
  assert.equal(dev.file.refs, refs + 1, 'two vmas now hold the file: one ref gained by split, one dropped');
  // The open of the upper piece zapped its PTEs; the lower piece keeps its PTE.
  assert.equal(mm.presentPtes(a, a + 4096), 1);
  assert.equal(mm.presentPtes(a + 2 * 4096, a + 4 * 4096), 0);
  // The hole raises SIGSEGV; the upper piece refaults to the right pfn.
  const hole = p.load(a + 4096, 4);
  assert.deepEqual(hole, { ok: false, signal: 'SIGSEGV', code: 'SEGV_MAPERR', addr: a + 4096 });
  assert.ok(p.store(a + 3 * 4096, 4, 0xbeef).ok);
  assert.equal(mm.pt.get((a + 3 * 4096) / 4096)?.pfn, MMIO_BASE / 4096 + 3);
  assert.equal(k.events.count('munmap'), 1);
  assert.equal(p.munmap(a + 1, 4096), -EINVAL);
  assert.equal(p.munmap(a, 0), -EINVAL);
  assert.equal(p.munmap(0x20000000, 4096), 0, 'nothing mapped: success');
});

test('SIGBUS (BUS_ADRERR) when the fault handler fails, SIGSEGV MAPERR/ACCERR otherwise', () => {
  const { k, p, dev } = setup();
  const fd = p.open('/dev/fake');
  const a = p.mmap(0, 2 * 4096, RW, MAP_SHARED, fd, 0);
  dev.enabled = false;
  assert.deepEqual(p.load(a + 4096 + 4, 4), { ok: false, signal: 'SIGBUS', code: 'BUS_ADRERR', addr: a + 4096 + 4 });
  const sig = k.events.all().filter((e) => e.kind === 'signal');
  assert.equal(sig.length, 1);
  assert.equal(sig[0]?.kind === 'signal' && sig[0].sig, 'SIGBUS');
  const f = k.events.all().filter((e) => e.kind === 'fault');
  assert.ok(f.length === 1 && f[0]?.kind === 'fault' && f[0].user && f[0].result === 'SIGBUS');
  assert.equal(p.kthread.held.length, 0, 'mmap_lock released after the fault');
  dev.enabled = true;
  assert.ok(p.load(a, 4).ok, 'works again once enabled: refault repopulates');
  const ro = p.mmap(0, 4096, PROT_READ, ANON, -1, 0);
  assert.deepEqual(p.store(ro, 4, 1), { ok: false, signal: 'SIGSEGV', code: 'SEGV_ACCERR', addr: ro });
  assert.deepEqual(p.load(0x1000, 1), { ok: false, signal: 'SIGSEGV', code: 'SEGV_MAPERR', addr: 0x1000 });
  const w = p.writeBytes(a + 4090, new Uint8Array(10));
  assert.ok(w.ok);
  dev.enabled = false;
  // zap by reopening a fresh mapping: a never-touched mapping faults to SIGBUS
  const b = p.mmap(0, 4096, RW, MAP_SHARED, fd, 0);
  const r = p.readBytes(b, 16);
  assert.ok(!r.ok && r.signal === 'SIGBUS' && r.data.length === 0);
});

test('user memcpy helpers and alloc work over anonymous memory; exit closes every vma', () => {
  const { p, dev, mm } = setup();
  const buf = p.alloc(100);
  const buf2 = p.alloc(8);
  assert.ok(buf > 0 && buf2 >= buf + 100 && buf2 % 16 === 0);
  const d = new Uint8Array([1, 2, 3, 4, 5]);
  assert.deepEqual(p.writeBytes(buf, d), { ok: true });
  const r = p.readBytes(buf, 5);
  assert.ok(r.ok);
  assert.deepEqual(r.data, d);
  const fd = p.open('/dev/fake');
  p.mmap(0, 4096, RW, MAP_SHARED, fd, 0);
  const t2 = p.thread('app-t2');
  assert.deepEqual(t2.load(buf, 1), { ok: true, value: 1n }, 'threads share the address space');
  const refs = dev.file.refs;
  p.exit();
  assert.equal(dev.log.closes.length, 1);
  assert.equal(mm.vmas.length, 0);
  assert.equal(mm.pt.size, 0);
  assert.equal(dev.file.refs, refs - 2, 'the vma and the fd reference are dropped');
});

test('anonymous pages are freed when unmapped', () => {
  const { k, hw, p } = setup();
  const a = p.mmap(0, 4 * 4096, RW, ANON, -1, 0);
  for (let i = 0; i < 4; i++) p.store(a + i * 4096, 1, 1);
  const pfn = p.kproc.mm.pt.get(a / 4096)?.pfn ?? -1;
  assert.equal(pageCount(k, pfn), 1);
  const before = hw.ram.pages.size;
  assert.equal(p.munmap(a, 4 * 4096), 0);
  assert.equal(hw.ram.pages.size, before - 4);
  assert.ok(p.kproc.mm instanceof MmStruct);
  void VM_PFNMAP;
});

test('anonymous MAP_SHARED memory is shared with a forked child; private memory is copied', () => {
  const { p } = setup();
  const sh = p.mmap(0, 4096, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  const pr = p.mmap(0, 4096, RW, ANON, -1, 0);
  p.store(pr, 4, 5);
  const c = p.fork();
  assert.ok(typeof c !== 'number');
  // Shared page first touched in the child after fork is still shared.
  c.store(sh, 4, 42);
  assert.deepEqual(p.load(sh, 4), { ok: true, value: 42n });
  c.store(pr, 4, 6);
  assert.deepEqual(p.load(pr, 4), { ok: true, value: 5n }, 'private copy');
  assert.deepEqual(c.load(pr, 4), { ok: true, value: 6n });
});
