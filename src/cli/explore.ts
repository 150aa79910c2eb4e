/**
 * `vfio-sim explore <scenario>`: search a scenario's interleavings for broken properties.
 * `vfio-sim check [--variants a,b] [--scenarios dir]`: explore a suite under every variant.
 *
 * Exit codes: 0 nothing broken (check: every defect found exactly where declared),
 * 1 a property broken (check: a defect found elsewhere than declared), 2 bad input,
 * 3 internal error.
 */
import { readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILTIN_PROPERTIES } from '../check/property.js';
import { STRATEGIES, type Strategy } from '../check/search.js';
import { formatScenarioError, loadScenario, ScenarioInputError, type Scenario } from '../scenario/index.js';
import { checkSuiteAsync } from '../scenario/check-suite.js';
import { VARIANTS } from '../kernel/variant/knobs.js';
import { knownProperties, ScenarioExploration } from '../scenario/explore.js';
import { checkToJson, exploreToJson, renderCheck, renderExplore } from '../scenario/explore-report.js';
import { renderHeader, renderTrace } from '../scenario/report.js';
import { parseCommand, parseKnobFlags, readText } from './args.js';
import { plural } from '../util/plural.js';
import { Progress, type ProgressMode } from './progress.js';
import { PLAIN, type Terminal } from './terminal.js';

/** `items` joined with ', ' over lines of at most `width` characters. */
function wrapList(items: readonly string[], width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const [i, it] of items.entries()) {
    const word = `${it}${i < items.length - 1 ? ',' : ''}`;
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  return [...lines, line].join('\n');
}

export const EXPLORE_USAGE = `usage: vfio-sim explore <scenario.yaml> [options]

Searches the scenario's thread interleavings (its own schedule and expectations are
ignored, unless --expect-as-properties) and checks the properties on every execution:
${wrapList(BUILTIN_PROPERTIES, 92)}, and the scenario's own 'properties:' (event counts,
never/always results of steps, the state after a step: see the README).

options:
  --variant V            design variant preset (the scenario's knob overrides are kept)
  --knob NAME=VALUE      override one knob (repeatable)
  --strategy S           dpor (default: exhaustive with partial-order reduction),
                         bfs (fewest preemptions first), random, pct, naive (no reduction)
  --max-executions N     stop after N executions (default 100000)
  --max-time SECONDS     stop after this much wall time (the whole command: the search,
                         shrinking and the replays of counterexamples)
  --max-preemptions N    preemption bound (dpor/bfs/naive: default 3; random/pct: default none,
                         and samples keep to it; 'none': unbounded)
  --seed N               first seed of random/pct (default 1)
  --depth D              pct: priority-change points plus one (default 3)
  --property P           only count property P (repeatable)
  --no-property P        leave property P out (repeatable; a built-in or the scenario's)
  --expect-as-properties make each step's 'expect:' a property, expect:<thread>#<n>
                         (broken when the step finishes with another result)
  --stop-at-first        stop at the first broken property
  --workers N            worker threads searching at once (default: 1 below 4 CPUs,
                         else the CPUs less one, at most 8); the result is the same with any N
  --no-shrink            keep counterexamples as found (default: shrink them to fewer
                         preemptions and steps by replaying rewritten schedules)
  --trace                show the first counterexample's trace (one column per thread)
  --json                 print the result as JSON (events and an ITF trace per counterexample)
  -h, --help             show this help

exit codes: 0 no property broken, 1 a property broken, 2 bad input, 3 internal error`;

export const CHECK_USAGE = `usage: vfio-sim check [options]

Explores every scenario of a suite (default: the examples that declare a defect) under
every variant and prints the variant × property table, and where each defect was found
against where its scenario declares it. A failing cell names the defect id of the scenario
that breaks it ('✗ H2'), marked '*' when that happens only under knobs the scenario forces
on every variant (e.g. H10's forkOpenBeforeCopy) which the row's preset does not have; the
scenarios are listed under the table with their paths and the knobs they force.
On a terminal a progress line ('cells 37/120, 1.2 s') is updated in place on stderr; off a
terminal a plain one is printed every few seconds; the time taken ends it.

options:
  --variants A,B,...     presets to check (default: all)
  --scenarios DIR        the suite: every .yaml in DIR that declares defect.property
  --strategy S           as for explore (default dpor)
  --max-executions N     per scenario and variant (default 100000)
  --max-preemptions N    (default 2)
  --no-property P        leave property P out (repeatable; a built-in or a scenario's)
  --workers N            worker threads exploring cells at once (default: 1 below 4
                         CPUs, else the CPUs less one, at most 8); the table is the same with any N
  --show FILE            afterwards, explore FILE and show its first counterexample in full
  --footnotes            under each scenario, every cell it breaks with its replay command
  --json                 print the result as JSON
  -h, --help             show this help

exit codes: 0 every defect found exactly where declared, 1 otherwise, 2 bad input, 3 internal error`;

