import type { EventStream } from '../../events/stream.js';
import type { ClockHw, DeviceTimerHw } from '../../hw/api.js';
import { KernelBug, KernelDeadlock, MachineHalted, ThreadKilled, type WaitEdge } from './errors.js';
import type { BlockOn, KThreadRef, SchedPoint, Task, Waitable } from './task.js';
import { KThread } from './thread.js';

const START: SchedPoint = { op: 'start', obj: 'thread', access: 'r' };

/** [model] A hardware thread's only step: the device timer expires (the device's activity runs; QEMU's timer callback, not kernel code). */
function* deviceTimerTask(clock: ClockHw, timer: DeviceTimerHw): Task<void> {
  clock.fireDevice(timer);
}

/**
 * What a thread sleeps on while device timers that expired during its sleep have not run:
 * held by the hardware threads that are to run them. An object, not a closure (snapshots).
 */
class HardwareWait implements Waitable {
  readonly id = 'device-timers';
  constructor(private readonly sched: Scheduler) {}

  holders(): readonly KThreadRef[] {
    return this.sched.hardwareThreads().filter((t) => t.state === 'runnable');
  }
}

/** How a scheduled run ended. */
export type RunEnd =
  | { readonly kind: 'done' }
  | { readonly kind: 'deadlock'; readonly edges: readonly WaitEdge[] }
  | { readonly kind: 'halted'; readonly reason: string }
  | { readonly kind: 'step-limit' };

/** The scheduler whose thread is taking a step right now (null between steps). */
let running: Scheduler | null = null;

/**
 * The scheduler running a thread at this moment, or null outside any step. Objects
 * created deep inside kernel code without a kernel reference (struct file) use it to
 * take per-kernel ids, so that two machines in one Node process number alike.
 */
export function runningScheduler(): Scheduler | null {
  return running;
}

/**
 * The id of the thread taking a step right now, 0 outside any step: every scheduler's
 * event-stream `tidSource`. A module function rather than a closure over the scheduler,
 * so that a copy of a whole System (the explorer's snapshots) stamps its own events.
 */
function currentTid(): number {
  const s = running;
  return s === null || s.current === null ? 0 : s.current.tid;
}

/** Where a scheduler reads whether the machine has halted (the platform: `hw.platform`). */
export interface HaltSource {
  readonly haltReason: string | null;
}

/**
 * Picks the thread that takes the next step among the runnable ones (never empty, in
 * spawn order). The array is the scheduler's own and is refilled for the next choice:
 * copy it to keep it beyond the call.
 */
export type Chooser = (runnable: readonly KThread[], step: number) => KThread;

/**
 * Watches every step of run() (the explorer records the trace with it): `before` gets
 * the runnable threads (the scheduler's own array, as for a Chooser) and the thread about
 * to take its pending step (`t.next`), `after` the same thread once the step is taken.
 * Steps of runSync are not shown (nobody else may take a step there).
 */
export interface SchedObserver {
  before(runnable: readonly KThread[], t: KThread): void;
  /** `threads`: every thread of the scheduler (the step may have woken or started some). */
  after(t: KThread, threads: readonly KThread[]): void;
  /**
   * The step being taken read or wrote `obj` beyond its scheduling point (a scenario's
   * observation reading the event counts, see the `events` op): the explorer orders it
   * against the steps that write the object.
   */
  touch?(obj: string, access: 'r' | 'w'): void;
}

/**
 * The deterministic scheduler: one thread runs at a time; at every scheduling point
 * the chooser decides who goes next. With one thread it degenerates into a plain call.
 */
export class Scheduler {
  readonly threads: KThread[] = [];
  current: KThread | null = null;
  /** Steps taken so far (one step = from one scheduling point to the next). */
  steps = 0;
  private nextTid = 1;
  /** The thread a runSync is driving (no other thread may take a step meanwhile), or null. */
  private syncThread: KThread | null = null;

