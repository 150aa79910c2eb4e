import type { EventStream } from '../../events/stream.js';
import type { Scheduler } from '../sched/scheduler.js';
import type { KThread } from '../sched/thread.js';

/** The kind of a lock, as its init function declares it (mutex_init, init_rwsem): reports name its primitives. */
export type LockKind = 'mutex' | 'rwsem' | 'rwlock';

/** What a lock validator (lockdep) is told; the no-op default validates nothing. */
export interface LockValidator {
  /** Before a thread starts waiting for / taking a lock (lock_acquire). */
  acquire(t: KThread, lockId: string, cls: string, mode: 'r' | 'w', trylock: boolean, fn: string, slot?: LockSlot): void;
  /** After a release (lock_release). */
  release(t: KThread, lockId: string, cls: string, mode: 'r' | 'w', fn: string): void;
  /** A held write lock became a read lock (lock_downgrade, from downgrade_write). */
  downgrade?(t: KThread, lockId: string, cls: string, fn: string): void;
  /**
   * might_fault (__might_fault, mm/memory.c): the caller may take its mm's mmap_lock for
   * read; the validator sees a read acquisition and release without the lock being taken.
   */
  mightFault?(t: KThread, lockId: string, cls: string, fn: string, slot?: LockSlot): void;
  /** A lock was created (mutex_init / init_rwsem: lockdep_init_map); tells the validator its kind. */
  lockInit?(lockId: string, cls: string, kind: LockKind): void;
}

/**
 * Room in a lock object for a validator's own view of the lock (lockdep keeps the lock's
 * class there instead of looking it up by name at every acquisition, and its last held
 * entry). `vowner` is the validator that filled it; others ignore it.
 */
export interface LockSlot {
  vowner: unknown;
  vclass: unknown;
  /** The validator's records of this lock's recent acquisitions (lockdep reuses them once released). */
  ventry: unknown;
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
