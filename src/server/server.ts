/**
 * [model] The model server (`vfio-sim serve`, `vfio-sim exec`): one System (machine and
 * kernel) and a Unix socket. Each connection is one thread of a model process (HELLO
 * says which: a new process, another thread of one, or a forked child); its requests are
 * served one at a time, every request to completion before the next, in the order they
 * arrive (Node runs one callback at a time), through the library's C-shaped layer.
 *
 * A malformed request gets -EINVAL (or -ENOSYS for an unknown op); a frame longer than
 * MAX_FRAME closes that connection; a connection that closes, mid-request or not, is a
 * thread that exited — when it was its process's last one, the process is released as
 * exit(2) releases it (fds closed, mappings unmapped). Other connections are unaffected.
 *
 * Time: with `clock: 'host'` the model's clock follows the host's monotonic clock — before
 * serving a request the server lets the host time elapsed since the previous one pass in
 * the model (a nanosleep of the requesting thread, which runs the device timers that fall
 * due, e.g. an edu DMA completing ~100 ms after its command). This is the one place where
 * the host's clock reaches the model; it stays outside the model's pure core.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { EINVAL, EIO, ENOMEM, ESRCH } from '../kernel/errno.js';
import type { SimEvent } from '../events/event.js';
import { System, type SystemOptions } from '../system.js';
import type { Libc } from '../user/libc.js';
import { serveRequest, type Reply } from './dispatch.js';
import { KernelLog } from './kernel-log.js';
import { ModelProcess } from './model-process.js';
import { HelloKind, MAX_FRAME, MAX_TRANSFER, Op, OP_NAMES, REQUEST_HEADER } from './protocol.js';

export interface ServerOptions extends SystemOptions {
  /** 'host': the model's clock follows the host's monotonic clock (exec's default); 'model': only the model advances it. */
  readonly clock?: 'host' | 'model';
  /** Called with every event of the model (e.g. to write --events). */
  readonly onEvent?: (ev: SimEvent) => void;
}

/** What the server has served, for the exec report. */
export interface ServerStats {
  /** Requests served, by op name. */
  readonly requests: Map<string, number>;
  /** Processes that connected (forked children included). */
  processes: number;
  /** Connections closed while a request frame was incomplete. */
  abandoned: number;
  /** The kernel or machine stopped (a BUG, a fatal platform error, a deadlock): requests after it get -EIO. */
  stopped: string | null;
}

/** One connection: a thread of a model process. */
class Connection {
  private buf: Buffer = Buffer.alloc(0);
  proc: ModelProcess | null = null;
  thread: Libc | null = null;
  constructor(readonly sock: Socket) {}

  /** Append received bytes; the complete frames now available. */
  frames(chunk: Buffer): { op: number; payload: Uint8Array }[] | 'too-long' {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: { op: number; payload: Uint8Array }[] = [];
    for (;;) {
      if (this.buf.length < 4) break;
      const len = this.buf.readUInt32LE(0);
      if (len > MAX_FRAME) return 'too-long';
      if (this.buf.length < 4 + len) break;
      const op = len >= 4 ? this.buf.readUInt32LE(4) : 0;
      out.push({ op, payload: this.buf.subarray(REQUEST_HEADER, 4 + len) });
      this.buf = this.buf.subarray(4 + len);
    }
    return out;
  }

  get pending(): boolean {
    return this.buf.length > 0;
  }
}

export class ModelServer {
  readonly sys: System;
  readonly stats: ServerStats = { requests: new Map(), processes: 0, abandoned: 0, stopped: null };
  private readonly procs = new Map<number, ModelProcess>();
  /** Forked children not yet connected: token → process. */
  private readonly forks = new Map<number, ModelProcess>();
  private nextToken = 1;
  private readonly net: Server;
  private readonly clock: 'host' | 'model';
  /** The host's monotonic time up to which the model has been advanced (see followHostClock). */
  private lastHost = process.hrtime.bigint();
  private readonly conns = new Set<Connection>();
  /** The model kernel's log and taint flags, as the program's klogctl and /dev/kmsg see them. */
  readonly log: KernelLog;

  constructor(opts: ServerOptions = {}) {
    this.sys = new System(opts);
    this.clock = opts.clock ?? 'model';
    this.log = new KernelLog(() => this.sys.hw.clock.nowNs);
    this.sys.events.on(this.log.onEvent);
    if (opts.onEvent !== undefined) this.sys.events.on(opts.onEvent);
    this.net = createServer((s) => this.accept(s));
  }

