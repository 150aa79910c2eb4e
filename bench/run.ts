/** `npm run bench`: throughput figures recorded in BENCHMARKS.md. */
import { Bench } from 'tinybench';
import { System } from '../src/system.js';
import { PCI_COMMAND, PCI_COMMAND_MEMORY } from '../src/uapi/pci-regs.js';
import { VFIO_TYPE1v2_IOMMU } from '../src/uapi/vfio.js';
import { unwrap, VfioContainer, VfioGroup } from '../src/user/vfio-client.js';
import { runDemo } from '../src/cli/demo.js';

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
  const addr = unwrap(d.mmapRegion(0, 0, 0x100000, 3));
  p.load(addr, 4);
  const buf = p.alloc(4096);
  return { sys, p, d, addr, buf };
}

const { p, d, addr, buf } = setup();
const cmd = unwrap(d.readConfig(PCI_COMMAND, 2));
const OPS = 10_000;
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
  })
  .add('whole demo (npm start body)', () => {
    runDemo(() => undefined);
  });
await bench.run();
const rows: string[] = [];
for (const t of bench.tasks) {
  const r = t.result;
  if (r === undefined || !('throughput' in r)) continue;
  const perIter = t.name.includes(`x${OPS}`) ? OPS : t.name.includes(`x${OPS / 10}`) ? OPS / 10 : 1;
  const opsPerSec = r.throughput.mean * perIter;
  rows.push(`| ${t.name} | ${Math.round(opsPerSec).toLocaleString('en-US')} ops/s | ${(r.latency.mean / perIter * 1000).toFixed(2)} µs/op |`);
}
console.log('| benchmark | throughput | mean time |\n|---|---|---|\n' + rows.join('\n'));
