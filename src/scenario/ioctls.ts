/**
 * The `ioctl` operation: VFIO ioctls by name (`cmd: VFIO_DEVICE_SET_IRQS`, or the short
 * forms `DEVICE_SET_IRQS` / `SET_IRQS`) with their struct fields as YAML fields. The
 * structs are encoded with their real layouts (src/uapi/vfio.ts) into the thread's
 * memory and passed by address. To add an ioctl, add an entry to IOCTLS.
 */
import * as z from 'zod';
import type { Task } from '../kernel/sched/task.js';
import { LeView } from '../uapi/ioctl.js';
import {
  SIZEOF_VFIO_DEVICE_INFO,
  SIZEOF_VFIO_GROUP_STATUS,
  SIZEOF_VFIO_IOMMU_TYPE1_INFO,
  SIZEOF_VFIO_IRQ_INFO,
  SIZEOF_VFIO_REGION_INFO,
  VFIO_CHECK_EXTENSION,
  SIZEOF_VFIO_DEVICE_FEATURE,
  VFIO_DEVICE_FEATURE,
  VFIO_DEVICE_FEATURE_GET,
  VFIO_DEVICE_FEATURE_PROBE,
  VFIO_DEVICE_FEATURE_SET,
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_DEVICE_GET_PCI_HOT_RESET_INFO,
  VFIO_DEVICE_GET_REGION_INFO,
  VFIO_DEVICE_IOEVENTFD,
  VFIO_DEVICE_IOEVENTFD_16,
  VFIO_DEVICE_IOEVENTFD_32,
  VFIO_DEVICE_IOEVENTFD_64,
  VFIO_DEVICE_IOEVENTFD_8,
  VFIO_DEVICE_PCI_HOT_RESET,
  VFIO_DEVICE_RESET,
  VFIO_DEVICE_SET_IRQS,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_GET_API_VERSION,
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_GET_STATUS,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_GROUP_UNSET_CONTAINER,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_UNMAP_DMA,
  VFIO_IRQ_SET_ACTION_MASK,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_ACTION_UNMASK,
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_SET_IOMMU,
  decodeDeviceInfo,
  decodeDmaUnmap,
  decodeGroupStatus,
  decodeIommuType1Info,
  decodeCapIovaRange,
  walkInfoCaps,
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
  decodeIrqInfo,
  decodePciHotResetInfo,
  decodeRegionInfo,
  encodeBoolArray,
  encodeDeviceFeature,
  encodeDeviceInfo,
  encodeLowPowerEntryWithWakeup,
  encodeDeviceIoeventfd,
  encodeDmaMap,
  encodeDmaUnmap,
  encodeEventfdArray,
  encodeGroupStatus,
  encodeIommuType1Info,
  encodeIrqInfo,
  encodeIrqSet,
  encodePciHotReset,
  encodePciHotResetInfo,
  encodeRegionInfo,
  vfioPciIndexToOffset,
} from '../uapi/vfio.js';
import type { Outcome, StepCtx } from './context.js';
import { defineOp, hex, refText } from './op-def.js';
import { accessSize, addr, type BindKind, device, type DeviceRef, fdRef, type NameRef, obj, region, u64, uint } from './values.js';

/** The kind of fd an ioctl is issued on (a plain `fd` from `open` is accepted for each). */
export type FdClass = 'container' | 'group' | 'device' | 'kvm' | 'vm' | 'vcpu';
const ACCEPT: Readonly<Record<FdClass, readonly BindKind[]>> = {
  container: ['container', 'fd'],
  group: ['group', 'fd'],
  device: ['device', 'fd'],
  kvm: ['kvm', 'fd'],
  vm: ['vm', 'fd'],
  vcpu: ['vcpu', 'fd'],
};

/** One ioctl: its uAPI name, the fd it is issued on, its fields and how to run it. */
export interface IoctlDef<F = Record<string, unknown>> {
  /** uAPI name (VFIO_DEVICE_SET_IRQS). */
  readonly name: string;
  readonly cmd: number;
  readonly on: FdClass;
  readonly doc: string;
  readonly fields: z.core.$ZodShape;
  /** What `as:` names (GET_DEVICE_FD: the device fd). */
  readonly binds?: BindKind;
  describe?(f: F): string;
  run(ctx: StepCtx, fd: number, f: F): Task<Outcome>;
}

