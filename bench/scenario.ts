/**
 * The scenario workload of `npm run bench` (issue #3): one process whose three threads
 * share a device — `loader` does CPU loads through a BAR0 mapping, `reader` preads BAR0,
 * `toggler` clears and sets Memory Space Enable through the config region (each a
 * read-modify-write of the command register: a config read and a config write, the
 * clear zapping the mapping). Loads then fault, refault or get SIGBUS and preads get
 * -EIO depending on the interleaving, so every run crosses memory_lock, vma_lock,
 * mmap_lock and the page table from three threads. Loaded and run through the library
 * (`loadScenario` / `runScenario`), as `vfio-sim run` does.
 */
import { loadScenario, runScenario, type RunResult, type Scenario } from '../src/scenario/index.js';

/** Steps per thread in the benchmark scenario. */
export const STEPS_PER_THREAD = 100;

/** The scenario's YAML text with `n` steps per thread. */
export function scenarioYaml(n: number): string {
  const rep = (lines: (i: number) => string): string => Array.from({ length: n }, (_, i) => lines(i)).join('\n');
  return `name: three threads on one device (benchmark)
variant: '5.9'
max_steps: 10000000
processes:
  - name: vmm
    setup:
      - open_device: edu0
        as: dev
      - mmap: { fd: dev, region: bar0, length: 0x4000 }
        as: bar
      - load: bar
    threads:
      - name: loader
        steps:
${rep((i) => `          - load: bar+0x${((i % 4) * 0x1000).toString(16)}`)}
      - name: reader
        steps:
${rep(() => `          - pread: { fd: dev, region: bar0, size: 4 }`)}
      - name: toggler
        steps:
${rep((i) => `          - ${i % 2 === 0 ? 'clear_mem' : 'set_mem'}: dev`)}
`;
}

/** The benchmark scenario, loaded (throws if it does not load: a bug in this file). */
export function benchScenario(n = STEPS_PER_THREAD): Scenario {
  const r = loadScenario(scenarioYaml(n), 'bench-3-threads.yaml');
  if (!r.ok) throw new Error(`benchmark scenario does not load: ${JSON.stringify(r.errors)}`);
  return r.scenario;
}

/** The schedules benchmarked: round-robin and a seeded random one. */
export const SCHEDULES = {
  rr: { schedule: 'rr' },
  random: { schedule: 'random', seed: 7 },
} as const;

/** Run the scenario once; checks that it ran to completion (every thread done, no deadlock or BUG). */
export function runOnce(s: Scenario, schedule: keyof typeof SCHEDULES, lockdep: boolean): RunResult {
  const r = runScenario(s, { ...SCHEDULES[schedule], lockdep });
  if (r.end.kind !== 'done' || r.bugs.length > 0) throw new Error(`benchmark scenario did not complete: ${r.end.kind}, ${r.bugs.length} BUGs`);
  return r;
}

/**
 * Runs of scenario `s` with lockdep on and off, alternating (so both see the same machine
 * load), for `seconds`: the sorted run times (ms) of each.
 */
export function lockdepRuns(s: Scenario, schedule: keyof typeof SCHEDULES, seconds: number): { on: number[]; off: number[] } {
  const on: number[] = [];
  const off: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    for (const ld of [true, false]) {
      const t0 = performance.now();
      runOnce(s, schedule, ld);
      (ld ? on : off).push(performance.now() - t0);
    }
  }
  on.sort((a, b) => a - b);
  off.sort((a, b) => a - b);
  return { on, off };
}
