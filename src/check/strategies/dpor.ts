/**
 * `dpor`: source-set dynamic partial-order reduction with sleep sets (Abdulla, Aronis,
 * Jonsson, Sagonas, "Optimal dynamic partial order reduction", POPL 2014, Algorithm 1).
 * Two steps are dependent iff they touch the same object and one of them writes.
 * Happens-before is program order, dependence, and "enabled by" (the step that woke a
 * sleeping thread or started a new one). After every execution, each race (e ⋖ j:
 * dependent, different threads, no step ordered between them) adds an initial of
 * notdep(e).j to the backtrack set before e unless one is there already.
 *
 * Under a preemption bound two things change. A reversal also gets a backtrack point where
 * the run of steps before e began, where switching is free (bounded POR, Coons, Musuvathi,
 * McKinley, OOPSLA 2013). And a thread is put to sleep only when its subtree was explored
 * without the bound cutting anything (the engine's `boundCut`): the sleep set's promise
 * ("every trace starting with this step was covered") fails when the covering subtree had
 * to drop a trace that costs one preemption more there than here. Without this rule a
 * 3-thread scenario lost one of its ten outcomes at 2 preemptions. And a race counts as
 * covered only by an initial the bound lets run at that point (else the reversal is
 * scheduled with one it does): without this, the same scenario lost one trace class.
 */
import type { TraceStep } from '../program.js';
import { dependent, type Trace } from '../trace.js';
import type { TreeStrategy, TreeView } from './strategy.js';

export const dpor: TreeStrategy = {
  kind: 'tree',
  name: 'dpor',
  backtrackAll: false,
  sleepSets: true,
  risingBound: false,
  afterExecution: addRaces,
};

/** Source-DPOR: for every race ending at a new step, make sure the reversal is scheduled. */
function addRaces(view: TreeView, tr: Trace): boolean {
  const n = tr.steps.length;
  for (let j = Math.max(1, view.divergence); j < n; j++) {
    // a long trace takes long: the search's budget covers it (the search then stops here)
    if ((j & 63) === 0 && view.interrupted()) return false;
    const sj = tr.steps[j] as TraceStep;
    for (const i of tr.preds[j] as number[]) {
      const si = tr.steps[i] as TraceStep;
      if (si.thread === sj.thread || !dependent(si, sj)) continue;
      if (tr.enabler[j] === i) continue; // j's thread was woken/started by i: not reversible
      // a race needs no step ordered between i and j
      let direct = true;
      for (const d of tr.preds[j] as number[]) {
        if (d !== i && d > i && tr.hb(i, d)) {
          direct = false;
          break;
        }
      }
      if (!direct) continue;
      const node = view.nodes[i];
      if (node === undefined) continue;
      // v = notdep(i).j: the steps after i not ordered after it, then j; its initials
      const inV: number[] = [];
      for (let x = i + 1; x < j; x++) if (!tr.hb(i, x)) inV.push(x);
      inV.push(j);
      const initials: string[] = [];
      const firstPos = new Map<number, number>();
      for (const x of inV) {
        const tx = tr.tix[x] as number;
        let hasPred = false;
        const c = tr.clocks[x] as Int32Array;
        for (const [ti, p] of firstPos) {
          if ((c[ti] ?? 0) > p && !(ti === tx && p === tr.pos[x])) {
            hasPred = true;
            break;
          }
        }
        if (!firstPos.has(tx)) firstPos.set(tx, tr.pos[x] as number);
        const name = tr.steps[x]?.thread as string;
        if (!hasPred && !initials.includes(name)) initials.push(name);
      }
      // under a bound, an initial whose switch the bound forbids here covers nothing: only
      // an affordable one already scheduled makes the race covered, and one is preferred
      const affordable = (t: string): boolean => node.runnable.includes(t) && view.preemptionsOf(node, t) <= view.bound;
      if (initials.some((t) => node.backtrack.has(t) && affordable(t))) continue;
      const pref = initials.find((t) => t === sj.thread && affordable(t)) ?? initials.find(affordable) ?? initials.find((t) => t === sj.thread) ?? initials.find((t) => node.runnable.includes(t));
      if (pref !== undefined && node.runnable.includes(pref)) node.backtrack.add(pref);
      else for (const t of node.runnable) node.backtrack.add(t);
      // bounded POR (Coons, Musuvathi, McKinley, OOPSLA 2013): with a preemption bound the
      // reversal at i may cost a preemption the bound forbids, so also try the thread where
      // the run of steps before i began, where switching to it is no preemption
      if (view.bound !== Infinity && pref !== undefined && i > 0) {
        let b = i - 1;
        const runner = tr.steps[b]?.thread;
        while (b > 0 && tr.steps[b - 1]?.thread === runner) b--;
        const nb = view.nodes[b];
        if (nb !== undefined && b !== i && nb.runnable.includes(pref)) nb.backtrack.add(pref);
      }
    }
  }
  return true;
}
