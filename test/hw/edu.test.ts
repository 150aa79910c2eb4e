import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  IOMMU_READ,
  IOMMU_WRITE,
  PAGE_SIZE,
  EDU_DMA_START,
  EDU_REG_DMA_CMD,
  EDU_REG_DMA_COUNT,
  EDU_REG_DMA_DST,
  EDU_REG_DMA_SRC,
  EDU_REG_FACTORIAL,
  EDU_REG_ID,
  EDU_REG_IRQ_ACK,
  EDU_REG_IRQ_RAISE,
  EDU_REG_IRQ_STATUS,
  EDU_REG_LIVENESS,
  EDU_REG_STATUS,
  EduState,
  type Machine,
} from '../../src/hw/index.js';
import { EDU1, MS, bar, enable, eventsOf, machine } from './util.js';

function edu(m: Machine): { r: (off: number, size?: 4 | 8) => bigint; w: (off: number, v: bigint, size?: 4 | 8) => void } {
  enable(m, EDU1, true);
  const b = bar(m, EDU1, 0);
  return {
    r: (off, size = 4) => m.memRead(b + off, size),
    w: (off, v, size = 4) => m.memWrite(b + off, size, v),
  };
}

/** Map `pages` fresh RAM pages at `iova` for edu's group; returns the pfns. */
function mapDma(m: Machine, iova: number, pages: number, prot = IOMMU_READ | IOMMU_WRITE): number[] {
  const d = m.iommu.createDomain();
  m.iommu.attachGroup(d, m.fn(EDU1).iommuGroup);
  const pfns: number[] = [];
  for (let i = 0; i < pages; i++) {
    const pfn = m.ram.allocPage();
    assert.ok(m.iommu.map(d, iova + i * PAGE_SIZE, pfn, 1, prot));
    pfns.push(pfn);
  }
  return pfns;
}

test('edu identification, liveness (bitwise NOT of the last write) and factorial', () => {
  const m = machine();
  const e = edu(m);
  assert.equal(e.r(EDU_REG_ID), 0x010000edn);
  assert.equal(e.r(EDU_REG_LIVENESS), 0n);
  e.w(EDU_REG_LIVENESS, 0x0f0f0000n);
  assert.equal(e.r(EDU_REG_LIVENESS), 0xf0f0ffffn);
  e.w(EDU_REG_FACTORIAL, 5n);
  assert.equal(e.r(EDU_REG_STATUS) & 1n, 0n, 'computed immediately');
  assert.equal(e.r(EDU_REG_FACTORIAL), 120n);
  e.w(EDU_REG_FACTORIAL, 13n);
  assert.equal(e.r(EDU_REG_FACTORIAL), 1932053504n, '13! mod 2^32');
});

test('edu access size rules: below 0x80 only 4 bytes; 0x80+ 4 or 8 bytes; unknown registers read all-ones', () => {
  const m = machine();
  const e = edu(m);
  const b = bar(m, EDU1, 0);
  assert.equal(m.memRead(b + EDU_REG_ID, 2), 0xffffn);
  assert.equal(m.memRead(b + EDU_REG_ID, 8), 0xffffffffffffffffn);
  m.memWrite(b + EDU_REG_LIVENESS, 2, 0n);
  assert.equal(e.r(EDU_REG_LIVENESS), 0n, 'a 2-byte write is ignored');
  e.w(EDU_REG_DMA_SRC, 0x123456789n, 8);
  assert.equal(e.r(EDU_REG_DMA_SRC, 8), 0x123456789n);
  assert.equal(e.r(EDU_REG_DMA_SRC, 4), 0x23456789n);
  assert.equal(e.r(0x84), 0xffffffffn, 'upper half of a DMA register is not a register');
  assert.equal(e.r(0x10), 0xffffffffn);
  assert.equal(m.platform.urCount, 0, 'all claimed by the device, no Unsupported Request');
});

test('edu interrupt raise/ack and factorial interrupt (status 0x80) via MSI', () => {
  const m = machine();
  const e = edu(m);
  const f = m.fn(EDU1);
  const got: number[] = [];
  m.setMsiHandler((_a, d) => got.push(d));
  f.cfgWrite(0x44, 4, 0xfee00000);
  f.cfgWrite(0x4c, 2, 0x21);
  f.cfgWrite(0x42, 2, 1);
  e.w(EDU_REG_IRQ_RAISE, 0x1000n);
  assert.equal(e.r(EDU_REG_IRQ_STATUS), 0x1000n);
  assert.deepEqual(got, [0x21]);
  e.w(EDU_REG_IRQ_ACK, 0x1000n);
  assert.equal(e.r(EDU_REG_IRQ_STATUS), 0n);
  e.w(EDU_REG_STATUS, 0x80n);
  e.w(EDU_REG_FACTORIAL, 4n);
  assert.equal(e.r(EDU_REG_IRQ_STATUS), 1n, 'FACT_IRQ');
  assert.equal(got.length, 2);
  assert.equal(e.r(EDU_REG_STATUS), 0x80n);
});

