/**
 * `naive`: every runnable thread at every step (no reduction) within the preemption bound;
 * the reference the reduction is tested against.
 */
import type { TreeStrategy } from './strategy.js';

export const naive: TreeStrategy = {
  kind: 'tree',
  name: 'naive',
  backtrackAll: true,
  sleepSets: false,
  risingBound: false,
  afterExecution: () => true,
};
