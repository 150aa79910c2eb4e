/**
 * A thin C-shaped layer over a user `Process`: the libc calls a C VFIO test makes, with
 * C's conventions, so that a test can be ported line by line.
 *
 * - Calls return what the C function returns: -1 (or NULL as 0, MAP_FAILED as -1) on
 *   failure, with the error in `errno` (`c.errno`, left unchanged by a call that
 *   succeeds, as in C). `strerror(c.errno)` gives glibc's message.
 * - Pointers are addresses (numbers) in the process's model memory. `malloc` hands out
 *   ordinary memory; `pokeStruct`/`peekStruct` write and read a uAPI struct there by its
 *   layout table (src/uapi/layout.ts); `ioctl(fd, request, ptr)` passes the address, and
 *   the kernel copies the struct in and out (copy_from_user / copy_to_user: EFAULT for a
 *   bad pointer, its own argsz checks: EINVAL for a short argsz).
 * - Memory accesses (`load32`, `store32`, `peek`, ...) are CPU loads and stores through
 *   the MMU. A fault that the kernel answers with a signal (SIGBUS from vfio-pci's fault
 *   handler when memory decode is off, SIGSEGV for an unmapped address) throws a
 *   `SignalError`, as the signal would end a C program that has no handler;
 *   `catchSignal(fn)` is the sigsetjmp/siglongjmp pattern of C tests that expect one.
 * - Integer types follow the C width: 8-, 16- and 32-bit values are numbers, 64-bit
 *   values (`load64`, __u64 struct fields) are bigints. Addresses, lengths and file
 *   offsets (void *, size_t, off_t) are numbers: the model's addresses and device-fd
 *   offsets stay below 2^53.
 *
 * Every file system call of the library's C-shaped and typed sysfs API goes through this
 * object (`Libc`), so a shim that forwards a C program's libc calls has one place to
 * call. One `Libc` per thread (`libc(proc)`), as errno is per thread.
 */
import {
  E2BIG, EACCES, EAGAIN, EBADF, EBUSY, EDEADLK, EEXIST, EFAULT, EFBIG, EINTR, EINVAL, EIO, EISDIR, ELOOP, EMFILE,
  ENAMETOOLONG, ENFILE, ENODEV, ENOENT, ENOMEM, ENOSPC, ENOSYS, ENOTDIR, ENOTSUPP, ENOTTY, ENXIO, EOVERFLOW, EPERM, ERANGE,
  ESPIPE, ESRCH,
} from '../kernel/errno.js';
import { O_DIRECTORY } from '../kernel/fs/sysfs.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE } from '../kernel/mm/types.js';
import { MAP_SHARED_VALIDATE } from '../kernel/mm/mmap.js';
import { O_ACCMODE, O_CLOEXEC, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY } from '../kernel/syscalls.js';
import { LINUX_DIRENT64, LINUX_DIRENT64_NAME_OFFSET } from '../uapi/dirent.js';
import type { FieldRow, StructInput, StructLayout, StructValue } from '../uapi/layout.js';
import { SideTable } from '../util/side-table.js';
import type { CpuSignal, Process } from './process.js';

export {
  E2BIG, EACCES, EAGAIN, EBADF, EBUSY, EDEADLK, EEXIST, EFAULT, EFBIG, EINTR, EINVAL, EIO, EISDIR, ELOOP, EMFILE,
  ENAMETOOLONG, ENFILE, ENODEV, ENOENT, ENOMEM, ENOSPC, ENOSYS, ENOTDIR, ENOTSUPP, ENOTTY, ENXIO, EOVERFLOW, EPERM, ERANGE,
  ESPIPE, ESRCH,
};
export { O_RDONLY, O_WRONLY, O_RDWR, O_ACCMODE, O_NONBLOCK, O_CLOEXEC, O_DIRECTORY };
export { PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC };
export { MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE, MAP_FIXED, MAP_ANONYMOUS };
/** mmap's failure return, (void *)-1. */
export const MAP_FAILED = -1;
/** d_type values of struct dirent. */
export { DT_DIR, DT_LNK, DT_REG } from '../kernel/fs/sysfs.js';

