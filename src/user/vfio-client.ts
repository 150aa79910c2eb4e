/**
 * A typed VFIO client: what a VMM does with the VFIO uAPI (modelled on QEMU
 * hw/vfio/common.c and hw/vfio/pci.c), over a user `Process`'s syscalls. Structs are
 * encoded into the process's own memory and passed by address, exactly as a C program
 * would; nothing here reaches into the kernel directly.
 *
 * Conventions of the typed client (VfioContainer, VfioGroup, VfioDeviceHandle and the
 * KVM client in kvm-client.ts):
 *
 * - One result shape: every method returns a `Result<T>` (alias `VfioResult<T>`):
 *   `{ ok: true, value }` or `{ ok: false, errno }`, where `errno` is the positive errno
 *   a C program would find in `errno` after the call returned -1 (EINVAL = 22). Nothing
 *   throws for a kernel error. `unwrap()` turns a result into a value or throws a
 *   `VfioErrnoError` for callers that prefer exceptions.
 * - u64 quantities (every __u64 of the uAPI: DMA vaddr/iova/size, region size and
 *   offset, ioeventfd offset and data, IOVA ranges, page-size bitmaps) are `bigint`, in
 *   and out. 32-bit and narrower values (flags, indexes, counts, fds) are numbers, and so
 *   are the addresses, lengths and file offsets passed to mmap/pread/pwrite (void *,
 *   size_t, off_t), which the model keeps below 2^53.
 * - Methods with several u64 arguments take one options object named as the C struct's
 *   fields (`mapDma({ vaddr, size, iova })`), so that swapped arguments do not type-check.
 *
 * The layers underneath have their own, C-like, conventions: `libc(proc)`
 * (src/user/libc.ts) returns -1 and sets errno, and every system call of this client
 * goes through it (`libcSyscalls`); `Process` below it returns the kernel's -errno and
 * CPU accesses' signals.
 *
 * Each process gets one scratch buffer for ioctl structs (grown on demand); calls on the
 * same process are therefore not reentrant (the sync Process API runs one at a time).
 */
import { EFAULT, errnoName } from '../kernel/errno.js';
import { MAP_SHARED } from '../kernel/mm/types.js';
import { LeView } from '../uapi/ioctl.js';
import {
  SIZEOF_VFIO_DEVICE_INFO,
  SIZEOF_VFIO_GROUP_STATUS,
  SIZEOF_VFIO_IOMMU_TYPE1_INFO,
  SIZEOF_VFIO_IRQ_INFO,
  SIZEOF_VFIO_PCI_HOT_RESET_INFO,
  SIZEOF_VFIO_REGION_INFO,
  VFIO_CHECK_EXTENSION,
  VFIO_DEVICE_FEATURE,
  VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY,
  VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP,
  VFIO_DEVICE_FEATURE_LOW_POWER_EXIT,
  VFIO_DEVICE_FEATURE_SET,
  SIZEOF_VFIO_DEVICE_FEATURE,
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
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
  VFIO_IOMMU_UNMAP_DMA,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_PCI_CONFIG_REGION_INDEX,
  VFIO_REGION_INFO_CAP_MSIX_MAPPABLE,
  VFIO_REGION_INFO_CAP_SPARSE_MMAP,
  VFIO_REGION_INFO_CAP_TYPE,
  VFIO_REGION_INFO_FLAG_CAPS,
  VFIO_SET_IOMMU,
  decodeCapIovaRange,
  decodeCapSparseMmap,
  decodeCapType,
  decodeDeviceInfo,
  decodeDmaUnmap,
  decodeGroupStatus,
  decodeIommuType1Info,
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
  walkInfoCaps,
  type VfioDeviceInfo,
  type VfioInfoCap,
  type VfioIovaRange,
  type VfioIrqInfo,
  type VfioPciDependentDevice,
  type VfioSparseMmapArea,
} from '../uapi/vfio.js';
import { type Libc, libc } from './libc.js';
import type { Process } from './process.js';
import { SideTable } from '../util/side-table.js';

/** O_RDWR */
const O_RDWR = 0o2;

// ---- results ----------------------------------------------------------------------------

/** A call's outcome: a value, or the positive errno of the failed syscall. */
export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly errno: number };

/** The typed client's result (the same type as `Result<T>`; the name the 0.1 API used). */
export type VfioResult<T> = Result<T>;

