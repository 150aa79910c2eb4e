/**
 * One search over worker threads. The units of the search (../units.ts) are planned in the
 * calling thread, handed out in order from a queue and merged in unit order, which is why
 * the result is the same with any number of workers — and the same as `runSearch`
 * in-process. A worker cannot receive the program (a closure), so the caller says how a
 * worker builds the same program (protocol.ts: WorkerProgram); `step(ms)` returns after
 * about `ms`, which keeps a caller's event loop (progress lines, Ctrl-C) alive between
 * slices.
 */
import type { SearchOptions, SearchResult, SearchStats, Strategy } from '../options.js';
import type { Program } from '../program.js';
import { Search } from '../search.js';
import { planUnits, UnitSchedule, unitOptions, unitSamples } from '../units.js';
import type { WorkUnit } from '../work-unit.js';
import type { WorkerProgram } from './protocol.js';
import { WorkerPool } from './worker-pool.js';

const ZERO: SearchStats = { executions: 0, sleepBlocked: 0, pruned: 0, distinctTraces: 0, distinctOutcomes: 0, maxDepth: 0, elapsedMs: 0, bound: null };

/** How long the calling thread runs its own unit before it looks at the workers again. */
export const LOCAL_SLICE_MS = 20;

/** The calling thread, as the owner of a unit. */
const LOCAL = -1;

/**
 * One search over `workers` threads — this one (already warmed up by planning) and
 * `workers` − 1 worker threads: the units are planned here (with `program`, the same
 * program `worker` makes the workers build), run here and by the workers, merged
 * here. The same interface as `Search`.
 */
export class ParallelSearch {
  readonly strategy: Strategy;
  private pool: WorkerPool | null = null;
  private schedule: UnitSchedule | null = null;
  /** The unit this thread runs, between looks at the workers. */
  private local: { readonly unit: WorkUnit; readonly engine: Search } | null = null;
  /** Searches of units this thread ran that the budget cut (a later pass may resume them). */
  private readonly paused = new Map<number, Search>();
  /** Which thread ran each unit (a worker's number, or LOCAL): a resumed unit goes back there. */
  private readonly owner = new Map<number, number>();
  /** Latest statistics of the units running, by unit index. */
  private readonly running = new Map<number, SearchStats>();
  private readonly now: () => number;
  private readonly t0: number;
  private lastProgress: number;
  private over = false;

  constructor(
    private readonly program: Program,
    private readonly worker: WorkerProgram,
    private readonly opts: SearchOptions,
    private readonly workers: number,
  ) {
    this.strategy = opts.strategy ?? 'dpor';
    this.now = opts.now ?? (() => performance.now());
    this.t0 = this.now();
    this.lastProgress = this.t0;
  }

  get done(): boolean {
    return this.over;
  }

  /** Poll Ctrl-C and the time budget; true once the search is cut short. */
  private checkStop(s: UnitSchedule, pool: WorkerPool): boolean {
    if (!s.stopped) {
      if (this.opts.interrupted?.() === true) s.interrupt('interrupted');
      else if (this.opts.maxTimeMs !== undefined && this.now() - this.t0 >= this.opts.maxTimeMs) s.interrupt('max-time');
      if (s.stopped) pool.stopAll();
    }
    return s.stopped;
  }

