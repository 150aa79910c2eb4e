/**
 * A work unit: one part of a search, as plain data (it crosses to worker threads). How
 * units are planned, run and merged: units.ts.
 */
import type { TraceStep } from './program.js';

/** A forced choice at one split node. */
export interface UnitSplit {
  /** The thread the unit runs there. */
  readonly thread: string;
  /** dpor without a bound: the earlier siblings, asleep below, with the step each took there. */
  readonly asleep: readonly TraceStep[];
}

/** One part of the search, as plain data (it crosses to worker threads). */
export interface WorkUnit {
  /** Position in merge order. */
  readonly index: number;
  /** bfs: the round (= its bound); 0 otherwise. */
  readonly round: number;
  /** Exhaustive strategies: the forced choices at the split nodes, outermost first. */
  readonly splits: readonly UnitSplit[];
  /** The bound the split nodes were found with (a node is a split node when more than one candidate is within it). */
  readonly splitBound: number;
  /** The preemption bound of the unit's own search. */
  readonly bound: number;
  /** random/pct: the 1-based number of the unit's first execution, and how many it runs. */
  readonly first: number;
  readonly count: number;
  /** pct: the execution length the priority-change points are drawn over. */
  readonly pctLength: number;
}

