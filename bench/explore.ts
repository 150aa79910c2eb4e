/**
 * The explorer's figures (issue #4), run by `npm run bench` after the issue #2/#3 benchmarks
 * (`runExploreBenchmarks`), each printed with its goal:
 *
 * 1. one explorer execution (dpor, bound 3) on the H2 race (examples/h2-fault-races-disable.yaml,
 *    variant 5.8), as executions/s — goal >= 20 000/s;
 * 2. the whole dpor search of H2 under 5.8 at bound 3: time, executions, distinct traces;
 * 3. the reduction of dpor against the naive search on a 3-thread scenario (inline below;
 *    bound 2): executions of each and their ratio — goal >= 10x; both must reach the same
 *    outcomes and broken properties (the bench fails otherwise);
 * 4. the time to the first counterexample of each defect scenario of the examples (its
 *    declared property, under the first variant of `present_in` other than 5.7, stopping at
 *    the first violation) — goal < 1 s each; and what the shrinker makes of it;
 * 5. `vfio-sim check` on the built-in suite (the examples declaring a defect property, every
 *    variant, the command's preemption bound), in a child process: wall time and peak RSS.
 *
 * `node dist/bench/explore.js` runs these alone; `node dist/bench/explore.js --suite-child`
 * is the child of 5 (prints one JSON line).
 */
import { plural } from '../src/util/plural.js';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';
import { shrink } from '../src/check/shrink.js';
import { CHECK_PREEMPTION_BOUND, EXAMPLES_DIR } from '../src/cli/explore.js';
import { checkSuite, exploreScenario, type ExploreOptions, type ExploreResult, loadScenario, type Scenario, ScenarioExploration, scenarioProgram } from '../src/scenario/index.js';

/** The 3-thread scenario of the reduction figure: a load, a pread and a MEM disable on one BAR. */
export const THREE_THREADS_YAML = `name: a load, a pread and a MEM disable race on one BAR (explorer benchmark)
variant: '5.8'
processes:
  - name: qemu
    setup:
      - open_device: edu0
        as: dev
      - mmap: { fd: dev, region: bar0 }
        as: bar
    threads:
      - name: a
        steps:
          - load: bar
      - name: b
        steps:
          - pread: { fd: dev, region: bar0, size: 4 }
      - name: c
        steps:
          - clear_mem: dev
`;

function load(text: string, file: string): Scenario {
  const r = loadScenario(text, file);
  if (!r.ok) throw new Error(`${file} does not load: ${JSON.stringify(r.errors)}`);
  return r.scenario;
}

/** Every example (sorted by file name) that declares the property its defect breaks. */
function defectSuite(): Scenario[] {
  return readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => load(readFileSync(join(EXAMPLES_DIR, f), 'utf8'), f))
    .filter((s) => s.defect !== null && s.defect.property !== null);
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const sec = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

/** A task that runs once (a whole search: thousands of executions already). */
function once(): Bench {
  return new Bench({ iterations: 1, time: 0, warmup: false });
}

function meanMs(b: Bench, name: string): number {
  const r = b.getTask(name)?.result;
  if (r === undefined || !('latency' in r)) throw new Error(`benchmark '${name}' did not run: ${r === undefined ? 'no result' : r.state}`);
  return r.latency.mean;
}

/** The child of figure 5: `vfio-sim check` on the built-in suite, wall time and memory. */
function suiteChild(): void {
  const suite = defectSuite();
  let sampled = process.memoryUsage().rss;
  const t0 = performance.now();
  const r = checkSuite(suite, {
    maxPreemptions: CHECK_PREEMPTION_BOUND,
    onCell: () => {
      sampled = Math.max(sampled, process.memoryUsage().rss);
    },
  });
  const ms = performance.now() - t0;
  const executions = r.cells.reduce((n, c) => n + c.executions, 0);
  // maxRSS: the kernel's high-water mark of the whole process (KiB), module loading included
  console.log(JSON.stringify({ ms, scenarios: suite.length, variants: r.variants.length, cells: r.cells.length, executions, complete: r.complete, ok: r.ok, maxRssKiB: process.resourceUsage().maxRSS, sampledRss: sampled }));
}

