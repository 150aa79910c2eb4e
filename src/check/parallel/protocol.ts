/**
 * What the calling thread and the explorer's worker threads say to each other (plain data,
 * posted over a MessagePort), and the slots of the shared control array the workers poll.
 *
 * The check layer does not know what a program is built from: `init` and `cell` carry the
 * payload of the layer that started the workers (a scenario's text and options, for
 * src/scenario), which its worker entry reads (worker.ts: `serveWorker`).
 */
import type { Counterexample, SearchStats } from '../options.js';
import type { UnitResult } from '../units.js';
import type { WorkUnit } from '../work-unit.js';

/**
 * How a worker builds the program: the worker entry module (it calls `serveWorker`) and the
 * plain data its `init` hook gets.
 */
export interface WorkerProgram {
  /** The entry module's file URL (`new URL('./worker.js', import.meta.url).href`). */
  readonly entry: string;
  readonly init: unknown;
}

export type ToWorker =
  | { readonly type: 'init'; readonly payload: unknown }
  /** Run a unit with this budget; `resume`: go on with the unit's search this worker ran before (the budget cut it). */
  | { readonly type: 'unit'; readonly unit: WorkUnit; readonly maxExecutions: number; readonly resume: boolean; readonly startOffsetMs: number }
  | { readonly type: 'cell'; readonly id: number; readonly payload: unknown };

/** What a whole exploration (a cell) found. */
export interface CellResult {
  readonly counterexamples: readonly Counterexample[];
  readonly complete: boolean;
  readonly executions: number;
}

export type FromWorker =
  | { readonly type: 'progress'; readonly index: number; readonly stats: SearchStats }
  | { readonly type: 'unit'; readonly result: UnitResult }
  | ({ readonly type: 'cell'; readonly id: number } & CellResult)
  | { readonly type: 'error'; readonly message: string; readonly stack: string };

/** Slots of the shared control array. */
export const CTRL_NOTIFY = 0;
/** Non-zero: every unit stops (interrupted, time budget). */
export const CTRL_STOP = 1;
/** Units with a higher index stop (an earlier unit stopped at its first violation). */
export const CTRL_CANCEL_ABOVE = 2;
