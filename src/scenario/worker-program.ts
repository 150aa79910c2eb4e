/**
 * How the scenario layer explores over worker threads (the machinery is src/check/parallel/).
 * A worker cannot receive the program (a closure), so it gets the scenario's text and the
 * plain-data explore options, loads the scenario itself and builds the same program
 * (explore-worker.ts, the worker entry). `checkSuite` hands out whole cells (one scenario
 * under one variant, each explored in-process by a worker) the same way.
 */
import { type CellResult, type LocalCell, runCells as runCellsOn, runCellsSteps as runCellsStepsOn, type WorkerProgram } from '../check/parallel/index.js';
import type { Strategy } from '../check/options.js';
import type { KnobValue } from './variant.js';

/** The worker entry's file URL (compiled next to this file). */
export const EXPLORE_WORKER: string = new URL('./explore-worker.js', import.meta.url).href;

/** The explore options a worker needs to build the program and run units (plain data). */
export interface WorkerExploreOptions {
  readonly variant?: string;
  readonly knobs?: Readonly<Record<string, KnobValue>>;
  readonly maxSteps?: number;
  readonly only?: readonly string[];
  readonly strategy?: Strategy;
  readonly maxPreemptions?: number;
  readonly seed?: number;
  readonly depth?: number;
  readonly stopAtFirst?: boolean;
  readonly noProperty?: readonly string[];
  readonly expectAsProperties?: boolean;
}

/** The keys of WorkerExploreOptions (explore.ts: workerOptions). */
export const WORKER_OPTION_KEYS = ['variant', 'knobs', 'maxSteps', 'only', 'strategy', 'maxPreemptions', 'seed', 'depth', 'stopAtFirst', 'noProperty', 'expectAsProperties'] as const;

/** A whole exploration run by a worker (checkSuite's cells). */
export interface CellOptions extends WorkerExploreOptions {
  readonly maxExecutions?: number;
  readonly maxTimeMs?: number;
}

/** A scenario as a worker reloads it. */
export interface ScenarioSource {
  readonly text: string;
  readonly file: string;
  /** The loaded scenario's hash: the worker checks it got the same scenario. */
  readonly hash: string;
}

/** What a worker gets to build a scenario's program (WorkerProgram.init). */
export interface ScenarioInit {
  readonly source: ScenarioSource;
  readonly options: WorkerExploreOptions;
}

/** What a worker gets to explore one cell. */
export interface ScenarioCell {
  readonly source: ScenarioSource;
  readonly options: CellOptions;
}

/** How a worker builds the program of `source` under `options`. */
export function scenarioWorker(source: ScenarioSource, options: WorkerExploreOptions): WorkerProgram {
  const init: ScenarioInit = { source, options };
  return { entry: EXPLORE_WORKER, init };
}

/**
 * Explore whole scenarios (`cells`) over `workers` threads — this one (`local(i)` makes
 * cell i's exploration here) and `workers` − 1 worker threads; `onResult` sees each
 * result in cell order. Blocks until every cell is done.
 */
export function runCells(cells: readonly ScenarioCell[], workers: number, local: (i: number) => LocalCell, onResult: (i: number, r: CellResult) => void): CellResult[] {
  return runCellsOn(EXPLORE_WORKER, cells, workers, local, onResult);
}

/** runCells in slices (check/parallel/cells.ts: runCellsSteps). */
export function runCellsSteps(
  cells: readonly ScenarioCell[],
  workers: number,
  local: (i: number) => LocalCell,
  onResult: (i: number, r: CellResult) => void,
  interrupted?: () => boolean,
): Generator<void, CellResult[], void> {
  return runCellsStepsOn(EXPLORE_WORKER, cells, workers, local, onResult, interrupted);
}
