/**
 * Scenario-declared properties over step results and over named state at step ends
 * (issue 12 §5), --no-property and --expect-as-properties, and the explore report's
 * first-found counterexample, nothing-to-interleave note, cost line and budget advice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatScenarioError, loadScenario, ScenarioInputError, type Scenario } from '../../src/scenario/index.js';
import { exploreScenario, type ExploreOptions } from '../../src/scenario/explore.js';
import { checkSuite } from '../../src/scenario/check-suite.js';
import { exploreToJson, renderExplore } from '../../src/scenario/explore-report.js';
import { main } from '../../src/cli/main.js';
import { load, example, ONE_DEVICE_SETUP as SETUP } from '../scenario/helpers.js';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PREAD_VS_DISABLE = `name: pread vs disable\n${SETUP}      - name: reader\n        steps:\n          - pread: { fd: dev, region: bar0, size: 4 }\n      - name: main\n        steps:\n          - clear_mem: dev\n`;

/** 5.7 DMA-maps a BAR whatever its decode state (claim 27); MAP_DMA in one thread, the disable in another. */
const MAP_DMA_VS_DISABLE = `name: map_dma vs disable
processes:
  - name: qemu
    setup:
      - open_device: edu0
        as: d0
      - open_device: { device: edu1, container: d0 }
        as: d1
      - mmap: { fd: d1, region: bar0 }
        as: bar1
    threads:
      - name: mapper
        steps:
          - ioctl: { fd: d0.container, cmd: MAP_DMA, vaddr: bar1, iova: 0x100000, size: 0x1000 }
      - name: main
        steps:
          - clear_mem: d1
properties:
  - name: no-map-of-disabled-bar
    always:
      after: MAP_DMA
      when: ok
      state: { iommu_maps_of_disabled_bars: 0 }
`;

const broken = (s: Scenario, opts: ExploreOptions): string[] => exploreScenario(s, { noReplays: true, ...opts }).search.counterexamples.map((c) => c.property);

function errorsOf(text: string): string {
  const r = loadScenario(text, 'p.yaml');
  assert.equal(r.ok, false, 'the scenario should not load');
  return r.ok ? '' : r.errors.map(formatScenarioError).join('\n');
}

test('a result predicate (never: { step: reader, result: EIO }) is broken by the executions where the pread runs after the disable (6.10 refuses BAR reads with -EIO while memory is off); it holds under 5.7, which has no such check', () => {
  const s = load(`${PREAD_VS_DISABLE}properties:\n  - name: pread-never-eio\n    never: { step: reader, result: EIO }\n`);
  const r = exploreScenario(s, { variant: '6.10', maxPreemptions: 2, noReplays: true });
  const cx = r.search.counterexamples.find((c) => c.property === 'pread-never-eio');
  assert.ok(cx !== undefined, r.search.counterexamples.map((c) => c.property).join(','));
  assert.match(cx.message, /^reader step 1 \(line \d+: pread dev bar0\+0x0\/4\) returned -EIO/);
  assert.ok(!broken(s, { variant: '5.7', maxPreemptions: 2 }).includes('pread-never-eio'));
});

test('a result predicate (always: { step, result }) selects steps by thread#n, by an as: name and by operation: "the pread always returns ok" is broken under 6.10 and names the step', () => {
  for (const sel of ['reader#1', 'pread', 'reader']) {
    const s = load(`${PREAD_VS_DISABLE}properties:\n  - name: pread-ok\n    always: { step: ${sel}, result: ok }\n`);
    const r = exploreScenario(s, { variant: '6.10', maxPreemptions: 1, noReplays: true });
    const cx = r.search.counterexamples.find((c) => c.property === 'pread-ok');
    assert.match(cx?.message ?? '', /reader step 1 .*expected success, got -EIO/, sel);
  }
  // an as: name picks the step that binds it (the setup's mmap here)
  const s = load(`${PREAD_VS_DISABLE}properties:\n  - name: mmap-ok\n    always: { step: bar, result: ok }\n`);
  assert.ok(!broken(s, { variant: '6.10', maxPreemptions: 1 }).includes('mmap-ok'));
});

