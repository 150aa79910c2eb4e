/** The `gpu` sample device: a PCIe endpoint with a large, naturally aligned 64-bit VRAM BAR. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventStream } from '../../src/events/stream.js';
import {
  createMachine, endpoint, GPU_DEVICE, GPU_ID_VALUE, GPU_REG_ID, GPU_REG_SCRATCH, GPU_REG_VRAM_SIZE, gpuDevice, GpuState, isGpuVramSize, rootPort,
} from '../../src/hw/index.js';
import { bar, enable } from './util.js';

const GPU = '0000:01:00.0';
const MiB = 1 << 20;

function gpuMachine(vram?: number) {
  return createMachine({ urPolicy: 'log', slots: [rootPort(1, [endpoint(0, vram === undefined ? GPU_DEVICE : gpuDevice(vram))])] }, new EventStream());
}

test('gpu BAR2 is a 64-bit prefetchable BAR of 16 MiB, naturally aligned (PMD-mappable); class 0x030200 is not VGA', () => {
  const m = gpuMachine();
  const r = m.fn(GPU).resource(2);
  assert.ok(r !== null);
  assert.equal(r.size, 16 * MiB);
  assert.equal(r.mem64 && r.prefetch, true);
  assert.equal(r.start % r.size, 0, 'naturally aligned');
  assert.equal(m.fn(GPU).isVga, false);
  assert.equal(m.fn(GPU).configSize, 4096, 'PCIe');
});

test('gpu registers: ID, VRAM size in KiB, SCRATCH read/write; other offsets read 0, narrow accesses all-ones', () => {
  const m = gpuMachine(64 * MiB);
  enable(m, GPU);
  const b0 = bar(m, GPU, 0);
  assert.equal(m.memRead(b0 + GPU_REG_ID, 4), BigInt(GPU_ID_VALUE));
  assert.equal(m.memRead(b0 + GPU_REG_VRAM_SIZE, 4), BigInt(64 * 1024));
  m.memWrite(b0 + GPU_REG_SCRATCH, 4, 0x5a5an);
  assert.equal(m.memRead(b0 + GPU_REG_SCRATCH, 4), 0x5a5an);
  assert.equal(m.memRead(b0 + 0x100, 4), 0n);
  assert.equal(m.memRead(b0 + GPU_REG_ID, 2), 0xffffn);
});

test('gpu VRAM is memory: never-written bytes read 0, writes of any size read back at any size', () => {
  const m = gpuMachine();
  enable(m, GPU);
  const v = bar(m, GPU, 2);
  assert.equal(m.memRead(v + 0xabc000, 8), 0n);
  m.memWrite(v + 0x200010, 8, 0x1122334455667788n);
  assert.equal(m.memRead(v + 0x200010, 4), 0x55667788n);
  assert.equal(m.memRead(v + 0x200014, 2), 0x3344n);
  m.memWrite(v + 0x200011, 1, 0xffn);
  assert.equal(m.memRead(v + 0x200010, 8), 0x112233445566ff88n);
});

test('gpu reset (FLR, bus, power-on) clears SCRATCH and keeps VRAM', () => {
  const g = new GpuState(2 * MiB);
  g.mmioWrite(0, GPU_REG_SCRATCH, 4, 7n);
  g.mmioWrite(2, 0x1000, 4, 0xabcdn);
  g.reset();
  assert.equal(g.mmioRead(0, GPU_REG_SCRATCH, 4), 0n);
  assert.equal(g.mmioRead(2, 0x1000, 4), 0xabcdn);
  assert.equal(g.vram.size, 1, 'one 4 KiB VRAM page allocated');
});

test('gpuDevice accepts powers of two from 64 KiB to 1 GiB and throws for anything else', () => {
  for (const ok of [64 * 1024, 2 * MiB, 1024 * MiB]) assert.equal(isGpuVramSize(ok), true, String(ok));
  for (const bad of [0, 32 * 1024, 3 * MiB, 2048 * MiB, 1.5]) {
    assert.equal(isGpuVramSize(bad), false, String(bad));
    assert.throws(() => gpuDevice(bad), /VRAM size/);
  }
  const big = gpuMachine(1024 * MiB).fn(GPU).resource(2);
  assert.ok(big !== null && big.size === 1024 * MiB && big.start % big.size === 0, 'a 1 GiB BAR, PUD-aligned');
});
