/**
 * [model] A program's process as the model server keeps it: the model `Process` (its mm
 * and fd table), one `Libc` per connected thread, the buffer in the model process's
 * memory through which the server passes request data to the kernel (the shim copied it
 * out of the real program), and the program's own eventfds the model signals.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { EventfdCtx, eventfdCtxDoRead, EFD_NONBLOCK } from '../kernel/fs/eventfd.js';
import { findVmaImpl, asMm, PAGE_SIZE } from '../kernel/mm/mm.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../kernel/mm/types.js';
import type { Task } from '../kernel/sched/task.js';
import type { Process } from '../user/process.js';
import { MAX_TRANSFER } from './protocol.js';

/**
 * Where the request buffer lives in every model process: below any address a real x86-64
 * program maps (non-PIE executables start at 0x400000, mmap_min_addr is 0x10000), so the
 * program's own addresses — its BAR mappings and the memory it DMA-maps, which the model
 * process mirrors at the same addresses — never meet it.
 */
export const REQUEST_BUFFER = 0x100000;
/** Its size: one transfer and a page. */
export const REQUEST_BUFFER_SIZE = MAX_TRANSFER + PAGE_SIZE;

/** Bytes of the request buffer a READDIR's getdents64 fills (one page, as the library's readdir). */
export const DIRBUF = 4096;

/** A directory stream the program has open (opendir(3) in the model process): its fd and the records getdents64 returned, not yet handed out. */
export interface DirStream {
  readonly fd: number;
  data: Uint8Array;
  pos: number;
}

/** At most this many bytes of program memory are kept in step with the model (see syncIn/syncOut); a larger mirror stays the model's own. */
export const MAX_MIRRORED = 16 * 1024 * 1024;

/** A range of the program's memory the model process mirrors (it passed it to MAP_DMA). */
interface Mirror {
  readonly addr: number;
  readonly len: number;
  /** The bytes as last copied in from the program (what the model started the request with). */
  before: Uint8Array;
}

/** An eventfd of the real program and the model eventfd standing for it. */
interface EventfdBinding {
  readonly programFd: number;
  readonly modelFd: number;
}

export class ModelProcess {
  /** Connections (threads) still open; the process exits when the last one closes. */
  connections = 0;
  /** Whether it has exited (released as exit would). */
  exited = false;
  private readonly bindings: EventfdBinding[] = [];
  /** Directory streams the program has open (opendir), by handle. */
  readonly dirs = new Map<number, DirStream>();
  private nextDir = 1;
  private readonly mirrors: Mirror[] = [];
  private mirroredBytes = 0;
  /** /proc/<pid>/mem of the program, open while it mirrors memory (null: not open, -1: cannot be opened). */
  private mem: number | null = null;
  private nextThread = 1;

  constructor(
    /** The server's id for it (HELLO's token). */
    readonly token: number,
    /** The main thread's view. */
    readonly main: Process,
    /** The program's pid on the host (its memory is /proc/<pid>/mem). */
    public hostPid: number,
  ) {}

