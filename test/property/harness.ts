/**
 * Random user-operation sequences for the property tests of issue #2: an operation
 * language (plain data, so fast-check can generate and shrink it), its fast-check
 * arbitraries, and a runner that executes a sequence against a fresh System on the
 * default machine (edu 01:00.0, edu 02:00.0, nic 03:00.0) and checks after every
 * operation:
 *
 * 1. nothing throws out of the model and no kernel BUG is reported;
 * 2. Unsupported Requests: none at all ('guarded' profile), or only those explained by
 *    a documented 5.8 hole ('full' profile; see `classifyUr`);
 * 3. every successful BAR read (a CPU load through a BAR mmap, a pread of a BAR or ROM
 *    region) returns what the device holds at that moment (`peekBar`);
 * 4. (5.8) every CPU access ends as the user's mappings say it must: SIGSEGV where
 *    nothing is mapped or the protection forbids it, success on RAM, and on a BAR page
 *    SIGBUS exactly when the device's (virtual) Memory Space Enable bit is clear.
 *
 * Each run starts as a VMM does (`Runner.setup`): container, groups, type1v2, device
 * fds, guest RAM DMA-mapped, BAR0 of every device mapped, MEM|IO|bus master on, an
 * eventfd (and, outside 'guarded', 2 pages of each BAR DMA-mapped for peer-to-peer).
 *
 * The runner keeps a user-side shadow of the address space (which page maps which BAR
 * page, RAM, or nothing) built only from what system calls returned; it never looks at
 * page tables. "What the device holds" is read from the hw layer without side effects:
 * the function's MSI-X vector state, its ROM image, and otherwise the device behaviour's
 * register read (edu's and nic's register reads are pure). The hw layer has no
 * dedicated peek accessor; `peekBar` is that accessor for these two devices.
 */
import fc from 'fast-check';
import { System } from '../../src/system.js';
import { VARIANT_5_7, VARIANT_5_8, type Knobs } from '../../src/kernel/variant/knobs.js';
import type { PciFunction } from '../../src/hw/pci-function.js';
import type { SimEvent } from '../../src/events/event.js';
import type { CpuAccessResult, Process } from '../../src/user/process.js';
import { rawIoctl, VfioContainer, VfioDeviceHandle, VfioGroup, type IrqSetData } from '../../src/user/vfio-client.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from '../../src/kernel/mm/types.js';
import { EFD_NONBLOCK } from '../../src/kernel/fs/eventfd.js';
import { PCI_COMMAND_IO, PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY, PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_BCR_FLR, PCI_PM_CTRL } from '../../src/uapi/pci-regs.js';
import {
  encodeDmaMap,
  encodeDmaUnmap,
  encodeGroupStatus,
  encodeIommuType1Info,
  encodeIrqInfo,
  encodeIrqSet,
  SIZEOF_VFIO_GROUP_STATUS,
  SIZEOF_VFIO_IOMMU_TYPE1_INFO,
  encodeRegionInfo,
  encodeEventfdArray,
  encodeBoolArray,
  VFIO_CHECK_EXTENSION,
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_DEVICE_GET_REGION_INFO,
  VFIO_DEVICE_PCI_HOT_RESET,
  VFIO_DEVICE_RESET,
  VFIO_DEVICE_SET_IRQS,
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
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  vfioPciIndexToOffset,
} from '../../src/uapi/vfio.js';

export const PAGE = 4096;
/** The default machine's vfio-pci devices, in op-index order. */
export const DEVICES = ['0000:01:00.0', '0000:02:00.0', '0000:03:00.0'] as const;
/** Root ports above them (host-side writes only). */
const ROOT_PORTS = ['0000:00:01.0', '0000:00:02.0', '0000:00:03.0'] as const;
/** A virtual range no library allocation uses (mmap allocates top-down from 0x7f0000000000). */
const HOLE_BASE = 0x1000_0000;
const HOLE_PAGES = 16;
/** IOVAs the operations map and point devices at (below edu's 28-bit DMA mask). */
const IOVA_BASE = 0x0100_0000;
const IOVA_PAGES = 16;
/** Largest pread count the operations use (the staging buffer is allocated this big up front). */
const MAX_PREAD = 0x3000;

/**
 * Which operations a run may contain and what it checks.
 * - 'guarded': everything a single-threaded user can do except the triggers of the
 *   documented 5.8 holes: no D3hot (PM writes keep D0), the I/O enable bit stays set
 *   (config writes covering it are adjusted), no IOMMU mapping of a BAR mmap is created
 *   (MAP_DMA of one is only tried when it must fail), no ioeventfds; asserts zero
 *   Unsupported Requests.
 * - 'full': everything; every Unsupported Request must be explained by one of those holes.
 * - 'host': everything plus host (setpci-style) config writes that bypass vfio; asserts
 *   only that nothing throws.
 */
export type Profile = 'guarded' | 'full' | 'host';

// ---- the operation language ------------------------------------------------------------

/**
 * A user address: inside one of the mappings this run created (`map`, `page` taken
 * modulo its size), or in a range nothing ever maps unless an operation MAP_FIXEDs it.
 */
export interface AddrSel {
  readonly hole: boolean;
  readonly map: number;
  readonly page: number;
  readonly off: number;
}

export type Op =
  | { readonly t: 'openContainer' }
  | { readonly t: 'openGroup'; readonly dev: number }
  | { readonly t: 'setContainer'; readonly g: number; readonly c: number }
  | { readonly t: 'unsetContainer'; readonly g: number }
  | { readonly t: 'setIommu'; readonly c: number; readonly type: number }
  | { readonly t: 'getDevice'; readonly g: number; readonly dev: number }
  | { readonly t: 'close'; readonly fd: number; readonly bogus: boolean }
  | { readonly t: 'mmapBar'; readonly d: number; readonly index: number; readonly offPages: number; readonly lenPages: number; readonly lenExtra: number; readonly offMisalign: number; readonly prot: number; readonly private: boolean; readonly fixed: AddrSel | null }
  | { readonly t: 'mmapAnon'; readonly pages: number; readonly fixed: AddrSel | null }
  | { readonly t: 'munmap'; readonly a: AddrSel; readonly pages: number; readonly extra: number }
  | { readonly t: 'load'; readonly a: AddrSel; readonly size: 1 | 2 | 4 | 8 }
  | { readonly t: 'store'; readonly a: AddrSel; readonly size: 1 | 2 | 4 | 8; readonly value: bigint }
  | { readonly t: 'pread'; readonly d: number; readonly index: number; readonly off: number; readonly count: number; readonly buf: AddrSel | null }
  | { readonly t: 'pwrite'; readonly d: number; readonly index: number; readonly off: number; readonly data: Uint8Array; readonly buf: AddrSel | null }
  | { readonly t: 'cmd'; readonly d: number; readonly mem: boolean; readonly io: boolean; readonly master: boolean; readonly other: number; readonly size: 1 | 2 | 4 }
  | { readonly t: 'cfgWrite'; readonly d: number; readonly off: number; readonly size: 1 | 2 | 4; readonly value: number }
  | { readonly t: 'cfgRead'; readonly d: number; readonly off: number; readonly size: 1 | 2 | 4 }
  | { readonly t: 'flr'; readonly d: number }
  | { readonly t: 'pm'; readonly d: number; readonly state: number }
  | { readonly t: 'reset'; readonly d: number }
  | { readonly t: 'hotReset'; readonly d: number; readonly groups: readonly number[] }
  | { readonly t: 'deviceInfo'; readonly d: number }
  | { readonly t: 'regionInfo'; readonly d: number; readonly index: number; readonly argsz: number }
  | { readonly t: 'irqInfo'; readonly d: number; readonly index: number; readonly argsz: number }
  | { readonly t: 'setIrqs'; readonly d: number; readonly index: number; readonly action: number; readonly start: number; readonly kind: 'none' | 'bool' | 'eventfd'; readonly sel: readonly number[] }
  | { readonly t: 'eventfd'; readonly nonblock: boolean }
  | { readonly t: 'efdWrite'; readonly e: number; readonly value: number }
  | { readonly t: 'efdRead'; readonly e: number }
  | { readonly t: 'mapDma'; readonly c: number; readonly a: AddrSel; readonly pages: number; readonly iovaPage: number; readonly iovaMisalign: number; readonly ro: boolean }
  | { readonly t: 'unmapDma'; readonly c: number; readonly iovaPage: number; readonly pages: number; readonly misalign: number }
  | { readonly t: 'eduDma'; readonly d: number; readonly toRam: boolean; readonly irq: boolean; readonly iovaPage: number; readonly iovaOff: number; readonly bufOff: number; readonly cnt: number }
  | { readonly t: 'nicRx'; readonly d: number; readonly iovaPage: number; readonly iovaOff: number }
  | { readonly t: 'ioeventfd'; readonly d: number; readonly index: number; readonly off: number; readonly size: 1 | 2 | 4 | 8; readonly data: number; readonly e: number }
  | { readonly t: 'badIoctl'; readonly fd: number; readonly cmd: number; readonly arg: AddrSel | null }
  | { readonly t: 'iommuInfo'; readonly c: number }
  | { readonly t: 'groupStatus'; readonly g: number }
  | { readonly t: 'fork' }
  | { readonly t: 'switch'; readonly proc: number }
  | { readonly t: 'exit' }
  | { readonly t: 'hostCfg'; readonly target: number; readonly off: number; readonly size: 1 | 2 | 4; readonly value: number };

