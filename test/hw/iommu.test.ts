import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventStream } from '../../src/events/stream.js';
import {
  createMachine,
  defineDevice,
  endpoint,
  multiFunction,
  pciBridge,
  pciePciBridge,
  rootPort,
  IOMMU_READ,
  IOMMU_WRITE,
  EDU_DEVICE,
  EDU_DMA_START,
  EDU_REG_DMA_CMD,
  EDU_REG_DMA_COUNT,
  EDU_REG_DMA_DST,
  EDU_REG_DMA_SRC,
  NIC_DEVICE,
  NIC_REG_SCRATCH,
  type DeviceDefinition,
} from '../../src/hw/index.js';
import { EDU1, MS, NIC, bar, enable, eventsOf, machine } from './util.js';

test('IOMMU map refuses overlapping mappings; unmap reports how many pages were mapped', () => {
  const m = machine();
  const d = m.iommu.createDomain();
  assert.ok(m.iommu.map(d, 0x10000, 0x200, 4, IOMMU_READ));
  assert.equal(m.iommu.map(d, 0x12000, 0x300, 1, IOMMU_READ), false);
  assert.deepEqual(m.iommu.lookup(d, 0x11000), { pfn: 0x201, prot: IOMMU_READ });
  assert.equal(m.iommu.unmap(d, 0x12000, 4), 2);
  assert.equal(m.iommu.lookup(d, 0x12000), null);
});

test('DMA from a function whose group is not attached to a domain is an IOMMU fault', () => {
  const m = machine();
  enable(m, EDU1, true);
  const f = m.fn(EDU1);
  assert.equal(f.dmaRead(0x1000, 4), null);
  assert.deepEqual(eventsOf(m, 'iommu.fault').map((e) => [e.dev, e.iova, e.write, e.reason]), [[EDU1, 0x1000, false, 'no-domain']]);
  assert.equal(eventsOf(m, 'dma')[0]?.result, 'iommu-fault');
});

test('DMA translation is page by page: a transfer crossing into an unmapped page faults at that page and transfers nothing', () => {
  const m = machine();
  enable(m, EDU1, true);
  const f = m.fn(EDU1);
  const d = m.iommu.createDomain();
  m.iommu.attachGroup(d, f.iommuGroup);
  const pfn = m.ram.allocPage();
  m.iommu.map(d, 0x5000, pfn, 1, IOMMU_READ | IOMMU_WRITE);
  assert.equal(f.dmaWrite(0x5ff0, new Uint8Array(32).fill(9)), false);
  assert.equal(eventsOf(m, 'iommu.fault')[0]?.iova, 0x6000);
  assert.equal(m.ram.page(pfn)[0xff0], 0, 'nothing written');
  assert.equal(f.dmaWrite(0x5ff0, new Uint8Array(16).fill(9)), true);
  assert.equal(m.ram.page(pfn)[0xfff], 9);
});

test('peer-to-peer DMA into another device BAR reaches it when it decodes, and is an Unsupported Request when its decode is off', () => {
  const m = machine();
  enable(m, EDU1, true);
  enable(m, NIC);
  const e = m.fn(EDU1);
  const nicBar0 = bar(m, NIC, 0);
  const d = m.iommu.createDomain();
  m.iommu.attachGroup(d, e.iommuGroup);
  // an IOVA page mapped to the nic's BAR0 page (what type1 does for a mmapped BAR)
  m.iommu.map(d, 0x800000, Math.floor(nicBar0 / 4096), 1, IOMMU_READ | IOMMU_WRITE);
  const eb = bar(m, EDU1, 0);
  const wr = (off: number, v: bigint): void => m.memWrite(eb + off, 8, v);
  (e.behavior as { dmaBuf: Uint8Array } | null)?.dmaBuf.set([0x78, 0x56, 0x34, 0x12], 0);
  wr(EDU_REG_DMA_SRC, BigInt(EDU_DMA_START));
  wr(EDU_REG_DMA_DST, BigInt(0x800000 + NIC_REG_SCRATCH));
  wr(EDU_REG_DMA_COUNT, 4n);
  wr(EDU_REG_DMA_CMD, 3n);
  m.clock.advance(100 * MS); // edu's DMA timer
  assert.equal(m.memRead(nicBar0 + NIC_REG_SCRATCH, 4), 0x12345678n, 'P2P write reached the nic');
  const p2p = eventsOf(m, 'mmio').find((x) => x.initiator === 'dma');
  assert.deepEqual(p2p && [p2p.dev, p2p.requester, p2p.dir], [NIC, EDU1, 'w']);

  m.fn(NIC).cfgWrite(4, 2, 0); // nic decode off
  const seq = m.events.lastSeq;
  wr(EDU_REG_DMA_CMD, 3n);
  m.clock.advance(100 * MS);
  const ur = eventsOf(m, 'platform.error', seq);
  assert.equal(ur.length, 1);
  assert.deepEqual([ur[0]?.initiator, ur[0]?.requester, ur[0]?.target, ur[0]?.dir], ['dma', EDU1, NIC, 'w']);
  assert.equal(eventsOf(m, 'dma', seq)[0]?.result, 'unsupported-request');
  assert.equal(eventsOf(m, 'dma', seq)[0]?.target, NIC);
  assert.equal(m.platform.urCount, 1);
});

