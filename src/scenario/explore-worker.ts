/**
 * The explorer's worker thread (src/scenario/parallel.ts starts it): reloads the scenario
 * from its text, builds the program, and runs the units (or whole cells) it is given,
 * posting back plain-data results and progress. Stops between executions when the shared
 * control array says so.
 */
import { type MessagePort, workerData } from 'node:worker_threads';
import { type Program, Search, type SearchOptions } from '../check/search.js';
import { unitOptions } from '../check/units.js';
import { exploreScenario, scenarioProgram, searchOptions } from './explore.js';
import { loadScenario, type Scenario } from './load.js';
import { CTRL_CANCEL_ABOVE, CTRL_NOTIFY, CTRL_STOP, type FromWorker, type ScenarioSource, type ToWorker } from './parallel.js';
import { formatScenarioError } from './source.js';

const { port, ctrl } = workerData as { readonly port: MessagePort; readonly ctrl: Int32Array };

function post(m: FromWorker): void {
  port.postMessage(m);
  Atomics.add(ctrl, CTRL_NOTIFY, 1);
  Atomics.notify(ctrl, CTRL_NOTIFY);
}

const loaded = new Map<string, Scenario>();

function load(src: ScenarioSource): Scenario {
  const key = `${src.file}\u0000${src.text}`;
  let s = loaded.get(key);
  if (s === undefined) {
    const r = loadScenario(src.text, src.file);
    if (!r.ok) throw new Error(`${src.file}: ${r.errors.map(formatScenarioError).join('; ')}`);
    s = r.scenario;
    loaded.set(key, s);
  }
  if (s.hash !== src.hash) throw new Error(`${src.file}: reloaded with hash ${s.hash}, expected ${src.hash}`);
  return s;
}

let program: Program | null = null;
let options: SearchOptions = {};
/** Searches of this search's units that the budget cut (a later pass may resume them). */
const paused = new Map<number, Search>();

function handle(m: ToWorker): void {
  switch (m.type) {
    case 'init': {
      program = scenarioProgram(load(m.source), m.options);
      options = searchOptions(m.options);
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
      const r = exploreScenario(load(m.source), { ...m.options, noReplays: true });
      post({ type: 'cell', id: m.id, counterexamples: r.search.counterexamples, complete: r.search.complete, executions: r.search.stats.executions });
      return;
    }
  }
}

port.on('message', (m: ToWorker) => {
  try {
    handle(m);
  } catch (e) {
    post({ type: 'error', message: e instanceof Error ? e.message : String(e), stack: e instanceof Error ? (e.stack ?? '') : '' });
  }
});
