/**
 * include/uapi/linux/vfio.h (Linux 5.8) as TypeScript: ioctl numbers, flags, indexes,
 * capability ids and the exact byte layouts (x86-64: little-endian, natural alignment)
 * of every struct the model passes through user memory.
 *
 * Conventions:
 * - `SIZEOF_*` is the C `sizeof(struct ...)`; `*_MINSZ` is the `minsz` the 5.8 kernel
 *   handler computes (`offsetofend` of the last fixed field it needs).
 * - `decode*` never throws: fields beyond the end of a short buffer read as 0 (the kernel
 *   copies exactly `minsz` bytes, so callers pass buffers of at least that size).
 * - u64 fields decode as `bigint` (values may exceed 2^53); encoders accept
 *   `number | bigint` for them.
 */
import { _IO, LeView, type U64In } from './ioctl.js';
import { uapiStruct } from './layout.js';

// ---- ioctl numbers -----------------------------------------------------------

export const VFIO_API_VERSION = 0;
/** ';' */
export const VFIO_TYPE = 0x3b;
export const VFIO_BASE = 100;

/** VFIO_GET_API_VERSION _IO(VFIO_TYPE, VFIO_BASE + 0) (container) */
export const VFIO_GET_API_VERSION = _IO(VFIO_TYPE, VFIO_BASE + 0);
/** VFIO_CHECK_EXTENSION (container; arg = extension id) */
export const VFIO_CHECK_EXTENSION = _IO(VFIO_TYPE, VFIO_BASE + 1);
/** VFIO_SET_IOMMU (container; arg = iommu type) */
export const VFIO_SET_IOMMU = _IO(VFIO_TYPE, VFIO_BASE + 2);
/** VFIO_GROUP_GET_STATUS (group; arg = struct vfio_group_status *) */
export const VFIO_GROUP_GET_STATUS = _IO(VFIO_TYPE, VFIO_BASE + 3);
/** VFIO_GROUP_SET_CONTAINER (group; arg = int * container fd) */
export const VFIO_GROUP_SET_CONTAINER = _IO(VFIO_TYPE, VFIO_BASE + 4);
/** VFIO_GROUP_UNSET_CONTAINER (group) */
export const VFIO_GROUP_UNSET_CONTAINER = _IO(VFIO_TYPE, VFIO_BASE + 5);
/** VFIO_GROUP_GET_DEVICE_FD (group; arg = char * device name) */
export const VFIO_GROUP_GET_DEVICE_FD = _IO(VFIO_TYPE, VFIO_BASE + 6);
/** VFIO_DEVICE_GET_INFO (device; struct vfio_device_info *) */
export const VFIO_DEVICE_GET_INFO = _IO(VFIO_TYPE, VFIO_BASE + 7);
/** VFIO_DEVICE_GET_REGION_INFO (device; struct vfio_region_info *) */
export const VFIO_DEVICE_GET_REGION_INFO = _IO(VFIO_TYPE, VFIO_BASE + 8);
/** VFIO_DEVICE_GET_IRQ_INFO (device; struct vfio_irq_info *) */
export const VFIO_DEVICE_GET_IRQ_INFO = _IO(VFIO_TYPE, VFIO_BASE + 9);
/** VFIO_DEVICE_SET_IRQS (device; struct vfio_irq_set *) */
export const VFIO_DEVICE_SET_IRQS = _IO(VFIO_TYPE, VFIO_BASE + 10);
/** VFIO_DEVICE_RESET (device) */
export const VFIO_DEVICE_RESET = _IO(VFIO_TYPE, VFIO_BASE + 11);
/** VFIO_DEVICE_GET_PCI_HOT_RESET_INFO (device; struct vfio_pci_hot_reset_info *) */
export const VFIO_DEVICE_GET_PCI_HOT_RESET_INFO = _IO(VFIO_TYPE, VFIO_BASE + 12);
/** VFIO_DEVICE_PCI_HOT_RESET (device; struct vfio_pci_hot_reset *) */
export const VFIO_DEVICE_PCI_HOT_RESET = _IO(VFIO_TYPE, VFIO_BASE + 13);
/** VFIO_DEVICE_QUERY_GFX_PLANE (device; not modelled) */
export const VFIO_DEVICE_QUERY_GFX_PLANE = _IO(VFIO_TYPE, VFIO_BASE + 14);
/** VFIO_DEVICE_GET_GFX_DMABUF (device; not modelled) */
export const VFIO_DEVICE_GET_GFX_DMABUF = _IO(VFIO_TYPE, VFIO_BASE + 15);
/** VFIO_DEVICE_IOEVENTFD (device; struct vfio_device_ioeventfd *) */
export const VFIO_DEVICE_IOEVENTFD = _IO(VFIO_TYPE, VFIO_BASE + 16);
/** VFIO_DEVICE_FEATURE (device, 5.7+; struct vfio_device_feature *; same number as VFIO_IOMMU_DIRTY_PAGES on a container) */
export const VFIO_DEVICE_FEATURE = _IO(VFIO_TYPE, VFIO_BASE + 17);
/** VFIO_IOMMU_GET_INFO (container, type1; struct vfio_iommu_type1_info *) */
export const VFIO_IOMMU_GET_INFO = _IO(VFIO_TYPE, VFIO_BASE + 12);
/** VFIO_IOMMU_MAP_DMA (container, type1; struct vfio_iommu_type1_dma_map *) */
export const VFIO_IOMMU_MAP_DMA = _IO(VFIO_TYPE, VFIO_BASE + 13);
/** VFIO_IOMMU_UNMAP_DMA (container, type1; struct vfio_iommu_type1_dma_unmap *) */
export const VFIO_IOMMU_UNMAP_DMA = _IO(VFIO_TYPE, VFIO_BASE + 14);
/** VFIO_IOMMU_ENABLE (sPAPR only) */
export const VFIO_IOMMU_ENABLE = _IO(VFIO_TYPE, VFIO_BASE + 15);
/** VFIO_IOMMU_DISABLE (sPAPR only) */
export const VFIO_IOMMU_DISABLE = _IO(VFIO_TYPE, VFIO_BASE + 16);
/** VFIO_IOMMU_DIRTY_PAGES (type1 v2, 5.8 migration support; not modelled beyond its number) */
export const VFIO_IOMMU_DIRTY_PAGES = _IO(VFIO_TYPE, VFIO_BASE + 17);