/** The built-in suite: the examples shipped with the package. */
export const EXAMPLES_DIR = fileURLToPath(new URL('../../../examples/', import.meta.url));

/** The preemption bound `check` uses unless told (every defect of the suite needs at most 2). */
export const CHECK_PREEMPTION_BOUND = 2;

/**
 * Worker threads unless told. A worker costs about 2 s of CPU to start and V8's own
 * compiler and GC threads already take about half a core, so below 4 CPUs one thread is
 * faster (measured on 2 cores: 2 workers were 1.2-1.4x slower); above, leave a CPU for them.
 */
export function defaultWorkers(): number {
  const n = availableParallelism();
  return n < 4 ? 1 : Math.min(8, n - 1);
}

type Out = (s: string) => void;

function int(name: string, v: string | undefined, min: number, max: number): number | undefined | string {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) return `${name} expects an integer from ${min} to ${max}, got '${v}'`;
  return Number(v);
}

function loadFile(file: string, command: string): { scenario: Scenario } | { errors: string[] } {
  const read = readText(file);
  if ('error' in read) return { errors: [`vfio-sim ${command}: ${read.error}`] };
  const r = loadScenario(read.text, file);
  return r.ok ? { scenario: r.scenario } : { errors: r.errors.map(formatScenarioError) };
}

/** Yield to the event loop (so SIGINT handlers and progress timers run). */
const tick = (): Promise<void> => new Promise((res) => setImmediate(res));

