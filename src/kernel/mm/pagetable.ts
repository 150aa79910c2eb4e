/**
 * The page table of one mm: virtual page number → PTE. Semantically a map with one entry
 * per 4 KiB page (get/has/set/delete per page, as the tests and the fault path see it),
 * stored as single entries plus *runs*: a contiguous range of pages mapping contiguous
 * pfns with the same protection, as remap_pfn_range installs them. Installing, counting,
 * zapping or copying a run is O(1) in its length; per-page operations on a page inside a
 * run split it. Runs and single entries never overlap.
 *
 * A *huge* run is one PMD (2 MiB, 512 pages) or PUD (1 GiB) leaf entry, as
 * vmf_insert_pfn_pmd / vmf_insert_pfn_pud install them (6.12 huge pfnmaps). It never
 * merges with a neighbour, and any operation that would need to split it removes it
 * whole instead: splitting a huge PMD/PUD of a special (pfnmap) vma just clears it
 * (__split_huge_pmd_locked, mm/huge_memory.c, 6.12), and the pages refault.
 */
import type { HugeLevel, Pte } from './types.js';
import { spliceAll } from '../../util/array.js';

/** Pages covered by one PMD leaf (2 MiB) and one PUD leaf (1 GiB). */
export const HPAGE_PMD_NR = 512;
export const HPAGE_PUD_NR = 512 * 512;

/** Pages covered by a leaf entry of `level`. */
export function hugeLevelPages(level: HugeLevel): number {
  return level === 'pmd' ? HPAGE_PMD_NR : HPAGE_PUD_NR;
}

/** `n = end - start` consecutive pages from `start` mapping pfns `pfn`, `pfn + 1`, ... */
interface Run {
  start: number;
  end: number;
  pfn: number;
  readonly writable: boolean;
  readonly special: boolean;
  /** Set when the run is one huge leaf entry (PMD or PUD); null for ordinary PTEs. */
  readonly huge: HugeLevel | null;
  /** The last PTE object handed out for this run (get() returns a stable object per hit). */
  lastVpn: number;
  lastPte: Pte | null;
}

const NONE: readonly number[] = Object.freeze([]);

function mkRun(start: number, end: number, pfn: number, writable: boolean, special: boolean, huge: HugeLevel | null = null): Run {
  return { start, end, pfn, writable, special, huge, lastVpn: -1, lastPte: null };
}

/** The PTE view of page `vpn` of run `r` (huge runs say so; ordinary ones carry no `huge` key). */
function pteOf(r: Run, vpn: number): Pte {
  const pfn = r.pfn + (vpn - r.start);
  return r.huge === null ? { pfn, writable: r.writable, special: r.special } : { pfn, writable: r.writable, special: r.special, huge: r.huge };
}

/** `a.splice(i, 0, x)` without allocating the (empty) array of removed elements. */
function insertAt<T>(a: T[], i: number, x: T): void {
  a.push(x);
  for (let j = a.length - 1; j > i; j--) a[j] = a[j - 1] as T;
  a[i] = x;
}

/** `a.splice(i, n)` (`i + n <= a.length`) without allocating the array of removed elements. */
function removeRange<T>(a: T[], i: number, n: number): void {
  for (let j = i + n; j < a.length; j++) a[j - n] = a[j] as T;
  for (let j = 0; j < n; j++) a.pop();
}

/** Called for each removed entry, in ascending page order. */
export type PteVisitor = (vpn: number, pte: Pte) => void;

export class PageTable {
  private readonly single = new Map<number, Pte>();
  /** Sorted by start, non-overlapping, never empty. */
  private readonly runs: Run[] = [];
  private count = 0;
  /** Run of the last successful lookup (null after any structural change). */
  private hit: Run | null = null;

  /** Number of present PTEs. */
  get size(): number {
    return this.count;
  }

