/**
 * Kernel code that may sleep or touches racy state is written as generators that
 * yield at scheduling points. A point is yielded *before* the step it names; the
 * scheduler decides which thread performs its pending step next.
 */

/** How a step touches its object: two steps are dependent iff same object and one writes. */
export type Access = 'r' | 'w';

/** A scheduling point: the step a thread is about to take. */
export interface SchedPoint {
  readonly block?: undefined;
  /** Short verb: 'lock', 'unlock', 'pte', 'cfg', 'mmio', 'dma', 'sleep', 'start', ... */
  readonly op: string;
  /** The object touched, e.g. 'memory_lock:0000:01:00.0', 'pt:mm1', 'hw:0000:01:00.0:cfg'. */
  readonly obj: string;
  readonly access: Access;
  /**
   * For an object touched by address range (a page table: every point of one has a
   * range), the range, end excluded; the explorer orders two steps on it only if their
   * ranges overlap.
   */
  readonly lo?: number;
  readonly hi?: number;
}

/** Something a thread can wait on; the scheduler asks it who holds it (for wait-for cycles). */
export interface Waitable {
  readonly id: string;
  /** Threads that currently hold the object (and so must act before a waiter can proceed). */
  holders(): readonly KThreadRef[];
}

/** Minimal view of a thread, so locks and waitables need not import the scheduler. */
export interface KThreadRef {
  readonly tid: number;
  readonly name: string;
}

/** Yielded when the thread must sleep until another thread wakes it. */
export interface BlockOn {
  readonly block: true;
  readonly on: Waitable;
}

export type Yielded = SchedPoint | BlockOn;

/** A kernel path: a generator over scheduling points that returns T. */
export type Task<T = void> = Generator<Yielded, T, undefined>;

/** Build a scheduling point. */
export function point(op: string, obj: string, access: Access): SchedPoint {
  return { op, obj, access };
}

/**
 * A finished task: `yield*` on it returns undefined at once. A generator that has run
 * to completion stays completed, so this one object can be shared by every caller
 * (it saves creating a generator for the common "nothing to do" case of a void task).
 */
export const FINISHED: Task<void> = (function* finished(): Task<void> {})();
FINISHED.next();

/**
 * [model] A task that returns `value` at its first `next()` without ever yielding: what the
 * generator `function* () { return value; }` does, as a small object instead of a
 * generator (it is the result of every check that fails before any scheduling point).
 */
class Returned<T> implements Task<T> {
  private finished = false;
  constructor(private readonly value: T) {}

  next(): IteratorResult<Yielded, T> {
    if (this.finished) return { value: undefined as T, done: true }; // as a finished generator
    this.finished = true;
    return { value: this.value, done: true };
  }

  return(value: T): IteratorResult<Yielded, T> {
    this.finished = true;
    return { value, done: true };
  }

  throw(e: unknown): IteratorResult<Yielded, T> {
    this.finished = true;
    throw e;
  }

  [Symbol.iterator](): this {
    return this;
  }
}

/** [model] A task that returns a value without ever yielding (for uniform call sites). */
export function done<T>(v: T): Task<T> {
  return new Returned(v);
}

/** The result of a finished StepTask's further `next()` calls (as a finished generator answers). */
const STEP_DONE: IteratorResult<Yielded, never> = Object.freeze({ value: undefined as never, done: true }) as IteratorResult<Yielded, never>;

/**
 * [model] A kernel path written as an explicit state machine instead of a generator function:
 * the same scheduling points in the same order and the same result, but a small object
 * instead of a generator (whose frame costs several hundred bytes) — for the paths a
 * synchronous run takes thousands of times per second (config writes, the zap, the
 * fault). Sub-tasks are driven by calling their `next()` directly, so a chain of
 * StepTasks that passes every point (Scheduler.passPoint) never allocates a generator.
 *
 * `run()` continues from `pc` (0 at the start), either as a `for (;;) switch (this.pc)` loop
 * (a state that completes sets `pc` and `continue`s) or as blocks `if (this.pc === N)` in
 * program order (a block that completes sets `pc` to a later state and falls through to it;
 * the blocks of a loop sit in a `for (;;)` whose last block sets `pc` back to its head) —
 * whichever V8 compiles better for that task; they behave the same.
 * - `return this.yieldAt(point, PC)` yields a scheduling point (`yield point`), resuming at PC;
 * - `const s = this.call(task, PC); if (s !== null) return s;` is `yield* task`, going on
 *   at PC with the task's value in `got` (at once when the task did not suspend; the
 *   switch form then `continue`s);
 * - `return this.finish(value)` returns.
 * An exception thrown by run() or a sub-task propagates out of `next()`, as out of a
 * generator (nobody resumes a task after that).
 */
export abstract class StepTask<T> implements Task<T> {
  // Assigned in the constructor rather than as class fields: a field initializer of a base
  // class runs with define semantics on the objects of every subclass (a megamorphic,
  // slow define); plain stores are not.
  /** Where run() goes on; -1 once finished. */
  protected declare pc: number;
  /** The sub-task being delegated to (`yield*`), or null. */
  private declare sub: Task<unknown> | null;
  /** The value the last sub-task returned. */
  protected declare got: unknown;

  constructor() {
    this.pc = 0;
    this.sub = null;
    this.got = undefined;
  }

  next(): IteratorResult<Yielded, T> {
    const s = this.sub;
    if (s !== null) {
      const r = s.next();
      if (r.done !== true) return r;
      this.sub = null;
      this.got = r.value;
    } else if (this.pc < 0) {
      return STEP_DONE;
    }
    return this.run();
  }

  /** The body: runs from `pc` to the next suspension or to the end. */
  protected abstract run(): IteratorResult<Yielded, T>;

  /**
   * `yield* task`, going on at `pc`: null when the task completed without suspending (its
   * value is in `got`; the caller continues at `pc`), else the step to return from run().
   */
  protected call(task: Task<unknown>, pc: number): IteratorResult<Yielded, T> | null {
    this.pc = pc;
    const r = task.next();
    if (r.done === true) {
      this.got = r.value;
      return null;
    }
    this.sub = task;
    return r;
  }

  /** `yield point`, resuming at `pc`. */
  protected yieldAt(point: Yielded, pc: number): IteratorResult<Yielded, T> {
    this.pc = pc;
    return { value: point, done: false };
  }

  /** `return value`. */
  protected finish(value: T): IteratorResult<Yielded, T> {
    this.pc = -1;
    return { value, done: true };
  }

  return(value: T): IteratorResult<Yielded, T> {
    this.pc = -1;
    this.sub = null;
    return { value, done: true };
  }

  throw(e: unknown): IteratorResult<Yielded, T> {
    this.pc = -1;
    this.sub = null;
    throw e;
  }

  [Symbol.iterator](): this {
    return this;
  }
}
