/**
 * `node dist/bench/best.js [load|pread|cycle|demo|scen-rr|scen-random|lockdep ...]`: the same workloads as run.ts,
 * timed in small batches for a few seconds each. Prints the best batch (the cost of an
 * operation when nothing else — another process, a GC pause — gets in the way), the
 * median batch and the overall mean. On a shared machine the best batch is the figure
 * that compares across runs; the mean is what a long run sees. `scen-rr` / `scen-random`
 * time whole runs of the 3-thread scenario (bench/scenario.ts) and also print scheduler
 * steps per second; `lockdep` alternates runs of that scenario with lockdep on and off
 * (round-robin and random) and prints the on/off ratio of the best and of the median runs.
 */
import { System } from '../src/system.js';
import { PCI_COMMAND, PCI_COMMAND_MEMORY } from '../src/uapi/pci-regs.js';
import { VFIO_TYPE1v2_IOMMU } from '../src/uapi/vfio.js';
import { unwrap, VfioContainer, VfioGroup } from '../src/user/vfio-client.js';
import { runDemo } from '../src/cli/demo.js';
import { benchScenario, lockdepRuns, runOnce } from './scenario.js';

const sys = new System();
sys.events.record = false;
const p = sys.spawnProcess('bench');
const c = unwrap(VfioContainer.open(p));
const g = unwrap(VfioGroup.open(p, sys.hw.fn('0000:01:00.0').iommuGroup));
unwrap(g.setContainer(c));
unwrap(c.setIommu(VFIO_TYPE1v2_IOMMU));
const d = unwrap(g.getDevice('0000:01:00.0'));
const addr = unwrap(d.mmapRegion(0, { length: 0x100000, prot: 3 }));
p.load(addr, 4);
const buf = p.alloc(4096);
const cmd = unwrap(d.readConfig(PCI_COMMAND, 2));

/** name → [operations per batch, one operation]. */
const workloads: Record<string, [number, () => void]> = {
  load: [2000, () => void p.load(addr, 4)],
  pread: [200, () => void p.pread(d.fd, buf, 4, 0)],
  cycle: [
    20,
    () => {
      unwrap(d.writeConfig(PCI_COMMAND, 2, cmd & ~PCI_COMMAND_MEMORY));
      unwrap(d.writeConfig(PCI_COMMAND, 2, cmd));
      p.load(addr, 4);
    },
  ],
  demo: [1, () => void runDemo(() => undefined)],
  'scen-rr': [1, () => void runOnce(scenario, 'rr', true)],
  'scen-random': [1, () => void runOnce(scenario, 'random', true)],
};

const scenario = benchScenario();
/** Scheduler steps of one run of a scenario workload (to print steps/s); undefined for the others. */
function stepsPerRun(name: string): number | undefined {
  if (name === 'scen-rr') return runOnce(scenario, 'rr', true).schedulerSteps;
  if (name === 'scen-random') return runOnce(scenario, 'random', true).schedulerSteps;
  return undefined;
}

const seconds = Number(process.env['BENCH_SECONDS'] ?? 3);
const names = process.argv.slice(2);
for (const name of names.length > 0 ? names : [...Object.keys(workloads), 'lockdep']) {
  if (name === 'lockdep') {
    for (const schedule of ['rr', 'random'] as const) {
      const { on, off } = lockdepRuns(scenario, schedule, seconds);
      const best = (a: number[]) => a[0] ?? NaN;
      const med = (a: number[]) => a[a.length >> 1] ?? NaN;
      console.log(`lockdep ${schedule.padEnd(6)} on/off: best ${(best(on) / best(off)).toFixed(2)}x (${best(on).toFixed(2)} / ${best(off).toFixed(2)} ms)  median ${(med(on) / med(off)).toFixed(2)}x (${med(on).toFixed(2)} / ${med(off).toFixed(2)} ms)  [${on.length} runs each]`);
    }
    continue;
  }
  const w = workloads[name];
  if (w === undefined) throw new Error(`unknown workload ${name}`);
  const [batch, op] = w;
  const times: number[] = [];
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    const s = performance.now();
    for (let i = 0; i < batch; i++) op();
    times.push((performance.now() - s) / batch);
  }
  const mean = (performance.now() - t0) / (times.length * batch);
  times.sort((a, b) => a - b);
  const us = (ms: number) => `${(ms * 1000).toFixed(3)} µs`;
  const best = times[0] ?? NaN;
  const median = times[times.length >> 1] ?? NaN;
  const steps = stepsPerRun(name);
  const perSec = (ms: number) => Math.round(((steps ?? 1) * 1000) / ms).toLocaleString('en-US');
  const unit = steps === undefined ? 'ops/s' : `steps/s, ${steps} steps/run`;
  console.log(`${name.padEnd(6)} best ${us(best)} (${perSec(best)} ${unit})  median ${us(median)} (${perSec(median)})  mean ${us(mean)} (${perSec(mean)})  [${times.length} batches of ${batch}]`);
}
