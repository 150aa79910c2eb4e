/**
 * Shrinking a counterexample: the search keeps the simplest failing execution it
 * happened to meet (a random sample can carry dozens of needless preemptions); the
 * shrinker rewrites its schedule until no rewrite it knows still breaks the property
 * with a simpler execution (`simpler`: fewer preemptions, then fewer steps, then the
 * smaller choice list).
 *
 * The schedule is handled as the sequence of thread names that took each scheduler step,
 * cut into blocks (maximal runs of one thread). A candidate is a rewritten sequence; it is
 * run with a chooser that, at step k, runs the k-th listed thread if it is runnable,
 * otherwise keeps running the previous thread if it can, otherwise the first runnable one
 * (so past the end of the list the run goes on without preemptions). The rewrites, tried
 * in this order on the current schedule:
 *
 * 1. cut: drop a preemption and every later one (the run then goes on without them);
 * 2. re-time: keep a preemption but take it 1, 2, ... steps earlier or later (the
 *    preempted thread running less or more first), dropping every later one — a sampled
 *    schedule rarely switches at the one step the race needs, and a near miss leaves
 *    extra preemptions that only move it there;
 * 3. finish a run: at a preemption, let the preempted thread take its later steps first;
 * 4. merge: join two runs of a thread separated by other threads' steps, by moving the
 *    later run up to the earlier one, or the earlier one down to the later one (the steps
 *    between then come after, or before, both);
 * 5. swap two neighbouring blocks.
 *
 * Runs go to the end whatever the schedule (the program decides when they stop), so steps
 * shrink mostly by fewer switches (fewer lock hand-overs, sleeps and wake-ups).
 *
 * A candidate is accepted iff its execution still breaks the same property and is simpler
 * than the current counterexample; the rewrites are then generated afresh from the
 * accepted execution's actual schedule. It stops at a fixpoint (no candidate accepted) or
 * when the attempt budget is spent. The result comes from the accepting execution's own
 * report (choices, replay token, message), with preemptions and steps counted as the
 * search counts them, so it replays exactly. Deterministic: the same program and
 * counterexample give the same result.
 */
import type { KThread } from '../kernel/sched/thread.js';
import { type Counterexample, isPreemption, simpler } from './options.js';
import { type ExecControl, ExecutionAborted, type ExecReport, type Program } from './program.js';

/** The default budget of program executions. */
export const DEFAULT_SHRINK_ATTEMPTS = 500;

export interface ShrinkOptions {
  /** Program executions the shrinker may spend, the replay of the input included (default 500). */
  readonly maxAttempts?: number;
  /**
   * The caller's budget (time, Ctrl-C): polled before each attempt and every 256 steps
   * of one; once true the shrinker stops and returns the simplest counterexample so far.
   */
  readonly stop?: () => boolean;
}

export interface ShrinkResult {
  /** The shrunk counterexample (the input itself when nothing simpler was found). */
  readonly counterexample: Counterexample;
  /** Program executions run (the replay of the input included). */
  readonly attempts: number;
  /** Candidates accepted (each strictly simpler than the one before). */
  readonly accepted: number;
  /** The input replayed and still broke its property (false: it is returned unchanged). */
  readonly reproduced: boolean;
  /** The result's schedule: the thread that took each scheduler step. */
  readonly schedule: readonly string[];
  /** Whether the search stopped at a fixpoint (true) or on the budget (false). */
  readonly fixpoint: boolean;
}

/** One guided execution: its schedule, its counts, its report. */
interface Exec {
  /** The thread of each step begun (a step cut short by a halt included). */
  readonly names: readonly string[];
  /** Per step begun: it was a preemption. */
  readonly preempts: readonly boolean[];
  readonly preemptions: number;
  /** Steps taken (as the search counts them: steps whose `after` was seen). */
  readonly steps: number;
  readonly report: ExecReport | null;
}

