/**
 * The public API for defining PCI endpoint devices. The built-in `edu` and `nic`
 * are defined with exactly this API.
 *
 * ```ts
 * const MY_DEV = defineDevice({
 *   model: 'mydev', vendorId: 0x1234, deviceId: 0x5678, classCode: 0x0000ff,
 *   bars: [{ index: 0, kind: 'mem', size: 0x1000 }],
 *   caps: { msi: { vectors: 1 } },
 *   behavior: (ctx) => ({
 *     mmioRead: (bar, off, size) => 0n,
 *     mmioWrite: (bar, off, size, value) => { if (off === 0) ctx.raiseIrq(0); },
 *     reset: () => {},
 *   }),
 * });
 * // then place it in a MachineSpec: endpoint(0, MY_DEV)
 * ```
 *
 * What the hardware layer does for you (the behaviour never sees it):
 * config space and its write masks, BAR/ROM decoding and Unsupported Requests,
 * MSI/MSI-X capability and the MSI-X table/PBA (accesses to those ranges of their
 * BAR never reach `mmioRead`/`mmioWrite`), resets (FLR, bus reset, PM soft reset)
 * of the PCI-visible state, bus-master and IOMMU checks on DMA.
 */
import type { DeviceTimer, DeviceTimerTarget } from './clock.js';

/** One BAR of a device. A 64-bit BAR also occupies register index + 1. */
export interface BarSpec {
  /** 0..5 */
  readonly index: number;
  readonly kind: 'mem' | 'io';
  /** Power of two; memory BARs ≥ 16 bytes, I/O BARs ≥ 4 bytes. */
  readonly size: number;
  readonly mem64?: boolean;
  readonly prefetch?: boolean;
}

/** Expansion ROM: `size` is the ROM BAR size (power of two ≥ 2 KiB); `image` its contents (shorter is allowed). */
export interface RomSpec {
  readonly size: number;
  readonly image: Uint8Array;
  /** Value of ROM bytes past the image (default 0xff). */
  readonly fill?: number;
}

export interface MsiCapSpec {
  /** Multiple Message Capable: 1, 2, 4, 8, 16 or 32 vectors. */
  readonly vectors: 1 | 2 | 4 | 8 | 16 | 32;
  /** 64-bit address capable (default true). */
  readonly addr64?: boolean;
  /** Per-vector masking capable (default false). */
  readonly perVectorMask?: boolean;
}

export interface MsixCapSpec {
  /** Table size (1..2048). */
  readonly vectors: number;
  readonly tableBar: number;
  readonly tableOffset: number;
  readonly pbaBar: number;
  readonly pbaOffset: number;
}

export interface CapsSpec {
  /** PCI power management; `noSoftReset` is the PMCSR No_Soft_Reset bit. */
  readonly pm?: { readonly noSoftReset: boolean };
  readonly msi?: MsiCapSpec;
  readonly msix?: MsixCapSpec;
  /** PCI Express capability (makes the function PCIe with a 4 KiB config space). */
  readonly pcie?: { readonly flr: boolean };
  /** ACS extended capability with SV/RR/CR/UF (isolates functions of a multi-function device). Needs `pcie`. */
  readonly acs?: boolean;
}

/** Kind of reset the device behaviour is told about. */
export type ResetKind = 'flr' | 'bus' | 'pm' | 'power-on';

/** What a behaviour may do to the outside world. */
export interface DeviceContext {
  /** '0000:01:00.0' */
  readonly name: string;
  /** Signal interrupt `vector`: MSI-X, MSI or INTx, whichever the function has enabled. */
  raiseIrq(vector: number): void;
  /** Deassert INTx (clears the status interrupt bit); no effect on MSI/MSI-X. */
  lowerIrq(vector: number): void;
  /** Bus-master DMA read through the IOMMU; null if it failed (master off, IOMMU fault, UR). */
  dmaRead(busAddr: number, len: number): Uint8Array | null;
  /** Bus-master DMA write through the IOMMU; false if it failed. */
  dmaWrite(busAddr: number, data: Uint8Array): boolean;
  /** Emit a free-text `note` event (the device's "log"). */
  log(text: string): void;
  /** The machine's virtual time in ns (QEMU_CLOCK_VIRTUAL; only the kernel's sleeps and idle CPUs advance it). */
  readonly nowNs: number;
  /**
   * A new device timer (QEMU timer_new on QEMU_CLOCK_VIRTUAL) named `name` ('dma'):
   * `target.timerExpired` runs once armed and virtual time reaches the deadline — on a
   * booted machine as a step of a hardware thread the scheduler interleaves with the
   * others, so a program may act between the arming and the expiry.
   */
  newTimer(name: string, target: DeviceTimerTarget): DeviceTimer;
  /** Arm `timer` to expire at `atNs` of virtual time (QEMU timer_mod). */
  armTimer(timer: DeviceTimer, atNs: number): void;
}

