import type { EventStream } from '../events/stream.js';
import type { HwMachine } from '../hw/api.js';
import { Lockdep, type LockdepOptions } from './lockdep/lockdep.js';
import type { LockCtx } from './locking/lock-ctx.js';
import { Mutex } from './locking/mutex.js';
import { RwSemaphore } from './locking/rwsem.js';
import { Scheduler } from './sched/scheduler.js';
import type { SchedPoint, Task } from './sched/task.js';
import type { Knobs } from './variant/knobs.js';

/**
 * The simulated kernel's shared context: hardware, event stream, scheduler, lock
 * context and the variant's knobs. Subsystems hold a reference to it; the top-level
 * System wires the subsystems together at boot.
 */
export interface KernelOptions {
  /** Run the lock validator (CONFIG_PROVE_LOCKING): true, or its options. */
  readonly lockdep?: boolean | LockdepOptions;
  /** How the kernel was built (default 'debug'). */
  readonly config?: KernelConfig;
}

/**
 * How the kernel was built: 'debug' (CONFIG_LOCKDEP, CONFIG_DEBUG_ATOMIC_SLEEP and the other
 * debug checks on) or 'distro' (as distributions ship it, e.g. Debian: none of them).
 */
export type KernelConfig = 'debug' | 'distro';
export const KERNEL_CONFIGS: readonly KernelConfig[] = ['debug', 'distro'];

export class Kernel implements LockCtx {
  readonly sched: Scheduler;
  validator: LockCtx['validator'] = null;
  readonly config: KernelConfig;

  constructor(
    readonly hw: HwMachine,
    readonly knobs: Knobs,
    options: KernelOptions = {},
  ) {
    this.sched = new Scheduler(hw.events, hw.platform);
    this.config = options.config ?? 'debug';
    // device timers run as hardware threads of the scheduler (not inside whoever advances time)
    this.sched.deviceClock = hw.clock;
    hw.clock.deviceTimersInline = false;
    const ld = options.lockdep ?? false;
    if (ld !== false) this.validator = new Lockdep(hw.events, ld === true ? {} : ld);
  }

  /** The lock validator, when it is lockdep (null when lock validation is off). */
  get lockdep(): Lockdep | null {
    return this.validator instanceof Lockdep ? this.validator : null;
  }

  get events(): EventStream {
    return this.hw.events;
  }

  /** A new mutex of lock class `cls` (e.g. '&vdev->vma_lock') with instance id `id`. */
  mutex(cls: string, id: string): Mutex {
    this.validator?.lockInit?.(id, cls, 'mutex');
    return new Mutex(this, cls, id);
  }

  /** A new rwsem of lock class `cls` with instance id `id`. */
  rwsem(cls: string, id: string): RwSemaphore {
    this.validator?.lockInit?.(id, cls, 'rwsem');
    return new RwSemaphore(this, cls, id);
  }

  /**
   * msleep (kernel/time/timer.c, 5.8): a scheduling point that lets virtual time pass. Device
   * timers that expire during the sleep run (as hardware threads, see Scheduler.deviceClock)
   * before the sleeper goes on.
   */
  *msleep(ms: number, fn: string): Task<void> {
    yield SLEEP;
    this.hw.clock.advance(ms * 1_000_000);
    this.events.emit({ kind: 'sleep', ms, fn });
    if (this.sched.startDueHardware()) yield this.sched.hardwareWait;
  }
}

const SLEEP: SchedPoint = { op: 'sleep', obj: 'clock', access: 'w' };