/** glibc's strerror texts for the errno values the model returns. */
const MESSAGES: Readonly<Record<number, string>> = {
  [EPERM]: 'Operation not permitted',
  [ENOENT]: 'No such file or directory',
  [ESRCH]: 'No such process',
  [EINTR]: 'Interrupted system call',
  [EIO]: 'Input/output error',
  [ENXIO]: 'No such device or address',
  [E2BIG]: 'Argument list too long',
  [EBADF]: 'Bad file descriptor',
  [EAGAIN]: 'Resource temporarily unavailable',
  [ENOMEM]: 'Cannot allocate memory',
  [EACCES]: 'Permission denied',
  [EFAULT]: 'Bad address',
  [EBUSY]: 'Device or resource busy',
  [EEXIST]: 'File exists',
  [ENODEV]: 'No such device',
  [ENOTDIR]: 'Not a directory',
  [EISDIR]: 'Is a directory',
  [EINVAL]: 'Invalid argument',
  [ENFILE]: 'Too many open files in system',
  [EMFILE]: 'Too many open files',
  [ENOTTY]: 'Inappropriate ioctl for device',
  [EFBIG]: 'File too large',
  [ENOSPC]: 'No space left on device',
  [ESPIPE]: 'Illegal seek',
  [ERANGE]: 'Numerical result out of range',
  [EDEADLK]: 'Resource deadlock avoided',
  [ENAMETOOLONG]: 'File name too long',
  [ENOSYS]: 'Function not implemented',
  [ELOOP]: 'Too many levels of symbolic links',
  [EOVERFLOW]: 'Value too large for defined data type',
};

/** strerror(3): glibc's message for `errnum` ('Unknown error N' otherwise; 524 is kernel-internal ENOTSUPP). */
export function strerror(errnum: number): string {
  return MESSAGES[errnum] ?? `Unknown error ${errnum}`;
}

/** A signal a CPU access raised (the C program would have received it). */
export class SignalError extends Error {
  readonly signal: CpuSignal['signal'];
  readonly code: CpuSignal['code'];
  readonly addr: number;
  constructor(s: CpuSignal) {
    super(`${s.signal} (${s.code}) at 0x${s.addr.toString(16)}`);
    this.name = 'SignalError';
    this.signal = s.signal;
    this.code = s.code;
    this.addr = s.addr;
  }
}

/** struct dirent as readdir(3) returns it. */
export interface Dirent {
  readonly d_ino: bigint;
  readonly d_off: bigint;
  readonly d_reclen: number;
  readonly d_type: number;
  readonly d_name: string;
}

/** DIR *: an open directory stream (opendir). */
export interface Dir {
  readonly fd: number;
  /** getdents64 buffer in the process's memory. */
  readonly buf: number;
  /** Records not yet returned: [start, end) in `data`. */
  data: Uint8Array;
  pos: number;
}

/** Bytes of the buffer readdir fills with getdents64 (glibc uses 32 KiB; one page is plenty here). */
const DIRBUF = 4096;

const UTF8_DEC = new TextDecoder();
const UTF8_ENC = new TextEncoder();

/** The C library of one thread of a process. */
export class Libc {
  /** errno: set by a failing call, left alone by a succeeding one. */
  errno = 0;
  /** getdents64 buffers of closed directory streams, reused by the next opendir. */
  private readonly dirBufs: number[] = [];

  constructor(readonly proc: Process) {}

  /** A syscall return (>= 0 or -errno) as libc returns it: the value, or -1 with errno set. */
  private sys(r: number): number {
    if (r < 0) {
      this.errno = -r;
      return -1;
    }
    return r;
  }

  // ---- file descriptors -------------------------------------------------------------

  /** open(2): a device node (/dev/vfio/vfio, /dev/vfio/<group>, /dev/kvm) or a /sys path; `mode` is accepted and unused (nothing is created). */
  open(path: string, flags: number, _mode = 0): number {
    return this.sys(this.proc.open(path, flags));
  }

  /** close(2) */
  close(fd: number): number {
    return this.sys(this.proc.close(fd));
  }