/** The device-specific logic behind the BARs. Offsets are relative to the BAR start. */
export interface DeviceBehavior {
  /**
   * Memory BAR read; return the value of `size` bytes (1, 2, 4 or 8), little-endian.
   * Must not change the device's state (no read-to-clear registers): the explorer lets
   * two reads of a device commute (see touchesOf in src/scenario/explore.ts).
   */
  mmioRead(bar: number, offset: number, size: number): bigint;
  mmioWrite(bar: number, offset: number, size: number, value: bigint): void;
  /** I/O BAR read of 1, 2 or 4 bytes (default: all-ones); no side effects, as mmioRead. */
  ioRead?(bar: number, offset: number, size: number): number;
  ioWrite?(bar: number, offset: number, size: number, value: number): void;
  /** The function was reset; reset whatever device state that kind of reset resets. */
  reset(kind: ResetKind): void;
}

export type BehaviorFactory = (ctx: DeviceContext) => DeviceBehavior;

export interface DeviceSpec {
  /** Model name, e.g. 'edu'. */
  readonly model: string;
  readonly vendorId: number;
  readonly deviceId: number;
  readonly revision?: number;
  /** 24-bit class code: (base << 16) | (sub << 8) | prog-if. */
  readonly classCode: number;
  readonly subsystemVendorId?: number;
  readonly subsystemId?: number;
  /** 0 = none, 1..4 = INTA..INTD (default 1). */
  readonly interruptPin?: number;
  readonly bars: readonly BarSpec[];
  readonly rom?: RomSpec;
  readonly caps?: CapsSpec;
  /**
   * The Linux driver a guest binds this device to instead of vfio-pci (e.g. 'e1000e',
   * 'ahci'), not modelled: a System leaves such functions bound to it (vfio_dev_viable
   * sees a foreign driver) unless its `bind` option says otherwise. Default: none (the
   * System binds the function to vfio-pci).
   */
  readonly hostDriver?: string;
  readonly behavior: BehaviorFactory;
}

/** A validated device definition, placed into a machine with `endpoint(...)`. */
export interface DeviceDefinition {
  readonly kind: 'device-definition';
  readonly spec: DeviceSpec;
}

/** True for a positive power of two that is a safe integer. */
export function isPow2(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && Number.isInteger(Math.log2(n));
}

/**
 * Validate a device description and return a definition usable in a MachineSpec.
 * Throws `Error` for an inconsistent description (a configuration error, not a
 * runtime condition).
 */
export function defineDevice(spec: DeviceSpec): DeviceDefinition {
  const used = new Set<number>();
  for (const b of spec.bars) {
    if (!Number.isInteger(b.index) || b.index < 0 || b.index > 5) throw new Error(`${spec.model}: BAR index ${b.index}`);
    const regs = b.kind === 'mem' && b.mem64 === true ? [b.index, b.index + 1] : [b.index];
    for (const r of regs) {
      if (r > 5 || used.has(r)) throw new Error(`${spec.model}: BAR ${b.index} overlaps another BAR`);
      used.add(r);
    }
    if (!isPow2(b.size)) throw new Error(`${spec.model}: BAR ${b.index} size must be a power of two`);
    if (b.kind === 'mem' && b.size < 16) throw new Error(`${spec.model}: memory BAR ${b.index} < 16 bytes`);
    if (b.kind === 'io' && (b.size < 4 || b.size > 256)) throw new Error(`${spec.model}: I/O BAR ${b.index} size`);
    if (b.kind === 'io' && (b.mem64 === true || b.prefetch === true)) throw new Error(`${spec.model}: I/O BAR flags`);
    if (b.kind === 'mem' && b.mem64 !== true && b.size > 2 ** 31) throw new Error(`${spec.model}: 32-bit BAR too big`);
  }
  if (spec.rom !== undefined) {
    if (!isPow2(spec.rom.size) || spec.rom.size < 2048) throw new Error(`${spec.model}: ROM size`);
    if (spec.rom.image.length > spec.rom.size) throw new Error(`${spec.model}: ROM image larger than ROM BAR`);
  }
  const c = spec.caps ?? {};
  if (c.acs === true && c.pcie === undefined) throw new Error(`${spec.model}: ACS needs PCIe`);
  if (c.msix !== undefined) {
    const m = c.msix;
    if (!Number.isInteger(m.vectors) || m.vectors < 1 || m.vectors > 2048) throw new Error(`${spec.model}: MSI-X vectors`);
    const tb = spec.bars.find((b) => b.index === m.tableBar && b.kind === 'mem');
    const pb = spec.bars.find((b) => b.index === m.pbaBar && b.kind === 'mem');
    if (tb === undefined || pb === undefined) throw new Error(`${spec.model}: MSI-X table/PBA BAR must be a memory BAR`);
    if (m.tableOffset % 8 !== 0 || m.pbaOffset % 8 !== 0) throw new Error(`${spec.model}: MSI-X offsets must be QWORD aligned`);
    if (m.tableOffset + 16 * m.vectors > tb.size) throw new Error(`${spec.model}: MSI-X table outside its BAR`);
    if (m.pbaOffset + 8 * Math.ceil(m.vectors / 64) > pb.size) throw new Error(`${spec.model}: MSI-X PBA outside its BAR`);
  }
  const pin = spec.interruptPin ?? 1;
  if (!Number.isInteger(pin) || pin < 0 || pin > 4) throw new Error(`${spec.model}: interrupt pin`);
  return { kind: 'device-definition', spec };
}
