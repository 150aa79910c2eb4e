/**
 * The operation table: every step of a scenario thread is one operation. An operation
 * is one entry: a zod schema for its arguments, what `as:` names, a one-line
 * description (used as the thread's label), a function returning a Task that runs on
 * the thread's Process, and optionally a result formatter.
 *
 * To add an operation, add an entry to OPS (see `defineOp`).
 */
import { FUTEX_OP_ADD, FUTEX_OP_ANDN, FUTEX_OP_CMP_EQ, FUTEX_OP_OR, FUTEX_OP_SET, FUTEX_OP_XOR, FUTEX_PRIVATE_FLAG, FUTEX_WAKE_OP, futexOp } from '../uapi/futex.js';
import * as z from 'zod';
import type { Task } from '../kernel/sched/task.js';
import { point } from '../kernel/sched/task.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED } from '../kernel/mm/types.js';
import { EFD_CLOEXEC, EFD_NONBLOCK } from '../kernel/fs/eventfd.js';
import { LeView } from '../uapi/ioctl.js';
import {
  PCI_CAP_ID_EXP,
  PCI_CAP_ID_PM,
  PCI_CAPABILITY_LIST,
  PCI_COMMAND,
  PCI_COMMAND_INTX_DISABLE,
  PCI_COMMAND_IO,
  PCI_COMMAND_MASTER,
  PCI_COMMAND_MEMORY,
  PCI_EXP_DEVCTL,
  PCI_EXP_DEVCTL_BCR_FLR,
  PCI_PM_CTRL,
  PCI_PM_CTRL_STATE_MASK,
  PCI_STATUS,
  PCI_STATUS_CAP_LIST,
} from '../uapi/pci-regs.js';
import {
  encodeDeviceFeature,
  encodeLowPowerEntryWithWakeup,
  VFIO_DEVICE_FEATURE,
  VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY,
  VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP,
  VFIO_DEVICE_FEATURE_LOW_POWER_EXIT,
  VFIO_DEVICE_FEATURE_SET,
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_PCI_CONFIG_REGION_INDEX,
  VFIO_SET_IOMMU,
  vfioPciIndexToOffset,
} from '../uapi/vfio.js';
import { type Outcome, type StepCtx, Unavailable } from './context.js';
import { IOCTL_OP } from './ioctls.js';
import { KVM_OPS } from './kvm-ops.js';
import { OBSERVE_OPS } from './observe-ops.js';
import { bytesHex, defineOp, hex, leBytes, leValue, type OpDef, refText, short, sys } from './op-def.js';
import { accessSize, addr, ANY_FD, bytes, cfgSize, device, type DeviceRef, fdRef, type NameRef, obj, prot, region, u64, uint } from './values.js';

const O_RDWR = 2;

/** pread of `len` bytes at device-fd offset `off` into scratch memory; ret and the bytes. */
function* preadScratch(ctx: StepCtx, fd: number, len: number, off: number): Task<{ ret: number; data: Uint8Array }> {
  const buf = yield* ctx.scratch(len);
  if (buf < 0) return { ret: buf, data: new Uint8Array(0) };
  const ret = yield* ctx.p.ops.pread(fd, buf, len, off);
  if (ret <= 0) return { ret, data: new Uint8Array(0) };
  const r = yield* ctx.p.ops.readBytes(buf, ret);
  return { ret, data: r.data };
}

function* pwriteScratch(ctx: StepCtx, fd: number, data: Uint8Array, off: number): Task<number> {
  const buf = yield* ctx.scratch(data.length);
  if (buf < 0) return buf;
  const w = yield* ctx.p.ops.writeBytes(buf, data);
  if (!w.ok) return -14;
  return yield* ctx.p.ops.pwrite(fd, buf, data.length, off);
}

/** Config-space read through the vfio config region: value, or -errno. */
function* cfgRead(ctx: StepCtx, fd: number, off: number, size: number): Task<number> {
  const r = yield* preadScratch(ctx, fd, size, vfioPciIndexToOffset(VFIO_PCI_CONFIG_REGION_INDEX) + off);
  if (r.ret < 0) return r.ret;
  if (r.ret !== size) return -5;
  return Number(leValue(r.data));
}

function* cfgWrite(ctx: StepCtx, fd: number, off: number, size: number, value: number): Task<number> {
  const r = yield* pwriteScratch(ctx, fd, leBytes(BigInt(value), size), vfioPciIndexToOffset(VFIO_PCI_CONFIG_REGION_INDEX) + off);
  if (r < 0) return r;
  return r === size ? 0 : -5;
}

/** Offset of a standard capability (walks the list through the config region), 0 if absent, or -errno. */
function* findCap(ctx: StepCtx, fd: number, id: number): Task<number> {
  const status = yield* cfgRead(ctx, fd, PCI_STATUS, 2);
  if (status < 0) return status;
  if ((status & PCI_STATUS_CAP_LIST) === 0) return 0;
  let pos = yield* cfgRead(ctx, fd, PCI_CAPABILITY_LIST, 1);
  for (let i = 0; pos >= 0x40 && i < 48; i++) {
    pos &= 0xfc;
    const capId = yield* cfgRead(ctx, fd, pos, 1);
    if (capId < 0) return capId;
    if (capId === id) return pos;
    pos = yield* cfgRead(ctx, fd, pos + 1, 1);
  }
  return pos < 0 ? pos : 0;
}