/**
 * Run the program once. `replay`: follow these choices (indexes into the runnable threads
 * at each choice); otherwise follow `seq` as described at the top.
 */
function execute(program: Program, seq: readonly string[], replay: readonly number[] | null, stop: () => boolean = () => false): Exec {
  let nameOf: (t: KThread) => string = (t) => t.name;
  let polls = 0;
  const poll = (): void => {
    if ((++polls & 255) === 0 && stop()) throw new ExecutionAborted('stopped');
  };
  const names: string[] = [];
  const preempts: boolean[] = [];
  let prev: string | null = null;
  let preemptions = 0;
  let steps = 0;
  let ci = 0;
  const ctl: ExecControl = {
    poll,
    setNameOf(f) {
      nameOf = f;
    },
    touch() {
      // the shrinker needs no footprints
    },
    pick(runnable) {
      if (replay !== null) {
        const c = replay[ci++];
        return c !== undefined && c < runnable.length ? c : 0;
      }
      const want = seq[names.length];
      let i = want === undefined ? -1 : runnable.findIndex((t) => nameOf(t) === want);
      if (i < 0 && prev !== null) i = runnable.findIndex((t) => nameOf(t) === prev);
      return i < 0 ? 0 : i;
    },
    observer: {
      before(runnable, t) {
        poll();
        const name = nameOf(t);
        const p = isPreemption(prev, runnable.map(nameOf), name);
        if (p) preemptions++;
        preempts.push(p);
        names.push(name);
      },
      after(t) {
        prev = nameOf(t);
        steps++;
      },
    },
  };
  let report: ExecReport | null = null;
  try {
    report = program(ctl);
  } catch (e) {
    // the program only aborts when its control asks it to: when `stop` says so
    if (!(e instanceof ExecutionAborted)) throw e;
  }
  return { names, preempts, preemptions, steps, report };
}

interface Block {
  readonly thread: string;
  readonly start: number;
  readonly len: number;
}

function blocksOf(seq: readonly string[]): Block[] {
  const out: Block[] = [];
  let i = 0;
  while (i < seq.length) {
    const t = seq[i] as string;
    let j = i + 1;
    while (j < seq.length && seq[j] === t) j++;
    out.push({ thread: t, start: i, len: j - i });
    i = j;
  }
  return out;
}

function flatten(seq: readonly string[], order: readonly Block[]): string[] {
  const out: string[] = [];
  for (const b of order) for (let i = 0; i < b.len; i++) out.push(seq[b.start + i] as string);
  return out;
}

/**
 * The rewrites of a schedule, in the order they are tried. `preempts[k]`: step k was a
 * preemption (a switch away from a thread that could have gone on).
 */
function* candidates(seq: readonly string[], preempts: readonly boolean[]): Generator<string[]> {
  const pre: number[] = [];
  for (let q = 1; q < seq.length; q++) if (preempts[q] === true) pre.push(q);
  // 1. cut: drop the i-th preemption and every later one (the run goes on without them)
  for (const q of pre) yield seq.slice(0, q);
  // 2. re-time: keep the i-th preemption but take it a few steps earlier or later, and drop
  //    every later one (nearest first; the exact step it needs is rarely the one sampled)
  for (const q of pre) {
    const x = seq[q - 1] as string;
    const y = seq[q] as string;
    let start = q - 1;
    while (start > 0 && seq[start - 1] === x) start--;
    let laterX = 0;
    for (let k = q; k < seq.length; k++) if (seq[k] === x) laterX++;
    yield [...seq.slice(0, q), y];
    for (let d = 1; q - d >= start || d <= laterX; d++) {
      if (q - d >= start) yield [...seq.slice(0, q - d), y];
      if (d <= laterX) yield [...seq.slice(0, q), ...new Array<string>(d).fill(x), y];
    }
  }
  const bs = blocksOf(seq);
  const m = bs.length;
  // 3. finish a run: at a preemption, the preempted thread's later steps first
  for (const q of pre) {
    const x = seq[q - 1] as string;
    const rest = seq.slice(q);
    yield [...seq.slice(0, q), ...rest.filter((t) => t === x), ...rest.filter((t) => t !== x)];
  }
  // 4. merge two runs of a thread: the later one up, or the earlier one down
  for (let j = 2; j < m; j++) {
    const x = (bs[j] as Block).thread;
    let i = j - 1;
    while (i >= 0 && (bs[i] as Block).thread !== x) i--;
    if (i < 0 || i === j - 1) continue;
    const between = bs.slice(i + 1, j);
    yield flatten(seq, [...bs.slice(0, i + 1), bs[j] as Block, ...between, ...bs.slice(j + 1)]);
    yield flatten(seq, [...bs.slice(0, i), ...between, bs[i] as Block, ...bs.slice(j)]);
  }
  // 5. swap neighbouring blocks
  for (let i = 0; i + 1 < m; i++) {
    yield flatten(seq, [...bs.slice(0, i), bs[i + 1] as Block, bs[i] as Block, ...bs.slice(i + 2)]);
  }
}

