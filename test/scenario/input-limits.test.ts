/**
 * Bad input the CLI refuses with a clear error (exit 2, `file:line:col` for scenario
 * files) instead of an internal error, a hang or unbounded memory: machines the hardware
 * cannot hold, nesting past the limit, schedule counts past the limit, paths that are not
 * regular files or are too large, control characters echoed from a file; and renderers
 * that take a run of any size.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { MAX_SCENARIO_BYTES } from '../../src/scenario/load.js';
import { loadScenario, runScenario, type RunResult, type StepResult } from '../../src/scenario/index.js';
import { renderSummary, renderTrace, runToJson } from '../../src/scenario/report.js';
import { load, MAIN_OPENS_EDU0 } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'vfio-sim-input-'));
const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));

function run(args: string[]): { code: number; out: string; err: string; ms: number } {
  let out = '';
  let err = '';
  const t0 = performance.now();
  const code = main(args, (s) => (out += s + '\n'), (s) => (err += s + '\n'));
  if (typeof code !== 'number') throw new Error('a synchronous command returned a promise');
  return { code, out, err, ms: performance.now() - t0 };
}

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const BODY = `${MAIN_OPENS_EDU0}`;

/** A positioned scenario error for `f`, on one line, with no stack. */
function assertPositioned(r: { code: number; err: string }, f: string, message: RegExp): void {
  assert.equal(r.code, 2, r.err);
  assert.doesNotMatch(r.err, /internal error|\n\s+at /);
  const first = r.err.split('\n')[0] ?? '';
  assert.ok(first.startsWith(f + ':'), first);
  assert.match(first, /^.+:\d+:\d+: /);
  assert.match(first, message);
}

test('a machine needing more than 256 PCI buses (31 root ports with 32 bridges each) is a positioned scenario error at the bridge that does not fit, not an internal error', () => {
  let s = 'machine:\n  devices:\n';
  for (let i = 0; i < 31; i++) {
    s += '    - bridge: root-port\n      devices:\n';
    for (let j = 0; j < 32; j++) s += '        - bridge: pci-bridge\n          devices: [edu]\n';
  }
  const f = file('wide.yaml', s + BODY);
  const r = run(['run', f]);
  assertPositioned(r, f, /the machine cannot be built: too many buses.*255/);
  // the 255th bus goes to the 8th root port's 32nd bridge... the error points at a bridge entry
  const [, line] = /:(\d+):\d+:/.exec(r.err) ?? [];
  assert.match(s.split('\n')[Number(line) - 1] ?? '', /- bridge: /);
  const l = loadScenario(s + BODY, 'wide.yaml');
  assert.ok(!l.ok);
});

test('bridges nested 300 deep: a positioned error stating the nesting limit (a machine that deep cannot be built either)', () => {
  let s = 'machine:\n  devices:\n';
  let ind = '    ';
  for (let i = 0; i < 300; i++) {
    s += `${ind}- bridge: pci-bridge\n${ind}  devices:\n`;
    ind += '    ';
  }
  s += `${ind}- edu\n`;
  const f = file('deep.yaml', s + BODY);
  assertPositioned(run(['run', f]), f, /nested too deeply: at most 100 levels/);
});

test('5000-deep YAML nesting is a positioned error stating the nesting limit, not "Maximum call stack size exceeded" as a YAML syntax error', () => {
  for (const text of [`name: x\nprocesses: ${'['.repeat(5000)}${']'.repeat(5000)}\n`, `processes:\n  ${'- '.repeat(5000)}x\n`]) {
    const f = file('nest.yaml', text);
    const r = run(['run', f]);
    assertPositioned(r, f, /YAML nested too deeply: at most 100 levels of mappings and lists/);
    assert.doesNotMatch(r.err, /call stack/);
  }
  // 100 levels still load
  const ok = loadScenario(`name: x\nmachine: { devices: [edu] }\nprocesses:\n  - name: qemu\n    setup:\n      - open_device: edu0\n        as: dev\nx: ${'['.repeat(90)}${']'.repeat(90)}\n`, 'x.yaml');
  assert.ok(!ok.ok && ok.errors.every((e) => !/nested too deeply/.test(e.message)), 'a 90-deep value is not refused for its depth');
});

test('schedule: main*99999999999999999999 is refused at its position with the limit (at most 100000000, the largest max_steps)', () => {
  const f = file('sched.yaml', `schedule: main*99999999999999999999\n${BODY}`);
  assertPositioned(run(['run', f]), f, /sched\.yaml:1:11: bad schedule entry 'main\*99999999999999999999': the count must be at most 100000000/);
  const g = file('sched-ok.yaml', `schedule: main*100000000\n${BODY}`);
  assert.equal(run(['run', g]).code, 0);
  const cli = run(['run', g, '--schedule', 'main*100000001']);
  assert.equal(cli.code, 2);
  assert.match(cli.err, /^vfio-sim run: bad schedule entry 'main\*100000001': the count must be at most 100000000/);
});

test('reading a scenario from /dev/zero, a directory or a FIFO nobody writes to is refused at once (exit 2, one line), without reading it', async () => {
  const fifo = join(dir, 'fifo.yaml');
  execFileSync('mkfifo', [fifo]);
  for (const [p, why] of [['/dev/zero', /not a regular file/], [dir, /it is a directory/], [fifo, /not a regular file/]] as const) {
    for (const cmd of ['run', 'explore']) {
      let err = '';
      const t0 = performance.now();
      const code = await main([cmd, p], () => undefined, (s) => (err += s + '\n'));
      assert.equal(code, 2);
      assert.ok(performance.now() - t0 < 2000, `${p}: took ${performance.now() - t0} ms`);
      assert.match(err, new RegExp(`^vfio-sim ${cmd}: cannot read '${p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}': `));
      assert.match(err, why);
      assert.equal(err.trim().split('\n').length, 1, err);
    }
  }
});

