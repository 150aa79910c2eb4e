/**
 * Work units: the search as "plan units, run each, merge in unit order" — the one
 * algorithm behind `runSearch`, `Search` in slices and the worker threads of
 * src/check/parallel/, so that the result never depends on how many workers ran it.
 *
 * Planning (`planUnits`, in the calling thread):
 * - exhaustive strategies (dpor, naive, bfs): one probe execution (the default choices:
 *   keep running the previous thread) finds the first choice node — a node with more than
 *   one candidate: an awake runnable thread whose step stays within the preemption bound.
 *   Each candidate there is a unit, named by its forced prefix (the thread chosen at each
 *   split node on the way). While there are fewer than MIN_UNITS units and the split depth
 *   is below MAX_SPLIT_DEPTH, every unit is probed and split at its own next choice node
 *   (a unit with none stays whole). The rule never looks at the number of workers. A
 *   unit's search runs the strategy below its prefix and never takes an alternative at a
 *   node inside it: those alternatives are its sibling units. Candidates are ordered as
 *   the sequential search would take them: the default choice first, then the others in
 *   spawn order. dpor: without a preemption bound, the k-th sibling starts with the
 *   earlier siblings asleep at its split node (with the step each took there, recorded by
 *   probing it), as sequential DPOR after fully exploring them; with a bound there is no
 *   such sleep set (an earlier sibling's subtree may have lost traces to the bound, which
 *   makes putting it to sleep unsound, and whether it did is known only once it has run).
 * - bfs runs in rounds, one per bound 0, 1, ... up to the maximum: round b holds the units
 *   whose prefix costs at most b preemptions, each searched within exactly b; a round
 *   starts when the previous one is over, so the first counterexample still has the
 *   fewest preemptions.
 * - random and pct: a unit is a range of execution numbers, UNIT_SAMPLES(maxExecutions)
 *   long; execution n uses seed + n − 1 wherever it runs. pct draws its change points
 *   over the length of the probe execution, the same for every unit.
 * Probe executions are planning: they are not counted in the statistics.
 *
 * Budgets. maxExecutions: each round gets what earlier rounds left (dpor and naive have
 * one round: all of it), shared out evenly over its units in order — with B executions and
 * n units, unit i gets ⌊B/n⌋, plus one if i < B mod n (a unit that would get 0 does not
 * run yet). Once every unit of the round has stopped, what is left of the round's budget
 * is shared out the same way among the units the budget stopped (in order), which go on
 * from where they stopped, on the thread that holds their search; and so on until none
 * was stopped by the budget (or nothing is left: the search then reports
 * 'max-executions'). Every share depends only on earlier passes' counts, never on timing.
 * random/pct units run exactly their range.
 * stopAtFirst: every unit stops at its first violation; the search's result is that of
 * the lowest-numbered unit that has one (every unit before it must finish; the ones after
 * it are cancelled or ignored). A time budget or an interruption only cuts the search
 * short (stoppedBy says so; what ran is merged).
 *
 * Merging (in unit order): executions, sleep-blocked and pruned counts are summed; distinct
 * traces is the size of the union of the units' canonical trace hashes, outcomes the
 * sorted union; depth the maximum; per property the simplest counterexample (`simpler`;
 * a tie goes to the earlier unit), its execution number made global by adding the
 * executions of every earlier unit (random/pct: the unit's first execution number − 1).
 */
import { BUILTIN_PROPERTIES } from './property.js';
import { type Counterexample, DEFAULT_PREEMPTION_BOUND, type SearchOptions, type SearchResult, type SearchStats, simpler, type Strategy } from './options.js';
import type { TraceStep } from './program.js';
import type { UnitSplit, WorkUnit } from './work-unit.js';

export type { UnitSplit, WorkUnit } from './work-unit.js';

/** Split until there are at least this many units... */
export const MIN_UNITS = 8;
/** ...or the split depth reaches this. */
export const MAX_SPLIT_DEPTH = 3;

