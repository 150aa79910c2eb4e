/**
 * [model] The model server (`vfio-sim serve`, `vfio-sim exec`): one System (machine and
 * kernel) and a Unix socket. Each connection is one thread of a model process (HELLO
 * says which: a new process, another thread of one, or a forked child). A request becomes
 * a task on its connection's model thread (dispatch.ts), run by the kernel's scheduler:
 * requests are taken in the order they arrive, and after each the server steps the runnable
 * model threads round-robin by thread id until every one is blocked, parked or done; a
 * finished task's reply is sent then. A thread blocked in the model (a fault waiting for
 * memory_lock held by another thread's reset) therefore holds up nobody else.
 *
 * A malformed request gets -EINVAL (or -ENOSYS for an unknown op); a frame longer than
 * MAX_FRAME closes that connection; a connection that closes, mid-request or not, is a
 * thread that exited — when it was its process's last one, the process is released as
 * exit(2) releases it (fds closed, mappings unmapped). Other connections are unaffected.
 *
 * Time: with `clock: 'host'` the model's clock follows the host's monotonic clock — before
 * taking a request the server lets the host time elapsed since the previous one pass in
 * the model (the device timers that fall due run, e.g. an edu DMA completing ~100 ms after
 * its command), and a thread that slept in the kernel (a reset's msleep) is parked for as
 * long on the host before it takes its next step, other threads' requests being served
 * meanwhile. This is the one place where the host's clock reaches the model; it stays
 * outside the model's pure core. With `clock: 'model'` nothing is parked and a run is a
 * function of the order in which requests arrive.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { EINVAL, EIO, ENOENT, ENOMEM, ESRCH } from '../kernel/errno.js';
import type { SimEvent } from '../events/event.js';
import { MachineHalted } from '../kernel/sched/errors.js';
import type { Task } from '../kernel/sched/task.js';
import type { KThread } from '../kernel/sched/thread.js';
import { System, type SystemOptions } from '../system.js';
import type { Process } from '../user/process.js';
import { serveTask, type Reply } from './dispatch.js';
import { LockStates } from './lock-states.js';
import type { Recorder } from './recorder.js';
import { KernelLog } from './kernel-log.js';
import { ModelProcess } from './model-process.js';
import { HelloKind, MAX_FRAME, MAX_TRANSFER, Op, OP_NAMES, REQUEST_HEADER } from './protocol.js';

export interface ServerOptions extends SystemOptions {
  /** 'host': the model's clock follows the host's monotonic clock (exec's default); 'model': only the model advances it. */
  readonly clock?: 'host' | 'model';
  /** Called with every event of the model (e.g. to write --events). */
  readonly onEvent?: (ev: SimEvent) => void;
  /** Records every served request as a scenario step (--record). */
  readonly recorder?: Recorder;
}

/** What the server has served, for the exec report. */
export interface ServerStats {
  /** Requests served, by op name. */
  readonly requests: Map<string, number>;
  /** Processes that connected (forked children included). */
  processes: number;
  /** Connections closed while a request frame was incomplete. */
  abandoned: number;
  /** The machine stopped (a fatal platform error, or the model itself failed): requests after it get -EIO. */
  stopped: string | null;
  /** Model threads that died (a kernel BUG killed the thread) or deadlocked: their connections get -EIO, the others are served. */
  readonly lost: string[];
}

/** What a model thread is running for the server. */
interface InFlight {
  /** The connection waiting for the reply (null: it closed meanwhile). */
  conn: Connection | null;
  /** A request (its reply is sent), a fork (a child process is made) or the exit of the process. */
  readonly kind: 'request' | 'fork' | 'exit';
  readonly proc: ModelProcess;
  /** The request (op and payload), for --record. */
  readonly op?: number;
  readonly payload?: Uint8Array;
}

/** One connection: a thread of a model process. */
class Connection {
  private buf: Buffer = Buffer.alloc(0);
  proc: ModelProcess | null = null;
  thread: Process | null = null;
  /** Complete request frames not yet taken (a client may send the next before the reply). */
  readonly queue: { op: number; payload: Uint8Array }[] = [];
  /** A request of this connection is running in the model. */
  busy = false;
  /** The socket closed. */
  closed = false;
  /** Why its model thread is gone (killed by a kernel BUG, deadlocked): every request gets -EIO. */
  dead: string | null = null;
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
  readonly stats: ServerStats = { requests: new Map(), processes: 0, abandoned: 0, stopped: null, lost: [] };
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
  /** Who holds which lock, from the model's lock events (LOCK_STATE). */
  readonly locks = new LockStates();
  /** The tasks the model threads run for the server, by thread. */
  private readonly inFlight = new Map<KThread, InFlight>();
  /** Threads that slept in the kernel, waiting for the host's clock to catch up (clock 'host'). */
  private readonly parked = new Set<KThread>();
  /** The thread id of the last step taken (round-robin). */
  private lastTid = 0;
  private pumping = false;
  private readonly recorder: Recorder | null;

