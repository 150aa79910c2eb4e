/**
 * The interleaving search: one engine behind every strategy.
 *
 * An execution is a run of the program from scratch (stateless search: the model has no
 * snapshots, so every interleaving is re-executed) in which the engine makes each
 * scheduling decision. The engine keeps the current execution's path as a stack of
 * nodes, one per scheduler step: which threads were runnable, what each was about to
 * do (its pending scheduling point: op, object, read/write), which one ran, and the
 * bookkeeping of the strategy (backtrack, done and sleep sets). After an execution it
 * picks the deepest node with an unexplored alternative and replays the path up to it.
 *
 * Strategies:
 * - `dpor`: source-set dynamic partial-order reduction with sleep sets (Abdulla,
 *   Aronis, Jonsson, Sagonas, "Optimal dynamic partial order reduction", POPL 2014,
 *   Algorithm 1). Two steps are dependent iff they touch the same object and one of
 *   them writes. Happens-before is program order, dependence, and "enabled by" (the
 *   step that woke a sleeping thread or started a new one). After every execution, each
 *   race (e ⋖ j: dependent, different threads, no step ordered between them) adds an
 *   initial of notdep(e).j to the backtrack set before e unless one is there already.
 *   Under a preemption bound two things change. A reversal also gets a backtrack point
 *   where the run of steps before e began, where switching is free (bounded POR, Coons,
 *   Musuvathi, McKinley, OOPSLA 2013). And a thread is put to sleep only when its
 *   subtree was explored without the bound cutting anything: the sleep set's promise
 *   ("every trace starting with this step was covered") fails when the covering subtree
 *   had to drop a trace that costs one preemption more there than here. Without this rule
 *   a 3-thread scenario lost one of its ten outcomes at 2 preemptions. And a race counts as
 *   covered only by an initial the bound lets run at that point (else the reversal is
 *   scheduled with one it does): without this, the same scenario lost one trace class.
 * - `naive`: every runnable thread at every step (no reduction); the reference the
 *   reduction is tested against.
 * - `bfs`: iterative preemption bounding: all executions with at most 0, 1, 2, ...
 *   preemptions (a switch away from a thread that could go on), so the first
 *   counterexample has the fewest preemptions.
 * - `random`: uniformly random choices, one seeded PRNG per execution.
 * - `pct`: probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010): random
 *   thread priorities and d-1 random priority-change points; the highest-priority
 *   runnable thread runs.
 *   Both sample within a preemption bound when one is given (default: none): once an
 *   execution has spent it, the thread that ran last goes on while it is runnable.
 *
 * Everything here is deterministic: the same program, strategy, seed and budgets give
 * the same executions in the same order. (A time budget can only cut a search short.)
 */
import type { Access } from '../kernel/sched/task.js';
import type { KThread } from '../kernel/sched/thread.js';
import type { SchedObserver } from '../kernel/sched/scheduler.js';
import { mulberry32 } from './prng.js';
import { BUILTIN_PROPERTIES } from './property.js';
import { type ProbeInfo, UnitDriver, type UnitResult, type UnitSplit, type WorkUnit } from './units.js';

/**
 * The preemption bound of the exhaustive strategies unless one is given. Unbounded search
 * does not end on scenarios where a retry loop can be starved forever by an unfair
 * scheduler (a fault refaulting behind a zapper); real bugs need few preemptions
 * (Musuvathi and Qadeer, PLDI 2007), and every result states the bound it holds within.
 */
export const DEFAULT_PREEMPTION_BOUND = 3;

export type Strategy = 'dpor' | 'naive' | 'bfs' | 'random' | 'pct';
export const STRATEGIES: readonly Strategy[] = ['dpor', 'bfs', 'random', 'pct', 'naive'];

/**
 * Thrown out of a run to stop it early: sleep-set blocked, past a bound, or `stopped`
 * (the search's budget ran out or Ctrl-C came in the middle of the execution, which is
 * then dropped: see ExecControl.poll).
 */
export class ExecutionAborted extends Error {
  constructor(readonly why: 'sleep-blocked' | 'bound' | 'stopped') {
    super(why);
    this.name = 'ExecutionAborted';
  }
}

/** The program diverged on replay: the same choices led elsewhere. A model bug. */
export class Nondeterminism extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Nondeterminism';
  }
}

/**
 * One object a step touched, and how. A page table is touched by address range
 * (`lo`..`hi`, end excluded): two touches of it conflict only if their ranges overlap.
 * Without a range a touch covers the whole object.
 */
