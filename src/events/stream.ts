import type { EventBody, EventKind, SimEvent } from './event.js';

export type EventListener = (ev: SimEvent) => void;

/** A per-kind emission counter. */
export interface KindCount {
  readonly kind: string;
  n: number;
}

/**
 * Counters of the kinds the hot paths skip most (lock operations, config accesses, the
 * zap and the fault): `ev.skipCounted(ev.hot.lockAcquire)` is `ev.skip('lock.acquire')`
 * without the per-kind map lookup.
 */
export interface HotCounters {
  readonly lockAcquire: KindCount;
  readonly lockRelease: KindCount;
  readonly cfgRead: KindCount;
  readonly cfgWrite: KindCount;
  readonly mmio: KindCount;
  readonly syscall: KindCount;
  readonly fault: KindCount;
  readonly pteInstall: KindCount;
  readonly pteZap: KindCount;
  readonly vmaTrack: KindCount;
  readonly vfioZap: KindCount;
}

/**
 * The one event stream of a simulated machine. It stamps each event with a sequence
 * number and the current thread id (provided by the kernel's scheduler), keeps the
 * most recent `capacity` events (unbounded by default) and calls listeners.
 *
 * Cheap when nobody looks: `active` is false while events are neither recorded nor
 * listened to. Hot paths then call `skip(kind)` instead of building the event body;
 * `skip` consumes the sequence number and counts the kind exactly as `emit` would, so
 * `lastSeq`, `count()` and the numbering of later events are the same either way.
 */
export class EventStream {
  private readonly buf: SimEvent[] = [];
  private readonly listeners: EventListener[] = [];
  private nextSeq = 1;
  /** Every counter made (the hot ones exist from the start, at 0). */
  private readonly kindCounts = new Map<string, KindCount>();
  /** The counters of the kinds emitted so far, in the order of their first emission. */
  private readonly order: KindCount[] = [];
  /** The hot kinds' counters (see HotCounters). */
  readonly hot: HotCounters;
  /** The counter of the kind bumped last (a one-entry cache of kindCounts). */
  private lastKind: string | null = null;
  private lastCount: KindCount | null = null;
  private recording: boolean;
  private observed: boolean;
  /** Returns the id of the thread running now; set by the scheduler. */
  tidSource: () => number = () => 0;

  constructor(
    readonly capacity = Infinity,
    record = true,
  ) {
    this.recording = record;
    this.observed = record;
    this.hot = {
      lockAcquire: this.counter('lock.acquire'),
      lockRelease: this.counter('lock.release'),
      cfgRead: this.counter('cfg.read'),
      cfgWrite: this.counter('cfg.write'),
      mmio: this.counter('mmio'),
      syscall: this.counter('syscall'),
      fault: this.counter('fault'),
      pteInstall: this.counter('pte.install'),
      pteZap: this.counter('pte.zap'),
      vmaTrack: this.counter('vfio.vma-track'),
      vfioZap: this.counter('vfio.zap'),
    };
  }

  /** The counter of `kind` (made at 0 if it has none yet; it joins `order` when first bumped). */
  private counter(kind: EventKind): KindCount {
    let c = this.kindCounts.get(kind);
    if (c === undefined) {
      c = { kind, n: 0 };
      this.kindCounts.set(kind, c);
    }
    return c;
  }

  /** When false, events are counted and sent to listeners but not stored. */
  get record(): boolean {
    return this.recording;
  }

  set record(v: boolean) {
    this.recording = v;
    this.observed = v || this.listeners.length > 0;
  }

  /**
   * True when an emitted event can be observed (it is recorded or a listener is
   * registered). When false, `skip(kind)` is equivalent to `emit(body)` of that kind.
   */
  get active(): boolean {
    return this.observed;
  }

  /** Counts of every kind ever emitted (not limited by capacity); a snapshot. */
  get counts(): ReadonlyMap<string, number> {
    const m = new Map<string, number>();
    for (const c of this.order) m.set(c.kind, c.n);
    return m;
  }

  private bump(kind: string): void {
    // events of one kind often come in runs (config reads): skip the map lookup then
    const last = this.lastCount;
    if (last !== null && kind === this.lastKind) {
      last.n++;
      return;
    }
    let c = this.kindCounts.get(kind);
    if (c === undefined) {
      c = { kind, n: 0 };
      this.kindCounts.set(kind, c);
    }
    if (c.n++ === 0) this.order.push(c);
    this.lastKind = kind;
    this.lastCount = c;
  }

  emit(body: EventBody): SimEvent {
    const ev = body as SimEvent;
    (ev as { seq: number }).seq = this.nextSeq++;
    (ev as { tid: number }).tid = this.tidSource();
    this.bump(body.kind);
    if (this.recording) {
      this.buf.push(ev);
      if (this.buf.length > this.capacity) this.buf.splice(0, this.buf.length - this.capacity);
    }
    if (this.listeners.length > 0) for (const l of this.listeners) l(ev);
    return ev;
  }

  /**
   * An event of `kind` happened but nobody can observe its body (`active` is false):
   * take its sequence number and count it without building it. If the stream is
   * active, callers must use `emit` instead; a `skip` then is a programming error.
   */
  skip(kind: EventKind): void {
    if (this.observed) throw new Error(`EventStream.skip('${kind}') while events are observed`);
    this.nextSeq++;
    this.bump(kind);
  }

  /** `skip` of the kind counted by `c`, one of this stream's `hot` counters. */
  skipCounted(c: KindCount): void {
    if (this.observed) throw new Error(`EventStream.skip('${c.kind}') while events are observed`);
    this.nextSeq++;
    if (c.n++ === 0) this.order.push(c);
  }

  /** Events still held (all of them unless a capacity was set). */
  all(): readonly SimEvent[] {
    return this.buf;
  }

  /** Events with seq greater than `afterSeq`. */
  since(afterSeq: number): SimEvent[] {
    // events are in seq order; scan from the end
    let i = this.buf.length;
    while (i > 0 && (this.buf[i - 1] as SimEvent).seq > afterSeq) i--;
    return this.buf.slice(i);
  }

  /** Sequence number of the last event emitted (0 if none). */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  count(kind: string): number {
    return this.kindCounts.get(kind)?.n ?? 0;
  }

  on(l: EventListener): () => void {
    this.listeners.push(l);
    this.observed = true;
    return () => {
      const i = this.listeners.indexOf(l);
      if (i >= 0) this.listeners.splice(i, 1);
      this.observed = this.recording || this.listeners.length > 0;
    };
  }

  clear(): void {
    this.buf.length = 0;
  }
}