/** random/pct: executions per unit, a function of the budget alone. */
export function unitSamples(maxExecutions: number): number {
  return Math.max(1, Math.min(250, Math.ceil(maxExecutions / MIN_UNITS)));
}

/** What one unit's search found (plain data). Counterexample execution numbers are the unit's own (1-based). */
export interface UnitResult {
  readonly index: number;
  readonly stoppedBy: SearchResult['stoppedBy'];
  readonly executions: number;
  readonly sleepBlocked: number;
  readonly pruned: number;
  readonly maxDepth: number;
  readonly traces: readonly string[];
  readonly outcomes: readonly string[];
  readonly counterexamples: readonly Counterexample[];
  /** Per property: ms since the whole search started when the unit first broke it (wall time). */
  readonly firstFoundMs: Readonly<Record<string, number>>;
}

/** What a probe execution showed about a unit. */
export interface ProbeInfo {
  /** The step the unit's last forced choice took (null: no split node). */
  readonly ownStep: TraceStep | null;
  /** The first choice node below the prefix (null: none before the execution ended). */
  readonly next: {
    /** Its candidates in sibling order, with the preemptions each has cost once taken. */
    readonly candidates: readonly { readonly thread: string; readonly preemptions: number }[];
    /** The step the first candidate took there in this execution (null if it did not run). */
    readonly firstStep: TraceStep | null;
  } | null;
  /** The execution's length in scheduler steps. */
  readonly length: number;
}

/** A Search running one unit (`SearchOptions.unit`). */
export interface UnitEngine {
  step(sliceMs?: number): boolean;
  /** Raise the unit's execution budget to `maxExecutions` and go on where it stopped. */
  extend(maxExecutions: number): void;
  stats(): SearchStats;
  unitResult(): UnitResult;
  probe(): ProbeInfo;
}

export type EngineFactory = (opts: SearchOptions) => UnitEngine;

interface PlannedUnit {
  readonly splits: readonly UnitSplit[];
  /** Preemptions its prefix costs. */
  readonly preemptions: number;
}

/** The units of one search, before budgets. */
export interface UnitPlan {
  readonly strategy: Strategy;
  /** Exhaustive strategies: the units in order (random/pct: none). */
  readonly units: readonly PlannedUnit[];
  /** Probe executions run to plan (not counted in the statistics). */
  readonly probes: number;
  /** pct: the probe execution's length. */
  readonly pctLength: number;
  /** The preemption bound of the search (exhaustive strategies; bfs: the last round's). */
  readonly maxBound: number;
  /** Planning was cut short (a probe execution outlasted the time budget, Ctrl-C): no unit runs. */
  readonly stopped?: 'interrupted' | 'max-time';
}

/** A probe execution was stopped by the budget (planUnits then plans nothing). */
class ProbeStopped extends Error {
  constructor(readonly why: 'interrupted' | 'max-time') {
    super(why);
  }
}

const EXHAUSTIVE: readonly Strategy[] = ['dpor', 'naive', 'bfs'];
const isExhaustive = (s: Strategy): boolean => EXHAUSTIVE.includes(s);

/** The maximum preemption bound of a search with these options. */
export function maxBoundOf(opts: SearchOptions): number {
  const strategy = opts.strategy ?? 'dpor';
  return opts.maxPreemptions ?? (isExhaustive(strategy) ? DEFAULT_PREEMPTION_BOUND : Infinity);
}

/** The options of one unit's search (budgets, callbacks and the time limit belong to the caller). */
export function unitOptions(opts: SearchOptions, unit: WorkUnit, maxExecutions: number, interrupted: () => boolean): SearchOptions {
  const { maxTimeMs: _t, onProgress: _p, progressEveryMs: _e, interrupted: _i, maxExecutions: _m, ...rest } = opts;
  return { ...rest, unit, maxExecutions, interrupted };
}

/**
 * Plan the units of a search: runs the probe executions. The search's time budget and
 * `interrupted` cover them: a probe they stop ends the planning with no unit (`stopped`).
 */
