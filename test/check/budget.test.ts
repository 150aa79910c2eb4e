/**
 * `explore --max-time` covers the whole command: the planning probes, an execution in
 * progress, the shrinker and the counterexample replays (issue 12). The budget is the
 * search layer's wall clock; the model never reads it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exploreCommand } from '../../src/cli/explore.js';
import { exploreScenario, scenarioProgram } from '../../src/scenario/explore.js';
import { shrink } from '../../src/check/shrink.js';
import { example, load } from '../scenario/helpers.js';

/** One process: a MEM disable racing `n` threads that load through the BAR mapping twice (slow executions: every step looks at every thread). */
function manyThreads(n: number): string {
  let s = 'name: many threads\nprocesses:\n  - name: qemu\n    setup:\n      - open_device: edu0\n        as: dev\n      - mmap: { fd: dev, region: bar0 }\n        as: bar\n    threads:\n      - name: dis\n        steps:\n          - clear_mem: dev\n';
  for (let i = 0; i < n; i++) s += `      - { name: t${i}, steps: [load: bar, load: bar] }\n`;
  return s;
}

test('explore --max-time 1 on a scenario of 400 threads (each execution takes seconds; 5.7 breaks properties, so the shrinker would run) returns within a few seconds', { timeout: 120_000 }, async () => {
  const f = join(mkdtempSync(join(tmpdir(), 'vfio-sim-budget-')), 'many.yaml');
  writeFileSync(f, manyThreads(400));
  for (const strategy of ['dpor', 'random']) {
    let out = '';
    const t0 = performance.now();
    const code = await exploreCommand([f, '--variant', '5.7', '--max-time', '1', '--workers', '1', '--strategy', strategy, '--json'], (s) => (out += s), () => undefined);
    const ms = performance.now() - t0;
    assert.ok(code === 0 || code === 1, `exit ${code}`);
    assert.ok(ms < 6000, `${strategy}: --max-time 1 took ${(ms / 1000).toFixed(1)} s`);
    const j = JSON.parse(out) as { stoppedBy: string };
    assert.equal(j.stoppedBy, 'max-time');
  }
});

test('the budget covers the shrinker and the replays: a search that ends with counterexamples after its budget is spent reports them unshrunk and without replays, at once', () => {
  const H2 = example('h2-fault-races-disable.yaml');
  let t = 0;
  // a clock that runs out during the search (each reading is 1 ms later)
  const r = exploreScenario(H2, { variant: '5.8', strategy: 'random', seed: 600, maxExecutions: 400, maxTimeMs: 150, now: () => t++ });
  assert.equal(r.search.stoppedBy, 'max-time');
  assert.ok(r.search.counterexamples.length > 0, 'found nothing before the budget');
  assert.ok(r.counterexamples.every((c) => c.run === null), 'replayed a counterexample after the budget');
  const unshrunk = exploreScenario(H2, { variant: '5.8', strategy: 'random', seed: 600, maxExecutions: 400, maxTimeMs: 150, now: (() => { let u = 0; return () => u++; })(), noShrink: true });
  assert.deepEqual(r.search.counterexamples.map((c) => c.token), unshrunk.search.counterexamples.map((c) => c.token));
});

test('shrinker: a stop callback (the caller\'s budget) ends shrinking at its first poll, returning the input', () => {
  const s = load(manyThreads(3));
  const found = exploreScenario(s, { variant: '5.7', only: ['stale-mapping'], noShrink: true, noReplays: true, maxPreemptions: 2 }).search.counterexamples[0];
  assert.ok(found !== undefined);
  const all = shrink(scenarioProgram(s, { variant: '5.7' }), found);
  const stopped = shrink(scenarioProgram(s, { variant: '5.7' }), found, { stop: () => true });
  assert.ok(all.attempts > 1);
  assert.equal(stopped.counterexample, found);
  assert.equal(stopped.fixpoint, false);
  assert.ok(stopped.attempts <= 1, `${stopped.attempts} attempts`);
});
