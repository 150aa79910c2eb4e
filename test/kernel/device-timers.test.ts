/**
 * Device timers on a booted machine (src/hw/clock.ts DeviceTimer, Scheduler.deviceClock):
 * edu's DMA timer runs as a hardware thread once the model's clock reaches its deadline,
 * only the kernel's sleeps (and idle CPUs) advance that clock, and with the synchronous
 * API the timers due during a sleep run before the sleep returns.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { System } from '../../src/system.js';
import { PCI_COMMAND, PCI_COMMAND_MASTER } from '../../src/uapi/pci-regs.js';
import { VFIO_TYPE1v2_IOMMU } from '../../src/uapi/vfio.js';
import { unwrap, VfioContainer, VfioGroup } from '../../src/user/vfio-client.js';

const EDU0 = '0000:01:00.0';

/** A CPU load's value (the test fails on a signal). */
function loadValue(p: ReturnType<System['spawnProcess']>, addr: number): bigint {
  const r = p.load(addr, 4);
  assert.ok(r.ok, 'the load raised a signal');
  return r.value;
}

function openEdu(): { sys: System; p: ReturnType<System['spawnProcess']>; bar: number } {
  const sys = new System();
  const p = sys.spawnProcess('qemu');
  const c = unwrap(VfioContainer.open(p));
  const fn = sys.hw.findFunction(EDU0);
  assert.ok(fn !== undefined);
  const g = unwrap(VfioGroup.open(p, fn.iommuGroup));
  unwrap(g.setContainer(c));
  unwrap(c.setIommu(VFIO_TYPE1v2_IOMMU));
  const d = unwrap(g.getDevice(EDU0));
  const cmd = unwrap(d.readConfig(PCI_COMMAND, 2));
  unwrap(d.writeConfig(PCI_COMMAND, 2, cmd | PCI_COMMAND_MASTER));
  const bar = unwrap(d.mmapRegion(0, { length: 0x100000, prot: 3 }));
  return { sys, p, bar };
}

test('edu DMA with the synchronous API: the start bit stays set through 99 ms of sleep and clears once a sleep passes 100 ms of model time; no CPU work advances the clock', () => {
  const { sys, p, bar } = openEdu();
  p.store(bar + 0x80, 8, 0x40000n);
  p.store(bar + 0x88, 8, 0x100000n); // unmapped IOVA: the write faults in the IOMMU
  p.store(bar + 0x90, 8, 8n);
  const t0 = sys.hw.clock.nowNs;
  p.store(bar + 0x98, 8, 3n);
  for (let i = 0; i < 1000; i++) assert.equal(loadValue(p, bar + 0x98), 3n); // no amount of CPU work lets time pass
  assert.equal(sys.hw.clock.nowNs, t0);
  p.sleep(99);
  assert.equal(loadValue(p, bar + 0x98), 3n, 'still running after 99 ms');
  assert.equal(sys.events.count('iommu.fault'), 0);
  p.sleep(1);
  assert.equal(loadValue(p, bar + 0x98), 2n, 'done once 100 ms passed');
  const dma = sys.events.all().filter((e) => e.kind === 'dma' && e.dev === EDU0);
  assert.equal(dma.length, 1);
  const hw = sys.kernel.sched.hardwareThreads();
  assert.deepEqual(hw.map((t) => t.name), [`dma@${EDU0}`]);
  assert.equal(dma[0]?.tid, hw[0]?.tid, 'the transfer is a step of the hardware thread');
});
