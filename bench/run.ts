/** `npm run bench`: throughput figures recorded in BENCHMARKS.md. */
import { Bench } from 'tinybench';
import { System } from '../src/system.js';
import { PCI_COMMAND, PCI_COMMAND_MEMORY } from '../src/uapi/pci-regs.js';
import { VFIO_TYPE1v2_IOMMU } from '../src/uapi/vfio.js';
import { unwrap, VfioContainer, VfioGroup } from '../src/user/vfio-client.js';
import { runDemo } from '../src/cli/demo.js';
import { benchScenario, lockdepRuns, runOnce, STEPS_PER_THREAD } from './scenario.js';

/** The default System (5.8, lockdep on), with the event stream counted but not stored. */
function setup() {
  const sys = new System();
  sys.events.record = false;
  const p = sys.spawnProcess('bench');
  const c = unwrap(VfioContainer.open(p));
  const fn = sys.hw.fn('0000:01:00.0');
  const g = unwrap(VfioGroup.open(p, fn.iommuGroup));
  unwrap(g.setContainer(c));
  unwrap(c.setIommu(VFIO_TYPE1v2_IOMMU));
  const d = unwrap(g.getDevice('0000:01:00.0'));
  const addr = unwrap(d.mmapRegion(0, { length: 0x100000, prot: 3 }));
  p.load(addr, 4);
  const buf = p.alloc(4096);
  return { sys, p, d, addr, buf };
}

const { sys, p, d, addr, buf } = setup();
const cmd = unwrap(d.readConfig(PCI_COMMAND, 2));
const OPS = 10_000;
let cycles = 0;
const bench = new Bench({ time: 1000, warmupTime: 200 });
bench
  .add(`CPU load through an established BAR mapping (x${OPS})`, () => {
    for (let i = 0; i < OPS; i++) p.load(addr, 4);
  })
  .add(`pread of BAR0, 4 bytes (x${OPS / 10})`, () => {
    for (let i = 0; i < OPS / 10; i++) p.pread(d.fd, buf, 4, 0);
  })
  .add('disable-zap-refault cycle (clear MEM, set MEM, touch)', () => {
    unwrap(d.writeConfig(PCI_COMMAND, 2, cmd & ~PCI_COMMAND_MEMORY));
    unwrap(d.writeConfig(PCI_COMMAND, 2, cmd));
    p.load(addr, 4);
    cycles++;
  })
  .add('whole demo (npm start body)', () => {
    runDemo(() => undefined);
  });

// (tinybench may call a task once while adding it, to see whether it is async.)
const cycles0 = cycles;
const zaps0 = sys.events.count('vfio.zap');
const faults0 = sys.events.count('fault');
await bench.run();

// Issue #3: a 3-thread scenario through the library, under round-robin and a seeded
// random schedule, with and without lockdep. One iteration = one whole run (System
// creation, setup, the threads); its scheduler step count is fixed by the schedule.
// Set up and run after the benchmarks above, so that they are timed as before.
const scenario = benchScenario();
const scenarioSteps = new Map<string, number>();
const scenarioBench = new Bench({ time: 1000, warmupTime: 200 });
for (const schedule of ['rr', 'random'] as const) {
  for (const lockdep of [true, false]) {
    const name = `3-thread scenario, ${schedule === 'rr' ? 'round-robin' : 'random (seed 7)'}, lockdep ${lockdep ? 'on' : 'off'} (${STEPS_PER_THREAD} steps/thread)`;
    const r = runOnce(scenario, schedule, lockdep);
    // lockdep must stay on for the whole run (a report would turn it off and hide its cost)
    if (r.lockdep.length > 0) throw new Error('the benchmark scenario made a lockdep report');
    scenarioSteps.set(name, r.schedulerSteps);
    scenarioBench.add(name, () => {
      runOnce(scenario, schedule, lockdep);
    });
  }
}
await scenarioBench.run();

const rows: string[] = [];
const scenarioMeans = new Map<string, [number, number]>();
for (const t of [...bench.tasks, ...scenarioBench.tasks]) {
  const r = t.result;
  if (r === undefined || !('throughput' in r)) continue;
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const steps = scenarioSteps.get(t.name);
  if (steps !== undefined) {
    const meanMs = r.latency.mean;
    const medianMs = r.latency.p50;
    rows.push(`| ${t.name} | ${fmt((steps * 1000) / meanMs)} steps/s | ${meanMs.toFixed(2)} ms/run (${steps} steps) | ${medianMs.toFixed(2)} ms/run (${fmt((steps * 1000) / medianMs)} steps/s) |`);
    scenarioMeans.set(t.name, [meanMs, medianMs]);
    continue;
  }
  const perIter = t.name.includes(`x${OPS}`) ? OPS : t.name.includes(`x${OPS / 10}`) ? OPS / 10 : 1;
  const opsPerSec = r.throughput.mean * perIter;
  const meanUs = (r.latency.mean / perIter) * 1000;
  const medianUs = (r.latency.p50 / perIter) * 1000;
  rows.push(`| ${t.name} | ${fmt(opsPerSec)} ops/s | ${meanUs.toFixed(2)} µs/op | ${medianUs.toFixed(2)} µs/op (${fmt(1e6 / medianUs)} ops/s) |`);
}
console.log('| benchmark | throughput (mean) | mean time | median time |\n|---|---|---|---|\n' + rows.join('\n'));
// lockdep overhead: the same scenario and schedule with the validator on vs off — from the
// tinybench tasks above (run one after the other), and from runs alternating on and off
// (both then see the same machine load; the steadier figure on a shared machine)
console.log('');
for (const schedule of ['rr', 'random'] as const) {
  const label = schedule === 'rr' ? 'round-robin' : 'random (seed 7)';
  const on = [...scenarioMeans].find(([n]) => n.includes(label) && n.includes('lockdep on'))?.[1];
  const off = [...scenarioMeans].find(([n]) => n.includes(label) && n.includes('lockdep off'))?.[1];
  const alt = lockdepRuns(scenario, schedule, 2);
  const med = (a: number[]) => a[a.length >> 1] ?? NaN;
  const tb = on !== undefined && off !== undefined ? `${(on[0] / off[0]).toFixed(2)}x (tinybench means)` : '';
  console.log(`lockdep overhead, ${label}: ${(med(alt.on) / med(alt.off)).toFixed(2)}x (median of ${alt.on.length} alternating runs each), ${tb}  [goal <= 1.3x]`);
}
// The cycle must really zap and refault every time (the real path, not a cached one).
const n = cycles - cycles0;
const zaps = sys.events.count('vfio.zap') - zaps0;
const faults = sys.events.count('fault') - faults0;
console.log(`\ncycle check: ${n} cycles, ${zaps} vfio.zap events, ${faults} faults (lockdep ${sys.lockdep === null ? 'off' : 'on'})`);
if (zaps !== n || faults !== n) throw new Error('the disable-zap-refault cycle did not zap and refault once per cycle');

// Issue #4: the explorer's figures (bench/explore.ts), after everything above.
await (await import('./explore.js')).runExploreBenchmarks();

// Issue #16: what a program pays through vfio-sim exec's shim (bench/exec.ts).
(await import('./exec.js')).runExecBenchmarks();
// Issue #17: the web UI's trace viewer (bench/ui.ts; runs on import), when Debian's chromium is there.
if ((await import('node:fs')).existsSync('/usr/bin/chromium')) await import('./ui.js');
else console.log('ui: not measured (no /usr/bin/chromium)');
