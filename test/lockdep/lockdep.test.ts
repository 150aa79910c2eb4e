import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describe } from '../../src/events/format.js';
import type { SimEvent } from '../../src/events/event.js';
import { world } from './helpers.js';

function lockdepEvents(evs: readonly SimEvent[]): Extract<SimEvent, { kind: 'lockdep' }>[] {
  return evs.filter((e): e is Extract<SimEvent, { kind: 'lockdep' }> => e.kind === 'lockdep');
}

test('lockdep: AB-BA taken in two serial runs (no deadlock happens) is reported as a possible circular locking dependency', () => {
  const w = world({ release: 'test' });
  const a = w.mutex('A', 'a0');
  const b = w.mutex('B', 'b0');
  const t1 = w.thread('t1');
  const t2 = w.thread('t2');
  w.run(t1, 'first A then B', function* () {
    yield* a.lock('f_ab');
    yield* b.lock('f_ab');
    yield* b.unlock('f_ab');
    yield* a.unlock('f_ab');
  });
  assert.equal(w.ld.reports.length, 0, 'one order alone is fine');
  assert.deepEqual(w.ld.dependencyKinds('A', 'B'), ['EN']);
  // The second run completes: the deadlock never happens, lockdep infers it.
  w.run(t2, 'first B then A', function* () {
    yield* b.lock('g_ba');
    yield* a.lock('g_ba');
    yield* a.unlock('g_ba');
    yield* b.unlock('g_ba');
  });
  assert.equal(t2.state, 'idle');
  assert.equal(w.ld.reports.length, 1);
  const r = w.ld.reports[0];
  assert.ok(r !== undefined);
  assert.equal(r.kind, 'circular');
  assert.deepEqual(r.classes, ['A', 'B']);
  assert.equal(r.comm, 't2');
  const lines = r.text.split('\n');
  assert.equal(lines[1], 'WARNING: possible circular locking dependency detected');
  assert.equal(lines[4], 't2/2 is trying to acquire lock:');
  assert.equal(lines[5], 'a0 (A){+.+.}-{3:3}, at: g_ba');
  assert.equal(lines[8], 'b0 (B){+.+.}-{3:3}, at: g_ba');
  // the existing dependency A -> B, with where it was made: t1's step and function
  const i = lines.indexOf('-> #1 (B){+.+.}-{3:3}:');
  assert.ok(i > 0);
  assert.deepEqual(lines.slice(i + 1, i + 4), ['       mutex_lock', '       f_ab', '       step "first A then B" (t1/1)']);
  assert.ok(r.text.includes('-> #0 (A){+.+.}-{3:3}:\n       mutex_lock\n       g_ba\n       step "first B then A" (t2/2)\n'));
  assert.ok(!r.text.includes('Chain exists of'), 'a direct inversion needs no chain summary');
  assert.ok(r.text.includes('  lock(B);\n                               lock(A);\n                               lock(B);\n  lock(A);\n'));
  assert.ok(r.text.includes('1 lock held by t2/2:\n #0: b0 (B){+.+.}-{3:3}, at: g_ba\n'));
  const evs = lockdepEvents(w.events.all());
  assert.equal(evs.length, 1);
  assert.equal(evs[0]?.text, r.text);
  assert.deepEqual(evs[0]?.classes, ['A', 'B']);
});

test('lockdep: classes, not instances — an order seen on one device\'s locks is checked against another device\'s', () => {
  const w = world();
  const v0 = w.mutex('&vdev->vma_lock', 'vma_lock:dev0');
  const m1 = w.rwsem('&vdev->memory_lock', 'memory_lock:dev1');
  const v1 = w.mutex('&vdev->vma_lock', 'vma_lock:dev1');
  const t = w.thread('qemu');
  w.run(t, 'fault dev0', function* () {
    yield* v0.lock('vfio_pci_mmap_fault');
    yield* m1.downRead('vfio_pci_mmap_fault');
    yield* m1.upRead('vfio_pci_mmap_fault');
    yield* v0.unlock('vfio_pci_mmap_fault');
  });
  w.run(t, 'bad order on dev1', function* () {
    yield* m1.downWrite('x');
    yield* v1.lock('x');
    yield* v1.unlock('x');
    yield* m1.upWrite('x');
  });
  assert.equal(w.ld.reports[0]?.kind, 'circular');
  assert.deepEqual(w.ld.reports[0]?.classes, ['&vdev->vma_lock', '&vdev->memory_lock']);
});