export function planUnits(opts: SearchOptions, makeEngine: EngineFactory): UnitPlan {
  try {
    return planUnitsOrStop(opts, makeEngine);
  } catch (e) {
    if (!(e instanceof ProbeStopped)) throw e;
    return { strategy: opts.strategy ?? 'dpor', units: [], probes: 0, pctLength: 0, maxBound: maxBoundOf(opts), stopped: e.why };
  }
}

function planUnitsOrStop(opts: SearchOptions, makeEngine: EngineFactory): UnitPlan {
  const strategy = opts.strategy ?? 'dpor';
  const maxBound = maxBoundOf(opts);
  let probes = 0;
  const now = opts.now ?? (() => performance.now());
  const t0 = now();
  let why: 'interrupted' | 'max-time' | null = null;
  const stop = (): boolean => {
    if (opts.interrupted?.() === true) why = 'interrupted';
    else if (opts.maxTimeMs !== undefined && now() - t0 >= opts.maxTimeMs) why = 'max-time';
    return why !== null;
  };
  const probe = (splits: readonly UnitSplit[], probeStrategy: Strategy, bound: number): ProbeInfo => {
    probes++;
    const unit: WorkUnit = { index: -1, round: 0, splits, splitBound: bound, bound, first: 1, count: 1, pctLength: 0 };
    const e = makeEngine(unitOptions({ ...opts, strategy: probeStrategy, stopAtFirst: false }, unit, 1, stop));
    e.step();
    if (why !== null) throw new ProbeStopped(why);
    return e.probe();
  };
  if (!isExhaustive(strategy)) {
    // the default-choice run: its length is what pct draws change points over
    const p = probe([], 'naive', Infinity);
    return { strategy, units: [], probes, pctLength: p.length, maxBound };
  }
  // dpor without a bound: earlier siblings sleep at the split node (see the header)
  const sleepy = strategy === 'dpor' && maxBound === Infinity;
  interface Open extends PlannedUnit {
    info: ProbeInfo | null;
  }
  let level: Open[] = [{ splits: [], preemptions: 0, info: probe([], strategy, maxBound) }];
  for (let depth = 0; level.length < MIN_UNITS && depth < MAX_SPLIT_DEPTH; depth++) {
    if (!level.some((u) => (u.info?.next ?? null) !== null)) break;
    const groups: Open[][] = [];
    for (const u of level) {
      const next = u.info?.next ?? null;
      if (next === null) {
        groups.push([u]);
        continue;
      }
      groups.push(next.candidates.map((c) => ({ splits: [...u.splits, { thread: c.thread, asleep: [] }], preemptions: c.preemptions, info: null })));
    }
    const count = groups.reduce((a, g) => a + g.length, 0);
    const last = count >= MIN_UNITS || depth + 1 >= MAX_SPLIT_DEPTH;
    const out: Open[] = [];
    groups.forEach((g, gi) => {
      const parent = level[gi] as Open;
      if (g.length === 1 && g[0] === parent) {
        out.push(parent);
        return;
      }
      const firstStep = parent.info?.next?.firstStep ?? null;
      const steps: TraceStep[] = [];
      g.forEach((child, j) => {
        const thread = (child.splits[child.splits.length - 1] as UnitSplit).thread;
        const splits = sleepy ? [...child.splits.slice(0, -1), { thread, asleep: [...steps] }] : child.splits;
        let info: ProbeInfo | null = null;
        let own: TraceStep | null = j === 0 && firstStep !== null && firstStep.thread === thread ? firstStep : null;
        // a child is probed when it will be split, or when a later sibling needs its step asleep
        if (!last || (sleepy && j < g.length - 1 && own === null)) {
          info = probe(splits, strategy, maxBound);
          own = info.ownStep;
        }
        if (sleepy && j < g.length - 1) {
          if (own === null) throw new Error(`internal: no recorded step for ${thread} at a split node`);
          steps.push(own);
        }
        out.push({ splits, preemptions: child.preemptions, info });
      });
    });
    level = out;
  }
  return { strategy, units: level.map((u) => ({ splits: u.splits, preemptions: u.preemptions })), probes, pctLength: 0, maxBound };
}