/** Read-modify-write of a config register through the config region. */
function* cfgRmw(ctx: StepCtx, fd: number, off: number, size: number, set: number, clear: number, label: string): Task<Outcome> {
  const old = yield* cfgRead(ctx, fd, off, size);
  if (old < 0) return { errno: -old, where: `${label} (read)` };
  const v = (old & ~clear) | set;
  const r = yield* cfgWrite(ctx, fd, off, size, v);
  if (r < 0) return { errno: -r, where: `${label} (write)` };
  return { value: BigInt(v), note: `(was ${hex(old)})` };
}

const COMMAND_BITS: Readonly<Record<string, number>> = { mem: PCI_COMMAND_MEMORY, io: PCI_COMMAND_IO, master: PCI_COMMAND_MASTER, intx_disable: PCI_COMMAND_INTX_DISABLE };
const commandBit = z.enum(['mem', 'io', 'master', 'intx_disable'], { error: 'expected a command bit: mem, io, master or intx_disable' });

function cpuOutcome(r: { ok: true; value: bigint } | { ok: false; signal: 'SIGBUS' | 'SIGSEGV'; code: string; addr: number }, store: boolean): Outcome {
  if (r.ok) return store ? {} : { value: r.value };
  return { signal: { sig: r.signal, code: r.code, addr: r.addr } };
}

const fdShort = (doc: string) => short('fd', fdRef(['device', 'fd']), obj({ fd: fdRef(['device', 'fd']) }, doc), `expected a device fd (e.g. dev) or a mapping {fd: dev}`);

// ---- the operations ----------------------------------------------------------------------

const openDevice = defineOp<{ device: DeviceRef; container?: NameRef | number; iommu?: 'type1' | 'type1v2' }>({
  name: 'open_device',
  doc: 'Open a device the way QEMU does: open /dev/vfio/vfio (or reuse `container`), open its group (or reuse an open one), VFIO_GROUP_SET_CONTAINER, VFIO_SET_IOMMU, VFIO_GROUP_GET_DEVICE_FD. Names the device fd; `name.group` and `name.container` are its group and container fds.',
  args: short('device', device, obj({ device, container: fdRef(['container', 'device', 'fd']).optional(), iommu: z.enum(['type1', 'type1v2'], { error: 'expected an IOMMU type: type1 or type1v2' }).optional() }, 'open_device'), 'expected a device (e.g. edu0) or a mapping {device, container, iommu}'),
  binds: 'device',
  describe: (a) => `open_device ${a.device.name}${a.container !== undefined ? ` in ${refText(a.container)}` : ''}`,
  *run(ctx, a) {
    const fn = ctx.device(a.device);
    let cfd: number;
    let iommuSet = false;
    let containerBinding: { iommuSet: boolean } | null = null;
    if (a.container !== undefined) {
      if (typeof a.container === 'number') cfd = a.container;
      else {
        const b = ctx.binding(a.container, ['container', 'device', 'fd']);
        if (b.kind === 'device' && a.container.sub === null) {
          if (b.containerFd === null) throw new Unavailable(`${a.container.text} has no container (not opened with open_device)`);
          cfd = b.containerFd;
          iommuSet = true;
        } else {
          cfd = ctx.fd(a.container);
          if (b.kind === 'container') {
            containerBinding = b as { iommuSet: boolean };
            iommuSet = b.iommuSet;
          } else iommuSet = a.container.sub === 'container';
        }
      }
    } else {
      cfd = yield* ctx.p.ops.open('/dev/vfio/vfio', O_RDWR);
      if (cfd < 0) return { errno: -cfd, where: 'open(/dev/vfio/vfio)' };
    }
    let gfd = ctx.findGroupFd(fn.iommuGroup);
    if (gfd === null) {
      gfd = yield* ctx.p.ops.open(`/dev/vfio/${fn.iommuGroup}`, O_RDWR);
      if (gfd < 0) return { errno: -gfd, where: `open(/dev/vfio/${fn.iommuGroup})` };
      const b = new Uint8Array(4);
      new LeView(b).setS32(0, cfd);
      const r = yield* ctx.ioctlStruct(gfd, VFIO_GROUP_SET_CONTAINER, b);
      if (r.ret < 0) return { errno: -r.ret, where: 'VFIO_GROUP_SET_CONTAINER' };
    }
    if (!iommuSet) {
      const r = yield* ctx.p.ops.ioctl(cfd, VFIO_SET_IOMMU, a.iommu === 'type1' ? 1 : 3);
      if (r < 0) return { errno: -r, where: 'VFIO_SET_IOMMU' };
      if (containerBinding !== null) containerBinding.iommuSet = true;
    }
    const name = new TextEncoder().encode(fn.name);
    const nb = new Uint8Array(name.length + 1);
    nb.set(name);
    const d = yield* ctx.ioctlStruct(gfd, VFIO_GROUP_GET_DEVICE_FD, nb);
    if (d.ret < 0) return { errno: -d.ret, where: 'VFIO_GROUP_GET_DEVICE_FD' };
    return { ret: d.ret, bind: { kind: 'device', fd: d.ret, dev: fn.name, groupFd: gfd, containerFd: cfd } };
  },
});