/** `vfio-sim explore`. */
export async function exploreCommand(argv: readonly string[], out: Out, err: Out, term: Terminal = PLAIN, signal?: { interrupted: boolean }): Promise<number> {
  const cmd = parseCommand('explore', argv, {
    variant: { type: 'string' },
    knob: { type: 'string', multiple: true },
    strategy: { type: 'string' },
    'max-executions': { type: 'string' },
    'max-time': { type: 'string' },
    'max-preemptions': { type: 'string' },
    seed: { type: 'string' },
    depth: { type: 'string' },
    property: { type: 'string', multiple: true },
    'no-property': { type: 'string', multiple: true },
    'expect-as-properties': { type: 'boolean' },
    'stop-at-first': { type: 'boolean' },
    workers: { type: 'string' },
    'no-shrink': { type: 'boolean' },
    trace: { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  }, true, EXPLORE_USAGE, out, err);
  if (typeof cmd === 'number') return cmd;
  const { values: v, positionals, bad } = cmd;
  const [file, ...extra] = positionals;
  if (file === undefined) return bad("missing the scenario file (usage: vfio-sim explore <scenario.yaml> [options]; see 'vfio-sim explore --help')");
  if (extra.length > 0) return bad(`unexpected argument '${extra[0] ?? ''}' (one scenario file at a time)`);
  const strategy = (v.strategy ?? 'dpor') as Strategy;
  if (!STRATEGIES.includes(strategy)) return bad(`--strategy expects one of ${STRATEGIES.join(', ')}, got '${v.strategy ?? ''}'`);
  const maxExecutions = int('--max-executions', v['max-executions'], 1, 1e9);
  const maxTime = int('--max-time', v['max-time'], 1, 1e7);
  const maxPre = v['max-preemptions'] === 'none' ? Infinity : int('--max-preemptions', v['max-preemptions'], 0, 1000);
  const seed = int('--seed', v.seed, 0, 0xffffffff);
  const depth = int('--depth', v.depth, 1, 100);
  const workers = int('--workers', v.workers, 1, 64);
  for (const x of [maxExecutions, maxTime, maxPre, seed, depth, workers]) if (typeof x === 'string') return bad(x);
  const kf = parseKnobFlags(v.knob);
  if ('error' in kf) return bad(kf.error);
  const knobs = kf.knobs;
  const loaded = loadFile(file, 'explore');
  if ('errors' in loaded) {
    for (const e of loaded.errors) err(e);
    return 2;
  }
  const s = loaded.scenario;
  const expectAsProperties = v['expect-as-properties'] === true;
  const known = knownProperties(s, { expectAsProperties });
  for (const p of v.property ?? []) if (!known.includes(p)) return bad(`--property: unknown property '${p}' (known: ${known.join(', ')})`);
  for (const p of v['no-property'] ?? []) if (!known.includes(p)) return bad(`--no-property: unknown property '${p}' (known: ${known.join(', ')})`);
  const interrupt = signal ?? { interrupted: false };
  let ex: ScenarioExploration | undefined;
  try {
    ex = new ScenarioExploration(s, {
      strategy,
      ...(v.variant !== undefined ? { variant: v.variant, knobs: { ...s.variant.knobs, ...(knobs ?? {}) } } : knobs !== undefined ? { knobs } : {}),
      ...(typeof maxExecutions === 'number' ? { maxExecutions } : {}),
      ...(typeof maxTime === 'number' ? { maxTimeMs: maxTime * 1000 } : {}),
      ...(typeof maxPre === 'number' ? { maxPreemptions: maxPre } : {}),
      ...(typeof seed === 'number' ? { seed } : {}),
      ...(typeof depth === 'number' ? { depth } : {}),
      ...(v.property !== undefined ? { only: v.property } : {}),
      ...(v['no-property'] !== undefined ? { noProperty: v['no-property'] } : {}),
      ...(expectAsProperties ? { expectAsProperties } : {}),
      ...(v['stop-at-first'] === true ? { stopAtFirst: true } : {}),
      ...(v['no-shrink'] === true ? { noShrink: true } : {}),
      workers: typeof workers === 'number' ? workers : defaultWorkers(),
      interrupted: () => interrupt.interrupted,
      progressEveryMs: 1000,
      onProgress: (st) => {
        if (v.json === true || !term.progress) return;
        const cost = ex === undefined ? null : ex.costProfile();
        const top = cost?.byStep[0];
        const dominant = cost === null || cost === undefined || top === undefined ? '' : `; an execution is ${cost.steps} steps, ${top.steps} of them ${top.step} (${top.points[0]?.count ?? 0} ${top.points[0]?.op ?? ''})`;
        err(`  … ${plural(st.executions, 'execution')}, ${plural(st.distinctTraces, 'distinct trace')}, ${((st.executions * 1000) / Math.max(1, st.elapsedMs)).toFixed(0)}/s, depth ${st.maxDepth}, ${(st.elapsedMs / 1000).toFixed(0)} s${st.bound !== null ? `, bound ${st.bound}` : ''}${dominant}`);
      },
    });
  } catch (e) {
    if (e instanceof ScenarioInputError) return bad(e.message);
    throw e;
  }
  if (strategy === 'random' || strategy === 'pct') {
    if (v.json !== true) err(`seed ${typeof seed === 'number' ? seed : 1} (execution n uses seed ${typeof seed === 'number' ? seed : 1} + n - 1)`);
  }
  const x = ex;
  while (!x.step(200)) await tick();
  const r = x.result();
  const code = r.search.counterexamples.length > 0 ? 1 : 0;
  if (v.json === true) {
    out(JSON.stringify(exploreToJson(r, code), null, 2));
    return code;
  }
  if (r.search.stoppedBy === 'interrupted') out('interrupted: the summary covers what was explored so far');
  for (const line of renderExplore(r, { color: term.color, replayCommand: (t) => `vfio-sim replay ${file} ${t}` })) out(line);
  const first = r.counterexamples[0];
  if (v.trace === true && first !== undefined && first.run !== null) {
    const width = term.columns !== undefined ? Math.max(60, term.columns) : 120;
    out('');
    out(renderHeader(first.run, { color: term.color }));
    for (const line of renderTrace(first.run, { width, color: term.color })) out(line);
  }
  return code;
}

/** The suite's scenario files: every .yaml in `dir` whose defect names a property. */
export function suiteFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(dir, f));
}

/** A path relative to the working directory when it lies under it. */
function shortPath(f: string): string {
  const r = relative(process.cwd(), f);
  return r !== '' && !r.startsWith('..') ? r : f;
}

/**
 * check's progress on stderr: in place on a terminal (when raw writes are possible), a
 * plain line every few seconds elsewhere, nothing for --json or plain (library, tests) output.
 */
function checkProgress(term: Terminal, json: boolean, err: Out): Progress {
  const mode: ProgressMode = json ? 'off' : term.progress === true && term.writeErr !== undefined ? 'tty' : term.progress === true || term.progressLog === true ? 'log' : 'off';
  const write = term.writeErr ?? ((s: string): void => err(s.replace(/\n$/, '')));
  return new Progress(mode, write, () => performance.now(), term.columns);
}