/** A run: the devices to open first (container, groups, type1v2, device fds), then the operations. */
export interface Scenario {
  readonly open: readonly number[];
  readonly ops: readonly Op[];
}

/** JSON of an operation for failure messages (bigints and byte arrays made readable). */
export function showOp(op: Op): string {
  return JSON.stringify(op, (_k, v: unknown) => {
    if (typeof v === 'bigint') return `0x${v.toString(16)}n`;
    if (v instanceof Uint8Array) return `bytes[${Array.from(v).join(',')}]`;
    return v;
  });
}

// ---- arbitraries ---------------------------------------------------------------------------

const small = fc.nat({ max: 15 });
/** `arb` or null, null with weight `nulls` against 1. */
function orNull<T>(arb: fc.Arbitrary<T>, nulls: number): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: nulls, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });
}
/** Offsets inside a page, biased to the registers of edu, nic and the MSI-X table/PBA. */
const regOff = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0x0, 0x4, 0x8, 0x10, 0x14, 0x20, 0x24, 0x28, 0x2c, 0x30, 0x38, 0x60, 0x64, 0x80, 0x88, 0x90, 0x98, 0xc, 0x1c, 0x3c) },
  { weight: 1, arbitrary: fc.constantFrom(0x1, 0x2, 0x3, 0x6, 0x7, 0xffc, 0xffe, 0xfff, 0xff9) },
  { weight: 1, arbitrary: fc.nat({ max: PAGE - 1 }) },
);
const addrSel: fc.Arbitrary<AddrSel> = fc.record({
  hole: fc.nat({ max: 9 }).map((n) => n === 0),
  map: small,
  page: fc.nat({ max: 255 }),
  off: regOff,
});
/** Page-aligned addresses (mostly) for mmap/munmap/MAP_DMA. */
const alignedSel: fc.Arbitrary<AddrSel> = fc.record({
  hole: fc.nat({ max: 7 }).map((n) => n === 0),
  map: small,
  page: fc.nat({ max: 255 }),
  off: fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(1, 8, 0x800) }),
});
const accessSize = fc.constantFrom<1 | 2 | 4 | 8>(4, 4, 4, 8, 1, 2);
const cfgSize = fc.constantFrom<1 | 2 | 4>(1, 2, 4);
const devIx = small;
/** IOVA pages for MAP_DMA and device DMA, biased so DMA targets collide with mappings. */
const iovaPage = fc.oneof({ weight: 2, arbitrary: fc.constantFrom(0, 0, 1, 2) }, { weight: 1, arbitrary: fc.nat({ max: IOVA_PAGES - 1 }) });
/** Region indexes: BARs 0..5, ROM 6, config 7, VGA 8, and a few that do not exist. */
const regionIndex = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(0, 0, 0, 3, 2, 6, 7) }, { weight: 1, arbitrary: fc.constantFrom(1, 4, 5, 8, 9, 10, 0x7fff) });
const regionOff = fc.oneof(
  { weight: 4, arbitrary: regOff },
  { weight: 2, arbitrary: fc.constantFrom(0x2000, 0x2004, 0x2008, 0x1ffc, 0x3ffc, 0x3fff, 0x3ff8, 0x4000, 0x1fffc, 0x20000, 0xfffff, 0xffffc, 0x100000, 0x40, 0x3e, 0x3c) },
  { weight: 1, arbitrary: fc.nat({ max: 0x120000 }) },
);
const cfgOff = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0x4, 0x4, 0x5, 0x6, 0x3, 0x2, 0x10, 0x14, 0x1c, 0x30, 0x34, 0x3c) },
  { weight: 2, arbitrary: fc.nat({ max: 0xff }) },
  { weight: 1, arbitrary: fc.constantFrom(0x100, 0x104, 0xffc, 0xfff, 0x1000) },
);

