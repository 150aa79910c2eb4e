import type { ClockHw, DeviceTimerHw } from './api.js';

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly cb: () => void;
}

/**
 * What a device timer runs when it expires: an object rather than a closure, so that a
 * copy of a whole System (the explorer's snapshots) runs its own copy of the device.
 */
export interface DeviceTimerTarget {
  timerExpired(timer: DeviceTimer): void;
}

/**
 * A device's timer on the virtual clock (QEMU: a QEMUTimer on QEMU_CLOCK_VIRTUAL, armed
 * with timer_mod): device-side activity that runs once virtual time reaches its deadline.
 * Unlike the clock's internal deadlines (`Clock.at`), it is not run inside whoever
 * advanced the time: with a kernel on the machine its expiry is a step of a hardware
 * thread of its own, which the kernel's scheduler interleaves with the other threads
 * (see Scheduler.startDueHardware). On bare hardware (no kernel) `advance` runs it.
 */
export class DeviceTimer implements DeviceTimerHw {
  /** The deadline in ns of virtual time, or -1 when not armed. */
  at = -1;
  /** Arming order (ties between equal deadlines expire in it). */
  seq = 0;

  constructor(
    /** The function the timer belongs to ('0000:01:00.0'). */
    readonly dev: string,
    /** Short name ('dma'); the hardware thread is named `<name>@<dev>`. */
    readonly name: string,
    /** The device object its expiry touches, for the explorer (`hw:<dev>:bar`). */
    readonly obj: string,
    readonly target: DeviceTimerTarget,
  ) {}

  get armed(): boolean {
    return this.at >= 0;
  }
}

/**
 * Virtual time. Only the kernel advances it (msleep, and the scheduler while every CPU
 * idles); hardware registers deadlines (e.g. the end of a reset's not-ready window) that
 * fire, in deadline order, while `advance` passes them, and device timers (DeviceTimer)
 * that the kernel's scheduler runs as hardware threads once they are due.
 * Deterministic: ties fire in registration order.
 */
export class Clock implements ClockHw {
  private now = 0;
  private seq = 0;
  private timers: Timer[] = [];
  private readonly devTimers: DeviceTimer[] = [];
  /**
   * Whether `advance` itself runs the device timers it passes (bare hardware, the
   * default). A kernel clears it: its scheduler runs them as hardware threads.
   */
  deviceTimersInline = true;

  get nowNs(): number {
    return this.now;
  }

  advance(ns: number): void {
    if (!(ns > 0)) return;
    const target = this.now + ns;
    for (;;) {
      const t = this.timers[0];
      const d = this.deviceTimersInline ? this.nextDue(target) : null;
      if (d !== null && (t === undefined || d.at < t.at || (d.at === t.at && d.seq < t.seq))) {
        if (d.at > this.now) this.now = d.at;
        this.fireDevice(d);
        continue;
      }
      if (t === undefined || t.at > target) break;
      this.timers.shift();
      if (t.at > this.now) this.now = t.at;
      t.cb();
    }
    this.now = target;
  }

  /** Run `cb` when virtual time reaches `atNs` (hardware-internal deadline). */
  at(atNs: number, cb: () => void): void {
    const t: Timer = { at: atNs, seq: this.seq++, cb };
    let i = this.timers.length;
    while (i > 0) {
      const p = this.timers[i - 1];
      if (p === undefined || p.at <= t.at) break;
      i--;
    }
    this.timers.splice(i, 0, t);
  }

  /** Deadlines still pending (diagnostics). */
  get pending(): number {
    return this.timers.length;
  }

  /** A new, unarmed device timer of function `dev` (QEMU timer_new). */
  deviceTimer(dev: string, name: string, obj: string, target: DeviceTimerTarget): DeviceTimer {
    const t = new DeviceTimer(dev, name, obj, target);
    this.devTimers.push(t);
    return t;
  }

  /** Arm `timer` for `atNs` (QEMU timer_mod: a later arming replaces the deadline). */
  arm(timer: DeviceTimer, atNs: number): void {
    timer.at = Math.max(0, atNs);
    timer.seq = this.seq++;
  }

  /** Disarm `timer` (QEMU timer_del). */
  cancel(timer: DeviceTimer): void {
    timer.at = -1;
  }

  /** The armed device timers whose deadline has passed, in deadline order (then arming order). */
  dueDeviceTimers(): DeviceTimer[] {
    const due = this.devTimers.filter((t) => t.at >= 0 && t.at <= this.now);
    return due.sort((a, b) => a.at - b.at || a.seq - b.seq);
  }

  /** The earliest deadline among the armed device timers, or -1 when none is armed. */
  nextDeviceDeadline(): number {
    let best = -1;
    for (const t of this.devTimers) if (t.at >= 0 && (best < 0 || t.at < best)) best = t.at;
    return best;
  }

  /** Expire `timer` if it is armed and due (else nothing): disarm it, then run its target. */
  fireDevice(timer: DeviceTimerHw): void {
    const t = this.devTimers.find((x) => x === timer);
    if (t === undefined || t.at < 0 || t.at > this.now) return;
    t.at = -1;
    t.target.timerExpired(t);
  }

  /** The first armed device timer due by `limit` (deadline order, then arming order), or null. */
  private nextDue(limit: number): DeviceTimer | null {
    let best: DeviceTimer | null = null;
    for (const t of this.devTimers) {
      if (t.at < 0 || t.at > limit) continue;
      if (best === null || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }
}