test('a state predicate (always: { after: MAP_DMA, when: ok, state: { iommu_maps_of_disabled_bars: 0 } }): "MAP_DMA returned 0 ⇒ no IOMMU mapping of a BAR whose function does not decode" is broken under 5.7 (MAP_DMA of a disabled BAR succeeds: claim 27), with the count in the message', () => {
  const s = load(MAP_DMA_VS_DISABLE);
  const r = exploreScenario(s, { variant: '5.7', maxPreemptions: 1, noReplays: true });
  const cx = r.search.counterexamples.find((c) => c.property === 'no-map-of-disabled-bar');
  assert.ok(cx !== undefined, r.search.counterexamples.map((c) => c.property).join(','));
  assert.match(cx.message, /^after mapper step 1 \(line \d+: ioctl d0\.container MAP_DMA .*\) returned 0: iommu_maps_of_disabled_bars is 1 \(line \d+\)$/);
  // the report says what the property declares under its message
  assert.match(renderExplore(r).join('\n'), /no-map-of-disabled-bar: after mapper step 1 .*\n {4}after each step of 'MAP_DMA' that ends with success: iommu_maps_of_disabled_bars is 0 \(line 19\)\n/);
});

test("a state predicate's `when:` is a condition: after a MAP_DMA that failed (5.8: -EFAULT while memory is off, claim 26) nothing is checked, so a sequential disable-then-map holds", () => {
  const seq = MAP_DMA_VS_DISABLE.replace("      - name: mapper\n        steps:\n          - ioctl:", '      - name: mapper\n        steps:\n          - clear_mem: d1\n          - ioctl:').replace('      - name: main\n        steps:\n          - clear_mem: d1\n', '');
  const s = load(seq);
  assert.deepEqual(broken(s, { variant: '5.8', only: ['no-map-of-disabled-bar'] }), []);
  assert.deepEqual(broken(s, { variant: '5.7', only: ['no-map-of-disabled-bar'] }), ['no-map-of-disabled-bar']);
});

test('named observables memory_decode, bar_ptes and events: after clear_mem, edu0 does not decode and no user PTE maps its BAR — holds under 6.10 (the disable zaps), broken under 5.7 (it never zaps: the PTE mmap populated survives)', () => {
  const text = `name: load then disable\n${SETUP}      - name: main\n        steps:\n          - load: bar\n          - clear_mem: dev\nproperties:\n  - name: disabled-and-zapped\n    always:\n      after: clear_mem\n      state:\n        memory_decode: { device: edu0, is: false }\n        bar_ptes: { device: edu0, is: 0 }\n  - name: some-zap\n    always:\n      after: main#2\n      state: { events: { kind: vfio.zap, at_least: 1 } }\n`;
  const s = load(text);
  assert.deepEqual(broken(s, { variant: '6.10' }).filter((p) => p === 'disabled-and-zapped' || p === 'some-zap'), []);
  const r = exploreScenario(s, { variant: '5.7', noReplays: true });
  const msgs = new Map(r.search.counterexamples.map((c) => [c.property, c.message]));
  assert.match(msgs.get('disabled-and-zapped') ?? '', /bar_ptes of edu0 is 256 /);
  assert.match(msgs.get('some-zap') ?? '', /events vfio\.zap is 0 /);
});

test('scenario properties: bad declarations are positioned errors — two forms at once, a selector that picks no step (with the threads listed), an unknown device, a state predicate without after, a mixed always, an unknown observable, a duplicate name', () => {
  const base = PREAD_VS_DISABLE;
  assert.match(errorsOf(`${base}properties:\n  - name: a\n    event: signal\n    never: { step: reader, result: EIO }\n`), /p\.yaml:\d+:\d+: a property has one form; found 'event' and 'never'/);
  assert.match(errorsOf(`${base}properties:\n  - name: a\n    never: { step: readr, result: EIO }\n`), /p\.yaml:18:\d+: 'readr' picks no step \(did you mean 'reader'\?\).*threads: qemu, reader, main/);
  assert.match(errorsOf(`${base}properties:\n  - name: a\n    never: { step: 'reader#3', result: EIO }\n`), /reader has 1 step, no step 3/);
  assert.match(errorsOf(`${base}properties:\n  - name: a\n    always: { after: main, state: { bar_ptes: { device: edu9, is: 0 } } }\n`), /p\.yaml:\d+:\d+: unknown device 'edu9'.*the machine has: edu0/);
  assert.match(errorsOf(`${base}properties:\n  - name: a\n    always: { state: { bar_ptes: { device: edu0, is: 0 } } }\n`), /a state predicate needs 'after'/);
  assert.match(errorsOf(`${base}properties:\n  - name: a\n    always: { step: main, result: ok, after: main, state: { bar_ptes: { device: edu0, is: 0 } } }\n`), /'step' belongs to a result predicate/);
  assert.match(errorsOf(`${base}properties:\n  - name: a\n    always: { after: main, state: { ptes: 0 } }\n`), /unknown field 'ptes' in a state \(named observables\).*expected one of: memory_decode, iommu_maps_of_disabled_bars, bar_ptes, pte_present, events/);
  assert.match(errorsOf(`${base}properties:\n  - name: a\n    never: { step: reader, result: EIO }\n  - name: a\n    never: { step: main, result: EIO }\n`), /duplicate property name 'a'/);
  assert.match(errorsOf(`${base}properties:\n  - name: a\n`), /a property needs one of 'event'/);
});