function opArb(profile: Profile): fc.Arbitrary<Op> {
  const guarded = profile === 'guarded';
  const w: { weight: number; arbitrary: fc.Arbitrary<Op> }[] = [
    { weight: 1, arbitrary: fc.constant<Op>({ t: 'openContainer' }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('openGroup' as const), dev: fc.nat({ max: 3 }) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('setContainer' as const), g: small, c: small }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('unsetContainer' as const), g: small }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('setIommu' as const), c: small, type: fc.constantFrom(VFIO_TYPE1v2_IOMMU, VFIO_TYPE1_IOMMU, 0, 8) }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('getDevice' as const), g: small, dev: fc.nat({ max: 3 }) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('close' as const), fd: small, bogus: fc.nat({ max: 9 }).map((n) => n === 0) }) },
    {
      weight: 6,
      arbitrary: fc.record({
        t: fc.constant('mmapBar' as const),
        d: devIx,
        index: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(0, 0, 3) }, { weight: 1, arbitrary: fc.constantFrom(2, 6, 7, 8, 1, 9) }),
        offPages: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.nat({ max: 40 }) }, { weight: 1, arbitrary: fc.constantFrom(31, 32, 255, 256, 3, 4) }),
        lenPages: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 8 }) }, { weight: 1, arbitrary: fc.constantFrom(0, 4, 32, 33, 256, 257) }),
        lenExtra: fc.constantFrom(0, 0, 0, 1, 100, PAGE - 1),
        offMisalign: fc.constantFrom(0, 0, 0, 0, 0, 0, 0, 1, 0x800),
        prot: fc.constantFrom(PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE, PROT_READ, PROT_WRITE, 0),
        private: fc.nat({ max: 11 }).map((n) => n === 0),
        fixed: orNull(alignedSel, 4),
      }),
    },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('mmapAnon' as const), pages: fc.integer({ min: 1, max: 8 }), fixed: orNull(alignedSel, 3) }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('munmap' as const), a: alignedSel, pages: fc.nat({ max: 8 }), extra: fc.constantFrom(0, 0, 0, 1, PAGE - 1) }) },
    { weight: 20, arbitrary: fc.record({ t: fc.constant('load' as const), a: addrSel, size: accessSize }) },
    {
      weight: 8,
      arbitrary: fc.record({
        t: fc.constant('store' as const),
        a: addrSel,
        size: accessSize,
        value: fc.oneof(fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }), fc.constantFrom(0n, 1n, 0x8000_0000n, 0xffff_ffffn, 0x40000n, 0x1000000n)),
      }),
    },
    {
      weight: 8,
      arbitrary: fc.record({
        t: fc.constant('pread' as const),
        d: devIx,
        index: regionIndex,
        off: regionOff,
        count: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(4, 4, 8, 1, 2, 3, 16) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 300 }) }, { weight: 1, arbitrary: fc.constantFrom(4096, MAX_PREAD) }),
        buf: orNull(addrSel, 6),
      }),
    },
    {
      weight: 5,
      arbitrary: fc.record({
        t: fc.constant('pwrite' as const),
        d: devIx,
        index: regionIndex,
        off: regionOff,
        data: fc.uint8Array({ minLength: 0, maxLength: 16 }),
        buf: orNull(addrSel, 8),
      }),
    },
    {
      weight: 6,
      arbitrary: fc.record({
        t: fc.constant('cmd' as const),
        d: devIx,
        mem: fc.nat({ max: 2 }).map((n) => n !== 0),
        io: guarded ? fc.constant(true) : fc.nat({ max: 3 }).map((n) => n !== 0),
        master: fc.nat({ max: 3 }).map((n) => n !== 0),
        other: fc.constantFrom(0, 0, 0, 0x400, 0x100, 0x40, 0xfff8),
        size: fc.constantFrom<1 | 2 | 4>(2, 2, 4, 1),
      }),
    },
    { weight: 4, arbitrary: fc.record({ t: fc.constant('cfgWrite' as const), d: devIx, off: cfgOff, size: cfgSize, value: fc.oneof(fc.nat({ max: 0xffffffff }), fc.constantFrom(0, 0xffffffff, 0x8000, 0x3, 0x7)) }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('cfgRead' as const), d: devIx, off: cfgOff, size: cfgSize }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('flr' as const), d: devIx }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('pm' as const), d: devIx, state: guarded ? fc.constant(0) : fc.constantFrom(3, 0, 1, 2) }) },
    { weight: 3, arbitrary: fc.record({ t: fc.constant('reset' as const), d: devIx }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('hotReset' as const), d: devIx, groups: fc.array(fc.nat({ max: 6 }), { maxLength: 3 }) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('deviceInfo' as const), d: devIx }) },
    {
      weight: 2,
      arbitrary: fc.record({
        t: fc.constant('regionInfo' as const),
        d: devIx,
        index: fc.oneof(fc.constantFrom(0, 3, 6, 6, 7, 2), fc.nat({ max: 12 }), fc.constant(0xffffffff)),
        argsz: fc.oneof(fc.constant(32), fc.constantFrom(0, 16, 31, 33, 64, 256), fc.nat({ max: 512 })),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        t: fc.constant('irqInfo' as const),
        d: devIx,
        index: fc.oneof(fc.nat({ max: 5 }), fc.constant(0xffffffff)),
        argsz: fc.oneof(fc.constant(16), fc.constantFrom(0, 8, 15, 17, 64)),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        t: fc.constant('setIrqs' as const),
        d: devIx,
        index: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(1, 2, 2) }, { weight: 1, arbitrary: fc.constantFrom(0, 3, 4, 5, 0xffffffff) }),
        action: fc.constantFrom(VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_ACTION_MASK, VFIO_IRQ_SET_ACTION_UNMASK, VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_TRIGGER),
        start: fc.constantFrom(0, 0, 0, 1, 3, 4),
        kind: fc.constantFrom<'none' | 'bool' | 'eventfd'>('eventfd', 'eventfd', 'eventfd', 'none', 'bool'),
        sel: fc.array(fc.integer({ min: -1, max: 7 }), { minLength: 0, maxLength: 5 }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('eventfd' as const), nonblock: fc.boolean() }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('efdWrite' as const), e: small, value: fc.constantFrom(1, 1, 2, 0xfffe) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('efdRead' as const), e: small }) },
    {
      weight: guarded ? 3 : 6,
      arbitrary: fc.record({
        t: fc.constant('mapDma' as const),
        c: small,
        a: alignedSel,
        pages: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constantFrom(0, 8, 32)),
        iovaPage,
        iovaMisalign: fc.constantFrom(0, 0, 0, 0, 0, 0x10, 0x800),
        ro: fc.nat({ max: 5 }).map((n) => n === 0),
      }),
    },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('unmapDma' as const), c: small, iovaPage, pages: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constantFrom(0, 64)), misalign: fc.constantFrom(0, 0, 0, 0, 8) }) },
    {
      weight: guarded ? 3 : 6,
      arbitrary: fc.record({
        t: fc.constant('eduDma' as const),
        d: devIx,
        toRam: fc.boolean(),
        irq: fc.boolean(),
        iovaPage,
        iovaOff: fc.constantFrom(0, 0, 0, 8, 0xff0),
        bufOff: fc.constantFrom(0, 0, 0x10, 0xff0, 0x1000),
        cnt: fc.constantFrom(4, 8, 64, 0x100, 0x1000, 0x1001),
      }),
    },
    { weight: guarded ? 2 : 4, arbitrary: fc.record({ t: fc.constant('nicRx' as const), d: devIx, iovaPage, iovaOff: fc.constantFrom(0, 0, 0xfe0, 0xfff) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        t: fc.constant('badIoctl' as const),
        fd: small,
        cmd: fc.constantFrom(
          VFIO_GET_API_VERSION, VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU, VFIO_GROUP_GET_STATUS, VFIO_GROUP_SET_CONTAINER, VFIO_GROUP_UNSET_CONTAINER,
          VFIO_GROUP_GET_DEVICE_FD, VFIO_DEVICE_GET_INFO, VFIO_DEVICE_GET_REGION_INFO, VFIO_DEVICE_GET_IRQ_INFO, VFIO_DEVICE_SET_IRQS,
          VFIO_DEVICE_RESET, VFIO_DEVICE_PCI_HOT_RESET, VFIO_IOMMU_GET_INFO, VFIO_IOMMU_MAP_DMA, VFIO_IOMMU_UNMAP_DMA, 0x1234, 0,
        ),
        arg: orNull(addrSel, 1),
      }),
    },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('iommuInfo' as const), c: small }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('groupStatus' as const), g: small }) },
    { weight: 1, arbitrary: fc.constant<Op>({ t: 'fork' }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('switch' as const), proc: small }) },
    { weight: 1, arbitrary: fc.constant<Op>({ t: 'exit' }) },
  ];
  if (!guarded) {
    w.push({
      weight: 2,
      arbitrary: fc.record({
        t: fc.constant('ioeventfd' as const),
        d: devIx,
        index: fc.constantFrom(0, 0, 2, 3, 7),
        off: fc.constantFrom(0x4, 0x8, 0x0, 0x60, 0x2000, 0x1000),
        size: fc.constantFrom<1 | 2 | 4 | 8>(4, 4, 2, 1, 8),
        data: fc.nat({ max: 0xffff }),
        e: fc.integer({ min: -1, max: 7 }),
      }),
    });
  }
  if (profile === 'host') {
    w.push({
      weight: 4,
      arbitrary: fc.record({
        t: fc.constant('hostCfg' as const),
        target: fc.nat({ max: DEVICES.length + ROOT_PORTS.length - 1 }),
        off: fc.oneof(fc.constantFrom(0x4, 0x4, 0x10, 0x14, 0x1c, 0x30, 0x3e, 0x3c, 0x18, 0x20, 0x24), cfgOff),
        size: cfgSize,
        value: fc.oneof(fc.nat({ max: 0xffffffff }), fc.constantFrom(0, 0x40, 0xffffffff, 0x7, 0x8000, 0x3)),
      }),
    });
  }
  return fc.oneof(...w);
}

/** Scenarios for `profile`: 1..3 devices opened up front, then `minOps..maxOps` operations. */
export function scenarioArb(profile: Profile, minOps: number, maxOps: number): fc.Arbitrary<Scenario> {
  return fc.record({
    open: fc.subarray([0, 1, 2], { minLength: 1 }),
    ops: fc.array(opArb(profile), { minLength: minOps, maxLength: maxOps, size: 'max' }),
  });
}

// ---- the runner -------------------------------------------------------------------------------

/** What the user believes a page of its address space is. */
type PageInfo =
  | { readonly kind: 'bar'; readonly dev: string; readonly bar: number; readonly off: number; readonly prot: number }
  | { readonly kind: 'ram'; readonly prot: number }
  /** A failed MAP_FIXED may or may not have removed the old mapping: no expectation. */
  | { readonly kind: 'unknown' };

interface FdEntry {
  readonly fd: number;
  readonly kind: 'container' | 'group' | 'device' | 'eventfd';
  readonly dev: string;
  readonly group: number;
  readonly nonblock: boolean;
}

