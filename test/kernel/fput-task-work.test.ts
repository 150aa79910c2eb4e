/**
 * fput defers the release of a file to task_work (fs/file_table.c fput → task_work_add;
 * __fput runs on return to user space, or in exit_task_work at exit): a last reference
 * dropped under mmap_lock (munmap's remove_vma, exit_mmap) never runs ->release there.
 * The sequence below (MAP_DMA, mmap a BAR, close device/group/container, then munmap
 * the BAR or exit) once gave "DEADLOCK — main waits for mmap_lock held by main" and a
 * lockdep report on every variant.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScenario, type RunResult } from '../../src/scenario/index.js';
import { variantNames } from '../../src/scenario/variant.js';
import type { SimEvent } from '../../src/events/event.js';
import { load, MAIN_OPENS_EDU0 } from '../scenario/helpers.js';

const OPEN_MAP_CLOSE = `${MAIN_OPENS_EDU0}          - mmap: { anonymous: true, length: 0x2000 }
            as: ram
          - ioctl: { fd: dev.container, cmd: MAP_DMA, vaddr: ram, iova: 0x100000, size: 0x2000 }
            expect: ok
          - mmap: { fd: dev, region: bar0 }
            as: bar
          - load: bar
            expect: 0x010000ed
          - close: dev
          - close: dev.group
          - close: dev.container
`;

function run(variant: string, tail: string): RunResult {
  return runScenario(load(`name: last fput under mmap_lock\nvariant: '${variant}'\nexpect: { deadlock: false }\n${OPEN_MAP_CLOSE}${tail}`), { schedule: 'rr' });
}

/** Whether the thread of event `i` held an mmap_lock just before it (from the lock events). */
function mmapLockHeldAt(events: readonly SimEvent[], i: number): boolean {
  const tid = events[i]?.tid;
  let held = 0;
  for (let j = 0; j < i; j++) {
    const e = events[j];
    if (e === undefined || e.tid !== tid || !('cls' in e) || e.cls !== '&mm->mmap_lock') continue;
    if (e.kind === 'lock.acquire') held++;
    else if (e.kind === 'lock.release') held--;
  }
  return held > 0;
}

/** The device's release ran (it takes the container's group_lock to detach the group), and never under mmap_lock. */
function assertReleasedOutsideMmapLock(r: RunResult): void {
  const i = r.events.findIndex((e) => e.kind === 'lock.acquire' && e.cls === '&container->group_lock' && e.fn === '__vfio_group_unset_container');
  assert.ok(i >= 0, 'the group was detached from its container (the last fput released it)');
  assert.equal(mmapLockHeldAt(r.events, i), false, 'release ran with mmap_lock held');
}

for (const v of variantNames()) {
  test(`${v}: munmap of the last BAR mapping after closing every fd releases the device at syscall exit (task_work), no self-deadlock`, () => {
    const r = run(v, '          - munmap: bar\n            expect: ok\n');
    assert.equal(r.end.kind, 'done', r.end.reason ?? '');
    assert.deepEqual(r.lockdep.map((e) => (e.kind === 'lockdep' ? e.title : e.kind)), []);
    assert.ok(r.ok);
    assertReleasedOutsideMmapLock(r);
    const munmap = r.events.findIndex((e) => e.kind === 'syscall' && e.name === 'munmap' && e.ret === 0);
    const unset = r.events.findIndex((e) => e.kind === 'lock.acquire' && e.fn === '__vfio_group_unset_container');
    assert.ok(munmap >= 0 && unset > munmap, 'the release runs after munmap itself returned (on the way back to user space)');
  });

  test(`${v}: process exit with the BAR still mapped and every fd closed releases the device in exit_task_work, no lockdep report`, () => {
    const r = run(v, '          - exit:\n');
    assert.equal(r.end.kind, 'done', r.end.reason ?? '');
    assert.deepEqual(r.lockdep.map((e) => (e.kind === 'lockdep' ? e.title : e.kind)), []);
    assert.ok(r.ok);
    assertReleasedOutsideMmapLock(r);
  });
}