/**
 * Both searches exhaust the bound; dpor reaches exactly naive's outcomes, broken
 * properties and distinct traces, in fewer executions.
 */
function assertSameAsNaive(s: Scenario, variant: string, bound: number, opts: ExploreOptions = {}): string[] {
  const dpor = exploreScenario(s, { ...opts, variant, strategy: 'dpor', maxPreemptions: bound, noReplays: true });
  const naive = exploreScenario(s, { ...opts, variant, strategy: 'naive', maxPreemptions: bound, noReplays: true });
  assert.equal(dpor.search.stoppedBy, 'exhausted');
  assert.equal(naive.search.stoppedBy, 'exhausted');
  assert.deepEqual(dpor.search.outcomes, naive.search.outcomes);
  assert.deepEqual(dpor.search.counterexamples.map((c) => c.property), naive.search.counterexamples.map((c) => c.property));
  assert.equal(dpor.search.stats.distinctTraces, naive.search.stats.distinctTraces);
  assert.ok(dpor.search.stats.executions < naive.search.stats.executions, `reduction: ${dpor.search.stats.executions} vs ${naive.search.stats.executions}`);
  return dpor.search.counterexamples.map((c) => c.property);
}

/**
 * A state predicate checked in a step that touches nothing the other thread touches: the
 * eventfd(2) is independent of the fault on edu0's BAR, so without the predicate's
 * footprint (it reads bar_ptes, which the fault writes) the reduction would take the two
 * orders for one and see only one of them.
 */
const INDEPENDENT = `name: eventfd vs fault on edu0\n${SETUP}      - name: other\n        steps:\n          - eventfd\n          - note: done\n      - name: vcpu\n        steps:\n          - load: bar\nproperties:\n  - name: no-pte-when-other-ends\n    always:\n      after: other#1\n      state: { bar_ptes: { device: edu0, is: 0 } }\n`;

for (const variant of ['5.8', '6.10']) {
  test(`DPOR soundness with a state predicate whose check no other step touches but its footprint (bar_ptes after an eventfd, ${variant}): the check is ordered against the fault's PTE install, the same outcomes and violations as naive, and the violation is found (≤ 2 preemptions)`, () => {
    const props = assertSameAsNaive(load(INDEPENDENT), variant, 2);
    assert.ok(props.includes('no-pte-when-other-ends'), props.join(','));
    // the check reads bar_ptes, which the fault's PTE install writes: the two threads are
    // no longer independent (without the footprint: one trace class)
    const naive = exploreScenario(load(INDEPENDENT), { variant, strategy: 'naive', maxPreemptions: 2, noReplays: true });
    assert.ok(naive.search.stats.distinctTraces > 1, `${naive.search.stats.distinctTraces} trace classes`);
  });
}

