import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { PageTable } from '../../src/kernel/mm/pagetable.js';
import type { Pte } from '../../src/kernel/mm/types.js';

/** The reference: one entry per page, as the kernel's page table has. */
type Ref = Map<number, Pte>;

type Op =
  | { t: 'set'; vpn: number; pfn: number; writable: boolean; special: boolean }
  | { t: 'delete'; vpn: number }
  | { t: 'range'; vpn: number; n: number; pfn: number; writable: boolean; special: boolean }
  | { t: 'zap'; from: number; to: number };

const VPNS = 64;
const vpn = fc.integer({ min: 0, max: VPNS - 1 });
/** pfn = page + a small shift, so that neighbouring ranges are often pfn-contiguous (and merge) and sometimes collide. */
const shift = fc.constantFrom(0, 0, 1, 8, 16, 24);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant('set' as const), vpn, pfn: shift, writable: fc.boolean(), special: fc.boolean() }).map((o) => ({ ...o, pfn: o.vpn + o.pfn })),
  fc.record({ t: fc.constant('delete' as const), vpn }),
  fc
    .record({ t: fc.constant('range' as const), vpn, n: fc.integer({ min: 1, max: 24 }), pfn: shift, writable: fc.boolean(), special: fc.boolean() })
    .map((o) => ({ ...o, pfn: o.vpn + o.pfn })),
  fc.record({ t: fc.constant('zap' as const), from: vpn, to: fc.integer({ min: 0, max: VPNS + 8 }) }),
);

function refFirstPresent(ref: Ref, from: number, to: number): number {
  for (let v = from; v < to; v++) if (ref.has(v)) return v;
  return -1;
}

function check(pt: PageTable, ref: Ref): void {
  assert.equal(pt.size, ref.size);
  for (let v = 0; v < VPNS + 24; v++) {
    const a = pt.get(v);
    const b = ref.get(v);
    assert.deepEqual(a === undefined ? undefined : { ...a }, b === undefined ? undefined : { ...b }, `page ${v}`);
    assert.equal(pt.has(v), ref.has(v));
  }
  for (const [from, to] of [[0, VPNS + 24], [3, 17], [20, 21], [40, 64]] as const) {
    let n = 0;
    for (let v = from; v < to; v++) if (ref.has(v)) n++;
    assert.equal(pt.countRange(from, to), n, `count [${from}, ${to})`);
    assert.equal(pt.firstPresent(from, to), refFirstPresent(ref, from, to), `firstPresent [${from}, ${to})`);
    const seen: number[] = [];
    pt.forEachInRange(from, to, (p) => seen.push(p));
    assert.deepEqual(seen, [...ref.keys()].filter((v) => v >= from && v < to).sort((x, y) => x - y), `visit order [${from}, ${to})`);
  }
}

test('the page table stores remapped ranges as runs but behaves as one PTE per page (get/set/delete/zap/count against a per-page reference)', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
      const pt = new PageTable();
      const ref: Ref = new Map();
      for (const op of ops) {
        switch (op.t) {
          case 'set':
            pt.set(op.vpn, { pfn: op.pfn, writable: op.writable, special: op.special });
            ref.set(op.vpn, { pfn: op.pfn, writable: op.writable, special: op.special });
            break;
          case 'delete':
            assert.equal(pt.delete(op.vpn), ref.delete(op.vpn));
            break;
          case 'range':
            if (refFirstPresent(ref, op.vpn, op.vpn + op.n) >= 0) {
              assert.throws(() => pt.setRange(op.vpn, op.n, op.pfn, op.writable, op.special));
            } else {
              pt.setRange(op.vpn, op.n, op.pfn, op.writable, op.special);
              for (let i = 0; i < op.n; i++) ref.set(op.vpn + i, { pfn: op.pfn + i, writable: op.writable, special: op.special });
            }
            break;
          case 'zap': {
            const normal: number[] = [];
            const removed = pt.deleteRange(op.from, op.to, (v, p) => {
              assert.equal(p.special, false);
              normal.push(v);
            });
            const want = [...ref.keys()].filter((v) => v >= op.from && v < op.to).sort((x, y) => x - y);
            assert.equal(removed, want.length);
            assert.deepEqual(normal, want.filter((v) => !(ref.get(v) as Pte).special), 'non-special pages reported in address order');
            for (const v of want) ref.delete(v);
            break;
          }
        }
        check(pt, ref);
      }
    }),
    { seed: 0x9a7e, numRuns: 400 },
  );
});

test('a PTE inside a run reads as its own page: pfn offset within the run, split by a per-page write-protect upgrade', () => {
  const pt = new PageTable();
  pt.setRange(0x100, 256, 0xfe000, false, true);
  assert.equal(pt.size, 256);
  assert.deepEqual({ ...(pt.get(0x100 + 37) as Pte) }, { pfn: 0xfe000 + 37, writable: false, special: true });
  pt.set(0x100 + 37, { pfn: 0xfe000 + 37, writable: true, special: true });
  assert.equal(pt.size, 256);
  assert.equal(pt.get(0x100 + 37)?.writable, true);
  assert.equal(pt.get(0x100 + 36)?.writable, false);
  assert.equal(pt.get(0x100 + 38)?.pfn, 0xfe000 + 38);
  // Zap a sub-range: the rest stays, and remapping over the hole only is allowed.
  assert.equal(pt.deleteRange(0x110, 0x120, null), 16);
  assert.equal(pt.firstPresent(0x110, 0x120), -1);
  assert.equal(pt.firstPresent(0x100, 0x200), 0x100);
  pt.setRange(0x110, 16, 0xfe010, false, true);
  assert.equal(pt.size, 256);
  assert.throws(() => pt.setRange(0x1ff, 2, 0, false, true), /present/);
  // Adjacent ranges merge only when their pfns are contiguous too.
  pt.setRange(0x300, 8, 100, false, true);
  pt.setRange(0x2f8, 8, 100, false, true);
  pt.setRange(0x308, 8, 108, false, true);
  assert.deepEqual([0x2f8, 0x2ff, 0x300, 0x307, 0x308, 0x30f].map((v) => pt.get(v)?.pfn), [100, 107, 100, 107, 108, 115]);
});