test('edu DMA RAM -> EDU buffer -> RAM through an IOMMU mapping', () => {
  const m = machine();
  const e = edu(m);
  const [src, dst] = mapDma(m, 0x100000, 2);
  assert.ok(src !== undefined && dst !== undefined);
  const srcPage = m.ram.page(src);
  for (let i = 0; i < 64; i++) srcPage[i] = (i * 7) & 0xff;
  e.w(EDU_REG_DMA_SRC, 0x100000n, 8);
  e.w(EDU_REG_DMA_DST, BigInt(EDU_DMA_START), 8);
  e.w(EDU_REG_DMA_COUNT, 64n, 8);
  e.w(EDU_REG_DMA_CMD, 1n | 4n, 8); // RAM -> EDU, irq
  m.clock.advance(100 * MS);
  assert.equal(e.r(EDU_REG_DMA_CMD), 4n, 'start bit cleared on completion');
  assert.equal(e.r(EDU_REG_IRQ_STATUS), 0x100n);
  e.w(EDU_REG_DMA_SRC, BigInt(EDU_DMA_START), 8);
  e.w(EDU_REG_DMA_DST, 0x101000n + 8n, 8);
  e.w(EDU_REG_DMA_CMD, 1n | 2n, 8); // EDU -> RAM
  m.clock.advance(100 * MS);
  const dstPage = m.ram.page(dst);
  for (let i = 0; i < 64; i++) assert.equal(dstPage[8 + i], (i * 7) & 0xff);
  const dmas = eventsOf(m, 'dma');
  assert.deepEqual(dmas.map((d) => [d.dir, d.iova, d.len, d.target, d.result]), [
    ['r', 0x100000, 64, 'ram', 'ok'],
    ['w', 0x101008, 64, 'ram', 'ok'],
  ]);
});

test('edu DMA to an unmapped IOVA faults in the IOMMU and transfers nothing', () => {
  const m = machine();
  const e = edu(m);
  mapDma(m, 0x100000, 1, IOMMU_READ);
  e.w(EDU_REG_DMA_SRC, BigInt(EDU_DMA_START), 8);
  e.w(EDU_REG_DMA_DST, 0x200000n, 8);
  e.w(EDU_REG_DMA_COUNT, 16n, 8);
  e.w(EDU_REG_DMA_CMD, 3n, 8);
  m.clock.advance(100 * MS);
  e.w(EDU_REG_DMA_DST, 0x100000n, 8);
  e.w(EDU_REG_DMA_CMD, 3n, 8); // read-only mapping
  m.clock.advance(100 * MS);
  const faults = eventsOf(m, 'iommu.fault');
  assert.deepEqual(faults.map((f) => [f.iova, f.write, f.reason]), [
    [0x200000, true, 'not-mapped'],
    [0x100000, true, 'permission'],
  ]);
  assert.deepEqual(eventsOf(m, 'dma').map((d) => d.result), ['iommu-fault', 'iommu-fault']);
});

test('edu DMA without bus master does nothing', () => {
  const m = machine();
  const e = edu(m);
  m.fn(EDU1).cfgWrite(4, 2, 2);
  e.w(EDU_REG_DMA_SRC, BigInt(EDU_DMA_START), 8);
  e.w(EDU_REG_DMA_DST, 0x100000n, 8);
  e.w(EDU_REG_DMA_COUNT, 16n, 8);
  e.w(EDU_REG_DMA_CMD, 3n, 8);
  m.clock.advance(100 * MS);
  assert.deepEqual(eventsOf(m, 'dma').map((d) => d.result), ['master-disabled']);
  assert.equal(eventsOf(m, 'iommu.fault').length, 0);
});

test('edu keeps its registers and DMA buffer across a bus reset (edu.c has no reset handler); PCI state resets', () => {
  const m = machine();
  const e = edu(m);
  const f = m.fn(EDU1);
  e.w(EDU_REG_LIVENESS, 0x1n);
  e.w(EDU_REG_FACTORIAL, 6n);
  e.w(EDU_REG_IRQ_RAISE, 0x8n);
  e.w(EDU_REG_DMA_COUNT, 0x20n, 8);
  const st = f.behavior;
  assert.ok(st instanceof EduState);
  st.dmaBuf[5] = 0x77;
  assert.equal(f.cfgRead(6, 2) & 0x8, 0x8, 'INTx asserted');
  const rp = m.fn('0000:00:01.0');
  rp.cfgWrite(0x3e, 2, 0x40);
  rp.cfgWrite(0x3e, 2, 0);
  m.clock.advance(100 * MS);
  assert.equal(f.cfgRead(4, 2), 0, 'command reset');
  assert.equal(f.cfgRead(6, 2) & 0x8, 0, 'INTx status reset with config space');
  f.cfgWrite(0x10, 4, bar(m, EDU1, 0));
  f.cfgWrite(4, 2, 2);
  assert.equal(e.r(EDU_REG_LIVENESS), 0xfffffffen);
  assert.equal(e.r(EDU_REG_FACTORIAL), 720n);
  assert.equal(e.r(EDU_REG_IRQ_STATUS), 0x8n);
  assert.equal(e.r(EDU_REG_DMA_COUNT, 8), 0x20n);
  assert.equal(st.dmaBuf[5], 0x77);
});