interface ProcState {
  readonly p: Process;
  fds: FdEntry[];
  pages: Map<number, PageInfo>;
  /** Every range this process ever mapped (address hints; may be stale). */
  maps: { start: number; len: number }[];
  alive: boolean;
}

type PlatformError = Extract<SimEvent, { kind: 'platform.error' }>;

/** Thrown when a checked property fails (carries the op index for the report). */
export class PropertyViolation extends Error {
  override readonly name = 'PropertyViolation';
}

function pagesOf(len: number): number {
  return Math.ceil(len / PAGE);
}

function leBytes(v: bigint, size: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < size; i++) out.push(Number((v >> BigInt(8 * i)) & 0xffn));
  return out;
}

function hex(b: Uint8Array | readonly number[]): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * Executes a scenario on a fresh System and checks the properties after every
 * operation. `variant` '5.7' disables the 5.8-only checks (UR, values, signals).
 */
export class Runner {
  readonly sys: System;
  private readonly procs: ProcState[] = [];
  private cur = 0;
  private readonly urs: { readonly ev: PlatformError; readonly d3hot: boolean; readonly ioDecode: boolean }[] = [];
  private readonly bugs: string[] = [];
  private readonly fns = new Map<string, PciFunction>();
  /** Which checks run: properties 2-4 only on 5.8 outside the host profile. */
  private readonly checks58: boolean;
  /** Stats for the test's sanity assertions (that the runs really exercised the model). */
  readonly stats = { ops: 0, barLoadsChecked: 0, barPreadsChecked: 0, sigbus: 0, urs: 0, explainedUrs: new Map<string, number>() };

  constructor(
    readonly variant: '5.8' | '5.7',
    readonly profile: Profile,
    /** Knob overrides on top of the variant (to check that the properties can fail). */
    knobs: Partial<Knobs> = {},
  ) {
    const base = variant === '5.8' ? VARIANT_5_8.knobs : VARIANT_5_7.knobs;
    this.sys = new System({ variant: { ...base, ...knobs } });
    const ev = this.sys.events;
    ev.record = false;
    ev.on((e) => {
      if (e.kind === 'platform.error') {
        // the target's state when the request reached it (the operation may change it later)
        const f = e.target === null ? undefined : this.fns.get(e.target);
        this.urs.push({ ev: e, d3hot: f?.powerState === 'D3hot', ioDecode: f?.state().ioDecode === true });
      }
      else if (e.kind === 'bug') this.bugs.push(`${e.fn}: ${e.message}`);
    });
    for (const name of [...DEVICES, ...ROOT_PORTS]) this.fns.set(name, this.sys.hw.fn(name));
    const p = this.sys.spawnProcess('qemu');
    this.procs.push({ p, fds: [], pages: new Map(), maps: [], alive: true });
    this.primeScratch(p);
    this.checks58 = variant === '5.8' && profile !== 'host';
  }

  /**
   * Allocate the library's scratch buffers (ioctl structs, pread staging) before any
   * operation, so they sit in one arena above every mapping the operations create and
   * are never moved, unmapped or reused by them.
   */
  private primeScratch(p: Process): void {
    rawIoctl(p, -1, 0, new Uint8Array(8));
    p.preadBytes(-1, MAX_PREAD, 0);
  }

  private get ps(): ProcState {
    return this.procs[this.cur] as ProcState;
  }

  private fn(name: string): PciFunction {
    const f = this.fns.get(name);
    if (f === undefined) throw new Error(`no function ${name}`);
    return f;
  }

  private fdsOf(kind: FdEntry['kind']): FdEntry[] {
    return this.ps.fds.filter((f) => f.kind === kind);
  }

  private pick<T>(xs: readonly T[], i: number): T | undefined {
    return xs.length === 0 ? undefined : xs[i % xs.length];
  }

  private device(i: number): VfioDeviceHandle | null {
    const e = this.pick(this.fdsOf('device'), i);
    return e === undefined ? null : new VfioDeviceHandle(this.ps.p, e.fd, e.dev);
  }

  private resolve(a: AddrSel): number {
    const maps = this.ps.maps;
    if (a.hole || maps.length === 0) return HOLE_BASE + (a.page % HOLE_PAGES) * PAGE + a.off;
    const m = maps[a.map % maps.length] as { start: number; len: number };
    return m.start + (a.page % pagesOf(m.len)) * PAGE + a.off;
  }

  private fail(msg: string): never {
    throw new PropertyViolation(msg);
  }

  // ---- shadow address space ----

  private setPages(start: number, len: number, info: (i: number) => PageInfo): void {
    const first = Math.floor(start / PAGE);
    for (let i = 0; i < pagesOf(len); i++) this.ps.pages.set(first + i, info(i));
  }

  private clearPages(start: number, len: number): void {
    const first = Math.floor(start / PAGE);
    for (let i = 0; i < pagesOf(len); i++) this.ps.pages.delete(first + i);
  }

  private addMap(start: number, len: number): void {
    if (this.ps.maps.length < 32) this.ps.maps.push({ start, len: pagesOf(len) * PAGE });
  }

  // ---- running ----

  /** Open the container, the groups of `devs`, attach them, set type1v2 and get the device fds. */
  setup(devs: readonly number[]): void {
    this.exec({ t: 'openContainer' }, -1);
    for (const d of devs) this.exec({ t: 'openGroup', dev: d }, -1);
    for (let g = 0; g < devs.length; g++) this.exec({ t: 'setContainer', g, c: 0 }, -1);
    this.exec({ t: 'setIommu', c: 0, type: VFIO_TYPE1v2_IOMMU }, -1);
    devs.forEach((d, g) => this.exec({ t: 'getDevice', g, dev: d }, -1));
    // as a VMM does next: guest RAM DMA-mapped (IOVA pages 8..15), every device's first
    // memory BAR mapped whole, bus mastering on, an eventfd
    this.exec({ t: 'mmapAnon', pages: 8, fixed: null }, -1);
    this.exec({ t: 'mapDma', c: 0, a: { hole: false, map: 0, page: 0, off: 0 }, pages: 8, iovaPage: 8, iovaMisalign: 0, ro: false }, -1);
    const whole = { offPages: 0, lenExtra: 0, offMisalign: 0, prot: PROT_READ | PROT_WRITE, private: false, fixed: null };
    devs.forEach((d, i) => this.exec({ t: 'mmapBar', d: i, index: 0, lenPages: DEVICES[d] === '0000:03:00.0' ? 32 : 256, ...whole }, -1));
    devs.forEach((_, i) => this.exec({ t: 'cmd', d: i, mem: true, io: true, master: true, other: 0, size: 2 }, -1));
    // QEMU also DMA-maps BAR mmaps for peer-to-peer (2 pages of each at IOVA pages 2i..2i+1);
    // the guarded profile skips these (they are the H8 trigger)
    devs.forEach((_, i) => this.exec({ t: 'mapDma', c: 0, a: { hole: false, map: 1 + i, page: 0, off: 0 }, pages: 2, iovaPage: 2 * i, iovaMisalign: 0, ro: false }, -1));
    this.exec({ t: 'eventfd', nonblock: true }, -1);
  }

  runScenario(s: Scenario): void {
    this.setup(s.open);
    s.ops.forEach((op, i) => this.exec(op, i));
  }

  /** Run one operation, then check the properties. */
  exec(op: Op, i: number): void {
    const where = i < 0 ? 'setup' : `op #${i}`;
    this.urs.length = 0;
    this.stats.ops++;
    try {
      this.perform(op);
    } catch (e) {
      if (e instanceof PropertyViolation) throw new PropertyViolation(`${where} ${showOp(op)}: ${e.message}`);
      const err = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      throw new PropertyViolation(`${where} ${showOp(op)} threw ${err}`);
    }
    if (this.bugs.length > 0) throw new PropertyViolation(`${where} ${showOp(op)}: kernel BUG ${this.bugs.join('; ')}`);
    this.stats.urs += this.urs.length;
    if (!this.checks58 || this.urs.length === 0) return;
    for (const { ev: ur, d3hot, ioDecode } of this.urs) {
      const why = this.profile === 'full' ? this.classifyUr(op, ur, d3hot, ioDecode) : null;
      if (why === null) {
        throw new PropertyViolation(
          `${where} ${showOp(op)}: Unsupported Request (${ur.initiator} ${ur.dir} of ${ur.size} bytes at 0x${ur.addr.toString(16)} in ${ur.target ?? 'nothing'})` +
            ` on 5.8 with one thread${this.profile === 'full' ? ', not explained by a documented 5.8 hole' : ''}`,
        );
      }
      this.stats.explainedUrs.set(why, (this.stats.explainedUrs.get(why) ?? 0) + 1);
    }
  }