test('lockdep: down_read of an rwsem class already read-held is possible recursive locking (a queued writer would deadlock it)', () => {
  const w = world({ release: 'test' });
  const sem = w.rwsem('&vdev->memory_lock', 'memory_lock:0');
  const t = w.thread('qemu');
  w.run(t, 'read twice', function* () {
    yield* sem.downRead('outer');
    yield* sem.downRead('inner'); // the rwsem itself grants it: no writer is queued
    yield* sem.upRead('inner');
    yield* sem.upRead('outer');
  });
  assert.equal(t.state, 'idle');
  const r = w.ld.reports[0];
  assert.ok(r !== undefined);
  assert.equal(r.kind, 'recursive');
  assert.deepEqual(r.classes, ['&vdev->memory_lock']);
  assert.equal(
    r.text.split('\n').slice(0, 22).join('\n'),
    [
      '============================================',
      'WARNING: possible recursive locking detected',
      'test #1 Not tainted',
      '--------------------------------------------',
      'qemu/1 is trying to acquire lock:',
      'memory_lock:0 (&vdev->memory_lock){.+.+}-{3:3}, at: inner',
      '',
      'but task is already holding lock:',
      'memory_lock:0 (&vdev->memory_lock){.+.+}-{3:3}, at: outer',
      '',
      'other info that might help us debug this:',
      ' Possible unsafe locking scenario:',
      '',
      '       CPU0',
      '       ----',
      '  lock(&vdev->memory_lock);',
      '  lock(&vdev->memory_lock);',
      '',
      ' *** DEADLOCK ***',
      '',
      ' May be due to missing lock nesting notation',
      '',
    ].join('\n'),
  );
});

test('lockdep: two instances of one rwsem class read-nested are reported too (no nesting annotation in the model)', () => {
  const w = world();
  const s0 = w.rwsem('&vdev->memory_lock', 'memory_lock:0');
  const s1 = w.rwsem('&vdev->memory_lock', 'memory_lock:1');
  const t = w.thread('qemu');
  w.run(t, 'two devices', function* () {
    yield* s0.downRead('a');
    yield* s1.downRead('b');
    yield* s1.upRead('b');
    yield* s0.upRead('a');
  });
  assert.equal(w.ld.reports[0]?.kind, 'recursive');
});

test('lockdep: a recursive read under a read of the same class is allowed; a write under it is not', () => {
  const w = world();
  const x = w.rwlock('X');
  const t = w.thread('t');
  w.run(t, 'read read', function* () {
    yield* x.readLock('r1');
    yield* x.readLock('r2');
    yield* x.unlock('r2');
    yield* x.unlock('r1');
  });
  assert.equal(w.ld.reports.length, 0, 'recursive readers do not block each other');
  w.run(t, 'read write', function* () {
    yield* x.readLock('r1');
    yield* x.writeLock('w1');
    yield* x.unlock('w1');
    yield* x.unlock('r1');
  });
  assert.equal(w.ld.reports[0]?.kind, 'recursive');
});