const rank = (p: string): number => {
  const i = (BUILTIN_PROPERTIES as readonly string[]).indexOf(p);
  return i < 0 ? BUILTIN_PROPERTIES.length : i;
};

/** Counterexamples in report order: BUILTIN order, then by name. */
export function sortCounterexamples(cxs: readonly Counterexample[]): Counterexample[] {
  return [...cxs].sort((a, b) => rank(a.property) - rank(b.property) || (a.property < b.property ? -1 : a.property > b.property ? 1 : 0));
}

/** A unit to run: `maxExecutions` is its total budget so far; `resume`: continue the unit's search where it stopped (same thread). */
export interface UnitTask {
  readonly unit: WorkUnit;
  readonly maxExecutions: number;
  readonly resume: boolean;
}

/**
 * The queue of units and the merge: hands out units in order with their budgets, takes
 * their results (in any order), and decides when the search is over. Shared by the
 * in-process driver and the worker-thread coordinator, so both compute the same thing.
 */
export class UnitSchedule {
  readonly strategy: Strategy;
  private readonly maxExecutions: number;
  private round = -1;
  private roundUnits: WorkUnit[] = [];
  /** Per unit of the round (by position): its total budget so far. */
  private roundBudgets: number[] = [];
  /** The round's budget: what earlier rounds left. */
  private roundBudget = 0;
  private pending: UnitTask[] = [];
  private nextIndex = 0;
  private readonly inFlight = new Set<number>();
  /** The latest (cumulative) result of each unit run. */
  private readonly results = new Map<number, UnitResult>();
  /** Executions of the rounds before the current one. */
  private used = 0;
  private violationAt = Infinity;
  private budgetCut = false;
  private stop: 'interrupted' | 'max-time' | null = null;
  private over = false;
  /** bfs: the bound of the round last started. */
  private lastBound = 0;

  constructor(
    private readonly plan: UnitPlan,
    opts: SearchOptions,
  ) {
    this.strategy = plan.strategy;
    this.maxExecutions = opts.maxExecutions ?? 100_000;
    if (plan.stopped !== undefined) this.stop = plan.stopped;
  }

  private sampling(): boolean {
    return this.strategy === 'random' || this.strategy === 'pct';
  }

  /** The units of round r (null: there is none). */
  private makeRound(r: number): WorkUnit[] | null {
    const p = this.plan;
    const mk = (u: PlannedUnit, bound: number): WorkUnit => ({ index: this.nextIndex++, round: r, splits: u.splits, splitBound: p.maxBound, bound, first: 0, count: 0, pctLength: 0 });
    if (this.sampling()) {
      if (r > 0) return null;
      const size = unitSamples(this.maxExecutions);
      const out: WorkUnit[] = [];
      for (let first = 1; first <= this.maxExecutions; first += size) {
        out.push({ index: this.nextIndex++, round: 0, splits: [], splitBound: 0, bound: p.maxBound, first, count: Math.min(size, this.maxExecutions - first + 1), pctLength: p.pctLength });
      }
      return out;
    }
    if (this.strategy === 'bfs') {
      if (r > p.maxBound) return null;
      return p.units.filter((u) => u.preemptions <= r).map((u) => mk(u, r));
    }
    return r === 0 ? p.units.map((u) => mk(u, p.maxBound)) : null;
  }

  /** Executions of the current round's units so far. */
  private roundUsed(): number {
    let n = 0;
    for (const u of this.roundUnits) n += this.results.get(u.index)?.executions ?? 0;
    return n;
  }