test('IOMMU groups of the default machine: host bridge, each root port and each endpoint separately', () => {
  const m = machine();
  const g = m.groups().map((x) => x.functions.map((f) => f.name));
  assert.deepEqual(g, [['0000:00:00.0'], ['0000:00:01.0'], ['0000:00:02.0'], ['0000:00:03.0'], ['0000:01:00.0'], ['0000:02:00.0'], ['0000:03:00.0']]);
  assert.equal(m.fn(NIC).iommuGroup, 6);
});

const beh = (): ReturnType<DeviceDefinition['spec']['behavior']> => ({ mmioRead: () => 0n, mmioWrite: () => {}, reset: () => {} });
const FN_NOACS = defineDevice({ model: 'mf', vendorId: 0x1234, deviceId: 0x10, classCode: 0xff0000, bars: [], caps: { pcie: { flr: true } }, behavior: beh });
const FN_ACS = defineDevice({ model: 'mfacs', vendorId: 0x1234, deviceId: 0x11, classCode: 0xff0000, bars: [], caps: { pcie: { flr: true }, acs: true }, behavior: beh });

test('IOMMU groups: functions of a multi-function device without ACS share a group; with ACS they are isolated', () => {
  const m = createMachine({ slots: [rootPort(1, [multiFunction(0, [FN_NOACS, FN_NOACS, FN_NOACS])]), rootPort(2, [multiFunction(0, [FN_ACS, FN_ACS])])] }, new EventStream());
  const grp = (n: string): number => m.fn(n).iommuGroup;
  assert.equal(grp('0000:01:00.0'), grp('0000:01:00.1'));
  assert.equal(grp('0000:01:00.0'), grp('0000:01:00.2'));
  assert.notEqual(grp('0000:01:00.0'), grp('0000:00:01.0'), 'root port has its own group');
  assert.notEqual(grp('0000:02:00.0'), grp('0000:02:00.1'));
});

test('IOMMU groups: everything behind a conventional PCI bridge (or PCIe-to-PCI bridge) shares the bridge group', () => {
  const m = createMachine(
    { slots: [rootPort(1, [pciBridge(0, [endpoint(1, EDU_DEVICE), endpoint(2, EDU_DEVICE)])]), rootPort(2, [pciePciBridge(0, [endpoint(3, EDU_DEVICE)])]), rootPort(3, [endpoint(0, NIC_DEVICE)])] },
    new EventStream(),
  );
  const grp = (n: string): number => m.fn(n).iommuGroup;
  assert.equal(grp('0000:02:01.0'), grp('0000:01:00.0'));
  assert.equal(grp('0000:02:02.0'), grp('0000:01:00.0'));
  assert.notEqual(grp('0000:01:00.0'), grp('0000:00:01.0'));
  assert.equal(grp('0000:04:03.0'), grp('0000:03:00.0'));
  assert.notEqual(grp('0000:05:00.0'), grp('0000:03:00.0'));
  const shared = m.groups().find((g) => g.id === grp('0000:01:00.0'));
  assert.deepEqual(shared?.functions.map((f) => f.name), ['0000:01:00.0', '0000:02:01.0', '0000:02:02.0']);
});

test('IOMMU groups: endpoints below a root port without ACS share the root port group', () => {
  const m = createMachine({ slots: [rootPort(1, [endpoint(0, EDU_DEVICE)], { acs: false }), rootPort(2, [endpoint(0, EDU_DEVICE)])] }, new EventStream());
  assert.equal(m.fn('0000:01:00.0').iommuGroup, m.fn('0000:00:01.0').iommuGroup);
  assert.notEqual(m.fn('0000:02:00.0').iommuGroup, m.fn('0000:00:02.0').iommuGroup);
});

test('DMA to the MSI window is an interrupt, not a memory write', () => {
  const m = machine();
  const got: number[] = [];
  m.setMsiHandler((a, d) => got.push(a, d));
  enable(m, NIC, true);
  assert.equal(m.fn(NIC).dmaWrite(0xfee00000, new Uint8Array([0x31, 0, 0, 0])), true);
  assert.deepEqual(got, [0xfee00000, 0x31]);
  assert.equal(eventsOf(m, 'dma')[0]?.target, 'msi');
});
