/**
 * The one small interface behind the explorer's strategies. The engine (../search.ts) runs
 * executions and keeps the tree; a strategy says how the choices are made:
 *
 * - a **tree** strategy (dpor, naive, bfs) explores the tree of choices, exhaustively within
 *   the preemption bound: which alternatives a new node starts with, whether sleep sets
 *   prune, whether the bound rises pass by pass, and what an execution adds to the tree
 *   once it is over (dpor: the reversals of its races);
 * - a **sample** strategy (random, pct) runs independent executions, each with a chooser
 *   made from that execution's seeded PRNG.
 */
import type { Strategy } from '../options.js';
import type { Trace } from '../trace.js';
import type { Node } from '../tree.js';

/** A sampling chooser: the thread to run among `names`, given the previous step's thread and the step's number. */
export type Chooser = (names: readonly string[], prev: string | null, step: number) => string;

/** What a tree strategy sees of the engine after an execution. */
export interface TreeView {
  /** The path of the execution just run, one node per scheduler step. */
  readonly nodes: readonly Node[];
  /** The node where the execution left the replayed path (races before it were seen already). */
  readonly divergence: number;
  /** The preemption bound being searched. */
  readonly bound: number;
  /** Preemptions spent once `t` runs at `n`. */
  preemptionsOf(n: Node, t: string): number;
  /** The search must stop (budget, Ctrl-C). */
  interrupted(): boolean;
}

export interface TreeStrategy {
  readonly kind: 'tree';
  readonly name: Strategy;
  /**
   * A new node's backtrack set holds every runnable thread the bound lets run there
   * (naive, bfs), instead of the chosen thread alone (dpor: its races add the rest).
   */
  readonly backtrackAll: boolean;
  /** A node inherits its parent's sleepers and explored threads independent of the step between (dpor). */
  readonly sleepSets: boolean;
  /** The bound starts at 0 and is raised by one each time the tree is exhausted, up to the maximum (bfs). */
  readonly risingBound: boolean;
  /**
   * After a complete or cut execution: add alternatives to the nodes of its path.
   * False when the search had to stop in the middle (`view.interrupted()`).
   */
  afterExecution(view: TreeView, trace: Trace): boolean;
}

export interface SampleStrategy {
  readonly kind: 'sample';
  readonly name: Strategy;
  /** The search measures one execution's length first (pct draws its change points over it). */
  readonly measuresLength: boolean;
  /** The chooser of one execution: `rand` is its PRNG; `depth`: pct's d; `length`: the measured execution length. */
  chooser(rand: () => number, depth: number, length: number): Chooser;
}

export type SearchStrategy = TreeStrategy | SampleStrategy;
