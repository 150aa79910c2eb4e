/** Parallel search: the explorer's worker threads (see parallel-search.ts, cells.ts, worker.ts). */
export { ParallelSearch } from './parallel-search.js';
export { drain, runCells, runCellsSteps, type LocalCell } from './cells.js';
export { WorkerPool } from './worker-pool.js';
export { serveWorker, type WorkerHooks } from './worker.js';
export type { CellResult, WorkerProgram } from './protocol.js';
