/**
 * The explorer's worker threads (node:worker_threads), spoken to synchronously: the
 * calling thread blocks while it waits (Atomics.wait on a shared counter the workers bump
 * after each message, messages taken with receiveMessageOnPort), so the search API stays
 * synchronous. Stop requests reach the workers through shared memory, polled between
 * executions. Which program the workers run is given by their entry module (protocol.ts:
 * WorkerProgram).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { CTRL_CANCEL_ABOVE, CTRL_NOTIFY, CTRL_STOP, type FromWorker, type ToWorker } from './protocol.js';

/** No message from a busy worker for this long: it is taken for dead. */
const SILENCE_MS = 300_000;

interface Slot {
  readonly worker: Worker;
  readonly port: MessagePort;
  busy: boolean;
  failure: string | null;
}

/**
 * Worker threads running one entry module, spoken to synchronously. `WorkerPool.acquire(n,
 * entry)` lends the process's shared pool of that entry (its workers stay loaded and warmed
 * up from one search to the next; they are unref'd, so they never keep the process alive),
 * or a pool of its own when the shared one is lent out; `release()` gives it back.
 */
export class WorkerPool {
  /** The shared pool of each entry module (by its file URL). */
  private static readonly shared = new Map<string, WorkerPool>();
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT));
  private readonly slots: Slot[] = [];
  /** How many of the slots this lease uses. */
  private active = 0;
  private lastHeard = performance.now();
  private leased = false;
  private closed = false;

  private constructor(
    private readonly entry: string,
    private readonly isShared: boolean,
  ) {
    if (!existsSync(fileURLToPath(entry))) throw new Error(`the explorer's worker entry is missing: ${fileURLToPath(entry)}`);
    this.reset();
  }

  /** A pool of `n` workers for one search or suite; give it back with `release()`. */
  static acquire(n: number, entry: string): WorkerPool {
    let p = WorkerPool.shared.get(entry);
    if (p === undefined || p.closed) WorkerPool.shared.set(entry, (p = new WorkerPool(entry, true)));
    else if (p.leased) p = new WorkerPool(entry, false);
    p.leased = true;
    p.grow(n);
    return p;
  }

  private reset(): void {
    Atomics.store(this.ctrl, CTRL_STOP, 0);
    Atomics.store(this.ctrl, CTRL_CANCEL_ABOVE, 0x7fffffff);
  }

  private grow(n: number): void {
    while (this.slots.length < n) {
      const ch = new MessageChannel();
      const worker = new Worker(new URL(this.entry), { workerData: { port: ch.port2, ctrl: this.ctrl }, transferList: [ch.port2] });
      worker.unref();
      const slot: Slot = { worker, port: ch.port1, busy: false, failure: null };
      // seen between slices only (the event loop runs then); a worker reports its own errors as messages
      worker.on('error', (e) => (slot.failure = e instanceof Error ? (e.stack ?? e.message) : String(e)));
      worker.on('exit', (code) => {
        if (!this.closed && slot.failure === null) slot.failure = `worker exited with code ${code}`;
      });
      this.slots.push(slot);
    }
    this.active = n;
    this.lastHeard = performance.now();
  }

  get size(): number {
    return this.active;
  }

  /** The idle workers' numbers. */
  idleWorkers(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.active; i++) if (!(this.slots[i] as Slot).busy) out.push(i);
    return out;
  }

  /** An idle worker's number, or null. */
  idle(): number | null {
    for (let i = 0; i < this.active; i++) if (!(this.slots[i] as Slot).busy) return i;
    return null;
  }

  get busyCount(): number {
    return this.slots.filter((s) => s.busy).length;
  }

  /** Send a message; a unit or a cell makes the worker busy until its result comes back. */
  send(i: number, msg: ToWorker): void {
    const s = this.slots[i] as Slot; // i comes from idle() or the loop over the active slots
    if (msg.type !== 'init') {
      if (this.busyCount === 0) this.lastHeard = performance.now();
      s.busy = true;
    }
    s.port.postMessage(msg);
  }

  broadcast(msg: ToWorker): void {
    for (let i = 0; i < this.active; i++) this.send(i, msg);
  }

  stopAll(): void {
    Atomics.store(this.ctrl, CTRL_STOP, 1);
  }

  cancelAbove(index: number): void {
    Atomics.store(this.ctrl, CTRL_CANCEL_ABOVE, Math.min(index, 0x7fffffff));
  }

  /**
   * The messages that arrived, waiting up to `ms` for one. A result frees its worker.
   * Throws when a worker failed.
   */
  receive(ms: number): { readonly from: number; readonly msg: FromWorker }[] {
    const seen = Atomics.load(this.ctrl, CTRL_NOTIFY);
    let out = this.drain();
    if (out.length === 0 && ms > 0) {
      Atomics.wait(this.ctrl, CTRL_NOTIFY, seen, ms);
      out = this.drain();
    }
    const now = performance.now();
    if (out.length > 0) this.lastHeard = now;
    for (const s of this.slots) if (s.failure !== null) throw new Error(`explorer worker failed: ${s.failure}`);
    for (const { msg } of out) if (msg.type === 'error') throw new Error(`explorer worker failed: ${msg.stack !== '' ? msg.stack : msg.message}`);
    if (this.busyCount > 0 && now - this.lastHeard > SILENCE_MS) throw new Error(`explorer worker silent for ${SILENCE_MS / 1000} s`);
    return out;
  }

  private drain(): { from: number; msg: FromWorker }[] {
    const out: { from: number; msg: FromWorker }[] = [];
    this.slots.forEach((s, from) => {
      for (let m = receiveMessageOnPort(s.port); m !== undefined; m = receiveMessageOnPort(s.port)) {
        const msg = m.message as FromWorker;
        if (msg.type === 'unit' || msg.type === 'cell') s.busy = false;
        out.push({ from, msg });
      }
    });
    return out;
  }

  /**
   * Give the pool back: busy workers are told to stop and waited for (a unit stops at its
   * next execution), their late messages dropped. `failed`: a worker failed — the pool
   * is closed instead.
   */
  release(failed = false): void {
    if (this.closed) return;
    if (failed || !this.isShared) {
      this.close();
      return;
    }
    this.stopAll();
    try {
      while (this.busyCount > 0) this.receive(1000);
    } catch {
      this.close();
      return;
    }
    this.reset();
    this.leased = false;
  }

  /** Stop every worker (a busy one is cut off). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopAll();
    if (WorkerPool.shared.get(this.entry) === this) WorkerPool.shared.delete(this.entry);
    for (const s of this.slots) {
      s.port.close();
      void s.worker.terminate();
    }
  }
}