/** Thrown by `unwrap` for a failed result. */
export class VfioErrnoError extends Error {
  constructor(
    /** Positive errno. */
    readonly errno: number,
    readonly op: string,
  ) {
    super(`${op}: ${errnoName(errno)}`);
    this.name = 'VfioErrnoError';
  }
}

/** A successful result. */
export function ok<T>(value: T): VfioResult<T> {
  return { ok: true, value };
}

/** A failed result from a syscall return (-errno) or an errno. */
export function err<T>(ret: number): VfioResult<T> {
  return { ok: false, errno: Math.abs(ret) };
}

/** The value of a result, or throw VfioErrnoError. */
export function unwrap<T>(r: VfioResult<T>, op = 'vfio'): T {
  if (r.ok) return r.value;
  throw new VfioErrnoError(r.errno, op);
}

// ---- raw layer -----------------------------------------------------------------------------

/**
 * The system calls of the typed clients, made through the thread's C library
 * (src/user/libc.ts, the one place a program's libc calls go through) and given back as
 * the value or -errno for `err`.
 */
export class LibcSyscalls {
  constructor(private readonly c: Libc) {}
  private r(v: number): number {
    return v === -1 ? -this.c.errno : v;
  }
  open(path: string, flags: number): number {
    return this.r(this.c.open(path, flags));
  }
  close(fd: number): number {
    return this.r(this.c.close(fd));
  }
  ioctl(fd: number, request: number, arg: number): number {
    return this.r(this.c.ioctl(fd, request, arg));
  }
  pread(fd: number, buf: number, count: number, offset: number): number {
    return this.r(this.c.pread(fd, buf, count, offset));
  }
  pwrite(fd: number, buf: number, count: number, offset: number): number {
    return this.r(this.c.pwrite(fd, buf, count, offset));
  }
  mmap(addr: number, length: number, prot: number, flags: number, fd: number, offset: number): number {
    return this.r(this.c.mmap(addr, length, prot, flags, fd, offset));
  }
}

const syscallsOf = new SideTable<Process, LibcSyscalls>('typedSyscalls');

/** The typed clients' system calls for thread `proc` (through `libc(proc)`). */
export function libcSyscalls(proc: Process): LibcSyscalls {
  let s = syscallsOf.get(proc);
  if (s === undefined) {
    s = new LibcSyscalls(libc(proc));
    syscallsOf.set(proc, s);
  }
  return s;
}

interface Scratch {
  addr: number;
  size: number;
}
const scratchOf = new SideTable<Process, Scratch>('scratchOf');

/** A user buffer of at least `len` bytes in `proc`'s memory (reused across calls); an address or -errno. */
export function scratch(proc: Process, len: number): number {
  const want = Math.max(4096, Math.ceil(len / 4096) * 4096);
  const s = scratchOf.get(proc);
  if (s !== undefined && s.size >= want) return s.addr;
  const addr = proc.alloc(want);
  if (addr < 0) return addr;
  scratchOf.set(proc, { addr, size: want });
  return addr;
}

/** The outcome of rawIoctl: the syscall's return and the struct bytes as the kernel left them. */
export interface RawIoctlResult {
  readonly ret: number;
  readonly bytes: Uint8Array;
}

/**
 * Copy `bytes` into the process's memory, call ioctl(fd, cmd, &buf) and read the same
 * number of bytes back. `ret` is the syscall return (>= 0 or -errno).
 */
export function rawIoctl(proc: Process, fd: number, cmd: number, bytes: Uint8Array): RawIoctlResult {
  const addr = scratch(proc, Math.max(bytes.byteLength, 1));
  if (addr < 0) return { ret: addr, bytes };
  if (bytes.byteLength > 0) {
    // the scratch buffer is ordinary anonymous memory: a signal here means it was unmapped
    if (!proc.writeBytes(addr, bytes).ok) return { ret: -EFAULT, bytes };
  }
  const ret = libcSyscalls(proc).ioctl(fd, cmd, addr);
  if (bytes.byteLength === 0) return { ret, bytes };
  const back = proc.readBytes(addr, bytes.byteLength);
  return { ret, bytes: back.ok ? back.data : bytes };
}

// ---- container ------------------------------------------------------------------------------

/** A region of IOVA space the IOMMU accepts (inclusive bounds). */
export interface IovaRange {
  readonly start: bigint;
  readonly end: bigint;
}

