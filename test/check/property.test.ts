/**
 * The built-in property monitors (src/check/property.ts) driven directly, outside the
 * explorer: what each check reads and when it reports.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { builtinMonitors, type Violation } from '../../src/check/property.js';
import { asMm } from '../../src/kernel/mm/mm.js';
import { unwrap } from '../../src/user/vfio-client.js';
import { EDU0, openDevice, PROT_RW, setMem, start, stepUntil } from '../claims/helpers.js';

const BAR0_LEN = 0x100000;

/**
 * edu0 opened under 5.8 with BAR0 mapped and faulted in (one vma_list node), and the
 * built-in monitors attached to its events: `opEnd()` marks the end of a user operation as
 * a run does, `afterStep()` is the explorer's call after each scheduler step, `touches`
 * what the checks report they read or write (the footprint).
 */
function faulted() {
  const { sys, p, d } = openDevice(EDU0);
  const got: Violation[] = [];
  const touches: string[] = [];
  const monitors = builtinMonitors(sys, (v) => got.push(v), (obj, access) => touches.push(`${access}:${obj}`));
  sys.events.on((ev) => {
    for (const m of monitors) m.onEvent?.(ev);
  });
  const opEnd = (): void => {
    sys.events.emit({ kind: 'scenario.step', thread: 'other', step: 1, phase: 'end', text: 'ok', verdict: 'none' });
  };
  const afterStep = (): void => {
    for (const m of monitors) m.afterStep?.(p.kthread);
  };
  const addr = unwrap(d.mmapRegion(0, { length: BAR0_LEN, prot: PROT_RW }));
  assert.ok(p.load(addr, 4).ok);
  const vdev = sys.vfioDevice(EDU0);
  assert.ok(vdev !== undefined);
  assert.equal(vdev.vmaList.length, 1, 'the fault listed the vma');
  const vma = vdev.vmaList[0];
  assert.ok(vma !== undefined);
  return { sys, p, d, addr, vdev, vma, mm: asMm(p.kproc.mm), got, touches, opEnd, afterStep };
}

const tracking = (got: readonly Violation[]): Violation[] => got.filter((v) => v.property === 'tracking');

test('tracking (spec: "no node for a freed vma"): a vma_list node left behind for a vma that munmap freed is reported at the next operation end; the same node while its vma is live is not (5.8: vfio_pci_mmap_close drops one node per close)', () => {
  const { p, addr, vdev, vma, got, opEnd } = faulted();
  // a second node for the same vma, as 5.8's fault (no duplicate check) leaves when two
  // faults list one vma; close drops only the first it finds
  vdev.vmaList.push(vma);
  opEnd();
  assert.deepEqual(tracking(got), [], 'a duplicate node of a live vma is not a node for a freed vma');
  assert.equal(p.munmap(addr, BAR0_LEN), 0);
  assert.equal(vma.live, false, 'munmap freed the vma');
  assert.equal(vdev.vmaList.length, 1, 'close dropped one of the two nodes');
  opEnd();
  const v = tracking(got);
  assert.equal(v.length, 1);
  assert.match(v[0]?.message ?? '', /holds a node for a freed vma \[0x[0-9a-f]+, 0x[0-9a-f]+\)/);
});

test('tracking: a vma munmap has detached from the mm but not yet closed is not freed — an operation ending in that window is no violation (remove_vma, mm/mmap.c 5.8: ->close, then vm_area_free)', () => {
  const { sys, p, addr, vdev, vma, mm, got, opEnd } = faulted();
  start(sys, p.kthread, p.ops.munmap(addr, BAR0_LEN), 'munmap');
  assert.ok(stepUntil(sys, p.kthread, () => !mm.vmas.some((v) => v === vma)), 'munmap detached the vma');
  assert.equal(vma.live, true);
  assert.equal(vdev.vmaList.length, 1, 'the node is still there: ->close has not run');
  opEnd();
  assert.deepEqual(tracking(got), []);
  assert.ok(stepUntil(sys, p.kthread, () => !vma.live), 'munmap ran on until it freed the vma');
  assert.equal(vdev.vmaList.length, 0, 'close dropped the node');
  assert.equal(vma.live, false);
  opEnd();
  assert.deepEqual(tracking(got), []);
});

test('monitor footprints (the explorer\'s dependency relation): checks at an operation end read monitor:memory-off and monitor:vma-list, and with memory off every live page table; a step that turns memory off writes monitor:memory-off, one that changes nothing writes nothing', () => {
  const { d, mm, touches, opEnd, afterStep } = faulted();
  touches.length = 0;
  afterStep();
  assert.equal(touches.join(' '), '', 'nothing changed since the monitors were made');
  opEnd();
  assert.ok(touches.includes('r:monitor:memory-off') && touches.includes('r:monitor:vma-list'), touches.join(' '));
  assert.ok(!touches.some((t) => t.startsWith('r:pt:')), 'memory on: the page tables are not read');
  setMem(d, false);
  touches.length = 0;
  afterStep();
  assert.ok(touches.includes('w:monitor:memory-off'), touches.join(' '));
  assert.ok(touches.includes('w:monitor:vma-list') === false, 'the zap emptied vma_list of live nodes only');
  touches.length = 0;
  opEnd();
  assert.ok(touches.includes(`r:${mm.ptObj}`), touches.join(' '));
});
