/**
 * [model] `--record FILE`: what a program did, as a scenario (the project's YAML format,
 * src/scenario/), so that a run of a real program can be replayed with `vfio-sim run` and
 * explored with `vfio-sim explore`. One scenario process per model process, one thread
 * per program thread (connection), each thread's requests in the order the server served
 * them, each with the outcome the program got as its `expect` (the value, the errno or
 * the signal). Fds and mappings are named by what they were (`fd3`, `map1`) and used by
 * those names; loads and stores address a mapping plus an offset.
 *
 * What the scenario language cannot say (a read of a sysfs file, readlink, directory
 * listings, eventfd bindings, ioctls other than the ones below, a fork) is written as a
 * `note` step naming the request, so the recording shows where the replay differs.
 * Recorded ioctls: GET_API_VERSION, CHECK_EXTENSION, SET_IOMMU, GROUP_GET_STATUS,
 * GROUP_SET_CONTAINER, GROUP_GET_DEVICE_FD, DEVICE_GET_INFO, DEVICE_GET_REGION_INFO,
 * DEVICE_GET_IRQ_INFO, DEVICE_RESET.
 */
import { stringify } from 'yaml';
import { errnoName } from '../kernel/errno.js';
import {
  VFIO_CHECK_EXTENSION, VFIO_DEVICE_GET_INFO, VFIO_DEVICE_GET_IRQ_INFO, VFIO_DEVICE_GET_REGION_INFO, VFIO_DEVICE_RESET, VFIO_GET_API_VERSION, VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_GET_STATUS, VFIO_GROUP_SET_CONTAINER, VFIO_SET_IOMMU,
} from '../uapi/vfio.js';
import type { Reply } from './dispatch.js';
import { ACCESS_SIGNAL, IoctlArg, Op, OP_NAMES, SIGNO } from './protocol.js';

/** A region index as the scenario names it. */
const REGION_NAMES = ['bar0', 'bar1', 'bar2', 'bar3', 'bar4', 'bar5', 'rom', 'config', 'vga'];
/** VFIO_PCI_OFFSET_SHIFT: a device fd's offset is the region index << 40 plus the offset in it. */
const OFFSET_SHIFT = 40n;
const UTF8 = new TextDecoder();

type Step = Record<string, unknown>;

interface Mapping {
  readonly addr: number;
  readonly len: number;
  readonly name: string;
}

interface RecThread {
  readonly name: string;
  readonly steps: Step[];
}

interface RecProcess {
  readonly name: string;
  readonly threads: Map<unknown, RecThread>;
  /** Model fd → the name it is bound to. */
  readonly fds: Map<number, string>;
  readonly maps: Mapping[];
  nextMap: number;
}

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

/** The expectation of a syscall's return: ok (0), the return value, or the errno's name. */
function expectRet(ret: number | bigint): string | { ret: number } {
  const r = Number(ret);
  if (r < 0) return errnoName(r);
  return r === 0 ? 'ok' : { ret: r };
}

function regionOf(off: bigint): { region: string | number; offset: number } {
  const index = Number(off >> OFFSET_SHIFT);
  const offset = Number(off & ((1n << OFFSET_SHIFT) - 1n));
  return { region: REGION_NAMES[index] ?? index, offset };
}

export class Recorder {
  private readonly procs = new Map<unknown, RecProcess>();

  /**
   * The request `op` with `payload` that thread `thread` (any identity) of process `proc`
   * made, and the reply it got. `procName`/`threadName` name them the first time.
   */
  record(proc: unknown, procName: string, thread: unknown, threadName: string, op: number, payload: Uint8Array, reply: Reply): void {
    let p = this.procs.get(proc);
    if (p === undefined) {
      p = { name: `${procName}-${this.procs.size + 1}`, threads: new Map(), fds: new Map(), maps: [], nextMap: 1 };
      this.procs.set(proc, p);
    }
    let t = p.threads.get(thread);
    if (t === undefined) {
      t = { name: p.threads.size === 0 ? 'main' : `${threadName.replace(/[^a-zA-Z0-9_-]/g, '_')}-${p.threads.size + 1}`, steps: [] };
      p.threads.set(thread, t);
    }
    const step = this.step(p, op, new DataView(payload.buffer, payload.byteOffset, payload.byteLength), payload, reply);
    t.steps.push(step);
  }

  private fdName(p: RecProcess, fd: number): string | number {
    return p.fds.get(fd) ?? fd;
  }

  private bindFd(p: RecProcess, step: Step, ret: number | bigint): void {
    const fd = Number(ret);
    if (fd < 0) return;
    const name = `fd${fd}`;
    p.fds.set(fd, name);
    step['as'] = name;
  }

