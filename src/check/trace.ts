/**
 * One execution's trace: the recorded steps with their footprints, happens-before as
 * vector clocks, and a canonical hash of the trace's partial order (its Mazurkiewicz class).
 * And the dependence relation between steps that DPOR and the sleep sets use.
 */
import type { Touch, TraceStep } from './program.js';

export function conflict(a: Touch, b: Touch): boolean {
  return a.obj === b.obj && (a.access === 'w' || b.access === 'w') && overlap(a, b);
}

/** Two touches of one object reach a common part of it (a touch without a range covers it all). */
export function overlap(a: Touch, b: Touch): boolean {
  return a.lo === undefined || a.hi === undefined || b.lo === undefined || b.hi === undefined || (a.lo < b.hi && b.lo < a.hi);
}

/** Two recorded steps are dependent: some object both touch, one of them writing it. */
export function dependent(a: TraceStep, b: TraceStep): boolean {
  for (const x of a.touches) for (const y of b.touches) if (conflict(x, y)) return true;
  return false;
}

/**
 * Ops whose step may reach a device the point does not name: a CPU access through a PTE
 * (user load/store, copy_to_user), a device DMA. A sleeping thread about to take one is
 * woken by any step that touched a device.
 */
const MAY_TOUCH_HW = new Set(['pte', 'dma']);

/**
 * A sleeper's step (as recorded from an ancestor state) may depend on a step taken since:
 * they touch a common object, one writing it — or, conservatively, the sleeper is a CPU
 * access through a PTE or a DMA and the other step touched a device.
 */
export function mayDepend(p: TraceStep, s: TraceStep): boolean {
  if (dependent(p, s)) return true;
  if (!MAY_TOUCH_HW.has(p.op)) return false;
  for (const x of s.touches) if (x.obj.startsWith('hw:')) return true;
  return false;
}

const CH_BAR = 0x7c; // |
const CH_COMMA = 0x2c;
const CH_AT = 0x40;
const CH_DASH = 0x2d;
const CH_COLON = 0x3a;
const CH_SEMI = 0x3b;
const CH_W = 0x77;
const CH_R = 0x72;

/** One execution's trace with happens-before, built step by step. */
export class Trace {
  readonly steps: TraceStep[] = [];
  /** Per step: its thread's index and its position among that thread's steps. */
  readonly tix: number[] = [];
  readonly pos: number[] = [];
  /** Per step: vector clock (per thread index: how many of its steps happen before or are this step). */
  readonly clocks: Int32Array[] = [];
  /** Per step: the steps it directly depends on (program order, enabler, object). */
  readonly preds: number[][] = [];
  /** Per step: the step that enabled its thread's current run (woke or started it), or -1. */
  readonly enabler: number[] = [];
  readonly threadIx = new Map<string, number>();
  readonly names: string[] = [];
  private readonly lastOfThread: number[] = [];
  private readonly countOfThread: number[] = [];
  private readonly lastWrite = new Map<string, number>();
  private readonly readsSince = new Map<string, number[]>();
  /** Objects touched by range: every touch so far (step, touch), since overlaps are not equality. */
  private readonly ranged = new Map<string, { j: number; x: Touch }[]>();
  /** Thread name → the step that last made it runnable. */
  readonly enabledBy = new Map<string, number>();
  width = 8;

  private ix(name: string): number {
    let i = this.threadIx.get(name);
    if (i === undefined) {
      i = this.names.length;
      this.threadIx.set(name, i);
      this.names.push(name);
      this.lastOfThread.push(-1);
      this.countOfThread.push(0);
      if (i >= this.width) this.width *= 2;
    }
    return i;
  }

