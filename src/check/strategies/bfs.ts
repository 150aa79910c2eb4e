/**
 * `bfs`: iterative preemption bounding: all executions with at most 0, 1, 2, ...
 * preemptions (a switch away from a thread that could go on), so the first counterexample
 * has the fewest preemptions. Each pass is `naive` within its bound.
 */
import type { TreeStrategy } from './strategy.js';

export const bfs: TreeStrategy = {
  kind: 'tree',
  name: 'bfs',
  backtrackAll: true,
  sleepSets: false,
  risingBound: true,
  afterExecution: () => true,
};
