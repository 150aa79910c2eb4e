import type { ClockHw } from './api.js';

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly cb: () => void;
}

/**
 * Virtual time. Only the kernel advances it (msleep); hardware registers deadlines
 * (e.g. the end of a reset's not-ready window) that fire, in deadline order, while
 * `advance` passes them. Deterministic: ties fire in registration order.
 */
export class Clock implements ClockHw {
  private now = 0;
  private seq = 0;
  private timers: Timer[] = [];

  get nowNs(): number {
    return this.now;
  }

  advance(ns: number): void {
    if (!(ns > 0)) return;
    const target = this.now + ns;
    for (;;) {
      const t = this.timers[0];
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
}