/** VFIO_IOMMU_GET_INFO as decoded. */
export interface IommuInfo {
  readonly flags: number;
  readonly iovaPgsizes: bigint;
  readonly iovaRanges: readonly IovaRange[];
  readonly caps: readonly VfioInfoCap[];
}

/** VFIO_IOMMU_MAP_DMA's arguments: struct vfio_iommu_type1_dma_map's fields. */
export interface DmaMapArgs {
  /** Process virtual address of the memory to map (`BigInt(ptr)`). */
  readonly vaddr: bigint;
  readonly size: bigint;
  readonly iova: bigint;
  /** VFIO_DMA_MAP_FLAG_*; default READ | WRITE. */
  readonly flags?: number;
}

/** VFIO_IOMMU_UNMAP_DMA's arguments: struct vfio_iommu_type1_dma_unmap's fields. */
export interface DmaUnmapArgs {
  readonly iova: bigint;
  readonly size: bigint;
  readonly flags?: number;
}

/** An open /dev/vfio/vfio. */
export class VfioContainer {
  private constructor(
    readonly proc: Process,
    readonly fd: number,
  ) {}

  /** open("/dev/vfio/vfio", O_RDWR) */
  static open(proc: Process): VfioResult<VfioContainer> {
    const fd = libcSyscalls(proc).open('/dev/vfio/vfio', O_RDWR);
    return fd < 0 ? err(fd) : ok(new VfioContainer(proc, fd));
  }

  /** VFIO_GET_API_VERSION */
  apiVersion(): VfioResult<number> {
    const r = libcSyscalls(this.proc).ioctl(this.fd, VFIO_GET_API_VERSION, 0);
    return r < 0 ? err(r) : ok(r);
  }

  /** VFIO_CHECK_EXTENSION: > 0 if supported. */
  checkExtension(ext: number): VfioResult<number> {
    const r = libcSyscalls(this.proc).ioctl(this.fd, VFIO_CHECK_EXTENSION, ext);
    return r < 0 ? err(r) : ok(r);
  }

  /** VFIO_SET_IOMMU */
  setIommu(type: number): VfioResult<void> {
    const r = libcSyscalls(this.proc).ioctl(this.fd, VFIO_SET_IOMMU, type);
    return r < 0 ? err(r) : ok(undefined);
  }

  /** VFIO_IOMMU_GET_INFO, growing argsz when the kernel asks for room for capabilities (QEMU vfio_get_iommu_info). */
  iommuInfo(): VfioResult<IommuInfo> {
    let argsz = SIZEOF_VFIO_IOMMU_TYPE1_INFO;
    for (let tries = 0; tries < 4; tries++) {
      const buf = new Uint8Array(argsz);
      buf.set(encodeIommuType1Info({ argsz }));
      const r = rawIoctl(this.proc, this.fd, VFIO_IOMMU_GET_INFO, buf);
      if (r.ret < 0) return err(r.ret);
      const info = decodeIommuType1Info(r.bytes);
      if (info.argsz > argsz) {
        argsz = info.argsz;
        continue;
      }
      const caps = walkInfoCaps(r.bytes, info.capOffset);
      const iova = caps.find((c) => c.header.id === VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE);
      const iovaRanges: VfioIovaRange[] = iova === undefined ? [] : decodeCapIovaRange(iova.bytes);
      return ok({ flags: info.flags, iovaPgsizes: info.iovaPgsizes, iovaRanges, caps });
    }
    return err(-22);
  }

  /**
   * VFIO_IOMMU_MAP_DMA of struct vfio_iommu_type1_dma_map's fields: map [vaddr,
   * vaddr+size) of the process at `iova` (flags default READ|WRITE, as QEMU maps
   * writable RAM). A C helper's `map_dma(vaddr, size, iova)` is `mapDma({ vaddr, size, iova })`.
   */
  mapDma(m: DmaMapArgs): VfioResult<void> {
    const flags = m.flags ?? VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
    const r = rawIoctl(this.proc, this.fd, VFIO_IOMMU_MAP_DMA, encodeDmaMap({ flags, vaddr: m.vaddr, iova: m.iova, size: m.size }));
    return r.ret < 0 ? err(r.ret) : ok(undefined);
  }

