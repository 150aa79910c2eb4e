/**
 * Huge (PMD/PUD) leaf entries in the run-length page table: one run per leaf, never merged,
 * never split — a per-page change or a partial zap clears the whole leaf, as splitting a
 * special huge entry does in the kernel (6.12 huge pfnmaps).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HPAGE_PMD_NR, HPAGE_PUD_NR, hugeLevelPages, PageTable } from '../../src/kernel/mm/pagetable.js';
import type { Pte } from '../../src/kernel/mm/types.js';

const N = HPAGE_PMD_NR;

test('a PMD leaf maps 512 pages: get() reports pfn + offset and the huge level; size and countRange count pages', () => {
  const pt = new PageTable();
  pt.installRun(N, N, 0x10000, true, true, 'pmd');
  assert.equal(pt.size, N);
  assert.deepEqual({ ...(pt.get(N + 7) as Pte) }, { pfn: 0x10007, writable: true, special: true, huge: 'pmd' });
  assert.equal(pt.hugeAt(N + 511), 'pmd');
  assert.equal(pt.hugeAt(2 * N), null);
  assert.equal(pt.countRange(0, 4 * N), N);
  assert.equal(pt.countHuge(0, 4 * N), 1);
  assert.equal(pt.countHuge(0, 4 * N, 'pud'), 0);
  assert.equal(hugeLevelPages('pud'), HPAGE_PUD_NR);
});

test('ordinary PTEs carry no huge key (the page table looks as before for 4 KiB mappings)', () => {
  const pt = new PageTable();
  pt.installRun(0, 4, 100, false, true);
  assert.equal('huge' in (pt.get(1) as Pte), false);
});

test('adjacent pfn-contiguous leaves and runs never merge', () => {
  const pt = new PageTable();
  pt.installRun(0, N, 0, true, true, 'pmd');
  pt.installRun(N, N, N, true, true, 'pmd');
  pt.installRun(2 * N, 3, 2 * N, true, true);
  assert.equal(pt.countHuge(0, 3 * N), 2);
  assert.equal(pt.hugeAt(2 * N), null);
  assert.equal(pt.hugeAt(2 * N - 1), 'pmd');
  // zapping exactly the second leaf leaves the first and the 4 KiB run alone
  assert.equal(pt.deleteRange(N, 2 * N, null), N);
  assert.equal(pt.hugeAt(0), 'pmd');
  assert.equal(pt.countRange(2 * N, 2 * N + 3), 3);
});

test('a partial zap of a leaf removes the whole leaf and counts all its pages', () => {
  const pt = new PageTable();
  pt.installRun(0, N, 0, true, true, 'pmd');
  pt.set(N + 1, { pfn: 9, writable: true, special: true });
  assert.equal(pt.deleteRange(100, 101, null), N);
  assert.equal(pt.size, 1);
  assert.equal(pt.firstPresent(0, N), -1);
});

test('set() or delete() of one page inside a leaf clears the leaf (split of a special huge entry)', () => {
  const pt = new PageTable();
  pt.installRun(0, N, 0, true, true, 'pmd');
  pt.set(5, { pfn: 77, writable: false, special: true });
  assert.equal(pt.size, 1);
  assert.equal(pt.get(5)?.pfn, 77);
  assert.equal(pt.hugeAt(5), null);
  pt.installRun(N, N, 0, true, true, 'pmd');
  assert.equal(pt.delete(N + 3), true);
  assert.equal(pt.countRange(N, 2 * N), 0);
});

test('splitHugeAt clears only a leaf that straddles the page; a boundary at the leaf start keeps it', () => {
  const pt = new PageTable();
  pt.installRun(N, N, 0, true, true, 'pmd');
  assert.equal(pt.splitHugeAt(N), 0);
  assert.equal(pt.splitHugeAt(3 * N), 0);
  assert.equal(pt.hugeAt(N), 'pmd');
  assert.equal(pt.splitHugeAt(N + 256), N);
  assert.equal(pt.size, 0);
});

test('forEachInRange reports a leaf as one run with its level (fork copies it as a leaf)', () => {
  const pt = new PageTable();
  pt.installRun(0, N, 4 * N, true, true, 'pmd');
  const runs: { vpn: number; n: number; pte: Pte }[] = [];
  pt.forEachInRange(0, N, () => assert.fail('no single pages'), (vpn, n, pte) => runs.push({ vpn, n, pte }));
  assert.equal(runs.length, 1);
  const r = runs[0];
  assert.ok(r !== undefined);
  assert.deepEqual([r.vpn, r.n, r.pte.pfn, r.pte.huge], [0, N, 4 * N, 'pmd']);
  const child = new PageTable();
  child.setRange(r.vpn, r.n, r.pte.pfn, r.pte.writable, r.pte.special, r.pte.huge ?? null);
  assert.equal(child.hugeAt(100), 'pmd');
});
