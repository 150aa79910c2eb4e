import { KernelBug } from '../sched/errors.js';
import type { SchedPoint, Task, Waitable } from '../sched/task.js';
import type { HeldLock, KThread } from '../sched/thread.js';
import { currentThread, type LockCtx, type LockSlot } from './lock-ctx.js';

/**
 * A sleeping mutex (kernel/locking/mutex.c, modelled): FIFO waiters with direct
 * hand-off to the first waiter on unlock (the kernel may let a spinner steal; the
 * model always hands off, which is one of the kernel's legal outcomes).
 */
export class Mutex implements Waitable, LockSlot {
  owner: KThread | null = null;
  /** The validator's view of this lock (LockSlot). */
  vowner: unknown = null;
  vclass: unknown = null;
  ventry: unknown = null;
  readonly waiters: KThread[] = [];
  // the scheduling points, made on first use (most locks of a machine are never taken)
  private pLock_: SchedPoint | null = null;
  private pUnlock_: SchedPoint | null = null;
  private readonly records: HeldRecords;

  constructor(
    private readonly ctx: LockCtx,
    /** Lock class, lockdep-style: e.g. '&vdev->vma_lock'. */
    readonly cls: string,
    /** Unique instance id, e.g. 'vma_lock:0000:01:00.0'. */
    readonly id: string,
  ) {
    this.records = new HeldRecords(id, cls);
  }

  /** The scheduling point of mutex_lock / mutex_trylock. */
  private get pLock(): SchedPoint {
    if (this.pLock_ === null) this.pLock_ = { op: 'lock', obj: this.id, access: 'w' };
    return this.pLock_;
  }

  /** The scheduling point of mutex_unlock. */
  private get pUnlock(): SchedPoint {
    if (this.pUnlock_ === null) this.pUnlock_ = { op: 'unlock', obj: this.id, access: 'w' };
    return this.pUnlock_;
  }

  holders(): readonly KThread[] {
    return this.owner === null ? [] : [this.owner];
  }

  isLocked(): boolean {
    return this.owner !== null;
  }

  /** mutex_lock (kernel/locking/mutex.c, 5.8): sleep until the mutex is ours. */
  *lock(fn: string): Task<void> {
    if (!this.ctx.sched.passPoint()) yield this.pLock;
    const t = currentThread(this.ctx);
    this.ctx.validator?.acquire(t, this.id, this.cls, 'w', false, fn, this);
    if (this.owner === t) {
      // A real mutex would hang forever here; lockdep would have said so already.
      this.ctx.events.emit({ kind: 'lock.contended', lock: this.id, cls: this.cls, mode: 'w', fn });
      this.waiters.push(t);
      yield { block: true, on: this };
      throw new KernelBug(`recursive mutex_lock of ${this.id}`, fn);
    }
    if (this.owner !== null) {
      this.ctx.events.emit({ kind: 'lock.contended', lock: this.id, cls: this.cls, mode: 'w', fn });
      this.waiters.push(t);
      yield { block: true, on: this };
      // handed off to us by unlock()
    } else {
      this.owner = t;
    }
    t.held.push(this.records.get('w', false, fn));
    const ev = this.ctx.events;
    if (ev.active) ev.emit({ kind: 'lock.acquire', lock: this.id, cls: this.cls, mode: 'w', trylock: false, fn });
    else ev.skipCounted(ev.hot.lockAcquire);
  }

  /** mutex_trylock (kernel/locking/mutex.c, 5.8): take it if free, never sleep. */
  *trylock(fn: string): Task<boolean> {
    if (!this.ctx.sched.passPoint()) yield this.pLock;
    const t = currentThread(this.ctx);
    if (this.owner !== null) {
      this.ctx.events.emit({ kind: 'lock.trylock-failed', lock: this.id, cls: this.cls, mode: 'w', fn });
      return false;
    }
    this.ctx.validator?.acquire(t, this.id, this.cls, 'w', true, fn, this);
    this.owner = t;
    t.held.push(this.records.get('w', true, fn));
    this.ctx.events.emit({ kind: 'lock.acquire', lock: this.id, cls: this.cls, mode: 'w', trylock: true, fn });
    return true;
  }

  /** mutex_unlock (kernel/locking/mutex.c, 5.8): release and hand off to the first waiter. */
  *unlock(fn: string): Task<void> {
    if (!this.ctx.sched.passPoint()) yield this.pUnlock;
    const t = currentThread(this.ctx);
    if (this.owner !== t) throw new KernelBug(`mutex_unlock of ${this.id} not owned by ${t.name}`, fn);
    this.released(t, fn);
  }

  /** The release half of mutex_unlock, after the point and the owner check. */
  private released(t: KThread, fn: string): void {
    dropHeld(t, this.id);
    this.ctx.validator?.release(t, this.id, this.cls, 'w', fn);
    const ev = this.ctx.events;
    if (ev.active) ev.emit({ kind: 'lock.release', lock: this.id, cls: this.cls, mode: 'w', fn });
    else ev.skipCounted(ev.hot.lockRelease);
    if (this.waiters.length === 0) {
      this.owner = null;
      return;
    }
    const next = this.waiters.shift() as KThread; // not empty
    this.owner = next;
    this.ctx.sched.wake(next, this);
  }
}

/** Remove the most recent held-lock entry for `lockId` (lockdep allows out-of-order release). */
export function dropHeld(t: KThread, lockId: string): void {
  const held = t.held;
  for (let i = held.length - 1; i >= 0; i--) {
    if ((held[i] as { lockId: string }).lockId === lockId) {
      removeAt(held, i);
      return;
    }
  }
}

/** `a.splice(i, 1)` without allocating the array of removed elements (`i` is a valid index). */
export function removeAt<T>(a: T[], i: number): void {
  for (let j = i + 1; j < a.length; j++) a[j - 1] = a[j] as T;
  a.pop();
}

/**
 * The held-lock records (KThread.held entries) of one lock. Records are immutable, so the
 * one made for the previous acquisition in the same mode, with the same trylock flag and
 * function, is handed out again instead of a new object per acquisition.
 */
export class HeldRecords {
  private r: HeldLock | null = null;
  private w: HeldLock | null = null;

  constructor(
    private readonly lockId: string,
    private readonly cls: string,
  ) {}

  get(mode: 'r' | 'w', trylock: boolean, fn: string): HeldLock {
    const c = mode === 'r' ? this.r : this.w;
    if (c !== null && c.fn === fn && c.trylock === trylock) return c;
    const n: HeldLock = { lockId: this.lockId, cls: this.cls, mode, trylock, fn };
    if (mode === 'r') this.r = n;
    else this.w = n;
    return n;
  }
}