// ---- extensions / iommu types ---------------------------------------------------

export const VFIO_TYPE1_IOMMU = 1;
export const VFIO_SPAPR_TCE_IOMMU = 2;
export const VFIO_TYPE1v2_IOMMU = 3;
export const VFIO_DMA_CC_IOMMU = 4;
export const VFIO_EEH = 5;
export const VFIO_TYPE1_NESTING_IOMMU = 6;
export const VFIO_SPAPR_TCE_v2_IOMMU = 7;
export const VFIO_NOIOMMU_IOMMU = 8;

// ---- group ------------------------------------------------------------------------

export const VFIO_GROUP_FLAGS_VIABLE = 1 << 0;
export const VFIO_GROUP_FLAGS_CONTAINER_SET = 1 << 1;

// ---- device info ------------------------------------------------------------------

export const VFIO_DEVICE_FLAGS_RESET = 1 << 0;
export const VFIO_DEVICE_FLAGS_PCI = 1 << 1;
export const VFIO_DEVICE_FLAGS_PLATFORM = 1 << 2;
export const VFIO_DEVICE_FLAGS_AMBA = 1 << 3;
export const VFIO_DEVICE_FLAGS_CCW = 1 << 4;
export const VFIO_DEVICE_FLAGS_AP = 1 << 5;
export const VFIO_DEVICE_API_PCI_STRING = 'vfio-pci';

// ---- region info ------------------------------------------------------------------

export const VFIO_REGION_INFO_FLAG_READ = 1 << 0;
export const VFIO_REGION_INFO_FLAG_WRITE = 1 << 1;
export const VFIO_REGION_INFO_FLAG_MMAP = 1 << 2;
export const VFIO_REGION_INFO_FLAG_CAPS = 1 << 3;

export const VFIO_REGION_INFO_CAP_SPARSE_MMAP = 1;
export const VFIO_REGION_INFO_CAP_TYPE = 2;
export const VFIO_REGION_INFO_CAP_MSIX_MAPPABLE = 3;
export const VFIO_REGION_INFO_CAP_NVLINK2_SSATGT = 4;
export const VFIO_REGION_INFO_CAP_NVLINK2_LNKSPD = 5;

export const VFIO_REGION_TYPE_PCI_VENDOR_TYPE = 0x80000000;
export const VFIO_REGION_TYPE_PCI_VENDOR_MASK = 0xffff;
export const VFIO_REGION_TYPE_GFX = 1;
export const VFIO_REGION_TYPE_CCW = 2;
export const VFIO_REGION_TYPE_MIGRATION = 3;
export const VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION = 1;
export const VFIO_REGION_SUBTYPE_INTEL_IGD_HOST_CFG = 2;
export const VFIO_REGION_SUBTYPE_INTEL_IGD_LPC_CFG = 3;
export const VFIO_REGION_SUBTYPE_NVIDIA_NVLINK2_RAM = 1;
export const VFIO_REGION_SUBTYPE_IBM_NVLINK2_ATSD = 1;
export const VFIO_REGION_SUBTYPE_GFX_EDID = 1;
export const VFIO_REGION_SUBTYPE_MIGRATION = 1;

// ---- irq info / set ---------------------------------------------------------------

export const VFIO_IRQ_INFO_EVENTFD = 1 << 0;
export const VFIO_IRQ_INFO_MASKABLE = 1 << 1;
export const VFIO_IRQ_INFO_AUTOMASKED = 1 << 2;
export const VFIO_IRQ_INFO_NORESIZE = 1 << 3;

export const VFIO_IRQ_SET_DATA_NONE = 1 << 0;
export const VFIO_IRQ_SET_DATA_BOOL = 1 << 1;
export const VFIO_IRQ_SET_DATA_EVENTFD = 1 << 2;
export const VFIO_IRQ_SET_ACTION_MASK = 1 << 3;
export const VFIO_IRQ_SET_ACTION_UNMASK = 1 << 4;
export const VFIO_IRQ_SET_ACTION_TRIGGER = 1 << 5;
export const VFIO_IRQ_SET_DATA_TYPE_MASK = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_DATA_EVENTFD;
export const VFIO_IRQ_SET_ACTION_TYPE_MASK = VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK | VFIO_IRQ_SET_ACTION_TRIGGER;

// ---- PCI region / irq indexes -------------------------------------------------------

export const VFIO_PCI_BAR0_REGION_INDEX = 0;
export const VFIO_PCI_BAR1_REGION_INDEX = 1;
export const VFIO_PCI_BAR2_REGION_INDEX = 2;
export const VFIO_PCI_BAR3_REGION_INDEX = 3;
export const VFIO_PCI_BAR4_REGION_INDEX = 4;
export const VFIO_PCI_BAR5_REGION_INDEX = 5;
export const VFIO_PCI_ROM_REGION_INDEX = 6;
export const VFIO_PCI_CONFIG_REGION_INDEX = 7;
export const VFIO_PCI_VGA_REGION_INDEX = 8;
export const VFIO_PCI_NUM_REGIONS = 9;

export const VFIO_PCI_INTX_IRQ_INDEX = 0;
export const VFIO_PCI_MSI_IRQ_INDEX = 1;
export const VFIO_PCI_MSIX_IRQ_INDEX = 2;
export const VFIO_PCI_ERR_IRQ_INDEX = 3;
export const VFIO_PCI_REQ_IRQ_INDEX = 4;
export const VFIO_PCI_NUM_IRQS = 5;

/** VFIO_PCI_OFFSET_SHIFT (drivers/vfio/pci/vfio_pci_private.h; fixed ABI, relied on by QEMU) */
export const VFIO_PCI_OFFSET_SHIFT = 40;
const OFFSET_UNIT = 2 ** VFIO_PCI_OFFSET_SHIFT;
/** VFIO_PCI_OFFSET_MASK: the offset within a region (2^40 - 1). */
export const VFIO_PCI_OFFSET_MASK = OFFSET_UNIT - 1;

/** VFIO_PCI_INDEX_TO_OFFSET: the device-fd offset of region `index` (exact for index < 8192). */
export function vfioPciIndexToOffset(index: number): number {
  return index * OFFSET_UNIT;
}

/** VFIO_PCI_OFFSET_TO_INDEX */
export function vfioPciOffsetToIndex(off: number): number {
  return Math.floor(off / OFFSET_UNIT);
}