  /** VFIO_IOMMU_UNMAP_DMA of [iova, iova+size): the number of bytes the kernel reports unmapped. */
  unmapDma(u: DmaUnmapArgs): VfioResult<bigint> {
    const r = rawIoctl(this.proc, this.fd, VFIO_IOMMU_UNMAP_DMA, encodeDmaUnmap({ iova: u.iova, size: u.size, flags: u.flags ?? 0 }));
    if (r.ret < 0) return err(r.ret);
    return ok(decodeDmaUnmap(r.bytes).size);
  }

  close(): VfioResult<void> {
    const r = libcSyscalls(this.proc).close(this.fd);
    return r < 0 ? err(r) : ok(undefined);
  }
}

// ---- group ---------------------------------------------------------------------------------

/** An open /dev/vfio/<group>. */
export class VfioGroup {
  private constructor(
    readonly proc: Process,
    readonly fd: number,
    readonly groupId: number,
  ) {}

  /** open("/dev/vfio/<groupId>", O_RDWR) */
  static open(proc: Process, groupId: number): VfioResult<VfioGroup> {
    const fd = libcSyscalls(proc).open(`/dev/vfio/${groupId}`, O_RDWR);
    return fd < 0 ? err(fd) : ok(new VfioGroup(proc, fd, groupId));
  }

  /** VFIO_GROUP_GET_STATUS: the flags (VIABLE, CONTAINER_SET). */
  status(): VfioResult<number> {
    const r = rawIoctl(this.proc, this.fd, VFIO_GROUP_GET_STATUS, encodeGroupStatus({ argsz: SIZEOF_VFIO_GROUP_STATUS, flags: 0 }));
    return r.ret < 0 ? err(r.ret) : ok(decodeGroupStatus(r.bytes).flags);
  }

  /** VFIO_GROUP_SET_CONTAINER (the container fd is passed through memory, as an int). */
  setContainer(container: VfioContainer | number): VfioResult<void> {
    const cfd = typeof container === 'number' ? container : container.fd;
    const b = new Uint8Array(4);
    new LeView(b).setS32(0, cfd);
    const r = rawIoctl(this.proc, this.fd, VFIO_GROUP_SET_CONTAINER, b);
    return r.ret < 0 ? err(r.ret) : ok(undefined);
  }

  /** VFIO_GROUP_UNSET_CONTAINER */
  unsetContainer(): VfioResult<void> {
    const r = libcSyscalls(this.proc).ioctl(this.fd, VFIO_GROUP_UNSET_CONTAINER, 0);
    return r < 0 ? err(r) : ok(undefined);
  }

  /** VFIO_GROUP_GET_DEVICE_FD with a NUL-terminated device name. */
  getDevice(name: string): VfioResult<VfioDeviceHandle> {
    const s = new TextEncoder().encode(name);
    const b = new Uint8Array(s.byteLength + 1);
    b.set(s);
    const r = rawIoctl(this.proc, this.fd, VFIO_GROUP_GET_DEVICE_FD, b);
    return r.ret < 0 ? err(r.ret) : ok(new VfioDeviceHandle(this.proc, r.ret, name));
  }

  close(): VfioResult<void> {
    const r = libcSyscalls(this.proc).close(this.fd);
    return r < 0 ? err(r) : ok(undefined);
  }
}

// ---- device --------------------------------------------------------------------------------

/** VFIO_DEVICE_GET_REGION_INFO as decoded, with its capability chain parsed. */
export interface RegionInfo {
  readonly index: number;
  readonly flags: number;
  /** Region size in bytes (__u64 size). */
  readonly size: bigint;
  /** Device-fd offset of the region (__u64 offset: index << 40); `Number(offset)` for pread/mmap. */
  readonly offset: bigint;
  readonly caps: readonly VfioInfoCap[];
  /** VFIO_REGION_INFO_CAP_SPARSE_MMAP areas, if present. */
  readonly sparseMmap: readonly VfioSparseMmapArea[] | null;
  /** VFIO_REGION_INFO_CAP_TYPE, if present. */
  readonly type: { readonly type: number; readonly subtype: number } | null;
  /** VFIO_REGION_INFO_CAP_MSIX_MAPPABLE present. */
  readonly msixMappable: boolean;
}

/** One VFIO_DEVICE_SET_IRQS request. */
export type IrqSetData =
  | { readonly kind: 'none'; readonly count: number }
  | { readonly kind: 'bool'; readonly values: readonly boolean[] }
  | { readonly kind: 'eventfd'; readonly fds: readonly number[] };

/**
 * writeConfig's staging buffers by value size: the bytes are written into the process's
 * memory before writeRegion returns and never kept, so one buffer per size serves every call.
 */