const WITH_PROPERTIES: Record<string, string> = {
  'result predicates on pread vs disable': `${PREAD_VS_DISABLE}properties:\n  - name: pread-never-eio\n    never: { step: reader, result: EIO }\n  - name: disable-ok\n    always: { step: main#1, result: ok }\n`,
  'state predicates on pread vs disable': `${PREAD_VS_DISABLE}properties:\n  - name: decode-after-read\n    always:\n      after: reader#1\n      when: { ok: true }\n      state: { memory_decode: { device: edu0, is: true }, events: { kind: vfio.zap, at_most: 0 } }\n`,
  'state predicate on map_dma vs disable': MAP_DMA_VS_DISABLE,
  'pte_present after a load and after the disable': `name: pte presence\n${SETUP}      - name: vcpu\n        steps:\n          - load: bar+0x2000\n      - name: main\n        steps:\n          - clear_mem: dev\nproperties:\n  - name: zapped-after-disable\n    always:\n      after: clear_mem\n      state: { pte_present: { at: bar+0x2000, is: false } }\n  - name: mapped-after-load\n    always:\n      after: load\n      when: ok\n      state: { pte_present: { at: bar+0x2000, is: true } }\n`,
};

for (const [name, text] of Object.entries(WITH_PROPERTIES)) {
  for (const variant of ['5.7', '5.8', '6.10']) {
    test(`DPOR soundness with scenario properties: ${name} under ${variant} reaches exactly the outcomes and violations of the naive search (≤ 2 preemptions)`, () => {
      assertSameAsNaive(load(text), variant, 2);
    });
  }
}

test('DPOR soundness with --expect-as-properties: load vs disable with round-robin expectations (load ok, disable ok) — dpor and naive break the same expect: properties (6.10, ≤ 2 preemptions)', () => {
  const s = load(`name: load vs disable\n${SETUP}      - name: vcpu\n        steps:\n          - load: bar\n            expect: ok\n      - name: main\n        steps:\n          - clear_mem: dev\n            expect: ok\n`);
  const props = assertSameAsNaive(s, '6.10', 2, { expectAsProperties: true });
  assert.deepEqual(props.filter((p) => p.startsWith('expect:')), ['expect:vcpu#1']);
});

test("expectAsProperties: each step's expect: becomes a property expect:<thread>#<n>, broken only where the step finishes with another result; without the option expectations are ignored", () => {
  const s = load(`${PREAD_VS_DISABLE.replace('size: 4 }\n', 'size: 4 }\n            expect: EIO\n')}`);
  const r = exploreScenario(s, { variant: '6.10', maxPreemptions: 1, noReplays: true, expectAsProperties: true });
  const cx = r.search.counterexamples.find((c) => c.property === 'expect:reader#1');
  assert.match(cx?.message ?? '', /^reader step 1 \(line \d+: pread dev bar0\+0x0\/4\): expected -EIO, got 0x/);
  assert.ok(!broken(s, { variant: '6.10', maxPreemptions: 1 }).some((p) => p.startsWith('expect:')));
});

test('noProperty leaves a built-in or a scenario property out of the result (and out of the search: the same executions); an unknown name is a ScenarioInputError listing the known ones', () => {
  const s = example('h2-fault-races-disable.yaml');
  const all = broken(s, { variant: '5.8', maxPreemptions: 2 });
  assert.ok(all.includes('stale-mapping') && all.includes('unsupported-request'), all.join(','));
  const some = broken(s, { variant: '5.8', maxPreemptions: 2, noProperty: ['stale-mapping'] });
  assert.deepEqual(some, all.filter((p) => p !== 'stale-mapping'));
  const sp = load(`${PREAD_VS_DISABLE}properties:\n  - name: pread-never-eio\n    never: { step: reader, result: EIO }\n`);
  assert.ok(!broken(sp, { variant: '6.10', maxPreemptions: 1, noProperty: ['pread-never-eio'] }).includes('pread-never-eio'));
  assert.throws(() => exploreScenario(s, { noProperty: ['stale'] }), (e: unknown) => e instanceof ScenarioInputError && /unknown property 'stale' \(known: unsupported-request, p2p-dma, .*termination\)/.test(e.message));
});