export interface Touch {
  readonly obj: string;
  readonly access: Access;
  readonly lo?: number;
  readonly hi?: number;
}

/**
 * One recorded scheduler step: its thread, its scheduling point, and its footprint —
 * the point's object plus whatever the program reported the step touched on the way
 * (`ExecControl.touch`: a CPU access through a PTE reaching a device, a DMA reaching a
 * peer's BAR).
 */
export interface TraceStep {
  readonly thread: string;
  readonly op: string;
  readonly touches: Touch[];
}

/** What the engine hands the program for one execution. */
export interface ExecControl {
  /** Index of the thread to run among `runnable` (called only when there is a choice). */
  pick(runnable: readonly KThread[]): number;
  /** Watches every step (set it as the scheduler's observer). */
  readonly observer: SchedObserver;
  /** Must be called once the program knows its threads' names (before the first step). */
  setNameOf(nameOf: (t: KThread) => string): void;
  /**
   * The step being taken touched `obj` (beyond its scheduling point's object); `lo`/`hi`:
   * the address range, for an object touched by range (a page table: always give one).
   */
  touch(obj: string, access: Access, lo?: number, hi?: number): void;
  /**
   * Call at every scheduler step the search does not watch (a setup it does not see):
   * throws ExecutionAborted('stopped') once the search must stop (its time budget spent,
   * Ctrl-C), so that a long execution does not outlast the budget. The observer's
   * `before` does the same for the steps it watches.
   */
  poll?(): void;
}

/** What one execution of the program produced. */
export interface ExecReport {
  /** Broken properties (property id → first message). */
  readonly violations: ReadonlyMap<string, string>;
  /** A canonical text of the final outcome (results, end, violations), for comparing searches. */
  readonly outcome: string;
  /** The run's choices (indexes into the runnable threads at each choice) and its replay token. */
  readonly choices: readonly number[];
  readonly token: string;
}

/** The program under test: runs once per call, driven by `ctl`. May throw ExecutionAborted. */
export type Program = (ctl: ExecControl) => ExecReport;

export interface SearchOptions {
  readonly strategy?: Strategy;
  /** Stop after this many executions (default 100 000). */
  readonly maxExecutions?: number;
  /** Stop after this many milliseconds of wall time (default: no limit). */
  readonly maxTimeMs?: number;
  /** The preemption bound (default DEFAULT_PREEMPTION_BOUND; Infinity: none). bfs tries 0, 1, ... up to it. */
  readonly maxPreemptions?: number;
  /** random/pct: the seed of the first execution (default 1). */
  readonly seed?: number;
  /** pct: the number of priority-change points plus one (default 3). */
  readonly depth?: number;
  /** Stop at the first violation of any property (default false: search on, one counterexample per property). */
  readonly stopAtFirst?: boolean;
  /** Only these properties count as violations (default: all). */
  readonly properties?: readonly string[];
  /** Called about every `progressEveryMs` of wall time with the statistics so far. */
  readonly onProgress?: (s: SearchStats) => void;
  readonly progressEveryMs?: number;
  /** Polled between executions: true stops the search (Ctrl-C). */
  readonly interrupted?: () => boolean;
  /** Wall clock for budgets and progress (default performance.now). Never used by the model. */
  readonly now?: () => number;
  /**
   * Run one work unit of the search (src/check/units.ts) instead of the whole search.
   * Without it, a Search plans the units, runs them in order and merges their results
   * (the same thing the worker threads compute).
   */
  readonly unit?: WorkUnit;
  /** With `unit`: ms of the whole search already past when this unit's search started (counterexample times count from the whole search's start). */
  readonly startOffsetMs?: number;
}

export interface SearchStats {
  readonly executions: number;
  /** Executions stopped early because every runnable thread was asleep (redundant). */
  readonly sleepBlocked: number;
  /** Executions cut because they passed the preemption bound. */
  readonly pruned: number;
  /** Distinct Mazurkiewicz traces among the complete executions. */
  readonly distinctTraces: number;
  readonly distinctOutcomes: number;
  /** Longest execution, in scheduler steps. */
  readonly maxDepth: number;
  readonly elapsedMs: number;
  /** The bound being searched (bfs). */
  readonly bound: number | null;
}

/** The simplest failing execution found for one property. */
export interface Counterexample {
  readonly property: string;
  readonly message: string;
  readonly choices: readonly number[];
  readonly token: string;
  readonly preemptions: number;
  readonly steps: number;
  /** The 1-based execution that found it (this, the simplest kept). */
  readonly execution: number;
  /**
   * The first execution that broke the property (1-based; the simplest counterexample kept
   * may come from a later one). When, in wall time: SearchResult.firstFoundMs.
   */
  readonly firstExecution: number;
}