/** `vfio-sim check`. */
export async function checkCommand(argv: readonly string[], out: Out, err: Out, term: Terminal = PLAIN, signal?: { interrupted: boolean }): Promise<number> {
  const cmd = parseCommand('check', argv, {
    variants: { type: 'string' },
    scenarios: { type: 'string' },
    strategy: { type: 'string' },
    'max-executions': { type: 'string' },
    'max-preemptions': { type: 'string' },
    'no-property': { type: 'string', multiple: true },
    workers: { type: 'string' },
    show: { type: 'string' },
    footnotes: { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  }, false, CHECK_USAGE, out, err);
  if (typeof cmd === 'number') return cmd;
  const { values: v, bad } = cmd;
  const strategy = (v.strategy ?? 'dpor') as Strategy;
  if (!STRATEGIES.includes(strategy)) return bad(`--strategy expects one of ${STRATEGIES.join(', ')}, got '${v.strategy ?? ''}'`);
  const maxExecutions = int('--max-executions', v['max-executions'], 1, 1e9);
  const maxPre = v['max-preemptions'] === 'none' ? Infinity : int('--max-preemptions', v['max-preemptions'], 0, 1000);
  const workers = int('--workers', v.workers, 1, 64);
  for (const x of [maxExecutions, maxPre, workers]) if (typeof x === 'string') return bad(x);
  const dir = v.scenarios ?? EXAMPLES_DIR;
  try {
    if (!statSync(dir).isDirectory()) return bad(`--scenarios expects a directory, got '${dir}'`);
  } catch {
    return bad(`--scenarios: no such directory '${dir}'`);
  }
  const suite: Scenario[] = [];
  for (const f of suiteFiles(dir)) {
    const l = loadFile(f, 'check');
    if ('errors' in l) {
      for (const e of l.errors) err(e);
      return 2;
    }
    if (l.scenario.defect?.property !== null && l.scenario.defect?.property !== undefined) suite.push(l.scenario);
  }
  if (suite.length === 0) return bad(`no scenario in '${dir}' declares 'defect: {id, present_in, property}'`);
  const variants = v.variants?.split(',').map((x) => x.trim()).filter((x) => x !== '');
  const progress = checkProgress(term, v.json === true, err);
  const variantCount = variants?.length ?? VARIANTS.length;
  const planned = suite.length * variantCount;
  let cellsDone = 0;
  const show = (): void => progress.update(`cells ${cellsDone}/${planned}`);
  if (v.json !== true && term.progressLog === true) progress.update(`checking ${plural(suite.length, 'scenario')} × ${plural(variantCount, 'variant')}: cells 0/${planned}`, true);
  show();
  const timer = setInterval(show, term.progress === true ? 100 : 1000);
  let r;
  try {
    const interrupt = signal ?? { interrupted: false };
    r = await checkSuiteAsync(suite, {
      strategy,
      interrupted: () => interrupt.interrupted,
      maxPreemptions: typeof maxPre === 'number' ? maxPre : CHECK_PREEMPTION_BOUND,
      ...(variants !== undefined ? { variants } : {}),
      ...(typeof maxExecutions === 'number' ? { maxExecutions } : {}),
      ...(v['no-property'] !== undefined ? { noProperty: v['no-property'] } : {}),
      workers: typeof workers === 'number' ? workers : defaultWorkers(),
      onCell: () => {
        cellsDone++;
        show();
      },
    }, tick);
  } catch (e) {
    progress.clear();
    if (e instanceof ScenarioInputError) return bad(e.message);
    throw e;
  } finally {
    clearInterval(timer);
  }
  const checkTime = progress.elapsed();
  progress.clear();
  // interrupted: the table covers the cells explored so far, and is no verdict (exit 130)
  const code = r.interrupted ? 130 : r.ok ? 0 : 1;
  if (v.json === true) {
    out(JSON.stringify(checkToJson(r, code), null, 2));
    return code;
  }
  out(`${plural(suite.length, 'scenario')} × ${plural(r.variants.length, 'variant')}, strategy ${strategy}, at most ${plural(typeof maxPre === 'number' ? maxPre : CHECK_PREEMPTION_BOUND, 'preemption')}`);
  out('');
  for (const line of renderCheck(r, { color: term.color, path: shortPath, footnotes: v.footnotes === true ? 'cells' : 'scenarios', replayCommand: (f, t) => `vfio-sim replay ${shortPath(f)} ${t}` })) out(line);
  const timing = `${plural(r.cells.length, 'cell')} checked in ${checkTime}`;
  if (r.interrupted) {
    out('');
    out(`interrupted: the tables cover the ${r.cells.length} of ${plural(r.planned, 'cell')} explored so far${r.cells.some((c) => !c.complete) ? ' (the last one only in part)' : ''}; no verdict`);
    progress.finish(timing);
    return code;
  }
  if (v.show !== undefined) {
    out('');
    out('─'.repeat(40));
    out(`One finding in full: vfio-sim explore ${v.show} --trace`);
    out('');
    const shown = await exploreCommand([v.show, '--trace', '--max-preemptions', String(typeof maxPre === 'number' ? maxPre : CHECK_PREEMPTION_BOUND), ...(typeof workers === 'number' ? ['--workers', String(workers)] : []), ...(v['no-property'] ?? []).flatMap((p) => ['--no-property', p])], out, err, term);
    if (shown === 2 || shown === 3) return shown;
    progress.finish(`${timing}; ${progress.elapsed()} in all`);
    return code;
  }
  progress.finish(timing);
  return code;
}