test('lockdep: read/read AB-BA — non-recursive readers (down_read) form a strong cycle and are reported, recursive readers do not', () => {
  // down_read: A -(SN)-> B and B -(SN)-> A; writers queued on A and B deadlock both readers.
  const w = world();
  const a = w.rwsem('A');
  const b = w.rwsem('B');
  const t1 = w.thread('t1');
  const t2 = w.thread('t2');
  w.run(t1, 'A then B', function* () {
    yield* a.downRead('f');
    yield* b.downRead('f');
    yield* b.upRead('f');
    yield* a.upRead('f');
  });
  w.run(t2, 'B then A', function* () {
    yield* b.downRead('g');
    yield* a.downRead('g');
    yield* a.upRead('g');
    yield* b.upRead('g');
  });
  assert.deepEqual(w.ld.dependencyKinds('A', 'B'), ['SN']);
  assert.equal(w.ld.reports[0]?.kind, 'circular');
  assert.ok(w.ld.reports[0]?.text.includes('  rlock(B);\n'), 'the held read lock is shown as rlock');

  // recursive readers: A -(SR)-> B -(SR)-> A is not strong (-(xR)-> then -(Sx)->)
  const r = world();
  const ra = r.rwlock('A');
  const rb = r.rwlock('B');
  const u1 = r.thread('u1');
  const u2 = r.thread('u2');
  r.run(u1, 'A then B', function* () {
    yield* ra.readLock('f');
    yield* rb.readLock('f');
    yield* rb.unlock('f');
    yield* ra.unlock('f');
  });
  r.run(u2, 'B then A', function* () {
    yield* rb.readLock('g');
    yield* ra.readLock('g');
    yield* ra.unlock('g');
    yield* rb.unlock('g');
  });
  assert.deepEqual(r.ld.dependencyKinds('A', 'B'), ['SR']);
  assert.deepEqual(r.ld.dependencyKinds('B', 'A'), ['SR']);
  assert.equal(r.ld.reports.length, 0);
});

test('lockdep: strong-path rule (lockdep-design.rst) — X -(ER)-> Y -(SN)-> X is no deadlock; read_lock(X) write_lock(Y) vs read_lock(Y) write_lock(X) is', () => {
  // Task A: write_lock(X); read_lock(Y) [recursive]. Task B: read_lock(Y); write_lock(X).
  // A's recursive read of Y is not blocked by B's read: no deadlock, and not reported.
  const w = world();
  const x = w.rwlock('X');
  const y = w.rwlock('Y');
  const ta = w.thread('A');
  const tb = w.thread('B');
  w.run(ta, 'A', function* () {
    yield* x.writeLock('a');
    yield* y.readLock('a');
    yield* y.unlock('a');
    yield* x.unlock('a');
  });
  w.run(tb, 'B', function* () {
    yield* y.readLock('b');
    yield* x.writeLock('b');
    yield* x.unlock('b');
    yield* y.unlock('b');
  });
  assert.deepEqual(w.ld.dependencyKinds('X', 'Y'), ['ER']);
  assert.deepEqual(w.ld.dependencyKinds('Y', 'X'), ['SN']);
  assert.equal(w.ld.reports.length, 0, 'the cycle is not strong');

  // The document's deadlock: Task A: read_lock(X); write_lock(Y). Task B: read_lock(Y); write_lock(X).
  const d = world();
  const dx = d.rwlock('X');
  const dy = d.rwlock('Y');
  const da = d.thread('A');
  const db = d.thread('B');
  d.run(da, 'A', function* () {
    yield* dx.readLock('a');
    yield* dy.writeLock('a');
    yield* dy.unlock('a');
    yield* dx.unlock('a');
  });
  d.run(db, 'B', function* () {
    yield* dy.readLock('b');
    yield* dx.writeLock('b');
    yield* dx.unlock('b');
    yield* dy.unlock('b');
  });
  assert.deepEqual(d.ld.dependencyKinds('X', 'Y'), ['SN']);
  assert.equal(d.ld.reports[0]?.kind, 'circular');
  assert.deepEqual(d.ld.reports[0]?.classes, ['X', 'Y']);

  // The same shape as the first with down_read (a non-recursive reader): X -(EN)-> Y -(SN)-> X
  // is strong — a writer queued on Y blocks A's read while B waits for X.
  const n = world();
  const nx = n.rwsem('X');
  const ny = n.rwsem('Y');
  const na = n.thread('A');
  const nb = n.thread('B');
  n.run(na, 'A', function* () {
    yield* nx.downWrite('a');
    yield* ny.downRead('a');
    yield* ny.upRead('a');
    yield* nx.upWrite('a');
  });
  n.run(nb, 'B', function* () {
    yield* ny.downRead('b');
    yield* nx.downWrite('b');
    yield* nx.upWrite('b');
    yield* ny.upRead('b');
  });
  assert.deepEqual(n.ld.dependencyKinds('X', 'Y'), ['EN']);
  assert.equal(n.ld.reports[0]?.kind, 'circular');
});