const CONFIG_VALUE_BUF = [new Uint8Array(0), new Uint8Array(1), new Uint8Array(2), new Uint8Array(3), new Uint8Array(4)] as const;

/** VFIO_DEVICE_IOEVENTFD's arguments: struct vfio_device_ioeventfd's fields, the size as bytes. */
export interface IoeventfdArgs {
  /** Device-fd offset (region offset + offset in the region). */
  readonly offset: bigint;
  readonly size: 1 | 2 | 4 | 8;
  readonly data: bigint;
  /** The eventfd, or -1 to remove the ioeventfd. */
  readonly fd: number;
}

/** mmapRegion's arguments: mmap(2)'s, with the offset inside the region. */
export interface MmapRegionArgs {
  readonly length: number;
  /** PROT_* */
  readonly prot: number;
  /** MAP_* (default MAP_SHARED). */
  readonly flags?: number;
  /** Offset inside the region (default 0). */
  readonly offset?: number;
  /** Address hint, or the address with MAP_FIXED (default 0). */
  readonly addr?: number;
}

/** A VFIO device fd (from VFIO_GROUP_GET_DEVICE_FD). */
export class VfioDeviceHandle {
  constructor(
    readonly proc: Process,
    readonly fd: number,
    readonly name: string,
  ) {}

  /** VFIO_DEVICE_GET_INFO */
  getInfo(): VfioResult<VfioDeviceInfo> {
    const r = rawIoctl(this.proc, this.fd, VFIO_DEVICE_GET_INFO, encodeDeviceInfo({ argsz: SIZEOF_VFIO_DEVICE_INFO, flags: 0, numRegions: 0, numIrqs: 0 }));
    return r.ret < 0 ? err(r.ret) : ok(decodeDeviceInfo(r.bytes));
  }

  /**
   * VFIO_DEVICE_GET_REGION_INFO, re-issued with the larger argsz the kernel asks for when
   * capabilities do not fit (QEMU vfio_get_region_info), then the chain is parsed.
   */
  getRegionInfo(index: number): VfioResult<RegionInfo> {
    let argsz = SIZEOF_VFIO_REGION_INFO;
    for (let tries = 0; tries < 4; tries++) {
      const buf = new Uint8Array(argsz);
      buf.set(encodeRegionInfo({ argsz, index }));
      const r = rawIoctl(this.proc, this.fd, VFIO_DEVICE_GET_REGION_INFO, buf);
      if (r.ret < 0) return err(r.ret);
      const info = decodeRegionInfo(r.bytes);
      if (info.argsz > argsz) {
        argsz = info.argsz;
        continue;
      }
      const caps = (info.flags & VFIO_REGION_INFO_FLAG_CAPS) !== 0 ? walkInfoCaps(r.bytes, info.capOffset) : [];
      const sparse = caps.find((c) => c.header.id === VFIO_REGION_INFO_CAP_SPARSE_MMAP);
      const type = caps.find((c) => c.header.id === VFIO_REGION_INFO_CAP_TYPE);
      return ok({
        index: info.index,
        flags: info.flags,
        size: info.size,
        offset: info.offset,
        caps,
        sparseMmap: sparse === undefined ? null : decodeCapSparseMmap(sparse.bytes),
        type: type === undefined ? null : decodeCapType(type.bytes),
        msixMappable: caps.some((c) => c.header.id === VFIO_REGION_INFO_CAP_MSIX_MAPPABLE),
      });
    }
    return err(-22);
  }

  /** VFIO_DEVICE_GET_IRQ_INFO */
  getIrqInfo(index: number): VfioResult<VfioIrqInfo> {
    const r = rawIoctl(this.proc, this.fd, VFIO_DEVICE_GET_IRQ_INFO, encodeIrqInfo({ argsz: SIZEOF_VFIO_IRQ_INFO, flags: 0, index, count: 0 }));
    return r.ret < 0 ? err(r.ret) : ok(decodeIrqInfo(r.bytes));
  }