  /**
   * The documented 5.8 (as merged) hole that explains an Unsupported Request, or null:
   * - H8 (spec §2.13): a device's DMA through an IOMMU mapping of a BAR mmap — type1
   *   never invalidates it when the target BAR stops decoding;
   * - H7: the target function is in D3hot — 5.8's predicate looks only at the command
   *   register, so neither mmap nor read/write is blocked;
   * - H4: an ioeventfd fired by an eventfd write performs its MMIO write unchecked;
   * - I/O: read/write of an I/O-port BAR is never gated (§4), so with the user's I/O
   *   enable clear the access reaches a function that does not decode it.
   */
  private classifyUr(op: Op, ur: PlatformError, d3hot: boolean, ioDecode: boolean): string | null {
    if (ur.target === null) return null;
    const target = this.fn(ur.target);
    if (ur.initiator === 'dma') return 'H8 P2P DMA into a non-decoding BAR';
    if (d3hot) return 'H7 access while in D3hot';
    // an eventfd write fires it; so does registering it on an eventfd that is already signalled (vfio_virqfd_enable)
    if (op.t === 'efdWrite' || op.t === 'ioeventfd') return 'H4 unchecked ioeventfd write';
    if ((op.t === 'pread' || op.t === 'pwrite') && target.resource(op.index)?.kind === 'io' && !ioDecode) return 'I/O BAR access with I/O decode off';
    return null;
  }