export interface SearchResult {
  readonly strategy: Strategy;
  /** The search covered everything within its bounds (exhaustive strategies only). */
  readonly complete: boolean;
  readonly stoppedBy: 'exhausted' | 'max-executions' | 'max-time' | 'interrupted' | 'first-violation' | 'samples';
  readonly stats: SearchStats;
  /** One counterexample per violated property, in BUILTIN order then by name. */
  readonly counterexamples: readonly Counterexample[];
  /** The distinct outcomes reached (canonical texts), sorted. */
  readonly outcomes: readonly string[];
  /** The preemption bound the exhaustive strategies respected (null: unbounded). */
  readonly preemptionBound: number | null;
  /** Per broken property: ms from the search's start to its first counterexample (Counterexample.firstExecution); wall time, so it differs between runs. */
  readonly firstFoundMs: Readonly<Record<string, number>>;
}

interface Node {
  /** Runnable thread names at this state, in spawn order. */
  readonly runnable: readonly string[];
  chosen: string;
  readonly backtrack: Set<string>;
  readonly done: Set<string>;
  /**
   * Sleeping threads and the step each would take: the step as it was recorded when that
   * thread ran from an ancestor state (with every object it touched, not just its
   * scheduling point), since the steps taken since are independent of it and so leave it
   * unchanged.
   */
  readonly sleep: ReadonlyMap<string, TraceStep>;
  /** The step each explored thread took from this state (recorded when it ran). */
  readonly taken: Map<string, TraceStep>;
  /**
   * Threads whose subtree from this state lost something to the preemption bound (an
   * execution cut, or an alternative skipped). Such a subtree does not cover every trace
   * that starts with the thread's step, so the thread must not be put to sleep for the
   * states after it: a trace the subtree could reach only past the bound may be within
   * it when the step comes later (sleep sets are sound with a bound only this way).
   */
  readonly boundCut: Set<string>;
  /** The thread that took the previous step (null at the start) and preemptions before this step. */
  readonly prev: string | null;
  readonly preemptionsBefore: number;
}

function conflict(a: Touch, b: Touch): boolean {
  return a.obj === b.obj && (a.access === 'w' || b.access === 'w') && overlap(a, b);
}

/** Two touches of one object reach a common part of it (a touch without a range covers it all). */
function overlap(a: Touch, b: Touch): boolean {
  return a.lo === undefined || a.hi === undefined || b.lo === undefined || b.hi === undefined || (a.lo < b.hi && b.lo < a.hi);
}