/** Run figures 1–5 and print them. */
export async function runExploreBenchmarks(): Promise<void> {
  const out = (s: string): void => console.log(s);
  console.log('\nexplorer (issue #4)');
  const h2 = load(readFileSync(join(EXAMPLES_DIR, 'h2-fault-races-disable.yaml'), 'utf8'), 'h2-fault-races-disable.yaml');
  const H2_OPTS: ExploreOptions = { variant: '5.8', maxPreemptions: 3, noReplays: true };

  // 1. one explorer execution: a dpor search of H2 advanced one execution per iteration
  //    (a new search when one is over; sleep-blocked and bound-cut executions count, as the
  //    explorer's own executions/s does)
  let exploration = new ScenarioExploration(h2, H2_OPTS);
  let calls = 0;
  let finishedExecutions = 0;
  // (the JIT takes a few seconds of executions to settle: a long warm-up)
  const perExec = new Bench({ time: 3000, warmupTime: 2000 });
  perExec.add('one explorer execution, H2 under 5.8 (dpor, bound 3)', () => {
    calls++;
    if (exploration.step(0)) {
      finishedExecutions += exploration.result().search.stats.executions;
      exploration = new ScenarioExploration(h2, H2_OPTS);
    }
  });
  await perExec.run();
  const executed = finishedExecutions + exploration.result().search.stats.executions;
  const tr = perExec.tasks[0]?.result;
  if (tr === undefined || !('throughput' in tr)) throw new Error('the per-execution benchmark did not run');
  // executions over the time the measured calls took (calls that start a new search or find
  // one over are counted in the time: a search's own set-up is part of what an execution
  // costs). Not tinybench's mean throughput: that is the mean of per-call rates, which the
  // many fast calls inflate (it read 2,569/s when the calls really ran 775 executions/s).
  const measuredCalls = tr.latency.samplesCount;
  const execPerSec = (executed * (measuredCalls / calls) * 1000) / tr.totalTime;
  out(`one explorer execution, H2 under 5.8 (dpor, bound 3): ${fmt(execPerSec)} executions/s (${(1000 / execPerSec).toFixed(3)} ms per execution; median call ${tr.latency.p50.toFixed(3)} ms; ${fmt(executed)} executions in ${fmt(calls)} calls)  [goal >= 20,000/s]`);

  // 2. the whole dpor search of H2 under 5.8, bound 3
  let whole: ExploreResult | null = null;
  const wholeBench = once().add('dpor H2', () => {
    whole = exploreScenario(h2, H2_OPTS);
  });
  await wholeBench.run();
  const w = whole as ExploreResult | null;
  if (w === null) throw new Error('the whole-search benchmark did not run');
  const ws = w.search;
  if (ws.stoppedBy !== 'exhausted' || !ws.counterexamples.some((c) => c.property === 'stale-mapping')) throw new Error(`the dpor search of H2 under 5.8 ended ${ws.stoppedBy} without its stale mapping`);
  const wMs = meanMs(wholeBench, 'dpor H2');
  out(`whole dpor search, H2 under 5.8, bound 3: ${sec(wMs)}, ${fmt(ws.stats.executions)} executions (${fmt((ws.stats.executions * 1000) / wMs)}/s), ${fmt(ws.stats.distinctTraces)} distinct traces, ${ws.stats.sleepBlocked} sleep-set blocked, ${ws.stats.distinctOutcomes} outcomes, broken: ${ws.counterexamples.map((c) => `${c.property} (${c.preemptions}p)`).join(', ')}`);

  // 3. reduction: dpor against naive on three threads, bound 2
  const three = load(THREE_THREADS_YAML, 'bench-explore-3-threads.yaml');
  const red = new Map<string, ExploreResult>();
  const redBench = once();
  for (const strategy of ['dpor', 'naive'] as const) {
    redBench.add(strategy, () => {
      red.set(strategy, exploreScenario(three, { variant: '5.8', strategy, maxPreemptions: 2, noReplays: true }));
    });
  }
  await redBench.run();
  const dp = red.get('dpor')?.search;
  const nv = red.get('naive')?.search;
  if (dp === undefined || nv === undefined) throw new Error('the reduction benchmark did not run');
  if (dp.stoppedBy !== 'exhausted' || nv.stoppedBy !== 'exhausted') throw new Error(`reduction: dpor ${dp.stoppedBy}, naive ${nv.stoppedBy}`);
  if (JSON.stringify(dp.outcomes) !== JSON.stringify(nv.outcomes) || JSON.stringify(dp.counterexamples.map((c) => c.property)) !== JSON.stringify(nv.counterexamples.map((c) => c.property))) {
    throw new Error('reduction: dpor and naive reach different outcomes or broken properties (the reduction is unsound)');
  }
  const dMs = meanMs(redBench, 'dpor');
  const nMs = meanMs(redBench, 'naive');
  out(`reduction, 3 threads (load, pread, clear_mem) under 5.8, bound 2: dpor ${fmt(dp.stats.executions)} executions (${fmt(dp.stats.distinctTraces)} distinct traces, ${sec(dMs)}), naive ${fmt(nv.stats.executions)} (${fmt(nv.stats.distinctTraces)} distinct traces, ${sec(nMs)}): ${(nv.stats.executions / dp.stats.executions).toFixed(1)}x fewer executions, ${(nMs / dMs).toFixed(1)}x less time; same ${dp.outcomes.length} outcomes  [goal >= 10x]`);

  // 4. time to the first counterexample of each defect scenario (and the shrinker on it)
  const defects = defectSuite();
  const firstBench = new Bench({ iterations: 3, time: 0, warmup: false });
  const firsts = new Map<string, { s: Scenario; opts: ExploreOptions; r: ExploreResult | null }>();
  for (const s of defects) {
    const d = s.defect;
    if (d === null || d.property === null) continue;
    const variant = d.presentIn.find((v) => v !== '5.7') ?? d.presentIn[0];
    if (variant === undefined) continue;
    const name = `${d.id} (${s.file}, ${variant}, ${d.property})`;
    const opts: ExploreOptions = { variant, knobs: s.variant.knobs, stopAtFirst: true, only: [d.property], noReplays: true };
    const entry: { s: Scenario; opts: ExploreOptions; r: ExploreResult | null } = { s, opts, r: null };
    firsts.set(name, entry);
    firstBench.add(name, () => {
      entry.r = exploreScenario(s, opts);
    });
  }
  await firstBench.run();
  out('time to the first counterexample (dpor, bound 3, stop at the first; then shrunk)  [goal < 1 s each]');
  let worst = 0;
  for (const [name, e] of firsts) {
    const r = e.r;
    const cx = r?.search.counterexamples[0];
    const task = firstBench.getTask(name)?.result;
    if (r === null || cx === undefined || task === undefined || !('latency' in task)) {
      out(`  ${name}: NOT FOUND`);
      worst = Infinity;
      continue;
    }
    const t0 = performance.now();
    const sh = shrink(scenarioProgram(e.s, e.opts), cx);
    const shMs = performance.now() - t0;
    const sc = sh.counterexample;
    worst = Math.max(worst, task.latency.mean);
    out(`  ${name}: ${task.latency.mean.toFixed(0)} ms (median ${task.latency.p50.toFixed(0)} ms), ${plural(r.search.stats.executions, 'execution')}, ${cx.preemptions}p/${cx.steps} steps; shrunk to ${sc.preemptions}p/${sc.steps} steps in ${plural(sh.attempts, 'attempt')} (${shMs.toFixed(0)} ms)`);
  }
  out(`  slowest: ${worst === Infinity ? 'a defect was not found' : `${worst.toFixed(0)} ms`}  [goal < 1 s]`);

  // 5. vfio-sim check on the built-in suite, in a child process (its own peak RSS)
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--suite-child'], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (child.status !== 0) throw new Error(`the check-suite child failed (${child.status}): ${child.stderr}`);
  const c = JSON.parse(child.stdout.trim().split('\n').pop() ?? '{}') as { ms: number; scenarios: number; variants: number; cells: number; executions: number; complete: boolean; ok: boolean; maxRssKiB: number; sampledRss: number };
  out(`vfio-sim check, built-in suite (${c.scenarios} scenarios x ${c.variants} variants, bound ${CHECK_PREEMPTION_BOUND}): ${sec(c.ms)}, ${fmt(c.executions)} executions (${fmt((c.executions * 1000) / c.ms)}/s), peak RSS ${(c.maxRssKiB / 1024).toFixed(0)} MiB (sampled after each cell: ${(c.sampledRss / 1048576).toFixed(0)} MiB); complete ${c.complete}, every defect where declared ${c.ok}`);
}

const main = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (main && process.argv[2] === '--suite-child') suiteChild();
else if (main) await runExploreBenchmarks();
