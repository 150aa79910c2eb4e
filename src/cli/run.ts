/**
 * `vfio-sim run <scenario> [--variant V] [--knob k=v]... [--schedule rr|random|LIST]
 * [--seed N] [--replay TOKEN] [--trace steps|key|all] [--json] [--all-variants]`
 *
 * Exit codes: 0 every expectation met, 1 an expectation failed (or the run hit its step
 * limit; with --all-variants: a variant contradicts the scenario's `defect.present_in`),
 * 2 bad input (flags, scenario file, token), 3 internal error.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatScenarioError, loadScenario, runScenario, ScenarioInputError } from '../scenario/index.js';
import { renderHeader, renderSummary, renderTrace, runToJson } from '../scenario/report.js';
import { parseKnobAssignment, type KnobValue } from '../scenario/variant.js';
import { type MatrixResult, runMatrix } from '../scenario/matrix.js';
import type { Scenario } from '../scenario/load.js';
import { PLAIN, type Terminal } from './terminal.js';
import picocolors from 'picocolors';

export const RUN_USAGE = `usage: vfio-sim run <scenario.yaml> [options]

options:
  --variant V          design variant preset (overrides the scenario's; see 'vfio-sim variants')
  --knob NAME=VALUE    override one knob on top of the variant (repeatable)
  --schedule S         rr (round-robin, default), random, or a list of thread names: main,vcpu*3,main
  --seed N             seed of the random schedule (implies --schedule random)
  --replay TOKEN       reproduce an earlier run exactly (the token it printed)
  --trace T            trace rows: steps, key (default: steps and key kernel events) or all
  --json               print the event stream and the verdicts as JSON
  --all-variants       run under every variant preset (knob overrides kept) and print
                       which ones make every expectation hold; checks 'defect.present_in'
  -h, --help           show this help

exit codes: 0 expectations met, 1 expectations failed, 2 bad input, 3 internal error`;

/** Run the `run` command; returns the exit code. */
export function runCommand(argv: readonly string[], out: (s: string) => void, err: (s: string) => void, term: Terminal = PLAIN): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        variant: { type: 'string' },
        knob: { type: 'string', multiple: true },
        schedule: { type: 'string' },
        seed: { type: 'string' },
        replay: { type: 'string' },
        trace: { type: 'string' },
        json: { type: 'boolean' },
        'all-variants': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    err(`vfio-sim run: ${(e as Error).message.replace(/\. To specify a positional argument.*$/s, '')} (see 'vfio-sim run --help')`);
    return 2;
  }
  const v = parsed.values;
  if (v.help === true) {
    out(RUN_USAGE);
    return 0;
  }
  const bad = (msg: string): number => {
    err(`vfio-sim run: ${msg}`);
    return 2;
  };
  const [file, ...extra] = parsed.positionals;
  if (file === undefined) return bad("missing the scenario file (usage: vfio-sim run <scenario.yaml> [options]; see 'vfio-sim run --help')");
  if (extra.length > 0) return bad(`unexpected argument '${extra[0] ?? ''}' (one scenario file per run)`);
  let seed: number | undefined;
  if (v.seed !== undefined) {
    if (!/^\d+$/.test(v.seed) || Number(v.seed) > 0xffffffff) return bad(`--seed expects an integer from 0 to 4294967295, got '${v.seed}'`);
    seed = Number(v.seed);
  }
  const trace = v.trace ?? 'key';
  if (trace !== 'steps' && trace !== 'key' && trace !== 'all') return bad(`--trace expects steps, key or all, got '${trace}'`);
  let knobs: Record<string, KnobValue> | undefined;
  for (const k of v.knob ?? []) {
    const a = parseKnobAssignment(k);
    if (a === null) return bad(`--knob expects NAME=VALUE, got '${k}'`);
    knobs = { ...(knobs ?? {}), [a.key]: a.value };
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return bad(`cannot read '${file}': ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (e as Error).message}`);
  }
  const loaded = loadScenario(text, file);
  if (!loaded.ok) {
    if (v.json === true) out(JSON.stringify({ ok: false, exitCode: 2, errors: loaded.errors }, null, 2));
    else for (const e of loaded.errors) err(formatScenarioError(e));
    return 2;
  }
  if (v['all-variants'] === true) {
    if (v.variant !== undefined) return bad('--all-variants runs every variant; drop --variant');
    if (v.replay !== undefined) return bad('--all-variants cannot replay a token (a token fixes one variant)');
    try {
      const m = runMatrix(loaded.scenario, {
        ...(knobs !== undefined ? { knobs } : {}),
        ...(v.schedule !== undefined ? { schedule: v.schedule } : {}),
        ...(seed !== undefined ? { seed } : {}),
      });
      if (v.json === true) out(JSON.stringify(matrixToJson(loaded.scenario, m), null, 2));
      else for (const line of renderMatrix(loaded.scenario, m, term.color)) out(line);
      return m.ok ? 0 : 1;
    } catch (e) {
      if (e instanceof ScenarioInputError) return bad(e.message);
      err(`vfio-sim: internal error: ${(e as Error).stack ?? String(e)}`);
      return 3;
    }
  }
  try {
    const res = runScenario(loaded.scenario, {
      ...(v.variant !== undefined ? { variant: v.variant } : {}),
      ...(knobs !== undefined ? { knobs } : {}),
      ...(v.schedule !== undefined ? { schedule: v.schedule } : {}),
      ...(seed !== undefined ? { seed } : {}),
      ...(v.replay !== undefined ? { replay: v.replay } : {}),
    });
    const code = res.ok ? 0 : 1;
    if (v.json === true) {
      out(JSON.stringify(runToJson(res, code), null, 2));
      return code;
    }
    const width = term.columns !== undefined ? Math.max(60, term.columns) : 120;
    const opts = { width, color: term.color, detail: trace, replayCommand: (t: string) => `vfio-sim run ${file} --replay ${t}` } as const;
    out(renderHeader(res, opts));
    out('');
    for (const line of renderTrace(res, opts)) out(line);
    out('');
    for (const line of renderSummary(res, opts)) out(line);
    return code;
  } catch (e) {
    if (e instanceof ScenarioInputError) {
      if (v.json === true) out(JSON.stringify({ ok: false, exitCode: 2, errors: [{ message: e.message }] }, null, 2));
      return bad(e.message);
    }
    err(`vfio-sim: internal error: ${(e as Error).stack ?? String(e)}`);
    return 3;
  }
}