  /** Map the request buffer (a new process; a forked child inherits its parent's). */
  static setUp(main: Process): number {
    return main.mmap(REQUEST_BUFFER, REQUEST_BUFFER_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  }

  /** A thread view for a new connection: the main thread for the first, a new model thread for the others. */
  attach(name: string): Process {
    this.connections++;
    if (this.connections === 1 && this.nextThread === 1) {
      this.nextThread++;
      return this.main;
    }
    return this.main.thread(`${name}/${this.nextThread++}`);
  }

  /**
   * The model eventfd standing for the program's eventfd `programFd` (made on first use,
   * non-blocking): the model signals it, and `takeSignals` hands the counts to the shim.
   */
  *bindEventfd(p: Process, programFd: number): Task<number> {
    const b = this.bindings.find((x) => x.programFd === programFd);
    if (b !== undefined && this.main.kproc.files.get(b.modelFd) !== undefined) return b.modelFd;
    const fd = yield* p.ops.eventfd(0, EFD_NONBLOCK);
    if (fd < 0) return fd;
    if (b !== undefined) this.bindings.splice(this.bindings.indexOf(b), 1);
    this.bindings.push({ programFd, modelFd: fd });
    return fd;
  }

  /** Keep the directory stream of the open directory `fd`; its handle. */
  addDir(fd: number): number {
    const h = this.nextDir++;
    this.dirs.set(h, { fd, data: new Uint8Array(0), pos: 0 });
    return h;
  }

  /** [model] What the model signalled on the bound eventfds since the last request: (program fd, count) pairs, counters taken. */
  takeSignals(): [number, bigint][] {
    const out: [number, bigint][] = [];
    for (const b of this.bindings) {
      const f = this.main.kproc.files.get(b.modelFd);
      const ctx = f?.privateData;
      if (!(ctx instanceof EventfdCtx) || ctx.count === 0n) continue;
      out.push([b.programFd, eventfdCtxDoRead(ctx)]);
    }
    return out;
  }

  /**
   * [model] Make [addr, addr + len) ordinary memory in the model process where nothing is
   * mapped yet: the program's own memory it passes to the kernel by address
   * (VFIO_IOMMU_MAP_DMA's vaddr). A range the model already maps (a BAR mapping at the
   * same address as in the program) is left as it is.
   */
  *mirror(p: Process, addr: number, len: number): Task<void> {
    const start = Math.floor(addr / PAGE_SIZE) * PAGE_SIZE;
    const end = Math.ceil((addr + len) / PAGE_SIZE) * PAGE_SIZE;
    const mm = asMm(this.main.kproc.mm);
    let a = start;
    while (a < end) {
      const v = findVmaImpl(mm, a);
      const holeEnd = v === null ? end : Math.min(end, v.start);
      if (holeEnd > a && (yield* p.ops.mmap(a, holeEnd - a, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)) === a) this.track(a, holeEnd - a);
      if (v === null) break;
      a = Math.max(holeEnd, v.end);
    }
  }

  /** Keep [addr, addr + len) of the program and of the model process in step, within MAX_MIRRORED. */
  private track(addr: number, len: number): void {
    if (this.mirroredBytes + len > MAX_MIRRORED) return;
    this.mirrors.push({ addr, len, before: new Uint8Array(0) });
    this.mirroredBytes += len;
  }

  private memFd(): number {
    if (this.mem === null) {
      try {
        this.mem = openSync(`/proc/${this.hostPid}/mem`, 'r+');
      } catch {
        this.mem = -1;
      }
    }
    return this.mem;
  }

  /**
   * [model] Before a request: the program's current bytes of every mirrored range into the
   * model process (a device DMA from that memory reads what the program wrote). The
   * program's memory is read through /proc/<pid>/mem; a range the program no longer maps
   * is dropped.
   */
  *syncIn(p: Process): Task<void> {
    if (this.mirrors.length === 0) return;
    const fd = this.memFd();
    if (fd < 0) return;
    for (const m of this.mirrors.slice()) {
      const b = new Uint8Array(m.len);
      let n = 0;
      try {
        n = readSync(fd, b, 0, m.len, m.addr);
      } catch {
        n = 0;
      }
      if (n !== m.len) {
        this.mirrors.splice(this.mirrors.indexOf(m), 1);
        this.mirroredBytes -= m.len;
        continue;
      }
      yield* p.ops.writeBytes(m.addr, b);
      m.before = b;
    }
  }

  /**
   * [model] After a request: the bytes the model changed in a mirrored range (a device DMA
   * into it) written back to the program, only those, so that what the program's other
   * threads wrote meanwhile stays.
   */
  *syncOut(p: Process): Task<void> {
    if (this.mirrors.length === 0 || this.mem === null || this.mem < 0) return;
    for (const m of this.mirrors.slice()) {
      if (m.before.length !== m.len) continue;
      const got = yield* p.ops.readBytes(m.addr, m.len);
      if (!got.ok) continue;
      const now = got.data;
      const mem = this.mem;
      for (let i = 0; i < m.len; ) {
        if (now[i] === m.before[i]) {
          i++;
          continue;
        }
        let j = i;
        while (j < m.len && now[j] !== m.before[j]) j++;
        try {
          writeSync(mem, now, i, j - i, m.addr + i);
        } catch {
          // the program unmapped it meanwhile: syncIn drops the range
        }
        i = j;
      }
      m.before = now;
    }
  }

  /** Close /proc/<pid>/mem (the process exited). */
  release(): void {
    if (this.mem !== null && this.mem >= 0) closeSync(this.mem);
    this.mem = -1;
  }
}