const openOp = defineOp<{ path?: string; group_of?: DeviceRef; nonblock?: boolean }>({
  name: 'open',
  doc: 'open(2) of a device node: `/dev/vfio/vfio` (a container), `/dev/vfio/<group>` or `{group_of: edu0}` (a group).',
  args: short('path', z.string(), obj({ path: z.string({ error: 'expected a path' }).optional(), group_of: device.optional(), nonblock: z.boolean().optional() }, 'open'), 'expected a path (e.g. /dev/vfio/vfio) or a mapping {path | group_of}'),
  binds: (a) => (a.group_of !== undefined || /^\/dev\/vfio\/\d+$/.test(a.path ?? '') ? 'group' : a.path === '/dev/vfio/vfio' ? 'container' : 'fd'),
  check: (a) => ((a.path === undefined) === (a.group_of === undefined) ? { path: [], message: 'open needs exactly one of path and group_of' } : null),
  describe: (a) => `open ${a.path ?? `group of ${a.group_of?.name ?? '?'}`}`,
  *run(ctx, a) {
    let path = a.path ?? '';
    let group = -1;
    if (a.group_of !== undefined) {
      group = ctx.device(a.group_of).iommuGroup;
      path = `/dev/vfio/${group}`;
    } else {
      const m = /^\/dev\/vfio\/(\d+)$/.exec(path);
      if (m !== null) group = Number(m[1]);
    }
    const fd = yield* ctx.p.ops.open(path, O_RDWR | (a.nonblock === true ? 0o4000 : 0));
    if (fd < 0) return { errno: -fd };
    if (path === '/dev/vfio/vfio') return { ret: fd, bind: { kind: 'container', fd, iommuSet: false } };
    if (group >= 0) return { ret: fd, bind: { kind: 'group', fd, group } };
    return { ret: fd, bind: { kind: 'fd', fd } };
  },
});

interface RwArgs {
  fd: NameRef | number;
  region: { index: number; name: string; offset: number };
  offset?: number;
  size?: number;
  value?: bigint;
  data?: Uint8Array;
  buf?: NameRef | number;
}

function rwWhere(a: RwArgs): string {
  const off = a.region.offset + (a.offset ?? 0);
  return `${a.region.name}+${hex(off)}`;
}

const preadOp = defineOp<RwArgs & { size: number }>({
  name: 'pread',
  doc: 'pread(2) of `size` bytes of a region (`bar0+0x10`, `config`, `rom`...) of a device fd into a scratch buffer, or into `buf` (an address, e.g. a BAR mapping). The value is the bytes as a little-endian integer.',
  args: obj({ fd: fdRef(['device', 'fd']), region, offset: uint().optional(), size: uint(1 << 20), buf: addr().optional() }, 'pread'),
  binds: null,
  describe: (a) => `pread ${refText(a.fd)} ${rwWhere(a)}/${a.size}${a.buf !== undefined ? ` -> ${refText(a.buf)}` : ''}`,
  *run(ctx, a) {
    const fd = ctx.fd(a.fd);
    const off = vfioPciIndexToOffset(a.region.index) + a.region.offset + (a.offset ?? 0);
    if (a.buf !== undefined) {
      const ret = yield* ctx.p.ops.pread(fd, ctx.addr(a.buf), a.size, off);
      return sys(ret);
    }
    const r = yield* preadScratch(ctx, fd, a.size, off);
    if (r.ret < 0) return { errno: -r.ret };
    return { ret: r.ret, data: r.data, ...(r.ret <= 8 && r.ret > 0 ? { value: leValue(r.data) } : {}) };
  },
});

const pwriteOp = defineOp<RwArgs>({
  name: 'pwrite',
  doc: 'pwrite(2) to a region of a device fd: `value` (`size` bytes, little endian, default 4), `data` (bytes), or `size` bytes from `buf` (an address, e.g. a BAR mapping).',
  args: obj({ fd: fdRef(['device', 'fd']), region, offset: uint().optional(), size: uint(1 << 20).optional(), value: u64().optional(), data: bytes.optional(), buf: addr().optional() }, 'pwrite'),
  binds: null,
  check: (a) => {
    const n = (a.value !== undefined ? 1 : 0) + (a.data !== undefined ? 1 : 0) + (a.buf !== undefined ? 1 : 0);
    if (n !== 1) return { path: [], message: 'pwrite needs exactly one of value, data and buf' };
    if (a.buf !== undefined && a.size === undefined) return { path: ['buf'], message: 'pwrite from buf needs size' };
    if (a.value !== undefined && a.size !== undefined && ![1, 2, 4, 8].includes(a.size)) return { path: ['size'], message: 'expected a size of 1, 2, 4 or 8 with value' };
    return null;
  },
  describe: (a) => `pwrite ${refText(a.fd)} ${rwWhere(a)}${a.value !== undefined ? ` = ${hex(a.value)}/${a.size ?? 4}` : a.data !== undefined ? ` = ${bytesHex(a.data, 8)}` : ` <- ${refText(a.buf ?? 0)}/${a.size ?? 0}`}`,
  *run(ctx, a) {
    const fd = ctx.fd(a.fd);
    const off = vfioPciIndexToOffset(a.region.index) + a.region.offset + (a.offset ?? 0);
    if (a.buf !== undefined) return sys(yield* ctx.p.ops.pwrite(fd, ctx.addr(a.buf), a.size ?? 0, off));
    const data = a.data ?? leBytes(a.value ?? 0n, a.size ?? 4);
    return sys(yield* pwriteScratch(ctx, fd, data, off));
  },
});

