/** The counterexample shrinker (issue #4): fewest preemptions, then steps; a real, replayable counterexample. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScenario, type Scenario } from '../../src/scenario/index.js';
import { exploreScenario, type ExploreOptions, scenarioProgram } from '../../src/scenario/explore.js';
import type { Counterexample } from '../../src/check/search.js';
import { replayChoices, shrink, shrinkCounterexample } from '../../src/check/shrink.js';
import { example } from '../scenario/helpers.js';


const H2 = example('h2-fault-races-disable.yaml');
/** The search's own counterexamples, unshrunk (exploreScenario shrinks them unless told not to). */
const STALE: ExploreOptions = { variant: '5.8', only: ['stale-mapping'], noReplays: true, noShrink: true };

/** The first stale-mapping counterexample a strategy meets on H2 under 5.8. */
function firstFound(opts: ExploreOptions): Counterexample {
  const r = exploreScenario(H2, { ...STALE, stopAtFirst: true, ...opts });
  const cx = r.search.counterexamples[0];
  assert.ok(cx !== undefined, `${opts.strategy ?? 'dpor'} found no stale mapping`);
  return cx;
}

/** The fewest-preemption counterexample (iterative preemption bounding). */
const BFS = firstFound({ strategy: 'bfs', maxPreemptions: 1 });

/** The shrunk counterexample is real: its choices replay to the same schedule, counts and violation, and so does its token. */
function assertReal(s: Scenario, cx: Counterexample): void {
  const again = replayChoices(scenarioProgram(s, STALE), cx.choices);
  assert.equal(again.preemptions, cx.preemptions);
  assert.equal(again.steps, cx.steps);
  assert.equal(again.report?.violations.get(cx.property), cx.message);
  assert.equal(again.report?.token, cx.token);
  const run = runScenario(s, { replay: cx.token });
  assert.deepEqual(run.scheduleWarnings, []);
  assert.deepEqual(run.choices, cx.choices);
  assert.equal(run.token, cx.token);
}

test('H2 under 5.8: the bfs reference — the stale mapping needs exactly one preemption (the disable inside the fault\'s remap window)', () => {
  assert.equal(BFS.preemptions, 1);
});

test('shrinker: a random-sampled H2 stale mapping with many needless preemptions shrinks to the one preemption bfs needs, no more steps, still a stale mapping, replayable by its token', () => {
  // random samples in slices of 50 (execution n of a search seeded s samples with seed s+n)
  let bad: Counterexample | undefined;
  for (let seed = 600; bad === undefined && seed < 5000; seed += 50) {
    bad = exploreScenario(H2, { ...STALE, strategy: 'random', seed, maxExecutions: 50 }).search.counterexamples[0];
  }
  assert.ok(bad !== undefined, 'no random sample broke the property');
  assert.ok(bad.preemptions >= 3, `the sample has ${bad.preemptions} preemptions`);
  const r = shrink(scenarioProgram(H2, STALE), bad);
  const cx = r.counterexample;
  assert.equal(r.reproduced, true);
  assert.equal(r.fixpoint, true);
  assert.ok(r.accepted >= 1);
  assert.equal(cx.property, 'stale-mapping');
  assert.match(cx.message, /still maps 0000:01:00\.0's BAR/);
  assert.equal(cx.preemptions, BFS.preemptions);
  assert.ok(cx.steps <= BFS.steps, `${cx.steps} steps, bfs ${BFS.steps}`);
  assert.equal(cx.execution, bad.execution);
  assertReal(H2, cx);
});

test('shrinker: the first H2 stale mapping of a depth-first dpor search at bound 3 (3 preemptions, the switch a few steps late) is re-timed to the single preemption of bfs', () => {
  const bad = firstFound({ strategy: 'dpor', maxPreemptions: 3 });
  assert.ok(bad.preemptions > BFS.preemptions, `dpor's first has ${bad.preemptions} preemptions`);
  const r = shrink(scenarioProgram(H2, STALE), bad);
  assert.equal(r.counterexample.preemptions, BFS.preemptions);
  assert.ok(r.counterexample.steps <= BFS.steps);
  assert.ok(r.counterexample.steps <= bad.steps);
  assertReal(H2, r.counterexample);
  // the schedule it reports is the one the token replays
  assert.deepEqual(r.schedule, replayChoices(scenarioProgram(H2, STALE), r.counterexample.choices).schedule);
});

test('shrinker: an already-minimal counterexample (bfs) comes back unchanged, and shrinking is deterministic', () => {
  const prog = scenarioProgram(H2, STALE);
  const r = shrink(prog, BFS);
  assert.equal(r.counterexample, BFS);
  assert.equal(r.accepted, 0);
  assert.equal(r.fixpoint, true);
  assert.ok(r.attempts > 1, 'it did try rewrites');
  const bad = firstFound({ strategy: 'dpor', maxPreemptions: 3 });
  assert.deepEqual(shrinkCounterexample(prog, bad), shrinkCounterexample(scenarioProgram(H2, STALE), bad));
});

test('shrinker: the attempt budget is respected (1 attempt: only the replay of the input, returned as is)', () => {
  const bad = firstFound({ strategy: 'dpor', maxPreemptions: 3 });
  const r = shrink(scenarioProgram(H2, STALE), bad, { maxAttempts: 1 });
  assert.equal(r.attempts, 1);
  assert.equal(r.fixpoint, false);
  assert.equal(r.counterexample, bad);
  const few = shrink(scenarioProgram(H2, STALE), bad, { maxAttempts: 5 });
  assert.ok(few.attempts <= 5);
});

test('shrinker: a counterexample that does not break its property on replay (another property named) is returned unchanged', () => {
  const cx: Counterexample = { ...BFS, property: 'deadlock' };
  const r = shrink(scenarioProgram(H2, STALE), cx);
  assert.equal(r.reproduced, false);
  assert.equal(r.counterexample, cx);
  assert.equal(r.attempts, 1);
});

test('exploreScenario shrinks by default: a random search of H2 under 5.8 reports its stale mapping with the single preemption bfs needs, replayable by its token', () => {
  const opts: ExploreOptions = { variant: '5.8', only: ['stale-mapping'], noReplays: true, strategy: 'random', seed: 600, maxExecutions: 400 };
  const raw = exploreScenario(H2, { ...opts, noShrink: true }).search.counterexamples[0];
  const cx = exploreScenario(H2, opts).search.counterexamples[0];
  assert.ok(raw !== undefined && cx !== undefined, 'random found no stale mapping');
  assert.ok(raw.preemptions > 1, `the raw sample has ${raw.preemptions} preemptions`);
  assert.equal(cx.preemptions, BFS.preemptions);
  assert.ok(cx.steps <= BFS.steps, `${cx.steps} steps, bfs ${BFS.steps}`);
  assertReal(H2, cx);
});
