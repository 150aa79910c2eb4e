/**
 * A user process as a program sees it: system calls and CPU loads/stores through the
 * MMU. Every operation exists twice:
 *
 * - a synchronous method (`p.pread(...)`) that runs the operation to completion on this
 *   thread with `k.sched.runSync` (no other thread takes a step meanwhile), and
 * - a Task-returning twin (`p.ops.pread(...)`) that a scheduler can start on
 *   `p.kthread` and interleave with other threads.
 *
 * Errors are returned, never thrown: system calls return -errno, CPU accesses return the
 * signal they raised. (The scheduler's own exceptions — KernelDeadlock, ThreadKilled,
 * MachineHalted — do propagate from the synchronous methods: they end the simulation.)
 */
import type { AccessSize } from '../hw/api.js';
import type { Kernel } from '../kernel/kernel.js';
import {
  type CpuAccessResult,
  type CpuSignal,
  userAccess,
  userReadBytes,
  userWriteBytes,
} from '../kernel/mm/access.js';
import { sysFutex } from '../kernel/futex/futex.js';
import { pageAlignUp } from '../kernel/mm/mm.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../kernel/mm/types.js';
import { createProcess, exitProcess, type KProcessImpl, spawnThread } from '../kernel/process.js';
import type { Task } from '../kernel/sched/task.js';
import type { KThread } from '../kernel/sched/thread.js';
import {
  O_RDWR,
  sysClose,
  sysEventfd,
  sysForkProcess,
  sysGetdents64,
  sysIoctl,
  sysMmap,
  sysMunmap,
  sysOpen,
  sysPread,
  sysPwrite,
  sysRead,
  sysReadlink,
  sysWrite,
} from '../kernel/syscalls.js';

export type { CpuAccessResult, CpuSignal };

/** Result of a user memcpy out of memory: the bytes, or the signal plus the bytes read before it. */
export type ReadBytesResult = { ok: true; data: Uint8Array } | (CpuSignal & { data: Uint8Array });

/** Result of a user memcpy into memory: success, or the signal plus how many bytes were stored before it. */
export type WriteBytesResult = { ok: true } | (CpuSignal & { done: number });

/** pread/read into a fresh buffer: the syscall's return and the bytes it produced. */
export interface ReadResult {
  /** Bytes read, or -errno. */
  ret: number;
  /** The bytes read (empty on error). */
  data: Uint8Array;
}

/** The bump allocator's arena, shared by every thread of a process (copied on fork). */
interface Arena {
  base: number;
  used: number;
  size: number;
}

/** Default arena size for `alloc`. */
const ARENA_SIZE = 64 * 1024;
const ALLOC_ALIGN = 16;

/** The Task-returning twins of every Process operation (same arguments, same results). */
export interface ProcessOps {
  open(path: string, flags?: number): Task<number>;
  close(fd: number): Task<number>;
  read(fd: number, buf: number, count: number): Task<number>;
  write(fd: number, buf: number, count: number): Task<number>;
  pread(fd: number, buf: number, count: number, offset: number): Task<number>;
  pwrite(fd: number, buf: number, count: number, offset: number): Task<number>;
  ioctl(fd: number, cmd: number, arg: number): Task<number>;
  mmap(addr: number, len: number, prot: number, flags: number, fd: number, offset: number): Task<number>;
  munmap(addr: number, len: number): Task<number>;
  eventfd(initval: number, flags: number): Task<number>;
  readlink(path: string, buf: number, bufsiz: number): Task<number>;
  getdents64(fd: number, dirp: number, count: number): Task<number>;
  futex(uaddr: number, op: number, val: number, uaddr2: number, val3: number): Task<number>;
  fork(openBeforeCopy?: boolean): Task<Process | number>;
  load(addr: number, size: AccessSize): Task<CpuAccessResult>;
  store(addr: number, size: AccessSize, value: bigint | number): Task<CpuAccessResult>;
  readBytes(addr: number, len: number): Task<ReadBytesResult>;
  writeBytes(addr: number, data: Uint8Array): Task<WriteBytesResult>;
  alloc(len: number): Task<number>;
  preadBytes(fd: number, count: number, offset: number): Task<ReadResult>;
  pwriteBytes(fd: number, data: Uint8Array, offset: number): Task<number>;
  exit(): Task<void>;
}

/**
 * One thread of a user process. `Process.create(k, name)` makes a new process;
 * `p.thread(name)` another thread of the same process (sharing mm, fds and the `alloc`
 * arena); `p.fork()` a child process.
 */
