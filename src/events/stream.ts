import type { EventBody, SimEvent } from './event.js';

export type EventListener = (ev: SimEvent) => void;

/**
 * The one event stream of a simulated machine. It stamps each event with a sequence
 * number and the current thread id (provided by the kernel's scheduler), keeps the
 * most recent `capacity` events (unbounded by default) and calls listeners.
 */
export class EventStream {
  private readonly buf: SimEvent[] = [];
  private readonly listeners: EventListener[] = [];
  private nextSeq = 1;
  /** Counts of every kind ever emitted (not limited by capacity). */
  readonly counts = new Map<string, number>();
  /** Returns the id of the thread running now; set by the scheduler. */
  tidSource: () => number = () => 0;
  /** When false, events are counted and sent to listeners but not stored. */
  record: boolean;

  constructor(readonly capacity = Infinity, record = true) {
    this.record = record;
  }

  emit(body: EventBody): SimEvent {
    const ev = body as SimEvent;
    (ev as { seq: number }).seq = this.nextSeq++;
    (ev as { tid: number }).tid = this.tidSource();
    this.counts.set(body.kind, (this.counts.get(body.kind) ?? 0) + 1);
    if (this.record) {
      this.buf.push(ev);
      if (this.buf.length > this.capacity) this.buf.splice(0, this.buf.length - this.capacity);
    }
    for (const l of this.listeners) l(ev);
    return ev;
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
    return this.counts.get(kind) ?? 0;
  }

  on(l: EventListener): () => void {
    this.listeners.push(l);
    return () => {
      const i = this.listeners.indexOf(l);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  clear(): void {
    this.buf.length = 0;
  }
}
