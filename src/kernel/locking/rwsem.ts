import { KernelBug } from '../sched/errors.js';
import type { SchedPoint, Task, Waitable } from '../sched/task.js';
import type { HeldLock, KThread } from '../sched/thread.js';
import { currentThread, type LockCtx, type LockSlot } from './lock-ctx.js';
import { dropHeld, HeldRecords, removeAt } from './mutex.js';
import { pushAll } from '../../util/array.js';

interface RwWaiter {
  readonly t: KThread;
  readonly mode: 'r' | 'w';
}

/**
 * A read/write semaphore with the fairness of kernel/locking/rwsem.c (5.8): a reader
 * may not pass a queued writer (down_read and down_read_trylock fail or queue when
 * waiters exist), so a recursive down_read deadlocks once a writer waits between the
 * two acquisitions. On release the lock is handed to the queue head: one writer, or
 * every queued reader (rwsem_mark_wake wakes all readers).
 */
export class RwSemaphore implements Waitable, LockSlot {
  /** The validator's view of this lock (LockSlot). */
  vowner: unknown = null;
  vclass: unknown = null;
  ventry: unknown = null;
  /** Threads holding it for read (a thread appears once per acquisition). */
  readonly readers: KThread[] = [];
  writer: KThread | null = null;
  readonly waiters: RwWaiter[] = [];
  // the scheduling points, made on first use (most locks of a machine are never taken)
  private pRead_: SchedPoint | null = null;
  private pWrite_: SchedPoint | null = null;
  private pUpRead_: SchedPoint | null = null;
  private pUpWrite_: SchedPoint | null = null;
  private readonly records: HeldRecords;

  constructor(
    private readonly ctx: LockCtx,
    readonly cls: string,
    readonly id: string,
  ) {
    this.records = new HeldRecords(id, cls);
  }

  /** The scheduling point of down_read / down_read_trylock. */
  private get pRead(): SchedPoint {
    if (this.pRead_ === null) this.pRead_ = { op: 'down_read', obj: this.id, access: 'r' };
    return this.pRead_;
  }

  /** The scheduling point of down_write / down_write_trylock. */
  private get pWrite(): SchedPoint {
    if (this.pWrite_ === null) this.pWrite_ = { op: 'down_write', obj: this.id, access: 'w' };
    return this.pWrite_;
  }

  /** The scheduling point of up_read. */
  private get pUpRead(): SchedPoint {
    if (this.pUpRead_ === null) this.pUpRead_ = { op: 'up_read', obj: this.id, access: 'r' };
    return this.pUpRead_;
  }

  /** The scheduling point of up_write and downgrade_write. */
  private get pUpWrite(): SchedPoint {
    if (this.pUpWrite_ === null) this.pUpWrite_ = { op: 'up_write', obj: this.id, access: 'w' };
    return this.pUpWrite_;
  }

  holders(): readonly KThread[] {
    return this.writer !== null ? [this.writer] : [...new Set(this.readers)];
  }

  isWriteLocked(): boolean {
    return this.writer !== null;
  }

  isLocked(): boolean {
    return this.writer !== null || this.readers.length > 0;
  }

  private canRead(): boolean {
    return this.writer === null && this.waiters.length === 0;
  }

  private canWrite(): boolean {
    return this.writer === null && this.readers.length === 0 && this.waiters.length === 0;
  }

  private granted(t: KThread, mode: 'r' | 'w', trylock: boolean, fn: string): void {
    t.held.push(this.records.get(mode, trylock, fn));
    const ev = this.ctx.events;
    if (ev.active) ev.emit({ kind: 'lock.acquire', lock: this.id, cls: this.cls, mode, trylock, fn });
    else ev.skipCounted(ev.hot.lockAcquire);
  }

  /** down_read (kernel/locking/rwsem.c, 5.8): also mmap_read_lock for mmap_lock. */
  *downRead(fn: string): Task<void> {
    if (!this.ctx.sched.passPoint()) yield this.pRead;
    const t = currentThread(this.ctx);
    this.ctx.validator?.acquire(t, this.id, this.cls, 'r', false, fn, this);
    if (this.canRead()) {
      this.readers.push(t);
    } else {
      this.ctx.events.emit({ kind: 'lock.contended', lock: this.id, cls: this.cls, mode: 'r', fn });
      this.waiters.push({ t, mode: 'r' });
      yield { block: true, on: this };
    }
    this.granted(t, 'r', false, fn);
  }

  /** down_write (kernel/locking/rwsem.c, 5.8): also mmap_write_lock. */
  *downWrite(fn: string): Task<void> {
    if (!this.ctx.sched.passPoint()) yield this.pWrite;
    const t = currentThread(this.ctx);
    this.ctx.validator?.acquire(t, this.id, this.cls, 'w', false, fn, this);
    if (this.canWrite()) {
      this.writer = t;
    } else {
      this.ctx.events.emit({ kind: 'lock.contended', lock: this.id, cls: this.cls, mode: 'w', fn });
      this.waiters.push({ t, mode: 'w' });
      yield { block: true, on: this };
    }
    this.granted(t, 'w', false, fn);
  }

