/**
 * The differential test of the generator lowering on the random-operation property test's
 * harness (test/property/harness.ts): fast-check's random user operation sequences (the
 * same generator as random-user-ops.test.ts, fixed seeds) run on the plain generators
 * (dist/plain/) and on the lowered frames (dist/), and give the same event stream, event
 * by event, and the same per-run statistics. `npm run test:differential` runs more of them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import * as lowered from '../property/harness.js';

type Harness = typeof lowered;
const plain = (await import(new URL('../../plain/test/property/harness.js', import.meta.url).href)) as Harness;
const FULL = process.env.VFIO_SIM_DIFFERENTIAL === 'full';

function record(h: Harness, variant: '5.8' | '5.7', profile: lowered.Profile, s: lowered.Scenario): string {
  const r = new h.Runner(variant, profile);
  const log: string[] = [];
  r.sys.events.on((e) => log.push(JSON.stringify(e, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))));
  let end = 'ok';
  try {
    r.runScenario(s);
  } catch (e) {
    end = `throws ${e instanceof Error ? e.message : String(e)}`;
  }
  return JSON.stringify({ end, stats: { ...r.stats, explainedUrs: Array.from(r.stats.explainedUrs.entries()) }, log });
}

for (const [variant, profile, seed] of [
  ['5.8', 'guarded', 0x5808],
  ['5.8', 'full', 0x5809],
  ['5.8', 'host', 0x580a],
  ['5.7', 'full', 0x5707],
] as const) {
  test(`lowered = plain generators: random user operation sequences (${variant}, ${profile} profile) give the same events and outcomes`, () => {
    const runs = fc.sample(lowered.scenarioArb(profile, 4, 40), { seed, numRuns: FULL ? 300 : 25 });
    let events = 0;
    for (const [i, s] of runs.entries()) {
      const a = record(plain, variant, profile, s);
      const b = record(lowered, variant, profile, s);
      assert.equal(b, a, `run ${i}: ${s.ops.map(lowered.showOp).join('; ')}`);
      events += (JSON.parse(a) as { log: unknown[] }).log.length;
    }
    assert.ok(events > runs.length * 10, `the runs did something (${events} events)`);
  });
}