  add(s: TraceStep): number {
    const j = this.steps.length;
    const ti = this.ix(s.thread);
    const clock = new Int32Array(this.width);
    const preds: number[] = [];
    const join = (i: number): void => {
      if (i < 0) return;
      preds.push(i);
      const c = this.clocks[i] as Int32Array;
      for (let x = 0; x < c.length; x++) if ((c[x] as number) > (clock[x] as number)) clock[x] = c[x] as number;
    };
    join(this.lastOfThread[ti] as number);
    const en = this.enabledBy.get(s.thread) ?? -1;
    // the enabler matters only if it came after this thread's previous step
    const enabler = en > (this.lastOfThread[ti] as number) ? en : -1;
    join(enabler);
    for (const x of s.touches) {
      if (x.lo !== undefined) continue;
      const lw = this.lastWrite.get(x.obj);
      if (lw !== undefined) join(lw);
      if (x.access === 'w') {
        for (const r of this.readsSince.get(x.obj) ?? []) join(r);
      }
    }
    for (const x of s.touches) {
      if (x.lo === undefined) continue;
      // an object touched by range is never touched whole (the points of a page table all carry ranges)
      let hist = this.ranged.get(x.obj);
      if (hist === undefined) this.ranged.set(x.obj, (hist = []));
      for (const h of hist) if (conflict(h.x, x)) join(h.j);
    }
    for (const x of s.touches) {
      if (x.lo !== undefined) {
        (this.ranged.get(x.obj) as { j: number; x: Touch }[]).push({ j, x });
        continue;
      }
      if (x.access === 'w') {
        this.lastWrite.set(x.obj, j);
        this.readsSince.set(x.obj, []);
      } else {
        let rs = this.readsSince.get(x.obj);
        if (rs === undefined) this.readsSince.set(x.obj, (rs = []));
        rs.push(j);
      }
    }
    const p = this.countOfThread[ti] as number;
    clock[ti] = p + 1;
    this.countOfThread[ti] = p + 1;
    this.lastOfThread[ti] = j;
    this.steps.push(s);
    this.tix.push(ti);
    this.pos.push(p);
    this.clocks.push(clock);
    this.preds.push(preds);
    this.enabler.push(enabler);
    return j;
  }

  /** Step i happens before step j (i < j). */
  hb(i: number, j: number): boolean {
    const c = this.clocks[j] as Int32Array;
    return (c[this.tix[i] as number] ?? 0) > (this.pos[i] as number);
  }

  /**
   * A canonical hash of the trace's partial order (its Mazurkiewicz class): the
   * linearization that always takes, among the steps whose predecessors are all taken,
   * the one of the lowest thread name.
   */
  canonicalHash(): string {
    const n = this.steps.length;
    const indeg = new Int32Array(n);
    const succ: number[][] = Array.from({ length: n }, () => []);
    // seen[i] === j + 1: step i is already a counted predecessor of step j (preds may repeat)
    const seen = new Int32Array(n);
    for (let j = 0; j < n; j++) {
      for (const i of this.preds[j] as number[]) {
        if (seen[i] === j + 1) continue;
        seen[i] = j + 1;
        indeg[j] = (indeg[j] as number) + 1;
        (succ[i] as number[]).push(j);
      }
    }
    const ready: number[] = [];
    for (let j = 0; j < n; j++) if (indeg[j] === 0) ready.push(j);
    let h1 = 0x811c9dc5;
    let h2 = 0x01000193;
    const char = (c: number): void => {
      h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
      h2 = Math.imul(h2 ^ c, 0x5bd1e995) >>> 0;
    };
    const mix = (s: string): void => {
      for (let k = 0; k < s.length; k++) char(s.charCodeAt(k));
    };
    while (ready.length > 0) {
      let best = 0;
      for (let k = 1; k < ready.length; k++) {
        const a = this.steps[ready[k] as number] as TraceStep;
        const b = this.steps[ready[best] as number] as TraceStep;
        if (a.thread < b.thread) best = k;
      }
      const j = ready[best] as number;
      ready.splice(best, 1);
      const s = this.steps[j] as TraceStep;
      // the text `thread|op|obj:a,obj@lo-hi:a,...;` of the step, mixed in without building it
      mix(s.thread);
      char(CH_BAR);
      mix(s.op);
      char(CH_BAR);
      const ts = s.touches;
      for (let k = 0; k < ts.length; k++) {
        const x = ts[k] as Touch;
        if (k > 0) char(CH_COMMA);
        mix(x.obj);
        if (x.lo !== undefined) {
          char(CH_AT);
          mix(String(x.lo));
          char(CH_DASH);
          if (x.hi !== undefined) mix(String(x.hi));
        }
        char(CH_COLON);
        char(x.access === 'w' ? CH_W : CH_R);
      }
      char(CH_SEMI);
      for (const x of succ[j] as number[]) {
        indeg[x] = (indeg[x] as number) - 1;
        if (indeg[x] === 0) ready.push(x);
      }
    }
    return `${h1.toString(16).padStart(8, '0')}${h2.toString(16).padStart(8, '0')}`;
  }
}

