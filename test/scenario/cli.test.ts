/**
 * `vfio-sim run`: exit codes (0 expectations met, 1 failed, 2 bad input), one-line
 * errors for bad flags and files, `file:line:col` errors for bad scenarios, the
 * `--json` shape, and replaying a printed token.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../cli/helpers.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'vfio-sim-run-'));


function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const OK = `name: cli ok
processes:
  - name: qemu
    setup:
      - open_device: edu0
        as: dev
      - mmap: { fd: dev, region: bar0 }
        as: bar
      - load: bar
    threads:
      - name: t1
        steps:
          - load: bar
            expect: 0x010000ed
      - name: t2
        steps:
          - pread: { fd: dev, region: bar0, size: 4 }
            expect: 0x010000ed
`;

test('run: a scenario whose expectations hold exits 0 and prints the trace, the summary and a replay token', () => {
  const r = runCli(['run', file('ok.yaml', OK)]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^t1 +t2$/m, 'one column per thread');
  assert.match(r.out, /Summary/);
  assert.match(r.out, /expectations: 4 met, 0 failed/); // 2 steps + no deadlock + no BUG
  assert.match(r.out, /replay: vfio-sim run .*ok\.yaml --replay vs1\.[A-Za-z0-9_-]+/);
  assert.doesNotMatch(r.out, /\x1b\[/, 'no colors when not on a terminal');
});

test('run: a failed expectation exits 1 and says what was expected', () => {
  const r = runCli(['run', file('fail.yaml', OK.replace('expect: 0x010000ed\n      - name: t2', 'expect: EIO\n      - name: t2'))]);
  assert.equal(r.code, 1);
  assert.match(r.out, /✗ FAILED t1 +1 +load bar\/4 +0x10000ed — expected -EIO, got 0x10000ed/);
});

test('run: a malformed scenario exits 2 with file:line:col errors on stderr', () => {
  const p = file('bad.yaml', OK.replace('region: bar0, size: 4', 'region: bar0, sise: 4'));
  const r = runCli(['run', p]);
  assert.equal(r.code, 2);
  assert.equal(r.out, '');
  assert.match(r.err, new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:17:45: unknown field 'sise' in pread \\(did you mean 'size'\\?\\)`));
  assert.equal(r.err.trim().split('\n').length, 1);
});

test('run: bad flags and inputs are one-line errors with exit 2', () => {
  const p = file('ok2.yaml', OK);
  const cases: [string[], RegExp][] = [
    [['run', p, '--bogus'], /Unknown option '--bogus'/],
    [['run'], /missing the scenario file/],
    [['run', p, p], /unexpected argument/],
    [['run', join(dir, 'nope.yaml')], /cannot read '.*nope\.yaml': no such file/],
    [['run', p, '--seed', 'abc'], /--seed expects an integer/],
    [['run', p, '--variant', '9.9'], /unknown variant '9\.9'/],
    [['run', p, '--knob', 'nonsense'], /--knob expects NAME=VALUE/],
    [['run', p, '--knob', 'noSuchKnob=1'], /unknown knob 'noSuchKnob'/],
    [['run', p, '--schedule', 'nobody*2'], /unknown thread 'nobody'/],
    [['run', p, '--schedule', 'rr', '--seed', '3'], /a seed only applies to the random schedule/],
    [['run', p, '--replay', 'garbage'], /bad replay token/],
    [['run', p, '--trace', 'loud'], /--trace expects steps, key or all/],
  ];
  for (const [args, msg] of cases) {
    const r = runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, msg, args.join(' '));
    assert.equal(r.err.trim().split('\n').length, 1, `one line: ${r.err}`);
    assert.doesNotMatch(r.err, /\bat .*\.js:\d+/, 'no stack trace');
  }
});

test('run --json: the event stream, per-step verdicts, the end of the run and the token', () => {
  const r = runCli(['run', file('ok3.yaml', OK), '--json', '--seed', '5']);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as Record<string, unknown>;
  assert.equal(j['ok'], true);
  assert.equal(j['exitCode'], 0);
  assert.deepEqual(j['schedule'], { kind: 'random', description: 'random (seed 5)', seed: 5 });
  assert.equal((j['end'] as { kind: string }).kind, 'done');
  const steps = j['steps'] as { thread: string; index: number; status: string; verdict: string; outcome: { value?: string } }[];
  assert.equal(steps.length, 5);
  const t1 = steps.find((s) => s.thread === 't1');
  assert.deepEqual([t1?.status, t1?.verdict, t1?.outcome.value], ['ok', 'met', '0x10000ed']);
  const events = j['events'] as { kind: string; seq: number; tid: number }[];
  assert.ok(events.length > 50);
  assert.ok(events.some((e) => e.kind === 'scenario.step'));
  assert.ok(events.every((e, i) => i === 0 || e.seq > (events[i - 1]?.seq ?? 0)), 'in order');
  assert.match(String(j['token']), /^vs1\./);
  assert.deepEqual(j['expectations'], { met: 4, failed: 0 });

  // the token replays the run: the same event stream
  const again = JSON.parse(runCli(['run', join(dir, 'ok3.yaml'), '--json', '--replay', String(j['token'])]).out) as Record<string, unknown>;
  const mask = (x: unknown): string => JSON.stringify(x).replace(/(container_group_lock|iommu_lock):\d+/g, '$1:#');
  assert.equal(mask(again['events']), mask(j['events']));
  assert.equal(again['token'], j['token']);
});

test('run --json on a malformed scenario prints the errors as JSON and exits 2', () => {
  const r = runCli(['run', file('bad2.yaml', 'processes: 3\n'), '--json']);
  assert.equal(r.code, 2);
  const j = JSON.parse(r.out) as { ok: boolean; errors: { line: number; col: number; message: string }[] };
  assert.equal(j.ok, false);
  assert.deepEqual(j.errors.map((e) => [e.line, e.col]), [[1, 12]]);
  assert.match(j.errors[0]?.message ?? '', /expected a list of processes; got 3/);
});

test('run: the examples folder runs with every expectation met (exit 0)', () => {
  const r = runCli(['run', join(EXAMPLES, 'disable-blocks-access.yaml'), '--trace', 'steps']);
  assert.equal(r.code, 0, r.out);
});

test('run --help and the top-level usage mention run', () => {
  const h = runCli(['run', '--help']);
  assert.equal(h.code, 0);
  assert.match(h.out, /usage: vfio-sim run <scenario\.yaml>/);
  assert.match(runCli(['--help']).out, /run <scenario\.yaml>/);
});

test('run --all-variants: one row per preset; exit 0 when the defect is present exactly where the scenario declares it', () => {
  const r = runCli(['run', `${EXAMPLES}h4-ioeventfd-while-disabled.yaml`, '--all-variants']);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /^ {2}5\.8 +hold +present ✓ 1 UR$/m);
  assert.match(r.out, /^ {2}5\.13 +fail +absent {2}✓ platform errors: expected 1, got 0$/m);
  assert.match(r.out, /as declared: H4 is present exactly in 5\.7, v1, v2, 5\.8/);
});

test('run --all-variants: a wrong present_in declaration exits 1 and names the contradicting variants', () => {
  const text = readFileSync(`${EXAMPLES}h4-ioeventfd-while-disabled.yaml`, 'utf8').replace(/present_in: \[[^\]]*\]/, "present_in: ['5.8']");
  const r = runCli(['run', file('h4-wrong.yaml', text), '--all-variants']);
  assert.equal(r.code, 1);
  assert.match(r.out, /^ {2}5\.7 +hold +present ✗/m);
  assert.match(r.out, /not as declared in: 5\.7, v1, v2/);
});

test('run --all-variants --json: rows with verdict, asDeclared and a replay token per variant', () => {
  const r = runCli(['run', `${EXAMPLES}h4-ioeventfd-while-disabled.yaml`, '--all-variants', '--json']);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as { ok: boolean; defect: { id: string }; rows: { variant: string; verdict: string; asDeclared: boolean; token: string }[] };
  assert.equal(j.ok, true);
  assert.equal(j.defect.id, 'H4');
  assert.equal(j.rows.length, 12);
  assert.ok(j.rows.every((x) => x.asDeclared === true && /^vs1\./.test(x.token)));
});

test('run --all-variants refuses --variant and --replay (bad input, exit 2)', () => {
  const f = `${EXAMPLES}h4-ioeventfd-while-disabled.yaml`;
  const a = runCli(['run', f, '--all-variants', '--variant', '5.8']);
  assert.equal(a.code, 2);
  assert.match(a.err, /--all-variants runs every variant; drop --variant/);
  const b = runCli(['run', f, '--all-variants', '--replay', 'vs1.AAAA']);
  assert.equal(b.code, 2);
});

test('scenario: an unknown variant in defect.present_in is reported at its position', () => {
  const text = readFileSync(`${EXAMPLES}h4-ioeventfd-while-disabled.yaml`, 'utf8').replace(/present_in: \[[^\]]*\]/, "present_in: ['5.8', 5.99]");
  const r = runCli(['run', file('h4-bad.yaml', text)]);
  assert.equal(r.code, 2);
  assert.match(r.err, /h4-bad\.yaml:\d+:\d+: unknown variant '5\.99'/);
});