  /** down_read_trylock (kernel/locking/rwsem.c, 5.8) */
  *downReadTrylock(fn: string): Task<boolean> {
    if (!this.ctx.sched.passPoint()) yield this.pRead;
    const t = currentThread(this.ctx);
    if (!this.canRead()) {
      this.ctx.events.emit({ kind: 'lock.trylock-failed', lock: this.id, cls: this.cls, mode: 'r', fn });
      return false;
    }
    this.ctx.validator?.acquire(t, this.id, this.cls, 'r', true, fn, this);
    this.readers.push(t);
    this.granted(t, 'r', true, fn);
    return true;
  }

  /** down_write_trylock (kernel/locking/rwsem.c, 5.8) */
  *downWriteTrylock(fn: string): Task<boolean> {
    if (!this.ctx.sched.passPoint()) yield this.pWrite;
    const t = currentThread(this.ctx);
    if (!this.canWrite()) {
      this.ctx.events.emit({ kind: 'lock.trylock-failed', lock: this.id, cls: this.cls, mode: 'w', fn });
      return false;
    }
    this.ctx.validator?.acquire(t, this.id, this.cls, 'w', true, fn, this);
    this.writer = t;
    this.granted(t, 'w', true, fn);
    return true;
  }

  /** up_read (kernel/locking/rwsem.c, 5.8) */
  *upRead(fn: string): Task<void> {
    if (!this.ctx.sched.passPoint()) yield this.pUpRead;
    const t = currentThread(this.ctx);
    const i = this.readers.lastIndexOf(t);
    if (i < 0) throw new KernelBug(`up_read of ${this.id} not read-held by ${t.name}`, fn);
    this.readReleased(t, i, fn);
  }

  /** The release half of up_read, after the point: `t` is readers[i]. */
  private readReleased(t: KThread, i: number, fn: string): void {
    removeAt(this.readers, i);
    dropHeld(t, this.id);
    this.ctx.validator?.release(t, this.id, this.cls, 'r', fn);
    const ev = this.ctx.events;
    if (ev.active) ev.emit({ kind: 'lock.release', lock: this.id, cls: this.cls, mode: 'r', fn });
    else ev.skipCounted(ev.hot.lockRelease);
    if (this.readers.length === 0) this.handOff();
  }

  /** up_write (kernel/locking/rwsem.c, 5.8) */
  *upWrite(fn: string): Task<void> {
    if (!this.ctx.sched.passPoint()) yield this.pUpWrite;
    const t = currentThread(this.ctx);
    if (this.writer !== t) throw new KernelBug(`up_write of ${this.id} not write-held by ${t.name}`, fn);
    this.writeReleased(t, fn);
  }

  /** The release half of up_write, after the point and the owner check. */
  private writeReleased(t: KThread, fn: string): void {
    this.writer = null;
    dropHeld(t, this.id);
    this.ctx.validator?.release(t, this.id, this.cls, 'w', fn);
    const ev = this.ctx.events;
    if (ev.active) ev.emit({ kind: 'lock.release', lock: this.id, cls: this.cls, mode: 'w', fn });
    else ev.skipCounted(ev.hot.lockRelease);
    this.handOff();
  }

  /** downgrade_write (kernel/locking/rwsem.c, 5.8): turn a write hold into a read hold, waking queued readers. */
  *downgradeWrite(fn: string): Task<void> {
    if (!this.ctx.sched.passPoint()) yield this.pUpWrite;
    const t = currentThread(this.ctx);
    if (this.writer !== t) throw new KernelBug(`downgrade_write of ${this.id} not write-held`, fn);
    this.writer = null;
    this.readers.push(t);
    // records are shared between acquisitions: replace the entry rather than change it
    const held = t.held;
    for (let i = 0; i < held.length; i++) {
      const h = held[i] as HeldLock;
      if (h.lockId === this.id) held[i] = this.records.get('r', h.trylock, h.fn);
    }
    this.ctx.validator?.downgrade?.(t, this.id, this.cls, fn);
    this.ctx.events.emit({ kind: 'lock.downgrade', lock: this.id, cls: this.cls, fn });
    this.wakeReaders();
  }

  /** rwsem_wake/rwsem_mark_wake: grant the lock to the head writer or to all queued readers. */
  private handOff(): void {
    if (this.writer !== null || this.readers.length > 0) return;
    const head = this.waiters[0];
    if (head === undefined) return;
    if (head.mode === 'w') {
      this.waiters.shift();
      this.writer = head.t;
      this.ctx.sched.wake(head.t, this);
      return;
    }
    this.wakeReaders();
  }

  private wakeReaders(): void {
    const rest: RwWaiter[] = [];
    for (const w of this.waiters) {
      if (w.mode === 'r') {
        this.readers.push(w.t);
        this.ctx.sched.wake(w.t, this);
      } else {
        rest.push(w);
      }
    }
    this.waiters.length = 0;
    pushAll(this.waiters, rest);
  }
}