/** off & VFIO_PCI_OFFSET_MASK */
export function vfioPciOffsetInRegion(off: number): number {
  return off - vfioPciOffsetToIndex(off) * OFFSET_UNIT;
}

// ---- ioeventfd / dma flags ------------------------------------------------------------

export const VFIO_DEVICE_IOEVENTFD_8 = 1 << 0;
export const VFIO_DEVICE_IOEVENTFD_16 = 1 << 1;
export const VFIO_DEVICE_IOEVENTFD_32 = 1 << 2;
export const VFIO_DEVICE_IOEVENTFD_64 = 1 << 3;
export const VFIO_DEVICE_IOEVENTFD_SIZE_MASK = 0xf;

export const VFIO_IOMMU_INFO_PGSIZES = 1 << 0;
export const VFIO_IOMMU_INFO_CAPS = 1 << 1;
export const VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE = 1;
export const VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION = 2;

export const VFIO_DMA_MAP_FLAG_READ = 1 << 0;
export const VFIO_DMA_MAP_FLAG_WRITE = 1 << 1;
export const VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP = 1 << 0;

// ---- struct vfio_info_cap_header ---------------------------------------------------------

/** struct vfio_info_cap_header { __u16 id; __u16 version; __u32 next; } */
export interface VfioInfoCapHeader {
  id: number;
  version: number;
  /** Offset of the next capability from the start of the info struct; 0 = end. */
  next: number;
}
export const VFIO_INFO_CAP_HEADER = uapiStruct('vfio_info_cap_header', 8, [
  ['id', 'id', 0, 'u16'],
  ['version', 'version', 2, 'u16'],
  ['next', 'next', 4, 'u32'],
]);
export const SIZEOF_VFIO_INFO_CAP_HEADER = VFIO_INFO_CAP_HEADER.size;

export function encodeInfoCapHeader(h: VfioInfoCapHeader, into?: Uint8Array, off = 0): Uint8Array {
  return VFIO_INFO_CAP_HEADER.encode(h, into, off);
}

export function decodeInfoCapHeader(b: Uint8Array, off = 0): VfioInfoCapHeader {
  return VFIO_INFO_CAP_HEADER.decode(b, off);
}

/** A capability in an info chain: its header and its whole body (header included). */
export interface VfioInfoCap {
  readonly header: VfioInfoCapHeader;
  /** Offset of the capability in the info buffer. */
  readonly offset: number;
  /** The capability bytes, header included (up to the next one or the buffer end). */
  readonly bytes: Uint8Array;
}

/**
 * Walk a capability chain starting at `capOffset` in `buf` (the whole info buffer as
 * returned by the kernel). Stops at next == 0, at an offset outside the buffer, or at a
 * loop. Never throws.
 */
export function walkInfoCaps(buf: Uint8Array, capOffset: number): VfioInfoCap[] {
  const caps: VfioInfoCap[] = [];
  const seen = new Set<number>();
  let off = capOffset;
  while (off !== 0 && off + SIZEOF_VFIO_INFO_CAP_HEADER <= buf.byteLength && !seen.has(off)) {
    seen.add(off);
    const header = decodeInfoCapHeader(buf, off);
    const end = header.next > off && header.next <= buf.byteLength ? header.next : buf.byteLength;
    caps.push({ header, offset: off, bytes: buf.slice(off, end) });
    off = header.next;
  }
  return caps;
}

// ---- struct vfio_group_status ---------------------------------------------------------

/** struct vfio_group_status { __u32 argsz; __u32 flags; } */
export interface VfioGroupStatus {
  argsz: number;
  flags: number;
}
export const VFIO_GROUP_STATUS = uapiStruct('vfio_group_status', 8, [
  ['argsz', 'argsz', 0, 'u32'],
  ['flags', 'flags', 4, 'u32'],
]);
export const SIZEOF_VFIO_GROUP_STATUS = VFIO_GROUP_STATUS.size;
/** offsetofend(struct vfio_group_status, flags) */
export const VFIO_GROUP_STATUS_MINSZ = VFIO_GROUP_STATUS.offsetofend('flags');

export function encodeGroupStatus(s: VfioGroupStatus): Uint8Array {
  return VFIO_GROUP_STATUS.encode(s);
}

export function decodeGroupStatus(b: Uint8Array, off = 0): VfioGroupStatus {
  return VFIO_GROUP_STATUS.decode(b, off);
}

// ---- struct vfio_device_info ------------------------------------------------------------

/** struct vfio_device_info { __u32 argsz; __u32 flags; __u32 num_regions; __u32 num_irqs; } (5.8: no cap_offset) */
export interface VfioDeviceInfo {
  argsz: number;
  flags: number;
  numRegions: number;
  numIrqs: number;
}
export const VFIO_DEVICE_INFO = uapiStruct('vfio_device_info', 16, [
  ['argsz', 'argsz', 0, 'u32'],
  ['flags', 'flags', 4, 'u32'],
  ['numRegions', 'num_regions', 8, 'u32'],
  ['numIrqs', 'num_irqs', 12, 'u32'],
]);
export const SIZEOF_VFIO_DEVICE_INFO = VFIO_DEVICE_INFO.size;
/** offsetofend(struct vfio_device_info, num_irqs) */
export const VFIO_DEVICE_INFO_MINSZ = VFIO_DEVICE_INFO.offsetofend('numIrqs');

export function encodeDeviceInfo(s: VfioDeviceInfo): Uint8Array {
  return VFIO_DEVICE_INFO.encode(s);
}

export function decodeDeviceInfo(b: Uint8Array, off = 0): VfioDeviceInfo {
  return VFIO_DEVICE_INFO.decode(b, off);
}

// ---- struct vfio_region_info ------------------------------------------------------------

/** struct vfio_region_info { __u32 argsz, flags, index, cap_offset; __u64 size, offset; } */
export interface VfioRegionInfo {
  argsz: number;
  flags: number;
  index: number;
  capOffset: number;
  size: bigint;
  offset: bigint;
}
export const VFIO_REGION_INFO = uapiStruct('vfio_region_info', 32, [
  ['argsz', 'argsz', 0, 'u32'],
  ['flags', 'flags', 4, 'u32'],
  ['index', 'index', 8, 'u32'],
  ['capOffset', 'cap_offset', 12, 'u32'],
  ['size', 'size', 16, 'u64'],
  ['offset', 'offset', 24, 'u64'],
]);
export const SIZEOF_VFIO_REGION_INFO = VFIO_REGION_INFO.size;
/** offsetofend(struct vfio_region_info, offset) (vfio_pci_ioctl) */
export const VFIO_REGION_INFO_MINSZ = VFIO_REGION_INFO.offsetofend('offset');

