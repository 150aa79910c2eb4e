import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SimEvent } from '../../src/events/event.js';
import type { Task } from '../../src/kernel/sched/task.js';
import { world } from '../lockdep/helpers.js';

test('downgrade_write turns the held write into a read hold; a later down_write by the same function is held as a write again', () => {
  const w = world();
  const sem = w.rwsem('&mm->mmap_lock', 'mmap_lock:mm1');
  const t = w.thread('app');
  const seen: (readonly [string, string])[] = [];
  w.run(t, 'write, downgrade, release, write again', function* (): Task<void> {
    yield* sem.downWrite('do_munmap');
    seen.push(...t.held.map((h) => [h.lockId, h.mode] as const));
    yield* sem.downgradeWrite('do_munmap');
    seen.push(...t.held.map((h) => [h.lockId, h.mode] as const));
    yield* sem.upRead('do_munmap');
    yield* sem.downWrite('do_munmap');
    seen.push(...t.held.map((h) => [h.lockId, h.mode] as const));
    yield* sem.upWrite('do_munmap');
  });
  assert.deepEqual(seen, [
    ['mmap_lock:mm1', 'w'],
    ['mmap_lock:mm1', 'r'],
    ['mmap_lock:mm1', 'w'],
  ]);
  assert.equal(t.held.length, 0);
  assert.equal(sem.isLocked(), false);
});

test('lock operations whose scheduling points are passed (synchronous run: the lock\'s own fast path) release as scheduled ones do: same steps, events, held locks and lockdep state', () => {
  const trace = (events: readonly SimEvent[]) => events.map((e) => JSON.stringify({ ...e, tid: 0 }));
  const runs = [true, false].map((sync) => {
    const w = world();
    const a = w.rwsem('&vdev->memory_lock', 'memory_lock:0000:01:00.0');
    const b = w.mutex('&vdev->vma_lock', 'vma_lock:0000:01:00.0');
    const t = w.thread('app');
    const body = function* (): Task<void> {
      yield* b.lock('vfio_pci_zap_and_vma_lock');
      yield* a.downWrite('vfio_pci_zap_and_down_write_memory_lock');
      // out of order: vma_lock released under memory_lock, as in the kernel
      yield* b.unlock('vfio_pci_zap_and_down_write_memory_lock');
      yield* a.upWrite('vfio_basic_config_write');
    };
    if (sync) {
      w.run(t, 'zap and write-lock', body);
    } else {
      w.sched.start(t, body());
      assert.deepEqual(w.sched.run((rs) => rs[0] ?? t), { kind: 'done' });
    }
    return { steps: w.sched.steps, events: trace(w.events.all()), held: t.held.length, ldHeld: w.ld.heldLocks(t).length, deps: w.ld.dependencies().map((d) => `${d.from} -> ${d.to}`), locked: a.isLocked() || b.isLocked() };
  });
  const [sync, scheduled] = runs;
  assert.ok(sync !== undefined && scheduled !== undefined);
  assert.deepEqual(sync, scheduled);
  assert.equal(sync.held, 0);
  assert.equal(sync.ldHeld, 0);
  assert.equal(sync.locked, false);
  assert.deepEqual(sync.deps, ['&vdev->vma_lock -> &vdev->memory_lock']);
  assert.equal(sync.steps, 5, 'start plus one point per lock operation');
});