  /** VFIO_DEVICE_SET_IRQS with an explicit action (MASK/UNMASK/TRIGGER) and data. */
  setIrqs(index: number, action: number, start: number, data: IrqSetData): VfioResult<void> {
    let flags: number;
    let payload: Uint8Array;
    let count: number;
    switch (data.kind) {
      case 'none':
        flags = VFIO_IRQ_SET_DATA_NONE;
        payload = new Uint8Array(0);
        count = data.count;
        break;
      case 'bool':
        flags = VFIO_IRQ_SET_DATA_BOOL;
        payload = encodeBoolArray(data.values);
        count = data.values.length;
        break;
      case 'eventfd':
        flags = VFIO_IRQ_SET_DATA_EVENTFD;
        payload = encodeEventfdArray(data.fds);
        count = data.fds.length;
        break;
    }
    const r = rawIoctl(this.proc, this.fd, VFIO_DEVICE_SET_IRQS, encodeIrqSet({ flags: flags | action, index, start, count }, payload));
    return r.ret < 0 ? err(r.ret) : ok(undefined);
  }

  /** Enable vectors [start, start+fds.length) with eventfd triggers (-1 tears one down), as QEMU's vfio_enable_vectors. */
  setIrqEventfds(index: number, start: number, fds: readonly number[]): VfioResult<void> {
    return this.setIrqs(index, VFIO_IRQ_SET_ACTION_TRIGGER, start, { kind: 'eventfd', fds });
  }

  /** DATA_NONE | ACTION_TRIGGER with count 0: disable every vector of the index (QEMU vfio_disable_irqindex). */
  disableIrqIndex(index: number): VfioResult<void> {
    return this.setIrqs(index, VFIO_IRQ_SET_ACTION_TRIGGER, 0, { kind: 'none', count: 0 });
  }

  /** VFIO_DEVICE_RESET */
  reset(): VfioResult<void> {
    const r = libcSyscalls(this.proc).ioctl(this.fd, VFIO_DEVICE_RESET, 0);
    return r < 0 ? err(r) : ok(undefined);
  }

  /** VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: ask with no room, take the count from -ENOSPC, ask again (QEMU vfio_pci_hot_reset). */
  getHotResetInfo(): VfioResult<VfioPciDependentDevice[]> {
    let room = 0;
    for (let tries = 0; tries < 4; tries++) {
      const buf = encodePciHotResetInfo({ count: 0 }, room);
      const r = rawIoctl(this.proc, this.fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, buf);
      const info = decodePciHotResetInfo(r.bytes.subarray(0, SIZEOF_VFIO_PCI_HOT_RESET_INFO));
      if (r.ret === -28 && info.count > room) {
        room = info.count;
        continue;
      }
      if (r.ret < 0) return err(r.ret);
      return ok(decodePciHotResetInfo(r.bytes).devices);
    }
    return err(-28);
  }

  /** VFIO_DEVICE_PCI_HOT_RESET with the group fds that own the affected devices. */
  hotReset(groupFds: readonly number[]): VfioResult<void> {
    const r = rawIoctl(this.proc, this.fd, VFIO_DEVICE_PCI_HOT_RESET, encodePciHotReset({}, groupFds));
    return r.ret < 0 ? err(r.ret) : ok(undefined);
  }

  /**
   * VFIO_DEVICE_IOEVENTFD of struct vfio_device_ioeventfd's fields: when `size` bytes of
   * `data` are written at device-fd `offset`, signal eventfd `fd` (-1 removes it).
   */
  ioeventfd(a: IoeventfdArgs): VfioResult<void> {
    const flags = { 1: VFIO_DEVICE_IOEVENTFD_8, 2: VFIO_DEVICE_IOEVENTFD_16, 4: VFIO_DEVICE_IOEVENTFD_32, 8: VFIO_DEVICE_IOEVENTFD_64 }[a.size];
    const r = rawIoctl(this.proc, this.fd, VFIO_DEVICE_IOEVENTFD, encodeDeviceIoeventfd({ flags, offset: a.offset, data: a.data, fd: a.fd }));
    return r.ret < 0 ? err(r.ret) : ok(undefined);
  }

  /**
   * VFIO_DEVICE_FEATURE: `flags` is the feature index or'd with VFIO_DEVICE_FEATURE_GET /
   * _SET / _PROBE; `data` follows the header; `argsz` defaults to header + data. The value
   * is the data bytes as the kernel left them (a GET's answer).
   */
  feature(flags: number, data: Uint8Array = new Uint8Array(0), argsz?: number): VfioResult<Uint8Array> {
    const r = rawIoctl(this.proc, this.fd, VFIO_DEVICE_FEATURE, encodeDeviceFeature(argsz === undefined ? { flags } : { argsz, flags }, data));
    return r.ret < 0 ? err(r.ret) : ok(r.bytes.slice(SIZEOF_VFIO_DEVICE_FEATURE));
  }