test('edu DMA with a buffer range outside 0x40000..0x40fff is refused (logged), but completes', () => {
  const m = machine();
  const e = edu(m);
  mapDma(m, 0x100000, 1);
  e.w(EDU_REG_DMA_SRC, 0x100000n, 8);
  e.w(EDU_REG_DMA_DST, BigInt(EDU_DMA_START + 4090), 8);
  e.w(EDU_REG_DMA_COUNT, 16n, 8);
  e.w(EDU_REG_DMA_CMD, 1n, 8);
  m.clock.advance(100 * MS);
  assert.equal(eventsOf(m, 'dma').length, 0);
  assert.equal(eventsOf(m, 'note').length, 1);
  assert.equal(e.r(EDU_REG_DMA_CMD), 0n);
});

test('edu DMA runs from its timer 100 ms of virtual time after the command write (edu.c dma_rw: timer_mod(now_ms + 100)); the start bit reads set until then', () => {
  const m = machine();
  const e = edu(m);
  const [src] = mapDma(m, 0x100000, 1);
  assert.ok(src !== undefined);
  m.ram.page(src).fill(0x5a, 0, 16);
  m.clock.advance(MS / 2); // mid-millisecond: the deadline counts from the current millisecond
  e.w(EDU_REG_DMA_SRC, 0x100000n, 8);
  e.w(EDU_REG_DMA_DST, BigInt(EDU_DMA_START), 8);
  e.w(EDU_REG_DMA_COUNT, 16n, 8);
  e.w(EDU_REG_DMA_CMD, 1n, 8);
  assert.equal(e.r(EDU_REG_DMA_CMD), 1n, 'start bit set: the transfer waits for the timer');
  e.w(EDU_REG_DMA_COUNT, 32n, 8);
  assert.equal(e.r(EDU_REG_DMA_COUNT, 8), 16n, 'registers are read-only while the engine runs');
  m.clock.advance(99 * MS);
  assert.equal(e.r(EDU_REG_DMA_CMD), 1n, 'still running at 99.5 ms');
  assert.equal(eventsOf(m, 'dma').length, 0, 'no transfer before the deadline');
  m.clock.advance(MS / 2);
  assert.equal(e.r(EDU_REG_DMA_CMD), 0n, 'done at 100 ms after the armed millisecond');
  assert.deepEqual(eventsOf(m, 'dma').map((d) => [d.dir, d.result]), [['r', 'ok']]);
  const st = m.fn(EDU1).behavior;
  assert.ok(st instanceof EduState);
  assert.deepEqual([...st.dmaBuf.subarray(0, 16)], new Array<number>(16).fill(0x5a));
});

test('edu DMA read that the IOMMU faults leaves zeros in the device buffer (QEMU pci_dma_read of an unassigned translation), not its old contents', () => {
  const m = machine();
  const e = edu(m);
  mapDma(m, 0x100000, 1);
  const st = m.fn(EDU1).behavior;
  assert.ok(st instanceof EduState);
  st.dmaBuf.fill(0xee, 0, 64);
  e.w(EDU_REG_DMA_SRC, 0x300000n, 8); // not mapped
  e.w(EDU_REG_DMA_DST, BigInt(EDU_DMA_START + 8), 8);
  e.w(EDU_REG_DMA_COUNT, 32n, 8);
  e.w(EDU_REG_DMA_CMD, 1n, 8);
  m.clock.advance(100 * MS);
  assert.deepEqual(eventsOf(m, 'iommu.fault').map((f) => [f.iova, f.write, f.reason]), [[0x300000, false, 'not-mapped']]);
  assert.deepEqual([...st.dmaBuf.subarray(8, 40)], new Array<number>(32).fill(0), 'the faulted range reads zeros');
  assert.deepEqual([...st.dmaBuf.subarray(0, 8)], new Array<number>(8).fill(0xee), 'outside the transfer: untouched');
  assert.deepEqual([...st.dmaBuf.subarray(40, 64)], new Array<number>(24).fill(0xee));
});
