import { test } from 'node:test';
import assert from 'node:assert/strict';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { LOG_EVERY_MS, Progress } from '../../src/cli/progress.js';
import { checkSuite, forcedKnobs } from '../../src/scenario/check-suite.js';
import { checkToJson, renderCheck } from '../../src/scenario/explore-report.js';
import { readFileSync } from 'node:fs';
import { EXAMPLES_DIR, example, load } from '../scenario/helpers.js';

/** H10's scenario as it was before the 6.1.y preset: forcing the new fork order on every variant. */
function h10Forced() {
  const text = readFileSync(new URL('h10-fork-stale-mapping.yaml', EXAMPLES_DIR), 'utf8').replace(/^variant: '6\.1\.y'$/m, "variant: { base: '6.1', knobs: { forkOpenBeforeCopy: true } }");
  assert.match(text, /forkOpenBeforeCopy: true/);
  return load(text, 'h10-forced.yaml');
}

test('forcedKnobs: a scenario\'s knob override counts as forced on a preset only where the preset\'s own value differs (H10\'s fork order: forced on 6.1, not on 6.10)', () => {
  assert.deepEqual(forcedKnobs('6.1', { forkOpenBeforeCopy: true }), ['forkOpenBeforeCopy=true']);
  assert.deepEqual(forcedKnobs('6.10', { forkOpenBeforeCopy: true }), []);
  assert.deepEqual(forcedKnobs('5.8', {}), []);
});

test('check table: a cell broken only by a scenario that forces knobs off the row\'s preset is marked * with a legend; a cell a preset breaks by itself shows that scenario, unmarked', () => {
  // stale-mapping: under 5.13 both H7 (no forced knob) and H10 (forces forkOpenBeforeCopy) break it; under 5.19 only H10 does
  const r = checkSuite([example('h7-d3hot-mapping-live.yaml'), h10Forced()], { variants: ['5.13', '5.19'], maxPreemptions: 2 });
  const at = (v: string, p: string): { file: string; forced: readonly string[] } | undefined => r.table.get(v)?.get(p);
  assert.equal(at('5.13', 'stale-mapping')?.file, 'h7-d3hot-mapping-live.yaml');
  assert.deepEqual(at('5.13', 'stale-mapping')?.forced, []);
  assert.equal(at('5.19', 'stale-mapping')?.file, 'h10-forced.yaml');
  assert.deepEqual(at('5.19', 'stale-mapping')?.forced, ['forkOpenBeforeCopy=true']);
  const lines = renderCheck(r);
  const text = lines.join('\n');
  const head = lines[0] ?? '';
  const col = head.indexOf('stale-');
  assert.ok(col > 0, head);
  const cell = (v: string): string => (lines.find((l) => l.startsWith(`${v} `)) ?? '').slice(col).split(/\s{2,}/)[0] ?? '';
  assert.equal(cell('5.13'), '✗ H7');
  assert.equal(cell('5.19'), '✗ H10*');
  assert.match(text, /^\* only under knobs that scenario forces on every variant/m, 'the legend explains the mark');
  assert.match(text, /^ {2}H10 +h10-forced\.yaml {2}\* forces forkOpenBeforeCopy=true$/m);
  const json = checkToJson(r, 0) as { table: Record<string, Record<string, { forcedKnobs: string[] } | null>> };
  assert.deepEqual(json.table['5.19']?.['stale-mapping']?.forcedKnobs, ['forkOpenBeforeCopy=true']);
  // no mark, no legend when nothing is forced
  const plain = renderCheck(checkSuite([example('h7-d3hot-mapping-live.yaml')], { variants: ['5.13'], maxPreemptions: 2 })).join('\n');
  assert.doesNotMatch(plain, /\*/);
});

const EXAMPLES = relative(process.cwd(), fileURLToPath(EXAMPLES_DIR));

