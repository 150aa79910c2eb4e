import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SimEvent } from '../../src/events/event.js';
import type { Task } from '../../src/kernel/sched/task.js';
import { System } from '../../src/system.js';
import { PCI_COMMAND, PCI_COMMAND_MEMORY } from '../../src/uapi/pci-regs.js';
import { VFIO_PCI_CONFIG_REGION_INDEX, vfioPciIndexToOffset, VFIO_TYPE1v2_IOMMU } from '../../src/uapi/vfio.js';
import { type Process } from '../../src/user/process.js';
import { unwrap, VfioContainer, VfioGroup } from '../../src/user/vfio-client.js';

const CFG = vfioPciIndexToOffset(VFIO_PCI_CONFIG_REGION_INDEX);

function setup() {
  const sys = new System();
  const p = sys.spawnProcess('app');
  const c = unwrap(VfioContainer.open(p));
  const g = unwrap(VfioGroup.open(p, sys.hw.fn('0000:01:00.0').iommuGroup));
  unwrap(g.setContainer(c));
  unwrap(c.setIommu(VFIO_TYPE1v2_IOMMU));
  const d = unwrap(g.getDevice('0000:01:00.0'));
  const addr = unwrap(d.mmapRegion(0, { length: 0x100000, prot: 3 }));
  const buf = p.alloc(4096);
  const cmd = unwrap(d.readConfig(PCI_COMMAND, 2));
  return { sys, p, fd: d.fd, addr, buf, cmd };
}

/** The operations, as Task twins: BAR pread, MEM off (zap), a faulting touch, MEM on, refault, fork, munmap. */
function ops(p: Process, fd: number, addr: number, buf: number, cmd: number): (() => Task<unknown>)[] {
  const le16 = (v: number) => new Uint8Array([v & 0xff, v >> 8]);
  return [
    () => p.ops.pread(fd, buf, 4, 0),
    () => p.ops.load(addr, 4),
    () => p.ops.pwriteBytes(fd, le16(cmd & ~PCI_COMMAND_MEMORY), CFG + PCI_COMMAND),
    () => p.ops.load(addr + 0x1000, 4),
    () => p.ops.pread(fd, buf, 4, 0),
    () => p.ops.pwriteBytes(fd, le16(cmd), CFG + PCI_COMMAND),
    () => p.ops.load(addr + 0x2000, 4),
    () => p.ops.pwrite(fd, buf, 4, 8),
    () => p.ops.fork(),
    () => p.ops.munmap(addr, 0x100000),
  ];
}

/**
 * The event stream as text. Container and type1 ids still come from module-global
 * counters (vfio.ts, type1.ts), so the second System's lock names carry other numbers:
 * those numbers are masked.
 */
function trace(sys: System): string[] {
  return sys.events
    .all()
    .map((e: SimEvent) => JSON.stringify(e, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)).replace(/(container_group_lock|iommu_lock):\d+/g, '$1:#'));
}

test('a synchronous run passes scheduling points without suspending but takes the same steps, results and events as a scheduled run that yields at every point', () => {
  const a = setup();
  const b = setup();
  const sa = a.sys.kernel.sched;
  const sb = b.sys.kernel.sched;
  assert.equal(sa.steps, sb.steps);
  const ta = ops(a.p, a.fd, a.addr, a.buf, a.cmd);
  const tb = ops(b.p, b.fd, b.addr, b.buf, b.cmd);
  let yieldedPoints = 0;
  for (let i = 0; i < ta.length; i++) {
    const mk = ta[i];
    const mkB = tb[i];
    assert.ok(mk !== undefined && mkB !== undefined);
    const ra = sa.runSync(a.p.kthread, mk());
    // Scheduled: start the twin and let run() step it point by point (nothing is passed).
    sb.start(b.p.kthread, mkB());
    const s0 = sb.steps;
    const end = sb.run((rs) => rs[0] ?? b.p.kthread);
    assert.deepEqual(end, { kind: 'done' });
    yieldedPoints += sb.steps - s0;
    const rb = b.p.kthread.result;
    const norm = (r: unknown) => (typeof r === 'object' && r !== null && 'kproc' in r ? 'child' : r);
    assert.deepEqual(norm(ra), norm(rb), `op ${i}: same result`);
    assert.equal(sa.steps, sb.steps, `op ${i}: same step count`);
  }
  assert.ok(yieldedPoints > 60, `the scheduled run really stepped point by point (${yieldedPoints} steps)`);
  assert.ok(a.sys.events.count('vfio.zap') >= 1 && a.sys.events.count('signal') >= 1, 'the zap and the SIGBUS happened');
  assert.deepEqual(trace(a.sys), trace(b.sys));
});
