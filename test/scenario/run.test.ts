/**
 * Running scenarios under schedules: round-robin, seeded random and explicit lists
 * interleave the threads at the kernel's scheduling points; replay tokens reproduce a
 * run's event stream exactly; deadlocks are reported with their wait-for cycle and
 * kernel BUGs with the step that hit them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { formatEvent } from '../../src/events/format.js';
import {
  decodeToken,
  encodeToken,
  formatScenarioError,
  loadScenario,
  runScenario,
  ScenarioInputError,
  waitCycle,
  type RunResult,
  type Scenario,
} from '../../src/scenario/index.js';

const EXAMPLES = new URL('../../../examples/', import.meta.url);

function load(text: string, file = 'test.yaml'): Scenario {
  const r = loadScenario(text, file);
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatScenarioError).join('\n'));
  return r.scenario;
}

function example(name: string): Scenario {
  return load(readFileSync(new URL(name, EXAMPLES), 'utf8'), name);
}

/** Two threads of one process on an already-faulted mapping (no first-fault race). */
const TWO = `
name: two threads
processes:
  - name: qemu
    setup:
      - open_device: edu0
        as: dev
      - mmap: { fd: dev, region: bar0 }
        as: bar
      - load: bar
        expect: 0x010000ed
    threads:
      - name: a
        steps:
          - store: { at: bar+0x4, value: 0x11 }
          - load: bar+0x4
          - pread: { fd: dev, region: bar0, size: 4 }
            expect: 0x010000ed
      - name: b
        steps:
          - load: bar
            expect: 0x010000ed
          - pread: { fd: dev, region: bar0+0x4, size: 4 }
          - load: bar+0x8
`;

/**
 * The event stream as text. Container and type1 ids come from module-level counters in
 * src/kernel/vfio (not per machine), so they differ between two Systems in one Node
 * process; they are masked here (a fresh CLI process always numbers them alike).
 */
const lines = (r: RunResult): string[] => r.events.map((e) => formatEvent(e).replace(/\b(container_group_lock|iommu_lock):\d+/g, '$1:#'));
const stepSeq = (r: RunResult, thread: string, index: number, which: 'startSeq' | 'endSeq'): number => {
  const s = r.steps.find((x) => x.thread === thread && x.index === index);
  assert.ok(s !== undefined, `${thread} step ${index}`);
  return s[which];
};

test('round-robin alternates the two threads at every scheduling point where both can run', () => {
  const r = runScenario(load(TWO), { schedule: 'rr' });
  assert.equal(r.end.kind, 'done');
  assert.ok(r.ok, JSON.stringify(r.steps.map((s) => [s.thread, s.index, s.result, s.why])));
  assert.ok(r.choices.length > 4, 'the run had choices');
  // b starts before a has finished: the threads are interleaved
  assert.ok(stepSeq(r, 'b', 1, 'startSeq') < stepSeq(r, 'a', 3, 'endSeq'));
  // round-robin over two threads: consecutive choices differ
  for (let i = 1; i < r.choices.length; i++) assert.notEqual(r.choices[i], r.choices[i - 1], `choice ${i}`);
});

test('an explicit schedule runs the named thread at each choice: a*1000 runs a to completion first, b*1000 the reverse', () => {
  const s = load(TWO);
  const ab = runScenario(s, { schedule: 'a*1000' });
  assert.ok(ab.ok);
  assert.ok(stepSeq(ab, 'a', 3, 'endSeq') < stepSeq(ab, 'b', 1, 'startSeq'), 'a finished before b started');
  const ba = runScenario(s, { schedule: ['b*1000'] });
  assert.ok(ba.ok);
  assert.ok(stepSeq(ba, 'b', 3, 'endSeq') < stepSeq(ba, 'a', 1, 'startSeq'), 'b finished before a started');
  assert.deepEqual(ab.scheduleWarnings, []);
});

test('a list entry naming a thread that is not runnable falls back to round-robin and says so', () => {
  const three = TWO.replace('      - name: b\n', '      - name: c\n        steps:\n          - load: bar\n      - name: b\n');
  const r = runScenario(load(three), { schedule: 'a*1000,a' });
  assert.ok(r.ok);
  assert.match(r.scheduleWarnings.join('\n'), /schedule entry 'a' at choice \d+: a is not runnable/);
});