test('vfio-sim check on a terminal: one progress line rewritten in place (cells n/N, time), then the time taken; the table fits 120 columns and names scenarios by relative path', async () => {
  let raw = '';
  let out = '';
  let err = '';
  const code = await main(['check', '--variants', '6.1.y'], (s) => (out += s + '\n'), (s) => (err += s + '\n'), { color: false, columns: 100, progress: true, writeErr: (s) => (raw += s) });
  assert.equal(code, 0);
  assert.equal(err, '', 'no line per cell');
  assert.match(raw, /^(\r\x1b\[2Kcells \d+\/12, \d+\.\d s)+\r\x1b\[2K12 cells checked in \d+\.\d s\n$/);
  assert.match(raw, /cells 12\/12/);
  for (const l of out.split('\n')) assert.ok(l.length <= 120, `${l.length} columns: ${l}`);
  assert.ok(!out.includes(fileURLToPath(EXAMPLES_DIR)), 'no absolute path');
  assert.match(out, new RegExp(`^ {2}H10 +${EXAMPLES.replace(/[.]/g, '\\.')}/h10-fork-stale-mapping\\.yaml$`, 'm'));
  assert.doesNotMatch(out, /vs1\./, 'the replay tokens are behind --footnotes');
  assert.match(out, /^6\.1\.y +✗ H10 /m, '6.1.y breaks unsupported-request in H10 (its own preset: no mark)');
  assert.doesNotMatch(out, /forces/, 'the built-in suite forces no knob');
});

test('vfio-sim check off a terminal: a plain progress line at the start and the time taken at the end; --footnotes lists every failing cell with its replay command under its scenario', async () => {
  let out = '';
  let err = '';
  const code = await main(['check', '--variants', '6.1.y', '--footnotes'], (s) => (out += s + '\n'), (s) => (err += s + '\n'), { color: false, columns: undefined, progressLog: true });
  assert.equal(code, 0);
  const lines = err.trimEnd().split('\n');
  assert.equal(lines[0], 'checking 12 scenarios × 1 variant: cells 0/12, 0.0 s');
  assert.match(lines[lines.length - 1] ?? '', /^12 cells checked in \d+\.\d s$/);
  assert.doesNotMatch(err, /\x1b|\r/);
  assert.match(out, new RegExp(`^ {4}6\\.1\\.y unsupported-request \\(0 preemptions\\): vfio-sim replay ${EXAMPLES.replace(/[.]/g, '\\.')}/h10-fork-stale-mapping\\.yaml vs1\\.\\S+$`, 'm'));
});

test('Progress: in place on a terminal; off a terminal one plain line per interval of the CLI\'s clock; the final line ends both', () => {
  let now = 0;
  let tty = '';
  const p = new Progress('tty', (s) => (tty += s), () => now, 30);
  p.update('cells 1/120');
  now = 1200;
  p.update('cells 37/120');
  p.update('a very long line that does not fit in thirty columns');
  p.finish('120 cells checked in 1.2 s');
  assert.equal(tty, '\r\x1b[2Kcells 1/120, 0.0 s\r\x1b[2Kcells 37/120, 1.2 s\r\x1b[2Ka very long line that does n…\r\x1b[2K120 cells checked in 1.2 s\n');
  now = 0;
  let log = '';
  const q = new Progress('log', (s) => (log += s), () => now);
  q.update('cells 0/120', true);
  now = LOG_EVERY_MS - 1;
  q.update('cells 5/120');
  now = LOG_EVERY_MS;
  q.update('cells 9/120');
  now = LOG_EVERY_MS + 10;
  q.update('cells 10/120');
  q.finish('done');
  assert.equal(log, `cells 0/120, 0.0 s\ncells 9/120, ${(LOG_EVERY_MS / 1000).toFixed(1)} s\ndone\n`);
  let off = '';
  const o = new Progress('off', (s) => (off += s), () => now);
  o.update('x', true);
  o.finish('y');
  assert.equal(off, '');
});