export function encodeRegionInfo(s: { argsz: number; flags?: number; index: number; capOffset?: number; size?: U64In; offset?: U64In }): Uint8Array {
  return VFIO_REGION_INFO.encode(s);
}

export function decodeRegionInfo(b: Uint8Array, off = 0): VfioRegionInfo {
  return VFIO_REGION_INFO.decode(b, off);
}

/** struct vfio_region_sparse_mmap_area { __u64 offset; __u64 size; } */
export interface VfioSparseMmapArea {
  offset: bigint;
  size: bigint;
}
/** struct vfio_region_info_cap_sparse_mmap { header; __u32 nr_areas; __u32 reserved; areas[]; } */
export const VFIO_REGION_INFO_CAP_SPARSE_MMAP_LAYOUT = uapiStruct('vfio_region_info_cap_sparse_mmap', 16, [
  ['id', 'header.id', 0, 'u16'],
  ['version', 'header.version', 2, 'u16'],
  ['next', 'header.next', 4, 'u32'],
  ['nrAreas', 'nr_areas', 8, 'u32'],
  ['reserved', 'reserved', 12, 'u32'],
], 'struct vfio_region_sparse_mmap_area areas[]');
export const VFIO_REGION_SPARSE_MMAP_AREA = uapiStruct('vfio_region_sparse_mmap_area', 16, [
  ['offset', 'offset', 0, 'u64'],
  ['size', 'size', 8, 'u64'],
]);
export const SIZEOF_VFIO_REGION_INFO_CAP_SPARSE_MMAP = VFIO_REGION_INFO_CAP_SPARSE_MMAP_LAYOUT.size;
export const SIZEOF_VFIO_REGION_SPARSE_MMAP_AREA = VFIO_REGION_SPARSE_MMAP_AREA.size;

export function encodeCapSparseMmap(areas: readonly { offset: U64In; size: U64In }[], next = 0): Uint8Array {
  const b = new Uint8Array(SIZEOF_VFIO_REGION_INFO_CAP_SPARSE_MMAP + areas.length * SIZEOF_VFIO_REGION_SPARSE_MMAP_AREA);
  VFIO_REGION_INFO_CAP_SPARSE_MMAP_LAYOUT.encode({ id: VFIO_REGION_INFO_CAP_SPARSE_MMAP, version: 1, next, nrAreas: areas.length }, b);
  areas.forEach((a, i) => VFIO_REGION_SPARSE_MMAP_AREA.encode(a, b, SIZEOF_VFIO_REGION_INFO_CAP_SPARSE_MMAP + i * SIZEOF_VFIO_REGION_SPARSE_MMAP_AREA));
  return b;
}

export function decodeCapSparseMmap(cap: Uint8Array): VfioSparseMmapArea[] {
  const v = new LeView(cap);
  const n = VFIO_REGION_INFO_CAP_SPARSE_MMAP_LAYOUT.decode(cap).nrAreas;
  const areas: VfioSparseMmapArea[] = [];
  for (let i = 0; i < n; i++) {
    const o = SIZEOF_VFIO_REGION_INFO_CAP_SPARSE_MMAP + i * SIZEOF_VFIO_REGION_SPARSE_MMAP_AREA;
    if (!v.has(o, SIZEOF_VFIO_REGION_SPARSE_MMAP_AREA)) break;
    areas.push(VFIO_REGION_SPARSE_MMAP_AREA.decode(cap, o));
  }
  return areas;
}

/** struct vfio_region_info_cap_type { header; __u32 type; __u32 subtype; } */
export const VFIO_REGION_INFO_CAP_TYPE_LAYOUT = uapiStruct('vfio_region_info_cap_type', 16, [
  ['id', 'header.id', 0, 'u16'],
  ['version', 'header.version', 2, 'u16'],
  ['next', 'header.next', 4, 'u32'],
  ['type', 'type', 8, 'u32'],
  ['subtype', 'subtype', 12, 'u32'],
]);
export const SIZEOF_VFIO_REGION_INFO_CAP_TYPE = VFIO_REGION_INFO_CAP_TYPE_LAYOUT.size;

export function encodeCapType(type: number, subtype: number, next = 0): Uint8Array {
  return VFIO_REGION_INFO_CAP_TYPE_LAYOUT.encode({ id: VFIO_REGION_INFO_CAP_TYPE, version: 1, next, type, subtype });
}

export function decodeCapType(cap: Uint8Array): { type: number; subtype: number } {
  const c = VFIO_REGION_INFO_CAP_TYPE_LAYOUT.decode(cap);
  return { type: c.type, subtype: c.subtype };
}

/** VFIO_REGION_INFO_CAP_MSIX_MAPPABLE carries no data beyond its header. */
export function encodeCapMsixMappable(next = 0): Uint8Array {
  return encodeInfoCapHeader({ id: VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, version: 1, next });
}

// ---- struct vfio_irq_info ---------------------------------------------------------------

/** struct vfio_irq_info { __u32 argsz, flags, index, count; } */
export interface VfioIrqInfo {
  argsz: number;
  flags: number;
  index: number;
  count: number;
}
export const VFIO_IRQ_INFO = uapiStruct('vfio_irq_info', 16, [
  ['argsz', 'argsz', 0, 'u32'],
  ['flags', 'flags', 4, 'u32'],
  ['index', 'index', 8, 'u32'],
  ['count', 'count', 12, 'u32'],
]);
export const SIZEOF_VFIO_IRQ_INFO = VFIO_IRQ_INFO.size;
/** offsetofend(struct vfio_irq_info, count) */
export const VFIO_IRQ_INFO_MINSZ = VFIO_IRQ_INFO.offsetofend('count');

export function encodeIrqInfo(s: VfioIrqInfo): Uint8Array {
  return VFIO_IRQ_INFO.encode(s);
}

export function decodeIrqInfo(b: Uint8Array, off = 0): VfioIrqInfo {
  return VFIO_IRQ_INFO.decode(b, off);
}

// ---- struct vfio_irq_set -------------------------------------------------------------------

