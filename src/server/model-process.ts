/**
 * [model] A program's process as the model server keeps it: the model `Process` (its mm
 * and fd table), one `Libc` per connected thread, the buffer in the model process's
 * memory through which the server passes request data to the kernel (the shim copied it
 * out of the real program), and the program's own eventfds the model signals.
 */
import { EventfdCtx, eventfdCtxDoRead, EFD_NONBLOCK } from '../kernel/fs/eventfd.js';
import { findVmaImpl, asMm, PAGE_SIZE } from '../kernel/mm/mm.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../kernel/mm/types.js';
import { libc, type Dir, type Libc } from '../user/libc.js';
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
  readonly dirs = new Map<number, Dir>();
  private nextDir = 1;
  private nextThread = 1;

  constructor(
    /** The server's id for it (HELLO's token). */
    readonly token: number,
    /** The main thread's view. */
    readonly main: Process,
    /** The program's pid on the host (for reports). */
    readonly hostPid: number,
  ) {}

  /** Map the request buffer (a new process; a forked child inherits its parent's). */
  static setUp(main: Process): number {
    return main.mmap(REQUEST_BUFFER, REQUEST_BUFFER_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  }

  /** A thread view for a new connection: the main thread for the first, a new model thread for the others. */
  attach(name: string): Libc {
    this.connections++;
    if (this.connections === 1 && this.nextThread === 1) {
      this.nextThread++;
      return libc(this.main);
    }
    return libc(this.main.thread(`${name}/${this.nextThread++}`));
  }

  /**
   * The model eventfd standing for the program's eventfd `programFd` (made on first use,
   * non-blocking): the model signals it, and `takeSignals` hands the counts to the shim.
   */
  bindEventfd(c: Libc, programFd: number): number {
    const b = this.bindings.find((x) => x.programFd === programFd);
    if (b !== undefined && this.main.kproc.files.get(b.modelFd) !== undefined) return b.modelFd;
    const fd = c.eventfd(0, EFD_NONBLOCK);
    if (fd < 0) return -c.errno;
    if (b !== undefined) this.bindings.splice(this.bindings.indexOf(b), 1);
    this.bindings.push({ programFd, modelFd: fd });
    return fd;
  }

  /** Keep an open directory stream; its handle. */
  addDir(d: Dir): number {
    const h = this.nextDir++;
    this.dirs.set(h, d);
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
  mirror(c: Libc, addr: number, len: number): void {
    const start = Math.floor(addr / PAGE_SIZE) * PAGE_SIZE;
    const end = Math.ceil((addr + len) / PAGE_SIZE) * PAGE_SIZE;
    const mm = asMm(this.main.kproc.mm);
    let p = start;
    while (p < end) {
      const v = findVmaImpl(mm, p);
      const holeEnd = v === null ? end : Math.min(end, v.start);
      if (holeEnd > p) c.mmap(p, holeEnd - p, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      if (v === null) break;
      p = Math.max(holeEnd, v.end);
    }
  }
}
