/**
 * The exploration tree of the exhaustive strategies: the current execution's path as a
 * stack of nodes, one per scheduler step.
 */
import type { TraceStep } from './program.js';

export interface Node {
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

