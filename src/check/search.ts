/**
 * The interleaving search: one engine behind every strategy (strategies/: dpor, naive, bfs,
 * random, pct, one file each behind the interface of strategies/strategy.ts).
 *
 * An execution is a run of the program from scratch (stateless search: the model has no
 * snapshots, so every interleaving is re-executed) in which the engine makes each
 * scheduling decision. The engine keeps the current execution's path as a stack of
 * nodes (tree.ts), one per scheduler step: which threads were runnable, what each was
 * about to do (its pending scheduling point: op, object, read/write), which one ran, and
 * the bookkeeping of the strategy (backtrack, done and sleep sets). After an execution it
 * picks the deepest node with an unexplored alternative and replays the path up to it.
 * A tree strategy explores that tree within a preemption bound; a sample strategy runs
 * independent executions, each with its own seeded chooser. Sample strategies too stay
 * within a preemption bound when one is given (default: none): once an execution has
 * spent it, the thread that ran last goes on while it is runnable.
 *
 * Everything here is deterministic: the same program, strategy, seed and budgets give
 * the same executions in the same order. (A time budget can only cut a search short.)
 */
import type { KThread } from '../kernel/sched/thread.js';
import { type Counterexample, DEFAULT_PREEMPTION_BOUND, isPreemption, type SearchOptions, type SearchResult, type SearchStats, simpler, type Strategy } from './options.js';
import { type ExecControl, ExecutionAborted, type ExecReport, Nondeterminism, type Program, type TraceStep } from './program.js';
import { mulberry32 } from './prng.js';
import { BUILTIN_PROPERTIES } from './property.js';
import { type Chooser, type SearchStrategy, strategyOf, type TreeView } from './strategies/index.js';
import { mayDepend, Trace } from './trace.js';
import type { Node } from './tree.js';
import { type ProbeInfo, UnitDriver, type UnitResult } from './units.js';
import type { UnitSplit, WorkUnit } from './work-unit.js';

export { DEFAULT_PREEMPTION_BOUND, isPreemption, simpler, STRATEGIES, type Counterexample, type SearchOptions, type SearchResult, type SearchStats, type Strategy } from './options.js';
export { ExecutionAborted, Nondeterminism, type ExecControl, type ExecReport, type Program, type Touch, type TraceStep } from './program.js';

/** The search engine. Use `runSearch`, or `new Search(...)` and `step()` for a search in slices. */
export class Search {
  readonly strategy: Strategy;
  /** How the choices are made (strategies/). */
  private readonly def: SearchStrategy;
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
    this.def = strategyOf(this.strategy);
    this.unit = opts.unit ?? null;
    this.driver = this.unit === null ? new UnitDriver(this.strategy, opts, (o) => new Search(program, o)) : null;
    const exhaustive = this.def.kind === 'tree';
    this.maxBound = this.unit !== null && exhaustive ? this.unit.bound : (opts.maxPreemptions ?? (exhaustive ? DEFAULT_PREEMPTION_BOUND : Infinity));
    this.bound = this.risingBound && this.unit === null ? 0 : this.maxBound;
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
      bound: this.risingBound ? this.bound : null,
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
        this.stoppedBy = this.def.kind === 'sample' ? 'samples' : 'max-executions';
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
    const exhaustive = this.def.kind === 'tree';
    const stoppedBy = this.stoppedBy ?? 'interrupted';
    return {
      strategy: this.strategy,
      complete: exhaustive && stoppedBy === 'exhausted',
      stoppedBy,
      stats: this.stats(),
      counterexamples: [...this.found.values()].sort((a, b) => rank(a.property) - rank(b.property) || (a.property < b.property ? -1 : a.property > b.property ? 1 : 0)),
      outcomes: [...this.outcomes].sort(),
      preemptionBound: exhaustive && this.maxBound !== Infinity ? (this.risingBound ? this.bound : this.maxBound) : null,
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
    if (this.def.kind === 'sample') {
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
      if (this.risingBound && this.bound < this.maxBound) {
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
  private samplerFor(n: number): Chooser {
    if (this.def.kind !== 'sample') throw new Error(`internal: ${this.strategy} does not sample`);
    const seed = ((this.opts.seed ?? 1) + n) >>> 0;
    return this.def.chooser(mulberry32(seed === 0 ? 0x9e3779b9 : seed), this.opts.depth ?? 3, this.pctLength);
  }

  /** The bound starts at 0 and rises (bfs). */
  private get risingBound(): boolean {
    return this.def.kind === 'tree' && this.def.risingBound;
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
   * that includes the time budget (units.ts, parallel/parallel-search.ts), so no execution outlasts it by
   * more than 256 steps.
   */
  private poll(): void {
    if ((++this.polls & 255) !== 0) return;
    if (this.opts.interrupted?.() === true) throw new ExecutionAborted('stopped');
  }

  /** Run the program once. `sample`: the random/pct chooser (no tree). */
  private execute(sample: Chooser | null): void {
    const trace = new Trace();
    let nameOf: (t: KThread) => string = (t) => t.name;
    let k = 0;
    let prev: string | null = null;
    let preemptions = 0;
    let pending: Node | null = null;
    let runnableBefore: string[] = [];
    let current: TraceStep | null = null;
    let aborted: ExecutionAborted | null = null;
    const def = this.def;
    const naive = def.kind === 'tree' && def.backtrackAll;

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
      if (parent !== undefined && last !== undefined && def.kind === 'tree' && def.sleepSets) {
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
    if (def.kind === 'sample' && def.measuresLength && this.pctLength === 0) this.pctLength = k;
    if (sample === null && def.kind === 'tree' && !def.afterExecution(this.view(), trace)) this.stoppedBy = 'interrupted';
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

  /** What the strategy sees of this search after an execution. */
  private view(): TreeView {
    return {
      nodes: this.nodes,
      divergence: this.divergence,
      bound: this.bound,
      preemptionsOf: (n, t) => this.preemptionsOf(n, t),
      interrupted: () => this.opts.interrupted?.() === true,
    };
  }
}

/** Run a whole search. */
export function runSearch(program: Program, opts: SearchOptions = {}): SearchResult {
  const s = new Search(program, opts);
  s.step();
  return s.result();
}