/** struct vfio_irq_set { __u32 argsz, flags, index, start, count; __u8 data[]; } */
export interface VfioIrqSet {
  argsz: number;
  flags: number;
  index: number;
  start: number;
  count: number;
}
export const VFIO_IRQ_SET = uapiStruct('vfio_irq_set', 20, [
  ['argsz', 'argsz', 0, 'u32'],
  ['flags', 'flags', 4, 'u32'],
  ['index', 'index', 8, 'u32'],
  ['start', 'start', 12, 'u32'],
  ['count', 'count', 16, 'u32'],
], '__u8 data[]');
export const SIZEOF_VFIO_IRQ_SET = VFIO_IRQ_SET.size;
/** offsetofend(struct vfio_irq_set, count) (vfio_set_irqs_validate_and_prepare) */
export const VFIO_IRQ_SET_MINSZ = VFIO_IRQ_SET.offsetofend('count');

/**
 * Encode a vfio_irq_set header followed by `data` (already encoded: s32 eventfds or u8
 * bools). argsz defaults to header + data length.
 */
export function encodeIrqSet(s: { argsz?: number; flags: number; index: number; start: number; count: number }, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const b = new Uint8Array(SIZEOF_VFIO_IRQ_SET + data.byteLength);
  VFIO_IRQ_SET.encode({ ...s, argsz: s.argsz ?? b.byteLength }, b);
  b.set(data, SIZEOF_VFIO_IRQ_SET);
  return b;
}

export function decodeIrqSet(b: Uint8Array, off = 0): VfioIrqSet {
  return VFIO_IRQ_SET.decode(b, off);
}

/** DATA_EVENTFD payload: an array of __s32 fds (-1 = tear down that vector). */
export function encodeEventfdArray(fds: readonly number[]): Uint8Array {
  const b = new Uint8Array(fds.length * 4);
  const v = new LeView(b);
  fds.forEach((fd, i) => v.setS32(i * 4, fd));
  return b;
}

export function decodeEventfdArray(b: Uint8Array, count: number, off = 0): number[] {
  const v = new LeView(b);
  const r: number[] = [];
  for (let i = 0; i < count; i++) r.push(v.s32(off + i * 4));
  return r;
}

/** DATA_BOOL payload: an array of __u8 (non-zero = true). */
export function encodeBoolArray(bools: readonly boolean[]): Uint8Array {
  return Uint8Array.from(bools.map((x) => (x ? 1 : 0)));
}

export function decodeBoolArray(b: Uint8Array, count: number, off = 0): boolean[] {
  const r: boolean[] = [];
  for (let i = 0; i < count; i++) r.push((b[off + i] ?? 0) !== 0);
  return r;
}

// ---- hot reset ---------------------------------------------------------------------------------

/** struct vfio_pci_dependent_device { __u32 group_id; __u16 segment; __u8 bus; __u8 devfn; } */
export interface VfioPciDependentDevice {
  groupId: number;
  segment: number;
  bus: number;
  devfn: number;
}
export const VFIO_PCI_DEPENDENT_DEVICE = uapiStruct('vfio_pci_dependent_device', 8, [
  ['groupId', 'group_id', 0, 'u32'],
  ['segment', 'segment', 4, 'u16'],
  ['bus', 'bus', 6, 'u8'],
  ['devfn', 'devfn', 7, 'u8'],
]);
export const SIZEOF_VFIO_PCI_DEPENDENT_DEVICE = VFIO_PCI_DEPENDENT_DEVICE.size;

/** struct vfio_pci_hot_reset_info { __u32 argsz, flags, count; struct vfio_pci_dependent_device devices[]; } */
export interface VfioPciHotResetInfo {
  argsz: number;
  flags: number;
  count: number;
  devices: VfioPciDependentDevice[];
}
export const VFIO_PCI_HOT_RESET_INFO_LAYOUT = uapiStruct('vfio_pci_hot_reset_info', 12, [
  ['argsz', 'argsz', 0, 'u32'],
  ['flags', 'flags', 4, 'u32'],
  ['count', 'count', 8, 'u32'],
], 'struct vfio_pci_dependent_device devices[]');
export const SIZEOF_VFIO_PCI_HOT_RESET_INFO = VFIO_PCI_HOT_RESET_INFO_LAYOUT.size;
/** offsetofend(struct vfio_pci_hot_reset_info, count) */
export const VFIO_PCI_HOT_RESET_INFO_MINSZ = VFIO_PCI_HOT_RESET_INFO_LAYOUT.offsetofend('count');

export function encodePciDependentDevice(d: VfioPciDependentDevice, into: Uint8Array, off: number): void {
  VFIO_PCI_DEPENDENT_DEVICE.encode(d, into, off);
}

export function decodePciDependentDevice(b: Uint8Array, off: number): VfioPciDependentDevice {
  return VFIO_PCI_DEPENDENT_DEVICE.decode(b, off);
}

/** Encode the header plus `devices`; argsz defaults to the full size. */
export function encodePciHotResetInfo(s: { argsz?: number; flags?: number; count?: number; devices?: readonly VfioPciDependentDevice[] }, roomFor = 0): Uint8Array {
  const devs = s.devices ?? [];
  const n = Math.max(devs.length, roomFor);
  const b = new Uint8Array(SIZEOF_VFIO_PCI_HOT_RESET_INFO + n * SIZEOF_VFIO_PCI_DEPENDENT_DEVICE);
  VFIO_PCI_HOT_RESET_INFO_LAYOUT.encode({ argsz: s.argsz ?? b.byteLength, flags: s.flags ?? 0, count: s.count ?? devs.length }, b);
  devs.forEach((d, i) => encodePciDependentDevice(d, b, SIZEOF_VFIO_PCI_HOT_RESET_INFO + i * SIZEOF_VFIO_PCI_DEPENDENT_DEVICE));
  return b;
}

/** Decode the header and as many devices as `count` says and the buffer holds. */
export function decodePciHotResetInfo(b: Uint8Array, off = 0): VfioPciHotResetInfo {
  const v = new LeView(b);
  const { argsz, flags, count } = VFIO_PCI_HOT_RESET_INFO_LAYOUT.decode(b, off);
  const devices: VfioPciDependentDevice[] = [];
  for (let i = 0; i < count; i++) {
    const o = off + SIZEOF_VFIO_PCI_HOT_RESET_INFO + i * SIZEOF_VFIO_PCI_DEPENDENT_DEVICE;
    if (!v.has(o, SIZEOF_VFIO_PCI_DEPENDENT_DEVICE)) break;
    devices.push(decodePciDependentDevice(b, o));
  }
  return { argsz, flags, count, devices };
}