test('lockdep: a trylock adds no dependency into the trylocked lock, but dependencies out of it, down to the first non-trylock', () => {
  const w = world();
  const a = w.mutex('A');
  const b = w.mutex('B');
  const c = w.mutex('C');
  const t = w.thread('t');
  w.run(t, 'A, trylock B, C', function* () {
    yield* a.lock('f');
    assert.equal(yield* b.trylock('f'), true);
    assert.deepEqual(
      w.ld.heldLocks(t).map((h) => [h.cls.name, h.trylock]),
      [
        ['A', false],
        ['B', true],
      ],
      'the trylocked lock is on the held stack',
    );
    yield* c.lock('f');
    yield* c.unlock('f');
    yield* b.unlock('f');
    yield* a.unlock('f');
  });
  assert.equal(w.ld.hasDependency('A', 'B'), false, 'no edge into a trylock');
  assert.deepEqual(w.ld.dependencyKinds('B', 'C'), ['EN'], 'edge out of the trylocked lock');
  assert.deepEqual(w.ld.dependencyKinds('A', 'C'), ['EN'], 'the search goes past the trylock to A');
  // B then A in another run: no cycle, since A -> B was a trylock.
  w.run(t, 'B then A', function* () {
    yield* b.lock('g');
    yield* a.lock('g');
    yield* a.unlock('g');
    yield* b.unlock('g');
  });
  assert.equal(w.ld.reports.length, 0);
  assert.ok(w.ld.hasDependency('B', 'A'));
});

test('lockdep: the chain-key cache validates a held-lock sequence once', () => {
  const w = world();
  const a = w.mutex('A');
  const b = w.rwsem('B');
  const t = w.thread('t');
  const body = function* () {
    yield* a.lock('f');
    yield* b.downRead('f');
    yield* b.upRead('f');
    yield* a.unlock('f');
  };
  w.run(t, 'first', body);
  const v1 = w.ld.stats.validations;
  const h1 = w.ld.stats.chainHits;
  assert.equal(v1, 2, 'chains [A] and [A, B(read)]');
  w.run(t, 'second', body);
  w.run(t, 'third', body);
  assert.equal(w.ld.stats.validations, v1, 'no chain validated again');
  assert.equal(w.ld.stats.chainHits, h1 + 4);
  assert.equal(w.ld.stats.bfsSearches, 1, 'one strong-path search, for A -> B, ever');
  // The same classes in another read mode are another chain.
  w.run(t, 'write', function* () {
    yield* a.lock('f');
    yield* b.downWrite('f');
    yield* b.upWrite('f');
    yield* a.unlock('f');
  });
  assert.equal(w.ld.stats.validations, v1 + 1);
  assert.deepEqual(w.ld.dependencyKinds('A', 'B'), ['EN'], 'read and write of B are both non-recursive: one kind');
});

test('lockdep: the first report turns lockdep off (debug_locks_off) and later inversions go unreported', () => {
  const w = world();
  const [a, b, c, d] = ['A', 'B', 'C', 'D'].map((n) => w.mutex(n)) as [ReturnType<typeof w.mutex>, ReturnType<typeof w.mutex>, ReturnType<typeof w.mutex>, ReturnType<typeof w.mutex>];
  const t = w.thread('t');
  const pair = (x: typeof a, y: typeof a) =>
    function* () {
      yield* x.lock('f');
      yield* y.lock('f');
      yield* y.unlock('f');
      yield* x.unlock('f');
    };
  w.run(t, 'ab', pair(a, b));
  w.run(t, 'ba', pair(b, a));
  assert.equal(w.ld.debugLocks, false);
  const acquires = w.ld.stats.acquires;
  w.run(t, 'cd', pair(c, d));
  w.run(t, 'dc', pair(d, c));
  assert.equal(w.ld.reports.length, 1);
  assert.equal(w.ld.stats.acquires, acquires, 'nothing is validated any more');
  const evs = lockdepEvents(w.events.all());
  assert.equal(evs.length, 1);
  assert.equal(evs[0]?.debugLocksOff, true);
  assert.ok(evs[0] !== undefined && describe(evs[0]).includes('turning off the locking correctness validator'));
});