test('the random schedule is a pure function of its seed; different seeds give different interleavings', () => {
  const s = load(TWO);
  const r1 = runScenario(s, { schedule: 'random', seed: 7 });
  const r2 = runScenario(s, { seed: 7 });
  assert.deepEqual(r1.choices, r2.choices);
  assert.deepEqual(lines(r1), lines(r2));
  assert.equal(r1.token, r2.token);
  const seqs = new Set([1, 2, 3, 4, 5, 6].map((seed) => runScenario(s, { seed }).choices.join('')));
  assert.ok(seqs.size > 1, 'some seeds interleave differently');
  for (const seed of [1, 2, 3, 4, 5, 6]) assert.ok(runScenario(s, { seed }).ok, `seed ${seed}: every expectation holds`);
});

test('a replay token reproduces the run exactly: the same event stream, choices and token', () => {
  const s = load(TWO);
  for (const opts of [{ seed: 11 }, { schedule: 'rr' }, { schedule: 'b*3,a*2' }]) {
    const r = runScenario(s, opts);
    const again = runScenario(s, { replay: r.token });
    assert.deepEqual(lines(again), lines(r));
    assert.deepEqual(again.choices, r.choices);
    assert.equal(again.token, r.token);
    assert.deepEqual(again.scheduleWarnings, []);
    assert.equal(again.schedule.kind, 'replay');
  }
});

test('a replay token carries the variant and knob overrides; it is refused for another scenario or with other options', () => {
  const s = load(TWO);
  const r = runScenario(s, { variant: '5.7', knobs: { zapOnDisable: false } });
  const t = decodeToken(r.token);
  assert.equal(t.variant, '5.7');
  assert.deepEqual(t.knobs, { zapOnDisable: false });
  assert.equal(t.hash, s.hash);
  const again = runScenario(s, { replay: r.token });
  assert.equal(again.variant.base, '5.7');
  assert.deepEqual(lines(again), lines(r));
  const other = load(TWO.replace('0x11', '0x12'));
  assert.notEqual(other.hash, s.hash);
  assert.throws(() => runScenario(other, { replay: r.token }), (e: unknown) => e instanceof ScenarioInputError && /different scenario/.test(e.message));
  assert.throws(() => runScenario(s, { replay: r.token, schedule: 'rr' }), ScenarioInputError);
  assert.throws(() => runScenario(s, { replay: 'vs1.@@@' }), /bad replay token/);
  assert.throws(() => runScenario(s, { replay: r.token.slice(0, 12) }), /bad replay token/);
});

test('comments and key order do not change the scenario hash; content does', () => {
  const a = load(TWO);
  const b = load(`# a comment\n${TWO.replace('name: two threads\n', '')}name: two threads\n`);
  assert.equal(a.hash, b.hash);
});