  /** Start the next round; false when there is none (or no budget for it). */
  private startRound(): boolean {
    this.used += this.roundUsed();
    const units = this.makeRound(this.round + 1);
    if (units === null) return false;
    this.round++;
    const left = this.maxExecutions - this.used;
    if (left <= 0) {
      this.budgetCut = true;
      return false;
    }
    this.roundUnits = units;
    this.roundBudget = left;
    this.lastBound = this.round;
    this.roundBudgets = this.sampling() ? units.map((u) => u.count) : share(left, units.length);
    this.pending = [];
    units.forEach((unit, i) => {
      const b = this.roundBudgets[i] as number;
      if (b > 0) this.pending.push({ unit, maxExecutions: b, resume: false });
    });
    return true;
  }

  /**
   * The round's units all stopped: what the budget left goes, shared out evenly again, to
   * the units it cut (in order), which go on from where they stopped. False when none was
   * cut or nothing is left.
   */
  private nextPass(): boolean {
    if (this.sampling()) return false;
    const cut: number[] = [];
    this.roundUnits.forEach((u, i) => {
      const r = this.results.get(u.index);
      if (u.index <= this.violationAt && (r === undefined || r.stoppedBy === 'max-executions')) cut.push(i);
    });
    if (cut.length === 0) return false;
    const left = this.roundBudget - this.roundUsed();
    if (left <= 0) {
      this.budgetCut = true;
      return false;
    }
    const extra = share(left, cut.length);
    this.pending = [];
    cut.forEach((i, k) => {
      const e = extra[k] as number;
      if (e <= 0) return;
      const unit = this.roundUnits[i] as WorkUnit;
      const total = (this.roundBudgets[i] as number) + e;
      this.roundBudgets[i] = total;
      this.pending.push({ unit, maxExecutions: total, resume: this.results.has(unit.index) });
    });
    if (this.pending.length < cut.length) this.budgetCut = true;
    return this.pending.length > 0;
  }

  /**
   * The next unit to run; null when none can start now. `canRun`: whether the caller can
   * run this task (a resumed unit must go to the thread that holds its search).
   */
  take(canRun: (t: UnitTask) => boolean = () => true): UnitTask | null {
    for (;;) {
      if (this.over || this.stop !== null) return null;
      this.pending = this.pending.filter((t) => t.unit.index <= this.violationAt);
      if (this.pending.length > 0) {
        const k = this.pending.findIndex(canRun);
        if (k < 0) return null;
        const [t] = this.pending.splice(k, 1) as [UnitTask];
        this.inFlight.add(t.unit.index);
        return t;
      }
      if (this.inFlight.size > 0) return null; // the pass's barrier
      if (this.violationAt !== Infinity || (!this.nextPass() && !this.startRound())) {
        this.over = true;
        return null;
      }
    }
  }

  /** A unit's result (cumulative over its passes). */
  finish(r: UnitResult): void {
    this.inFlight.delete(r.index);
    this.results.set(r.index, r);
    if (r.stoppedBy === 'first-violation' && r.index < this.violationAt) this.violationAt = r.index;
  }

  /** Units above this index may stop: an earlier unit stopped at its first violation. */
  get cancelAbove(): number {
    return this.violationAt;
  }

  /** Cut the search short. */
  interrupt(why: 'interrupted' | 'max-time'): void {
    if (this.stop === null && !this.over) this.stop = why;
  }

  get stopped(): boolean {
    return this.stop !== null;
  }

  /** Every unit needed has reported (after an interruption: every unit in flight). */
  get done(): boolean {
    if (this.stop !== null) return this.inFlight.size === 0;
    if (this.over) return true;
    // stopAtFirst: over once every unit up to the violating one has reported
    if (this.violationAt !== Infinity && [...this.inFlight].every((i) => i > this.violationAt) && this.pending.every((t) => t.unit.index > this.violationAt)) {
      this.over = true;
      return true;
    }
    return false;
  }

  /** The results that count, in unit order. */
  private counted(): UnitResult[] {
    return [...this.results.values()].filter((r) => r.index <= this.violationAt).sort((a, b) => a.index - b.index);
  }