  /** Listen on the Unix socket `path`. */
  listen(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.net.once('error', reject);
      this.net.listen(path, () => {
        this.net.off('error', reject);
        this.lastHost = process.hrtime.bigint();
        resolve();
      });
    });
  }

  /** Stop accepting, close every connection (their processes are released). */
  close(): Promise<void> {
    for (const c of this.conns) c.sock.destroy();
    return new Promise((resolve) => this.net.close(() => resolve()));
  }

  /** Model processes still connected. */
  get liveProcesses(): number {
    let n = 0;
    for (const p of this.procs.values()) if (!p.exited) n++;
    return n;
  }

  private accept(sock: Socket): void {
    const c = new Connection(sock);
    this.conns.add(c);
    sock.on('data', (chunk: Buffer) => {
      const frames = c.frames(chunk);
      if (frames === 'too-long') {
        sock.destroy();
        return;
      }
      for (const f of frames) {
        const reply = this.handle(c, f.op, f.payload);
        if (sock.destroyed) return;
        sock.write(this.encode(c, reply));
      }
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      this.conns.delete(c);
      if (c.pending) this.stats.abandoned++;
      this.disconnect(c);
    });
  }

  private count(op: number): void {
    const name = OP_NAMES[op] ?? `op${op}`;
    this.stats.requests.set(name, (this.stats.requests.get(name) ?? 0) + 1);
  }

  private handle(c: Connection, op: number, payload: Uint8Array): Reply {
    this.count(op);
    if (this.stats.stopped !== null) return { ret: -EIO };
    try {
      if (op === Op.HELLO) return this.hello(c, payload);
      const p = c.proc;
      const t = c.thread;
      if (p === null || t === null) return { ret: -EIO };
      if (op === Op.FORK) return this.fork(p);
      if (op === Op.TAINTED) return { ret: this.log.tainted };
      if (op === Op.KLOG) {
        const kmsg = payload.length >= 4 && new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(0, true) === 1;
        const all = new TextEncoder().encode(kmsg ? this.log.kmsgText() : this.log.syslogText());
        const data = all.length > MAX_TRANSFER ? all.subarray(all.length - MAX_TRANSFER) : all;
        return { ret: data.length, data };
      }
      // the program's DMA-mapped memory into the model, time passes (a DMA may complete), the request, the model's changes back
      p.syncIn(t);
      this.followHostClock(t);
      const r = serveRequest(p, t, op, payload);
      p.syncOut(t);
      return r;
    } catch (e) {
      // the kernel or the machine stopped (BUG, fatal platform error, deadlock): nothing more can be served
      this.stats.stopped = `${(e as Error).name}: ${(e as Error).message}`;
      return { ret: -EIO };
    }
  }

  /**
   * Let the host time that passed since the last request pass in the model too (whole
   * milliseconds; the rest is carried over). The model's own sleeps (a reset's waits) add
   * to its clock on top, as they would take time on a real host, so an edu DMA armed by
   * one request completes 100 ms of host time later, whatever the kernel slept before.
   */
  private followHostClock(t: Libc): void {
    if (this.clock !== 'host') return;
    const now = process.hrtime.bigint();
    const ms = Number((now - this.lastHost) / 1_000_000n);
    if (ms < 1) return;
    this.lastHost += BigInt(ms) * 1_000_000n;
    const clock = this.sys.hw.clock;
    const ns = ms * 1_000_000;
    const next = clock.nextDeviceDeadline();
    // nothing falls due on the way: moving the clock is all a sleep would do (and it costs no scheduling, no events)
    if (clock.pending === 0 && (next < 0 || next > clock.nowNs + ns)) clock.advance(ns);
    else t.proc.sleep(ms);
  }

  private hello(c: Connection, payload: Uint8Array): Reply {
    if (c.proc !== null || payload.length < 12) return { ret: -EINVAL };
    const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    const kind = v.getUint32(0, true);
    const token = v.getUint32(4, true);
    const hostPid = v.getUint32(8, true);
    const name = new TextDecoder().decode(payload.subarray(12)).replace(/[^\x20-\x7e]/g, '?').slice(0, 64) || 'program';
    let p: ModelProcess | undefined;
    if (kind === HelloKind.PROCESS) {
      const main = this.sys.spawnProcess(name);
      if (ModelProcess.setUp(main) < 0) return { ret: -ENOMEM };
      p = new ModelProcess(this.nextToken++, main, hostPid);
      this.procs.set(p.token, p);
      this.stats.processes++;
    } else if (kind === HelloKind.THREAD) {
      p = this.procs.get(token);
      if (p === undefined || p.exited) return { ret: -ESRCH };
    } else if (kind === HelloKind.FORK_CHILD) {
      p = this.forks.get(token);
      if (p === undefined) return { ret: -ESRCH };
      this.forks.delete(token);
      p.hostPid = hostPid;
      this.stats.processes++;
    } else return { ret: -EINVAL };
    c.proc = p;
    c.thread = p.attach(name);
    return { ret: p.token };
  }

  /** fork(2) of the requesting process: the child waits for its own connection (HELLO FORK_CHILD with this token). */
  private fork(p: ModelProcess): Reply {
    const child = p.main.fork();
    if (typeof child === 'number') return { ret: child };
    const cp = new ModelProcess(this.nextToken++, child, 0);
    this.procs.set(cp.token, cp);
    this.forks.set(cp.token, cp);
    return { ret: cp.token };
  }

  /** A thread's connection closed: the last one of its process releases the process (exit). */
  private disconnect(c: Connection): void {
    const p = c.proc;
    if (p === null) return;
    c.proc = null;
    p.connections--;
    if (p.connections > 0 || p.exited) return;
    p.exited = true;
    p.release();
    if (this.stats.stopped !== null) return;
    try {
      p.main.exit();
    } catch (e) {
      this.stats.stopped = `${(e as Error).name}: ${(e as Error).message}`;
    }
  }

  private encode(c: Connection, r: Reply): Buffer {
    const sigs = c.proc?.takeSignals() ?? [];
    const data = r.data ?? new Uint8Array(0);
    const b = Buffer.alloc(4 + 12 + sigs.length * 16 + data.length);
    b.writeUInt32LE(b.length - 4, 0);
    b.writeBigInt64LE(BigInt(r.ret), 4);
    b.writeUInt32LE(sigs.length, 12);
    let off = 16;
    for (const [fd, n] of sigs) {
      b.writeInt32LE(fd, off);
      b.writeBigUInt64LE(BigInt.asUintN(64, n), off + 8);
      off += 16;
    }
    b.set(data, off);
    return b;
  }
}
