import type { KThreadRef, SchedPoint, Task, Waitable } from './task.js';
import type { KFile } from '../fs/file.js';

export type ThreadState = 'idle' | 'runnable' | 'blocked' | 'done' | 'dead';

/** A lock a thread holds, for lockdep and diagnostics (the kernel's held_lock). */
export interface HeldLock {
  readonly lockId: string;
  readonly cls: string;
  readonly mode: 'r' | 'w';
  readonly trylock: boolean;
  readonly fn: string;
}

/** A schedulable thread (task_struct): runs one task at a time. */
export class KThread implements KThreadRef {
  state: ThreadState = 'idle';
  task: Task<unknown> | null = null;
  /** The step this thread will take when next scheduled (valid while runnable). */
  next: SchedPoint | null = null;
  /** What it sleeps on (valid while blocked). */
  blockedOn: Waitable | null = null;
  /** Result of the last completed task. */
  result: unknown = undefined;
  /** Locks held, in acquisition order (lockdep's held_locks). */
  readonly held: HeldLock[] = [];
  /** Why the thread died (kernel BUG/oops), if it did. */
  deathReason: string | null = null;
  /** Free-form label of what the thread is doing (scenario step), for reports. */
  label = '';
  /** Set while a page fault handler runs for this thread (lockdep's might_fault context). */
  inFault = 0;
  /**
   * task_struct.task_works: the files whose __fput fput queued on this task
   * (task_work_add), run by task_work_run at return to user space or exit (the fs
   * layer, src/kernel/fs/file.ts, is the only one that queues work).
   */
  readonly taskWorks: KFile[] = [];

  constructor(
    readonly tid: number,
    readonly name: string,
    /** The process (or null for a kernel thread); typed by the owner layer. */
    readonly owner: unknown,
  ) {}

  holds(lockId: string): boolean {
    return this.held.some((h) => h.lockId === lockId);
  }
}
