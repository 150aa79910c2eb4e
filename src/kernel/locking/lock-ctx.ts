import type { EventStream } from '../../events/stream.js';
import type { Scheduler } from '../sched/scheduler.js';
import type { KThread } from '../sched/thread.js';

/** What a lock validator (lockdep) is told; the no-op default validates nothing. */
export interface LockValidator {
  /** Before a thread starts waiting for / taking a lock (lock_acquire). */
  acquire(t: KThread, lockId: string, cls: string, mode: 'r' | 'w', trylock: boolean, fn: string): void;
  /** After a release (lock_release). */
  release(t: KThread, lockId: string, cls: string, mode: 'r' | 'w', fn: string): void;
}

/** Everything a lock needs from its kernel: the scheduler, the event stream, lockdep. */
export interface LockCtx {
  readonly sched: Scheduler;
  readonly events: EventStream;
  validator: LockValidator | null;
}

/** The running thread; locks may only be taken from a thread. */
export function currentThread(ctx: LockCtx): KThread {
  const t = ctx.sched.current;
  if (t === null) throw new Error('lock operation outside a thread');
  return t;
}