test('a scenario file larger than 4 MiB is refused naming the cap: a sparse 10 GiB file, and a file one byte over', () => {
  const sparse = file('sparse.yaml', '');
  truncateSync(sparse, 10 * 1024 ** 3);
  const r = run(['run', sparse]);
  assert.equal(r.code, 2);
  assert.match(r.err, /^vfio-sim run: cannot read '.*sparse\.yaml': 10737418240 bytes, larger than the 4 MiB a scenario file may hold\n$/);
  assert.ok(r.ms < 2000, `${r.ms} ms`);
  truncateSync(sparse, 0);
  const over = file('over.yaml', `# ${'x'.repeat(MAX_SCENARIO_BYTES)}\n`);
  assert.ok(statSync(over).size > MAX_SCENARIO_BYTES);
  assert.match(run(['run', over]).err, /larger than the 4 MiB/);
  // the library refuses such a text too, with a positioned error
  const l = loadScenario('#'.repeat(MAX_SCENARIO_BYTES + 1), 'big.yaml');
  assert.ok(!l.ok && /larger than 4 MiB/.test(l.errors[0]?.message ?? ''));
});

test('control characters, escape sequences and NUL bytes from a scenario file are escaped in error messages and in the trace', () => {
  const bad = file('ctrl.yaml', 'processes:\n  - name: main\n    setup:\n      - "open_\\e[31mcont\\0ainer"\n');
  const r = run(['run', bad]);
  assert.equal(r.code, 2);
  assert.doesNotMatch(r.err, /[\x00-\x08\x0b-\x1f\x7f]/);
  assert.match(r.err, /unknown operation 'open_\\x1b\[31mcont\\x00ainer'/);
  // echoed in a run: the scenario's name and a step's text
  const ok = file('ctrl-ok.yaml', `name: "evil \\e]0;title\\a name"\nprocesses:\n  - name: qemu\n    setup:\n      - open: "/dev/\\e[2Jnothing\\0"\n`);
  const o = run(['run', ok, '--trace', 'all']);
  assert.doesNotMatch(o.out + o.err, /[\x00-\x08\x0b-\x1f\x7f]/);
  assert.match(o.out, /evil \\x1b\]0;title\\x07 name/);
  assert.match(o.out, /open \/dev\/\\x1b\[2Jnothing\\x00/);
  // a bad flag value echoed back
  const f = run(['run', ok, '--trace', 'x\x1b[2Jy']);
  assert.equal(f.code, 2);
  assert.doesNotMatch(f.err, /\x1b/);
});

test('the trace, the summary and the JSON of a run with 250 000 steps render (no spread of an unbounded array into an argument list)', () => {
  const small = runScenario(load(`name: big\nprocesses:\n  - name: qemu\n    setup:\n      - open_device: edu0\n        as: dev\n    threads:\n      - name: main\n        steps:\n          - set_mem: dev\n`));
  const step = small.steps[small.steps.length - 1] as StepResult;
  const startEv = small.events.find((e) => e.kind === 'scenario.step' && e.phase === 'start' && e.seq === step.startSeq);
  const endEv = small.events.find((e) => e.kind === 'scenario.step' && e.phase === 'end' && e.seq === step.endSeq);
  assert.ok(startEv !== undefined && endEv !== undefined);
  const N = 250_000;
  const steps: StepResult[] = [];
  const events = [...small.events];
  for (let i = 0; i < N; i++) {
    const seq = 1_000_000 + 2 * i;
    steps.push({ ...step, index: i + 1, startSeq: seq, endSeq: seq + 1 });
    events.push({ ...startEv, seq }, { ...endEv, seq: seq + 1 });
  }
  const big: RunResult = { ...small, steps, events, choices: new Array<number>(N).fill(0) };
  const trace = renderTrace(big, { detail: 'steps' });
  assert.ok(trace.length >= 2 * N, `${trace.length} rows`);
  const summary = renderSummary(big);
  assert.ok(summary.length > N);
  assert.ok(runToJson(big, 0) !== null);
});

test('no source file spreads an array into an argument list of push, unshift, splice, Math.min/max, String.fromCharCode or apply (they throw past ~100 000 elements)', () => {
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.ts')) files.push(join(d, e.name));
    }
  };
  walk(SRC);
  assert.ok(files.length > 50);
  const bad: string[] = [];
  const call = /\b(?:push|unshift|splice|min|max|fromCharCode|fromCodePoint|apply)\(/g;
  for (const f of files) {
    // comments may mention the pattern
    const text = readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
    for (const m of text.matchAll(call)) {
      if (m[0] === 'apply(') {
        bad.push(`${f.slice(SRC.length)}: ${text.slice(m.index, m.index + 60)}`);
        continue;
      }
      // the call's own arguments (depth 0 inside its parentheses), strings skipped
      let depth = 0;
      for (let i = m.index + m[0].length; i < text.length; i++) {
        const ch = text.charAt(i);
        if (ch === "'" || ch === '"' || ch === '`') {
          const close = text.indexOf(ch, i + 1);
          if (close < 0) break;
          i = close;
        } else if (ch === '(' || ch === '[' || ch === '{') depth++;
        else if (ch === ')' || ch === ']' || ch === '}') {
          if (depth === 0) break;
          depth--;
        } else if (depth === 0 && text.startsWith('...', i)) {
          bad.push(`${f.slice(SRC.length)}: ${text.slice(m.index, m.index + 60)}`);
          break;
        }
      }
    }
  }
  assert.deepEqual(bad, []);
});
