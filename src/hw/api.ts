/**
 * The hardware as the kernel sees it: config cycles, physical memory and MMIO/I-O
 * accesses routed by the root complex, an IOMMU, a clock, interrupt delivery.
 * `hw/` knows nothing of the kernel; the kernel drives it through this interface.
 */
import type { EventStream } from '../events/stream.js';

export type AccessSize = 1 | 2 | 4 | 8;
export type ConfigSize = 1 | 2 | 4;
/** Who performed a config access, for the event stream. */
export type CfgOrigin = 'kernel' | 'host' | 'vfio-user';

export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;

/** A BAR or the expansion ROM as enumerated by firmware (pci_resource_start/len/flags). */
export interface PciResource {
  /** 0..5 for BARs, 6 for the expansion ROM. */
  readonly index: number;
  readonly start: number;
  readonly size: number;
  readonly kind: 'mem' | 'io';
  readonly mem64: boolean;
  readonly prefetch: boolean;
}

/** Power state of a function (PMCSR PowerState field). */
export type PowerState = 'D0' | 'D1' | 'D2' | 'D3hot';

/** A PCI function as the kernel drives it. */
export interface PciFunctionHw {
  /** '0000:01:00.0' */
  readonly name: string;
  readonly bus: number;
  readonly dev: number;
  readonly fn: number;
  /** (dev << 3) | fn */
  readonly devfn: number;
  /** Device model name, e.g. 'edu', 'nic', 'root-port'. */
  readonly model: string;
  readonly isBridge: boolean;
  /** The bridge whose secondary bus this function sits on (null on the root bus). */
  readonly upstream: PciFunctionHw | null;
  /** Secondary bus number (bridges only). */
  readonly secondaryBus: number | null;
  readonly isVirtfn: boolean;
  readonly physfn: PciFunctionHw | null;
  /** 256 (conventional) or 4096 (PCIe). */
  readonly configSize: 256 | 4096;
  /** IOMMU group number (derived from the topology). */
  readonly iommuGroup: number;
  /** True for VGA-class devices (class 0x0300). */
  readonly isVga: boolean;
  /** Hardware config read (a config cycle). Reads during reset/not-ready return all-ones. */
  cfgRead(offset: number, size: ConfigSize, origin?: CfgOrigin): number;
  /** Hardware config write (a config cycle). */
  cfgWrite(offset: number, size: ConfigSize, value: number, origin?: CfgOrigin): void;
  /** Firmware-assigned resource for BAR i (0..5) or the ROM (6); null if unimplemented. */
  resource(index: number): PciResource | null;
  /** Device-initiated DMA read of `len` bytes at bus address `busAddr` (through the IOMMU). */
  dmaRead(busAddr: number, len: number): Uint8Array | null;
  /** Device-initiated DMA write at bus address `busAddr` (through the IOMMU); false if it failed. */
  dmaWrite(busAddr: number, data: Uint8Array): boolean;
  /** Diagnostic snapshot (not used by kernel logic). */
  state(): PciFunctionState;
}

export interface PciFunctionState {
  readonly command: number;
  readonly powerState: PowerState;
  readonly inReset: boolean;
  readonly memDecode: boolean;
  readonly ioDecode: boolean;
  readonly busMaster: boolean;
}

/** Physical RAM: 4 KiB pages addressed by pfn, allocated by the kernel. */
export interface RamHw {
  /** Allocate a zeroed page; returns its pfn, or -1 when out of memory. */
  allocPage(): number;
  freePage(pfn: number): void;
  isRam(pfn: number): boolean;
  /** Direct view of the page's bytes (the kernel's page_address). */
  page(pfn: number): Uint8Array;
}

