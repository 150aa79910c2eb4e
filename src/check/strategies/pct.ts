/**
 * `pct`: probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi, Nagarakatte,
 * ASPLOS 2010): random thread priorities and d-1 random priority-change points; the
 * highest-priority runnable thread runs. Within a preemption bound when one is given.
 */
import type { SampleStrategy } from './strategy.js';

export const pct: SampleStrategy = {
  kind: 'sample',
  name: 'pct',
  measuresLength: true,
  chooser(rand, depth, length) {
    // priorities d, d+1, ... for threads in order of first appearance (shuffled), change points in [1, k]
    const d = Math.max(1, depth);
    const k = Math.max(1, length);
    const change: number[] = [];
    for (let i = 0; i < d - 1; i++) change.push(1 + Math.floor(rand() * k));
    // a thread's priority is drawn when it first shows up: above every change point's
    const prio = new Map<string, number>();
    return (names, prev, step) => {
      for (const t of names) if (!prio.has(t)) prio.set(t, d + rand());
      const ci = change.indexOf(step);
      if (ci >= 0 && prev !== null) prio.set(prev, ci + 1);
      let best = names[0] as string;
      for (const t of names) if ((prio.get(t) ?? 0) > (prio.get(best) ?? 0)) best = t;
      return best;
    };
  },
};
