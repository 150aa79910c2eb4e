/**
 * `vfio-sim run <scenario> [--variant V] [--knob k=v]... [--schedule rr|random|LIST]
 * [--seed N] [--replay TOKEN] [--trace steps|key|all] [--json] [--all-variants]`
 *
 * Exit codes: 0 every expectation met, 1 an expectation failed (or the run hit its step
 * limit; with --all-variants: a variant contradicts the scenario's `defect.present_in`),
 * 2 bad input (flags, scenario file, token), 3 internal error. Replaying an explorer's
 * counterexample token: 1 when the property it was found breaking is broken again, 0
 * when not; the scenario's expectations (written for its own schedule) are shown as a
 * secondary note and do not count.
 */
import { decodeToken, formatScenarioError, loadScenario, runScenario, ScenarioInputError, type RunResult } from '../scenario/index.js';
import { replayFinding } from '../scenario/explore.js';
import { escapeControls } from '../scenario/source.js';
import { matrixToJson, renderHeader, renderMatrix, renderSummary, renderTrace, runToJson } from '../scenario/report.js';
import { parseCommand, parseKnobFlags, readText } from './args.js';
import { runMatrix } from '../scenario/matrix.js';
import { PLAIN, type Terminal } from './terminal.js';
import pc from 'picocolors';

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

exit codes: 0 expectations met, 1 expectations failed, 2 bad input, 3 internal error
(replaying an explorer's counterexample: 1 when its property is broken again, else 0;
the expectations are then a secondary note)`;

/** Run the `run` command; returns the exit code. */
export function runCommand(argv: readonly string[], out: (s: string) => void, err: (s: string) => void, term: Terminal = PLAIN, name: 'run' | 'replay' = 'run'): number {
  const cmd = parseCommand(name, argv, {
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
    const options = {
      ...(v.variant !== undefined ? { variant: v.variant } : {}),
      ...(knobs !== undefined ? { knobs } : {}),
      ...(v.schedule !== undefined ? { schedule: v.schedule } : {}),
      ...(seed !== undefined ? { seed } : {}),
      ...(v.replay !== undefined ? { replay: v.replay } : {}),
    };
    // the replay of an explorer's counterexample: the properties decide, as they did for the explorer
    const finding = v.replay !== undefined && Object.keys(options).length === 1 ? (decodeToken(v.replay).finding ?? null) : null;
    let res: RunResult;
    let broken: Finding | null = null;
    if (finding !== null) {
      const f = replayFinding(loaded.scenario, v.replay ?? '');
      res = f.run;
      broken = {
        found: finding.properties.map((p) => ({ property: p, message: f.violations.get(p) ?? null })),
        others: [...f.violations].filter(([p]) => !finding.properties.includes(p)),
      };
    } else res = runScenario(loaded.scenario, options);
    // a finding: exit 1 when a property it was found breaking is broken again (the expectations were written for another schedule)
    const code = broken !== null ? (broken.found.some((x) => x.message !== null) ? 1 : 0) : res.ok ? 0 : 1;
    if (v.json === true) {
      const j = runToJson(res, code) as Record<string, unknown>;
      out(JSON.stringify(broken === null ? j : { ...j, finding: { properties: broken.found.map((x) => ({ property: x.property, broken: x.message !== null, message: x.message })), alsoBroken: Object.fromEntries(broken.others) } }, null, 2));
      return code;
    }
    const width = term.columns !== undefined ? Math.max(60, term.columns) : 120;
    const opts = { width, color: term.color, detail: trace, replayCommand: (t: string) => `vfio-sim run ${escapeControls(file)} --replay ${t}`, expectationsSecondary: broken !== null } as const;
    if (broken !== null) {
      for (const line of renderFinding(broken, term.color)) out(line);
      out('');
    }
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


/** What the replay of an explorer's finding shows: the properties it was found breaking (message null: holds now), others broken now. */
interface Finding {
  readonly found: readonly { readonly property: string; readonly message: string | null }[];
  readonly others: readonly (readonly [string, string])[];
}

/** The lead of a finding's replay: the properties the explorer found broken, checked again on this run. */
function renderFinding(b: Finding, color: boolean): string[] {
  const c = pc.createColors(color);
  const out: string[] = [];
  out.push(c.bold('An explorer finding, replayed with the properties checked:'));
  for (const x of b.found) {
    if (x.message !== null) out.push(c.bold(c.red(`  ✗ ${x.property} broken: ${x.message}`)));
    else out.push(c.green(`  ✓ ${x.property} holds on this replay: the finding no longer reproduces`));
  }
  for (const [p, m] of b.others) out.push(c.red(`  ✗ ${p} broken as well: ${m}`));
  out.push(c.dim("  the scenario's expectations were written for its own schedule, not this interleaving: a mismatch is marked ≠ below and does not decide the exit code"));
  return out;
}
