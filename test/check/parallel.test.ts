/** The explorer over worker threads (issue #4): work units give the same result with 1 and N workers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Scenario } from '../../src/scenario/index.js';
import { exploreScenario, type ExploreOptions, type ExploreResult, ScenarioExploration, scenarioProgram } from '../../src/scenario/explore.js';
import { checkSuite, type CheckResult } from '../../src/scenario/check-suite.js';
import { Search } from '../../src/check/search.js';
import { MAX_SPLIT_DEPTH, MIN_UNITS, planUnits } from '../../src/check/units.js';
import { main } from '../../src/cli/main.js';
import { EXAMPLES_DIR as DIR, load, example, ONE_DEVICE_SETUP } from '../scenario/helpers.js';


/** Three threads: two first loads racing a MEM disable. */
const THREE = `name: two loads vs disable
${ONE_DEVICE_SETUP}      - name: vcpu0
        steps:
          - load: bar
      - name: vcpu1
        steps:
          - load: bar
      - name: main
        steps:
          - clear_mem: dev
`;

/** Everything a search computes but its wall time. */
function comparable(r: ExploreResult): unknown {
  const { elapsedMs: _e, ...stats } = r.search.stats;
  const { firstFoundMs: _f, ...search } = r.search;
  return { ...search, stats };
}

function sameWith1And2(s: Scenario, opts: ExploreOptions): ExploreResult {
  const one = exploreScenario(s, { ...opts, noReplays: true, workers: 1 });
  const two = exploreScenario(s, { ...opts, noReplays: true, workers: 2 });
  assert.deepEqual(comparable(two), comparable(one), `${opts.strategy ?? 'dpor'} under ${opts.variant ?? '-'}`);
  return one;
}

test('work units: H2 under 5.8 and 5.13 — dpor, bfs, random and pct give the same verdicts, counts, traces, outcomes and counterexamples (tokens included) with 1 and 2 workers', () => {
  const s = example('h2-fault-races-disable.yaml');
  const dpor = sameWith1And2(s, { variant: '5.8', strategy: 'dpor', maxPreemptions: 2 });
  // the search is the same search: complete, and it finds H2's stale mapping (1 preemption) and UR (2)
  assert.equal(dpor.search.stoppedBy, 'exhausted');
  const by = new Map(dpor.search.counterexamples.map((c) => [c.property, c]));
  assert.equal(by.get('stale-mapping')?.preemptions, 1);
  assert.equal(by.get('unsupported-request')?.preemptions, 2);
  const fixed = sameWith1And2(s, { variant: '5.13', strategy: 'dpor', maxPreemptions: 1 });
  assert.equal(fixed.search.counterexamples.some((c) => c.property === 'stale-mapping'), false);
  for (const variant of ['5.8', '5.13']) {
    const bfs = sameWith1And2(s, { variant, strategy: 'bfs', maxPreemptions: 1 });
    assert.equal(bfs.search.preemptionBound, 1);
    for (const strategy of ['random', 'pct'] as const) {
      const r = sameWith1And2(s, { variant, strategy, maxExecutions: 30, seed: 5 });
      assert.equal(r.search.stats.executions, 30);
      assert.equal(r.search.stoppedBy, 'samples');
    }
  }
});

test('budgets: what units that finish early leave goes to the units the budget stopped — H2 under 5.8 at bound 3 (248 executions) completes within 260, the same with 1 and 2 workers; 150 stop it', () => {
  const s = example('h2-fault-races-disable.yaml');
  const full = sameWith1And2(s, { variant: '5.8', maxPreemptions: 3, maxExecutions: 260 });
  assert.equal(full.search.stoppedBy, 'exhausted');
  assert.equal(full.search.stats.executions, 248);
  const cut = sameWith1And2(s, { variant: '5.8', maxPreemptions: 3, maxExecutions: 150 });
  assert.equal(cut.search.stoppedBy, 'max-executions');
  assert.equal(cut.search.stats.executions, 150);
});

