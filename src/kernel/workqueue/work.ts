/**
 * A work item on the system workqueue (include/linux/workqueue.h, 5.8), reduced to what
 * the model needs: schedule_work() queues it once (a second call while it is pending is
 * a no-op) and a kworker thread runs it later, under the scheduler like any thread. Each
 * work item gets its own kworker so the scheduler can interleave it with user threads.
 */
import type { Kernel } from '../kernel.js';
import type { KThread } from '../sched/thread.js';
import type { Task } from '../sched/task.js';

export class WorkStruct {
  /** WORK_STRUCT_PENDING: queued and not yet started. */
  pending = false;
  private worker: KThread | null = null;
  /** Times the work function has run (for reports and tests). */
  runs = 0;

  constructor(
    private readonly k: Kernel,
    readonly name: string,
    private readonly func: () => Task<void>,
  ) {}

  /** schedule_work (include/linux/workqueue.h, 5.8): false if already pending. */
  schedule(): boolean {
    if (this.pending) return false;
    this.pending = true;
    const w = this.worker ?? (this.worker = this.k.sched.spawn(`kworker/${this.name}`));
    if (w.state !== 'runnable' && w.state !== 'blocked') this.k.sched.start(w, this.loop(), `work ${this.name}`);
    return true;
  }

  /** process_one_work (kernel/workqueue.c, 5.8): repeated while the item was re-queued during its run. */
  private *loop(): Task<void> {
    while (this.pending) {
      this.pending = false;
      this.runs++;
      yield* this.func();
    }
  }

  /** flush_work: true when nothing is queued or running (the model cannot wait from sync code). */
  idle(): boolean {
    const w = this.worker;
    return !this.pending && (w === null || (w.state !== 'runnable' && w.state !== 'blocked'));
  }
}