  /** read(2) of `count` bytes into `buf` at the file position. */
  read(fd: number, buf: number, count: number): number {
    return this.sys(this.proc.read(fd, buf, count));
  }

  /** write(2) of `count` bytes from `buf` at the file position. */
  write(fd: number, buf: number, count: number): number {
    return this.sys(this.proc.write(fd, buf, count));
  }

  /** pread(2): on a VFIO device fd, `offset` is the region offset (VFIO_PCI_INDEX_TO_OFFSET) plus the offset in it. */
  pread(fd: number, buf: number, count: number, offset: number): number {
    return this.sys(this.proc.pread(fd, buf, count, offset));
  }

  /** pwrite(2) */
  pwrite(fd: number, buf: number, count: number, offset: number): number {
    return this.sys(this.proc.pwrite(fd, buf, count, offset));
  }

  /** ioctl(2): `arg` is a pointer to the struct (or an integer argument, e.g. VFIO_SET_IOMMU's type). */
  ioctl(fd: number, request: number, arg = 0): number {
    return this.sys(this.proc.ioctl(fd, request, arg));
  }

  /** mmap(2): the address, or MAP_FAILED (-1) with errno set. */
  mmap(addr: number, length: number, prot: number, flags: number, fd: number, offset: number): number {
    return this.sys(this.proc.mmap(addr, length, prot, flags, fd, offset));
  }

  /** munmap(2) */
  munmap(addr: number, length: number): number {
    return this.sys(this.proc.munmap(addr, length));
  }

  /** eventfd(2) */
  eventfd(initval: number, flags: number): number {
    return this.sys(this.proc.eventfd(initval, flags));
  }

  /** readlink(2): copies at most `bufsiz` bytes of the link's target to `buf`, without a NUL. */
  readlink(path: string, buf: number, bufsiz: number): number {
    return this.sys(this.proc.readlink(path, buf, bufsiz));
  }

  // ---- directories ------------------------------------------------------------------

  /** opendir(3): open(path, O_RDONLY | O_DIRECTORY) and a buffer; null with errno set on failure. */
  opendir(path: string): Dir | null {
    const fd = this.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return null;
    const buf = this.dirBufs.pop() ?? this.malloc(DIRBUF);
    if (buf === 0) {
      this.proc.close(fd);
      return null;
    }
    return { fd, buf, data: new Uint8Array(0), pos: 0 };
  }

  /** readdir(3): the next entry ('.' and '..' included, as the kernel lists them), or null at the end (errno unchanged) or on error. */
  readdir(dir: Dir): Dirent | null {
    if (dir.pos >= dir.data.length) {
      const n = this.sys(this.proc.getdents64(dir.fd, dir.buf, DIRBUF));
      if (n <= 0) return null;
      dir.data = this.peek(dir.buf, n);
      dir.pos = 0;
    }
    const d = LINUX_DIRENT64.decode(dir.data, dir.pos);
    const nameStart = dir.pos + LINUX_DIRENT64_NAME_OFFSET;
    const rec = dir.data.subarray(nameStart, dir.pos + d.reclen);
    const nul = rec.indexOf(0);
    dir.pos += d.reclen;
    return { d_ino: d.ino, d_off: d.off, d_reclen: d.reclen, d_type: d.type, d_name: UTF8_DEC.decode(nul < 0 ? rec : rec.subarray(0, nul)) };
  }

  /** closedir(3) */
  closedir(dir: Dir): number {
    this.dirBufs.push(dir.buf);
    return this.close(dir.fd);
  }

  // ---- memory -----------------------------------------------------------------------

  /** malloc(3): `size` bytes of ordinary memory (16-byte aligned); 0 (NULL) with ENOMEM when the process is out of memory. */
  malloc(size: number): number {
    const r = this.proc.alloc(size);
    if (r < 0) {
      this.errno = ENOMEM;
      return 0;
    }
    return r;
  }

  /** calloc(3): `n * size` zeroed bytes. */
  calloc(n: number, size: number): number {
    const p = this.malloc(n * size);
    if (p !== 0) this.poke(p, new Uint8Array(n * size));
    return p;
  }