test('vfio-sim explore --no-property P (repeatable) drops P from the report; an unknown P exits 2 naming the known properties; --expect-as-properties adds the expect: properties', async () => {
  const f = new URL('h2-fault-races-disable.yaml', new URL('../../../examples/', import.meta.url)).pathname;
  let out = '';
  let err = '';
  const all = broken(example('h2-fault-races-disable.yaml'), { variant: '5.8', maxPreemptions: 2 });
  assert.ok(all.length >= 2, all.join(','));
  const code = await main(['explore', f, '--variant', '5.8', '--max-preemptions', '2', ...all.flatMap((p) => ['--no-property', p]), '--workers', '1'], (s) => (out += s + '\n'), (s) => (err += s + '\n'));
  assert.equal(code, 0, out + err);
  for (const p of all) assert.ok(!out.includes(`${p}:`), p);
  assert.match(out, /✓ no property is broken/);
  err = '';
  const bad = await main(['explore', f, '--no-property', 'stale'], () => undefined, (s) => (err += s + '\n'));
  assert.equal(bad, 2);
  assert.match(err, /^vfio-sim explore: --no-property: unknown property 'stale' \(known: unsupported-request, .*termination\)\n$/);
  out = '';
  const ex = await main(['explore', f, '--max-preemptions', '1', '--expect-as-properties', '--workers', '1'], (s) => (out += s + '\n'), () => undefined);
  assert.equal(ex, 1);
  assert.match(out, /expect:\w+#\d+: /);
});

test('vfio-sim check --no-property: the left-out property has no column and no cell broken by it; an unknown name exits 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vfio-sim-noprop-'));
  writeFileSync(join(dir, 'h2.yaml'), readExample('h2-fault-races-disable.yaml'));
  let out = '';
  const code = await main(['check', '--scenarios', dir, '--variants', '5.8', '--no-property', 'unsupported-request', '--workers', '1'], (s) => (out += s + '\n'), () => undefined);
  assert.equal(code, 0, out);
  assert.doesNotMatch(out, /unsupported-request/);
  let err = '';
  const bad = await main(['check', '--scenarios', dir, '--no-property', 'nope'], () => undefined, (s) => (err += s + '\n'));
  assert.equal(bad, 2);
  assert.match(err, /unknown property 'nope' \(known: /);
  const r = checkSuite([example('h2-fault-races-disable.yaml')], { variants: ['5.8'], maxPreemptions: 2, noProperty: ['unsupported-request'] });
  assert.ok(!r.properties.includes('unsupported-request'));
  assert.equal(r.table.get('5.8')?.has('unsupported-request'), false);
  // a defect whose property is left out is not judged (rather than reported "not found")
  const noStale = checkSuite([example('h2-fault-races-disable.yaml')], { variants: ['5.8'], maxPreemptions: 2, noProperty: ['stale-mapping'] });
  assert.deepEqual(noStale.defects, []);
  assert.equal(noStale.ok, true);
});

/** An example's text. */
function readExample(f: string): string {
  return readFileSync(new URL(f, new URL('../../../examples/', import.meta.url)), 'utf8');
}

test('the report keeps both: the simplest counterexample\'s execution and the first that broke the property, with the time since the search started (text and --json)', () => {
  const s = load(`${PREAD_VS_DISABLE}properties:\n  - name: pread-never-eio\n    never: { step: reader, result: EIO }\n`);
  const r = exploreScenario(s, { variant: '6.10', maxPreemptions: 2, noReplays: true });
  const cx = r.search.counterexamples.find((c) => c.property === 'pread-never-eio');
  assert.ok(cx !== undefined);
  // the search finds the EIO early, then keeps a simpler (fewer-preemption) execution found later
  assert.ok(cx.firstExecution < cx.execution, `first ${cx.firstExecution}, simplest ${cx.execution}`);
  const ms = r.search.firstFoundMs['pread-never-eio'];
  assert.ok(ms !== undefined && ms >= 0 && ms <= r.search.stats.elapsedMs);
  const text = renderExplore(r).join('\n');
  assert.match(text, new RegExp(`simplest: \\d+ preemptions?, \\d+ steps \\(execution ${cx.execution}\\); first found: execution ${cx.firstExecution}, \\d+\\.\\d s after the search started`));
  const j = exploreToJson(r, 1) as { counterexamples: { property: string; execution: number; firstFound: { execution: number; elapsedMs: number } }[] };
  const jc = j.counterexamples.find((c) => c.property === 'pread-never-eio');
  assert.deepEqual(jc?.firstFound, { execution: cx.firstExecution, elapsedMs: ms });
});

