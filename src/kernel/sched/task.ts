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