  /** free(3): the model's allocator never reuses memory, so this does nothing. */
  free(_ptr: number): void {}

  /** strdup(3) of a JS string: a NUL-terminated UTF-8 copy in model memory. */
  strdup(s: string): number {
    const b = UTF8_ENC.encode(s);
    const p = this.malloc(b.length + 1);
    if (p !== 0) this.poke(p, Uint8Array.from([...b, 0]));
    return p;
  }

  /** memcpy from JS bytes into model memory at `ptr` (CPU stores; a fault throws SignalError). */
  poke(ptr: number, data: Uint8Array): void {
    const r = this.proc.writeBytes(ptr, data);
    if (!r.ok) throw new SignalError(r);
  }

  /** memcpy of `len` bytes at `ptr` out of model memory (CPU loads; a fault throws SignalError). */
  peek(ptr: number, len: number): Uint8Array {
    const r = this.proc.readBytes(ptr, len);
    if (!r.ok) throw new SignalError(r);
    return r.data;
  }

  /** The NUL-terminated string at `ptr` (at most `max` bytes), or the first `max` bytes if there is no NUL. */
  peekString(ptr: number, max: number): string {
    const b = this.peek(ptr, max);
    const nul = b.indexOf(0);
    return UTF8_DEC.decode(nul < 0 ? b : b.subarray(0, nul));
  }

  /** Write a uAPI struct at `ptr` by its layout table (fields not given are left as they are). */
  pokeStruct<R extends readonly FieldRow[]>(ptr: number, layout: StructLayout<R>, value: StructInput<R>): void {
    const b = this.peek(ptr, layout.size);
    this.poke(ptr, layout.encode(value, b));
  }

  /** Read the uAPI struct at `ptr` by its layout table. */
  peekStruct<R extends readonly FieldRow[]>(ptr: number, layout: StructLayout<R>): StructValue<R> {
    return layout.decode(this.peek(ptr, layout.size));
  }

  private load(addr: number, size: 1 | 2 | 4 | 8): bigint {
    const r = this.proc.load(addr, size);
    if (!r.ok) throw new SignalError(r);
    return r.value;
  }

  private store(addr: number, size: 1 | 2 | 4 | 8, v: bigint | number): void {
    const r = this.proc.store(addr, size, v);
    if (!r.ok) throw new SignalError(r);
  }

  /** *(volatile uint8_t *)addr */
  load8(addr: number): number {
    return Number(this.load(addr, 1));
  }

  /** *(volatile uint16_t *)addr */
  load16(addr: number): number {
    return Number(this.load(addr, 2));
  }

  /** *(volatile uint32_t *)addr */
  load32(addr: number): number {
    return Number(this.load(addr, 4));
  }

  /** *(volatile uint64_t *)addr */
  load64(addr: number): bigint {
    return this.load(addr, 8);
  }

  /** *(volatile uint8_t *)addr = v */
  store8(addr: number, v: number): void {
    this.store(addr, 1, v & 0xff);
  }

  /** *(volatile uint16_t *)addr = v */
  store16(addr: number, v: number): void {
    this.store(addr, 2, v & 0xffff);
  }

  /** *(volatile uint32_t *)addr = v */
  store32(addr: number, v: number): void {
    this.store(addr, 4, v >>> 0);
  }

  /** *(volatile uint64_t *)addr = v */
  store64(addr: number, v: bigint): void {
    this.store(addr, 8, BigInt.asUintN(64, v));
  }

  /**
   * Run `fn` as a C test runs code under sigsetjmp with a SIGBUS/SIGSEGV handler: the
   * signal it raised (with the faulting address), or null if it raised none.
   */
  catchSignal(fn: () => void): SignalError | null {
    try {
      fn();
      return null;
    } catch (e) {
      if (e instanceof SignalError) return e;
      throw e;
    }
  }
}

const perThread = new SideTable<Process, Libc>('libcOf');

/** The C library of the thread `proc` (one per Process view, so errno is per thread). */
export function libc(proc: Process): Libc {
  let c = perThread.get(proc);
  if (c === undefined) {
    c = new Libc(proc);
    perThread.set(proc, c);
  }
  return c;
}