/** struct vfio_pci_hot_reset { __u32 argsz, flags, count; __s32 group_fds[]; } */
export interface VfioPciHotReset {
  argsz: number;
  flags: number;
  count: number;
}
export const VFIO_PCI_HOT_RESET_LAYOUT = uapiStruct('vfio_pci_hot_reset', 12, [
  ['argsz', 'argsz', 0, 'u32'],
  ['flags', 'flags', 4, 'u32'],
  ['count', 'count', 8, 'u32'],
], '__s32 group_fds[]');
export const SIZEOF_VFIO_PCI_HOT_RESET = VFIO_PCI_HOT_RESET_LAYOUT.size;
/** offsetofend(struct vfio_pci_hot_reset, count) */
export const VFIO_PCI_HOT_RESET_MINSZ = VFIO_PCI_HOT_RESET_LAYOUT.offsetofend('count');

export function encodePciHotReset(s: { argsz?: number; flags?: number; count?: number }, groupFds: readonly number[]): Uint8Array {
  const b = new Uint8Array(SIZEOF_VFIO_PCI_HOT_RESET + groupFds.length * 4);
  VFIO_PCI_HOT_RESET_LAYOUT.encode({ argsz: s.argsz ?? b.byteLength, flags: s.flags ?? 0, count: s.count ?? groupFds.length }, b);
  b.set(encodeEventfdArray(groupFds), SIZEOF_VFIO_PCI_HOT_RESET);
  return b;
}

export function decodePciHotReset(b: Uint8Array, off = 0): VfioPciHotReset {
  return VFIO_PCI_HOT_RESET_LAYOUT.decode(b, off);
}

// ---- struct vfio_device_ioeventfd -----------------------------------------------------------

/** struct vfio_device_ioeventfd { __u32 argsz, flags; __u64 offset, data; __s32 fd; } (sizeof 32, tail padding) */
export interface VfioDeviceIoeventfd {
  argsz: number;
  flags: number;
  offset: bigint;
  data: bigint;
  fd: number;
}
export const VFIO_DEVICE_IOEVENTFD_LAYOUT = uapiStruct('vfio_device_ioeventfd', 32, [
  ['argsz', 'argsz', 0, 'u32'],
  ['flags', 'flags', 4, 'u32'],
  ['offset', 'offset', 8, 'u64'],
  ['data', 'data', 16, 'u64'],
  ['fd', 'fd', 24, 's32'],
]);
export const SIZEOF_VFIO_DEVICE_IOEVENTFD = VFIO_DEVICE_IOEVENTFD_LAYOUT.size;
/** offsetofend(struct vfio_device_ioeventfd, fd) */
export const VFIO_DEVICE_IOEVENTFD_MINSZ = VFIO_DEVICE_IOEVENTFD_LAYOUT.offsetofend('fd');

export function encodeDeviceIoeventfd(s: { argsz?: number; flags: number; offset: U64In; data: U64In; fd: number }): Uint8Array {
  return VFIO_DEVICE_IOEVENTFD_LAYOUT.encode({ ...s, argsz: s.argsz ?? SIZEOF_VFIO_DEVICE_IOEVENTFD });
}

export function decodeDeviceIoeventfd(b: Uint8Array, off = 0): VfioDeviceIoeventfd {
  return VFIO_DEVICE_IOEVENTFD_LAYOUT.decode(b, off);
}

// ---- struct vfio_device_feature (VFIO_DEVICE_FEATURE) ---------------------------------------

/** Feature index bits of vfio_device_feature.flags. */
export const VFIO_DEVICE_FEATURE_MASK = 0xffff;
/** Get the feature's data. */
export const VFIO_DEVICE_FEATURE_GET = 1 << 16;
/** Set the feature's data. */
export const VFIO_DEVICE_FEATURE_SET = 1 << 17;
/** Only ask whether the feature (with GET and/or SET) is supported. */
export const VFIO_DEVICE_FEATURE_PROBE = 1 << 18;
/** SET a VF token UUID on an SR-IOV PF (5.7+). */
export const VFIO_DEVICE_FEATURE_PCI_VF_TOKEN = 0;
/** Migration (5.18+, devices with migration support only). */
export const VFIO_DEVICE_FEATURE_MIGRATION = 1;
export const VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE = 2;
/** SET: let the device enter runtime low power; mmap access is blocked until exit (6.0+). */
export const VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY = 3;
/** SET with struct vfio_device_low_power_entry_with_wakeup: as LOW_POWER_ENTRY, and signal the eventfd on a wake-up (6.0+). */
export const VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP = 4;
/** SET: leave runtime low power (6.0+). */
export const VFIO_DEVICE_FEATURE_LOW_POWER_EXIT = 5;

/** struct vfio_device_feature { __u32 argsz, flags; __u8 data[]; } (sizeof 8: the header) */
export interface VfioDeviceFeature {
  argsz: number;
  flags: number;
}
export const VFIO_DEVICE_FEATURE_LAYOUT = uapiStruct('vfio_device_feature', 8, [
  ['argsz', 'argsz', 0, 'u32'],
  ['flags', 'flags', 4, 'u32'],
], '__u8 data[]');
export const SIZEOF_VFIO_DEVICE_FEATURE = VFIO_DEVICE_FEATURE_LAYOUT.size;
/** offsetofend(struct vfio_device_feature, flags) */
export const VFIO_DEVICE_FEATURE_MINSZ = VFIO_DEVICE_FEATURE_LAYOUT.offsetofend('flags');

/** The header followed by `data`; argsz defaults to the whole buffer. */
export function encodeDeviceFeature(s: { argsz?: number; flags: number }, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const b = new Uint8Array(SIZEOF_VFIO_DEVICE_FEATURE + data.byteLength);
  VFIO_DEVICE_FEATURE_LAYOUT.encode({ argsz: s.argsz ?? b.byteLength, flags: s.flags }, b);
  b.set(data, SIZEOF_VFIO_DEVICE_FEATURE);
  return b;
}

export function decodeDeviceFeature(b: Uint8Array, off = 0): VfioDeviceFeature {
  return VFIO_DEVICE_FEATURE_LAYOUT.decode(b, off);
}

