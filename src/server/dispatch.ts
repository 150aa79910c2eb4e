/**
 * [model] Serving one request: the system call or CPU access a shim forwarded, made on the
 * model thread standing for the program's thread as a task the server's scheduler runs
 * (`serveTask`), through the Task twins of the user `Process` (`p.ops`, src/user/process.ts)
 * — the calls the library's C-shaped layer (`Libc`) makes one to one, and a scenario's
 * threads make — so a request that blocks in the kernel (a fault waiting for memory_lock)
 * suspends only its own thread.
 * Request data travels through the process's request buffer (model-process.ts): the
 * bytes the shim copied out of the program are stored there, the kernel copies them in
 * and out as it would from the program's memory, and what it left there goes back.
 */
import { EBADF, EFAULT, EINVAL, ENOSYS } from '../kernel/errno.js';
import { VFIO_IOMMU_MAP_DMA } from '../uapi/vfio.js';
import type { Task } from '../kernel/sched/task.js';
import { LINUX_DIRENT64, LINUX_DIRENT64_NAME_OFFSET } from '../uapi/dirent.js';
import { O_CLOEXEC, O_DIRECTORY, O_RDONLY } from '../user/libc.js';
import type { CpuAccessResult, Process } from '../user/process.js';
import { DIRBUF, type ModelProcess, REQUEST_BUFFER } from './model-process.js';
import { ACCESS_SIGNAL, IoctlArg, MAX_TRANSFER, Op, SI_CODE, SIGNO } from './protocol.js';

/** What a request produced: the system call's return and the data that goes back. */
export interface Reply {
  readonly ret: number | bigint;
  readonly data?: Uint8Array;
}

const UTF8 = new TextDecoder();
const EMPTY = new Uint8Array(0);

/** A request whose payload is too short for its op: EINVAL, the server stays up. */
class ShortRequest extends Error {}

