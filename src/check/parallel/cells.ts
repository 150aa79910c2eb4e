/**
 * Whole explorations ("cells": checkSuite's scenario × variant) over worker threads: handed
 * out in order, one in this thread at a time, results reported in cell order.
 */
import { LOCAL_SLICE_MS } from './parallel-search.js';
import type { CellResult } from './protocol.js';
import { WorkerPool } from './worker-pool.js';

/** A whole exploration this thread runs in slices (one of checkSuite's cells). */
export interface LocalCell {
  step(ms: number): boolean;
  result(): CellResult;
}

/**
 * Run whole explorations (`cells`: what worker threads of `entry` get as each cell's
 * payload, see worker.ts) over `workers` threads — this one (`local(i)` makes cell i's
 * exploration here) and `workers` − 1 worker threads; `onResult` sees each result in cell
 * order. Blocks until every cell is done.
 */
export function runCells(entry: string, cells: readonly unknown[], workers: number, local: (i: number) => LocalCell, onResult: (i: number, r: CellResult) => void): CellResult[] {
  return drain(runCellsSteps(entry, cells, workers, local, onResult));
}

/** Run a sliced computation (a generator yielding between slices) to its end, without pausing. */
export function drain<T>(it: Generator<void, T, void>): T {
  for (;;) {
    const r = it.next();
    if (r.done === true) return r.value;
  }
}

/**
 * runCells in slices: the generator yields after each round (a slice of the local cell,
 * or up to 100 ms waiting for the workers), so a caller can give the event loop a turn
 * (Ctrl-C). Once `interrupted()` is true no cell starts any more: the loop ends when the
 * cells started are done, and returns the results of the cells reported (a prefix, in
 * cell order).
 */
export function* runCellsSteps(
  entry: string,
  cells: readonly unknown[],
  workers: number,
  local: (i: number) => LocalCell,
  onResult: (i: number, r: CellResult) => void,
  interrupted: () => boolean = () => false,
): Generator<void, CellResult[], void> {
  const results: (CellResult | undefined)[] = cells.map(() => undefined);
  if (cells.length === 0) return [];
  const pool = WorkerPool.acquire(Math.max(0, Math.min(workers - 1, cells.length - 1, 63)), entry);
  let next = 0;
  let reported = 0;
  let received = 0;
  let mine: { readonly i: number; readonly cell: LocalCell } | null = null;
  let failed = true;
  try {
    while (reported < cells.length) {
      const stop = interrupted();
      if (stop && mine === null && received === next) break;
      for (let w = pool.idle(); !stop && w !== null && next < cells.length; w = pool.idle()) {
        pool.send(w, { type: 'cell', id: next, payload: cells[next] });
        next++;
      }
      if (!stop && mine === null && next < cells.length) mine = { i: next, cell: local(next++) };
      let wait = 100;
      if (mine !== null) {
        wait = 0;
        if (mine.cell.step(LOCAL_SLICE_MS)) {
          results[mine.i] = mine.cell.result();
          received++;
          mine = null;
        }
      }
      for (const { msg } of pool.receive(wait)) {
        if (msg.type !== 'cell') continue;
        results[msg.id] = { counterexamples: msg.counterexamples, complete: msg.complete, executions: msg.executions };
        received++;
      }
      for (let r = results[reported]; r !== undefined; r = results[reported]) onResult(reported++, r);
      yield;
    }
    failed = false;
  } finally {
    pool.release(failed);
  }
  return results.slice(0, reported) as CellResult[]; // the reported prefix: every slot filled
}