function defineIoctl<S extends z.core.$ZodShape>(d: Omit<IoctlDef<z.output<z.ZodObject<S>>>, 'fields'> & { fields: S }): IoctlDef {
  return d as unknown as IoctlDef;
}

function* plain(ctx: StepCtx, fd: number, cmd: number, arg: number): Task<Outcome> {
  const r = yield* ctx.p.ops.ioctl(fd, cmd, arg);
  return r < 0 ? { errno: -r } : { ret: r };
}

const IOMMU_TYPES: Readonly<Record<string, number>> = { type1: 1, type1v2: 3, noiommu: 8 };
const iommuType = z.union([z.enum(['type1', 'type1v2', 'noiommu'], { error: 'expected an IOMMU type: type1, type1v2, noiommu or a number' }).transform((t) => IOMMU_TYPES[t] ?? 0), z.number().int().nonnegative()], { error: 'expected an IOMMU type: type1, type1v2, noiommu or a number' });

const IRQ_INDEX: Readonly<Record<string, number>> = { intx: 0, msi: 1, msix: 2, err: 3, req: 4 };
const irqIndex = z.union([z.enum(['intx', 'msi', 'msix', 'err', 'req'], { error: 'expected an IRQ index: intx, msi, msix, err, req or a number' }).transform((t) => IRQ_INDEX[t] ?? 0), z.number().int().nonnegative()], { error: 'expected an IRQ index: intx, msi, msix, err, req or a number' });
const irqName = (i: number): string => Object.keys(IRQ_INDEX).find((k) => IRQ_INDEX[k] === i) ?? String(i);

const FEATURES: Readonly<Record<string, number>> = { pci_vf_token: 0, migration: 1, mig_device_state: 2, low_power_entry: 3, low_power_entry_with_wakeup: 4, low_power_exit: 5 };
const featureIndex = z.union([z.enum(['pci_vf_token', 'migration', 'mig_device_state', 'low_power_entry', 'low_power_entry_with_wakeup', 'low_power_exit'], { error: 'expected a feature: low_power_entry, low_power_entry_with_wakeup, low_power_exit, pci_vf_token, migration, mig_device_state or a number' }).transform((t) => FEATURES[t] ?? 0), z.number().int().min(0).max(0xffff)], { error: 'expected a feature: low_power_entry, low_power_entry_with_wakeup, low_power_exit, pci_vf_token, migration, mig_device_state or a number' });
const featureName = (i: number): string => Object.keys(FEATURES).find((k) => FEATURES[k] === i) ?? String(i);

const REGION_FLAGS = ['read', 'write', 'mmap', 'caps'];
const flagNames = (flags: number, names: readonly string[]): string => names.filter((_, i) => (flags & (1 << i)) !== 0).join('|') || 'none';

/** GET_INFO's buffer with `caps: true`: room for the info, the IOVA range and migration capabilities (type1 needs about 100 bytes). */
const GET_INFO_CAPS_ARGSZ = 512;