  /** Statistics so far, with the latest statistics of the units running (by unit index). */
  stats(elapsedMs: number, running: ReadonlyMap<number, SearchStats> = new Map()): SearchStats {
    const traces = new Set<string>();
    const outcomes = new Set<string>();
    let executions = 0;
    let sleepBlocked = 0;
    let pruned = 0;
    let maxDepth = 0;
    let extraTraces = 0;
    for (const r of this.counted()) {
      if (running.has(r.index)) continue; // resumed: its running statistics include it
      executions += r.executions;
      sleepBlocked += r.sleepBlocked;
      pruned += r.pruned;
      maxDepth = Math.max(maxDepth, r.maxDepth);
      for (const t of r.traces) traces.add(t);
      for (const o of r.outcomes) outcomes.add(o);
    }
    for (const s of running.values()) {
      executions += s.executions;
      sleepBlocked += s.sleepBlocked;
      pruned += s.pruned;
      maxDepth = Math.max(maxDepth, s.maxDepth);
      extraTraces += s.distinctTraces;
    }
    return {
      executions,
      sleepBlocked,
      pruned,
      distinctTraces: traces.size + extraTraces,
      distinctOutcomes: outcomes.size,
      maxDepth,
      elapsedMs,
      bound: this.strategy === 'bfs' ? this.lastBound : null,
    };
  }

  /** The merged result. */
  result(elapsedMs: number): SearchResult {
    const rs = this.counted();
    const found = new Map<string, Counterexample>();
    const firstMs = new Map<string, number>();
    let offset = 0;
    for (const r of rs) {
      const base = this.sampling() ? (this.roundUnits.find((u) => u.index === r.index)?.first ?? 1) - 1 : offset;
      for (const cx of r.counterexamples) {
        const old = found.get(cx.property);
        // the first over every unit: the lowest global execution number (and its time)
        const mine = base + cx.firstExecution;
        const firstExecution = old !== undefined && old.firstExecution <= mine ? old.firstExecution : mine;
        if (firstExecution === mine) firstMs.set(cx.property, r.firstFoundMs[cx.property] ?? 0);
        const g: Counterexample = { ...cx, execution: base + cx.execution, firstExecution };
        if (old === undefined || simpler(g, old)) found.set(cx.property, g);
        else found.set(cx.property, { ...old, firstExecution });
      }
      offset += r.executions;
    }
    const exhaustive = isExhaustive(this.strategy);
    const stoppedBy: SearchResult['stoppedBy'] =
      this.stop ?? (this.violationAt !== Infinity ? 'first-violation' : this.budgetCut ? (this.sampling() ? 'samples' : 'max-executions') : this.sampling() ? 'samples' : 'exhausted');
    const outcomes = new Set<string>();
    for (const r of rs) for (const o of r.outcomes) outcomes.add(o);
    return {
      strategy: this.strategy,
      complete: exhaustive && stoppedBy === 'exhausted',
      stoppedBy,
      stats: this.stats(elapsedMs),
      counterexamples: sortCounterexamples([...found.values()]),
      outcomes: [...outcomes].sort(),
      preemptionBound: exhaustive && this.plan.maxBound !== Infinity ? (this.strategy === 'bfs' ? this.lastBound : this.plan.maxBound) : null,
      firstFoundMs: Object.fromEntries([...found.keys()].map((p) => [p, firstMs.get(p) ?? 0])),
    };
  }
}

/** `total` shared out over `n` in order: ⌊total/n⌋ each, one more for the first total mod n. */
function share(total: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.floor(total / n) + (i < total % n ? 1 : 0));
}

/**
 * The in-process driver: plans the units, runs them one after another in slices, merges.
 * What `Search` (without `unit`) and `runSearch` use.
 */