test('the first-found execution is the earliest over every work unit, the same with 1 and 2 workers, and survives shrinking (H2 under 5.8)', () => {
  const s = example('h2-fault-races-disable.yaml');
  const one = exploreScenario(s, { variant: '5.8', maxPreemptions: 2, noReplays: true, workers: 1 });
  const two = exploreScenario(s, { variant: '5.8', maxPreemptions: 2, noReplays: true, workers: 2 });
  const raw = exploreScenario(s, { variant: '5.8', maxPreemptions: 2, noReplays: true, noShrink: true });
  const firsts = (r: typeof one): [string, number][] => r.search.counterexamples.map((c) => [c.property, c.firstExecution]);
  assert.deepEqual(firsts(two), firsts(one));
  assert.deepEqual(firsts(raw), firsts(one));
  for (const cx of raw.search.counterexamples) assert.ok(cx.firstExecution >= 1 && cx.firstExecution <= cx.execution, `${cx.property}: first ${cx.firstExecution}, kept ${cx.execution}`);
  assert.deepEqual(Object.keys(one.search.firstFoundMs).sort(), one.search.counterexamples.map((c) => c.property).sort());
});

test('a scenario without threads: the report says there was nothing to interleave (text and --json), not only "✓ complete"', () => {
  const s = load('name: setup only\nprocesses:\n  - name: qemu\n    setup:\n      - open_device: edu0\n        as: dev\n      - pread: { fd: dev, region: bar0, size: 4 }\n');
  const r = exploreScenario(s, { noReplays: true });
  assert.equal(r.search.stats.executions, 1);
  assert.equal(r.threads, 0);
  const text = renderExplore(r).join('\n');
  assert.match(text, /nothing to interleave: the scenario declares no threads/);
  assert.match(text, /✓ no property is broken; the search is complete: its one execution is every interleaving/);
  const j = exploreToJson(r, 0) as { threads: number; nothingToInterleave: boolean };
  assert.equal(j.threads, 0);
  assert.equal(j.nothingToInterleave, true);
  // two racing threads: something to interleave, no such note
  const two = exploreScenario(load(PREAD_VS_DISABLE), { variant: '6.10', maxPreemptions: 1, noReplays: true });
  assert.doesNotMatch(renderExplore(two).join('\n'), /nothing to interleave/);
});

test('the summary says what one execution costs and what dominates it: a MAP_DMA of the whole 1 MiB BAR takes most of the scheduler steps (one point per page), a 4 KiB one does not', () => {
  const whole = load(MAP_DMA_VS_DISABLE.replace(', size: 0x1000', ''));
  const r = exploreScenario(whole, { variant: '5.8', maxExecutions: 1, noReplays: true, noShrink: true });
  assert.ok(r.cost !== null);
  const top = r.cost.byStep[0];
  assert.match(top?.step ?? '', /^mapper step 1: ioctl d0\.container MAP_DMA/);
  assert.ok((top?.steps ?? 0) > 256, `${top?.steps}`);
  assert.match(renderExplore(r).join('\n'), /cost: \d+ scheduler steps per execution .*most from mapper step 1: ioctl d0\.container MAP_DMA bar1 -> iova 0x100000 \(\d+ of its \d+ steps: \d+ pte/);
  const small = exploreScenario(load(MAP_DMA_VS_DISABLE), { variant: '5.8', maxExecutions: 1, noReplays: true, noShrink: true });
  assert.ok((small.cost?.steps ?? Infinity) * 5 < r.cost.steps, `${small.cost?.steps} vs ${r.cost.steps}`);
});

test('a search stopped by its budget says what it covered and what to try (a bound, a smaller scenario naming the dominant step, sampling), also in --json', () => {
  const whole = load(MAP_DMA_VS_DISABLE.replace(', size: 0x1000', ''));
  const r = exploreScenario(whole, { variant: '5.8', maxExecutions: 3, noReplays: true, noShrink: true });
  assert.equal(r.search.stoppedBy, 'max-executions');
  const text = renderExplore(r).join('\n');
  assert.match(text, /covered: 3 executions, \d+ distinct traces/);
  assert.match(text, /to finish a search, try:\n {4}- a smaller preemption bound \(--max-preemptions 2\)/);
  assert.match(text, /- a smaller scenario: fewer threads, or smaller ranges — one execution is \d+ scheduler steps, most from mapper step 1: ioctl/);
  assert.match(text, /- sampling instead of covering: --strategy pct or random/);
  const bfs = exploreScenario(whole, { variant: '5.8', strategy: 'bfs', maxExecutions: 40, noReplays: true, noShrink: true });
  if (bfs.search.stoppedBy === 'max-executions' && (bfs.search.stats.bound ?? 0) > 0) {
    assert.match(renderExplore(bfs).join('\n'), /every interleaving with at most \d+ preemptions? \(bound \d+ only in part\)/);
  }
  const j = exploreToJson(r, 0) as { budget: { covered: string; tryNext: string[] } | null };
  assert.ok(j.budget !== null && j.budget.tryNext.length >= 3);
  const done = exploreScenario(load(PREAD_VS_DISABLE), { variant: '6.10', maxPreemptions: 1, noReplays: true });
  assert.equal((exploreToJson(done, 0) as { budget: unknown }).budget, null);
});

test('vfio-sim explore: on a terminal the progress line says what one execution costs and which step dominates it (a MAP_DMA of a whole 1 MiB BAR)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vfio-sim-cost-'));
  const f = join(dir, 'dma.yaml');
  writeFileSync(f, MAP_DMA_VS_DISABLE.replace(', size: 0x1000', ''));
  let err = '';
  let out = '';
  const code = await main(['explore', f, '--variant', '5.8', '--max-time', '2', '--workers', '1', '--no-shrink'], (x) => (out += x + '\n'), (x) => (err += x + '\n'), { color: false, columns: undefined, progress: true });
  assert.equal(code, 1, out + err);
  assert.match(err, /… \d+ executions, .*; an execution is \d+ steps, \d+ of them mapper step 1: ioctl d0\.container MAP_DMA bar1 -> iova 0x100000 \(\d+ pte\)/);
  assert.match(out, /the search stopped early \(max-time\)/);
  assert.match(out, /to finish a search, try:/);
});

