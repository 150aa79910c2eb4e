/**
 * Register and address helpers that mask with constants >= 0x80000000 compute what the
 * C code computes on u32/u64 values, for every 32-bit value (property tests against a
 * BigInt reference; JavaScript's bitwise operators are signed 32-bit).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { and32, barHighMask, barLowMask, clear32, inMsiWindow, merge32 } from '../../src/hw/bits32.js';
import { vbarLow, vromLow } from '../../src/kernel/vfio/pci/config.js';
import { MSI_ADDR_BASE } from '../../src/kernel/irq/irq.js';
import { ConfigSpace } from '../../src/hw/config-space.js';

const U32 = 0xffff_ffffn;
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
/** A u32 biased towards the top bit (the values signed arithmetic gets wrong). */
const hiU32 = fc.oneof(u32, fc.integer({ min: 0x8000_0000, max: 0xffff_ffff }));
const B = (n: number): bigint => BigInt(n);
const isU32 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff;
const RUNS = { numRuns: 2000 };

test('and32/clear32/merge32 give the unsigned C results for every pair of 32-bit values', () => {
  fc.assert(
    fc.property(hiU32, hiU32, hiU32, (v, m, n) => {
      assert.ok(isU32(and32(v, m)) && isU32(clear32(v, m)) && isU32(merge32(v, n, m)));
      assert.equal(B(and32(v, m)), B(v) & B(m));
      assert.equal(B(clear32(v, m)), B(v) & ~B(m) & U32);
      assert.equal(B(merge32(v, n, m)), ((B(v) & ~B(m)) | (B(n) & B(m))) & U32);
    }),
    RUNS,
  );
});

test('the MSI check accepts exactly the bus addresses 0xfee00000-0xfeefffff (64-bit addresses included)', () => {
  assert.equal(inMsiWindow(MSI_ADDR_BASE), true, '0xfee00000 & 0xfff00000 is negative in JS: the base must still match');
  fc.assert(
    fc.property(hiU32, fc.integer({ min: 0, max: 0xffff }), (lo, hi) => {
      const addr = hi * 2 ** 32 + lo;
      const ref = hi === 0 && (B(lo) & 0xfff0_0000n) === 0xfee0_0000n;
      assert.equal(inMsiWindow(addr), ref, `0x${addr.toString(16)}`);
    }),
    RUNS,
  );
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xfffff }), (o) => assert.equal(inMsiWindow(0xfee0_0000 + o), true)), RUNS);
});

const pow2 = (lo: number, hi: number): fc.Arbitrary<number> => fc.integer({ min: lo, max: hi }).map((e) => 2 ** e);

test('BAR size masks: low dword ~(size-1) within the address field, high dword of 64-bit BARs up to 2^48 bytes', () => {
  fc.assert(
    fc.property(pow2(4, 48), fc.constantFrom(0xffff_fff0, 0xffff_fffc, 0xffff_f800, 0xffff_ffff), (size, field) => {
      const m = ~(B(size) - 1n) & ((1n << 64n) - 1n);
      assert.equal(B(barLowMask(size, field)), m & U32 & B(field));
      assert.equal(B(barHighMask(size)), m >> 32n, `size 2^${Math.log2(size)}`);
      assert.ok(isU32(barLowMask(size, field)) && isU32(barHighMask(size)));
    }),
    RUNS,
  );
});

test('vfio_bar_fixup: a virtual BAR keeps the user value limited to the size mask, with the resource flags, for every 32-bit value', () => {
  fc.assert(
    fc.property(hiU32, pow2(4, 40), fc.boolean(), fc.boolean(), (v, size, mem64, prefetch) => {
      const got = vbarLow(v, { kind: 'mem', size, mem64, prefetch });
      const mask = ~(B(size) - 1n) & U32;
      const ref = (B(v) & mask & ~0xfn) | (mem64 ? 4n : 0n) | (prefetch ? 8n : 0n);
      assert.ok(isU32(got));
      assert.equal(B(got), ref);
    }),
    RUNS,
  );
  fc.assert(
    fc.property(hiU32, pow2(2, 8), (v, size) => {
      const got = vbarLow(v, { kind: 'io', size, mem64: false, prefetch: false });
      assert.equal(B(got), (B(v) & ~(B(size) - 1n) & U32) | 1n);
    }),
    RUNS,
  );
  fc.assert(
    fc.property(hiU32, pow2(11, 24), (v, size) => {
      const got = vromLow(v, size);
      assert.ok(isU32(got));
      assert.equal(B(got), B(v) & ((~(B(size) - 1n) & U32) | 1n));
    }),
    RUNS,
  );
});

test('vfio_bar_fixup: the upper dword of a 64-bit BAR larger than 4 GiB keeps only its size-aligned bits', () => {
  // the old helper took ~(size - 1) on the whole size: ToInt32 dropped the upper bits and
  // the mask came out 0 for 8 GiB (the user's upper address bits all read back 0)
  assert.equal(barHighMask(2 ** 33), 0xffff_fffe);
  assert.equal(barHighMask(2 ** 36), 0xffff_fff0);
});

test('config space dwords: a config-cycle write applies the writable and write-1-to-clear masks and reads back as a u32, for every 32-bit value, mask and old value', () => {
  fc.assert(
    fc.property(hiU32, hiU32, hiU32, hiU32, (old, v, wm, w1c) => {
      const cs = new ConfigSpace(256);
      cs.set32(0x10, old);
      assert.equal(cs.r32(0x10), old);
      cs.setWmask(0x10, 4, wm);
      cs.setW1c(0x10, 4, w1c);
      cs.write(0x10, 4, v);
      const ref = ((B(old) & ~B(wm)) | (B(v) & B(wm))) & ~(B(v) & B(w1c)) & U32;
      assert.equal(B(cs.r32(0x10)), ref);
      assert.ok(isU32(cs.read(0x10, 4)));
    }),
    RUNS,
  );
});