  private perform(op: Op): void {
    const ps = this.ps;
    const p = ps.p;
    switch (op.t) {
      case 'openContainer': {
        const r = VfioContainer.open(p);
        if (r.ok) ps.fds.push({ fd: r.value.fd, kind: 'container', dev: '', group: -1, nonblock: false });
        return;
      }
      case 'openGroup': {
        const name = DEVICES[op.dev];
        const group = name === undefined ? 99 : this.fn(name).iommuGroup;
        const r = VfioGroup.open(p, group);
        if (r.ok) ps.fds.push({ fd: r.value.fd, kind: 'group', dev: name ?? '', group, nonblock: false });
        return;
      }
      case 'setContainer': {
        const g = this.pick(this.fdsOf('group'), op.g);
        const c = this.pick(this.fdsOf('container'), op.c);
        if (g === undefined) return;
        const b = new Uint8Array(4);
        new DataView(b.buffer).setInt32(0, c === undefined ? 99 : c.fd, true);
        rawIoctl(p, g.fd, VFIO_GROUP_SET_CONTAINER, b);
        return;
      }
      case 'unsetContainer': {
        const g = this.pick(this.fdsOf('group'), op.g);
        if (g !== undefined) p.ioctl(g.fd, VFIO_GROUP_UNSET_CONTAINER, 0);
        return;
      }
      case 'setIommu': {
        const c = this.pick(this.fdsOf('container'), op.c);
        if (c !== undefined) p.ioctl(c.fd, VFIO_SET_IOMMU, op.type);
        return;
      }
      case 'getDevice': {
        const g = this.pick(this.fdsOf('group'), op.g);
        if (g === undefined) return;
        const name = DEVICES[op.dev] ?? '0000:09:00.0';
        const s = new TextEncoder().encode(name);
        const b = new Uint8Array(s.byteLength + 1);
        b.set(s);
        const r = rawIoctl(p, g.fd, VFIO_GROUP_GET_DEVICE_FD, b);
        if (r.ret >= 0) {
          if (!DEVICES.some((n) => n === name) || this.fn(name).iommuGroup !== g.group) this.fail(`GET_DEVICE_FD returned fd ${r.ret} for ${name} through group ${g.group}`);
          ps.fds.push({ fd: r.ret, kind: 'device', dev: name, group: g.group, nonblock: false });
        }
        return;
      }
      case 'close': {
        if (op.bogus) {
          const r = p.close(1000 + op.fd);
          if (r !== -9) this.fail(`close of a never-opened fd returned ${r}, expected -EBADF`);
          return;
        }
        const e = this.pick(ps.fds, op.fd);
        if (e === undefined) return;
        const r = p.close(e.fd);
        if (r !== 0) this.fail(`close(${e.fd}) of an open ${e.kind} fd returned ${r}`);
        ps.fds = ps.fds.filter((f) => f !== e);
        return;
      }
      case 'mmapBar': {
        const e = this.pick(this.fdsOf('device'), op.d);
        if (e === undefined) return;
        let len = op.lenPages * PAGE + op.lenExtra;
        if (op.fixed !== null) {
          const room = this.roomPages(op.fixed);
          if (room === 0) return;
          len = Math.min(len, room * PAGE);
        }
        const off = vfioPciIndexToOffset(op.index) + op.offPages * PAGE + op.offMisalign;
        const fixedAt = op.fixed === null ? 0 : this.resolve(op.fixed);
        const flags = (op.private ? MAP_PRIVATE : MAP_SHARED) | (op.fixed === null ? 0 : MAP_FIXED);
        const r = p.mmap(fixedAt, len, op.prot, flags, e.fd, off);
        // vfio_pci_mmap (5.8): MAP_SHARED, a memory BAR, within the page-rounded BAR size
        const res = op.index <= 5 ? this.fn(e.dev).resource(op.index) : null;
        const valid =
          !op.private && op.offMisalign === 0 && len > 0 && fixedAt % PAGE === 0 && res !== null && res.kind === 'mem' &&
          op.offPages * PAGE + pagesOf(len) * PAGE <= pagesOf(res.size) * PAGE;
        if (valid !== r >= 0) this.fail(`mmap of region ${op.index} +0x${(op.offPages * PAGE + op.offMisalign).toString(16)} len 0x${len.toString(16)} private=${op.private} returned ${r}, expected ${valid ? 'success' : 'an error'}`);
        if (r >= 0) {
          if (op.fixed !== null && r !== fixedAt) this.fail(`MAP_FIXED mmap returned 0x${r.toString(16)} instead of 0x${fixedAt.toString(16)}`);
          this.setPages(r, len, (i) => ({ kind: 'bar', dev: e.dev, bar: op.index, off: (op.offPages + i) * PAGE, prot: op.prot }));
          this.addMap(r, len);
        } else if (op.fixed !== null && len > 0) {
          this.setPages(fixedAt, len, () => ({ kind: 'unknown' }));
        }
        return;
      }
      case 'mmapAnon': {
        const len = (op.fixed === null ? op.pages : Math.min(op.pages, this.roomPages(op.fixed))) * PAGE;
        if (len === 0) return;
        const fixedAt = op.fixed === null ? 0 : this.resolve(op.fixed);
        const r = p.mmap(fixedAt, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | (op.fixed === null ? 0 : MAP_FIXED), -1, 0);
        if (r >= 0) {
          this.setPages(r, len, () => ({ kind: 'ram', prot: PROT_READ | PROT_WRITE }));
          this.addMap(r, len);
        } else if (op.fixed !== null) {
          this.setPages(fixedAt, len, () => ({ kind: 'unknown' }));
        }
        return;
      }
      case 'munmap': {
        const { start, len } = this.within(op.a, op.pages, op.extra);
        const r = p.munmap(start, len);
        if (r === 0) this.clearPages(start, len);
        else if (start % PAGE === 0 && len > 0) this.fail(`munmap(0x${start.toString(16)}, ${len}) returned ${r}`);
        return;
      }
      case 'load': {
        const addr = this.resolve(op.a);
        const r = p.load(addr, op.size);
        this.checkAccess(addr, op.size, false, r);
        return;
      }
      case 'store': {
        const addr = this.resolve(op.a);
        const r = p.store(addr, op.size, op.value & (op.size === 8 ? 0xffff_ffff_ffff_ffffn : (1n << BigInt(8 * op.size)) - 1n));
        this.checkAccess(addr, op.size, true, r);
        return;
      }
      case 'pread': {
        const e = this.pick(this.fdsOf('device'), op.d);
        if (e === undefined) return;
        const fdOff = vfioPciIndexToOffset(op.index) + op.off;
        if (op.buf !== null) {
          p.pread(e.fd, this.resolve(op.buf), op.count, fdOff);
          return;
        }
        const r = p.preadBytes(e.fd, op.count, fdOff);
        this.checkPread(e.dev, op.index, op.off, op.count, r.ret, r.data);
        return;
      }
      case 'pwrite': {
        const e = this.pick(this.fdsOf('device'), op.d);
        if (e === undefined) return;
        const fdOff = vfioPciIndexToOffset(op.index) + op.off;
        const cfg = op.index === 7 && this.profile === 'guarded';
        if (op.buf !== null) {
          // the bytes come from wherever the buffer points (device registers, too): in the
          // guarded profile such a config write must not cover the command register or PMCSR
          if (cfg && this.sensitiveCfgBytes(e.dev).some((at) => at >= op.off && at < op.off + op.data.length)) return;
          p.pwrite(e.fd, this.resolve(op.buf), op.data.length, fdOff);
        } else {
          p.pwriteBytes(e.fd, cfg ? this.sanitizeCfgBytes(e.dev, op.off, op.data) : op.data, fdOff);
        }
        return;
      }
      case 'cmd': {
        const d = this.device(op.d);
        if (d === null) return;
        const v = (op.mem ? PCI_COMMAND_MEMORY : 0) | (op.io ? PCI_COMMAND_IO : 0) | (op.master ? PCI_COMMAND_MASTER : 0) | (op.other & ~7);
        d.writeConfig(4, op.size, op.size === 1 ? v & 0xff : v & 0xffff);
        return;
      }
      case 'cfgWrite': {
        const d = this.device(op.d);
        if (d === null) return;
        d.writeConfig(op.off, op.size, this.sanitizeCfg(d.name, op.off, op.size, op.value));
        return;
      }
      case 'cfgRead': {
        const d = this.device(op.d);
        if (d !== null) d.readConfig(op.off, op.size);
        return;
      }
      case 'flr': {
        const d = this.device(op.d);
        if (d === null) return;
        const exp = this.fn(d.name).tpl.pcieOff;
        if (exp === 0) return;
        const ctl = d.readConfig(exp + PCI_EXP_DEVCTL, 2);
        if (ctl.ok) d.writeConfig(exp + PCI_EXP_DEVCTL, 2, ctl.value | PCI_EXP_DEVCTL_BCR_FLR);
        return;
      }
      case 'pm': {
        const d = this.device(op.d);
        if (d === null) return;
        const pm = this.fn(d.name).tpl.pmOff;
        if (pm === 0) return;
        const ctl = d.readConfig(pm + PCI_PM_CTRL, 2);
        if (ctl.ok) d.writeConfig(pm + PCI_PM_CTRL, 2, (ctl.value & ~3) | (op.state & 3));
        return;
      }
      case 'reset': {
        const d = this.device(op.d);
        if (d !== null) d.reset();
        return;
      }
      case 'hotReset': {
        const d = this.device(op.d);
        if (d === null) return;
        d.getHotResetInfo();
        const groups = this.fdsOf('group');
        const fds = op.groups.map((g) => (g < groups.length ? (groups[g] as FdEntry).fd : g === 6 ? 999 : (this.pick(ps.fds, g)?.fd ?? -1)));
        d.hotReset(fds.length === 0 ? groups.map((g) => g.fd) : fds);
        return;
      }
      case 'deviceInfo': {
        const d = this.device(op.d);
        if (d !== null) d.getInfo();
        return;
      }
      case 'regionInfo': {
        const d = this.device(op.d);
        if (d === null) return;
        const b = new Uint8Array(Math.max(32, Math.min(op.argsz, 512)));
        b.set(encodeRegionInfo({ argsz: op.argsz, index: op.index }));
        rawIoctl(p, d.fd, VFIO_DEVICE_GET_REGION_INFO, b);
        return;
      }
      case 'irqInfo': {
        const d = this.device(op.d);
        if (d === null) return;
        rawIoctl(p, d.fd, VFIO_DEVICE_GET_IRQ_INFO, encodeIrqInfo({ argsz: op.argsz, flags: 0, index: op.index, count: 0 }));
        return;
      }
      case 'setIrqs': {
        const d = this.device(op.d);
        if (d === null) return;
        const efds = this.fdsOf('eventfd');
        const fdOf = (s: number): number => (s < 0 ? -1 : s === 7 ? (this.pick(ps.fds, s)?.fd ?? 77) : (this.pick(efds, s)?.fd ?? -1));
        let data: IrqSetData;
        if (op.kind === 'none') data = { kind: 'none', count: op.sel.length };
        else if (op.kind === 'bool') data = { kind: 'bool', values: op.sel.map((s) => s > 2) };
        else data = { kind: 'eventfd', fds: op.sel.map(fdOf) };
        if (op.index === 0xffffffff) {
          const payload = data.kind === 'eventfd' ? encodeEventfdArray(data.fds) : data.kind === 'bool' ? encodeBoolArray(data.values) : new Uint8Array(0);
          const flag = data.kind === 'eventfd' ? VFIO_IRQ_SET_DATA_EVENTFD : data.kind === 'bool' ? VFIO_IRQ_SET_DATA_BOOL : VFIO_IRQ_SET_DATA_NONE;
          rawIoctl(p, d.fd, VFIO_DEVICE_SET_IRQS, encodeIrqSet({ flags: flag | op.action, index: op.index, start: op.start, count: op.sel.length }, payload));
          return;
        }
        d.setIrqs(op.index, op.action, op.start, data);
        return;
      }
      case 'eventfd': {
        const fd = p.eventfd(0, op.nonblock ? EFD_NONBLOCK : 0);
        if (fd >= 0) ps.fds.push({ fd, kind: 'eventfd', dev: '', group: -1, nonblock: op.nonblock });
        return;
      }
      case 'efdWrite': {
        const e = this.pick(this.fdsOf('eventfd'), op.e);
        if (e !== undefined) p.eventfdWrite(e.fd, op.value);
        return;
      }
      case 'efdRead': {
        // Only non-blocking eventfds: a blocking read of a zero counter sleeps forever (one thread).
        const e = this.pick(this.fdsOf('eventfd').filter((f) => f.nonblock), op.e);
        if (e !== undefined) p.eventfdRead(e.fd);
        return;
      }
      case 'mapDma': {
        const c = this.pick(this.fdsOf('container'), op.c);
        if (c === undefined) return;
        const vaddr = this.resolve(op.a);
        const size = op.pages * PAGE;
        // guarded: no IOMMU mapping of a BAR may be created (the H8 trigger); only try one
        // whose every BAR page belongs to a device with memory disabled, which must fail (claim 26)
        const bars = this.profile === 'guarded' ? this.barPagesIn(vaddr, size) : null;
        if (bars !== null && bars.some((d) => d === null || this.memEnabled(d))) return;
        const flags = op.ro ? 1 : 3;
        const r = rawIoctl(p, c.fd, VFIO_IOMMU_MAP_DMA, encodeDmaMap({ flags, vaddr, iova: IOVA_BASE + op.iovaPage * PAGE + op.iovaMisalign, size }));
        if (bars !== null && bars.length > 0 && r.ret >= 0) this.fail(`MAP_DMA of a BAR mmap of a memory-disabled device (${bars.join(', ')}) succeeded`);
        return;
      }
      case 'unmapDma': {
        const c = this.pick(this.fdsOf('container'), op.c);
        if (c !== undefined) rawIoctl(p, c.fd, VFIO_IOMMU_UNMAP_DMA, encodeDmaUnmap({ iova: IOVA_BASE + op.iovaPage * PAGE + op.misalign, size: op.pages * PAGE }));
        return;
      }
      case 'eduDma': {
        const d = this.device(op.d);
        if (d === null || this.fn(d.name).model !== 'edu') return;
        const bus = IOVA_BASE + op.iovaPage * PAGE + op.iovaOff;
        const buf = 0x40000 + op.bufOff;
        const w32 = (reg: number, v: number): void => {
          const b = new Uint8Array(4);
          new DataView(b.buffer).setUint32(0, v >>> 0, true);
          d.writeRegion(0, reg, b);
        };
        w32(0x80, op.toRam ? buf : bus);
        w32(0x88, op.toRam ? bus : buf);
        w32(0x90, op.cnt);
        w32(0x98, 1 | (op.toRam ? 2 : 0) | (op.irq ? 4 : 0));
        return;
      }
      case 'nicRx': {
        const d = this.device(op.d);
        if (d === null || this.fn(d.name).model !== 'nic') return;
        const w32 = (reg: number, v: number): void => {
          const b = new Uint8Array(4);
          new DataView(b.buffer).setUint32(0, v >>> 0, true);
          d.writeRegion(0, reg, b);
        };
        w32(0x20, IOVA_BASE + op.iovaPage * PAGE + op.iovaOff);
        w32(0x24, 0);
        w32(0x00, 1);
        w32(0x30, 1);
        return;
      }
      case 'ioeventfd': {
        const d = this.device(op.d);
        if (d === null) return;
        const e = op.e < 0 ? -1 : (this.pick(this.fdsOf('eventfd'), op.e)?.fd ?? -1);
        d.ioeventfd({ offset: BigInt(vfioPciIndexToOffset(op.index) + op.off), size: op.size, data: BigInt(op.data), fd: e });
        return;
      }
      case 'badIoctl': {
        const e = this.pick(ps.fds, op.fd);
        const fd = e === undefined ? 5 : e.fd;
        p.ioctl(fd, op.cmd, op.arg === null ? 0 : this.resolve(op.arg));
        return;
      }
      case 'iommuInfo': {
        const c = this.pick(this.fdsOf('container'), op.c);
        if (c !== undefined) rawIoctl(p, c.fd, VFIO_IOMMU_GET_INFO, encodeIommuType1Info({ argsz: SIZEOF_VFIO_IOMMU_TYPE1_INFO }));
        return;
      }
      case 'groupStatus': {
        const g = this.pick(this.fdsOf('group'), op.g);
        if (g !== undefined) rawIoctl(p, g.fd, VFIO_GROUP_GET_STATUS, encodeGroupStatus({ argsz: SIZEOF_VFIO_GROUP_STATUS, flags: 0 }));
        return;
      }
      case 'fork': {
        if (this.procs.length >= 4) return;
        const child = p.fork();
        if (typeof child === 'number') this.fail(`fork failed: ${child}`);
        this.primeScratch(child);
        this.procs.push({ p: child, fds: [...ps.fds], pages: new Map(ps.pages), maps: ps.maps.map((m) => ({ ...m })), alive: true });
        return;
      }
      case 'switch': {
        const alive = this.procs.map((_, i) => i).filter((i) => this.procs[i]?.alive === true);
        this.cur = alive[op.proc % alive.length] ?? 0;
        return;
      }
      case 'exit': {
        if (this.cur === 0) return; // the first process stays: it owns the run
        p.exit();
        ps.alive = false;
        this.cur = 0;
        return;
      }
      case 'hostCfg': {
        const names = [...DEVICES, ...ROOT_PORTS];
        const name = names[op.target % names.length] as string;
        this.sys.hw.hostConfigWrite(name, op.off, op.size, op.value);
        return;
      }
    }
  }

