/**
 * eventfd (fs/eventfd.c, 5.8): a 64-bit counter that the kernel signals (interrupts,
 * ioeventfd) and user space reads.
 */
import { EAGAIN, EBADF, EFAULT, EINVAL } from '../errno.js';
import type { Kernel } from '../kernel.js';
import { copyFromUser, copyToUser } from '../mm/access.js';
import type { KProcess } from '../proc.js';
import type { SchedPoint, Task, Waitable } from '../sched/task.js';
import type { KThread } from '../sched/thread.js';
import { type FileOperations, type FilePos, KFile } from './file.js';
import { SideTable } from '../../util/side-table.js';

export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const EFD_SEMAPHORE = 1;
export const EFD_NONBLOCK = O_NONBLOCK;
export const EFD_CLOEXEC = O_CLOEXEC;
const EFD_SHARED_FCNTL_FLAGS = O_CLOEXEC | O_NONBLOCK;
const EFD_FLAGS_SET = EFD_SHARED_FCNTL_FLAGS | EFD_SEMAPHORE;
const ULLONG_MAX = 0xffff_ffff_ffff_ffffn;

const ctxIds = new SideTable<Kernel, { next: number }>('ctxIds');

/** struct eventfd_ctx */
export class EventfdCtx implements Waitable {
  readonly id: string;
  /** The 64-bit counter. */
  count: bigint;
  /** kref */
  refs = 1;
  /** Threads sleeping in read or write (ctx->wqh). */
  readonly waiters: KThread[] = [];
  /** Total eventfd_signal calls that added to the counter (for reports). */
  signals = 0;
  /** Poll wait-queue entries (add_wait_queue on ctx->wqh): called on every EPOLLIN/EPOLLHUP wakeup. */
  readonly pollWaiters: EventfdPollEntry[] = [];
  readonly point: SchedPoint;

  constructor(
    readonly k: Kernel,
    initval: bigint,
    /** EFD_SEMAPHORE etc. */
    readonly flags: number,
  ) {
    let c = ctxIds.get(k);
    if (c === undefined) {
      c = { next: 1 };
      ctxIds.set(k, c);
    }
    this.id = `eventfd:${c.next++}`;
    this.count = initval;
    this.point = { op: 'eventfd', obj: this.id, access: 'w' };
  }

  holders(): readonly KThread[] {
    return [];
  }

  /** wake_up_locked_poll: every sleeper re-checks the counter. */
  wakeAll(): void {
    const ws = this.waiters.splice(0, this.waiters.length);
    for (const t of ws) this.k.sched.wake(t, this);
  }
}

/** EPOLLIN / EPOLLHUP, the poll events an eventfd wakeup carries to its wait-queue entries. */
export const EPOLLIN = 0x1;
export const EPOLLHUP = 0x10;

/**
 * A wait_queue_entry with a custom wake function (what virqfd and KVM's irqfd hook onto
 * an eventfd). `wake` runs in the waker's context, where the kernel holds ctx->wqh.lock
 * with interrupts off: it must not sleep.
 */
export interface EventfdPollEntry {
  wake(ctx: EventfdCtx, events: number): Task<void>;
}

/** eventfd_poll (fs/eventfd.c, 5.8): EPOLLIN while the counter is non-zero. */
export function eventfdPoll(ctx: EventfdCtx): number {
  return ctx.count > 0n ? EPOLLIN : 0;
}

/** wake_up_locked_poll (include/linux/wait.h, 5.8): on ctx->wqh, run every poll entry's wake function. */
function* wakeUpPoll(ctx: EventfdCtx, events: number): Task<void> {
  for (const e of ctx.pollWaiters.slice()) yield* e.wake(ctx, events);
}

/**
 * eventfd_signal (fs/eventfd.c, 5.8): add `n` to the counter (saturating at ULLONG_MAX)
 * and wake readers. Returns the amount added. Poll wait-queue entries are not run from
 * here: the model has no path where an interrupt-signalled eventfd also feeds a virqfd.
 */
export function eventfdSignal(ctx: EventfdCtx, n: number | bigint): number {
  let add = BigInt(n);
  if (ULLONG_MAX - ctx.count < add) add = ULLONG_MAX - ctx.count;
  ctx.count += add;
  ctx.signals++;
  ctx.wakeAll();
  return Number(add);
}