export interface IommuHw {
  /**
   * The superpage sizes the IOMMU's second-level tables support, as a bitmap (VT-d
   * CAP.SLLPS; QEMU's intel-iommu and current Intel hardware: 2 MiB and 1 GiB).
   */
  readonly superpageBitmap: bigint;
  /**
   * The input address width of DMA remapping, in bits (VT-d MGAW/SAGAW: 48 on current
   * Intel hardware; 39 for QEMU's intel-iommu before 9.0, its `aw-bits` default). The
   * kernel's domain geometry (aperture) ends at 2^width - 1.
   */
  readonly addressWidth: number;
  /** A new empty IOMMU domain; returns its id. */
  createDomain(): number;
  destroyDomain(domain: number): void;
  /** Route DMA from every function of the group through `domain`. */
  attachGroup(domain: number, group: number): void;
  detachGroup(group: number): void;
  /** Map `pages` pages at `iova` to consecutive pfns from `pfn`. False if any page is already mapped. */
  map(domain: number, iova: number, pfn: number, pages: number, prot: number): boolean;
  /** Unmap pages; returns how many were mapped. */
  unmap(domain: number, iova: number, pages: number): number;
  /** Translate; null if not mapped. */
  lookup(domain: number, iova: number): { pfn: number; prot: number } | null;
}
export const IOMMU_READ = 1;
export const IOMMU_WRITE = 2;

/** A device timer as the kernel's scheduler sees it (see DeviceTimer in clock.ts). */
export interface DeviceTimerHw {
  /** The function it belongs to. */
  readonly dev: string;
  /** Short name; the scheduler's hardware thread is `<name>@<dev>`. */
  readonly name: string;
  /** The device object its expiry touches (`hw:<dev>:bar`), for the explorer. */
  readonly obj: string;
  /** Deadline in ns, -1 when not armed. */
  readonly at: number;
}

/** Virtual time: advanced only by the kernel's sleeps (and its idle CPUs); deterministic. */
export interface ClockHw {
  readonly nowNs: number;
  advance(ns: number): void;
  /** Whether `advance` runs device timers itself (true on bare hardware; a kernel clears it and schedules them). */
  deviceTimersInline: boolean;
  /** The armed device timers whose deadline has passed, in deadline order. */
  dueDeviceTimers(): readonly DeviceTimerHw[];
  /** The earliest armed device timer's deadline, or -1 when none is armed. */
  nextDeviceDeadline(): number;
  /** Expire a due device timer (runs the device's activity); nothing if it is no longer armed and due. */
  fireDevice(timer: DeviceTimerHw): void;
}

export type UrPolicy = 'log' | 'fatal';

/**
 * What the CPU sees of an access nothing decodes (an Unsupported Request): 'ones' (PCIe
 * hardware: the root complex completes a read with all-ones, drops a write) or 'zeros'
 * (QEMU's unassigned-access handler: a read returns 0, a write is dropped).
 */
export type UnassignedValue = 'ones' | 'zeros';

export interface PlatformHw {
  readonly urPolicy: UrPolicy;
  /** The value a CPU read of an undecoded address returns. */
  readonly unassigned: UnassignedValue;
  /** Reason the machine halted (fatal platform error), else null. */
  readonly haltReason: string | null;
  /** Unsupported Requests so far. */
  readonly urCount: number;
}

/** An MSI write that reached the interrupt controller. */
export type MsiHandler = (addr: number, data: number, source: PciFunctionHw) => void;

/**
 * The interrupt controller's MSI sink as an object (the kernel's IrqTable): unlike a
 * closure, a copy of the whole System (the explorer's snapshots) then delivers to its own.
 */
export interface MsiSink {
  deliverMsi(addr: number, data: number, source: PciFunctionHw): void;
}

/** The whole machine as the kernel sees it. */
export interface HwMachine {
  readonly events: EventStream;
  readonly ram: RamHw;
  readonly iommu: IommuHw;
  readonly clock: ClockHw;
  readonly platform: PlatformHw;
  /** Every function, in bus/devfn order (enumeration order). */
  functions(): readonly PciFunctionHw[];
  findFunction(name: string): PciFunctionHw | undefined;
  /** CPU physical memory read (RAM, or MMIO routed by the root complex; UR if unclaimed). */
  memRead(addr: number, size: AccessSize): bigint;
  memWrite(addr: number, size: AccessSize, value: bigint): void;
  /** CPU port I/O. */
  ioRead(port: number, size: ConfigSize): number;
  ioWrite(port: number, size: ConfigSize, value: number): void;
  /** Install the interrupt controller's MSI sink. */
  setMsiHandler(h: MsiHandler | MsiSink): void;
}
