/**
 * The differential test of the generator lowering (tools/lower/lower.ts): every example
 * scenario, run under several schedules — round-robin, seeded random, and the explorer's
 * counterexamples replayed from their tokens — gives the byte-identical run (event stream,
 * choices, steps, verdicts, token) with the plain generators (dist/plain/, emitted by the
 * build without the lowering) and with the lowered frames (dist/).
 *
 * `npm test` samples: every example under round-robin and two seeds, the explorer's
 * counterexamples of the h* examples. `npm run test:differential` (VFIO_SIM_DIFFERENTIAL=full)
 * runs every example under twenty seeds and replays the counterexamples of all of them.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as lowered from '../../src/index.js';

type Api = typeof lowered;
const plainUrl = new URL('../../plain/src/index.js', import.meta.url).href;
const plain = (await import(plainUrl)) as Api;

const FULL = process.env.VFIO_SIM_DIFFERENTIAL === 'full';
const SEEDS = FULL ? Array.from({ length: 20 }, (_, i) => i + 1) : [1, 2];
const examplesDir = new URL('../../../examples/', import.meta.url);
const files = readdirSync(examplesDir).filter((f) => f.endsWith('.yaml')).sort();

/** A run as text: everything a user of the run can observe, in a stable order. */
function runText(r: lowered.RunResult): string {
  const { threadOfTid, ...rest } = r;
  return JSON.stringify({ ...rest, threadOfTid: Array.from(threadOfTid.entries()) }, (_k, v: unknown) => {
    if (typeof v === 'bigint') return `${v}n`;
    if (v instanceof Map) return Array.from(v.entries());
    if (v instanceof Set) return Array.from(v.values());
    if (ArrayBuffer.isView(v)) return Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    return v;
  });
}

function load(api: Api, file: string): lowered.Scenario {
  const text = readFileSync(new URL(file, examplesDir), 'utf8');
  const r = api.loadScenario(text, `examples/${file}`);
  if (!r.ok) throw new Error(`${file}: ${r.errors.map((e) => e.message).join('; ')}`);
  return r.scenario;
}

function same(file: string, opts: lowered.RunOptions, what: string): void {
  const a = runText(plain.runScenario(load(plain, file), opts));
  const b = runText(lowered.runScenario(load(lowered, file), opts));
  if (a !== b) {
    let i = 0;
    while (i < a.length && a[i] === b[i]) i++;
    assert.fail(`${file} (${what}): the lowered run differs from the plain generators' at character ${i}:\n  plain:   …${a.slice(Math.max(0, i - 120), i + 120)}\n  lowered: …${b.slice(Math.max(0, i - 120), i + 120)}`);
  }
}

test('the differential test compares two forms: dist/plain runs generator objects, dist/ runs lowered frames', async () => {
  const pMmap = (await import(new URL('../../plain/src/kernel/mm/mmap.js', import.meta.url).href)) as typeof import('../../src/kernel/mm/mmap.js');
  const lMmap = await import('../../src/kernel/mm/mmap.js');
  const sysP = new plain.System();
  const sysL = new lowered.System();
  const tp = pMmap.doMunmap(sysP.kernel, sysP.kernel.sched.current as never, 0, 0);
  const tl = lMmap.doMunmap(sysL.kernel, sysL.kernel.sched.current as never, 0, 0);
  assert.equal(Object.prototype.toString.call(tp), '[object Generator]');
  assert.notEqual(Object.prototype.toString.call(tl), '[object Generator]');
  assert.equal(typeof (tl as unknown as { $pc: unknown }).$pc, 'number', 'a lowered task keeps its resume point in a field');
});

for (const file of files) {
  test(`lowered = plain generators: ${file} under round-robin and seeded random schedules`, () => {
    same(file, { schedule: 'rr' }, 'rr');
    for (const seed of SEEDS) same(file, { seed }, `seed ${seed}`);
  });
}

const explored = FULL ? files : files.filter((f) => /^h\d/.test(f));
for (const file of explored) {
  test(`lowered = plain generators: ${file}, the explorer's counterexamples replayed`, () => {
    const x = lowered.exploreScenario(load(lowered, file), { noReplays: true, noShrink: !FULL });
    for (const { cx } of x.counterexamples) same(file, { replay: cx.token }, `replay of ${cx.token.slice(0, 24)}…`);
  });
}
