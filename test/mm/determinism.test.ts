import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SimEvent } from '../../src/events/event.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../src/kernel/mm/types.js';
import { System } from '../../src/system.js';
import { Process } from '../../src/user/process.js';

/** The same user program on a fresh System: files of several kinds, memory, eventfd I/O, fork. */
function run(): { events: string[]; fileIds: number[]; childFileIds: number[] } {
  const sys = new System();
  const p = sys.spawnProcess('app');
  const fns = sys.hw.groups().find((g) => g.functions.some((f) => f.name === '0000:01:00.0'));
  assert.ok(fns !== undefined);
  const container = p.open('/dev/vfio/vfio');
  const group = p.open(`/dev/vfio/${fns.id}`);
  const efd = p.eventfd(3, 0);
  assert.ok(container >= 0 && group >= 0 && efd >= 0);
  const a = p.mmap(0, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert.ok(p.store(a + 8, 8, 0x1122334455667788n).ok);
  assert.equal(p.eventfdWrite(efd, 4), 8);
  assert.equal(p.eventfdRead(efd), 7n);
  const child = p.fork();
  assert.ok(child instanceof Process);
  const fileIds = [...p.kproc.files.fds.values()].map((f) => f.id);
  const childFileIds = [...child.kproc.files.fds.values()].map((f) => f.id);
  child.exit();
  assert.equal(p.close(group), 0);
  const events = sys.events.all().map((e: SimEvent) => JSON.stringify(e, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)));
  return { events, fileIds, childFileIds };
}

test('two Systems in one process number their struct files alike and emit identical event streams for identical input', () => {
  const first = run();
  const second = run();
  assert.ok(first.fileIds.length >= 3);
  // Files are numbered per kernel: the second System starts from 1 again.
  assert.deepEqual(second.fileIds, first.fileIds);
  assert.equal(Math.min(...first.fileIds), 1);
  // fork shares the parent's struct files (dup_fd takes references, it does not copy them).
  assert.deepEqual(first.childFileIds, first.fileIds);
  assert.ok(first.events.length > 50);
  assert.deepEqual(second.events, first.events);
});