  /** Index of the run containing `vpn`, or -1. */
  private runIndex(vpn: number): number {
    const rs = this.runs;
    let lo = 0;
    let hi = rs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = rs[mid] as Run;
      if (vpn < r.start) hi = mid - 1;
      else if (vpn >= r.end) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  /** Index of the first run whose end lies above `vpn` (runs.length if none). */
  private firstRunEndingAfter(vpn: number): number {
    const rs = this.runs;
    let lo = 0;
    let hi = rs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((rs[mid] as Run).end <= vpn) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private runPte(r: Run, vpn: number): Pte {
    if (r.lastVpn === vpn && r.lastPte !== null) return r.lastPte;
    const pte = pteOf(r, vpn);
    r.lastVpn = vpn;
    r.lastPte = pte;
    return pte;
  }

  get(vpn: number): Pte | undefined {
    const h = this.hit;
    if (h !== null && vpn >= h.start && vpn < h.end) return this.runPte(h, vpn);
    const s = this.single.get(vpn);
    if (s !== undefined) return s;
    if (this.runs.length === 0) return undefined;
    const i = this.runIndex(vpn);
    if (i < 0) return undefined;
    const r = this.runs[i] as Run;
    this.hit = r;
    return this.runPte(r, vpn);
  }

  has(vpn: number): boolean {
    return this.get(vpn) !== undefined;
  }

  /**
   * Take `vpn` out of the run containing it (splitting the run); false if no run holds it.
   * A huge run cannot be split: it is removed whole (split of a special huge entry).
   */
  private cutFromRun(vpn: number): boolean {
    const i = this.runIndex(vpn);
    if (i < 0) return false;
    const r = this.runs[i] as Run;
    this.hit = null;
    if (r.huge !== null) {
      this.runs.splice(i, 1);
      this.count -= r.end - r.start;
      return true;
    }
    const pieces: Run[] = [];
    if (vpn > r.start) pieces.push(mkRun(r.start, vpn, r.pfn, r.writable, r.special));
    if (vpn + 1 < r.end) pieces.push(mkRun(vpn + 1, r.end, r.pfn + (vpn + 1 - r.start), r.writable, r.special));
    spliceAll(this.runs, i, 1, pieces);
    this.count--;
    return true;
  }

  /** Install or replace the PTE of one page. */
  set(vpn: number, pte: Pte): this {
    if (this.single.has(vpn)) {
      this.single.set(vpn, pte);
      return this;
    }
    this.cutFromRun(vpn);
    this.single.set(vpn, pte);
    this.count++;
    return this;
  }

  delete(vpn: number): boolean {
    if (this.single.delete(vpn)) {
      this.count--;
      return true;
    }
    return this.cutFromRun(vpn);
  }

  /** Single-entry pages in [from, to), ascending (a shared empty array when there are none). */
  private singlesIn(from: number, to: number): readonly number[] {
    if (this.single.size === 0 || to <= from) return NONE;
    const out: number[] = [];
    if (this.single.size < to - from) {
      for (const vpn of this.single.keys()) if (vpn >= from && vpn < to) out.push(vpn);
      out.sort((a, b) => a - b);
    } else {
      for (let vpn = from; vpn < to; vpn++) if (this.single.has(vpn)) out.push(vpn);
    }
    return out;
  }

  /** First present page in [from, to), or -1. */
  firstPresent(from: number, to: number): number {
    let best = -1;
    const ri = this.firstRunEndingAfter(from);
    const r = this.runs[ri];
    if (r !== undefined && r.start < to) best = Math.max(r.start, from);
    if (this.single.size > 0) {
      const lim = best >= 0 ? best : to;
      const s = this.singlesIn(from, lim);
      if (s.length > 0) best = s[0] as number;
    }
    return best;
  }

  /** Number of present PTEs in [from, to). */
  countRange(from: number, to: number): number {
    let n = this.singlesIn(from, to).length;
    for (let i = this.firstRunEndingAfter(from); i < this.runs.length; i++) {
      const r = this.runs[i] as Run;
      if (r.start >= to) break;
      n += Math.min(r.end, to) - Math.max(r.start, from);
    }
    return n;
  }

  /**
   * Install `n` consecutive PTEs from page `vpn` mapping pfns from `pfn` as one run. Every
   * page of the range must be absent (callers check with firstPresent, as
   * remap_pte_range BUGs on a present PTE).
   */
  setRange(vpn: number, n: number, pfn: number, writable: boolean, special: boolean, huge: HugeLevel | null = null): void {
    if (n <= 0) return;
    if (this.firstPresent(vpn, vpn + n) >= 0) throw new Error(`PageTable.setRange over present PTEs at page 0x${vpn.toString(16)}`);
    this.installRun(vpn, n, pfn, writable, special, huge);
  }

  /**
   * setRange for a range the caller has just checked to be empty (firstPresent < 0).
   * With `huge` the range is one leaf entry of that level (`n` its page count), kept as
   * its own run.
   */
  installRun(vpn: number, n: number, pfn: number, writable: boolean, special: boolean, huge: HugeLevel | null = null): void {
    if (n <= 0) return;
    this.hit = null;
    const end = vpn + n;
    const i = this.firstRunEndingAfter(vpn);
    if (huge !== null) {
      insertAt(this.runs, i, mkRun(vpn, end, pfn, writable, special, huge));
      this.count += n;
      return;
    }
    const prev = this.runs[i - 1];
    const next = this.runs[i];
    const joinsPrev =
      prev !== undefined && prev.huge === null && prev.end === vpn && prev.pfn + (prev.end - prev.start) === pfn && prev.writable === writable && prev.special === special;
    const joinsNext = next !== undefined && next.huge === null && next.start === end && next.pfn === pfn + n && next.writable === writable && next.special === special;
    if (joinsPrev && joinsNext) {
      prev.end = next.end;
      prev.lastPte = null;
      removeRange(this.runs, i, 1);
    } else if (joinsPrev) {
      prev.end = end;
    } else if (joinsNext) {
      next.start = vpn;
      next.pfn = pfn;
      next.lastPte = null;
    } else {
      insertAt(this.runs, i, mkRun(vpn, end, pfn, writable, special));
    }
    this.count += n;
  }

  /**
   * Visit the present PTEs of [from, to) in ascending page order. Runs are reported once
   * each through `onRun` when given (first page, length, first pfn); otherwise page by
   * page through `onPage`.
   */
  forEachInRange(from: number, to: number, onPage: PteVisitor, onRun?: (vpn: number, n: number, r: Pte) => void): void {
    const singles = this.singlesIn(from, to);
    let si = 0;
    for (let i = this.firstRunEndingAfter(from); i < this.runs.length; i++) {
      const r = this.runs[i] as Run;
      if (r.start >= to) break;
      const a = Math.max(r.start, from);
      const b = Math.min(r.end, to);
      while (si < singles.length && (singles[si] as number) < a) {
        const vpn = singles[si++] as number;
        onPage(vpn, this.single.get(vpn) as Pte); // listed by singlesIn, so present
      }
      if (onRun !== undefined) {
        onRun(a, b - a, pteOf(r, a));
      } else {
        for (let vpn = a; vpn < b; vpn++) onPage(vpn, pteOf(r, vpn));
      }
    }
    while (si < singles.length) {
      const vpn = singles[si++] as number;
      onPage(vpn, this.single.get(vpn) as Pte);
    }
  }

  /**
   * Remove every PTE in [from, to). `onNormal` is called (with `arg`) for each removed entry
   * that is not special (a page whose reference the caller drops), in ascending page order.
   * Returns how many PTEs were present. A huge entry that the range only partly covers
   * is removed whole (zap_pmd_range / zap_pud_range split it, which clears a special
   * entry), and all its pages count as removed.
   */
  deleteRange<A = undefined>(from: number, to: number, onNormal: ((vpn: number, pte: Pte, arg: A) => void) | null, arg?: A): number {
    if (to <= from || this.count === 0) return 0;
    let removed = 0;
    let normal: { vpn: number; pte: Pte }[] | null = null;
    for (const vpn of this.singlesIn(from, to)) {
      const pte = this.single.get(vpn) as Pte; // listed by singlesIn, so present
      this.single.delete(vpn);
      removed++;
      if (!pte.special) (normal ??= []).push({ vpn, pte });
    }
    const first = this.firstRunEndingAfter(from);
    let i = first;
    let keep: Run[] | null = null;
    for (; i < this.runs.length; i++) {
      const r = this.runs[i] as Run;
      if (r.start >= to) break;
      const a = r.huge !== null ? r.start : Math.max(r.start, from);
      const b = r.huge !== null ? r.end : Math.min(r.end, to);
      removed += b - a;
      if (!r.special) for (let vpn = a; vpn < b; vpn++) (normal ??= []).push({ vpn, pte: { pfn: r.pfn + (vpn - r.start), writable: r.writable, special: false } });
      if (r.start < a) (keep ??= []).push(mkRun(r.start, a, r.pfn, r.writable, r.special));
      if (b < r.end) (keep ??= []).push(mkRun(b, r.end, r.pfn + (b - r.start), r.writable, r.special));
    }
    if (i > first) {
      if (keep === null) removeRange(this.runs, first, i - first);
      else spliceAll(this.runs, first, i - first, keep);
      this.hit = null;
    }
    this.count -= removed;
    if (onNormal !== null && normal !== null) {
      normal.sort((x, y) => x.vpn - y.vpn);
      for (const e of normal) onNormal(e.vpn, e.pte, arg as A);
    }
    return removed;
  }

  /** The level of the huge leaf entry mapping `vpn` ('pmd' / 'pud'), or null (no entry, or an ordinary PTE). */
  hugeAt(vpn: number): HugeLevel | null {
    const i = this.runIndex(vpn);
    return i < 0 ? null : (this.runs[i] as Run).huge;
  }

  /** Number of huge leaf entries (of `level`, or of any level) overlapping [from, to). */
  countHuge(from: number, to: number, level?: HugeLevel): number {
    let n = 0;
    for (let i = this.firstRunEndingAfter(from); i < this.runs.length; i++) {
      const r = this.runs[i] as Run;
      if (r.start >= to) break;
      if (r.huge !== null && (level === undefined || r.huge === level)) n++;
    }
    return n;
  }

  /**
   * Clear a huge entry that straddles page `vpn` (starts below it and ends above it), as
   * vma_adjust_trans_huge does at a vma split boundary. Returns the pages removed.
   */
  splitHugeAt(vpn: number): number {
    const i = this.runIndex(vpn);
    if (i < 0) return 0;
    const r = this.runs[i] as Run;
    if (r.huge === null || r.start === vpn) return 0;
    this.runs.splice(i, 1);
    this.hit = null;
    this.count -= r.end - r.start;
    return r.end - r.start;
  }
}
