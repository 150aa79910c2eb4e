import type { EventStream } from '../../events/stream.js';
import { KernelBug, KernelDeadlock, MachineHalted, ThreadKilled, type WaitEdge } from './errors.js';
import type { SchedPoint, Task, Waitable } from './task.js';
import { KThread } from './thread.js';

const START: SchedPoint = { op: 'start', obj: 'thread', access: 'r' };

/** How a scheduled run ended. */
export type RunEnd =
  | { readonly kind: 'done' }
  | { readonly kind: 'deadlock'; readonly edges: readonly WaitEdge[] }
  | { readonly kind: 'halted'; readonly reason: string }
  | { readonly kind: 'step-limit' };

/** Picks the thread that takes the next step among the runnable ones (never empty). */
export type Chooser = (runnable: readonly KThread[], step: number) => KThread;

/**
 * The deterministic scheduler: one thread runs at a time; at every scheduling point
 * the chooser decides who goes next. With one thread it degenerates into a plain call.
 */
export class Scheduler {
  readonly threads: KThread[] = [];
  current: KThread | null = null;
  /** Steps taken so far (one step = from one scheduling point to the next). */
  steps = 0;
  private nextTid = 1;
  /** Called when a thread dies or on halt; set by the kernel to report it. */
  onDeath: ((t: KThread, err: KernelBug) => void) | null = null;

  constructor(
    readonly events: EventStream,
    /** Returns the halt reason when the machine has halted, else null. */
    private readonly haltReason: () => string | null,
  ) {
    events.tidSource = () => (this.current === null ? 0 : this.current.tid);
  }

  spawn(name: string, owner: unknown = null): KThread {
    const t = new KThread(this.nextTid++, name, owner);
    this.threads.push(t);
    return t;
  }

  /** Give an idle (or finished) thread a task; it becomes runnable at a 'start' point. */
  start(t: KThread, task: Task<unknown>, label = ''): void {
    if (t.state === 'runnable' || t.state === 'blocked') throw new Error(`thread ${t.name} is busy`);
    if (t.state === 'dead') throw new ThreadKilled(t, t.deathReason ?? 'dead');
    t.task = task;
    t.state = 'runnable';
    t.next = START;
    t.label = label;
  }

  /** Make a sleeping thread runnable again (a lock was handed to it). */
  wake(t: KThread, on: Waitable): void {
    if (t.state !== 'blocked') return;
    t.state = 'runnable';
    t.blockedOn = null;
    t.next = { op: 'wake', obj: on.id, access: 'r' };
  }

  runnable(): KThread[] {
    return this.threads.filter((t) => t.state === 'runnable');
  }

  blocked(): KThread[] {
    return this.threads.filter((t) => t.state === 'blocked');
  }

  /** Perform `t`'s pending step and run it to its next scheduling point. */
  step(t: KThread): void {
    const halt = this.haltReason();
    if (halt !== null) throw new MachineHalted(halt);
    const task = t.task;
    if (t.state !== 'runnable' || task === null) throw new Error(`thread ${t.name} is not runnable`);
    const prev = this.current;
    this.current = t;
    this.steps++;
    try {
      const r = task.next();
      if (r.done === true) {
        t.state = 'done';
        t.result = r.value;
        t.task = null;
        t.next = null;
      } else if (r.value.block === true) {
        t.state = 'blocked';
        t.blockedOn = r.value.on;
        t.next = null;
      } else {
        t.next = r.value;
      }
    } catch (e) {
      if (e instanceof KernelBug) {
        t.state = 'dead';
        t.deathReason = `kernel BUG in ${e.fn}: ${e.message}`;
        t.task = null;
        t.next = null;
        if (this.onDeath !== null) this.onDeath(t, e);
      } else {
        throw e;
      }
    } finally {
      this.current = prev;
    }
  }

  /**
   * Run one task on `t` to completion with no other thread taking steps (the plain
   * synchronous API). Throws KernelDeadlock if it sleeps forever, ThreadKilled on a
   * kernel BUG, MachineHalted after a fatal platform error.
   */
  runSync<T>(t: KThread, task: Task<T>, label = ''): T {
    this.start(t, task, label);
    while (t.state === 'runnable') this.step(t);
    if (t.state === 'blocked') throw new KernelDeadlock(this.waitEdges());
    if (t.state === 'dead') throw new ThreadKilled(t, t.deathReason ?? 'dead');
    t.state = 'idle';
    return t.result as T;
  }

  /** The wait-for graph: who sleeps on what, held by whom. */
  waitEdges(): WaitEdge[] {
    const edges: WaitEdge[] = [];
    for (const t of this.threads) {
      if (t.state !== 'blocked' || t.blockedOn === null) continue;
      edges.push({ waiter: t.name, on: t.blockedOn.id, holders: t.blockedOn.holders().map((h) => h.name) });
    }
    return edges;
  }

  /**
   * Run every runnable thread until all are done, a deadlock (no runnable thread while
   * some sleep), a halt, or `maxSteps`. The chooser picks each step's thread.
   */
  run(choose: Chooser, maxSteps = 1_000_000): RunEnd {
    for (let i = 0; i < maxSteps; i++) {
      const halt = this.haltReason();
      if (halt !== null) return { kind: 'halted', reason: halt };
      const rs = this.runnable();
      if (rs.length === 0) {
        if (this.threads.some((t) => t.state === 'blocked')) return { kind: 'deadlock', edges: this.waitEdges() };
        for (const t of this.threads) if (t.state === 'done') t.state = 'idle';
        return { kind: 'done' };
      }
      const t = rs.length === 1 ? (rs[0] as KThread) : choose(rs, this.steps);
      try {
        this.step(t);
      } catch (e) {
        if (e instanceof MachineHalted) return { kind: 'halted', reason: e.reason };
        throw e;
      }
    }
    return { kind: 'step-limit' };
  }
}