export class Process {
  /** The kernel process behind this view. */
  readonly kproc: KProcessImpl;
  /** The thread this view runs its operations on. */
  readonly kthread: KThread;
  /** Task-returning twins of every operation, for scheduled (interleaved) runs. */
  readonly ops: ProcessOps;
  private readonly arena: Arena;
  /** Per-thread scratch buffer for preadBytes/pwriteBytes. */
  private scratch = { addr: 0, size: 0 };

  /**
   * A view of `proc` running on `thread` (default: its first thread). `arena` is shared
   * between views of the same process; omit it for a new process.
   */
  constructor(
    readonly k: Kernel,
    proc: KProcessImpl,
    thread?: KThread,
    arena?: { base: number; used: number; size: number },
  ) {
    this.kproc = proc;
    this.kthread = thread ?? proc.mainThread;
    this.arena = arena ?? { base: 0, used: 0, size: 0 };
    this.ops = new Process.Ops(this);
  }

  /** A new process named `name` with one thread. */
  static create(k: Kernel, name: string): Process {
    return new Process(k, createProcess(k, name));
  }

  get pid(): number {
    return this.kproc.pid;
  }

  get name(): string {
    return this.kproc.name;
  }

  /** Another thread of this process (same mm, fds, arena) with the same API. */
  thread(name: string): Process {
    const t = spawnThread(this.k, this.kproc, name);
    return new Process(this.k, this.kproc, t, this.arena);
  }

  private run<T>(task: Task<T>, label: string): T {
    return this.k.sched.runSync(this.kthread, task, label);
  }

  /**
   * The class of `ops`: methods over one view (`this.p`), not closures, so that a copy of
   * a whole System (the explorer's snapshots, src/check/snapshot.ts) runs its own
   * processes. Nested here to reach the view's arena and scratch buffer.
   */
  private static readonly Ops = class ProcessOpsOf implements ProcessOps {
    constructor(private readonly p: Process) {}

    open(path: string, flags = O_RDWR): Task<number> {
      return sysOpen(this.p.k, this.p.kproc, path, flags);
    }

    close(fd: number): Task<number> {
      return sysClose(this.p.k, this.p.kproc, fd);
    }

    read(fd: number, buf: number, count: number): Task<number> {
      return sysRead(this.p.k, this.p.kproc, fd, buf, count);
    }

    write(fd: number, buf: number, count: number): Task<number> {
      return sysWrite(this.p.k, this.p.kproc, fd, buf, count);
    }

    pread(fd: number, buf: number, count: number, offset: number): Task<number> {
      return sysPread(this.p.k, this.p.kproc, fd, buf, count, offset);
    }

    pwrite(fd: number, buf: number, count: number, offset: number): Task<number> {
      return sysPwrite(this.p.k, this.p.kproc, fd, buf, count, offset);
    }

    ioctl(fd: number, cmd: number, arg: number): Task<number> {
      return sysIoctl(this.p.k, this.p.kproc, fd, cmd, arg);
    }

    mmap(addr: number, len: number, prot: number, flags: number, fd: number, offset: number): Task<number> {
      return sysMmap(this.p.k, this.p.kproc, addr, len, prot, flags, fd, offset);
    }

    munmap(addr: number, len: number): Task<number> {
      return sysMunmap(this.p.k, this.p.kproc, addr, len);
    }

    eventfd(initval: number, flags: number): Task<number> {
      return sysEventfd(this.p.k, this.p.kproc, initval, flags);
    }

    readlink(path: string, buf: number, bufsiz: number): Task<number> {
      return sysReadlink(this.p.k, this.p.kproc, path, buf, bufsiz);
    }

    getdents64(fd: number, dirp: number, count: number): Task<number> {
      return sysGetdents64(this.p.k, this.p.kproc, fd, dirp, count);
    }

    futex(uaddr: number, op: number, val: number, uaddr2: number, val3: number): Task<number> {
      return sysFutex(this.p.k, uaddr, op, val, uaddr2, val3);
    }

    *fork(openBeforeCopy?: boolean): Task<Process | number> {
      const p = this.p;
      const r = yield* sysForkProcess(p.k, p.kproc, openBeforeCopy);
      if (typeof r === 'number') return r;
      return new Process(p.k, r, undefined, { ...p.arena });
    }

    load(addr: number, size: AccessSize): Task<CpuAccessResult> {
      return userAccess(this.p.k, addr, size, false, 0n);
    }

    store(addr: number, size: AccessSize, value: bigint | number): Task<CpuAccessResult> {
      return userAccess(this.p.k, addr, size, true, BigInt(value));
    }

    *readBytes(addr: number, len: number): Task<ReadBytesResult> {
      const r = yield* userReadBytes(this.p.k, addr, len);
      return r.signal === null ? { ok: true, data: r.data } : { ...r.signal, data: r.data };
    }

    *writeBytes(addr: number, data: Uint8Array): Task<WriteBytesResult> {
      const r = yield* userWriteBytes(this.p.k, addr, data);
      return r.signal === null ? { ok: true } : { ...r.signal, done: r.done };
    }

    alloc(len: number): Task<number> {
      return this.p.allocTask(len);
    }

    *preadBytes(fd: number, count: number, offset: number): Task<ReadResult> {
      const p = this.p;
      const buf = p.scratchReady(count) ? p.scratch.addr : yield* p.scratchTask(count);
      if (buf < 0) return { ret: buf, data: new Uint8Array(0) };
      const ret = yield* sysPread(p.k, p.kproc, fd, buf, count, offset);
      if (ret <= 0) return { ret, data: new Uint8Array(0) };
      const r = yield* userReadBytes(p.k, buf, ret);
      return { ret, data: r.data };
    }

    *pwriteBytes(fd: number, data: Uint8Array, offset: number): Task<number> {
      const p = this.p;
      const buf = p.scratchReady(data.length) ? p.scratch.addr : yield* p.scratchTask(data.length);
      if (buf < 0) return buf;
      const w = yield* userWriteBytes(p.k, buf, data);
      if (w.signal !== null) return -14; // -EFAULT: the scratch buffer is ordinary memory
      return yield* sysPwrite(p.k, p.kproc, fd, buf, data.length, offset);
    }

    exit(): Task<void> {
      return exitProcess(this.p.k, this.p.kproc);
    }
  };

