/**
 * [model] Serving one request: the system call or CPU access a shim forwarded, made through
 * the library's C-shaped layer (`Libc`, src/user/libc.ts) on the model thread standing
 * for the program's thread — the same calls a TypeScript port of the program makes.
 * Request data travels through the process's request buffer (model-process.ts): the
 * bytes the shim copied out of the program are stored there, the kernel copies them in
 * and out as it would from the program's memory, and what it left there goes back.
 */
import { EBADF, EFAULT, EINVAL, ENOSYS } from '../kernel/errno.js';
import { VFIO_IOMMU_MAP_DMA } from '../uapi/vfio.js';
import { SignalError, type Libc } from '../user/libc.js';
import type { CpuAccessResult } from '../user/process.js';
import { ModelProcess, REQUEST_BUFFER } from './model-process.js';
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

/** The return of a libc call: the value, or -errno. */
function sys(c: Libc, r: number): number {
  return r < 0 ? -c.errno : r;
}

/** Store request data in the request buffer (ordinary memory of the model process). */
function stage(c: Libc, data: Uint8Array): void {
  if (data.length > 0) c.poke(REQUEST_BUFFER, data);
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

/** Serve one request of op `op` on the thread `c` of the model process `mp`. */
export function serveRequest(mp: ModelProcess, c: Libc, op: number, payload: Uint8Array): Reply {
  try {
    return serve(mp, c, op, new Reader(payload));
  } catch (e) {
    if (e instanceof ShortRequest) return { ret: -EINVAL };
    // the request buffer is always mapped; a signal there means the program passed more than it holds
    if (e instanceof SignalError) return { ret: -EFAULT };
    throw e;
  }
}

function serve(mp: ModelProcess, c: Libc, op: number, r: Reader): Reply {
  switch (op) {
    case Op.OPEN: {
      const flags = r.u32();
      return { ret: sys(c, c.open(UTF8.decode(r.rest()), flags)) };
    }
    case Op.CLOSE:
      return { ret: sys(c, c.close(r.s32())) };
    case Op.READ:
    case Op.PREAD: {
      const fd = r.s32();
      const count = Math.min(r.u32(), MAX_TRANSFER);
      const n = op === Op.READ ? c.read(fd, REQUEST_BUFFER, count) : c.pread(fd, REQUEST_BUFFER, count, r.addr());
      if (n < 0) return { ret: -c.errno };
      return { ret: n, data: n > 0 ? c.peek(REQUEST_BUFFER, n) : EMPTY };
    }
    case Op.WRITE: {
      const fd = r.s32();
      const data = r.rest();
      if (data.length > MAX_TRANSFER) return { ret: -EINVAL };
      stage(c, data);
      return { ret: sys(c, c.write(fd, REQUEST_BUFFER, data.length)) };
    }
    case Op.PWRITE: {
      const fd = r.s32();
      r.u32();
      const off = r.addr();
      const data = r.rest();
      if (data.length > MAX_TRANSFER) return { ret: -EINVAL };
      stage(c, data);
      return { ret: sys(c, c.pwrite(fd, REQUEST_BUFFER, data.length, off)) };
    }
    case Op.IOCTL: {
      const fd = r.s32();
      const cmd = r.u32();
      const kind = r.u32();
      r.u32();
      const value = r.u64();
      const data = r.rest();
      if (kind === IoctlArg.VALUE) return { ret: sys(c, c.ioctl(fd, cmd, Number(BigInt.asUintN(32, value)))) };
      if (kind !== IoctlArg.POINTER || data.length > MAX_TRANSFER) return { ret: -EINVAL };
      stage(c, data);
      if (cmd === VFIO_IOMMU_MAP_DMA && data.length >= 32) {
        // the program's memory at vaddr: mirrored in the model process at the same address
        const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
        const vaddr = v.getBigUint64(8, true);
        const size = v.getBigUint64(24, true);
        if (vaddr + size <= BigInt(Number.MAX_SAFE_INTEGER) && size > 0n && size <= 1n << 32n) mp.mirror(c, Number(vaddr), Number(size));
      }
      const ret = sys(c, c.ioctl(fd, cmd, REQUEST_BUFFER));
      return { ret, data: data.length > 0 ? c.peek(REQUEST_BUFFER, data.length) : EMPTY };
    }
    case Op.MMAP: {
      const addr = r.addr();
      const len = r.addr();
      const prot = r.u32();
      const flags = r.u32();
      const fd = r.s32();
      r.u32();
      const off = r.addr();
      return { ret: sys(c, c.mmap(addr, len, prot, flags, fd, off)) };
    }
    case Op.MUNMAP: {
      const addr = r.addr();
      return { ret: sys(c, c.munmap(addr, r.addr())) };
    }
    case Op.LOAD: {
      const addr = r.addr();
      const size = accessSize(r.u32());
      if (size === null || addr < 0) return { ret: -EINVAL };
      return accessReply(c.proc.load(addr, size));
    }
    case Op.STORE: {
      const addr = r.addr();
      const size = accessSize(r.u32());
      r.u32();
      const value = r.u64();
      if (size === null || addr < 0) return { ret: -EINVAL };
      return accessReply(c.proc.store(addr, size, value));
    }
    case Op.READLINK: {
      const bufsiz = Math.min(r.u32(), MAX_TRANSFER);
      const n = c.readlink(UTF8.decode(r.rest()), REQUEST_BUFFER, bufsiz);
      if (n < 0) return { ret: -c.errno };
      return { ret: n, data: c.peek(REQUEST_BUFFER, n) };
    }
    case Op.OPENDIR: {
      const d = c.opendir(UTF8.decode(r.rest()));
      return { ret: d === null ? -c.errno : mp.addDir(d) };
    }
    case Op.READDIR: {
      const d = mp.dirs.get(r.u32());
      if (d === undefined) return { ret: -EBADF };
      const e = c.readdir(d);
      if (e === null) return { ret: 0 };
      const name = new TextEncoder().encode(e.d_name);
      const out = new Uint8Array(9 + name.length);
      const v = new DataView(out.buffer);
      v.setBigUint64(0, e.d_ino, true);
      v.setUint8(8, e.d_type);
      out.set(name, 9);
      return { ret: 1, data: out };
    }
    case Op.CLOSEDIR: {
      const h = r.u32();
      const d = mp.dirs.get(h);
      if (d === undefined) return { ret: -EBADF };
      mp.dirs.delete(h);
      return { ret: sys(c, c.closedir(d)) };
    }
    case Op.EVENTFD_BIND:
      return { ret: mp.bindEventfd(c, r.s32()) };
    default:
      return { ret: -ENOSYS };
  }
}