  /**
   * VFIO_DEVICE_FEATURE_SET of LOW_POWER_ENTRY (6.0+), or of LOW_POWER_ENTRY_WITH_WAKEUP
   * when a wake-up eventfd is given: BAR mappings are zapped and fault with SIGBUS until
   * lowPowerExit (or, with the eventfd, until a wake-up); -ENOTTY on older kernels.
   */
  lowPowerEntry(wakeupEventfd?: number): VfioResult<void> {
    const r = wakeupEventfd === undefined
      ? this.feature(VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY)
      : this.feature(VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP, encodeLowPowerEntryWithWakeup({ wakeupEventfd }));
    return r.ok ? ok(undefined) : r;
  }

  /** VFIO_DEVICE_FEATURE_SET of LOW_POWER_EXIT (6.0+): BAR mappings refault normally again. */
  lowPowerExit(): VfioResult<void> {
    const r = this.feature(VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_LOW_POWER_EXIT);
    return r.ok ? ok(undefined) : r;
  }

  /** pread of `len` bytes at `offset` within region `index` (through a buffer in the process's memory). */
  readRegion(index: number, offset: number, len: number): VfioResult<Uint8Array> {
    const addr = scratch(this.proc, len);
    if (addr < 0) return err(addr);
    const r = libcSyscalls(this.proc).pread(this.fd, addr, len, vfioPciIndexToOffset(index) + offset);
    if (r < 0) return err(r);
    const b = this.proc.readBytes(addr, r);
    return b.ok ? ok(b.data) : err(-EFAULT);
  }

  /** pwrite of `data` at `offset` within region `index`; the number of bytes written. */
  writeRegion(index: number, offset: number, data: Uint8Array): VfioResult<number> {
    const addr = scratch(this.proc, data.byteLength);
    if (addr < 0) return err(addr);
    if (!this.proc.writeBytes(addr, data).ok) return err(-EFAULT);
    const r = libcSyscalls(this.proc).pwrite(this.fd, addr, data.byteLength, vfioPciIndexToOffset(index) + offset);
    return r < 0 ? err(r) : ok(r);
  }

  /** Config-space read of 1/2/4 bytes (little-endian), as QEMU's vfio_pci_read_config. */
  readConfig(offset: number, size: 1 | 2 | 4): VfioResult<number> {
    const r = this.readRegion(VFIO_PCI_CONFIG_REGION_INDEX, offset, size);
    if (!r.ok) return r;
    if (r.value.byteLength !== size) return err(-5);
    // little-endian, decoded by hand (no DataView per access)
    const b = r.value;
    let v = 0;
    for (let i = 0; i < size; i++) v |= (b[i] as number) << (8 * i);
    return ok(v >>> 0);
  }

  /** Config-space write of 1/2/4 bytes (little-endian). */
  writeConfig(offset: number, size: 1 | 2 | 4, value: number): VfioResult<void> {
    // the value's bytes, staged in a buffer of this size that writeRegion copies out at once
    const b = CONFIG_VALUE_BUF[size];
    for (let i = 0; i < size; i++) b[i] = (value >>> (8 * i)) & 0xff;
    const r = this.writeRegion(VFIO_PCI_CONFIG_REGION_INDEX, offset, b);
    if (!r.ok) return r;
    return r.value === size ? ok(undefined) : err(-5);
  }

  /**
   * mmap(addr, length, prot, flags, device fd, region offset + offset): the mapped
   * address. `flags` defaults to MAP_SHARED (vfio-pci refuses MAP_PRIVATE with EINVAL,
   * vfio_pci_mmap); `addr` (default 0) is a hint, or the address with MAP_FIXED.
   */
  mmapRegion(index: number, m: MmapRegionArgs): VfioResult<number> {
    const r = libcSyscalls(this.proc).mmap(m.addr ?? 0, m.length, m.prot, m.flags ?? MAP_SHARED, this.fd, vfioPciIndexToOffset(index) + (m.offset ?? 0));
    return r < 0 ? err(r) : ok(r);
  }

  close(): VfioResult<void> {
    const r = libcSyscalls(this.proc).close(this.fd);
    return r < 0 ? err(r) : ok(undefined);
  }
}

export type { VfioDeviceInfo, VfioIrqInfo, VfioPciDependentDevice, VfioInfoCap };