test('lockdep: an out-of-order release re-validates the locks above it (reacquire_held_locks); the new dependency is attributed to where the re-acquired lock was taken', () => {
  const w = world();
  const a = w.mutex('A');
  const b = w.mutex('B');
  const c = w.rwsem('C');
  const t = w.thread('t');
  w.run(t, 'A B C, drop B first', function* () {
    yield* a.lock('f');
    yield* b.lock('f');
    yield* c.downRead('f');
    assert.equal(w.ld.hasDependency('A', 'C'), false, 'C nests under B only');
    yield* b.unlock('drop_b');
    yield* c.upRead('f');
    yield* a.unlock('f');
  });
  const dep = w.ld.dependencies().find((d) => d.from === 'A' && d.to === 'C');
  assert.ok(dep, 'the new chain [A, C] made A -> C');
  assert.deepEqual(dep.kinds, ['EN']);
  // reacquire_held_locks passes each entry's own acquire_ip: the report's `-> #n (C)`
  // frames show C's down_read in f, not the mutex_unlock that re-validated it
  assert.equal(dep.site.op, 'down_read');
  assert.equal(dep.site.fn, 'f');
});

test('lockdep: downgrade_write turns the held write into a read and re-validates the locks above it', () => {
  const w = world();
  const x = w.rwsem('X');
  const m = w.mutex('M');
  const t = w.thread('t');
  w.run(t, 'write, nest, downgrade', function* () {
    yield* x.downWrite('f');
    yield* m.lock('f');
    yield* x.downgradeWrite('g');
    assert.deepEqual(
      w.ld.heldLocks(t).map((h) => [h.cls.name, h.read, h.fn]),
      [
        ['X', 1, 'g'],
        ['M', 0, 'f'],
      ],
    );
    yield* m.unlock('f');
    yield* x.upRead('f');
  });
  assert.deepEqual(w.ld.dependencyKinds('X', 'M'), ['SN', 'EN'], 'X -> M seen with X written and with X read');
  assert.equal(w.events.count('lock.downgrade'), 1);
  assert.equal(w.ld.reports.length, 0);
});

test('lockdep: might_fault is a read acquisition of mmap_lock without holding it, so copy_to_user under a lock the fault path takes is reported', () => {
  const w = world();
  const mmap = w.rwsem('&mm->mmap_lock', 'mmap_lock:mm1');
  const m = w.mutex('&dev->lock', 'dev_lock');
  const t = w.thread('app');
  w.run(t, 'ioctl copying to user', function* () {
    yield* m.lock('dev_ioctl');
    w.ld.mightFault(t, mmap.id, mmap.cls, 'copy_to_user');
    assert.deepEqual(
      w.ld.heldLocks(t).map((h) => h.cls.name),
      ['&dev->lock'],
      'mmap_lock is not held afterwards',
    );
    yield* m.unlock('dev_ioctl');
  });
  assert.deepEqual(w.ld.dependencyKinds('&dev->lock', '&mm->mmap_lock'), ['EN']);
  assert.equal(mmap.isLocked(), false);
  w.run(t, 'page fault whose handler takes the device lock', function* () {
    yield* mmap.downRead('do_user_addr_fault');
    yield* m.lock('dev_fault');
    yield* m.unlock('dev_fault');
    yield* mmap.upRead('do_user_addr_fault');
  });
  const r = w.ld.reports[0];
  assert.equal(r?.kind, 'circular');
  assert.ok(r?.text.includes('-> #1 (&mm->mmap_lock){.+.+}-{3:3}:\n       __might_fault\n       copy_to_user\n'));
});