export const IOCTLS: readonly IoctlDef[] = [
  defineIoctl({
    name: 'VFIO_GET_API_VERSION', cmd: VFIO_GET_API_VERSION, on: 'container', doc: 'The VFIO API version (0).', fields: {},
    run: (ctx, fd) => plain(ctx, fd, VFIO_GET_API_VERSION, 0),
  }),
  defineIoctl({
    name: 'VFIO_CHECK_EXTENSION', cmd: VFIO_CHECK_EXTENSION, on: 'container', doc: 'Whether an IOMMU type is supported (> 0).', fields: { extension: iommuType },
    describe: (f) => `CHECK_EXTENSION ${f.extension}`,
    run: (ctx, fd, f) => plain(ctx, fd, VFIO_CHECK_EXTENSION, f.extension),
  }),
  defineIoctl({
    name: 'VFIO_SET_IOMMU', cmd: VFIO_SET_IOMMU, on: 'container', doc: 'Set the container\'s IOMMU driver (after a group is attached).', fields: { type: iommuType },
    describe: (f) => `SET_IOMMU ${f.type}`,
    *run(ctx, fd, f) {
      const r = yield* plain(ctx, fd, VFIO_SET_IOMMU, f.type);
      return r;
    },
  }),
  defineIoctl({
    name: 'VFIO_IOMMU_GET_INFO', cmd: VFIO_IOMMU_GET_INFO, on: 'container',
    doc: 'type1 info: flags and supported page sizes. With `caps: true` the buffer has room for the capability chain, and the result adds the IOVA range capability: `iova_ranges` (start-end pairs) and `iova_end` (the end of the last range).',
    fields: { caps: z.boolean({ error: 'expected true or false' }).optional() },
    *run(ctx, fd, f) {
      const argsz = f.caps === true ? GET_INFO_CAPS_ARGSZ : SIZEOF_VFIO_IOMMU_TYPE1_INFO;
      const buf = new Uint8Array(argsz);
      buf.set(encodeIommuType1Info({ argsz }));
      const r = yield* ctx.ioctlStruct(fd, VFIO_IOMMU_GET_INFO, buf);
      if (r.ret < 0) return { errno: -r.ret };
      const i = decodeIommuType1Info(r.bytes);
      const fields: Record<string, bigint | string> = { flags: BigInt(i.flags), iova_pgsizes: i.iovaPgsizes };
      if (f.caps === true) {
        const cap = walkInfoCaps(r.bytes, i.capOffset).find((c) => c.header.id === VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE);
        const ranges = cap === undefined ? [] : decodeCapIovaRange(cap.bytes);
        fields.iova_ranges = ranges.map((x) => `0x${x.start.toString(16)}-0x${x.end.toString(16)}`).join(' ');
        const last = ranges.at(-1);
        if (last !== undefined) fields.iova_end = last.end;
      }
      return { ret: r.ret, fields };
    },
  }),
  defineIoctl({
    name: 'VFIO_IOMMU_MAP_DMA', cmd: VFIO_IOMMU_MAP_DMA, on: 'container',
    doc: 'Map `size` bytes (default: the rest of the mapping) of user memory at `vaddr` to `iova` in the IOMMU (read and write unless told).',
    fields: { vaddr: addr(['mapping']), iova: u64(), size: uint().optional(), read: z.boolean().optional(), write: z.boolean().optional() },
    describe: (f) => `MAP_DMA ${refText(f.vaddr)} -> iova ${hex(f.iova)}${f.size !== undefined ? ` size ${hex(f.size)}` : ''}`,
    *run(ctx, fd, f) {
      const vaddr = ctx.addr(f.vaddr);
      let size = f.size;
      if (size === undefined) {
        const b = typeof f.vaddr === 'number' ? null : ctx.binding(f.vaddr, ['mapping']);
        size = b !== null && b.kind === 'mapping' && typeof f.vaddr !== 'number' ? b.length - f.vaddr.offset : 4096;
      }
      const flags = (f.read === false ? 0 : VFIO_DMA_MAP_FLAG_READ) | (f.write === false ? 0 : VFIO_DMA_MAP_FLAG_WRITE);
      const r = yield* ctx.ioctlStruct(fd, VFIO_IOMMU_MAP_DMA, encodeDmaMap({ flags, vaddr, iova: f.iova, size }));
      return r.ret < 0 ? { errno: -r.ret } : { ret: r.ret };
    },
  }),
  defineIoctl({
    name: 'VFIO_IOMMU_UNMAP_DMA', cmd: VFIO_IOMMU_UNMAP_DMA, on: 'container', doc: 'Unmap an IOVA range; `size` field of the result: bytes unmapped.',
    fields: { iova: u64(), size: u64() },
    describe: (f) => `UNMAP_DMA iova ${hex(f.iova)} size ${hex(f.size)}`,
    *run(ctx, fd, f) {
      const r = yield* ctx.ioctlStruct(fd, VFIO_IOMMU_UNMAP_DMA, encodeDmaUnmap({ iova: f.iova, size: f.size }));
      return r.ret < 0 ? { errno: -r.ret } : { ret: r.ret, fields: { size: decodeDmaUnmap(r.bytes).size } };
    },
  }),
  defineIoctl({
    name: 'VFIO_GROUP_GET_STATUS', cmd: VFIO_GROUP_GET_STATUS, on: 'group', doc: 'Group flags: viable, container_set.', fields: {},
    *run(ctx, fd) {
      const r = yield* ctx.ioctlStruct(fd, VFIO_GROUP_GET_STATUS, encodeGroupStatus({ argsz: SIZEOF_VFIO_GROUP_STATUS, flags: 0 }));
      if (r.ret < 0) return { errno: -r.ret };
      const flags = decodeGroupStatus(r.bytes).flags;
      return { ret: r.ret, fields: { flags: BigInt(flags), viable: (flags & 1) !== 0, container_set: (flags & 2) !== 0 } };
    },
  }),
  defineIoctl({
    name: 'VFIO_GROUP_SET_CONTAINER', cmd: VFIO_GROUP_SET_CONTAINER, on: 'group', doc: 'Attach the group to a container fd.',
    fields: { container: fdRef(['container', 'fd']) },
    describe: (f) => `GROUP_SET_CONTAINER ${refText(f.container)}`,
    *run(ctx, fd, f) {
      const b = new Uint8Array(4);
      new LeView(b).setS32(0, ctx.fd(f.container));
      const r = yield* ctx.ioctlStruct(fd, VFIO_GROUP_SET_CONTAINER, b);
      return r.ret < 0 ? { errno: -r.ret } : { ret: r.ret };
    },
  }),
  defineIoctl({
    name: 'VFIO_GROUP_UNSET_CONTAINER', cmd: VFIO_GROUP_UNSET_CONTAINER, on: 'group', doc: 'Detach the group from its container.', fields: {},
    run: (ctx, fd) => plain(ctx, fd, VFIO_GROUP_UNSET_CONTAINER, 0),
  }),
  defineIoctl({
    name: 'VFIO_GROUP_GET_DEVICE_FD', cmd: VFIO_GROUP_GET_DEVICE_FD, on: 'group', doc: 'A device fd for a device of the group; names it.', fields: { device },
    binds: 'device',
    describe: (f) => `GROUP_GET_DEVICE_FD ${(f.device as DeviceRef).name}`,
    *run(ctx, fd, f) {
      const fn = ctx.device(f.device);
      const s = new TextEncoder().encode(fn.name);
      const b = new Uint8Array(s.length + 1);
      b.set(s);
      const r = yield* ctx.ioctlStruct(fd, VFIO_GROUP_GET_DEVICE_FD, b);
      return r.ret < 0 ? { errno: -r.ret } : { ret: r.ret, bind: { kind: 'device', fd: r.ret, dev: fn.name, groupFd: fd, containerFd: null } };
    },
  }),
  defineIoctl({
    name: 'VFIO_DEVICE_GET_INFO', cmd: VFIO_DEVICE_GET_INFO, on: 'device', doc: 'Device flags and region/IRQ counts.', fields: {},
    *run(ctx, fd) {
      const r = yield* ctx.ioctlStruct(fd, VFIO_DEVICE_GET_INFO, encodeDeviceInfo({ argsz: SIZEOF_VFIO_DEVICE_INFO, flags: 0, numRegions: 0, numIrqs: 0 }));
      if (r.ret < 0) return { errno: -r.ret };
      const i = decodeDeviceInfo(r.bytes);
      return { ret: r.ret, fields: { flags: BigInt(i.flags), num_regions: BigInt(i.numRegions), num_irqs: BigInt(i.numIrqs) } };
    },
  }),
  defineIoctl({
    name: 'VFIO_DEVICE_GET_REGION_INFO', cmd: VFIO_DEVICE_GET_REGION_INFO, on: 'device', doc: 'A region\'s size, fd offset and flags (read|write|mmap|caps).', fields: { region },
    describe: (f) => `GET_REGION_INFO ${f.region.name}`,
    *run(ctx, fd, f) {
      const r = yield* ctx.ioctlStruct(fd, VFIO_DEVICE_GET_REGION_INFO, encodeRegionInfo({ argsz: SIZEOF_VFIO_REGION_INFO, index: f.region.index }));
      if (r.ret < 0) return { errno: -r.ret };
      const i = decodeRegionInfo(r.bytes);
      return { ret: r.ret, fields: { size: i.size, offset: i.offset, flags: BigInt(i.flags), flag_names: flagNames(i.flags, REGION_FLAGS) } };
    },
  }),
  defineIoctl({
    name: 'VFIO_DEVICE_GET_IRQ_INFO', cmd: VFIO_DEVICE_GET_IRQ_INFO, on: 'device', doc: 'An IRQ index\'s vector count and flags.', fields: { index: irqIndex },
    describe: (f) => `GET_IRQ_INFO ${irqName(f.index)}`,
    *run(ctx, fd, f) {
      const r = yield* ctx.ioctlStruct(fd, VFIO_DEVICE_GET_IRQ_INFO, encodeIrqInfo({ argsz: SIZEOF_VFIO_IRQ_INFO, flags: 0, index: f.index, count: 0 }));
      if (r.ret < 0) return { errno: -r.ret };
      const i = decodeIrqInfo(r.bytes);
      return { ret: r.ret, fields: { count: BigInt(i.count), flags: BigInt(i.flags) } };
    },
  }),
  defineIoctl({
    name: 'VFIO_DEVICE_SET_IRQS', cmd: VFIO_DEVICE_SET_IRQS, on: 'device',
    doc: 'Program an IRQ index: `eventfds` (names or -1) for vectors start.., or `bools`, or `count` with no data (count 0: disable the index); `action` trigger (default), mask or unmask.',
    fields: {
      index: irqIndex,
      action: z.enum(['trigger', 'mask', 'unmask'], { error: 'expected an action: trigger, mask or unmask' }).optional(),
      start: uint(0xffffffff).optional(),
      eventfds: z.array(fdRef(['eventfd', 'fd'])).optional(),
      bools: z.array(z.boolean()).optional(),
      count: uint(0xffffffff).optional(),
    },
    describe: (f) => `SET_IRQS ${irqName(f.index)}${f.eventfds !== undefined ? ` [${f.eventfds.map(refText).join(', ')}]` : f.bools !== undefined ? ` [${f.bools.join(', ')}]` : ` count ${f.count ?? 0}`}`,
    *run(ctx, fd, f) {
      const action = f.action === 'mask' ? VFIO_IRQ_SET_ACTION_MASK : f.action === 'unmask' ? VFIO_IRQ_SET_ACTION_UNMASK : VFIO_IRQ_SET_ACTION_TRIGGER;
      let flags = VFIO_IRQ_SET_DATA_NONE;
      let data: Uint8Array = new Uint8Array(0);
      let count = f.count ?? 0;
      if (f.eventfds !== undefined) {
        flags = VFIO_IRQ_SET_DATA_EVENTFD;
        data = encodeEventfdArray(f.eventfds.map((e: NameRef | number) => ctx.fd(e)));
        count = f.eventfds.length;
      } else if (f.bools !== undefined) {
        flags = VFIO_IRQ_SET_DATA_BOOL;
        data = encodeBoolArray(f.bools);
        count = f.bools.length;
      }
      const r = yield* ctx.ioctlStruct(fd, VFIO_DEVICE_SET_IRQS, encodeIrqSet({ flags: flags | action, index: f.index, start: f.start ?? 0, count }, data));
      return r.ret < 0 ? { errno: -r.ret } : { ret: r.ret };
    },
  }),
  defineIoctl({
    name: 'VFIO_DEVICE_RESET', cmd: VFIO_DEVICE_RESET, on: 'device', doc: 'Reset the device (zaps mappings and resets under memory_lock in 5.8).', fields: {},
    run: (ctx, fd) => plain(ctx, fd, VFIO_DEVICE_RESET, 0),
  }),
  defineIoctl({
    name: 'VFIO_DEVICE_GET_PCI_HOT_RESET_INFO', cmd: VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, on: 'device',
    doc: 'The devices a hot reset would affect (room for `room` entries, default 16; -ENOSPC with the count when too small).',
    fields: { room: uint(256).optional() },
    *run(ctx, fd, f) {
      const r = yield* ctx.ioctlStruct(fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, encodePciHotResetInfo({ count: 0 }, f.room ?? 16));
      const info = decodePciHotResetInfo(r.bytes);
      if (r.ret < 0) return { errno: -r.ret, fields: { count: BigInt(info.count) } } as Outcome;
      const devs = info.devices.map((d) => `${d.segment.toString(16).padStart(4, '0')}:${d.bus.toString(16).padStart(2, '0')}:${(d.devfn >> 3).toString(16).padStart(2, '0')}.${d.devfn & 7}(group ${d.groupId})`);
      return { ret: r.ret, fields: { count: BigInt(info.count), devices: devs.join(' ') } };
    },
  }),
  defineIoctl({
    name: 'VFIO_DEVICE_PCI_HOT_RESET', cmd: VFIO_DEVICE_PCI_HOT_RESET, on: 'device', doc: 'Secondary bus reset of the device\'s bus, proving ownership with the listed group fds.',
    fields: { groups: z.array(fdRef(['group', 'fd'])) },
    describe: (f) => `PCI_HOT_RESET groups [${f.groups.map(refText).join(', ')}]`,
    *run(ctx, fd, f) {
      const r = yield* ctx.ioctlStruct(fd, VFIO_DEVICE_PCI_HOT_RESET, encodePciHotReset({}, f.groups.map((g: NameRef | number) => ctx.fd(g))));
      return r.ret < 0 ? { errno: -r.ret } : { ret: r.ret };
    },
  }),
  defineIoctl({
    name: 'VFIO_DEVICE_IOEVENTFD', cmd: VFIO_DEVICE_IOEVENTFD, on: 'device', doc: 'Write `data` (`size` bytes) at a region offset whenever the eventfd is signalled (`eventfd: -1` removes it).',
    fields: { region, offset: uint().optional(), size: accessSize, data: u64(), eventfd: fdRef(['eventfd', 'fd']) },
    describe: (f) => `IOEVENTFD ${f.region.name}+${hex(f.region.offset + (f.offset ?? 0))}/${f.size} = ${hex(f.data)} on ${refText(f.eventfd)}`,
    *run(ctx, fd, f) {
      const flags = { 1: VFIO_DEVICE_IOEVENTFD_8, 2: VFIO_DEVICE_IOEVENTFD_16, 4: VFIO_DEVICE_IOEVENTFD_32, 8: VFIO_DEVICE_IOEVENTFD_64 }[f.size as 1 | 2 | 4 | 8];
      const offset = vfioPciIndexToOffset(f.region.index) + f.region.offset + (f.offset ?? 0);
      const r = yield* ctx.ioctlStruct(fd, VFIO_DEVICE_IOEVENTFD, encodeDeviceIoeventfd({ flags, offset, data: f.data, fd: ctx.fd(f.eventfd) }));
      return r.ret < 0 ? { errno: -r.ret } : { ret: r.ret };
    },
  }),
  defineIoctl({
    name: 'VFIO_DEVICE_FEATURE', cmd: VFIO_DEVICE_FEATURE, on: 'device',
    doc: 'A device feature (`feature`: low_power_entry, low_power_entry_with_wakeup, low_power_exit, ... or a number) with `set` (default when neither get nor probe is given), `get`, `probe`; `wakeup` (an eventfd) is the data of low_power_entry_with_wakeup; `argsz` overrides the size (default: header + data).',
    fields: {
      feature: featureIndex,
      get: z.boolean().optional(),
      set: z.boolean().optional(),
      probe: z.boolean().optional(),
      wakeup: fdRef(['eventfd', 'fd']).optional(),
      argsz: uint(0xffffffff).optional(),
    },
    describe: (f) => `FEATURE ${[f.probe === true ? 'PROBE' : '', f.get === true ? 'GET' : '', f.set === true || (f.get !== true && f.probe !== true) ? 'SET' : ''].filter((x) => x !== '').join('|')} ${featureName(f.feature)}`,
    *run(ctx, fd, f) {
      const set = f.set === true || (f.get !== true && f.probe !== true);
      const flags = f.feature | (f.get === true ? VFIO_DEVICE_FEATURE_GET : 0) | (set ? VFIO_DEVICE_FEATURE_SET : 0) | (f.probe === true ? VFIO_DEVICE_FEATURE_PROBE : 0);
      const data = f.wakeup !== undefined ? encodeLowPowerEntryWithWakeup({ wakeupEventfd: ctx.fd(f.wakeup) }) : new Uint8Array(0);
      const r = yield* ctx.ioctlStruct(fd, VFIO_DEVICE_FEATURE, encodeDeviceFeature(f.argsz !== undefined ? { argsz: f.argsz, flags } : { flags }, data));
      if (r.ret < 0) return { errno: -r.ret };
      return { ret: r.ret, ...(r.bytes.length > SIZEOF_VFIO_DEVICE_FEATURE ? { data: r.bytes.slice(SIZEOF_VFIO_DEVICE_FEATURE) } : {}) };
    },
  }),
];

