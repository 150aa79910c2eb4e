/**
 * What a search is asked (strategy, budgets, bound) and what it answers (statistics,
 * counterexamples, outcomes), with the two rules every strategy and the merging of work
 * units share: what counts as a preemption, and which counterexample is simpler.
 */
import type { WorkUnit } from './work-unit.js';

/**
 * The preemption bound of the exhaustive strategies unless one is given. Unbounded search
 * does not end on scenarios where a retry loop can be starved forever by an unfair
 * scheduler (a fault refaulting behind a zapper); real bugs need few preemptions
 * (Musuvathi and Qadeer, PLDI 2007), and every result states the bound it holds within.
 */
export const DEFAULT_PREEMPTION_BOUND = 3;

export type Strategy = 'dpor' | 'naive' | 'bfs' | 'random' | 'pct';
export const STRATEGIES: readonly Strategy[] = ['dpor', 'bfs', 'random', 'pct', 'naive'];


export interface SearchOptions {
  readonly strategy?: Strategy;
  /** Stop after this many executions (default 100 000). */
  readonly maxExecutions?: number;
  /** Stop after this many milliseconds of wall time (default: no limit). */
  readonly maxTimeMs?: number;
  /** The preemption bound (default DEFAULT_PREEMPTION_BOUND; Infinity: none). bfs tries 0, 1, ... up to it. */
  readonly maxPreemptions?: number;
  /** random/pct: the seed of the first execution (default 1). */
  readonly seed?: number;
  /** pct: the number of priority-change points plus one (default 3). */
  readonly depth?: number;
  /** Stop at the first violation of any property (default false: search on, one counterexample per property). */
  readonly stopAtFirst?: boolean;
  /** Only these properties count as violations (default: all). */
  readonly properties?: readonly string[];
  /** Called about every `progressEveryMs` of wall time with the statistics so far. */
  readonly onProgress?: (s: SearchStats) => void;
  readonly progressEveryMs?: number;
  /** Polled between executions: true stops the search (Ctrl-C). */
  readonly interrupted?: () => boolean;
  /** Wall clock for budgets and progress (default performance.now). Never used by the model. */
  readonly now?: () => number;
  /**
   * Run one work unit of the search (src/check/units.ts) instead of the whole search.
   * Without it, a Search plans the units, runs them in order and merges their results
   * (the same thing the worker threads compute).
   */
  readonly unit?: WorkUnit;
  /** With `unit`: ms of the whole search already past when this unit's search started (counterexample times count from the whole search's start). */
  readonly startOffsetMs?: number;
}

export interface SearchStats {
  readonly executions: number;
  /** Executions stopped early because every runnable thread was asleep (redundant). */
  readonly sleepBlocked: number;
  /** Executions cut because they passed the preemption bound. */
  readonly pruned: number;
  /** Distinct Mazurkiewicz traces among the complete executions. */
  readonly distinctTraces: number;
  readonly distinctOutcomes: number;
  /** Longest execution, in scheduler steps. */
  readonly maxDepth: number;
  readonly elapsedMs: number;
  /** The bound being searched (bfs). */
  readonly bound: number | null;
}

/** The simplest failing execution found for one property. */
export interface Counterexample {
  readonly property: string;
  readonly message: string;
  readonly choices: readonly number[];
  readonly token: string;
  readonly preemptions: number;
  readonly steps: number;
  /** The 1-based execution that found it (this, the simplest kept). */
  readonly execution: number;
  /**
   * The first execution that broke the property (1-based; the simplest counterexample kept
   * may come from a later one). When, in wall time: SearchResult.firstFoundMs.
   */
  readonly firstExecution: number;
}

export interface SearchResult {
  readonly strategy: Strategy;
  /** The search covered everything within its bounds (exhaustive strategies only). */
  readonly complete: boolean;
  readonly stoppedBy: 'exhausted' | 'max-executions' | 'max-time' | 'interrupted' | 'first-violation' | 'samples';
  readonly stats: SearchStats;
  /** One counterexample per violated property, in BUILTIN order then by name. */
  readonly counterexamples: readonly Counterexample[];
  /** The distinct outcomes reached (canonical texts), sorted. */
  readonly outcomes: readonly string[];
  /** The preemption bound the exhaustive strategies respected (null: unbounded). */
  readonly preemptionBound: number | null;
  /** Per broken property: ms from the search's start to its first counterexample (Counterexample.firstExecution); wall time, so it differs between runs. */
  readonly firstFoundMs: Readonly<Record<string, number>>;
}



/**
 * Running `next` after `prev` (the thread of the previous step, null at the start) is a
 * preemption: a switch away from a thread that could go on (`runnable`: the threads
 * runnable at this step). How every counterexample's `preemptions` is counted.
 */
export function isPreemption(prev: string | null, runnable: readonly string[], next: string): boolean {
  return prev !== null && prev !== next && runnable.includes(prev);
}

/** Fewer preemptions, then fewer steps, then the lexicographically smaller choice list. */
export function simpler(a: Pick<Counterexample, 'preemptions' | 'steps' | 'choices'>, b: Pick<Counterexample, 'preemptions' | 'steps' | 'choices'>): boolean {
  if (a.preemptions !== b.preemptions) return a.preemptions < b.preemptions;
  if (a.steps !== b.steps) return a.steps < b.steps;
  const n = Math.min(a.choices.length, b.choices.length);
  for (let i = 0; i < n; i++) if (a.choices[i] !== b.choices[i]) return (a.choices[i] as number) < (b.choices[i] as number);
  return a.choices.length < b.choices.length;
}

