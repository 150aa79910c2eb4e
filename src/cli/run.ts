/**
 * `vfio-sim run <scenario> [--variant V] [--knob k=v]... [--schedule rr|random|LIST]
 * [--seed N] [--replay TOKEN] [--trace steps|key|all] [--json] [--all-variants]`
 *
 * Exit codes: 0 every expectation met, 1 an expectation failed (or the run hit its step
 * limit; with --all-variants: a variant contradicts the scenario's `defect.present_in`),
 * 2 bad input (flags, scenario file, token), 3 internal error.
 */
import { formatScenarioError, loadScenario, runScenario, ScenarioInputError } from '../scenario/index.js';
import { matrixToJson, renderHeader, renderMatrix, renderSummary, renderTrace, runToJson } from '../scenario/report.js';
import { parseCommand, parseKnobFlags, readText } from './args.js';
import { runMatrix } from '../scenario/matrix.js';
import { PLAIN, type Terminal } from './terminal.js';

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
  const cmd = parseCommand('run', argv, {
    variant: { type: 'string' },
    knob: { type: 'string', multiple: true },
    schedule: { type: 'string' },
    seed: { type: 'string' },
    replay: { type: 'string' },
    trace: { type: 'string' },
    json: { type: 'boolean' },
    'all-variants': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  }, true, RUN_USAGE, out, err);
  if (typeof cmd === 'number') return cmd;
  const { values: v, positionals, bad } = cmd;
  const [file, ...extra] = positionals;
  if (file === undefined) return bad("missing the scenario file (usage: vfio-sim run <scenario.yaml> [options]; see 'vfio-sim run --help')");
  if (extra.length > 0) return bad(`unexpected argument '${extra[0] ?? ''}' (one scenario file per run)`);
  let seed: number | undefined;
  if (v.seed !== undefined) {
    if (!/^\d+$/.test(v.seed) || Number(v.seed) > 0xffffffff) return bad(`--seed expects an integer from 0 to 4294967295, got '${v.seed}'`);
    seed = Number(v.seed);
  }
  const trace = v.trace ?? 'key';
  if (trace !== 'steps' && trace !== 'key' && trace !== 'all') return bad(`--trace expects steps, key or all, got '${trace}'`);
  const kf = parseKnobFlags(v.knob);
  if ('error' in kf) return bad(kf.error);
  const knobs = kf.knobs;
  const read = readText(file);
  if ('error' in read) return bad(read.error);
  const loaded = loadScenario(read.text, file);
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
      else for (const line of renderMatrix(loaded.scenario, m, { color: term.color })) out(line);
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

