/**
 * The narrated demonstration (`npm start`): one VMM-like process drives an edu device
 * through VFIO on the Linux 5.8 model and shows what the memory-enable blocking does.
 */
import picocolors from 'picocolors';
import type { SimEvent } from '../events/event.js';
import { describe } from '../events/format.js';
import { errnoName } from '../kernel/errno.js';
import { System } from '../system.js';
import { PCI_COMMAND, PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY } from '../uapi/pci-regs.js';
import { VFIO_TYPE1v2_IOMMU } from '../uapi/vfio.js';
import { unwrap, VfioContainer, VfioGroup, type VfioResult } from '../user/vfio-client.js';
import type { Process } from '../user/process.js';

type Out = (line: string) => void;

const hex = (v: number | bigint): string => `0x${v.toString(16)}`;

/** Run the demo, writing lines to `out`; returns the number of platform errors seen. */
export function runDemo(out: Out, variant = '5.8', color = false): number {
  const pc = picocolors.createColors(color);
  const sys = new System({ variant });
  let mark = sys.events.lastSeq;
  const step = (title: string): void => out(`\n${pc.bold(pc.cyan(`== ${title}`))}`);
  const say = (text: string): void => out(`   ${text}`);
  /** Print the interesting kernel/hardware events since the last call. */
  const trace = (kinds: readonly string[]): void => {
    for (const ev of sys.events.since(mark)) if (kinds.includes(ev.kind)) out(pc.dim(`     | ${describe(ev as SimEvent)}`));
    mark = sys.events.lastSeq;
  };
  const show = (what: string, r: VfioResult<unknown>): void => {
    say(r.ok ? `${what}: ok` : `${what}: ${pc.red(`-${errnoName(r.errno)}`)}`);
  };
  const load = (p: Process, addr: number, label: string): void => {
    const r = p.load(addr, 4);
    if (r.ok) say(`CPU load ${label} = ${pc.green(hex(r.value))}`);
    else say(`CPU load ${label}: ${pc.red(`${r.signal} (${r.code})`)} - the thread got a signal instead of touching the device`);
  };
  const KINDS = ['fault', 'pte.install', 'pte.zap', 'vfio.zap', 'vfio.blocked', 'platform.error', 'reset', 'signal', 'dma', 'iommu.map', 'lockdep'];

  step(`Boot: Linux ${variant} model, default machine`);
  for (const f of sys.hw.functions()) say(`${f.name}  ${f.model.padEnd(10)} IOMMU group ${f.iommuGroup}`);

  step('Open edu (0000:01:00.0) through VFIO, like QEMU does');
  const p = sys.spawnProcess('qemu');
  const c = unwrap(VfioContainer.open(p));
  const edu0 = sys.hw.findFunction('0000:01:00.0');
  const edu1 = sys.hw.findFunction('0000:02:00.0');
  if (edu0 === undefined || edu1 === undefined) throw new Error('default machine lacks edu devices');
  const g0 = unwrap(VfioGroup.open(p, edu0.iommuGroup));
  unwrap(g0.setContainer(c));
  unwrap(c.setIommu(VFIO_TYPE1v2_IOMMU));
  const d0 = unwrap(g0.getDevice('0000:01:00.0'));
  const info = unwrap(d0.getInfo());
  say(`device fd: ${info.numRegions} regions, ${info.numIrqs} irq indexes, reset supported: ${(info.flags & 1) !== 0}`);
  const bar0 = unwrap(d0.getRegionInfo(0));
  say(`BAR0: ${bar0.size} bytes at fd offset ${hex(bar0.offset)}, flags ${hex(bar0.flags)} (read|write|mmap)`);
  mark = sys.events.lastSeq;

  step('mmap BAR0 and touch it: the first access faults the whole vma in');
  const addr = unwrap(d0.mmapRegion(0, { length: 0x100000, prot: 3 }));
  say(`mmap -> ${hex(addr)} (no PTEs yet: 5.8 populates on fault)`);
  load(p, addr, 'BAR0+0x0 (identification)');
  trace(KINDS);
  p.store(addr + 4, 4, 0x12345678n);
  load(p, addr + 4, 'BAR0+0x4 (liveness: NOT of 0x12345678)');
  const pr = d0.readRegion(0, 0, 4);
  say(`pread BAR0+0x0 through the device fd: ${pr.ok ? pc.green(hex(new DataView(pr.value.buffer, pr.value.byteOffset).getUint32(0, true))) : pc.red(errnoName(pr.errno))}`);

  step('Clear Memory Space Enable through the config region (what a buggy or hostile user can do)');
  const cmd = unwrap(d0.readConfig(PCI_COMMAND, 2));
  unwrap(d0.writeConfig(PCI_COMMAND, 2, cmd & ~PCI_COMMAND_MEMORY));
  trace(KINDS);
  say(`hardware command register now ${hex(edu0.state().command)}: the device no longer decodes its BAR`);
  load(p, addr, 'BAR0+0x0');
  load(p, addr + 0x1000, 'BAR0+0x1000 (a page never touched before)');
  show('pread BAR0', d0.readRegion(0, 0, 4));
  trace(KINDS);
  say(`platform errors (Unsupported Requests) so far: ${pc.bold(String(sys.platformErrors))} - the device was never touched`);

  step('Set Memory Space Enable again: the same mapping works, no new mmap needed');
  unwrap(d0.writeConfig(PCI_COMMAND, 2, cmd));
  load(p, addr, 'BAR0+0x0');
  trace(KINDS);

  step('VFIO_DEVICE_RESET: mappings are zapped, the reset runs under memory_lock, then they refault');
  show('VFIO_DEVICE_RESET', d0.reset());
  trace(KINDS);
  load(p, addr + 4, 'BAR0+0x4 after reset (edu keeps its registers across a reset)');
  trace(KINDS);

  step('Peer-to-peer: DMA-map the second edu\'s BAR0 into the IOMMU, let edu #1 DMA into it');
  const g1 = unwrap(VfioGroup.open(p, edu1.iommuGroup));
  unwrap(g1.setContainer(c));
  const d1 = unwrap(g1.getDevice('0000:02:00.0'));
  const addr1 = unwrap(d1.mmapRegion(0, { length: 0x100000, prot: 3 }));
  mark = sys.events.lastSeq;
  const iova = 0x100000;
  show(`VFIO_IOMMU_MAP_DMA(vaddr ${hex(addr1)} -> iova ${hex(iova)}) of a never-touched BAR mmap`, c.mapDma({ vaddr: BigInt(addr1), size: 0x100000n, iova: BigInt(iova) }));
  trace(KINDS);
  unwrap(d0.writeConfig(PCI_COMMAND, 2, cmd | PCI_COMMAND_MASTER));
  const kick = (): void => {
    p.store(addr + 0x80, 8, 0x40000n); // source: edu #1's DMA buffer
    p.store(addr + 0x88, 8, BigInt(iova + 4)); // destination: edu #2 BAR0 liveness register
    p.store(addr + 0x90, 8, 4n);
    p.store(addr + 0x98, 8, 0x3n); // start, buffer -> bus address
    // edu transfers from a timer 100 ms later: poll the start bit as a driver does
    for (let i = 0; i < 100; i++) {
      const r = p.load(addr + 0x98, 4);
      if (!r.ok || (r.value & 1n) === 0n) break;
      p.sleep(10);
    }
  };
  kick();
  trace(KINDS);
  load(p, addr1 + 4, 'edu #2 BAR0+0x4 (written by the DMA)');
  step('Clear MEM on edu #2 and DMA again: vfio-pci never invalidates the IOMMU mapping');
  const cmd1 = unwrap(d1.readConfig(PCI_COMMAND, 2));
  unwrap(d1.writeConfig(PCI_COMMAND, 2, cmd1 & ~PCI_COMMAND_MEMORY));
  mark = sys.events.lastSeq;
  kick();
  trace(KINDS);
  say(`platform errors: ${pc.bold(pc.red(String(sys.platformErrors)))} - the DMA reached a device whose decode is off (spec H8: no variant before DMA-buf revocation prevents this)`);

  step('Summary');
  say(`events recorded: ${sys.events.lastSeq}; faults: ${sys.events.count('fault')}; zaps: ${sys.events.count('vfio.zap')}; SIGBUS: ${sys.events.count('signal')}; Unsupported Requests: ${sys.platformErrors}; lockdep reports: ${sys.events.count('lockdep')}`);
  const ld = sys.events.since(0).find((e) => e.kind === 'lockdep');
  if (ld !== undefined && ld.kind === 'lockdep') {
    say(`lockdep's first report (it then turns itself off, as the kernel's does) — in 5.8.0 the BAR read path holds memory_lock across copy_to_user (spec H3):`);
    for (const line of ld.text.split('\n').slice(0, 12)) out(pc.dim(`     | ${line}`));
    say('   (the whole report: run a scenario with `vfio-sim run`, or read `sys.lockdep.reports`)');
  }
  return sys.platformErrors;
}