/** What one replay of a choice list gave: the schedule, the counts, the program's report. */
export interface Replayed {
  /** The thread of each scheduler step begun. */
  readonly schedule: readonly string[];
  /** Counted as the search counts them. */
  readonly preemptions: number;
  readonly steps: number;
  readonly report: ExecReport | null;
}

/** Run `program` once following `choices` (as a replay token does) and count its preemptions and steps. */
export function replayChoices(program: Program, choices: readonly number[]): Replayed {
  const e = execute(program, [], choices);
  return { schedule: e.names, preemptions: e.preemptions, steps: e.steps, report: e.report };
}

/** Shrink `cx` (found on `program`) and say how. */
export function shrink(program: Program, cx: Counterexample, opts: ShrinkOptions = {}): ShrinkResult {
  const budget = Math.max(1, opts.maxAttempts ?? DEFAULT_SHRINK_ATTEMPTS);
  let attempts = 1;
  const stop = opts.stop ?? ((): boolean => false);
  const first = execute(program, [], cx.choices, stop);
  if (first.report === null || !first.report.violations.has(cx.property)) {
    return { counterexample: cx, attempts, accepted: 0, reproduced: false, schedule: first.names, fixpoint: true };
  }
  let current = cx;
  let seq = first.names;
  let preempts = first.preempts;
  let accepted = 0;
  const tried = new Set<string>();
  tried.add(seq.join('\n'));
  for (;;) {
    let improved = false;
    for (const cand of candidates(seq, preempts)) {
      const key = cand.join('\n');
      if (tried.has(key)) continue;
      if (attempts >= budget || stop()) return { counterexample: current, attempts, accepted, reproduced: true, schedule: seq, fixpoint: false };
      tried.add(key);
      attempts++;
      const e = execute(program, cand, null, stop);
      const r = e.report;
      if (r === null) continue;
      const message = r.violations.get(cx.property);
      if (message === undefined) continue;
      const next: Counterexample = { property: cx.property, message, choices: r.choices, token: r.token, preemptions: e.preemptions, steps: e.steps, execution: cx.execution, firstExecution: cx.firstExecution };
      if (!simpler(next, current)) continue;
      current = next;
      accepted++;
      seq = e.names;
      preempts = e.preempts;
      tried.add(seq.join('\n'));
      improved = true;
      break;
    }
    if (!improved) return { counterexample: current, attempts, accepted, reproduced: true, schedule: seq, fixpoint: true };
  }
}

/** The simplest counterexample the shrinker reaches from `cx` (see `shrink`). */
export function shrinkCounterexample(program: Program, cx: Counterexample, opts: ShrinkOptions = {}): Counterexample {
  return shrink(program, cx, opts).counterexample;
}
