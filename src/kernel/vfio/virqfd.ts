/**
 * virqfd (drivers/vfio/virqfd.c, 5.8): run a handler when an eventfd is signalled. The
 * handler runs in the signaller's context (the eventfd wakeup, irqs off); when it
 * returns true ("use thread") and a thread function exists, that function runs later from
 * a work item. EPOLLHUP (the eventfd file closed) tears the virqfd down.
 */
import { EBADF, EBUSY } from '../errno.js';
import { EPOLLHUP, EPOLLIN, type EventfdCtx, eventfdCtxFdget, eventfdCtxPut, type EventfdPollEntry, eventfdPoll } from '../fs/eventfd.js';
import type { Kernel } from '../kernel.js';
import { threadProcess } from '../proc.js';
import type { Task } from '../sched/task.js';
import { WorkStruct } from '../workqueue/work.js';

/** The handler: returns true when the thread function must finish the job. */
export type VirqfdHandler = () => Task<boolean>;

/** Where a virqfd is published (the `struct virqfd **pvirqfd` of the caller). */
export interface VirqfdSlot {
  virqfd: Virqfd | null;
}

/** struct virqfd */
export class Virqfd implements EventfdPollEntry {
  readonly inject: WorkStruct | null;

  constructor(
    k: Kernel,
    name: string,
    readonly ctx: EventfdCtx,
    private readonly slot: VirqfdSlot,
    private readonly handler: VirqfdHandler | null,
    thread: (() => Task<void>) | null,
  ) {
    this.inject = thread === null ? null : new WorkStruct(k, `virqfd-inject:${name}`, thread);
  }

  /** virqfd_wakeup (drivers/vfio/virqfd.c, 5.8) */
  *wake(_ctx: EventfdCtx, events: number): Task<void> {
    if ((events & EPOLLIN) !== 0) yield* this.fire();
    if ((events & EPOLLHUP) !== 0 && this.slot.virqfd === this) {
      this.slot.virqfd = null;
      this.deactivate();
    }
  }

  /** virqfd_wakeup (drivers/vfio/virqfd.c, 5.8): its EPOLLIN half; handler, then the thread through the inject work if asked. */
  *fire(): Task<void> {
    const useThread = this.handler === null ? true : yield* this.handler();
    if (useThread && this.inject !== null) this.inject.schedule();
  }

  /** virqfd_deactivate + virqfd_shutdown: unhook from the eventfd and drop its reference. */
  deactivate(): void {
    const i = this.ctx.pollWaiters.indexOf(this);
    if (i >= 0) this.ctx.pollWaiters.splice(i, 1);
    eventfdCtxPut(this.ctx);
  }
}

/**
 * vfio_virqfd_enable (drivers/vfio/virqfd.c, 5.8): hook `handler`/`thread` onto eventfd
 * `fd` of the calling process; -EBADF/-EINVAL for a bad fd, -EBUSY if the slot is taken.
 * An event already pending on the eventfd fires at once.
 */
export function* vfioVirqfdEnable(k: Kernel, name: string, handler: VirqfdHandler | null, thread: (() => Task<void>) | null, slot: VirqfdSlot, fd: number): Task<number> {
  const proc = threadProcess(k.sched.current);
  if (proc === null) return -EBADF;
  const ctx = eventfdCtxFdget(proc, fd);
  if (typeof ctx === 'number') return ctx;
  if (slot.virqfd !== null) {
    eventfdCtxPut(ctx);
    return -EBUSY;
  }
  const v = new Virqfd(k, name, ctx, slot, handler, thread);
  slot.virqfd = v;
  ctx.pollWaiters.push(v);
  if ((eventfdPoll(ctx) & EPOLLIN) !== 0) yield* v.fire();
  return 0;
}

/** vfio_virqfd_disable (drivers/vfio/virqfd.c, 5.8) */
export function vfioVirqfdDisable(slot: VirqfdSlot): void {
  const v = slot.virqfd;
  if (v === null) return;
  slot.virqfd = null;
  v.deactivate();
}
