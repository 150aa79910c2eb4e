/**
 * Synthetic locks for the lockdep tests: a lock context with its own scheduler, event
 * stream and validator, real Mutex / RwSemaphore instances, and a recursive-read lock
 * (an rwlock whose readers are lockdep "recursive readers", read = 2) that only tells the
 * validator (its waiting behaviour is not needed by serial runs).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { EventStream } from '../../src/events/stream.js';
import { Lockdep, type LockdepOptions } from '../../src/kernel/lockdep/lockdep.js';
import { currentThread, type LockCtx } from '../../src/kernel/locking/lock-ctx.js';
import { Mutex } from '../../src/kernel/locking/mutex.js';
import { RwSemaphore } from '../../src/kernel/locking/rwsem.js';
import { Scheduler } from '../../src/kernel/sched/scheduler.js';
import type { Task } from '../../src/kernel/sched/task.js';
import type { KThread } from '../../src/kernel/sched/thread.js';

/** A lock whose read side is a recursive reader for lockdep (read_lock in irq context, rcu_read_lock-like). */
export class RecursiveRwLock {
  constructor(
    private readonly ctx: LockCtx,
    private readonly ld: Lockdep,
    readonly cls: string,
    readonly id: string,
  ) {
    ld.lockInit(id, cls, 'rwlock');
  }

  *readLock(fn: string): Task<void> {
    yield { op: 'read_lock', obj: this.id, access: 'r' };
    this.ld.lockAcquire(currentThread(this.ctx), this.id, this.cls, 2, false, fn);
  }

  *writeLock(fn: string): Task<void> {
    yield { op: 'write_lock', obj: this.id, access: 'w' };
    this.ld.lockAcquire(currentThread(this.ctx), this.id, this.cls, 0, false, fn);
  }

  *unlock(fn: string): Task<void> {
    yield { op: 'unlock', obj: this.id, access: 'w' };
    this.ld.lockRelease(currentThread(this.ctx), this.id, fn);
  }
}

export interface LockWorld {
  readonly ld: Lockdep;
  readonly events: EventStream;
  readonly sched: Scheduler;
  readonly ctx: LockCtx;
  mutex(cls: string, id?: string): Mutex;
  rwsem(cls: string, id?: string): RwSemaphore;
  rwlock(cls: string, id?: string): RecursiveRwLock;
  thread(name: string): KThread;
  /** Run `body` to completion on `t` as scenario step `label` (no other thread runs). */
  run(t: KThread, label: string, body: () => Task<void>): void;
}

/** A fresh lock context with lockdep on. */
export function world(opts: LockdepOptions = {}): LockWorld {
  const events = new EventStream();
  const sched = new Scheduler(events, () => null);
  const ld = new Lockdep(events, opts);
  const ctx: LockCtx = { sched, events, validator: ld };
  return {
    ld,
    events,
    sched,
    ctx,
    mutex(cls, id = cls) {
      ld.lockInit(id, cls, 'mutex');
      return new Mutex(ctx, cls, id);
    },
    rwsem(cls, id = cls) {
      ld.lockInit(id, cls, 'rwsem');
      return new RwSemaphore(ctx, cls, id);
    },
    rwlock(cls, id = cls) {
      return new RecursiveRwLock(ctx, ld, cls, id);
    },
    thread(name) {
      return sched.spawn(name);
    },
    run(t, label, body) {
      sched.runSync(t, body(), label);
    },
  };
}

/**
 * The checked-in expected text `name` (test/lockdep/expected/), compared by the caller.
 * With UPDATE_EXPECTED=1 the file is rewritten from `actual` first.
 */
export function expectedText(name: string, actual: string): string {
  // compiled to dist/test/lockdep/: the sources are three levels up
  const url = new URL(`../../../test/lockdep/expected/${name}`, import.meta.url);
  if (process.env['UPDATE_EXPECTED'] === '1') writeFileSync(url, actual);
  return readFileSync(url, 'utf8');
}