/** struct vfio_device_low_power_entry_with_wakeup { __s32 wakeup_eventfd; __u32 reserved; } (sizeof 8) */
export interface VfioDeviceLowPowerEntryWithWakeup {
  wakeupEventfd: number;
  reserved: number;
}
export const VFIO_DEVICE_LOW_POWER_ENTRY_WITH_WAKEUP = uapiStruct('vfio_device_low_power_entry_with_wakeup', 8, [
  ['wakeupEventfd', 'wakeup_eventfd', 0, 's32'],
  ['reserved', 'reserved', 4, 'u32'],
]);
export const SIZEOF_VFIO_DEVICE_LOW_POWER_ENTRY_WITH_WAKEUP = VFIO_DEVICE_LOW_POWER_ENTRY_WITH_WAKEUP.size;

export function encodeLowPowerEntryWithWakeup(s: { wakeupEventfd: number; reserved?: number }): Uint8Array {
  return VFIO_DEVICE_LOW_POWER_ENTRY_WITH_WAKEUP.encode(s);
}

export function decodeLowPowerEntryWithWakeup(b: Uint8Array, off = 0): VfioDeviceLowPowerEntryWithWakeup {
  return VFIO_DEVICE_LOW_POWER_ENTRY_WITH_WAKEUP.decode(b, off);
}

// ---- type1 ---------------------------------------------------------------------------------------

/** struct vfio_iommu_type1_info { __u32 argsz, flags; __u64 iova_pgsizes; __u32 cap_offset; } (sizeof 24) */
export interface VfioIommuType1Info {
  argsz: number;
  flags: number;
  iovaPgsizes: bigint;
  capOffset: number;
}
export const VFIO_IOMMU_TYPE1_INFO = uapiStruct('vfio_iommu_type1_info', 24, [
  ['argsz', 'argsz', 0, 'u32'],
  ['flags', 'flags', 4, 'u32'],
  ['iovaPgsizes', 'iova_pgsizes', 8, 'u64'],
  ['capOffset', 'cap_offset', 16, 'u32'],
]);
export const SIZEOF_VFIO_IOMMU_TYPE1_INFO = VFIO_IOMMU_TYPE1_INFO.size;
/** offsetofend(struct vfio_iommu_type1_info, iova_pgsizes) */
export const VFIO_IOMMU_TYPE1_INFO_MINSZ = VFIO_IOMMU_TYPE1_INFO.offsetofend('iovaPgsizes');
/** offsetofend(struct vfio_iommu_type1_info, cap_offset): argsz at least this gets capabilities */
export const VFIO_IOMMU_TYPE1_INFO_CAPSZ = VFIO_IOMMU_TYPE1_INFO.offsetofend('capOffset');

export function encodeIommuType1Info(s: { argsz: number; flags?: number; iovaPgsizes?: U64In; capOffset?: number }): Uint8Array {
  return VFIO_IOMMU_TYPE1_INFO.encode(s);
}

export function decodeIommuType1Info(b: Uint8Array, off = 0): VfioIommuType1Info {
  return VFIO_IOMMU_TYPE1_INFO.decode(b, off);
}

/** struct vfio_iova_range { __u64 start; __u64 end; } */
export interface VfioIovaRange {
  start: bigint;
  end: bigint;
}
/** struct vfio_iommu_type1_info_cap_iova_range { header; __u32 nr_iovas; __u32 reserved; ranges[]; } */
export const VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE_LAYOUT = uapiStruct('vfio_iommu_type1_info_cap_iova_range', 16, [
  ['id', 'header.id', 0, 'u16'],
  ['version', 'header.version', 2, 'u16'],
  ['next', 'header.next', 4, 'u32'],
  ['nrIovas', 'nr_iovas', 8, 'u32'],
  ['reserved', 'reserved', 12, 'u32'],
], 'struct vfio_iova_range iova_ranges[]');
/** struct vfio_iova_range { __u64 start; __u64 end; } */
export const VFIO_IOVA_RANGE = uapiStruct('vfio_iova_range', 16, [
  ['start', 'start', 0, 'u64'],
  ['end', 'end', 8, 'u64'],
]);
export const SIZEOF_VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE_LAYOUT.size;

export function encodeCapIovaRange(ranges: readonly { start: U64In; end: U64In }[], next = 0): Uint8Array {
  const b = new Uint8Array(SIZEOF_VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE + ranges.length * VFIO_IOVA_RANGE.size);
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE_LAYOUT.encode({ id: VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, version: 1, next, nrIovas: ranges.length }, b);
  ranges.forEach((r, i) => VFIO_IOVA_RANGE.encode(r, b, SIZEOF_VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE + i * VFIO_IOVA_RANGE.size));
  return b;
}

export function decodeCapIovaRange(cap: Uint8Array): VfioIovaRange[] {
  const v = new LeView(cap);
  const n = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE_LAYOUT.decode(cap).nrIovas;
  const r: VfioIovaRange[] = [];
  for (let i = 0; i < n; i++) {
    const o = SIZEOF_VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE + i * VFIO_IOVA_RANGE.size;
    if (!v.has(o, VFIO_IOVA_RANGE.size)) break;
    r.push(VFIO_IOVA_RANGE.decode(cap, o));
  }
  return r;
}

/** struct vfio_iommu_type1_info_cap_migration { header; __u32 flags; __u64 pgsize_bitmap; __u64 max_dirty_bitmap_size; } (sizeof 32) */
export const VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION_LAYOUT = uapiStruct('vfio_iommu_type1_info_cap_migration', 32, [
  ['id', 'header.id', 0, 'u16'],
  ['version', 'header.version', 2, 'u16'],
  ['next', 'header.next', 4, 'u32'],
  ['flags', 'flags', 8, 'u32'],
  ['pgsizeBitmap', 'pgsize_bitmap', 16, 'u64'],
  ['maxDirtyBitmapSize', 'max_dirty_bitmap_size', 24, 'u64'],
]);
export const SIZEOF_VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION = VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION_LAYOUT.size;

export function encodeCapMigration(s: { flags: number; pgsizeBitmap: U64In; maxDirtyBitmapSize: U64In }, next = 0): Uint8Array {
  return VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION_LAYOUT.encode({ id: VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, version: 1, next, ...s });
}