  /**
   * A munmap range starting at `a` and never extending past the mapping `a` points into
   * (or the hole): `pages` pages, the last one partial when `extra` > 0.
   */
  private within(a: AddrSel, pages: number, extra: number): { start: number; len: number } {
    const start = this.resolve(a);
    const n = Math.min(pages, this.roomPages(a));
    if (n === 0) return { start, len: 0 };
    return { start, len: extra > 0 ? (n - 1) * PAGE + extra : n * PAGE };
  }

  /**
   * Whole pages from the address `a` selects to the end of the mapping (or hole) it
   * points into. munmap and MAP_FIXED ranges stay within it, so operations never unmap
   * or replace the library's own scratch buffers (which sit in an arena next to them).
   */
  private roomPages(a: AddrSel): number {
    const start = this.resolve(a);
    const maps = this.ps.maps;
    let limit = HOLE_BASE + HOLE_PAGES * PAGE;
    if (!a.hole && maps.length > 0) {
      const m = maps[a.map % maps.length] as { start: number; len: number };
      limit = m.start + m.len;
    }
    return Math.max(0, Math.floor((limit - start) / PAGE));
  }

  /** The device of every BAR page in [start, start+len) (null for a page whose mapping is unknown). */
  private barPagesIn(start: number, len: number): (string | null)[] {
    const out: (string | null)[] = [];
    for (let a = Math.floor(start / PAGE); a < Math.ceil((start + len) / PAGE); a++) {
      const pg = this.ps.pages.get(a);
      if (pg?.kind === 'bar') out.push(pg.dev);
      else if (pg?.kind === 'unknown') out.push(null);
    }
    return out;
  }

  /** The user's Memory Space Enable of `dev` as vfio-pci sees it (the 5.8 predicate __vfio_pci_memory_enabled). */
  private memEnabled(dev: string): boolean {
    const vdev = this.sys.vfioDevice(dev);
    return vdev !== undefined && (vdev.vconfigCommand & PCI_COMMAND_MEMORY) !== 0;
  }

  /**
   * In the guarded profile keep the user's I/O enable set and the nic in D0 when a random
   * config write covers the command register or PMCSR (the triggers of the untracked I/O
   * and H7 holes).
   */
  private sanitizeCfg(dev: string, off: number, size: number, value: number): number {
    const b = new Uint8Array(size);
    for (let i = 0; i < size; i++) b[i] = (value >>> (8 * i)) & 0xff;
    const s = this.sanitizeCfgBytes(dev, off, b);
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + (s[i] ?? 0);
    return v;
  }

  /** sanitizeCfg for the bytes of a config-region write at `off` (a copy). */
  private sanitizeCfgBytes(dev: string, off: number, data: Uint8Array): Uint8Array {
    const out = data.slice();
    if (this.profile !== 'guarded') return out;
    const [cmd, pmctl] = this.sensitiveCfgBytes(dev);
    const fix = (at: number | undefined, f: (b: number) => number): void => {
      if (at !== undefined && at >= off && at < off + out.length) out[at - off] = f(out[at - off] ?? 0) & 0xff;
    };
    fix(cmd, (b) => b | PCI_COMMAND_IO);
    fix(pmctl, (b) => b & ~3);
    return out;
  }

  /** Config offsets of the command register's low byte and (if present) PMCSR's low byte. */
  private sensitiveCfgBytes(dev: string): number[] {
    const pm = this.fn(dev).tpl.pmOff;
    return pm === 0 ? [4] : [4, pm + PCI_PM_CTRL];
  }

  // ---- checks ----