  /** Per-kernel id counters for objects numbered by kind (see runningScheduler). */
  private readonly idCounters = new Map<string, number>();
  /** The runnable list handed to the chooser, refilled at every step of run(). */
  private readonly runnableBuf: KThread[] = [];
  /** Sees every step run() takes (null: nobody watches). */
  observer: SchedObserver | null = null;
  /** Called when a thread dies or on halt; set by the kernel to report it. */
  onDeath: ((t: KThread, err: KernelBug) => void) | null = null;

  /**
   * The machine's clock, whose device timers (DeviceTimer in src/hw/clock.ts) the scheduler
   * runs as hardware threads; null: none (set by the Kernel).
   *
   * Device-side activity armed for later — edu's DMA engine, 100 ms after its command is
   * written — is a thread of its own, `<timer>@<function>` (e.g. `dma@0000:01:00.0`):
   * it becomes runnable once the model's clock has reached its deadline, and then takes one
   * step (the device's timer callback) wherever the chooser puts it among the runnable
   * threads, so `explore` interleaves it with every thread's steps. Virtual time alone
   * orders it with the threads, never step counts or the wall clock:
   * - a thread whose msleep passes the deadline starts the hardware thread and does not
   *   wake before it has run (the timer expired while it slept); the threads that were not
   *   asleep may take their steps before or after it;
   * - when no thread can run but some sleep (waiting for an interrupt, a lock, ...), the
   *   CPUs idle: time jumps to the next deadline and its hardware thread runs;
   * - `run(..., drain = true)` also idles when every thread has finished, so that activity
   *   armed by the program still happens (a scenario's run; its setup does not drain, so a
   *   DMA armed by a setup is still in flight when the threads start).
   * In runSync (the synchronous API) the due hardware threads run while the thread sleeps.
   */
  deviceClock: ClockHw | null = null;
  /** Per device timer (`<name>@<dev>`): the hardware thread that runs its expiry, in spawn order. */
  private readonly hwThreads = new Map<string, KThread>();
  /** A sleeper waiting for the device timers that expired during its sleep (Kernel.msleep yields it). */
  readonly hardwareWait: BlockOn = { block: true, on: new HardwareWait(this) };

  /** Whether the machine has halted (an object, not a closure: see currentTid). */
  private readonly halt: HaltSource;

  constructor(
    readonly events: EventStream,
    /** The platform (its `haltReason` is non-null once the machine has halted), or a function returning the reason. */
    halt: HaltSource | (() => string | null),
  ) {
    this.halt = typeof halt === 'function' ? { get haltReason(): string | null { return halt(); } } : halt;
    events.tidSource = currentTid;
  }

  /** The halt reason when the machine has halted, else null. */
  private haltReason(): string | null {
    return this.halt.haltReason;
  }

  /**
   * Called by kernel code at a scheduling point instead of yielding it, as
   * `if (!k.sched.passPoint()) yield point;`. While runSync drives the current thread,
   * nobody else may take a step, so the point decides nothing: passPoint then accounts
   * the step exactly as step() would (the halt check, one more step) and returns true,
   * and the thread goes on without suspending its whole generator chain. Otherwise — a
   * scheduled run, where the chooser may switch threads at the point, or a halted
   * machine — it returns false and the point is yielded as usual. Only the thread's
   * `next` field (the pending point, meaningful to choosers) is not updated for a
   * passed point; runSync never consults it.
   */
  passPoint(): boolean {
    const t = this.syncThread;
    if (t === null || this.current !== t || this.haltReason() !== null) return false;
    this.steps++;
    return true;
  }

  /** The next id of kind `kind` in this kernel (1, 2, ...). */
  allocId(kind: string): number {
    const n = this.idCounters.get(kind) ?? 1;
    this.idCounters.set(kind, n + 1);
    return n;
  }

  spawn(name: string, owner: unknown = null): KThread {
    const t = new KThread(this.nextTid++, name, owner);
    this.threads.push(t);
    return t;
  }