test('replay tokens round-trip any choice sequence (packed and run-length encodings)', () => {
  const seqs: number[][] = [[], [0], [1, 0, 1, 0, 1, 1, 1], Array.from({ length: 5000 }, (_, i) => i % 3), [...Array(1000).fill(0), ...Array(1000).fill(2), 300, 5]];
  for (const choices of seqs) {
    const tok = encodeToken({ variant: '5.8', knobs: { a: 'x', b: true }, hash: '0123456789abcdef', choices });
    assert.match(tok, /^vs1\.[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodeToken(tok), { variant: '5.8', knobs: { a: 'x', b: true }, hash: '0123456789abcdef', choices });
  }
  const rr = encodeToken({ variant: '5.8', knobs: {}, hash: '0'.repeat(16), choices: Array.from({ length: 800 }, (_, i) => i % 2) });
  assert.ok(rr.length < 200, `800 two-way choices fit in ${rr.length} characters (1 bit each)`);
});

test('deadlock (H3, 5.8.0): a pread into a BAR mapping of the same device against a MEM disable; reported with its wait-for cycle', () => {
  const r = runScenario(example('h3-recursive-read.yaml'));
  assert.equal(r.end.kind, 'deadlock');
  assert.equal(r.end.edges.length, 2);
  assert.deepEqual(r.end.cycle, [
    'reader waits for vma_lock:0000:01:00.0 held by disabler',
    'disabler waits for memory_lock:0000:01:00.0 held by reader',
  ]);
  assert.deepEqual(r.steps.filter((s) => s.phase === 'thread').map((s) => s.status), ['blocked', 'blocked']);
  assert.ok(r.ok, 'the example expects the deadlock');
  // without the expectation the deadlock fails the run
  const r2 = runScenario(load(readFileSync(new URL('h3-recursive-read.yaml', EXAMPLES), 'utf8').replace('expect: { deadlock: true }', '')));
  assert.equal(r2.ok, false);
  assert.deepEqual(r2.runVerdicts.filter((v) => !v.met).map((v) => v.what), ['deadlock']);
});

test('a serial schedule avoids the H3 deadlock: the disable waits for the pread to finish', () => {
  const r = runScenario(example('h3-recursive-read.yaml'), { schedule: 'reader*1000' });
  assert.equal(r.end.kind, 'done');
  assert.deepEqual(r.steps.filter((s) => s.phase === 'thread').map((s) => s.status), ['ok', 'ok']);
});

test('the wait-for cycle is extracted from the edges; a chain without a cycle is listed as is', () => {
  const cyc = waitCycle([
    { waiter: 'x', on: 'L0', holders: ['w'] },
    { waiter: 'a', on: 'L1', holders: ['b'] },
    { waiter: 'b', on: 'L2', holders: ['c'] },
    { waiter: 'c', on: 'L3', holders: ['a'] },
  ]);
  assert.deepEqual(cyc, ['a waits for L1 held by b', 'b waits for L2 held by c', 'c waits for L3 held by a']);
  assert.deepEqual(waitCycle([{ waiter: 'a', on: 'L', holders: [] }]), ['a waits for L held by nobody']);
});

test('kernel BUG (H1, 5.8): concurrent first faults kill the second thread in remap_pte_range; the BUG names its step', () => {
  const r = runScenario(example('h1-concurrent-first-fault.yaml'));
  assert.equal(r.bugs.length, 1);
  const b = r.bugs[0];
  assert.ok(b !== undefined);
  assert.equal(b.thread, 'lcore1');
  assert.equal(b.fn, 'remap_pte_range');
  assert.equal(b.label, 'lcore1 step 1: load bar+0x1000/4');
  assert.equal(r.steps.find((s) => s.thread === 'lcore1')?.status, 'killed');
  assert.ok(r.events.some((e) => e.kind === 'bug' && e.fn === 'remap_pte_range'));
  assert.ok(r.ok);
  // serialised, the second fault finds the vma mapped: no BUG, and the example's expectations fail
  const serial = runScenario(example('h1-concurrent-first-fault.yaml'), { schedule: 'lcore0*1000' });
  assert.equal(serial.bugs.length, 0);
  assert.equal(serial.ok, false);
});

test('the variant can be overridden: on 5.7 the disable does not block access, so the 5.8 expectations fail', () => {
  const s = example('disable-blocks-access.yaml');
  assert.ok(runScenario(s).ok);
  const r = runScenario(s, { variant: '5.7' });
  assert.equal(r.ok, false);
  const failed = r.steps.filter((x) => x.verdict === 'failed').map((x) => x.text);
  assert.ok(failed.includes('load bar+0x1000/4'), failed.join(', '));
  assert.ok(r.platformErrors.length > 0, 'the access reached the non-decoding device');
  assert.throws(() => runScenario(s, { variant: '9.9' }), /unknown variant '9\.9'/);
  assert.throws(() => runScenario(s, { knobs: { noSuchKnob: true } }), /unknown knob 'noSuchKnob'/);
  assert.throws(() => runScenario(s, { schedule: 'nobody' }), /unknown thread 'nobody'/);
});

test('a step whose name could not be bound is skipped, and its expectation fails', () => {
  const r = runScenario(load(`
processes:
  - name: p
    threads:
      - name: t
        steps:
          - open_device: { device: edu0, iommu: type1 }
            as: dev
          - open_device: edu0            # the group is already open in this process: EBUSY
            as: again
            expect: EBUSY
          - close: again
            expect: ok
`));
  const st = r.steps.map((s) => [s.status, s.result]);
  assert.equal(r.steps[1]?.status, 'error', JSON.stringify(st));
  assert.equal(r.steps[2]?.status, 'skipped');
  assert.match(r.steps[2]?.result ?? '', /skipped: again is not available/);
  assert.equal(r.steps[2]?.verdict, 'failed');
});

test('a knob value no preset uses is refused when the knob module lists its values, else run with a warning', () => {
  const s = load(TWO);
  let warnings: readonly string[] = [];
  try {
    warnings = runScenario(s, { knobs: { rwLocking: 'no-such-mode' } }).variantWarnings;
  } catch (e) {
    assert.ok(e instanceof ScenarioInputError && /rwLocking/.test(e.message), String(e));
    return;
  }
  assert.match(warnings.join('\n'), /knob rwLocking = "no-such-mode" is used by no preset/);
});