  /** Properties 3 and 4 for one CPU access (5.8 only; page-crossing accesses are not checked). */
  private checkAccess(addr: number, size: number, write: boolean, r: CpuAccessResult): void {
    if (!r.ok && r.signal === 'SIGBUS') this.stats.sigbus++;
    if (!this.checks58) return;
    const pageOff = addr % PAGE;
    if (pageOff + size > PAGE) return;
    const pg = this.ps.pages.get(Math.floor(addr / PAGE));
    const what = `${write ? 'store' : 'load'} of ${size} at 0x${addr.toString(16)}`;
    const got = r.ok ? 'ok' : `${r.signal}/${r.code}`;
    if (pg === undefined) {
      if (r.ok || r.signal !== 'SIGSEGV') this.fail(`${what} (nothing mapped there) gave ${got}, expected SIGSEGV`);
      return;
    }
    if (pg.kind === 'unknown') return;
    const allowed = write ? (pg.prot & PROT_WRITE) !== 0 : pg.prot !== 0;
    if (!allowed) {
      if (r.ok || r.signal !== 'SIGSEGV') this.fail(`${what} (mapping prot ${pg.prot}) gave ${got}, expected SIGSEGV`);
      return;
    }
    if (pg.kind === 'ram') {
      if (!r.ok) this.fail(`${what} (anonymous memory) gave ${got}`);
      return;
    }
    const memOn = this.memEnabled(pg.dev);
    if (memOn && !r.ok) this.fail(`${what} (BAR${pg.bar} of ${pg.dev} +0x${(pg.off + pageOff).toString(16)}, memory enabled) gave ${got}`);
    if (!memOn && (r.ok || r.signal !== 'SIGBUS')) this.fail(`${what} (BAR${pg.bar} of ${pg.dev}, memory disabled) gave ${got}, expected SIGBUS`);
    if (!r.ok || write || this.urs.length > 0) return;
    const want = this.peekBar(this.fn(pg.dev), pg.bar, pg.off + pageOff, size);
    if (want === null) return;
    this.stats.barLoadsChecked++;
    if (r.value !== want) this.fail(`${what} read BAR${pg.bar} of ${pg.dev} +0x${(pg.off + pageOff).toString(16)} = 0x${r.value.toString(16)}, the device holds 0x${want.toString(16)}`);
  }

  /**
   * A pread of BAR/ROM region `index` (5.8): -EIO while the user's Memory Space Enable
   * is clear (memory BARs and the ROM), else the bytes up to the region end — and they
   * are what the device holds (property 3).
   */
  private checkPread(dev: string, index: number, off: number, count: number, ret: number, data: Uint8Array): void {
    // count 0 is not checked: the model's vfs_read returns 0 without calling the driver,
    // while Linux 5.8 calls vfio_pci_rw (-EIO while disabled, -EINVAL past the end)
    if (!this.checks58 || index > 6 || off < 0 || count === 0) return;
    const f = this.fn(dev);
    const res = f.resource(index);
    if (res === null || off >= res.size) {
      if (ret >= 0) this.fail(`pread of region ${index} of ${dev} at 0x${off.toString(16)} (no such region or past its end) returned ${ret}`);
      return;
    }
    const memOn = this.memEnabled(dev);
    const want = Math.min(count, res.size - off);
    if (res.kind === 'mem' && !memOn) {
      if (ret !== -5) this.fail(`pread of region ${index} of ${dev} with memory disabled returned ${ret}, expected -EIO`);
      return;
    }
    // an explained UR ('full' profile): e.g. a ROM read in D3hot finds no image and fails with -ENOMEM
    if (this.urs.length > 0) return;
    if (ret !== want) this.fail(`pread(${count} at 0x${off.toString(16)}) of region ${index} of ${dev} returned ${ret}, expected ${want}`);
    const exp = this.expectedRegion(f, index, off, ret);
    if (exp === null) return;
    this.stats.barPreadsChecked++;
    if (hex(exp) !== hex(data)) this.fail(`pread of region ${index} of ${dev} at 0x${off.toString(16)} returned ${hex(data)}, the device holds ${hex(exp)}`);
  }

  /**
   * What a pread of region `index` [pos, pos+len) must return (vfio_pci_bar_rw and
   * do_io_rw, 5.8): naturally aligned 4/2/1-byte device reads; the MSI-X table of the
   * MSI-X BAR and the ROM past its image read as 0xff without touching the device.
   */
  private expectedRegion(f: PciFunction, index: number, pos: number, len: number): Uint8Array | null {
    const out = new Uint8Array(len);
    let xStart = 0;
    let xEnd = 0;
    const rom = f.tpl.rom;
    if (index === 6) {
      if (rom === null) return null;
      xStart = romImageSize(rom.image);
      xEnd = rom.size;
    }
    const m = f.tpl.msix;
    if (m !== null && index === m.tableBar) {
      xStart = m.tableOffset;
      xEnd = m.tableOffset + 16 * m.vectors;
    }
    let off = pos;
    let i = 0;
    while (i < len) {
      const left = len - i;
      const fillable = off < xStart ? Math.min(left, xStart - off) : off >= xEnd ? left : 0;
      const size = fillable >= 4 && off % 4 === 0 ? 4 : fillable >= 2 && off % 2 === 0 ? 2 : fillable > 0 ? 1 : 0;
      let filled: number;
      if (size !== 0) {
        const v = this.peekBar(f, index, off, size);
        if (v === null) return null;
        out.set(leBytes(v, size), i);
        filled = size;
      } else {
        filled = Math.min(left, xEnd - off);
        out.fill(0xff, i, i + filled);
      }
      i += filled;
      off += filled;
    }
    return out;
  }

  /**
   * What the device holds at BAR `bar` (6 = ROM) offset `off`, `size` bytes, read
   * without side effects: the MSI-X table and PBA from the function's vector state,
   * the ROM image, otherwise the device behaviour's register read (edu and nic register
   * reads have no side effects). Null if it cannot be computed exactly.
   */
  private peekBar(f: PciFunction, bar: number, off: number, size: number): bigint | null {
    const bytes: number[] = [];
    const rom = f.tpl.rom;
    if (bar === 6) {
      if (rom === null) return null;
      for (let i = 0; i < size; i++) bytes.push(off + i < rom.image.length ? (rom.image[off + i] ?? 0) : off + i < rom.size ? (rom.fill ?? 0xff) : 0xff);
      return fromLe(bytes);
    }
    const res = f.resource(bar);
    if (res === null) return null;
    const m = f.tpl.msix;
    if (m !== null && bar === m.tableBar && off >= m.tableOffset && off < m.tableOffset + 16 * m.vectors) {
      for (let i = 0; i < size; i++) {
        const o = off - m.tableOffset + i;
        const v = Math.floor(o / 16);
        if (v >= m.vectors) {
          bytes.push(0);
          continue;
        }
        const e = f.msixEntry(v);
        if (e.addr >= 2 ** 53) return null;
        const words = [e.addr % 2 ** 32, Math.floor(e.addr / 2 ** 32), e.data, e.masked ? 1 : 0];
        const w = words[Math.floor((o % 16) / 4)] ?? 0;
        bytes.push((w >>> (8 * (o % 4))) & 0xff);
      }
      return fromLe(bytes);
    }
    const pbaLen = m === null ? 0 : 8 * Math.ceil(m.vectors / 64);
    if (m !== null && bar === m.pbaBar && off >= m.pbaOffset && off < m.pbaOffset + pbaLen) {
      for (let i = 0; i < size; i++) {
        const o = off - m.pbaOffset + i;
        let b = 0;
        for (let bit = 0; bit < 8; bit++) if (o * 8 + bit < m.vectors && f.msixPending(o * 8 + bit)) b |= 1 << bit;
        bytes.push(b);
      }
      return fromLe(bytes);
    }
    const beh = f.behavior;
    if (beh === null) return null;
    if (res.kind === 'io') {
      if (beh.ioRead === undefined) return null;
      const ones = size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
      return BigInt((beh.ioRead(bar, off, size) & ones) >>> 0);
    }
    return BigInt.asUintN(8 * size, beh.mmioRead(bar, off, size));
  }
}

function fromLe(bytes: readonly number[]): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i] ?? 0);
  return v;
}

/** The image size pci_get_rom_size finds: 0x55AA images chained by their PCIR length until the last-image bit. */
function romImageSize(img: Uint8Array): number {
  let image = 0;
  for (;;) {
    if (img[image] !== 0x55 || img[image + 1] !== 0xaa) return image;
    const pcir = image + ((img[image + 0x18] ?? 0) | ((img[image + 0x19] ?? 0) << 8));
    const len = ((img[pcir + 0x10] ?? 0) | ((img[pcir + 0x11] ?? 0) << 8)) * 512;
    const last = ((img[pcir + 0x15] ?? 0) & 0x80) !== 0;
    image += len;
    if (len === 0 || last || image >= img.length) return image;
  }
}