  constructor(opts: ServerOptions = {}) {
    this.sys = new System(opts);
    this.clock = opts.clock ?? 'model';
    this.recorder = opts.recorder ?? null;
    this.log = new KernelLog(() => this.sys.hw.clock.nowNs);
    this.sys.events.on(this.log.onEvent);
    this.sys.events.on(this.locks.onEvent);
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
      for (const f of frames) c.queue.push(f);
      this.take(c);
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      this.conns.delete(c);
      if (c.pending) this.stats.abandoned++;
      c.closed = true;
      if (!c.busy) this.disconnect(c);
    });
  }

  /** Take the connection's next request, unless one of it is running; answer it at once or start its task. */
  private take(c: Connection): void {
    while (!c.busy && !c.closed) {
      const f = c.queue.shift();
      if (f === undefined) return;
      const reply = this.handle(c, f.op, f.payload);
      if (reply !== null) this.reply(c, reply);
    }
  }

  private reply(c: Connection, r: Reply): void {
    if (c.closed || c.sock.destroyed) return;
    c.sock.write(this.encode(c, r));
  }

  private count(op: number): void {
    const name = OP_NAMES[op] ?? `op${op}`;
    this.stats.requests.set(name, (this.stats.requests.get(name) ?? 0) + 1);
  }

  /** A request: its reply now, or null when its task was started (the reply is sent when it completes). */
  private handle(c: Connection, op: number, payload: Uint8Array): Reply | null {
    this.count(op);
    if (this.stats.stopped !== null || c.dead !== null) return { ret: -EIO };
    if (op === Op.HELLO) return this.hello(c, payload);
    const p = c.proc;
    const t = c.thread;
    if (p === null || t === null) return { ret: -EIO };
    if (op === Op.TAINTED) return { ret: this.log.tainted };
    if (op === Op.LOCK_STATE) return { ret: this.locks.state(new TextDecoder().decode(payload)) ?? -ENOENT };
    if (op === Op.KLOG) {
      const kmsg = payload.length >= 4 && new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(0, true) === 1;
      const all = new TextEncoder().encode(kmsg ? this.log.kmsgText() : this.log.syslogText());
      const data = all.length > MAX_TRANSFER ? all.subarray(all.length - MAX_TRANSFER) : all;
      return { ret: data.length, data };
    }
    // time passes (a DMA may complete), then the request runs as a task of the connection's model thread
    this.followHostClock();
    if (op === Op.FORK) this.start(t, t.ops.fork(), { conn: c, kind: 'fork', proc: p, op }, 'fork');
    else this.start(t, serveTask(p, t, op, payload), { conn: c, kind: 'request', proc: p, op, payload: Uint8Array.from(payload) }, OP_NAMES[op] ?? `op${op}`);
    if (c.dead !== null) return { ret: -EIO };
    this.pump();
    return null;
  }

  /** Start `task` on the model thread of `t`. */
  private start(t: Process, task: Task<unknown>, what: InFlight, label: string): void {
    const kt = t.kthread;
    if (kt.state === 'dead') {
      if (what.conn !== null) what.conn.dead = kt.deathReason ?? 'dead';
      return;
    }
    this.sys.kernel.sched.start(kt, task, label);
    this.inFlight.set(kt, what);
    if (what.conn !== null) what.conn.busy = true;
  }

  /**
   * [model] Run the model threads until none can take a step: the runnable ones (not
   * parked) round-robin by thread id, starting after the last one that stepped. A task
   * that completes gets its reply; a thread that slept in the kernel is parked for as long
   * on the host (clock 'host'); when nothing can run, nothing is parked and requests' threads
   * still wait (a deadlock among them: no request of another connection can free them) their
   * connections are answered -EIO and reported.
   */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    const sched = this.sys.kernel.sched;
    const clock = this.sys.hw.clock;
    try {
      for (;;) {
        if (this.stats.stopped !== null) break;
        const t = this.pick();
        if (t === null) {
          if (this.parked.size > 0 || !this.deadlocked()) break;
          continue;
        }
        const before = clock.nowNs;
        try {
          sched.step(t);
        } catch (e) {
          this.stop(e);
          break;
        }
        this.lastTid = t.tid;
        if (t.state === 'done' || t.state === 'dead') this.finish(t);
        else if (this.clock === 'host' && t.state === 'runnable' && clock.nowNs > before && this.parks(t)) this.park(t, clock.nowNs - before);
      }
    } finally {
      this.pumping = false;
    }
  }

  /** The next runnable thread that is not parked, round-robin by thread id; null if none. */
  private pick(): KThread | null {
    let first: KThread | null = null;
    let after: KThread | null = null;
    for (const t of this.sys.kernel.sched.threads) {
      if (t.state !== 'runnable' || this.parked.has(t)) continue;
      if (first === null || t.tid < first.tid) first = t;
      if (t.tid > this.lastTid && (after === null || t.tid < after.tid)) after = t;
    }
    return after ?? first;
  }

  /**
   * Whether a sleep of `t` in the kernel takes host time: a request's or a fork's, whose
   * program waits for the reply. The release of an exited process is not parked: its
   * program is gone, and on a real kernel exit(2) has released its files before the
   * parent's wait returns, so the next program must find the device free.
   */
  private parks(t: KThread): boolean {
    const f = this.inFlight.get(t);
    return f !== undefined && f.kind !== 'exit';
  }

  /** Park `t` (it slept `ns` in the kernel) until as much host time has passed; that time is the model's already. */
  private park(t: KThread, ns: number): void {
    this.parked.add(t);
    const ms = Math.max(1, Math.round(ns / 1_000_000));
    this.lastHost += BigInt(ms) * 1_000_000n;
    setTimeout(() => {
      this.parked.delete(t);
      this.pump();
    }, ms);
  }

  /**
   * Nothing can step and nothing is parked. A device timer armed in the model makes the
   * CPUs idle until it expires (as the scheduler does); otherwise the requests' threads
   * that still sleep can never wake: their connections get -EIO and the deadlock is
   * reported. True when some thread may step now.
   */
  private deadlocked(): boolean {
    const sched = this.sys.kernel.sched;
    const stuck = Array.from(this.inFlight.keys()).filter((t) => t.state === 'blocked');
    if (stuck.length === 0) return false;
    const clock = this.sys.hw.clock;
    const at = clock.nextDeviceDeadline();
    if (at >= 0) {
      if (at > clock.nowNs) clock.advance(at - clock.nowNs);
      if (sched.startDueHardware()) return true;
    }
    const edges = sched.waitEdges().map((e) => `${e.waiter} waits for ${e.on} held by ${e.holders.join(', ') || 'nobody'}`);
    this.stats.lost.push(`deadlock: ${edges.join('; ')}`);
    for (const t of stuck) {
      const f = this.inFlight.get(t);
      this.inFlight.delete(t);
      if (f === undefined || f.conn === null) continue;
      f.conn.dead = `deadlocked in the model (${t.name})`;
      f.conn.busy = false;
      this.reply(f.conn, { ret: -EIO });
    }
    return false;
  }

  /** The task of `t` completed (or the thread died): answer its connection, make the forked child, or end the process. */
  private finish(t: KThread): void {
    const f = this.inFlight.get(t);
    if (f === undefined) {
      if (t.state === 'done') t.state = 'idle';
      return;
    }
    this.inFlight.delete(t);
    const c = f.conn;
    let reply: Reply = { ret: -EIO };
    if (t.state === 'dead') {
      this.stats.lost.push(`${t.name}: ${t.deathReason ?? 'dead'}`);
      if (c !== null) c.dead = t.deathReason ?? 'dead';
    } else {
      t.state = 'idle';
      if (f.kind === 'request') reply = t.result as Reply;
      else if (f.kind === 'fork') reply = this.forked(t.result as Process | number);
      else return;
      if (this.recorder !== null && f.op !== undefined) this.recorder.record(f.proc, f.proc.main.name, t, t.name, f.op, f.payload ?? new Uint8Array(0), reply);
    }
    if (c === null) return;
    c.busy = false;
    if (c.closed) {
      this.disconnect(c);
      return;
    }
    this.reply(c, reply);
    // the connection's next request, if it sent one already
    this.take(c);
  }

  /** The machine halted or the model failed: nothing more is served. */
  private stop(e: unknown): void {
    this.stats.stopped = e instanceof MachineHalted ? `MachineHalted: ${e.reason}` : `${(e as Error).name}: ${(e as Error).message}`;
    for (const [, f] of this.inFlight) if (f.conn !== null) {
      f.conn.busy = false;
      this.reply(f.conn, { ret: -EIO });
    }
    this.inFlight.clear();
  }

  /**
   * Let the host time that passed since the last request pass in the model too (whole
   * milliseconds; the rest is carried over). The model's own sleeps (a reset's waits) add
   * to its clock on top, as they would take time on a real host, so an edu DMA armed by
   * one request completes 100 ms of host time later, whatever the kernel slept before.
   */
  private followHostClock(): void {
    if (this.clock !== 'host') return;
    const now = process.hrtime.bigint();
    const ms = Number((now - this.lastHost) / 1_000_000n);
    if (ms < 1) return;
    this.lastHost += BigInt(ms) * 1_000_000n;
    // the device timers that fall due on the way run in the request's task (serveTask), after the program's memory is in
    this.sys.hw.clock.advance(ms * 1_000_000);
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

  /** fork(2) of the requesting process done: the child waits for its own connection (HELLO FORK_CHILD with this token). */
  private forked(child: Process | number): Reply {
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
    // exit(2) on the thread of the last connection (a new thread of the process if that one died in the kernel)
    const t = c.thread !== null && c.thread.kthread.state === 'idle' ? c.thread : p.main.thread('exit');
    this.start(t, t.ops.exit(), { conn: null, kind: 'exit', proc: p }, 'exit');
    this.pump();
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