test('work units: a 3-thread scenario (two first loads racing a disable) — dpor with 1 and 2 workers, and repeated 2-worker runs, are identical', () => {
  const s = load(THREE, 'three.yaml');
  const one = sameWith1And2(s, { variant: '5.8', strategy: 'dpor', maxPreemptions: 1 });
  assert.ok(one.search.counterexamples.some((c) => c.property === 'kernel-bug'), 'H1 double remap with one preemption');
  const again = exploreScenario(s, { variant: '5.8', strategy: 'dpor', maxPreemptions: 1, noReplays: true, workers: 2 });
  assert.deepEqual(comparable(again), comparable(one));
});

test('work units: the split rule depends on the tree only — H2 splits at its first choice nodes into 8 units (depth 3), the 3-thread scenario into 9 (depth 2)', () => {
  const h2 = example('h2-fault-races-disable.yaml');
  const p2 = planUnits({ strategy: 'dpor', maxPreemptions: 2 }, (o) => new Search(scenarioProgram(h2, { variant: '5.8' }), o));
  assert.equal(p2.units.length, MIN_UNITS);
  assert.ok(p2.units.every((u) => u.splits.length === MAX_SPLIT_DEPTH));
  const three = load(THREE, 'three.yaml');
  const p3 = planUnits({ strategy: 'dpor', maxPreemptions: 1 }, (o) => new Search(scenarioProgram(three, { variant: '5.8' }), o));
  assert.equal(p3.units.length, 9);
  assert.ok(p3.units.every((u) => u.splits.length === 2));
  // every unit's forced prefix is distinct: the units partition the tree
  assert.equal(new Set(p3.units.map((u) => u.splits.map((x) => x.thread).join('/'))).size, 9);
});

test('random/pct units keep the global numbering: a counterexample found as execution n is execution 1 of the search seeded seed + n − 1', () => {
  const s = example('h2-fault-races-disable.yaml');
  for (const strategy of ['random', 'pct'] as const) {
    const r = exploreScenario(s, { variant: '5.8', strategy, maxExecutions: 60, seed: 11, noReplays: true, workers: 2 });
    // 60 executions are 8 units of 8 (the last 4): some counterexample comes from a later unit
    assert.ok(r.search.counterexamples.some((c) => c.execution > 8), `${strategy}: ${r.search.counterexamples.map((c) => c.execution).join(',')}`);
    for (const cx of r.search.counterexamples) {
      const alone = exploreScenario(s, { variant: '5.8', strategy, maxExecutions: 1, seed: 11 + cx.execution - 1, noReplays: true });
      assert.equal(alone.search.counterexamples.find((c) => c.property === cx.property)?.token, cx.token, `${strategy} ${cx.property}`);
    }
  }
});

test('stop at first: the violation of the lowest-numbered unit, the same with 1 and 2 workers (H2 under 5.8, dpor and pct)', () => {
  const s = example('h2-fault-races-disable.yaml');
  for (const strategy of ['dpor', 'pct'] as const) {
    const r = sameWith1And2(s, { variant: '5.8', strategy, ...(strategy === 'dpor' ? { maxPreemptions: 2 } : {}), only: ['stale-mapping'], stopAtFirst: true, maxExecutions: 200 });
    assert.equal(r.search.stoppedBy, 'first-violation', strategy);
    assert.deepEqual(r.search.counterexamples.map((c) => c.property), ['stale-mapping']);
  }
});

test('vfio-sim check: the variant × property table is identical with 1 and 2 workers (H1, H2, H3 under 5.8 and 5.13)', () => {
  const suite = ['h1-concurrent-first-fault.yaml', 'h2-fault-races-disable.yaml', 'h3-recursive-read.yaml'].map(example);
  const plain = (r: CheckResult): unknown => ({ ...r, table: [...r.table].map(([v, m]) => [v, [...m]]) });
  const seen: string[] = [];
  const one = checkSuite(suite, { variants: ['5.8', '5.13'], maxPreemptions: 1, workers: 1 });
  const two = checkSuite(suite, { variants: ['5.8', '5.13'], maxPreemptions: 1, workers: 2, onCell: (c) => seen.push(`${c.file} ${c.variant}`) });
  assert.deepEqual(plain(two), plain(one));
  // cells are reported in table order whatever finishes first
  assert.deepEqual(seen, one.cells.map((c) => `${c.file} ${c.variant}`));
  assert.deepEqual(one.defects.filter((d) => d.id === 'H2').map((d) => d.found), [['5.8']]);
});