/** Two recorded steps are dependent: some object both touch, one of them writing it. */
function dependent(a: TraceStep, b: TraceStep): boolean {
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
function mayDepend(p: TraceStep, s: TraceStep): boolean {
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
class Trace {
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

/** The search engine. Use `runSearch`, or `new Search(...)` and `step()` for a search in slices. */
export class Search {
  readonly strategy: Strategy;
  private nodes: Node[] = [];
  /** The node index where the current execution leaves the replayed path. */
  private divergence = 0;
  private started = false;
  private finished = false;
  private bound: number;
  private readonly maxBound: number;
  private readonly opts: SearchOptions;
  private readonly now: () => number;
  private readonly t0: number;
  private lastProgress: number;
  private executions = 0;
  private sleepBlocked = 0;
  private pruned = 0;
  private maxDepth = 0;
  private readonly traces = new Set<string>();
  private readonly outcomes = new Set<string>();
  private readonly found = new Map<string, Counterexample>();
  /** Per property: ms since the whole search started when it was first broken. */
  private readonly firstMs = new Map<string, number>();
  private stoppedBy: SearchResult['stoppedBy'] | null = null;
  private pctLength = 0;
  /** Without `opts.unit`: the driver that plans, runs and merges the units (this Search then runs none itself). */
  private readonly driver: UnitDriver | null;
  /** With `opts.unit`: the unit this Search runs. */
  private readonly unit: WorkUnit | null;
  /** Split nodes of the unit's prefix met so far, and the index of the first node below the prefix. */
  private splitsTaken = 0;
  private frozen = 0;
  /** The execution budget (a unit's may be raised: `extend`). */
  private budget: number;
  /** Scheduler steps since the search last polled `interrupted` inside an execution. */
  private polls = 0;

  constructor(
    private readonly program: Program,
    opts: SearchOptions = {},
  ) {
    this.opts = opts;
    this.strategy = opts.strategy ?? 'dpor';
    this.unit = opts.unit ?? null;
    this.driver = this.unit === null ? new UnitDriver(this.strategy, opts, (o) => new Search(program, o)) : null;
    const exhaustive = this.strategy !== 'random' && this.strategy !== 'pct';
    this.maxBound = this.unit !== null && exhaustive ? this.unit.bound : (opts.maxPreemptions ?? (exhaustive ? DEFAULT_PREEMPTION_BOUND : Infinity));
    this.bound = this.strategy === 'bfs' && this.unit === null ? 0 : this.maxBound;
    if (this.unit !== null) this.pctLength = this.unit.pctLength;
    this.budget = opts.maxExecutions ?? 100_000;
    this.now = opts.now ?? (() => performance.now());
    this.t0 = this.now();
    this.lastProgress = this.t0;
  }

  get done(): boolean {
    if (this.driver !== null) return this.driver.done;
    return this.stoppedBy !== null;
  }

  stats(): SearchStats {
    if (this.driver !== null) return this.driver.stats();
    return {
      executions: this.executions,
      sleepBlocked: this.sleepBlocked,
      pruned: this.pruned,
      distinctTraces: this.traces.size,
      distinctOutcomes: this.outcomes.size,
      maxDepth: this.maxDepth,
      elapsedMs: this.now() - this.t0,
      bound: this.strategy === 'bfs' ? this.bound : null,
    };
  }

  /** Run executions until the search ends or `sliceMs` of wall time has passed; true when the search is over. */
  step(sliceMs = Infinity): boolean {
    if (this.driver !== null) return this.driver.step(sliceMs);
    const until = this.now() + sliceMs;
    while (this.stoppedBy === null) {
      if (this.opts.interrupted?.() === true) {
        this.stoppedBy = 'interrupted';
        break;
      }
      if (this.executions >= this.budget) {
        this.stoppedBy = this.strategy === 'random' || this.strategy === 'pct' ? 'samples' : 'max-executions';
        break;
      }
      if (this.opts.maxTimeMs !== undefined && this.now() - this.t0 >= this.opts.maxTimeMs) {
        this.stoppedBy = 'max-time';
        break;
      }
      if (!this.nextExecution()) break;
      const t = this.now();
      if (this.opts.onProgress !== undefined && t - this.lastProgress >= (this.opts.progressEveryMs ?? 1000)) {
        this.lastProgress = t;
        this.opts.onProgress(this.stats());
      }
      if (t >= until) break;
    }
    return this.stoppedBy !== null;
  }

  result(): SearchResult {
    if (this.driver !== null) return this.driver.result();
    const rank = (p: string): number => {
      const i = (BUILTIN_PROPERTIES as readonly string[]).indexOf(p);
      return i < 0 ? BUILTIN_PROPERTIES.length : i;
    };
    const exhaustive = this.strategy === 'dpor' || this.strategy === 'naive' || this.strategy === 'bfs';
    const stoppedBy = this.stoppedBy ?? 'interrupted';
    return {
      strategy: this.strategy,
      complete: exhaustive && stoppedBy === 'exhausted',
      stoppedBy,
      stats: this.stats(),
      counterexamples: [...this.found.values()].sort((a, b) => rank(a.property) - rank(b.property) || (a.property < b.property ? -1 : a.property > b.property ? 1 : 0)),
      outcomes: [...this.outcomes].sort(),
      preemptionBound: exhaustive && this.maxBound !== Infinity ? (this.strategy === 'bfs' ? this.bound : this.maxBound) : null,
      firstFoundMs: Object.fromEntries(this.firstMs),
    };
  }

  /** With `opts.unit`: raise the execution budget to `maxExecutions`; a search the budget stopped goes on where it was. */
  extend(maxExecutions: number): void {
    this.budget = Math.max(this.budget, maxExecutions);
    if (this.stoppedBy === 'max-executions') this.stoppedBy = null;
  }

  /** With `opts.unit`: what the unit's search found, as plain data (execution numbers are the unit's own). */
  unitResult(): UnitResult {
    return {
      index: this.unit?.index ?? 0,
      stoppedBy: this.stoppedBy ?? 'interrupted',
      executions: this.executions,
      sleepBlocked: this.sleepBlocked,
      pruned: this.pruned,
      maxDepth: this.maxDepth,
      traces: [...this.traces],
      outcomes: [...this.outcomes],
      counterexamples: [...this.found.values()],
      firstFoundMs: Object.fromEntries(this.firstMs),
    };
  }

  /**
   * With `opts.unit`, after one execution (a probe): the step the unit's last forced choice
   * took, and the first choice node below the unit's prefix with its candidates.
   */
  probe(): ProbeInfo {
    const bound = this.unit?.splitBound ?? this.maxBound;
    const lastSplit = this.frozen > 0 ? this.nodes[this.frozen - 1] : undefined;
    const ownStep = lastSplit !== undefined && (this.unit?.splits.length ?? 0) > 0 ? (lastSplit.taken.get(lastSplit.chosen) ?? null) : null;
    for (let k = this.frozen; k < this.nodes.length; k++) {
      const n = this.nodes[k] as Node;
      const cands = this.candidates(n, bound);
      if (cands.length > 1) {
        const first = cands[0] as string;
        return { ownStep, next: { candidates: cands.map((t) => ({ thread: t, preemptions: this.preemptionsOf(n, t) })), firstStep: n.taken.get(first) ?? null }, length: this.maxDepth };
      }
    }
    return { ownStep, next: null, length: this.maxDepth };
  }

  /**
   * The threads a unit may be forced to at a node: awake, within `bound`; the default choice
   * (`n.chosen` when the node was made) first, then the others in spawn order.
   */
  private candidates(n: Node, bound: number): string[] {
    const ok = (t: string): boolean => !n.sleep.has(t) && this.preemptionsOf(n, t) <= bound;
    return [...(ok(n.chosen) ? [n.chosen] : []), ...n.runnable.filter((t) => t !== n.chosen && ok(t))];
  }

  // ---- one execution ---------------------------------------------------------------------

  /** Run the next execution; false (with stoppedBy set) when there is none. */
  private nextExecution(): boolean {
    if (this.strategy === 'random' || this.strategy === 'pct') {
      // a unit's executions are numbered from its first (execution n uses seed + n - 1)
      this.execute(this.samplerFor((this.unit?.first ?? 1) - 1 + this.executions));
      if (this.stoppedBy !== null) return false;
      if (this.finished) {
        this.stoppedBy = 'first-violation';
        return false;
      }
      return true;
    }
    if (this.started && !this.backtrackToNext()) {
      if (this.strategy === 'bfs' && this.bound < this.maxBound) {
        this.bound++;
        this.nodes = [];
        this.divergence = 0;
      } else {
        this.stoppedBy = this.finished ? 'first-violation' : 'exhausted';
        return false;
      }
    }
    this.started = true;
    this.execute(null);
    if (this.stoppedBy !== null) return false; // the budget stopped it in the middle
    if (this.unit !== null && this.splitsTaken < this.unit.splits.length) throw new Nondeterminism(`unit ${this.unit.index}: the execution ended before the unit's split node ${this.splitsTaken + 1}`);
    if (this.finished) {
      this.stoppedBy = 'first-violation';
      return false;
    }
    return true;
  }

  /** A sampling chooser (random / pct) for execution number `n`. */
  private samplerFor(n: number): (names: readonly string[], prev: string | null, step: number) => string {
    const seed = ((this.opts.seed ?? 1) + n) >>> 0;
    const rand = mulberry32(seed === 0 ? 0x9e3779b9 : seed);
    if (this.strategy === 'random') return (names) => names[Math.floor(rand() * names.length) % names.length] as string;
    // pct: priorities d, d+1, ... for threads in order of first appearance (shuffled), change points in [1, k]
    const d = Math.max(1, this.opts.depth ?? 3);
    const k = Math.max(1, this.pctLength);
    const change: number[] = [];
    for (let i = 0; i < d - 1; i++) change.push(1 + Math.floor(rand() * k));
    // a thread's priority is drawn when it first shows up: above every change point's
    const prio = new Map<string, number>();
    return (names, prev, step) => {
      for (const t of names) if (!prio.has(t)) prio.set(t, d + rand());
      const ci = change.indexOf(step);
      if (ci >= 0 && prev !== null) prio.set(prev, ci + 1);
      let best = names[0] as string;
      for (const t of names) if ((prio.get(t) ?? 0) > (prio.get(best) ?? 0)) best = t;
      return best;
    };
  }

  /** Pop finished nodes; set up the next alternative. False when the tree is exhausted. */
  private backtrackToNext(): boolean {
    // a unit never takes an alternative inside its prefix: those are its sibling units
    for (let k = this.nodes.length - 1; k >= this.frozen; k--) {
      const n = this.nodes[k] as Node;
      n.done.add(n.chosen);
      for (const t of n.runnable) {
        if (!n.backtrack.has(t) || n.done.has(t) || n.sleep.has(t)) continue;
        if (this.preemptionsOf(n, t) > this.bound) {
          this.markBoundCut(k - 1);
          continue;
        }
        n.chosen = t;
        this.nodes.length = k + 1;
        this.divergence = k;
        return true;
      }
    }
    this.nodes = [];
    return false;
  }

  /** The preemption bound cut the subtree below nodes[0..k] (their current choices). */
  private markBoundCut(k: number): void {
    for (let i = Math.min(k, this.nodes.length - 1); i >= 0; i--) {
      const n = this.nodes[i] as Node;
      if (n.boundCut.has(n.chosen)) break; // marked already, and so is every node above it
      n.boundCut.add(n.chosen);
    }
  }

  private preemptionsOf(n: Node, t: string): number {
    return n.preemptionsBefore + (isPreemption(n.prev, n.runnable, t) ? 1 : 0);
  }

  /**
   * Inside an execution, every 256 scheduler steps: stop it (ExecutionAborted 'stopped')
   * when `interrupted` says so. A search in units is always driven with an `interrupted`
   * that includes the time budget (units.ts, parallel.ts), so no execution outlasts it by
   * more than 256 steps.
   */
  private poll(): void {
    if ((++this.polls & 255) !== 0) return;
    if (this.opts.interrupted?.() === true) throw new ExecutionAborted('stopped');
  }

  /** Run the program once. `sample`: the random/pct chooser (no tree). */
  private execute(sample: ((names: readonly string[], prev: string | null, step: number) => string) | null): void {
    const trace = new Trace();
    let nameOf: (t: KThread) => string = (t) => t.name;
    let k = 0;
    let prev: string | null = null;
    let preemptions = 0;
    let pending: Node | null = null;
    let runnableBefore: string[] = [];
    let current: TraceStep | null = null;
    let aborted: ExecutionAborted | null = null;
    const naive = this.strategy === 'naive' || this.strategy === 'bfs';

    /** The node for step k (existing on the replayed path, else new with the strategy's choice). */
    const nodeFor = (rs: readonly KThread[]): Node => {
      const names = rs.map(nameOf);
      if (sample === null && k < this.nodes.length) {
        const n = this.nodes[k] as Node;
        if (n.runnable.length !== names.length || n.runnable.some((x, i) => x !== names[i])) {
          throw new Nondeterminism(`replay diverged at step ${k + 1}: runnable ${names.join(',')}, recorded ${n.runnable.join(',')}`);
        }
        return n;
      }
      // sleep set inherited from the parent: its sleepers and done threads independent of its step
      const sleep = new Map<string, TraceStep>();
      const parent = k > 0 && sample === null ? this.nodes[k - 1] : undefined;
      const last = trace.steps[k - 1];
      if (parent !== undefined && last !== undefined && this.strategy === 'dpor') {
        for (const [t, p] of parent.sleep) if (t !== parent.chosen && !mayDepend(p, last)) sleep.set(t, p);
        for (const t of parent.done) {
          if (t === parent.chosen) continue;
          const p = parent.taken.get(t);
          if (p === undefined) throw new Error(`internal: no recorded step for explored thread ${t}`);
          if (!parent.boundCut.has(t) && !mayDepend(p, last)) sleep.set(t, p);
        }
      }
      let chosen: string | undefined;
      if (sample !== null) {
        // a sample stays within the preemption bound: once the bound is spent, the thread
        // that ran last goes on while it can (a choice elsewhere would be cut at once)
        const allowed = preemptions >= this.bound && prev !== null && names.includes(prev) ? [prev] : names;
        chosen = names.length === 1 ? names[0] : sample(allowed, prev, k);
      } else {
        const awake = names.filter((t) => !sleep.has(t));
        if (awake.length === 0) throw new ExecutionAborted('sleep-blocked');
        chosen = prev !== null && awake.includes(prev) ? prev : awake[0];
      }
      if (chosen === undefined) throw new Error('no runnable thread to choose');
      const n: Node = {
        runnable: names,
        chosen,
        backtrack: new Set(naive ? names.filter((t) => !isPreemption(prev, names, t) || preemptions < this.bound) : [chosen]),
        done: new Set(),
        sleep,
        taken: new Map(),
        boundCut: new Set(),
        prev,
        preemptionsBefore: preemptions,
      };
      // a split node of this unit's prefix: the unit's forced choice (the earlier siblings, dpor unbounded: asleep below)
      const unit = this.unit;
      if (sample === null && unit !== null && this.splitsTaken < unit.splits.length) {
        const cands = this.candidates(n, unit.splitBound);
        if (cands.length > 1) {
          const sp = unit.splits[this.splitsTaken] as UnitSplit;
          if (!cands.includes(sp.thread)) throw new Nondeterminism(`unit ${unit.index}: ${sp.thread} cannot be chosen at step ${k + 1} (candidates ${cands.join(',')})`);
          n.chosen = sp.thread;
          for (const st of sp.asleep) {
            n.done.add(st.thread);
            n.taken.set(st.thread, st);
          }
          this.splitsTaken++;
          if (this.splitsTaken === unit.splits.length) this.frozen = k + 1;
        }
      }
      if (sample === null) {
        this.nodes.push(n);
        if (naive && n.backtrack.size < names.length) this.markBoundCut(k - 1);
      }
      return n;
    };

    const ctl: ExecControl = {
      poll: () => this.poll(),
      setNameOf(f) {
        nameOf = f;
      },
      touch(obj, access, lo, hi) {
        if (current === null) return;
        if (lo !== undefined && hi !== undefined) current.touches.push({ obj, access, lo, hi });
        else if (!current.touches.some((x) => x.obj === obj && (x.access === access || x.access === 'w'))) current.touches.push({ obj, access });
      },
      pick: (runnable) => {
        const n = nodeFor(runnable);
        pending = n;
        const i = n.runnable.indexOf(n.chosen);
        return i < 0 ? 0 : i;
      },
      observer: {
        before: (rs, t) => {
          this.poll();
          const n = pending ?? nodeFor(rs);
          pending = null;
          const name = nameOf(t);
          if (name !== n.chosen) throw new Nondeterminism(`step ${k + 1}: ran ${name}, expected ${n.chosen}`);
          preemptions = this.preemptionsOf(n, name);
          if (preemptions > this.bound) {
            if (sample === null) this.markBoundCut(k);
            throw new ExecutionAborted('bound');
          }
          runnableBefore = n.runnable as string[];
          const p = t.next ?? { op: 'wake', obj: 'thread', access: 'r' as const };
          current = { thread: name, op: p.op, touches: [p.lo === undefined ? { obj: p.obj, access: p.access } : { obj: p.obj, access: p.access, lo: p.lo, hi: p.hi }] };
        },
        after: (t, threads) => {
          if (current !== null) {
            if (sample === null) this.nodes[k]?.taken.set(current.thread, current);
            trace.add(current);
          }
          current = null;
          prev = nameOf(t);
          // threads made runnable by this step (woken, started by a fork) happen after it
          for (const th of threads) {
            if (th.state !== 'runnable' || th === t) continue;
            const nm = nameOf(th);
            if (!runnableBefore.includes(nm)) trace.enabledBy.set(nm, k);
          }
          k++;
        },
      },
    };
    let report: ExecReport | null = null;
    try {
      report = this.program(ctl);
    } catch (e) {
      if (!(e instanceof ExecutionAborted)) throw e;
      aborted = e;
    }
    if (aborted?.why === 'stopped') {
      // cut short by the budget: not an execution of the search (its driver says which budget)
      this.stoppedBy = 'interrupted';
      return;
    }
    this.executions++;
    if (k > this.maxDepth) this.maxDepth = k;
    if (this.strategy === 'pct' && this.pctLength === 0) this.pctLength = k;
    if (sample === null && this.strategy === 'dpor') this.addRaces(trace);
    if (aborted !== null) {
      if (aborted.why === 'sleep-blocked') this.sleepBlocked++;
      else this.pruned++;
      return;
    }
    if (report === null) return;
    this.traces.add(trace.canonicalHash());
    this.outcomes.add(report.outcome);
    const wanted = this.opts.properties;
    for (const [property, message] of report.violations) {
      if (wanted !== undefined && !wanted.includes(property)) continue;
      const old = this.found.get(property);
      if (old === undefined) this.firstMs.set(property, this.now() - this.t0 + (this.opts.startOffsetMs ?? 0));
      const cx: Counterexample = { property, message, choices: report.choices, token: report.token, preemptions, steps: trace.steps.length, execution: this.executions, firstExecution: old?.firstExecution ?? this.executions };
      if (old === undefined || simpler(cx, old)) this.found.set(property, cx);
      if (this.opts.stopAtFirst === true) this.finished = true;
    }
  }

  /** Source-DPOR: for every race ending at a new step, make sure the reversal is scheduled. */
  private addRaces(tr: Trace): void {
    const n = tr.steps.length;
    for (let j = Math.max(1, this.divergence); j < n; j++) {
      // a long trace takes long: the search's budget covers it (the search then stops here)
      if ((j & 63) === 0 && this.opts.interrupted?.() === true) {
        this.stoppedBy = 'interrupted';
        return;
      }
      const sj = tr.steps[j] as TraceStep;
      for (const i of tr.preds[j] as number[]) {
        const si = tr.steps[i] as TraceStep;
        if (si.thread === sj.thread || !dependent(si, sj)) continue;
        if (tr.enabler[j] === i) continue; // j's thread was woken/started by i: not reversible
        // a race needs no step ordered between i and j
        let direct = true;
        for (const d of tr.preds[j] as number[]) {
          if (d !== i && d > i && tr.hb(i, d)) {
            direct = false;
            break;
          }
        }
        if (!direct) continue;
        const node = this.nodes[i];
        if (node === undefined) continue;
        // v = notdep(i).j: the steps after i not ordered after it, then j; its initials
        const inV: number[] = [];
        for (let x = i + 1; x < j; x++) if (!tr.hb(i, x)) inV.push(x);
        inV.push(j);
        const initials: string[] = [];
        const firstPos = new Map<number, number>();
        for (const x of inV) {
          const tx = tr.tix[x] as number;
          let hasPred = false;
          const c = tr.clocks[x] as Int32Array;
          for (const [ti, p] of firstPos) {
            if ((c[ti] ?? 0) > p && !(ti === tx && p === tr.pos[x])) {
              hasPred = true;
              break;
            }
          }
          if (!firstPos.has(tx)) firstPos.set(tx, tr.pos[x] as number);
          const name = tr.steps[x]?.thread as string;
          if (!hasPred && !initials.includes(name)) initials.push(name);
        }
        // under a bound, an initial whose switch the bound forbids here covers nothing: only
        // an affordable one already scheduled makes the race covered, and one is preferred
        const affordable = (t: string): boolean => node.runnable.includes(t) && this.preemptionsOf(node, t) <= this.bound;
        if (initials.some((t) => node.backtrack.has(t) && affordable(t))) continue;
        const pref = initials.find((t) => t === sj.thread && affordable(t)) ?? initials.find(affordable) ?? initials.find((t) => t === sj.thread) ?? initials.find((t) => node.runnable.includes(t));
        if (pref !== undefined && node.runnable.includes(pref)) node.backtrack.add(pref);
        else for (const t of node.runnable) node.backtrack.add(t);
        // bounded POR (Coons, Musuvathi, McKinley, OOPSLA 2013): with a preemption bound the
        // reversal at i may cost a preemption the bound forbids, so also try the thread where
        // the run of steps before i began, where switching to it is no preemption
        if (this.bound !== Infinity && pref !== undefined && i > 0) {
          let b = i - 1;
          const runner = tr.steps[b]?.thread;
          while (b > 0 && tr.steps[b - 1]?.thread === runner) b--;
          const nb = this.nodes[b];
          if (nb !== undefined && b !== i && nb.runnable.includes(pref)) nb.backtrack.add(pref);
        }
      }
    }
  }
}


/**
 * Running `next` after `prev` (the thread of the previous step, null at the start) is a
 * preemption: a switch away from a thread that could go on (`runnable`: the threads
 * runnable at this step). How every counterexample's `preemptions` is counted.
 */
export function isPreemption(prev: string | null, runnable: readonly string[], next: string): boolean {
  return prev !== null && prev !== next && runnable.includes(prev);
}

/** Fewer preemptions, then fewer steps, then the lexicographically smaller choice list. */
export function simpler(a: Pick<Counterexample, 'preemptions' | 'steps' | 'choices'>, b: Pick<Counterexample, 'preemptions' | 'steps' | 'choices'>): boolean {
  if (a.preemptions !== b.preemptions) return a.preemptions < b.preemptions;
  if (a.steps !== b.steps) return a.steps < b.steps;
  const n = Math.min(a.choices.length, b.choices.length);
  for (let i = 0; i < n; i++) if (a.choices[i] !== b.choices[i]) return (a.choices[i] as number) < (b.choices[i] as number);
  return a.choices.length < b.choices.length;
}

/** Run a whole search. */
export function runSearch(program: Program, opts: SearchOptions = {}): SearchResult {
  const s = new Search(program, opts);
  s.step();
  return s.result();
}
