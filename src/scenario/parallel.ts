/**
 * Exploring over worker threads (node:worker_threads). A worker cannot receive the
 * program (a closure), so it gets the scenario's text and the plain-data explore options,
 * loads the scenario itself and builds the same program. The units of the search
 * (src/check/units.ts) are planned in the calling thread, handed out in order from a
 * queue and merged in unit order, which is why the result is the same with any number of
 * workers — and the same as `runSearch` in-process. `checkSuite` hands out whole cells
 * (one scenario under one variant, each explored in-process by a worker) the same way.
 *
 * The calling thread blocks while it waits (Atomics.wait on a shared counter the workers
 * bump after each message, messages taken with receiveMessageOnPort), so the API stays
 * synchronous; `step(ms)` returns after about `ms`, which keeps a caller's event loop
 * (progress lines, Ctrl-C) alive between slices. Stop requests reach the workers through
 * shared memory, polled between executions.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { type Counterexample, type Program, Search, type SearchOptions, type SearchResult, type SearchStats, type Strategy } from '../check/search.js';
import { planUnits, type UnitResult, UnitSchedule, unitOptions, unitSamples, type WorkUnit } from '../check/units.js';
import type { ExploreOptions } from './explore.js';
import type { KnobValue } from './variant.js';

/** The worker entry (compiled next to this file). */
const WORKER_URL = new URL('./explore-worker.js', import.meta.url);

/** The explore options a worker needs to build the program and run units (plain data). */
export interface WorkerExploreOptions {
  readonly variant?: string;
  readonly knobs?: Readonly<Record<string, KnobValue>>;
  readonly maxSteps?: number;
  readonly only?: readonly string[];
  readonly strategy?: Strategy;
  readonly maxPreemptions?: number;
  readonly seed?: number;
  readonly depth?: number;
  readonly stopAtFirst?: boolean;
  readonly noProperty?: readonly string[];
  readonly expectAsProperties?: boolean;
}

/** A whole exploration run by a worker (checkSuite's cells). */
export interface CellOptions extends WorkerExploreOptions {
  readonly maxExecutions?: number;
  readonly maxTimeMs?: number;
}

/** The plain-data part of `opts`. */
export function workerOptions(opts: ExploreOptions): WorkerExploreOptions {
  const out: Record<string, unknown> = {};
  for (const k of ['variant', 'knobs', 'maxSteps', 'only', 'strategy', 'maxPreemptions', 'seed', 'depth', 'stopAtFirst', 'noProperty', 'expectAsProperties'] as const) {
    if (opts[k] !== undefined) out[k] = opts[k];
  }
  return out as WorkerExploreOptions;
}

/** A scenario as a worker reloads it. */
export interface ScenarioSource {
  readonly text: string;
  readonly file: string;
  /** The loaded scenario's hash: the worker checks it got the same scenario. */
  readonly hash: string;
}

export type ToWorker =
  | { readonly type: 'init'; readonly source: ScenarioSource; readonly options: WorkerExploreOptions }
  /** Run a unit with this budget; `resume`: go on with the unit's search this worker ran before (the budget cut it). */
  | { readonly type: 'unit'; readonly unit: WorkUnit; readonly maxExecutions: number; readonly resume: boolean; readonly startOffsetMs: number }
  | { readonly type: 'cell'; readonly id: number; readonly source: ScenarioSource; readonly options: CellOptions };

export interface CellResult {
  readonly counterexamples: readonly Counterexample[];
  readonly complete: boolean;
  readonly executions: number;
}

export type FromWorker =
  | { readonly type: 'progress'; readonly index: number; readonly stats: SearchStats }
  | { readonly type: 'unit'; readonly result: UnitResult }
  | ({ readonly type: 'cell'; readonly id: number } & CellResult)
  | { readonly type: 'error'; readonly message: string; readonly stack: string };

/** Slots of the shared control array. */
export const CTRL_NOTIFY = 0;
/** Non-zero: every unit stops (interrupted, time budget). */
export const CTRL_STOP = 1;
/** Units with a higher index stop (an earlier unit stopped at its first violation). */
export const CTRL_CANCEL_ABOVE = 2;

/** No message from a busy worker for this long: it is taken for dead. */
const SILENCE_MS = 300_000;

interface Slot {
  readonly worker: Worker;
  readonly port: MessagePort;
  busy: boolean;
  failure: string | null;
}

/**
 * Worker threads, spoken to synchronously. `WorkerPool.acquire(n)` lends the process's
 * shared pool (its workers stay loaded and warmed up from one search to the next; they
 * are unref'd, so they never keep the process alive), or a pool of its own when the
 * shared one is lent out; `release()` gives it back.
 */