test('scenario properties, expectAsProperties and noProperty reach the worker threads: the same counterexamples (tokens, execution numbers, first found) with 1 and 2 workers (map_dma vs disable, 5.8)', () => {
  const s = load(MAP_DMA_VS_DISABLE.replace('size: 0x1000 }\n', 'size: 0x1000 }\n            expect: ok\n'));
  const run = (workers: number): unknown => exploreScenario(s, { variant: '5.8', maxPreemptions: 2, noReplays: true, workers, expectAsProperties: true, noProperty: ['kernel-warning'] }).search.counterexamples;
  const one = run(1);
  assert.deepEqual(run(2), one);
  const props = (one as { property: string }[]).map((c) => c.property);
  assert.ok(props.includes('no-map-of-disabled-bar') && props.includes('expect:mapper#1') && !props.includes('kernel-warning'), props.join(','));
});

test('pte_present: "no PTE at bar+0x2000 once clear_mem has returned" is broken under 5.8 (H2: a fault that raced the disable installs its PTE after the zap) and 5.7 (never zaps), holds under 6.10; the mapping is looked up in the bindings of the thread that mmap-ed it', () => {
  const s = load(`name: pte presence\n${SETUP}      - name: vcpu\n        steps:\n          - load: bar+0x2000\n      - name: main\n        steps:\n          - clear_mem: dev\nproperties:\n  - name: zapped-after-disable\n    always:\n      after: clear_mem\n      state: { pte_present: { at: bar+0x2000, is: false } }\n`);
  for (const [variant, want] of [['5.7', true], ['5.8', true], ['6.10', false]] as const) {
    const r = exploreScenario(s, { variant, maxPreemptions: 2, noReplays: true });
    const cx = r.search.counterexamples.find((c) => c.property === 'zapped-after-disable');
    assert.equal(cx !== undefined, want, variant);
    if (cx !== undefined) assert.match(cx.message, /: pte_present at bar\+0x2000 \(qemu\) is true \(line \d+\)$/);
  }
  const base = `name: x\n${SETUP}      - name: vcpu\n        steps:\n          - load: bar\n          - mmap: { fd: dev, region: bar0 }\n            as: bar2\nproperties:\n  - name: p\n    always:\n      after: vcpu\n      state: { pte_present: { at: AT, is: true } }\n`;
  assert.match(errorsOf(base.replace('AT', 'nope')), /p\.yaml:\d+:\d+: no mmap step binds 'nope' with as:/);
  assert.match(errorsOf(base.replace('AT', "'bar+zz'")), /expected a mapping's name \(bound with as:\), optionally \+offset/);
  assert.ok(loadScenario(base.replace('AT', 'bar2+0x1000'), 'p.yaml').ok);
});
