/**
 * The program under test, as the explorer sees it: one execution driven by an `ExecControl`
 * (which thread runs at each choice, what each step touched), and what it reports back.
 */
import type { Access } from '../kernel/sched/task.js';
import type { KThread } from '../kernel/sched/thread.js';
import type { SchedObserver } from '../kernel/sched/scheduler.js';

/**
 * Thrown out of a run to stop it early: sleep-set blocked, past a bound, or `stopped`
 * (the search's budget ran out or Ctrl-C came in the middle of the execution, which is
 * then dropped: see ExecControl.poll).
 */
export class ExecutionAborted extends Error {
  constructor(readonly why: 'sleep-blocked' | 'bound' | 'stopped') {
    super(why);
    this.name = 'ExecutionAborted';
  }
}

/** The program diverged on replay: the same choices led elsewhere. A model bug. */
export class Nondeterminism extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Nondeterminism';
  }
}

/**
 * One object a step touched, and how. A page table is touched by address range
 * (`lo`..`hi`, end excluded): two touches of it conflict only if their ranges overlap.
 * Without a range a touch covers the whole object.
 */
export interface Touch {
  readonly obj: string;
  readonly access: Access;
  readonly lo?: number;
  readonly hi?: number;
}

/**
 * One recorded scheduler step: its thread, its scheduling point, and its footprint —
 * the point's object plus whatever the program reported the step touched on the way
 * (`ExecControl.touch`: a CPU access through a PTE reaching a device, a DMA reaching a
 * peer's BAR).
 */
export interface TraceStep {
  readonly thread: string;
  readonly op: string;
  readonly touches: Touch[];
}

/** What the engine hands the program for one execution. */
export interface ExecControl {
  /** Index of the thread to run among `runnable` (called only when there is a choice). */
  pick(runnable: readonly KThread[]): number;
  /** Watches every step (set it as the scheduler's observer). */
  readonly observer: SchedObserver;
  /** Must be called once the program knows its threads' names (before the first step). */
  setNameOf(nameOf: (t: KThread) => string): void;
  /**
   * The step being taken touched `obj` (beyond its scheduling point's object); `lo`/`hi`:
   * the address range, for an object touched by range (a page table: always give one).
   */
  touch(obj: string, access: Access, lo?: number, hi?: number): void;
  /**
   * Call at every scheduler step the search does not watch (a setup it does not see):
   * throws ExecutionAborted('stopped') once the search must stop (its time budget spent,
   * Ctrl-C), so that a long execution does not outlast the budget. The observer's
   * `before` does the same for the steps it watches.
   */
  poll?(): void;
}

/** What one execution of the program produced. */
export interface ExecReport {
  /** Broken properties (property id → first message). */
  readonly violations: ReadonlyMap<string, string>;
  /** A canonical text of the final outcome (results, end, violations), for comparing searches. */
  readonly outcome: string;
  /** The run's choices (indexes into the runnable threads at each choice) and its replay token. */
  readonly choices: readonly number[];
  readonly token: string;
}

/** The program under test: runs once per call, driven by `ctl`. May throw ExecutionAborted. */
export type Program = (ctl: ExecControl) => ExecReport;