export class WorkerPool {
  private static shared: WorkerPool | null = null;
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT));
  private readonly slots: Slot[] = [];
  /** How many of the slots this lease uses. */
  private active = 0;
  private lastHeard = performance.now();
  private leased = false;
  private closed = false;

  private constructor(private readonly isShared: boolean) {
    if (!existsSync(fileURLToPath(WORKER_URL))) throw new Error(`the explorer's worker entry is missing: ${fileURLToPath(WORKER_URL)}`);
    this.reset();
  }

  /** A pool of `n` workers for one search or suite; give it back with `release()`. */
  static acquire(n: number): WorkerPool {
    let p = WorkerPool.shared;
    if (p === null || p.closed) p = WorkerPool.shared = new WorkerPool(true);
    else if (p.leased) p = new WorkerPool(false);
    p.leased = true;
    p.grow(n);
    return p;
  }

  private reset(): void {
    Atomics.store(this.ctrl, CTRL_STOP, 0);
    Atomics.store(this.ctrl, CTRL_CANCEL_ABOVE, 0x7fffffff);
  }

  private grow(n: number): void {
    while (this.slots.length < n) {
      const ch = new MessageChannel();
      const worker = new Worker(WORKER_URL, { workerData: { port: ch.port2, ctrl: this.ctrl }, transferList: [ch.port2] });
      worker.unref();
      const slot: Slot = { worker, port: ch.port1, busy: false, failure: null };
      // seen between slices only (the event loop runs then); a worker reports its own errors as messages
      worker.on('error', (e) => (slot.failure = e instanceof Error ? (e.stack ?? e.message) : String(e)));
      worker.on('exit', (code) => {
        if (!this.closed && slot.failure === null) slot.failure = `worker exited with code ${code}`;
      });
      this.slots.push(slot);
    }
    this.active = n;
    this.lastHeard = performance.now();
  }

  get size(): number {
    return this.active;
  }

  /** The idle workers' numbers. */
  idleWorkers(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.active; i++) if (!(this.slots[i] as Slot).busy) out.push(i);
    return out;
  }

  /** An idle worker's number, or null. */
  idle(): number | null {
    for (let i = 0; i < this.active; i++) if (!(this.slots[i] as Slot).busy) return i;
    return null;
  }

  get busyCount(): number {
    return this.slots.filter((s) => s.busy).length;
  }

  /** Send a message; a unit or a cell makes the worker busy until its result comes back. */
  send(i: number, msg: ToWorker): void {
    const s = this.slots[i] as Slot; // i comes from idle() or the loop over the active slots
    if (msg.type !== 'init') {
      if (this.busyCount === 0) this.lastHeard = performance.now();
      s.busy = true;
    }
    s.port.postMessage(msg);
  }

  broadcast(msg: ToWorker): void {
    for (let i = 0; i < this.active; i++) this.send(i, msg);
  }

  stopAll(): void {
    Atomics.store(this.ctrl, CTRL_STOP, 1);
  }

  cancelAbove(index: number): void {
    Atomics.store(this.ctrl, CTRL_CANCEL_ABOVE, Math.min(index, 0x7fffffff));
  }

  /**
   * The messages that arrived, waiting up to `ms` for one. A result frees its worker.
   * Throws when a worker failed.
   */
  receive(ms: number): { readonly from: number; readonly msg: FromWorker }[] {
    const seen = Atomics.load(this.ctrl, CTRL_NOTIFY);
    let out = this.drain();
    if (out.length === 0 && ms > 0) {
      Atomics.wait(this.ctrl, CTRL_NOTIFY, seen, ms);
      out = this.drain();
    }
    const now = performance.now();
    if (out.length > 0) this.lastHeard = now;
    for (const s of this.slots) if (s.failure !== null) throw new Error(`explorer worker failed: ${s.failure}`);
    for (const { msg } of out) if (msg.type === 'error') throw new Error(`explorer worker failed: ${msg.stack !== '' ? msg.stack : msg.message}`);
    if (this.busyCount > 0 && now - this.lastHeard > SILENCE_MS) throw new Error(`explorer worker silent for ${SILENCE_MS / 1000} s`);
    return out;
  }

  private drain(): { from: number; msg: FromWorker }[] {
    const out: { from: number; msg: FromWorker }[] = [];
    this.slots.forEach((s, from) => {
      for (let m = receiveMessageOnPort(s.port); m !== undefined; m = receiveMessageOnPort(s.port)) {
        const msg = m.message as FromWorker;
        if (msg.type === 'unit' || msg.type === 'cell') s.busy = false;
        out.push({ from, msg });
      }
    });
    return out;
  }

  /**
   * Give the pool back: busy workers are told to stop and waited for (a unit stops at its
   * next execution), their late messages dropped. `failed`: a worker failed — the pool
   * is closed instead.
   */
  release(failed = false): void {
    if (this.closed) return;
    if (failed || !this.isShared) {
      this.close();
      return;
    }
    this.stopAll();
    try {
      while (this.busyCount > 0) this.receive(1000);
    } catch {
      this.close();
      return;
    }
    this.reset();
    this.leased = false;
  }

  /** Stop every worker (a busy one is cut off). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopAll();
    if (WorkerPool.shared === this) WorkerPool.shared = null;
    for (const s of this.slots) {
      s.port.close();
      void s.worker.terminate();
    }
  }
}

const ZERO: SearchStats = { executions: 0, sleepBlocked: 0, pruned: 0, distinctTraces: 0, distinctOutcomes: 0, maxDepth: 0, elapsedMs: 0, bound: null };

/** How long the calling thread runs its own unit or cell before it looks at the workers again. */
const LOCAL_SLICE_MS = 20;

