/**
 * The trace viewer's data comes from the model: recordTrace replays a run and reads the
 * machine's objects after every step (machine-state.ts). These tests check what it reads
 * at the steps of H2 (vfio_pci_mmap_fault's remap racing a MEM disable, 5.8) and of the
 * v2 lockdep cycle against what the kernel does there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exploreScenario, loadScenario, type Scenario } from '../../src/index.js';
import { recordTrace } from '../../src/ui/trace-recorder.js';
import { resolveState, type MachineStateJson, type TraceJson } from '../../src/ui/protocol.js';
import { EXAMPLES } from './helpers.js';
import { ONE_DEVICE_SETUP } from '../scenario/helpers.js';

function load(file: string): Scenario {
  const l = loadScenario(readFileSync(join(EXAMPLES, file), 'utf8'), file);
  if (!l.ok) throw new Error(l.errors.map((e) => e.message).join('\n'));
  return l.scenario;
}

function stateAt(t: TraceJson, i: number): MachineStateJson {
  const ref = t.states[t.steps[i]?.state ?? -1];
  assert.ok(ref !== undefined, `a state after step ${i}`);
  return resolveState(t.pools, ref);
}
const EDU0 = '0000:01:00.0';

test("H2 under 5.8: the fault's remap installs PTEs into a vma the disable already took off vma_list, and the mapping outlives the disable", () => {
  const t = recordTrace(load('h2-fault-races-disable.yaml'), {});
  assert.equal(t.variant, '5.8');
  assert.deepEqual(t.threads.slice(-2), ['vcpu', 'main']);
  // the remap step: remap_pfn_range installs the whole BAR while the zapper has already zapped an empty range
  const zap = t.steps.findIndex((s) => s.events.some((e) => e.startsWith('zap_vma_ptes: PTEs zapped') && e.includes('(0 present)')));
  const remap = t.steps.findIndex((s) => s.events.some((e) => e.startsWith('remap_pfn_range: PTEs installed')));
  assert.ok(zap > 0 && remap > zap, `the zap of the empty range (${zap}) comes before the remap (${remap})`);
  assert.equal(t.steps[remap]?.thread, 'vcpu');
  const s = stateAt(t, remap);
  const vma = s.processes.flatMap((p) => p.vmas).find((v) => v.device === EDU0);
  assert.ok(vma !== undefined);
  assert.equal(vma.tracked, false, 'the vma is not on vma_list: the zapper deleted its node');
  assert.deepEqual(vma.present.map((r) => [r.pages, r.pfn, r.bar]), [[256, 0xc0000, 0]]);
  const dev = s.devices.find((d) => d.name === EDU0);
  assert.deepEqual(dev?.vmaList, []);
  // the fault holds memory_lock for read (and mmap_lock); the disabler holds vma_lock
  const lock = (id: string): MachineStateJson['locks'][number] | undefined => s.locks.find((l) => l.lock === id);
  assert.deepEqual(lock(`memory_lock:${EDU0}`)?.holders, [{ thread: 'vcpu', mode: 'r' }]);
  assert.deepEqual(lock(`vma_lock:${EDU0}`)?.holders, [{ thread: 'main', mode: 'w' }]);
  assert.equal(lock(`memory_lock:${EDU0}`)?.cls, '&vdev->memory_lock');
  // still decoding: the disable has not written the command register yet
  assert.equal(dev?.bars[0]?.decode, true);
  // the property breaks once the disable completes, with the PTEs still present and MEM clear
  const broken = t.violations.find((v) => v.property === 'stale-mapping');
  assert.ok(broken !== undefined && broken.step > remap);
  const after = stateAt(t, broken.step);
  const d2 = after.devices.find((d) => d.name === EDU0);
  assert.equal((d2?.vconfigCommand ?? 0) & 2, 0, "vfio-pci's virtual MEM bit is clear");
  assert.equal(d2?.hwCommand !== undefined && (d2.hwCommand & 2) === 0, true, 'the hardware MEM bit is clear');
  assert.equal(d2?.bars[0]?.decode, false);
  assert.equal(after.processes.flatMap((p) => p.vmas).find((v) => v.device === EDU0)?.present[0]?.pages, 256);
  assert.equal(t.steps[broken.step]?.breaks[0]?.property, 'stale-mapping');
  // the vCPU's next load reaches the device that no longer decodes: a platform error on the timeline
  const pe = t.steps.findIndex((x) => x.platformError);
  assert.ok(pe > broken.step);
  assert.equal(stateAt(t, pe).platformErrors, 1);
  // setup steps come first and are marked
  assert.equal(t.steps[0]?.setup, true);
  assert.equal(t.steps[remap]?.setup, false);
});

test('H2 under 5.13 (6a45ece4c9af holds vma_lock across the remap): no stale mapping is left', () => {
  const t = recordTrace(load('h2-fault-races-disable.yaml'), { variant: '5.13' });
  assert.equal(t.violations.some((v) => v.property === 'stale-mapping'), false);
});

test("an explorer counterexample's token replays to the same finding, with the state at each step", () => {
  const s = load('h2-fault-races-disable.yaml');
  const r = exploreScenario(s, { maxPreemptions: 2, noReplays: true });
  const cx = r.search.counterexamples.find((c) => c.property === 'stale-mapping');
  assert.ok(cx !== undefined);
  const t = recordTrace(s, { token: cx.token });
  assert.ok(t.finding?.includes('stale-mapping'));
  assert.ok(t.violations.some((v) => v.property === 'stale-mapping'));
  assert.ok(t.states.length > 1 && t.states.length <= t.steps.length + 1);
});

test('v2: lockdep reports the cycle kvm->lock -> vcpu->mutex -> memory_lock -> irqbypass lock (-> kvm->lock), and the graph holds the chain it found', () => {
  const t = recordTrace(load('v2-lockdep-cycle.yaml'), {});
  // check_noncircular: the lock being acquired (kvm->lock, under irqbypass's `lock`) reaches the held one through the recorded chain
  assert.deepEqual(t.lockdepCycle, ['&kvm->lock', '&vcpu->mutex', '&vdev->memory_lock', 'lock']);
  const cycle = t.lockdepCycle ?? [];
  const at = t.steps.findIndex((s) => s.lockdepCycle !== null);
  assert.ok(t.steps[at]?.events.some((e) => e.includes('possible circular locking dependency detected')));
  const g = stateAt(t, at).lockdep;
  for (let i = 0; i + 1 < cycle.length; i++) assert.ok(g.some((e) => e.from === cycle[i] && e.to === cycle[i + 1]), `${cycle[i]} -> ${cycle[i + 1]}`);
  // the closing dependency is the one refused: lockdep turns itself off without recording it
  assert.equal(g.some((e) => e.from === 'lock' && e.to === '&kvm->lock'), false);
  // under 5.8 (v3) irqbypass is registered after memory_lock is released: no report
  assert.equal(recordTrace(load('v2-lockdep-cycle.yaml'), { variant: '5.8' }).lockdepCycle, null);
});

/** A scenario's own properties (issue 12 §5), declared in its `properties:` section. */
const PREAD_VS_DISABLE_WITH_PROPERTIES = `name: pread vs disable, with properties
${ONE_DEVICE_SETUP}      - name: reader
        steps:
          - pread: { fd: dev, region: bar0, size: 4 }
      - name: main
        steps:
          - clear_mem: dev
properties:
  - name: pread-never-eio
    never: { step: reader, result: EIO }
  - name: disabled-and-zapped
    always:
      after: clear_mem
      state:
        memory_decode: { device: edu0, is: false }
        bar_ptes: { device: edu0, is: 0 }
  - name: no-user-config-write
    event: cfg.write
    where: { origin: vfio-user }
    at_most: 0
`;

