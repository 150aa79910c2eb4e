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
  /** The object touched, e.g. 'memory_lock:0000:01:00.0', 'pt:mm1', 'cfg:0000:01:00.0'. */
  readonly obj: string;
  readonly access: Access;
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
 * A task that returns `value` at its first `next()` without ever yielding: what the
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

/** A task that returns a value without ever yielding (for uniform call sites). */
export function done<T>(v: T): Task<T> {
  return new Returned(v);
}