export function decodeCapMigration(cap: Uint8Array): { flags: number; pgsizeBitmap: bigint; maxDirtyBitmapSize: bigint } {
  const c = VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION_LAYOUT.decode(cap);
  return { flags: c.flags, pgsizeBitmap: c.pgsizeBitmap, maxDirtyBitmapSize: c.maxDirtyBitmapSize };
}

/** struct vfio_iommu_type1_dma_map { __u32 argsz, flags; __u64 vaddr, iova, size; } */
export interface VfioIommuType1DmaMap {
  argsz: number;
  flags: number;
  vaddr: bigint;
  iova: bigint;
  size: bigint;
}
export const VFIO_IOMMU_TYPE1_DMA_MAP = uapiStruct('vfio_iommu_type1_dma_map', 32, [
  ['argsz', 'argsz', 0, 'u32'],
  ['flags', 'flags', 4, 'u32'],
  ['vaddr', 'vaddr', 8, 'u64'],
  ['iova', 'iova', 16, 'u64'],
  ['size', 'size', 24, 'u64'],
]);
export const SIZEOF_VFIO_IOMMU_TYPE1_DMA_MAP = VFIO_IOMMU_TYPE1_DMA_MAP.size;
/** offsetofend(struct vfio_iommu_type1_dma_map, size) */
export const VFIO_IOMMU_TYPE1_DMA_MAP_MINSZ = VFIO_IOMMU_TYPE1_DMA_MAP.offsetofend('size');

export function encodeDmaMap(s: { argsz?: number; flags: number; vaddr: U64In; iova: U64In; size: U64In }): Uint8Array {
  return VFIO_IOMMU_TYPE1_DMA_MAP.encode({ ...s, argsz: s.argsz ?? SIZEOF_VFIO_IOMMU_TYPE1_DMA_MAP });
}

export function decodeDmaMap(b: Uint8Array, off = 0): VfioIommuType1DmaMap {
  return VFIO_IOMMU_TYPE1_DMA_MAP.decode(b, off);
}

/** struct vfio_iommu_type1_dma_unmap { __u32 argsz, flags; __u64 iova, size; __u8 data[]; } */
export interface VfioIommuType1DmaUnmap {
  argsz: number;
  flags: number;
  iova: bigint;
  size: bigint;
}
export const VFIO_IOMMU_TYPE1_DMA_UNMAP = uapiStruct('vfio_iommu_type1_dma_unmap', 24, [
  ['argsz', 'argsz', 0, 'u32'],
  ['flags', 'flags', 4, 'u32'],
  ['iova', 'iova', 8, 'u64'],
  ['size', 'size', 16, 'u64'],
], '__u8 data[]');
export const SIZEOF_VFIO_IOMMU_TYPE1_DMA_UNMAP = VFIO_IOMMU_TYPE1_DMA_UNMAP.size;
/** offsetofend(struct vfio_iommu_type1_dma_unmap, size) */
export const VFIO_IOMMU_TYPE1_DMA_UNMAP_MINSZ = VFIO_IOMMU_TYPE1_DMA_UNMAP.offsetofend('size');
/** struct vfio_bitmap { __u64 pgsize; __u64 size; __u64 __user *data; } */
export const VFIO_BITMAP = uapiStruct('vfio_bitmap', 24, [
  ['pgsize', 'pgsize', 0, 'u64'],
  ['size', 'size', 8, 'u64'],
  ['data', 'data', 16, 'u64'],
]);
export const SIZEOF_VFIO_BITMAP = VFIO_BITMAP.size;

export function encodeDmaUnmap(s: { argsz?: number; flags?: number; iova: U64In; size: U64In }): Uint8Array {
  return VFIO_IOMMU_TYPE1_DMA_UNMAP.encode({ ...s, argsz: s.argsz ?? SIZEOF_VFIO_IOMMU_TYPE1_DMA_UNMAP });
}

export function decodeDmaUnmap(b: Uint8Array, off = 0): VfioIommuType1DmaUnmap {
  return VFIO_IOMMU_TYPE1_DMA_UNMAP.decode(b, off);
}

/** Names of the VFIO ioctls, for traces (device-fd numbering wins where container numbers collide). */
export function vfioIoctlName(cmd: number): string | null {
  return IOCTL_NAMES.get(cmd) ?? null;
}

const IOCTL_NAMES = new Map<number, string>([
  [VFIO_GET_API_VERSION, 'VFIO_GET_API_VERSION'],
  [VFIO_CHECK_EXTENSION, 'VFIO_CHECK_EXTENSION'],
  [VFIO_SET_IOMMU, 'VFIO_SET_IOMMU'],
  [VFIO_GROUP_GET_STATUS, 'VFIO_GROUP_GET_STATUS'],
  [VFIO_GROUP_SET_CONTAINER, 'VFIO_GROUP_SET_CONTAINER'],
  [VFIO_GROUP_UNSET_CONTAINER, 'VFIO_GROUP_UNSET_CONTAINER'],
  [VFIO_GROUP_GET_DEVICE_FD, 'VFIO_GROUP_GET_DEVICE_FD'],
  [VFIO_DEVICE_GET_INFO, 'VFIO_DEVICE_GET_INFO'],
  [VFIO_DEVICE_GET_REGION_INFO, 'VFIO_DEVICE_GET_REGION_INFO'],
  [VFIO_DEVICE_GET_IRQ_INFO, 'VFIO_DEVICE_GET_IRQ_INFO'],
  [VFIO_DEVICE_SET_IRQS, 'VFIO_DEVICE_SET_IRQS'],
  [VFIO_DEVICE_RESET, 'VFIO_DEVICE_RESET'],
  [VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, 'VFIO_DEVICE_GET_PCI_HOT_RESET_INFO/VFIO_IOMMU_GET_INFO'],
  [VFIO_DEVICE_PCI_HOT_RESET, 'VFIO_DEVICE_PCI_HOT_RESET/VFIO_IOMMU_MAP_DMA'],
  [VFIO_DEVICE_QUERY_GFX_PLANE, 'VFIO_DEVICE_QUERY_GFX_PLANE/VFIO_IOMMU_UNMAP_DMA'],
  [VFIO_DEVICE_GET_GFX_DMABUF, 'VFIO_DEVICE_GET_GFX_DMABUF'],
  [VFIO_DEVICE_IOEVENTFD, 'VFIO_DEVICE_IOEVENTFD'],
  [VFIO_DEVICE_FEATURE, 'VFIO_DEVICE_FEATURE/VFIO_IOMMU_DIRTY_PAGES'],
]);