  /** Give an idle (or finished) thread a task; it becomes runnable at a 'start' point. */
  start(t: KThread, task: Task<unknown>, label = ''): void {
    if (t.state === 'runnable' || t.state === 'blocked') throw new Error(`thread ${t.name} is busy`);
    if (t.state === 'dead') throw new ThreadKilled(t, t.deathReason ?? 'dead');
    t.task = task;
    t.state = 'runnable';
    t.next = START;
    t.label = label;
  }

  /** Make a sleeping thread runnable again (a lock was handed to it). */
  wake(t: KThread, on: Waitable): void {
    if (t.state !== 'blocked') return;
    t.state = 'runnable';
    t.blockedOn = null;
    t.next = { op: 'wake', obj: on.id, access: 'r' };
  }

  /** The hardware threads (one per device timer that has expired so far), in spawn order. */
  hardwareThreads(): KThread[] {
    return Array.from(this.hwThreads.values());
  }

  /** Whether `t` is a hardware thread (runs a device timer's expiry). */
  isHardware(t: KThread): boolean {
    return this.hwThreads.get(t.name) === t;
  }

  /**
   * Make the hardware thread of every device timer whose deadline has passed runnable (its
   * pending step: op 'timer' on the device's object). Returns whether some hardware thread
   * is runnable (has not run yet).
   */
  startDueHardware(): boolean {
    const c = this.deviceClock;
    if (c === null) return false;
    for (const timer of c.dueDeviceTimers()) {
      const name = `${timer.name}@${timer.dev}`;
      let t = this.hwThreads.get(name);
      if (t === undefined) {
        t = this.spawn(name);
        this.hwThreads.set(name, t);
      }
      if (t.state === 'runnable' || t.state === 'dead') continue; // dead: a kernel BUG in its interrupt handler killed it
      this.start(t, deviceTimerTask(c, timer), `${name}: timer expired`);
      t.next = { op: 'timer', obj: timer.obj, access: 'w' };
    }
    let pending = false;
    for (const t of this.hwThreads.values()) if (t.state === 'runnable') pending = true;
    return pending;
  }

  /**
   * Every CPU idles until the next device timer expires (the kernel's do_idle): virtual time
   * jumps to its deadline and its hardware thread becomes runnable. False when no device
   * timer is armed.
   */
  private idleUntilDeviceTimer(): boolean {
    const c = this.deviceClock;
    if (c === null) return false;
    const at = c.nextDeviceDeadline();
    if (at < 0) return false;
    const now = c.nowNs;
    if (at > now) {
      c.advance(at - now);
      this.events.emit({ kind: 'sleep', ms: (at - now) / 1_000_000, fn: 'do_idle' });
    }
    return this.startDueHardware();
  }

  /** A hardware thread finished: start timers that came due meanwhile, else wake the sleepers waiting for them. */
  private hardwareRan(): void {
    if (this.startDueHardware()) return;
    const on = this.hardwareWait.on;
    for (const w of this.threads) if (w.state === 'blocked' && w.blockedOn === on) this.wake(w, on);
  }

  runnable(): KThread[] {
    return this.threads.filter((t) => t.state === 'runnable');
  }

  blocked(): KThread[] {
    return this.threads.filter((t) => t.state === 'blocked');
  }

