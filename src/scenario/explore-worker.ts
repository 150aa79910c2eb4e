/**
 * The explorer's worker thread for scenarios (src/check/parallel/ starts it; worker-program.ts
 * names it): reloads the scenario from its text and builds the program, or explores a whole
 * cell; check/parallel/worker.ts does the rest.
 */
import { serveWorker } from '../check/parallel/worker.js';
import { exploreScenario, scenarioProgram, searchOptions } from './explore.js';
import { loadScenario, type Scenario } from './load.js';
import { formatScenarioError } from './source.js';
import type { ScenarioCell, ScenarioInit, ScenarioSource } from './worker-program.js';

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

serveWorker({
  init(payload) {
    const m = payload as ScenarioInit; // what scenarioWorker() sent
    return { program: scenarioProgram(load(m.source), m.options), options: searchOptions(m.options) };
  },
  cell(payload) {
    const m = payload as ScenarioCell; // what runCells() sent
    const r = exploreScenario(load(m.source), { ...m.options, noReplays: true });
    return { counterexamples: r.search.counterexamples, complete: r.search.complete, executions: r.search.stats.executions };
  },
});