test("a scenario's own properties are marked at the step where they break, as the explorer finds them: a state predicate (5.7's clear_mem leaves the BAR's PTEs: no zap before 5.8) at clear_mem's end, an event count at the config write that exceeds it, a result predicate (6.10's pread of a disabled BAR: -EIO) at the pread's end", () => {
  const l = loadScenario(PREAD_VS_DISABLE_WITH_PROPERTIES, 'p.yaml');
  assert.ok(l.ok, l.ok ? '' : l.errors.map((e) => e.message).join('\n'));
  const s = l.scenario;
  // 5.7: vfio_pci's config write clears MEM without zapping the user mapping
  const t57 = recordTrace(s, { variant: '5.7' });
  const zap = t57.violations.find((v) => v.property === 'disabled-and-zapped');
  assert.ok(zap !== undefined, t57.violations.map((v) => v.property).join(','));
  assert.ok(zap.step >= 0, 'a state predicate breaks at a step, not at the end');
  const zapStep = t57.steps[zap.step];
  assert.equal(zapStep?.thread, 'main');
  assert.match(zapStep.label, /clear_mem/);
  assert.ok(zapStep.breaks.some((b) => b.property === 'disabled-and-zapped'), zapStep.breaks.map((b) => b.property).join(','));
  assert.match(zap.message, /bar_ptes of edu0 is 256 /);
  // the event form: the first config.write past the limit, at the step that emitted it
  const cw = t57.violations.find((v) => v.property === 'no-user-config-write');
  assert.ok(cw !== undefined && cw.step >= 0, JSON.stringify(t57.violations));
  assert.equal(t57.steps[cw.step]?.thread, 'main');
  assert.match(t57.steps[cw.step]?.label ?? '', /clear_mem/);
  assert.ok(cw.step <= zap.step, 'the write comes before clear_mem ends');
  assert.ok(t57.steps[cw.step]?.breaks.some((b) => b.property === 'no-user-config-write'));
  // 6.10: the explorer's counterexample of the result predicate, replayed from its token
  const cx = exploreScenario(s, { variant: '6.10', maxPreemptions: 2, noReplays: true }).search.counterexamples.find((c) => c.property === 'pread-never-eio');
  assert.ok(cx !== undefined);
  const t610 = recordTrace(s, { token: cx.token });
  const eio = t610.violations.find((v) => v.property === 'pread-never-eio');
  assert.ok(eio !== undefined && eio.step >= 0, JSON.stringify(t610.violations));
  assert.equal(eio.message, cx.message, 'the message the explorer gives');
  assert.equal(t610.steps[eio.step]?.thread, 'reader');
  assert.ok(t610.steps[eio.step]?.breaks.some((b) => b.property === 'pread-never-eio'));
});