/** Little-endian reads of a request payload that refuse to run past its end. */
class Reader {
  private readonly v: DataView;
  pos = 0;
  constructor(readonly b: Uint8Array) {
    this.v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  private need(n: number): void {
    if (this.pos + n > this.b.length) throw new ShortRequest();
  }
  u32(): number {
    this.need(4);
    const x = this.v.getUint32(this.pos, true);
    this.pos += 4;
    return x;
  }
  s32(): number {
    this.need(4);
    const x = this.v.getInt32(this.pos, true);
    this.pos += 4;
    return x;
  }
  u64(): bigint {
    this.need(8);
    const x = this.v.getBigUint64(this.pos, true);
    this.pos += 8;
    return x;
  }
  /** A u64 that is an address or a length: beyond 2^53 it cannot be a valid one, so it reads as -1 (refused by the kernel). */
  addr(): number {
    const x = this.u64();
    return x > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(x);
  }
  rest(): Uint8Array {
    const r = this.b.subarray(this.pos);
    this.pos = this.b.length;
    return r;
  }
}

/** A fault on the request buffer (it is always mapped, so the program passed more than it holds): EFAULT. */
class BufferFault extends Error {}

/** Store request data in the request buffer (ordinary memory of the model process). */
function* stage(p: Process, data: Uint8Array): Task<void> {
  if (data.length === 0) return;
  const w = yield* p.ops.writeBytes(REQUEST_BUFFER, data);
  if (!w.ok) throw new BufferFault();
}

/** The first `n` bytes of the request buffer (what the kernel left there). */
function* unstage(p: Process, n: number): Task<Uint8Array> {
  if (n <= 0) return EMPTY;
  const r = yield* p.ops.readBytes(REQUEST_BUFFER, n);
  if (!r.ok) throw new BufferFault();
  return r.data;
}

function accessReply(r: CpuAccessResult): Reply {
  if (r.ok) {
    const d = new Uint8Array(8);
    new DataView(d.buffer).setBigUint64(0, BigInt.asUintN(64, r.value), true);
    return { ret: 0, data: d };
  }
  const d = new Uint8Array(16);
  const v = new DataView(d.buffer);
  v.setUint32(0, SIGNO[r.signal], true);
  v.setInt32(4, SI_CODE[r.code], true);
  v.setBigUint64(8, BigInt(r.addr), true);
  return { ret: ACCESS_SIGNAL, data: d };
}

function accessSize(n: number): 1 | 2 | 4 | 8 | null {
  return n === 1 || n === 2 || n === 4 || n === 8 ? n : null;
}

/**
 * [model] Serve one request of op `op` on the thread `p` of the model process `mp`: the
 * program's DMA-mapped memory into the model, the device timers that fell due (an edu DMA
 * reads or writes that memory), the request, the model's changes back.
 */
export function* serveTask(mp: ModelProcess, p: Process, op: number, payload: Uint8Array): Task<Reply> {
  try {
    yield* mp.syncIn(p);
    // the device timers that fell due while host time passed (the server moved the clock) run before the request, as during a nanosleep
    const sched = p.k.sched;
    if (sched.startDueHardware()) yield sched.hardwareWait;
    const r = yield* serve(mp, p, op, new Reader(payload));
    yield* mp.syncOut(p);
    return r;
  } catch (e) {
    if (e instanceof ShortRequest) return { ret: -EINVAL };
    // the request buffer is always mapped; a fault there means the program passed more than it holds
    if (e instanceof BufferFault) return { ret: -EFAULT };
    throw e;
  }
}

function* serve(mp: ModelProcess, p: Process, op: number, r: Reader): Task<Reply> {
  switch (op) {
    case Op.OPEN: {
      const flags = r.u32();
      return { ret: yield* p.ops.open(UTF8.decode(r.rest()), flags) };
    }
    case Op.CLOSE:
      return { ret: yield* p.ops.close(r.s32()) };
    case Op.READ:
    case Op.PREAD: {
      const fd = r.s32();
      const count = Math.min(r.u32(), MAX_TRANSFER);
      const n = op === Op.READ ? yield* p.ops.read(fd, REQUEST_BUFFER, count) : yield* p.ops.pread(fd, REQUEST_BUFFER, count, r.addr());
      if (n < 0) return { ret: n };
      return { ret: n, data: yield* unstage(p, n) };
    }
    case Op.WRITE: {
      const fd = r.s32();
      const data = r.rest();
      if (data.length > MAX_TRANSFER) return { ret: -EINVAL };
      yield* stage(p, data);
      return { ret: yield* p.ops.write(fd, REQUEST_BUFFER, data.length) };
    }
    case Op.PWRITE: {
      const fd = r.s32();
      r.u32();
      const off = r.addr();
      const data = r.rest();
      if (data.length > MAX_TRANSFER) return { ret: -EINVAL };
      yield* stage(p, data);
      return { ret: yield* p.ops.pwrite(fd, REQUEST_BUFFER, data.length, off) };
    }
    case Op.IOCTL: {
      const fd = r.s32();
      const cmd = r.u32();
      const kind = r.u32();
      r.u32();
      const value = r.u64();
      const data = r.rest();
      if (kind === IoctlArg.VALUE) return { ret: yield* p.ops.ioctl(fd, cmd, Number(BigInt.asUintN(32, value))) };
      if (kind !== IoctlArg.POINTER || data.length > MAX_TRANSFER) return { ret: -EINVAL };
      yield* stage(p, data);
      if (cmd === VFIO_IOMMU_MAP_DMA && data.length >= 32) {
        // the program's memory at vaddr: mirrored in the model process at the same address
        const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
        const vaddr = v.getBigUint64(8, true);
        const size = v.getBigUint64(24, true);
        if (vaddr + size <= BigInt(Number.MAX_SAFE_INTEGER) && size > 0n && size <= 1n << 32n) yield* mp.mirror(p, Number(vaddr), Number(size));
      }
      const ret = yield* p.ops.ioctl(fd, cmd, REQUEST_BUFFER);
      return { ret, data: yield* unstage(p, data.length) };
    }
    case Op.MMAP: {
      const addr = r.addr();
      const len = r.addr();
      const prot = r.u32();
      const flags = r.u32();
      const fd = r.s32();
      r.u32();
      const off = r.addr();
      return { ret: yield* p.ops.mmap(addr, len, prot, flags, fd, off) };
    }
    case Op.MUNMAP: {
      const addr = r.addr();
      return { ret: yield* p.ops.munmap(addr, r.addr()) };
    }
    case Op.LOAD: {
      const addr = r.addr();
      const size = accessSize(r.u32());
      if (size === null || addr < 0) return { ret: -EINVAL };
      return accessReply(yield* p.ops.load(addr, size));
    }
    case Op.STORE: {
      const addr = r.addr();
      const size = accessSize(r.u32());
      r.u32();
      const value = r.u64();
      if (size === null || addr < 0) return { ret: -EINVAL };
      return accessReply(yield* p.ops.store(addr, size, value));
    }
    case Op.READLINK: {
      const bufsiz = Math.min(r.u32(), MAX_TRANSFER);
      const n = yield* p.ops.readlink(UTF8.decode(r.rest()), REQUEST_BUFFER, bufsiz);
      if (n < 0) return { ret: n };
      return { ret: n, data: yield* unstage(p, n) };
    }
    case Op.OPENDIR: {
      // opendir(3): open with O_DIRECTORY; the entries are read into the request buffer
      const fd = yield* p.ops.open(UTF8.decode(r.rest()), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      return { ret: fd < 0 ? fd : mp.addDir(fd) };
    }
    case Op.READDIR: {
      const d = mp.dirs.get(r.u32());
      if (d === undefined) return { ret: -EBADF };
      if (d.pos >= d.data.length) {
        // readdir(3) refills its buffer with getdents64
        const n = yield* p.ops.getdents64(d.fd, REQUEST_BUFFER, DIRBUF);
        if (n <= 0) return { ret: n };
        d.data = yield* unstage(p, n);
        d.pos = 0;
      }
      const e = LINUX_DIRENT64.decode(d.data, d.pos);
      const rec = d.data.subarray(d.pos + LINUX_DIRENT64_NAME_OFFSET, d.pos + e.reclen);
      const nul = rec.indexOf(0);
      const name = nul < 0 ? rec : rec.subarray(0, nul);
      d.pos += e.reclen;
      const out = new Uint8Array(9 + name.length);
      const v = new DataView(out.buffer);
      v.setBigUint64(0, e.ino, true);
      v.setUint8(8, e.type);
      out.set(name, 9);
      return { ret: 1, data: out };
    }
    case Op.CLOSEDIR: {
      const h = r.u32();
      const d = mp.dirs.get(h);
      if (d === undefined) return { ret: -EBADF };
      mp.dirs.delete(h);
      return { ret: yield* p.ops.close(d.fd) };
    }
    case Op.EVENTFD_BIND:
      return { ret: yield* mp.bindEventfd(p, r.s32()) };
    default:
      return { ret: -ENOSYS };
  }
}
