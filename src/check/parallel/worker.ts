/**
 * The explorer's side of a worker thread: `serveWorker(hooks)` answers the calling thread's
 * messages (protocol.ts) — builds the program once per search (`hooks.init`), runs the units
 * it is given and posts back plain-data results and progress, runs whole cells
 * (`hooks.cell`) — and stops between executions when the shared control array says so.
 * A layer that explores in parallel has a worker entry module that calls it (the scenario
 * layer's: src/scenario/explore-worker.ts).
 */
import { type MessagePort, workerData } from 'node:worker_threads';
import type { SearchOptions } from '../options.js';
import type { Program } from '../program.js';
import { Search } from '../search.js';
import { unitOptions } from '../units.js';
import { type CellResult, CTRL_CANCEL_ABOVE, CTRL_NOTIFY, CTRL_STOP, type FromWorker, type ToWorker } from './protocol.js';

/** What a worker entry supplies. */
export interface WorkerHooks {
  /** Build the program and the search options from WorkerProgram.init's payload. */
  init(payload: unknown): { readonly program: Program; readonly options: SearchOptions };
  /** Run one whole exploration from a cell's payload (runCells). */
  cell(payload: unknown): CellResult;
}

/** Serve the calling thread's messages with `hooks` (call once, from the worker entry module). */
export function serveWorker(hooks: WorkerHooks): void {
  const { port, ctrl } = workerData as { readonly port: MessagePort; readonly ctrl: Int32Array };

  const post = (m: FromWorker): void => {
    port.postMessage(m);
    Atomics.add(ctrl, CTRL_NOTIFY, 1);
    Atomics.notify(ctrl, CTRL_NOTIFY);
  };

  let program: Program | null = null;
  let options: SearchOptions = {};
  /** Searches of this search's units that the budget cut (a later pass may resume them). */
  const paused = new Map<number, Search>();

  const handle = (m: ToWorker): void => {
    switch (m.type) {
      case 'init': {
        const built = hooks.init(m.payload);
        program = built.program;
        options = built.options;
        paused.clear();
        return;
      }
      case 'unit': {
        if (program === null) throw new Error('a unit before init');
        const index = m.unit.index;
        const stop = (): boolean => Atomics.load(ctrl, CTRL_STOP) !== 0 || index > Atomics.load(ctrl, CTRL_CANCEL_ABOVE);
        const old = m.resume ? paused.get(index) : undefined;
        if (m.resume && old === undefined) throw new Error(`no search to resume for unit ${index}`);
        old?.extend(m.maxExecutions);
        const search =
          old ??
          new Search(program, {
            ...unitOptions(options, m.unit, m.maxExecutions, stop),
            startOffsetMs: m.startOffsetMs,
            onProgress: (stats) => post({ type: 'progress', index, stats }),
            progressEveryMs: 250,
          });
        search.step();
        const result = search.unitResult();
        if (result.stoppedBy === 'max-executions') paused.set(index, search);
        else paused.delete(index);
        post({ type: 'unit', result });
        return;
      }
      case 'cell': {
        const r = hooks.cell(m.payload);
        post({ type: 'cell', id: m.id, counterexamples: r.counterexamples, complete: r.complete, executions: r.executions });
        return;
      }
    }
  };

  port.on('message', (m: ToWorker) => {
    try {
      handle(m);
    } catch (e) {
      post({ type: 'error', message: e instanceof Error ? e.message : String(e), stack: e instanceof Error ? (e.stack ?? '') : '' });
    }
  });
}