test('Ctrl-C with workers: an interrupted exploration stops between executions and reports what it covered', () => {
  // Deterministic whatever the machine's speed: the budget clock is frozen (no slice ends on
  // time). A first zero-length slice plans the units (the planning probes poll the stop flag
  // too) and hands out the first ones, one to the worker and one to this thread, without
  // running any; then the interrupt arrives at the third poll: once as this thread looks at
  // the workers, once before its first execution, once after it. At most two of the plan's
  // eight or more units have started, so the search cannot be over, whatever the worker did.
  const s = example('h2-fault-races-disable.yaml');
  let armed = false;
  let polls = 0;
  const x = new ScenarioExploration(s, { variant: '5.8', maxPreemptions: 2, noReplays: true, workers: 2, now: () => 0, interrupted: () => armed && ++polls >= 3 });
  assert.equal(x.step(0), false);
  armed = true;
  while (!x.step(30));
  const r = x.result();
  assert.equal(r.search.stoppedBy, 'interrupted');
  assert.equal(r.search.complete, false);
  assert.ok(r.search.stats.executions > 0 && r.search.stats.executions < 200, `${r.search.stats.executions} executions`);
});

for (const workers of [1, 2]) {
  test(`Ctrl-C in vfio-sim check (${workers} worker${workers > 1 ? 's' : ''}): once interrupted no cell starts; the result covers the cells explored so far and is no verdict`, () => {
    const suite = ['h1-concurrent-first-fault.yaml', 'h2-fault-races-disable.yaml', 'h3-recursive-read.yaml'].map(example);
    let stop = false;
    const r = checkSuite(suite, { variants: ['5.8', '5.13'], maxPreemptions: 1, workers, interrupted: () => stop, onCell: () => { stop = true; } });
    assert.equal(r.interrupted, true);
    assert.equal(r.planned, 6);
    assert.ok(r.cells.length >= 1 && r.cells.length < r.planned, `${r.cells.length} cells`);
    assert.equal(r.complete, false);
    // the cells that were explored are the first ones, in table order
    assert.deepEqual(r.cells.map((c) => `${c.file} ${c.variant}`), ['h1-concurrent-first-fault.yaml 5.8', 'h1-concurrent-first-fault.yaml 5.13', 'h2-fault-races-disable.yaml 5.8', 'h2-fault-races-disable.yaml 5.13', 'h3-recursive-read.yaml 5.8', 'h3-recursive-read.yaml 5.13'].slice(0, r.cells.length));
  });
}

test('Ctrl-C in vfio-sim check (the command): a SIGINT flag set while it runs stops it between slices; it prints the partial tables and exits 130', async () => {
  const signal = { interrupted: false };
  const timer = setTimeout(() => {
    signal.interrupted = true;
  }, 300);
  let out = '';
  const code = await main(['check', '--workers', '1'], (x) => (out += `${x}\n`), () => undefined, undefined, signal);
  clearTimeout(timer);
  assert.equal(code, 130);
  assert.match(out, /interrupted: the tables cover the \d+ of \d+ cells explored so far/);
});

test('vfio-sim explore --workers: the same report with 1 and 2 workers; a bad count is exit 2', async () => {
  const f = new URL('h2-fault-races-disable.yaml', DIR).pathname;
  const run = async (w: string): Promise<string> => {
    let out = '';
    const code = await main(['explore', f, '--max-preemptions', '1', '--workers', w], (x) => (out += x + '\n'), () => undefined);
    assert.equal(code, 1);
    // the statistics line carries the wall time
    return out.replace(/, [\d.]+ s \(\d+\/s\)/, '').replace(/, [\d.]+ s after the search started/g, '');
  };
  assert.equal(await run('2'), await run('1'));
  let err = '';
  assert.equal(await main(['explore', f, '--workers', '0'], () => undefined, (x) => (err += x)), 2);
  assert.match(err, /--workers expects an integer from 1 to 64/);
});