/** Every accepted spelling of an ioctl name: VFIO_DEVICE_SET_IRQS, DEVICE_SET_IRQS, SET_IRQS (short forms only when unambiguous). */
function spellings(): Map<string, IoctlDef> {
  const m = new Map<string, IoctlDef>();
  const shortCount = new Map<string, number>();
  const shorts = (d: IoctlDef): string[] => {
    const a = d.name.replace(/^VFIO_/, '');
    const b = a.replace(/^(DEVICE|GROUP|IOMMU)_/, '');
    return [...new Set([a, b])].filter((s) => s !== d.name);
  };
  for (const d of IOCTLS) for (const s of shorts(d)) shortCount.set(s, (shortCount.get(s) ?? 0) + 1);
  for (const d of IOCTLS) {
    m.set(d.name, d);
    for (const s of shorts(d)) if (shortCount.get(s) === 1) m.set(s, d);
  }
  return m;
}

export const IOCTL_BY_NAME: ReadonlyMap<string, IoctlDef> = spellings();

function namesOf(d: IoctlDef): [string, ...string[]] {
  const names = [...IOCTL_BY_NAME.entries()].filter(([, v]) => v === d).map(([k]) => k);
  return [d.name, ...names.filter((n) => n !== d.name)];
}

function ioctlSchema(d: IoctlDef): z.ZodObject {
  return obj({ fd: fdRef(ACCEPT[d.on]), cmd: z.enum(namesOf(d)), ...d.fields }, `ioctl ${d.name}`);
}