  /** Bump-allocate `len` bytes (16-byte aligned) from the process's anonymous arena; address or -errno. */
  private *allocTask(len: number): Task<number> {
    const a = this.arena;
    const need = Math.max(1, Math.ceil(len / ALLOC_ALIGN) * ALLOC_ALIGN);
    if (a.base === 0 || a.used + need > a.size) {
      const size = Math.max(ARENA_SIZE, pageAlignUp(need));
      const addr = yield* sysMmap(this.k, this.kproc, 0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (addr < 0) return addr;
      a.base = addr;
      a.used = 0;
      a.size = size;
    }
    const r = a.base + a.used;
    a.used += need;
    return r;
  }

  /** Whether the scratch buffer already holds `n` bytes (scratchTask would return it at once). */
  private scratchReady(n: number): boolean {
    return this.scratch.size >= n && this.scratch.addr !== 0;
  }

  /** This thread's scratch buffer of at least `n` bytes (address or -errno). */
  private *scratchTask(n: number): Task<number> {
    if (this.scratchReady(n)) return this.scratch.addr;
    const addr = yield* this.allocTask(Math.max(n, 4096));
    if (addr < 0) return addr;
    this.scratch = { addr, size: Math.max(n, 4096) };
    return addr;
  }

  // ---- synchronous API ---------------------------------------------------------

  /** open(2) of a device node or a /sys path; fd or -errno (-ENOENT for an unknown path). */
  open(path: string, flags = O_RDWR): number {
    return this.run(this.ops.open(path, flags), 'open');
  }

  /** close(2); 0 or -EBADF. */
  close(fd: number): number {
    return this.run(this.ops.close(fd), 'close');
  }

  /** read(2) into user memory at `buf`, advancing the file position; bytes or -errno. */
  read(fd: number, buf: number, count: number): number {
    return this.run(this.ops.read(fd, buf, count), 'read');
  }

  /** write(2) from user memory at `buf`, advancing the file position; bytes or -errno. */
  write(fd: number, buf: number, count: number): number {
    return this.run(this.ops.write(fd, buf, count), 'write');
  }

  /** pread(2) into user memory at `buf`; bytes or -errno. */
  pread(fd: number, buf: number, count: number, offset: number): number {
    return this.run(this.ops.pread(fd, buf, count, offset), 'pread');
  }

  /** pwrite(2) from user memory at `buf`; bytes or -errno. */
  pwrite(fd: number, buf: number, count: number, offset: number): number {
    return this.run(this.ops.pwrite(fd, buf, count, offset), 'pwrite');
  }

  /** pread(2) into a scratch buffer, returning the bytes read. */
  preadBytes(fd: number, count: number, offset: number): ReadResult {
    return this.run(this.ops.preadBytes(fd, count, offset), 'pread');
  }

  /** pwrite(2) of `data` (staged in a scratch buffer); bytes or -errno. */
  pwriteBytes(fd: number, data: Uint8Array, offset: number): number {
    return this.run(this.ops.pwriteBytes(fd, data, offset), 'pwrite');
  }

  /** ioctl(2); the driver's return or -errno (-ENOTTY if the file has no ioctl). */
  ioctl(fd: number, cmd: number, arg: number): number {
    return this.run(this.ops.ioctl(fd, cmd, arg), 'ioctl');
  }

  /** mmap(2); the address or -errno. Use fd -1 with MAP_ANONYMOUS. */
  mmap(addr: number, len: number, prot: number, flags: number, fd: number, offset: number): number {
    return this.run(this.ops.mmap(addr, len, prot, flags, fd, offset), 'mmap');
  }

  /** munmap(2); 0 or -errno. */
  munmap(addr: number, len: number): number {
    return this.run(this.ops.munmap(addr, len), 'munmap');
  }

  /** eventfd2(2); fd or -errno. */
  eventfd(initval: number, flags: number): number {
    return this.run(this.ops.eventfd(initval, flags), 'eventfd');
  }

  /** readlink(2) of a /sys path into user memory at `buf` (no NUL); bytes or -errno. */
  readlink(path: string, buf: number, bufsiz: number): number {
    return this.run(this.ops.readlink(path, buf, bufsiz), 'readlink');
  }

  /** getdents64(2) of a directory fd into user memory at `dirp`; bytes, 0 at the end, or -errno. */
  getdents64(fd: number, dirp: number, count: number): number {
    return this.run(this.ops.getdents64(fd, dirp, count), 'getdents64');
  }

  /** futex(2) — FUTEX_WAKE_OP(_PRIVATE) only (src/kernel/futex/futex.ts); woken count or -errno. */
  futex(uaddr: number, op: number, val: number, uaddr2: number, val3: number): number {
    return this.run(this.ops.futex(uaddr, op, val, uaddr2, val3), 'futex');
  }

  /** read(2) of an eventfd: the counter value, or -errno (e.g. -EAGAIN when zero with EFD_NONBLOCK). */
  eventfdRead(fd: number): bigint | number {
    const buf = this.run(this.scratchTask(8), 'alloc');
    if (buf < 0) return buf;
    const n = this.read(fd, buf, 8);
    if (n < 0) return n;
    const r = this.load(buf, 8);
    return r.ok ? r.value : -14;
  }

  /** write(2) of an eventfd: adds `v`; 8 or -errno. */
  eventfdWrite(fd: number, v: bigint | number): number {
    const buf = this.run(this.scratchTask(8), 'alloc');
    if (buf < 0) return buf;
    const s = this.store(buf, 8, v);
    if (!s.ok) return -14;
    return this.write(fd, buf, 8);
  }

  /**
   * fork(2): the child process (its own thread, a copy of the address space and fd
   * table), or -errno. `openBeforeCopy` selects the dup_mmap order of 35e351780fa9
   * (vm_ops->open before the page tables are copied); by default the variant's order
   * (knob forkOpenBeforeCopy).
   */
  fork(openBeforeCopy?: boolean): Process | number {
    return this.run(this.ops.fork(openBeforeCopy), 'fork');
  }

  /**
   * Sleep `ms` milliseconds of model time (nanosleep(2); the kernel's hrtimer_nanosleep).
   * Device timers that expire meanwhile (an edu DMA in flight) run before it returns.
   */
  sleep(ms: number): void {
    this.run(this.k.msleep(ms, 'hrtimer_nanosleep'), 'nanosleep');
  }

  /** Exit: release the address space (vm_ops.close of every mapping) and close every fd. */
  exit(): void {
    this.run(this.ops.exit(), 'exit');
  }

  /** A CPU load of `size` bytes at `addr` (little endian): the value, or the signal raised. */
  load(addr: number, size: AccessSize): CpuAccessResult {
    return this.run(userAccess(this.k, addr, size, false, 0n), 'load');
  }

  /** A CPU store of `size` bytes at `addr`: `{ok: true, value: 0n}`, or the signal raised. */
  store(addr: number, size: AccessSize, value: bigint | number): CpuAccessResult {
    const v = typeof value === 'bigint' ? value : BigInt(value);
    return this.run(userAccess(this.k, addr, size, true, v), 'store');
  }

  /** memcpy out of user memory by CPU loads; stops at the first signal. */
  readBytes(addr: number, len: number): ReadBytesResult {
    return this.run(this.ops.readBytes(addr, len), 'readBytes');
  }

  /** memcpy into user memory by CPU stores; stops at the first signal. */
  writeBytes(addr: number, data: Uint8Array): WriteBytesResult {
    return this.run(this.ops.writeBytes(addr, data), 'writeBytes');
  }

  /** Allocate `len` bytes of ordinary memory (for ioctl structs and buffers); address or -errno. */
  alloc(len: number): number {
    return this.run(this.ops.alloc(len), 'alloc');
  }
}