const mmapOp = defineOp<{ fd?: NameRef | number; region?: { index: number; name: string; offset: number }; offset?: number; length?: number; prot?: number; private?: boolean; anonymous?: boolean; hint?: number }>({
  name: 'mmap',
  doc: 'mmap(2) of a region of a device fd (MAP_SHARED, read-write unless `prot`); `length` defaults to the BAR size. `{anonymous: true, length}` maps ordinary memory. `hint` is the address hint (used when that range is free, as mmap(2) does without MAP_FIXED; e.g. a 2 MiB-aligned hint for huge pfnmaps). Names the mapping.',
  args: obj({ fd: fdRef(['device', 'fd']).optional(), region: region.optional(), offset: uint().optional(), length: uint().optional(), prot: prot.optional(), private: z.boolean().optional(), anonymous: z.boolean().optional(), hint: uint().optional() }, 'mmap'),
  binds: 'mapping',
  check: (a) => {
    if (a.anonymous === true) {
      if (a.fd !== undefined || a.region !== undefined) return { path: [], message: 'an anonymous mmap takes no fd or region' };
      if (a.length === undefined) return { path: [], message: 'an anonymous mmap needs length' };
      return null;
    }
    if (a.fd === undefined) return { path: [], message: "mmap needs fd (or 'anonymous: true')" };
    if (a.region === undefined) return { path: [], message: 'mmap of a device fd needs region (e.g. bar0)' };
    return null;
  },
  describe: (a) => (a.anonymous === true ? `mmap anonymous ${hex(a.length ?? 0)}` : `mmap ${refText(a.fd ?? 0)} ${a.region?.name ?? '?'}${a.region !== undefined ? `+${hex(a.region.offset + (a.offset ?? 0))}` : ''}${a.length !== undefined ? ` len ${hex(a.length)}` : ''}`),
  *run(ctx, a) {
    const protv = a.prot ?? 3;
    if (a.anonymous === true) {
      const len = a.length ?? 4096;
      const r = yield* ctx.p.ops.mmap(a.hint ?? 0, len, protv, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      return r < 0 ? { errno: -r } : { ret: r, bind: { kind: 'mapping', addr: r, length: len, dev: null, region: null } };
    }
    const fdr = a.fd ?? -1;
    const fd = ctx.fd(fdr);
    const reg = a.region ?? { index: 0, name: 'bar0', offset: 0 };
    const dev = ctx.deviceOfFd(fdr);
    let len = a.length;
    if (len === undefined) {
      const res = dev === null ? null : (ctx.sys.hw.findFunction(dev)?.resource(reg.index) ?? null);
      len = res === null ? 4096 : Math.max(4096, Math.ceil(res.size / 4096) * 4096);
    }
    const r = yield* ctx.p.ops.mmap(a.hint ?? 0, len, protv, a.private === true ? MAP_PRIVATE : MAP_SHARED, fd, vfioPciIndexToOffset(reg.index) + reg.offset + (a.offset ?? 0));
    return r < 0 ? { errno: -r } : { ret: r, bind: { kind: 'mapping', addr: r, length: len, dev, region: reg.index } };
  },
});

const munmapOp = defineOp<{ at: NameRef | number; length?: number }>({
  name: 'munmap',
  doc: 'munmap(2) of a mapping (`munmap: map0`), or of `length` bytes at an address.',
  args: short('at', addr(), obj({ at: addr(), length: uint().optional() }, 'munmap'), 'expected a mapping (e.g. map0) or a mapping {at, length}'),
  binds: null,
  describe: (a) => `munmap ${refText(a.at)}${a.length !== undefined ? ` len ${hex(a.length)}` : ''}`,
  *run(ctx, a) {
    const start = ctx.addr(a.at);
    let len = a.length;
    if (len === undefined) {
      if (typeof a.at === 'number') len = 4096;
      else {
        const b = ctx.binding(a.at, ['mapping']);
        len = b.kind === 'mapping' ? b.length - a.at.offset : 4096;
      }
    }
    return sys(yield* ctx.p.ops.munmap(start, len));
  },
});

const loadOp = defineOp<{ at: NameRef | number; size: 1 | 2 | 4 | 8 }>({
  name: 'load',
  doc: 'A CPU load of `size` bytes (default 4) at an address (`map0+0x10`): the value, or the signal.',
  args: short('at', addr(), obj({ at: addr(), size: accessSize.default(4) }, 'load'), 'expected an address (e.g. map0+0x10) or a mapping {at, size}') as z.ZodType<{ at: NameRef | number; size: 1 | 2 | 4 | 8 }, unknown>,
  binds: null,
  describe: (a) => `load ${refText(a.at)}/${a.size ?? 4}`,
  *run(ctx, a) {
    return cpuOutcome(yield* ctx.p.ops.load(ctx.addr(a.at), a.size ?? 4), false);
  },
});

const storeOp = defineOp<{ at: NameRef | number; size?: 1 | 2 | 4 | 8; value: bigint }>({
  name: 'store',
  doc: 'A CPU store of `value` (`size` bytes, default 4) at an address: ok, or the signal.',
  args: obj({ at: addr(), size: accessSize.optional(), value: u64() }, 'store'),
  binds: null,
  describe: (a) => `store ${refText(a.at)}/${a.size ?? 4} = ${hex(a.value)}`,
  *run(ctx, a) {
    return cpuOutcome(yield* ctx.p.ops.store(ctx.addr(a.at), a.size ?? 4, a.value), true);
  },
});

const configRead = defineOp<{ fd: NameRef | number; offset: number; size?: 1 | 2 | 4 }>({
  name: 'config_read',
  doc: 'Read `size` bytes (default 4) of config space through the vfio config region.',
  args: obj({ fd: fdRef(['device', 'fd']), offset: uint(0xfff), size: cfgSize.optional() }, 'config_read'),
  binds: null,
  describe: (a) => `config_read ${refText(a.fd)} @${hex(a.offset)}/${a.size ?? 4}`,
  *run(ctx, a) {
    const v = yield* cfgRead(ctx, ctx.fd(a.fd), a.offset, a.size ?? 4);
    return v < 0 ? { errno: -v } : { value: BigInt(v) };
  },
});

const configWrite = defineOp<{ fd: NameRef | number; offset: number; size?: 1 | 2 | 4; value: number }>({
  name: 'config_write',
  doc: 'Write `size` bytes (default 4) of config space through the vfio config region (vfio-pci virtualizes it).',
  args: obj({ fd: fdRef(['device', 'fd']), offset: uint(0xfff), size: cfgSize.optional(), value: uint(0xffffffff) }, 'config_write'),
  binds: null,
  describe: (a) => `config_write ${refText(a.fd)} @${hex(a.offset)}/${a.size ?? 4} = ${hex(a.value)}`,
  *run(ctx, a) {
    const r = yield* cfgWrite(ctx, ctx.fd(a.fd), a.offset, a.size ?? 4, a.value);
    return r < 0 ? { errno: -r } : { ret: 0 };
  },
});

function commandOp(name: string, doc: string, set: number, clear: number): OpDef<unknown> {
  return defineOp<{ fd: NameRef | number }>({
    name,
    doc,
    args: fdShort(name),
    binds: null,
    describe: (a) => `${name} ${refText(a.fd)}`,
    run: (ctx, a) => cfgRmw(ctx, ctx.fd(a.fd), PCI_COMMAND, 2, set, clear, 'PCI_COMMAND'),
  });
}

const commandGeneric = defineOp<{ fd: NameRef | number; set?: string[]; clear?: string[] }>({
  name: 'command',
  doc: 'Read-modify-write of the PCI command register through the config region: `set` and `clear` lists of mem, io, master, intx_disable.',
  args: obj({ fd: fdRef(['device', 'fd']), set: z.array(commandBit).optional(), clear: z.array(commandBit).optional() }, 'command'),
  binds: null,
  describe: (a) => `command ${refText(a.fd)}${a.set !== undefined ? ` +${a.set.join('+')}` : ''}${a.clear !== undefined ? ` -${a.clear.join('-')}` : ''}`,
  run: (ctx, a) => {
    const bits = (l: string[] | undefined): number => (l ?? []).reduce((m, b) => m | (COMMAND_BITS[b] ?? 0), 0);
    return cfgRmw(ctx, ctx.fd(a.fd), PCI_COMMAND, 2, bits(a.set), bits(a.clear), 'PCI_COMMAND');
  },
});

const flrOp = defineOp<{ fd: NameRef | number }>({
  name: 'flr',
  doc: 'Function Level Reset through the config region: set Initiate FLR in the PCIe Device Control register (vfio-pci performs the reset).',
  args: fdShort('flr'),
  binds: null,
  describe: (a) => `flr ${refText(a.fd)} (DevCtl.BCR_FLR)`,
  *run(ctx, a) {
    const fd = ctx.fd(a.fd);
    const cap = yield* findCap(ctx, fd, PCI_CAP_ID_EXP);
    if (cap < 0) return { errno: -cap, where: 'capability walk' };
    if (cap === 0) return { failure: 'no PCI Express capability' };
    return yield* cfgRmw(ctx, fd, cap + PCI_EXP_DEVCTL, 2, PCI_EXP_DEVCTL_BCR_FLR, 0, 'PCI_EXP_DEVCTL');
  },
});

const powerOp = defineOp<{ fd: NameRef | number; state: 'D0' | 'D3hot' }>({
  name: 'power',
  doc: 'Write the PM control register\'s PowerState (D0 or D3hot) through the config region.',
  args: obj({ fd: fdRef(['device', 'fd']), state: z.enum(['D0', 'D3hot'], { error: 'expected a power state: D0 or D3hot' }) }, 'power'),
  binds: null,
  describe: (a) => `power ${refText(a.fd)} ${a.state}`,
  *run(ctx, a) {
    const fd = ctx.fd(a.fd);
    const cap = yield* findCap(ctx, fd, PCI_CAP_ID_PM);
    if (cap < 0) return { errno: -cap, where: 'capability walk' };
    if (cap === 0) return { failure: 'no power management capability' };
    return yield* cfgRmw(ctx, fd, cap + PCI_PM_CTRL, 2, a.state === 'D3hot' ? 3 : 0, PCI_PM_CTRL_STATE_MASK, 'PCI_PM_CTRL');
  },
});

const lowPowerEntryOp = defineOp<{ fd: NameRef | number; wakeup?: NameRef | number }>({
  name: 'low_power_entry',
  doc: 'VFIO_DEVICE_FEATURE SET LOW_POWER_ENTRY (6.0+; -ENOTTY before): BAR mappings are zapped and fault with SIGBUS until low_power_exit, the device runtime-suspends (D3hot if it has PM); reads, writes and ioctls wake it for their duration. `{fd, wakeup: efd}` uses LOW_POWER_ENTRY_WITH_WAKEUP: a wake-up signals the eventfd and leaves low power.',
  args: short('fd', fdRef(['device', 'fd']), obj({ fd: fdRef(['device', 'fd']), wakeup: fdRef(['eventfd', 'fd']).optional() }, 'low_power_entry'), 'expected a device fd (e.g. dev) or a mapping {fd, wakeup}'),
  binds: null,
  describe: (a) => `low_power_entry ${refText(a.fd)}${a.wakeup !== undefined ? ` wakeup ${refText(a.wakeup)}` : ''}`,
  *run(ctx, a) {
    const b = a.wakeup === undefined
      ? encodeDeviceFeature({ flags: VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY })
      : encodeDeviceFeature({ flags: VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP }, encodeLowPowerEntryWithWakeup({ wakeupEventfd: ctx.fd(a.wakeup) }));
    const r = yield* ctx.ioctlStruct(ctx.fd(a.fd), VFIO_DEVICE_FEATURE, b);
    return sys(r.ret);
  },
});

const lowPowerExitOp = defineOp<{ fd: NameRef | number }>({
  name: 'low_power_exit',
  doc: 'VFIO_DEVICE_FEATURE SET LOW_POWER_EXIT (6.0+; -ENOTTY before): leave runtime low power; existing BAR mappings refault on the next touch.',
  args: fdShort('low_power_exit'),
  binds: null,
  describe: (a) => `low_power_exit ${refText(a.fd)}`,
  *run(ctx, a) {
    const r = yield* ctx.ioctlStruct(ctx.fd(a.fd), VFIO_DEVICE_FEATURE, encodeDeviceFeature({ flags: VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_LOW_POWER_EXIT }));
    return sys(r.ret);
  },
});

const setpciOp = defineOp<{ device: DeviceRef; offset: number; size?: 1 | 2 | 4; value?: number; set?: number; clear?: number }>({
  name: 'setpci',
  doc: 'A config write by the host (like setpci or sysfs), bypassing vfio-pci: `value`, or `set`/`clear` bit masks (read-modify-write).',
  args: obj({ device, offset: uint(0xfff), size: cfgSize.optional(), value: uint(0xffffffff).optional(), set: uint(0xffffffff).optional(), clear: uint(0xffffffff).optional() }, 'setpci'),
  binds: null,
  check: (a) => (a.value === undefined && a.set === undefined && a.clear === undefined ? { path: [], message: 'setpci needs value, or set/clear masks' } : a.value !== undefined && (a.set !== undefined || a.clear !== undefined) ? { path: ['value'], message: 'setpci takes value or set/clear, not both' } : null),
  describe: (a) => `setpci ${a.device.name} @${hex(a.offset)}/${a.size ?? 4} ${a.value !== undefined ? `= ${hex(a.value)}` : `${a.set !== undefined ? `|${hex(a.set)}` : ''}${a.clear !== undefined ? ` &~${hex(a.clear)}` : ''}`}`,
  *run(ctx, a) {
    const fn = ctx.device(a.device);
    const size = a.size ?? 4;
    yield point('cfg', `cfg:${fn.name}`, 'w');
    const old = fn.cfgRead(a.offset, size, 'host');
    const v = a.value ?? ((old & ~(a.clear ?? 0)) | (a.set ?? 0)) >>> 0;
    fn.cfgWrite(a.offset, size, v, 'host');
    return { value: BigInt(v), note: `(was ${hex(old)})` };
  },
});

const dmaOp = defineOp<{ device: DeviceRef; iova: number; size?: number; value?: bigint; data?: Uint8Array; read?: boolean }>({
  name: 'dma',
  doc: 'A DMA by the device itself at bus address `iova` (through the IOMMU): a write of `value` (`size` bytes) or `data`, or with `read: true` a read of `size` bytes.',
  args: obj({ device, iova: uint(), size: uint(4096).optional(), value: u64().optional(), data: bytes.optional(), read: z.boolean().optional() }, 'dma'),
  binds: null,
  check: (a) => (a.read === true ? (a.size === undefined ? { path: [], message: 'a DMA read needs size' } : null) : a.value === undefined && a.data === undefined ? { path: [], message: 'a DMA write needs value or data (or read: true)' } : null),
  describe: (a) => `dma ${a.device.name} ${a.read === true ? 'read' : 'write'} iova ${hex(a.iova)}`,
  *run(ctx, a) {
    const fn = ctx.device(a.device);
    yield point('dma', `dma:${fn.name}`, a.read === true ? 'r' : 'w');
    if (a.read === true) {
      const d = fn.dmaRead(a.iova, a.size ?? 4);
      return d === null ? { failure: 'DMA read failed' } : { ret: d.length, data: d, ...(d.length <= 8 ? { value: leValue(d) } : {}) };
    }
    const data = a.data ?? leBytes(a.value ?? 0n, a.size ?? 4);
    return fn.dmaWrite(a.iova, data) ? { ret: data.length } : { failure: 'DMA write failed' };
  },
});

/** edu_dma `wait`: the poll interval (usleep(10000)) and how many polls before giving up (1 s of virtual time). */
const EDU_POLL_MS = 10;
const EDU_POLL_MAX = 100;

const eduDma = defineOp<{ at?: NameRef | number; fd?: NameRef | number; src: bigint; dst: bigint; count: bigint; to_ram?: boolean; irq?: boolean; wait?: boolean }>({
  name: 'edu_dma',
  doc: "Program an edu device's DMA engine through BAR0 (source 0x80, destination 0x88, count 0x90, command 0x98): CPU stores at a BAR0 mapping (`at`) or pwrites through a device fd (`fd`). `to_ram: true` copies from the edu buffer (0x40000) to `dst`. The engine transfers 100 ms of model time after the command write (edu's DMA timer); `wait: true` then polls the command register's start bit as a driver does, sleeping 10 ms between reads, until the engine is idle (at most 1 s).",
  args: obj({ at: addr().optional(), fd: fdRef(['device', 'fd']).optional(), src: u64(), dst: u64(), count: u64(), to_ram: z.boolean().optional(), irq: z.boolean().optional(), wait: z.boolean().optional() }, 'edu_dma'),
  binds: null,
  check: (a) => ((a.at === undefined) === (a.fd === undefined) ? { path: [], message: 'edu_dma needs exactly one of at (a BAR0 mapping) and fd (a device fd)' } : null),
  describe: (a) => `edu_dma ${a.at !== undefined ? refText(a.at) : refText(a.fd ?? 0)} ${hex(a.src)} -> ${hex(a.dst)} x${a.count}${a.wait === true ? ' (wait)' : ''}`,
  *run(ctx, a) {
    const cmd = 1n | (a.to_ram === true ? 2n : 0n) | (a.irq === true ? 4n : 0n);
    const regs: [number, bigint][] = [[0x80, a.src], [0x88, a.dst], [0x90, a.count], [0x98, cmd]];
    const base = a.at !== undefined ? ctx.addr(a.at) : -1;
    const fd = a.at !== undefined ? -1 : ctx.fd(a.fd ?? -1);
    if (base >= 0) {
      for (const [off, v] of regs) {
        const r = yield* ctx.p.ops.store(base + off, 8, v);
        if (!r.ok) return { signal: { sig: r.signal, code: r.code, addr: r.addr }, where: `store to ${hex(off)}` };
      }
    } else {
      for (const [off, v] of regs) {
        const r = yield* pwriteScratch(ctx, fd, leBytes(v, 8), vfioPciIndexToOffset(0) + off);
        if (r < 0) return { errno: -r, where: `pwrite to ${hex(off)}` };
      }
    }
    if (a.wait !== true) return { ret: 0 };
    // a driver's poll: read the command register until the start bit clears, usleep between reads
    for (let polls = 0; ; polls++) {
      let v: bigint;
      if (base >= 0) {
        const r = yield* ctx.p.ops.load(base + 0x98, 4);
        if (!r.ok) return { signal: { sig: r.signal, code: r.code, addr: r.addr }, where: 'load of 0x98 (polling)' };
        v = r.value;
      } else {
        const r = yield* preadScratch(ctx, fd, 4, vfioPciIndexToOffset(0) + 0x98);
        if (r.ret < 0) return { errno: -r.ret, where: 'pread of 0x98 (polling)' };
        if (r.ret !== 4) return { failure: `pread of 0x98 (polling) returned ${r.ret}` };
        v = leValue(r.data);
      }
      if ((v & 1n) === 0n) return { ret: 0, value: v, note: `(idle after ${polls * EDU_POLL_MS} ms)` };
      if (polls >= EDU_POLL_MAX) return { failure: `the DMA engine is still busy after ${polls * EDU_POLL_MS} ms (0x98 reads ${hex(v)})` };
      yield* ctx.sys.kernel.msleep(EDU_POLL_MS, 'hrtimer_nanosleep');
    }
  },
});

const eventfdOp = defineOp<{ initval?: number; nonblock?: boolean } | null>({
  name: 'eventfd',
  doc: 'eventfd2(2) (non-blocking unless `nonblock: false`). Names the eventfd.',
  args: z.union([z.null(), obj({ initval: uint(0xffffffff).optional(), nonblock: z.boolean().optional() }, 'eventfd')], { error: 'expected nothing or a mapping {initval, nonblock}' }),
  binds: 'eventfd',
  bare: true,
  describe: () => 'eventfd',
  *run(ctx, a) {
    const flags = EFD_CLOEXEC | (a?.nonblock === false ? 0 : EFD_NONBLOCK);
    const fd = yield* ctx.p.ops.eventfd(a?.initval ?? 0, flags);
    return fd < 0 ? { errno: -fd } : { ret: fd, bind: { kind: 'eventfd', fd } };
  },
});

const eventfdRead = defineOp<{ fd: NameRef | number }>({
  name: 'eventfd_read',
  doc: 'read(2) of an eventfd: its counter (-EAGAIN when zero and non-blocking; a blocking one sleeps until signalled).',
  args: short('fd', fdRef(['eventfd', 'fd']), obj({ fd: fdRef(['eventfd', 'fd']) }, 'eventfd_read'), 'expected an eventfd (e.g. efd0) or a mapping {fd}'),
  binds: null,
  describe: (a) => `eventfd_read ${refText(a.fd)}`,
  *run(ctx, a) {
    const buf = yield* ctx.scratch(8);
    if (buf < 0) return { errno: -buf };
    const n = yield* ctx.p.ops.read(ctx.fd(a.fd), buf, 8);
    if (n < 0) return { errno: -n };
    const r = yield* ctx.p.ops.load(buf, 8);
    return r.ok ? { ret: n, value: r.value } : { errno: 14 };
  },
});

const eventfdWrite = defineOp<{ fd: NameRef | number; value?: bigint }>({
  name: 'eventfd_write',
  doc: 'write(2) of an 8-byte value (default 1) to an eventfd: adds it to the counter and wakes its waiters (an ioeventfd or irqfd bound to it runs).',
  args: short('fd', fdRef(['eventfd', 'fd']), obj({ fd: fdRef(['eventfd', 'fd']), value: u64().optional() }, 'eventfd_write'), 'expected an eventfd (e.g. efd0) or a mapping {fd, value}'),
  binds: null,
  describe: (a) => `eventfd_write ${refText(a.fd)}${a.value !== undefined ? ` ${hex(a.value)}` : ''}`,
  *run(ctx, a) {
    const buf = yield* ctx.scratch(8);
    if (buf < 0) return { errno: -buf };
    const st = yield* ctx.p.ops.store(buf, 8, a.value ?? 1n);
    if (!st.ok) return { errno: 14 };
    const n = yield* ctx.p.ops.write(ctx.fd(a.fd), buf, 8);
    return n < 0 ? { errno: -n } : { ret: n };
  },
});

const FUTEX_OPS = { set: FUTEX_OP_SET, add: FUTEX_OP_ADD, or: FUTEX_OP_OR, andn: FUTEX_OP_ANDN, xor: FUTEX_OP_XOR } as const;

const futexWakeOpOp = defineOp<{ at: NameRef | number; op?: keyof typeof FUTEX_OPS; oparg?: number; private?: boolean }>({
  name: 'futex_wake_op',
  doc: 'futex(2) FUTEX_WAKE_OP (private unless `private: false`) with the futex word at `at`: atomically applies `op` (set, add (default), or, andn, xor) with `oparg` (default 0) to it, faulting the page in with a fault that may not retry (fault_in_user_writeable) when it is not mapped writable. Returns the number woken (0: waiters are not modelled) or the errno.',
  args: short('at', addr(), obj({ at: addr(), op: z.enum(['set', 'add', 'or', 'andn', 'xor'], { error: 'expected a futex op: set, add, or, andn, xor' }).optional(), oparg: uint(0x7ff).optional(), private: z.boolean().optional() }, 'futex_wake_op'), 'expected an address (e.g. bar+0x8) or a mapping {at, op, oparg, private}'),
  binds: null,
  describe: (a) => `futex_wake_op ${refText(a.at)} ${a.op ?? 'add'} ${a.oparg ?? 0}`,
  *run(ctx, a) {
    const uaddr = ctx.addr(a.at);
    const op = FUTEX_WAKE_OP | (a.private === false ? 0 : FUTEX_PRIVATE_FLAG);
    const r = yield* ctx.p.ops.futex(uaddr, op, 1, uaddr, futexOp(FUTEX_OPS[a.op ?? 'add'], a.oparg ?? 0, FUTEX_OP_CMP_EQ, 0));
    return r < 0 ? { errno: -r } : { ret: r };
  },
});

const closeOp = defineOp<{ fd: NameRef | number }>({
  name: 'close',
  doc: 'close(2) of an fd (`close: dev`, `close: dev.group`).',
  args: short('fd', fdRef(ANY_FD), obj({ fd: fdRef(ANY_FD) }, 'close'), 'expected an fd (e.g. dev) or a mapping {fd}'),
  binds: null,
  describe: (a) => `close ${refText(a.fd)}`,
  *run(ctx, a) {
    return sys(yield* ctx.p.ops.close(ctx.fd(a.fd)));
  },
});

const exitOp = defineOp<null>({
  name: 'exit',
  doc: "The process exits: its address space is released (vm_ops.close of every mapping) and every fd closed. The process's other threads stop.",
  args: z.null({ error: 'exit takes no arguments' }),
  binds: null,
  bare: true,
  describe: () => 'exit',
  *run(ctx) {
    yield* ctx.p.ops.exit();
    return { ret: 0 };
  },
});

const noteOp = defineOp<string>({
  name: 'note',
  doc: 'Put a note into the event stream (shown in the trace).',
  args: z.string({ error: 'expected the text of the note' }),
  binds: null,
  describe: (a) => `note: ${a}`,
  // eslint-disable-next-line require-yield
  *run(ctx, a) {
    ctx.sys.events.emit({ kind: 'note', text: a });
    return { ret: 0 };
  },
});

/** Every operation except `fork` (which the loader handles: it declares the child's threads). */
export const OPS: readonly OpDef<unknown>[] = [
  openDevice,
  openOp,
  IOCTL_OP,
  preadOp,
  pwriteOp,
  mmapOp,
  munmapOp,
  loadOp,
  storeOp,
  configRead,
  configWrite,
  commandOp('set_mem', 'Set Memory Space Enable in the command register (read-modify-write through the config region).', PCI_COMMAND_MEMORY, 0),
  commandOp('clear_mem', 'Clear Memory Space Enable in the command register (read-modify-write through the config region).', 0, PCI_COMMAND_MEMORY),
  commandGeneric,
  flrOp,
  powerOp,
  lowPowerEntryOp,
  lowPowerExitOp,
  setpciOp,
  dmaOp,
  eduDma,
  eventfdOp,
  eventfdRead,
  eventfdWrite,
  futexWakeOpOp,
  closeOp,
  exitOp,
  noteOp,
  ...OBSERVE_OPS,
  ...KVM_OPS,
];

export const OP_BY_NAME: ReadonlyMap<string, OpDef<unknown>> = new Map(OPS.map((o) => [o.name, o]));

/** `fork` is declared here for the op name list; its schema is built by the loader (it nests threads). */
export const FORK_OP = 'fork';
export const FORK_DOC = 'fork(2): the child process gets a copy of the address space and fds (and of the names bound so far); `threads` run in the child, starting after the fork. The fork order (dup_mmap) is the variant\'s: knob forkOpenBeforeCopy (35e351780fa9: vm_ops.open before copying page tables); `open_before_copy: true`/`false` overrides it for this fork.';