/** eventfd_ctx_do_read (fs/eventfd.c, 5.8): take the counter (or 1 in semaphore mode). */
export function eventfdCtxDoRead(ctx: EventfdCtx): bigint {
  const cnt = (ctx.flags & EFD_SEMAPHORE) !== 0 ? 1n : ctx.count;
  ctx.count -= cnt;
  return cnt;
}

function ctxOf(file: KFile): EventfdCtx {
  const c = file.privateData;
  if (!(c instanceof EventfdCtx)) throw new Error(`${file.name} is not an eventfd`);
  return c;
}

/** eventfd_read (fs/eventfd.c, 5.8): 8 bytes = the counter; -EAGAIN if zero and O_NONBLOCK, else sleep. */
function* eventfdRead(file: KFile, buf: number, count: number, _pos: FilePos): Task<number> {
  const ctx = ctxOf(file);
  if (count < 8) return -EINVAL;
  for (;;) {
    yield ctx.point;
    if (ctx.count > 0n) break;
    if ((file.flags & O_NONBLOCK) !== 0) return -EAGAIN;
    const t = ctx.k.sched.current;
    if (t === null) return -EAGAIN;
    ctx.waiters.push(t);
    yield { block: true, on: ctx };
  }
  const ucnt = eventfdCtxDoRead(ctx);
  ctx.wakeAll();
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, ucnt, true);
  if ((yield* copyToUser(ctx.k, buf, b)) !== 0) return -EFAULT;
  return 8;
}

/** eventfd_write (fs/eventfd.c, 5.8): add the user's 8-byte value; -EAGAIN on overflow with O_NONBLOCK. */
function* eventfdWrite(file: KFile, buf: number, count: number, _pos: FilePos): Task<number> {
  const ctx = ctxOf(file);
  if (count < 8) return -EINVAL;
  const b = new Uint8Array(8);
  if ((yield* copyFromUser(ctx.k, buf, b)) !== 0) return -EFAULT;
  const ucnt = new DataView(b.buffer).getBigUint64(0, true);
  if (ucnt === ULLONG_MAX) return -EINVAL;
  for (;;) {
    yield ctx.point;
    if (ULLONG_MAX - ctx.count > ucnt) break;
    if ((file.flags & O_NONBLOCK) !== 0) return -EAGAIN;
    const t = ctx.k.sched.current;
    if (t === null) return -EAGAIN;
    ctx.waiters.push(t);
    yield { block: true, on: ctx };
  }
  ctx.count += ucnt;
  ctx.wakeAll();
  yield* wakeUpPoll(ctx, EPOLLIN);
  return 8;
}

/** eventfd_release (fs/eventfd.c, 5.8). */
function* eventfdRelease(file: KFile): Task<void> {
  const ctx = ctxOf(file);
  ctx.wakeAll();
  yield* wakeUpPoll(ctx, EPOLLHUP);
  eventfdCtxPut(ctx);
}

/** eventfd_fops */
export const eventfdFops: FileOperations = {
  read: eventfdRead,
  write: eventfdWrite,
  release: eventfdRelease,
};

/** eventfd_ctx_put (fs/eventfd.c, 5.8). */
export function eventfdCtxPut(ctx: EventfdCtx): void {
  if (ctx.refs > 0) ctx.refs--;
}

/**
 * eventfd_ctx_fdget (fs/eventfd.c, 5.8): the eventfd context behind `fd` of `proc`
 * (with a reference), -EBADF for a bad fd, -EINVAL if the file is not an eventfd.
 */
export function eventfdCtxFdget(proc: KProcess, fd: number): EventfdCtx | number {
  const f = proc.files.get(fd);
  if (f === undefined) return -EBADF;
  if (f.fops !== eventfdFops) return -EINVAL;
  const ctx = ctxOf(f);
  ctx.refs++;
  return ctx;
}

/** eventfd_file_create + anon_inode_getfile (fs/eventfd.c, 5.8): a new eventfd file or -EINVAL. */
export function eventfdFileCreate(k: Kernel, initval: number, flags: number): KFile | number {
  if ((flags & ~EFD_FLAGS_SET) !== 0) return -EINVAL;
  const ctx = new EventfdCtx(k, BigInt(initval >>> 0), flags);
  const f = new KFile('anon_inode:[eventfd]', eventfdFops, 2 /* O_RDWR */ | (flags & EFD_SHARED_FCNTL_FLAGS));
  f.privateData = ctx;
  return f;
}