/** The --all-variants table: one row per preset. */
function renderMatrix(s: Scenario, m: MatrixResult, color: boolean): string[] {
  const c = picocolors.createColors(color);
  const out: string[] = [];
  const title = s.name ?? s.file;
  out.push(c.bold(`${title} — every variant${s.defect !== null ? ` (defect ${s.defect.id}, declared present in: ${s.defect.presentIn.join(', ') || 'none'})` : ''}`));
  out.push('');
  const w = Math.max(7, ...m.rows.map((r) => r.variant.length));
  out.push(`  ${'variant'.padEnd(w)}  ${'expectations'.padEnd(12)}  ${s.defect !== null ? 'defect   ' : ''}outcome`);
  for (const r of m.rows) {
    const verdict = r.verdict === 'holds' ? c.green('hold'.padEnd(12)) : r.verdict === 'fails' ? c.yellow('fail'.padEnd(12)) : c.dim('n/a'.padEnd(12));
    let defect = '';
    if (s.defect !== null) {
      const word = r.verdict === 'n/a' ? 'n/a' : r.verdict === 'holds' ? 'present' : 'absent';
      const mark = r.asDeclared === null ? ' ' : r.asDeclared ? c.green('✓') : c.red('✗');
      defect = `${word.padEnd(7)} ${mark} `;
    }
    out.push(`  ${r.variant.padEnd(w)}  ${verdict}  ${defect}${r.verdict === 'n/a' ? c.dim(r.outcome) : r.outcome}`);
  }
  out.push('');
  if (s.defect !== null) {
    const bad = m.rows.filter((r) => r.asDeclared === false).map((r) => r.variant);
    out.push(bad.length === 0 ? c.green(`as declared: ${s.defect.id} is present exactly in ${s.defect.presentIn.join(', ') || 'no variant'}`) : c.red(`not as declared in: ${bad.join(', ')}`));
  }
  return out;
}

function matrixToJson(s: Scenario, m: MatrixResult): unknown {
  return {
    scenario: { file: s.file, name: s.name, hash: s.hash },
    defect: s.defect,
    ok: m.ok,
    exitCode: m.ok ? 0 : 1,
    rows: m.rows.map((r) => ({
      variant: r.variant,
      verdict: r.verdict,
      asDeclared: r.asDeclared,
      outcome: r.outcome,
      token: r.run?.token ?? null,
      expectations: r.run?.expectations ?? null,
    })),
  };
}