  /** Perform `t`'s pending step and run it to its next scheduling point. */
  step(t: KThread): void {
    const halt = this.haltReason();
    if (halt !== null) throw new MachineHalted(halt);
    const task = t.task;
    if (t.state !== 'runnable' || task === null) throw new Error(`thread ${t.name} is not runnable`);
    const prev = this.current;
    const prevRunning = running;
    this.current = t;
    running = this;
    this.steps++;
    try {
      const r = task.next();
      if (r.done === true) {
        t.state = 'done';
        t.result = r.value;
        t.task = null;
        t.next = null;
        if (this.hwThreads.size > 0 && this.isHardware(t)) this.hardwareRan();
      } else if (r.value.block === true) {
        t.state = 'blocked';
        t.blockedOn = r.value.on;
        t.next = null;
      } else {
        t.next = r.value;
      }
    } catch (e) {
      if (e instanceof KernelBug) {
        t.state = 'dead';
        t.deathReason = `kernel BUG in ${e.fn}: ${e.message}`;
        t.task = null;
        t.next = null;
        if (this.onDeath !== null) this.onDeath(t, e);
        if (this.hwThreads.size > 0 && this.isHardware(t)) this.hardwareRan();
      } else {
        throw e;
      }
    } finally {
      this.current = prev;
      running = prevRunning;
    }
  }

  /**
   * Run one task on `t` to completion with no other thread taking steps (the plain
   * synchronous API). Throws KernelDeadlock if it sleeps forever, ThreadKilled on a
   * kernel BUG, MachineHalted after a fatal platform error.
   */
  runSync<T>(t: KThread, task: Task<T>, label = ''): T {
    this.start(t, task, label);
    const prevSync = this.syncThread;
    this.syncThread = t;
    try {
      for (;;) {
        if (t.state === 'runnable') this.step(t);
        else if (t.state === 'blocked' && t.blockedOn === this.hardwareWait.on) this.runHardware();
        else break;
      }
    } finally {
      this.syncThread = prevSync;
    }
    if (t.state === 'blocked') throw new KernelDeadlock(this.waitEdges());
    if (t.state === 'dead') throw new ThreadKilled(t, t.deathReason ?? 'dead');
    t.state = 'idle';
    return t.result as T;
  }

  /** Run every runnable hardware thread (runSync: the device timers that expired while its thread slept). */
  private runHardware(): void {
    let ran = true;
    while (ran) {
      ran = false;
      for (const h of this.hwThreads.values()) {
        if (h.state !== 'runnable') continue;
        this.step(h);
        ran = true;
      }
    }
  }

  /** The wait-for graph: who sleeps on what, held by whom. */
  waitEdges(): WaitEdge[] {
    const edges: WaitEdge[] = [];
    for (const t of this.threads) {
      if (t.state !== 'blocked' || t.blockedOn === null) continue;
      edges.push({ waiter: t.name, on: t.blockedOn.id, holders: t.blockedOn.holders().map((h) => h.name) });
    }
    return edges;
  }

  /**
   * Run every runnable thread until all are done, a deadlock (no runnable thread while
   * some sleep, and no device timer armed to wake anything), a halt, or `maxSteps`. The
   * chooser picks each step's thread. With `drain`, the CPUs also idle until every armed
   * device timer has expired once all threads are done (see `deviceClock`).
   */
  run(choose: Chooser, maxSteps = 1_000_000, drain = false): RunEnd {
    for (let i = 0; i < maxSteps; i++) {
      const halt = this.haltReason();
      if (halt !== null) return { kind: 'halted', reason: halt };
      const rs = this.runnableBuf;
      rs.length = 0;
      for (const th of this.threads) if (th.state === 'runnable') rs.push(th);
      if (rs.length === 0) {
        const blocked = this.threads.some((t) => t.state === 'blocked');
        if ((blocked || drain) && this.idleUntilDeviceTimer()) continue;
        if (blocked) return { kind: 'deadlock', edges: this.waitEdges() };
        for (const t of this.threads) if (t.state === 'done') t.state = 'idle';
        return { kind: 'done' };
      }
      const t = rs.length === 1 ? (rs[0] as KThread) : choose(rs, this.steps);
      const obs = this.observer;
      try {
        if (obs !== null) obs.before(rs, t);
        this.step(t);
        if (obs !== null) obs.after(t, this.threads);
      } catch (e) {
        if (e instanceof MachineHalted) return { kind: 'halted', reason: e.reason };
        throw e;
      }
    }
    return { kind: 'step-limit' };
  }
}