/** The calling thread, as the owner of a unit. */
const LOCAL = -1;

/**
 * One search over `workers` threads — this one (already warmed up by planning) and
 * `workers` − 1 worker threads: the units are planned here (with `program`, built from the
 * same scenario and options as the workers' own), run here and by the workers, merged
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
    private readonly source: ScenarioSource,
    private readonly options: WorkerExploreOptions,
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
        this.pool = WorkerPool.acquire(plan.stopped !== undefined ? 0 : Math.max(0, Math.min(this.workers - 1, units - 1, 63)));
        this.pool.broadcast({ type: 'init', source: this.source, options: this.options });
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

/** A whole exploration this thread runs in slices (one of checkSuite's cells). */
export interface LocalCell {
  step(ms: number): boolean;
  result(): CellResult;
}

/**
 * Run whole explorations (`cells`) over `workers` threads — this one (`local(i)` makes
 * cell i's exploration here) and `workers` − 1 worker threads; `onResult` sees each
 * result in cell order. Blocks until every cell is done.
 */
export function runCells(
  cells: readonly { readonly source: ScenarioSource; readonly options: CellOptions }[],
  workers: number,
  local: (i: number) => LocalCell,
  onResult: (i: number, r: CellResult) => void,
): CellResult[] {
  return drain(runCellsSteps(cells, workers, local, onResult));
}

/** Run a sliced computation (a generator yielding between slices) to its end, without pausing. */
export function drain<T>(it: Generator<void, T, void>): T {
  for (;;) {
    const r = it.next();
    if (r.done === true) return r.value;
  }
}

/**
 * runCells in slices: the generator yields after each round (a slice of the local cell,
 * or up to 100 ms waiting for the workers), so a caller can give the event loop a turn
 * (Ctrl-C). Once `interrupted()` is true no cell starts any more: the loop ends when the
 * cells started are done, and returns the results of the cells reported (a prefix, in
 * cell order).
 */
export function* runCellsSteps(
  cells: readonly { readonly source: ScenarioSource; readonly options: CellOptions }[],
  workers: number,
  local: (i: number) => LocalCell,
  onResult: (i: number, r: CellResult) => void,
  interrupted: () => boolean = () => false,
): Generator<void, CellResult[], void> {
  const results: (CellResult | undefined)[] = cells.map(() => undefined);
  if (cells.length === 0) return [];
  const pool = WorkerPool.acquire(Math.max(0, Math.min(workers - 1, cells.length - 1, 63)));
  let next = 0;
  let reported = 0;
  let received = 0;
  let mine: { readonly i: number; readonly cell: LocalCell } | null = null;
  let failed = true;
  try {
    while (reported < cells.length) {
      const stop = interrupted();
      if (stop && mine === null && received === next) break;
      for (let w = pool.idle(); !stop && w !== null && next < cells.length; w = pool.idle()) {
        const c = cells[next] as (typeof cells)[number]; // next < cells.length
        pool.send(w, { type: 'cell', id: next, source: c.source, options: c.options });
        next++;
      }
      if (!stop && mine === null && next < cells.length) mine = { i: next, cell: local(next++) };
      let wait = 100;
      if (mine !== null) {
        wait = 0;
        if (mine.cell.step(LOCAL_SLICE_MS)) {
          results[mine.i] = mine.cell.result();
          received++;
          mine = null;
        }
      }
      for (const { msg } of pool.receive(wait)) {
        if (msg.type !== 'cell') continue;
        results[msg.id] = { counterexamples: msg.counterexamples, complete: msg.complete, executions: msg.executions };
        received++;
      }
      for (let r = results[reported]; r !== undefined; r = results[reported]) onResult(reported++, r);
      yield;
    }
    failed = false;
  } finally {
    pool.release(failed);
  }
  return results.slice(0, reported) as CellResult[]; // the reported prefix: every slot filled
}