type IoctlArgs = { fd: NameRef | number; cmd: string } & Record<string, unknown>;

const ioctlArgs = z.discriminatedUnion(
  'cmd',
  IOCTLS.map(ioctlSchema) as unknown as [z.ZodObject, ...z.ZodObject[]],
  { error: 'expected an ioctl: a mapping with fd, cmd and the ioctl\'s fields' },
) as unknown as z.ZodType<IoctlArgs, unknown>;

/** The `ioctl` operation. */
export const IOCTL_OP = defineOp<IoctlArgs>({
  name: 'ioctl',
  doc: 'A VFIO ioctl by name (`cmd`) on an fd, with the struct\'s fields: ' + IOCTLS.map((d) => d.name.replace(/^VFIO_/, '')).join(', ') + '.',
  args: ioctlArgs,
  binds: (a) => IOCTL_BY_NAME.get(a.cmd)?.binds ?? null,
  describe: (a) => {
    const d = IOCTL_BY_NAME.get(a.cmd);
    const body = d?.describe !== undefined ? d.describe(a) : (d?.name ?? a.cmd).replace(/^VFIO_/, '');
    return `ioctl ${refText(a.fd)} ${body}`;
  },
  *run(ctx, a) {
    const d = IOCTL_BY_NAME.get(a.cmd);
    if (d === undefined) return { failure: `unknown ioctl ${a.cmd}` };
    return yield* d.run(ctx, ctx.fd(a.fd), a);
  },
});

/** The ioctl schemas one by one (for the JSON Schema). */
export function ioctlSchemas(): z.ZodObject[] {
  return IOCTLS.map(ioctlSchema);
}