export class UnitDriver {
  private schedule: UnitSchedule | null = null;
  private current: { readonly unit: WorkUnit; readonly engine: UnitEngine } | null = null;
  /** Searches of units the budget cut, kept to go on with if a later pass gives them more. */
  private readonly paused = new Map<number, UnitEngine>();
  private readonly now: () => number;
  private readonly t0: number;
  private lastProgress: number;
  private timedOut = false;

  constructor(
    readonly strategy: Strategy,
    private readonly opts: SearchOptions,
    private readonly makeEngine: EngineFactory,
  ) {
    this.now = opts.now ?? (() => performance.now());
    this.t0 = this.now();
    this.lastProgress = this.t0;
  }

  /** Polled by the units' searches between executions. */
  private readonly shouldStop = (): boolean => {
    if (this.opts.interrupted?.() === true) return true;
    if (this.opts.maxTimeMs !== undefined && this.now() - this.t0 >= this.opts.maxTimeMs) {
      this.timedOut = true;
      return true;
    }
    const s = this.schedule;
    return s !== null && this.current !== null && this.current.unit.index > s.cancelAbove;
  };

  get done(): boolean {
    return this.schedule?.done === true && this.current === null;
  }

  /** Run for about `sliceMs`; true when the search is over. */
  step(sliceMs = Infinity): boolean {
    const until = this.now() + sliceMs;
    if (this.schedule === null) this.schedule = new UnitSchedule(planUnits(this.opts, this.makeEngine), this.opts);
    const s = this.schedule;
    for (;;) {
      if (this.current === null) {
        if (this.shouldStop() && !s.stopped) s.interrupt(this.timedOut ? 'max-time' : 'interrupted');
        const t = s.take();
        if (t === null) break;
        const old = t.resume ? this.paused.get(t.unit.index) : undefined;
        if (t.resume && old === undefined) throw new Error(`internal: no search to resume for unit ${t.unit.index}`);
        old?.extend(t.maxExecutions);
        this.current = { unit: t.unit, engine: old ?? this.makeEngine({ ...unitOptions(this.opts, t.unit, t.maxExecutions, this.shouldStop), startOffsetMs: this.now() - this.t0 }) };
      }
      const every = this.opts.onProgress !== undefined ? (this.opts.progressEveryMs ?? 1000) : Infinity;
      const over = this.current.engine.step(Math.max(0, Math.min(until - this.now(), every)));
      if (over) {
        const r = this.current.engine.unitResult();
        if (r.stoppedBy === 'max-executions') this.paused.set(r.index, this.current.engine);
        else this.paused.delete(r.index);
        this.current = null;
        s.finish(r);
        if (r.stoppedBy === 'interrupted' && !s.stopped && r.index <= s.cancelAbove) s.interrupt(this.timedOut ? 'max-time' : 'interrupted');
      }
      const t = this.now();
      if (this.opts.onProgress !== undefined && t - this.lastProgress >= (this.opts.progressEveryMs ?? 1000)) {
        this.lastProgress = t;
        this.opts.onProgress(this.stats());
      }
      if (t >= until) break;
    }
    return this.done;
  }

  stats(): SearchStats {
    const elapsed = this.now() - this.t0;
    if (this.schedule === null) return { executions: 0, sleepBlocked: 0, pruned: 0, distinctTraces: 0, distinctOutcomes: 0, maxDepth: 0, elapsedMs: elapsed, bound: this.strategy === 'bfs' ? 0 : null };
    return this.schedule.stats(elapsed, new Map(this.current !== null ? [[this.current.unit.index, this.current.engine.stats()]] : []));
  }

  result(): SearchResult {
    const s = this.schedule ?? new UnitSchedule(planUnits(this.opts, this.makeEngine), this.opts);
    this.schedule = s;
    if (!s.done) {
      // asked before the end: what ran so far, as an interrupted search
      s.interrupt(this.timedOut ? 'max-time' : 'interrupted');
      if (this.current !== null) {
        s.finish(this.current.engine.unitResult());
        this.current = null;
      }
    }
    return s.result(this.now() - this.t0);
  }
}