  /** Run for about `sliceMs` of wall time; true when the search is over. */
  step(sliceMs = Infinity): boolean {
    if (this.over) return true;
    const until = this.now() + sliceMs;
    try {
      if (this.pool === null) {
        const plan = planUnits(this.opts, (o) => new Search(this.program, o));
        this.schedule = new UnitSchedule(plan, this.opts);
        // no more workers than units besides this thread's
        const units = plan.units.length > 0 ? plan.units.length : Math.ceil((this.opts.maxExecutions ?? 100_000) / unitSamples(this.opts.maxExecutions ?? 100_000));
        // a planning cut short by the budget runs no unit: start no worker
        this.pool = WorkerPool.acquire(plan.stopped !== undefined ? 0 : Math.max(0, Math.min(this.workers - 1, units - 1, 63)), this.worker.entry);
        this.pool.broadcast({ type: 'init', payload: this.worker.init });
      }
      const pool = this.pool;
      const s = this.schedule as UnitSchedule; // made with the pool
      const every = this.opts.onProgress !== undefined ? (this.opts.progressEveryMs ?? 1000) : Infinity;
      for (;;) {
        this.checkStop(s, pool);
        for (const worker of pool.idleWorkers()) {
          const t = s.take((x) => !x.resume || this.owner.get(x.unit.index) === worker);
          if (t === null) continue;
          if (!t.resume) this.running.set(t.unit.index, ZERO);
          this.owner.set(t.unit.index, worker);
          pool.send(worker, { type: 'unit', unit: t.unit, maxExecutions: t.maxExecutions, resume: t.resume, startOffsetMs: this.now() - this.t0 });
        }
        if (this.local === null) {
          const t = s.take((x) => !x.resume || this.owner.get(x.unit.index) === LOCAL);
          if (t !== null) {
            const index = t.unit.index;
            const stop = (): boolean => this.checkStop(s, pool) || index > s.cancelAbove;
            const old = t.resume ? this.paused.get(index) : undefined;
            if (t.resume && old === undefined) throw new Error(`internal: no search to resume for unit ${index}`);
            old?.extend(t.maxExecutions);
            this.local = { unit: t.unit, engine: old ?? new Search(this.program, { ...unitOptions(this.opts, t.unit, t.maxExecutions, stop), startOffsetMs: this.now() - this.t0 }) };
            this.owner.set(index, LOCAL);
            if (!t.resume) this.running.set(index, ZERO);
          }
        }
        if (s.done) {
          this.finish();
          return true;
        }
        const t = this.now();
        if (this.opts.onProgress !== undefined && t - this.lastProgress >= every) {
          this.lastProgress = t;
          this.opts.onProgress(this.stats());
        }
        if (t >= until) return false;
        let wait = Math.min(until - t, every, 1000);
        const local = this.local;
        if (local !== null) {
          wait = 0;
          if (local.engine.step(Math.min(until - t, LOCAL_SLICE_MS))) {
            this.local = null;
            this.running.delete(local.unit.index);
            const r = local.engine.unitResult();
            if (r.stoppedBy === 'max-executions') this.paused.set(r.index, local.engine);
            else this.paused.delete(r.index);
            s.finish(r);
            pool.cancelAbove(s.cancelAbove);
          } else this.running.set(local.unit.index, local.engine.stats());
        }
        for (const { msg } of pool.receive(wait)) {
          if (msg.type === 'progress') {
            if (this.running.has(msg.index)) this.running.set(msg.index, msg.stats);
          } else if (msg.type === 'unit') {
            this.running.delete(msg.result.index);
            s.finish(msg.result);
            pool.cancelAbove(s.cancelAbove);
          }
        }
      }
    } catch (e) {
      this.finish(true);
      throw e;
    }
  }

  private finish(failed = false): void {
    this.over = true;
    this.local = null;
    this.paused.clear();
    this.pool?.release(failed);
  }

  stats(): SearchStats {
    const elapsed = this.now() - this.t0;
    if (this.schedule === null) return { ...ZERO, elapsedMs: elapsed, bound: this.strategy === 'bfs' ? 0 : null };
    return this.schedule.stats(elapsed, this.running);
  }

  result(): SearchResult {
    if (this.schedule === null) this.step();
    const s = this.schedule as UnitSchedule; // made by step()
    if (!this.over) {
      s.interrupt('interrupted');
      if (this.local !== null) s.finish(this.local.engine.unitResult());
      this.finish();
    }
    return s.result(this.now() - this.t0);
  }
}