  /** `map<n>+0x<off>` for an address inside a recorded mapping, else the address. */
  private at(p: RecProcess, addr: bigint): string {
    const a = Number(addr);
    const m = p.maps.find((x) => a >= x.addr && a < x.addr + x.len);
    return m === undefined ? hex(addr) : a === m.addr ? m.name : `${m.name}+${hex(a - m.addr)}`;
  }

  private note(op: number, why = ''): Step {
    return { note: `not recorded: ${OP_NAMES[op] ?? `op${op}`}${why === '' ? '' : ` ${why}`}` };
  }

  private step(p: RecProcess, op: number, v: DataView, b: Uint8Array, r: Reply): Step {
    try {
      return this.stepOf(p, op, v, b, r);
    } catch {
      // a payload too short for its op: the server answered EINVAL
      return this.note(op, '(malformed)');
    }
  }

  private stepOf(p: RecProcess, op: number, v: DataView, b: Uint8Array, r: Reply): Step {
    switch (op) {
      case Op.OPEN: {
        const path = UTF8.decode(b.subarray(4));
        if (!/^\/dev\/vfio\/(vfio|\d+)$/.test(path)) return this.note(op, path);
        const s: Step = { open: path, expect: Number(r.ret) < 0 ? expectRet(r.ret) : 'ok' };
        this.bindFd(p, s, r.ret);
        return s;
      }
      case Op.CLOSE: {
        const fd = v.getInt32(0, true);
        const name = p.fds.get(fd);
        if (name === undefined) return this.note(op, `fd ${fd}`);
        if (Number(r.ret) === 0) p.fds.delete(fd);
        return { close: name, expect: expectRet(r.ret) };
      }
      case Op.PREAD:
      case Op.PWRITE: {
        const fd = v.getInt32(0, true);
        const name = p.fds.get(fd);
        const off = v.getBigUint64(8, true);
        if (name === undefined) return this.note(op, `fd ${fd}`);
        const { region, offset } = regionOf(off);
        if (op === Op.PREAD) {
          const size = v.getUint32(4, true);
          const ok = Number(r.ret) > 0 && Number(r.ret) <= 8 && r.data !== undefined;
          const value = ok && r.data !== undefined ? r.data.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n) : 0n;
          return { pread: { fd: name, region, ...(offset !== 0 ? { offset } : {}), size }, expect: Number(r.ret) < 0 ? expectRet(r.ret) : ok && Number(r.ret) === size ? { value: hex(value) } : { ret: Number(r.ret) } };
        }
        const data = b.subarray(16);
        const args: Step = { fd: name, region, ...(offset !== 0 ? { offset } : {}) };
        if (data.length <= 8 && [1, 2, 4, 8].includes(data.length)) {
          args['size'] = data.length;
          args['value'] = hex(data.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n));
        } else args['data'] = Buffer.from(data).toString('hex');
        return { pwrite: args, expect: Number(r.ret) < 0 ? expectRet(r.ret) : { ret: Number(r.ret) } };
      }
      case Op.IOCTL:
        return this.ioctl(p, v, b, r);
      case Op.MMAP: {
        const addr = v.getBigUint64(0, true);
        const len = Number(v.getBigUint64(8, true));
        const prot = v.getUint32(16, true);
        const fd = v.getInt32(24, true);
        const off = v.getBigUint64(32, true);
        const name = p.fds.get(fd);
        if (name === undefined) return this.note(op, `fd ${fd}`);
        const { region, offset } = regionOf(off);
        const s: Step = { mmap: { fd: name, region, ...(offset !== 0 ? { offset } : {}), length: len, ...(prot !== 3 ? { prot } : {}) } };
        if (Number(r.ret) < 0) s['expect'] = expectRet(r.ret);
        else {
          const m = `map${p.nextMap++}`;
          p.maps.push({ addr: Number(addr === 0n ? BigInt(r.ret) : addr), len, name: m });
          s['as'] = m;
        }
        return s;
      }
      case Op.MUNMAP: {
        const addr = v.getBigUint64(0, true);
        const len = Number(v.getBigUint64(8, true));
        const s: Step = { munmap: { at: this.at(p, addr), length: len }, expect: expectRet(r.ret) };
        const i = p.maps.findIndex((m) => m.addr === Number(addr) && m.len <= len);
        if (i >= 0 && Number(r.ret) === 0) p.maps.splice(i, 1);
        return s;
      }
      case Op.LOAD:
      case Op.STORE: {
        const addr = v.getBigUint64(0, true);
        const size = v.getUint32(8, true);
        const at = this.at(p, addr);
        let expect: unknown = 'ok';
        if (Number(r.ret) === ACCESS_SIGNAL && r.data !== undefined) {
          const signo = new DataView(r.data.buffer, r.data.byteOffset, r.data.byteLength).getUint32(0, true);
          expect = Object.keys(SIGNO).find((k) => SIGNO[k as keyof typeof SIGNO] === signo) ?? 'SIGSEGV';
        } else if (Number(r.ret) < 0) expect = expectRet(r.ret);
        else if (op === Op.LOAD && r.data !== undefined) expect = hex(new DataView(r.data.buffer, r.data.byteOffset, r.data.byteLength).getBigUint64(0, true));
        if (op === Op.LOAD) return { load: { at, size }, expect };
        return { store: { at, size, value: hex(v.getBigUint64(16, true)) }, expect };
      }
      default:
        return this.note(op);
    }
  }

  private ioctl(p: RecProcess, v: DataView, b: Uint8Array, r: Reply): Step {
    const fd = v.getInt32(0, true);
    const cmd = v.getUint32(4, true);
    const kind = v.getUint32(8, true);
    const value = Number(BigInt.asUintN(32, v.getBigUint64(16, true)));
    const data = b.subarray(24);
    const name = p.fds.get(fd);
    if (name === undefined) return this.note(Op.IOCTL, `${hex(cmd)} on fd ${fd}`);
    const e = expectRet(r.ret);
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    switch (cmd) {
      case VFIO_GET_API_VERSION:
        return { ioctl: { fd: name, cmd: 'VFIO_GET_API_VERSION' }, expect: e };
      case VFIO_CHECK_EXTENSION:
        return { ioctl: { fd: name, cmd: 'VFIO_CHECK_EXTENSION', extension: value }, expect: e };
      case VFIO_SET_IOMMU:
        return { ioctl: { fd: name, cmd: 'VFIO_SET_IOMMU', type: value }, expect: e };
      case VFIO_GROUP_GET_STATUS:
        return { ioctl: { fd: name, cmd: 'VFIO_GROUP_GET_STATUS' }, expect: e };
      case VFIO_GROUP_SET_CONTAINER:
        if (kind !== IoctlArg.POINTER || data.length < 4) break;
        return { ioctl: { fd: name, cmd: 'VFIO_GROUP_SET_CONTAINER', container: this.fdName(p, dv.getInt32(0, true)) }, expect: e };
      case VFIO_GROUP_GET_DEVICE_FD: {
        if (kind !== IoctlArg.POINTER) break;
        const nul = data.indexOf(0);
        const s: Step = { ioctl: { fd: name, cmd: 'VFIO_GROUP_GET_DEVICE_FD', device: UTF8.decode(nul < 0 ? data : data.subarray(0, nul)) }, expect: Number(r.ret) < 0 ? e : 'ok' };
        this.bindFd(p, s, r.ret);
        return s;
      }
      case VFIO_DEVICE_GET_INFO:
        return { ioctl: { fd: name, cmd: 'VFIO_DEVICE_GET_INFO' }, expect: e };
      case VFIO_DEVICE_GET_REGION_INFO:
        if (kind !== IoctlArg.POINTER || data.length < 8) break;
        return { ioctl: { fd: name, cmd: 'VFIO_DEVICE_GET_REGION_INFO', region: REGION_NAMES[dv.getUint32(4, true)] ?? dv.getUint32(4, true) }, expect: e };
      case VFIO_DEVICE_GET_IRQ_INFO:
        if (kind !== IoctlArg.POINTER || data.length < 12) break;
        return { ioctl: { fd: name, cmd: 'VFIO_DEVICE_GET_IRQ_INFO', index: dv.getUint32(8, true) }, expect: e };
      case VFIO_DEVICE_RESET:
        return { ioctl: { fd: name, cmd: 'VFIO_DEVICE_RESET' }, expect: e };
      default:
        break;
    }
    return this.note(Op.IOCTL, `${hex(cmd)} on ${name}`);
  }

  /** The scenario (YAML) of everything recorded, under `variant`. */
  yaml(variant: string, program: string): string {
    const doc = {
      name: `recorded run of ${program}`,
      variant,
      processes: [...this.procs.values()].map((p) => ({ name: p.name, threads: [...p.threads.values()].map((t) => ({ name: t.name, steps: t.steps })) })),
    };
    return `# recorded by vfio-sim exec --record: each thread's requests in the order the server served them,\n# with what the program got as the expectation\n${stringify(doc, { lineWidth: 0 })}`;
  }
}
