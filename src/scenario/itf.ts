/**
 * A run as a trace in the Informal Trace Format of Apalache/Quint (ITF): one state per
 * event, the thread that ran and what happened. `explore --json` gives one per
 * counterexample; the web UI's trace viewer exports one.
 */
import type { SimEvent } from '../events/event.js';
import { describe } from '../events/format.js';
import type { RunResult } from './run.js';

/** An ITF state per event of `run`: its sequence number, thread, kind and text. */
export function itf(run: RunResult, description: string): unknown {
  const big = (n: number): unknown => ({ '#bigint': String(n) });
  return {
    '#meta': { format: 'ITF', 'format-description': 'https://apalache-mc.org/docs/adr/015adr-trace.html', source: run.scenario.file, description },
    vars: ['seq', 'thread', 'kind', 'text'],
    states: run.events.map((e: SimEvent, i) => ({
      '#meta': { index: i },
      seq: big(e.seq),
      thread: run.threadOfTid.get(e.tid) ?? (e.tid === 0 ? '(kernel)' : `tid ${e.tid}`),
      kind: e.kind,
      text: describe(e),
    })),
  };
}
