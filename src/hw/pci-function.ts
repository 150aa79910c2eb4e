import type { EventStream } from '../events/stream.js';
import type { EventBody, Initiator } from '../events/event.js';
import type {
  CfgOrigin,
  ConfigSize,
  PciFunctionHw,
  PciFunctionState,
  PciResource,
  PowerState,
} from './api.js';
import type { Clock, DeviceTimer, DeviceTimerTarget } from './clock.js';
import type { ConfigSpace } from './config-space.js';
import type { DeviceBehavior, DeviceContext, ResetKind, RomSpec } from './device.js';
import * as R from './regs.js';
import { clear32 } from './bits32.js';
import type { FunctionTemplate } from './template.js';

/** What a function needs from the machine it sits in. */
export interface FunctionHost {
  readonly events: EventStream;
  readonly clock: Clock;
  /** Drop the root complex's routing cache and window table (decode or BAR addresses may have changed). */
  invalidate(): void;
  /** Drop only the last-hit routing cache (decode may have changed; BAR addresses did not). */
  dropHitCache(): void;
  /** Translate and perform a DMA read for `fn` (bus master already checked). */
  dmaRead(fn: PciFunction, busAddr: number, len: number): Uint8Array | null;
  /** Translate and perform a DMA write for `fn` (bus master already checked). */
  dmaWrite(fn: PciFunction, busAddr: number, data: Uint8Array): boolean;
  /** The upstream memory write of an MSI message; true if it reached the interrupt controller. */
  msiWrite(fn: PciFunction, addr: number, data: number): boolean;
  /** Every function below `bridge`'s secondary bus, recursively. */
  functionsBelow(bridge: PciFunction): readonly PciFunction[];
  /**
   * Zeroed storage of `size` bytes for a function's live config space (the machine carves
   * them out of one buffer); optional, a function allocates its own without it.
   */
  configBytes?(size: number): Uint8Array;
}

/** Reset methods reported in `reset` events. */
export type ResetMethod = 'flr' | 'bus' | 'pm' | 'power-on';

const POWER_NAMES: readonly PowerState[] = ['D0', 'D1', 'D2', 'D3hot'];

function allOnes(size: number): bigint {
  return size >= 8 ? 0xffff_ffff_ffff_ffffn : (1n << BigInt(8 * size)) - 1n;
}

/** Whether the access [offset, end) touches the register [reg, reg + len). */
function hits(offset: number, end: number, reg: number, len: number): boolean {
  return offset < reg + len && reg < end;
}

/** The (empty) MSI-X table and PBA of a function without MSI-X. */
const NO_BYTES = new Uint8Array(0);

/**
 * The bytes of an expansion ROM: the image, padded with the fill byte to the ROM size.
 * Read-only (ROM writes are dropped), so built on the first ROM read and shared by every
 * function with the same ROM spec.
 */
const romImages = new WeakMap<RomSpec, Uint8Array>();
function romBytes(rom: RomSpec): Uint8Array {
  let r = romImages.get(rom);
  if (r === undefined) {
    r = new Uint8Array(rom.size).fill(rom.fill ?? 0xff);
    r.set(rom.image);
    romImages.set(rom, r);
  }
  return r;
}

function fmtName(bus: number, dev: number, fn: number): string {
  return `0000:${bus.toString(16).padStart(2, '0')}:${dev.toString(16).padStart(2, '0')}.${fn.toString(16)}`;
}

/** A BAR window currently programmed in a BAR register (hardware truth). */
export interface BarWindow {
  readonly fn: PciFunction;
  /** 0..5, or 6 for the expansion ROM. */
  readonly bar: number;
  readonly start: number;
  readonly end: number;
}

/**
 * One PCI function: config space with write masks, BAR/ROM decoding state,
 * MSI/MSI-X (including the MSI-X table and PBA inside its BAR), power state,
 * FLR / bus reset / PM soft reset with the not-ready window, bus-master DMA.
 */
/**
 * What a function's behaviour may do to the outside world (built only for functions with
 * a behaviour). An object over its function rather than closures, so that a copy of a
 * whole System (the explorer's snapshots) gives each copied behaviour its own function.
 */
class FunctionContext implements DeviceContext {
  readonly name: string;

  constructor(private readonly fn: PciFunction) {
    this.name = fn.name;
  }

  raiseIrq(vector: number): void {
    this.fn.raiseIrq(vector);
  }

  lowerIrq(vector: number): void {
    this.fn.lowerIrq(vector);
  }

  dmaRead(busAddr: number, len: number): Uint8Array | null {
    return this.fn.dmaRead(busAddr, len);
  }

  dmaWrite(busAddr: number, data: Uint8Array): boolean {
    return this.fn.dmaWrite(busAddr, data);
  }

  log(text: string): void {
    this.fn.deviceLog(text);
  }

  get nowNs(): number {
    return this.fn.clock.nowNs;
  }

  newTimer(name: string, target: DeviceTimerTarget): DeviceTimer {
    return this.fn.clock.deviceTimer(this.name, name, `hw:${this.name}:bar`, target);
  }

  armTimer(timer: DeviceTimer, atNs: number): void {
    this.fn.clock.arm(timer, atNs);
  }
}

export class PciFunction implements PciFunctionHw {
  readonly name: string;
  readonly devfn: number;
  readonly model: string;
  readonly isBridge: boolean;
  readonly isVirtfn: boolean;
  readonly physfn: PciFunctionHw | null = null;
  readonly configSize: 256 | 4096;
  readonly isVga: boolean;
  iommuGroup = -1;
  secondaryBus: number | null = null;
  subordinateBus: number | null = null;
  /** Functions directly on this bridge's secondary bus (bridges only). */
  readonly children: PciFunction[] = [];
  /** The behaviour instance (null for bridges and the host bridge). */
  readonly behavior: DeviceBehavior | null;
  /** Live config space. */
  readonly cs: ConfigSpace;

  /** Memory decode on: ready, D0, command MEM (a VF: the PF's VF MSE, modelled as set). */
  memOn = false;
  /** I/O decode on: ready, D0, command IO. */
  ioOn = false;
  /** May initiate requests: ready, D0, command MASTER. */
  masterOn = false;

  private resetHeld = 0;
  private notReady = false;
  private readyToken = 0;
  private readonly fwResources: (PciResource | null)[] = [null, null, null, null, null, null, null];
  private readonly msixTable: Uint8Array;
  private readonly msixPba: Uint8Array;
  private readonly romSpec: RomSpec | null;

  constructor(
    private readonly host: FunctionHost,
    readonly tpl: FunctionTemplate,
    readonly bus: number,
    readonly dev: number,
    readonly fn: number,
    readonly upstream: PciFunction | null,
  ) {
    this.name = fmtName(bus, dev, fn);
    this.devfn = (dev << 3) | fn;
    this.model = tpl.model;
    this.isBridge = tpl.isBridge;
    this.isVirtfn = tpl.virtfn;
    this.configSize = tpl.cs.size;
    this.isVga = tpl.classCode >>> 8 === 0x0300;
    this.cs = tpl.cs.instance(host.configBytes?.(tpl.cs.size));
    const nvec = tpl.msix?.vectors ?? 0;
    // without MSI-X both stay empty and are never written: one shared empty array
    this.msixTable = nvec === 0 ? NO_BYTES : new Uint8Array(16 * nvec);
    this.msixPba = nvec === 0 ? NO_BYTES : new Uint8Array(8 * Math.ceil(nvec / 64));
    this.resetMsix();
    this.romSpec = tpl.rom;
    this.behavior = tpl.behavior === null ? null : tpl.behavior(new FunctionContext(this));
    this.refreshDecode();
  }

  /** The machine's virtual clock (device timers: DeviceContext.newTimer). */
  get clock(): Clock {
    return this.host.clock;
  }

  /** The behaviour's log line, as a `note` event (DeviceContext.log). */
  deviceLog(text: string): void {
    this.host.events.emit({ kind: 'note', text: `${this.name}: ${text}` });
  }

  // ---------------------------------------------------------------- state

  /** Not in reset and not inside a not-ready window. */
  get ready(): boolean {
    return this.resetHeld === 0 && !this.notReady;
  }

  get powerState(): PowerState {
    if (this.tpl.pmOff === 0) return 'D0';
    return POWER_NAMES[this.cs.r16(this.tpl.pmOff + R.PCI_PM_CTRL) & 3] ?? 'D0';
  }

  get command(): number {
    return this.cs.r16(R.PCI_COMMAND);
  }

  state(): PciFunctionState {
    return {
      command: this.command,
      powerState: this.powerState,
      inReset: !this.ready,
      memDecode: this.memOn,
      ioDecode: this.ioOn,
      busMaster: this.masterOn,
    };
  }

  private refreshDecode(): void {
    const ok = this.ready && this.powerState === 'D0';
    const cmd = this.command;
    this.memOn = ok && (this.isVirtfn || (cmd & R.PCI_COMMAND_MEMORY) !== 0);
    this.ioOn = ok && (cmd & R.PCI_COMMAND_IO) !== 0;
    this.masterOn = ok && (cmd & R.PCI_COMMAND_MASTER) !== 0;
  }

  resource(index: number): PciResource | null {
    return this.fwResources[index] ?? null;
  }

  /**
   * Firmware: set `bits` in the command register by a config cycle (only the writable
   * bits take: a VF's MEM stays 0), and `bctl` in a bridge's Bridge Control; no events.
   */
  firmwareEnable(bits: number, bctl: number): void {
    this.cs.write(R.PCI_COMMAND, 2, this.command | bits);
    if (this.isBridge && bctl !== 0) this.cs.write(R.PCI_BRIDGE_CONTROL, 2, this.cs.r16(R.PCI_BRIDGE_CONTROL) | bctl);
    this.refreshDecode();
  }

  /** Firmware: record the assignment and program the BAR register (no events). */
  firmwareAssign(res: PciResource): void {
    this.fwResources[res.index] = res;
    if (res.index === 6) {
      this.cs.set32(R.PCI_ROM_ADDRESS, res.start >>> 0);
      return;
    }
    const reg = R.PCI_BASE_ADDRESS_0 + 4 * res.index;
    const flags = this.cs.r32(reg) & (res.kind === 'io' ? 0x3 : 0xf);
    const lo = res.start % 2 ** 32;
    this.cs.set32(reg, (lo | flags) >>> 0);
    if (res.mem64) this.cs.set32(reg + 4, Math.floor(res.start / 2 ** 32));
  }

  /** Current BAR register ranges (non-zero bases only), for the root complex. */
  windows(mem: BarWindow[], io: BarWindow[]): void {
    const bars = this.tpl.bars;
    for (let i = 0; i < 6; i++) {
      const b = bars[i];
      if (b === undefined) continue;
      const reg = R.PCI_BASE_ADDRESS_0 + 4 * i;
      if (b.kind === 'io') {
        const base = (this.cs.r32(reg) & 0xfffffffc) >>> 0;
        if (base !== 0) io.push({ fn: this, bar: i, start: base, end: base + b.size });
      } else {
        const lo = (this.cs.r32(reg) & 0xfffffff0) >>> 0;
        const hi = b.mem64 ? this.cs.r32(reg + 4) : 0;
        const base = hi * 2 ** 32 + lo;
        if (base !== 0) mem.push({ fn: this, bar: i, start: base, end: base + b.size });
      }
    }
    if (this.tpl.rom !== null) {
      const base = (this.cs.r32(R.PCI_ROM_ADDRESS) & 0xfffff800) >>> 0;
      if (base !== 0) mem.push({ fn: this, bar: 6, start: base, end: base + this.tpl.rom.size });
    }
  }

  /** Whether a claimed-by-address memory window decodes now. */
  decodesMem(bar: number): boolean {
    if (!this.memOn) return false;
    return bar !== 6 || (this.cs.r32(R.PCI_ROM_ADDRESS) & R.PCI_ROM_ADDRESS_ENABLE) !== 0;
  }

  // ---------------------------------------------------------------- config

  cfgRead(offset: number, size: ConfigSize, origin: CfgOrigin = 'kernel'): number {
    let value: number;
    if (!this.ready || offset < 0 || offset + size > this.configSize) {
      value = size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
    } else {
      value = this.cs.read(offset, size);
    }
    const ev = this.host.events;
    // seq and tid are set by emit; declaring them last here (their place in every event)
    // spares the event a second allocation for the two added properties
    if (ev.active) ev.emit({ kind: 'cfg.read', dev: this.name, offset, size, value, origin, seq: 0, tid: 0 } as EventBody);
    else ev.skipCounted(ev.hot.cfgRead);
    return value;
  }

  cfgWrite(offset: number, size: ConfigSize, value: number, origin: CfgOrigin = 'kernel'): void {
    const mask = size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
    value = (value & mask) >>> 0;
    const ev = this.host.events;
    if (ev.active) ev.emit({ kind: 'cfg.write', dev: this.name, offset, size, value, origin, seq: 0, tid: 0 } as EventBody); // see cfgRead
    else ev.skipCounted(ev.hot.cfgWrite);
    if (!this.ready || offset < 0 || offset + size > this.configSize) return;
    const end = offset + size;
    const t = this.tpl;
    const oldPm = t.pmOff !== 0 ? this.cs.r16(t.pmOff + R.PCI_PM_CTRL) : 0;
    const oldBctl = this.isBridge ? this.cs.r16(R.PCI_BRIDGE_CONTROL) : 0;
    const oldMsiMask = t.msiOff !== 0 && this.msiMaskOff() !== 0 ? this.cs.r32(this.msiMaskOff()) : 0;

    this.cs.write(offset, size, value);

    if (hits(offset, end, R.PCI_COMMAND, 2)) this.refreshDecode();
    if (t.msiOff !== 0 && hits(offset, end, t.msiOff + R.PCI_MSI_FLAGS, 2)) this.clampMme();
    if (t.msiOff !== 0 && this.msiMaskOff() !== 0 && hits(offset, end, this.msiMaskOff(), 4)) this.msiUnmasked(oldMsiMask);
    if (t.msixOff !== 0 && hits(offset, end, t.msixOff + R.PCI_MSIX_FLAGS, 2)) this.msixDeliverPending();
    if (this.isBridge && hits(offset, end, R.PCI_BRIDGE_CONTROL, 2)) {
      const was = (oldBctl & R.PCI_BRIDGE_CTL_BUS_RESET) !== 0;
      const now = (this.cs.r16(R.PCI_BRIDGE_CONTROL) & R.PCI_BRIDGE_CTL_BUS_RESET) !== 0;
      if (!was && now) {
        // Hold every function below in reset first, then reset the newly held ones, so a
        // nested bridge whose own SBR gets cleared by its reset cannot release them early.
        const newly = this.host.functionsBelow(this).filter((f) => f.busResetHold());
        for (const f of newly) f.busResetEnter();
      }
      if (was && !now) for (const f of this.host.functionsBelow(this)) f.busResetDeassert();
    }
    if (t.pmOff !== 0 && hits(offset, end, t.pmOff + R.PCI_PM_CTRL, 2)) this.pmWritten(oldPm);
    if (t.pcieOff !== 0 && hits(offset, end, t.pcieOff + R.PCI_EXP_DEVCTL, 2)) {
      const dc = t.pcieOff + R.PCI_EXP_DEVCTL;
      const v = this.cs.r16(dc);
      if ((v & R.PCI_EXP_DEVCTL_BCR_FLR) !== 0) {
        this.cs.set16(dc, v & ~R.PCI_EXP_DEVCTL_BCR_FLR);
        if (t.flr) this.functionLevelReset();
      }
    }
    // The window table depends only on the BAR and ROM address registers; any other
    // write may change decoding, which the last-hit cache does not re-check.
    if (hits(offset, end, R.PCI_BASE_ADDRESS_0, 0x18) || hits(offset, end, R.PCI_ROM_ADDRESS, 4)) this.host.invalidate();
    else this.host.dropHitCache();
  }

  private clampMme(): void {
    const off = this.tpl.msiOff + R.PCI_MSI_FLAGS;
    const v = this.cs.r16(off);
    const mmc = (v & R.PCI_MSI_FLAGS_QMASK) >> 1;
    const mme = (v & R.PCI_MSI_FLAGS_QSIZE) >> 4;
    if (mme > mmc) this.cs.set16(off, (v & ~R.PCI_MSI_FLAGS_QSIZE) | (mmc << 4));
  }

  private pmWritten(oldPm: number): void {
    const off = this.tpl.pmOff + R.PCI_PM_CTRL;
    const cur = this.cs.r16(off);
    const from = oldPm & 3;
    let to = cur & 3;
    const pmc = this.cs.r16(this.tpl.pmOff + R.PCI_PM_PMC);
    if ((to === 1 && (pmc & R.PCI_PM_CAP_D1) === 0) || (to === 2 && (pmc & R.PCI_PM_CAP_D2) === 0)) {
      // An unsupported state is ignored: the PowerState field keeps its value.
      this.cs.set16(off, (cur & ~3) | from);
      to = from;
    }
    if (to === from) return;
    const fromName = POWER_NAMES[from] ?? 'D0';
    const toName = POWER_NAMES[to] ?? 'D0';
    this.host.events.emit({ kind: 'power', dev: this.name, from: fromName, to: toName });
    if (from === 3 && to === 0 && !this.tpl.noSoftReset) {
      // D3hot -> D0 without No_Soft_Reset: internal reset to the power-on state.
      this.host.events.emit({ kind: 'reset', dev: this.name, method: 'pm', phase: 'start' });
      this.loadPowerOnState('pm');
      this.host.events.emit({ kind: 'reset', dev: this.name, method: 'pm', phase: 'done' });
    }
    this.refreshDecode();
  }

  // ---------------------------------------------------------------- resets

  private resetMsix(): void {
    this.msixTable.fill(0);
    for (let i = 0; i < this.msixTable.length; i += 16) this.msixTable[i + 12] = R.PCI_MSIX_ENTRY_CTRL_MASKBIT;
    this.msixPba.fill(0);
  }

  /** Return to the power-on state (config template, MSI-X table masked, device reset). */
  private loadPowerOnState(kind: ResetKind): void {
    const wasSbr = this.isBridge && (this.cs.r16(R.PCI_BRIDGE_CONTROL) & R.PCI_BRIDGE_CTL_BUS_RESET) !== 0;
    this.cs.loadFrom(this.tpl.cs);
    this.resetMsix();
    if (wasSbr) for (const f of this.host.functionsBelow(this)) f.busResetDeassert();
    this.behavior?.reset(kind);
    this.refreshDecode();
    this.host.invalidate();
  }

  private startNotReady(method: ResetMethod): void {
    this.notReady = true;
    const token = ++this.readyToken;
    this.refreshDecode();
    this.host.clock.at(this.host.clock.nowNs + R.RESET_NOT_READY_NS, () => {
      if (token !== this.readyToken) return;
      this.notReady = false;
      this.refreshDecode();
      this.host.invalidate();
      this.host.events.emit({ kind: 'reset', dev: this.name, method, phase: 'done' });
    });
  }

  /** Function Level Reset (PCIe Initiate FLR): power-on state, then not ready for 100 ms. */
  functionLevelReset(): void {
    this.host.events.emit({ kind: 'reset', dev: this.name, method: 'flr', phase: 'start' });
    this.loadPowerOnState('flr');
    if (this.resetHeld > 0) return;
    this.startNotReady('flr');
  }

  /** An upstream bridge asserted Secondary Bus Reset: count the hold; true if newly held. */
  busResetHold(): boolean {
    this.resetHeld++;
    if (this.resetHeld > 1) return false;
    this.readyToken++;
    this.notReady = false;
    this.refreshDecode();
    return true;
  }

  /** Enter the bus reset after busResetHold returned true: back to the power-on state. */
  busResetEnter(): void {
    this.host.events.emit({ kind: 'reset', dev: this.name, method: 'bus', phase: 'start' });
    this.loadPowerOnState('bus');
  }

  /** An upstream bridge deasserted Secondary Bus Reset. */
  busResetDeassert(): void {
    if (this.resetHeld === 0) return;
    this.resetHeld--;
    if (this.resetHeld > 0) return;
    this.startNotReady('bus');
  }

  // ---------------------------------------------------------------- BAR accesses

  /** A memory access the root complex routed to this function (it decodes `bar`). */
  memAccess(bar: number, off: number, size: number, write: boolean, value: bigint, initiator: Initiator, requester: string | null): bigint {
    if (bar === 6) {
      if (write) return 0n;
      const rom = this.romSpec === null ? null : romBytes(this.romSpec);
      let v = 0n;
      if (rom !== null) for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(rom[off + i] ?? 0xff);
      this.host.events.emit({ kind: 'rom.read', dev: this.name, offset: off, size });
      return v;
    }
    if (write) value = BigInt.asUintN(8 * size, value);
    const m = this.tpl.msix;
    let result: bigint;
    if (m !== null && bar === m.tableBar && off >= m.tableOffset && off < m.tableOffset + this.msixTable.length) {
      result = this.msixTableAccess(off - m.tableOffset, size, write, value);
    } else if (m !== null && bar === m.pbaBar && off >= m.pbaOffset && off < m.pbaOffset + this.msixPba.length) {
      result = write ? 0n : this.bytesRead(this.msixPba, off - m.pbaOffset, size);
    } else if (this.behavior === null) {
      result = write ? 0n : allOnes(size);
    } else if (write) {
      this.behavior.mmioWrite(bar, off, size, value);
      result = 0n;
    } else {
      result = BigInt.asUintN(8 * size, this.behavior.mmioRead(bar, off, size));
    }
    const ev = this.host.events;
    if (ev.active) {
      ev.emit({
        kind: 'mmio',
        dev: this.name,
        bar,
        offset: off,
        size,
        value: write ? value : result,
        dir: write ? 'w' : 'r',
        initiator,
        requester,
      });
    } else {
      ev.skipCounted(ev.hot.mmio);
    }
    return result;
  }

  /** An I/O port access routed to this function's I/O BAR. */
  ioAccess(bar: number, off: number, size: number, write: boolean, value: number): number {
    let result = 0;
    const b = this.behavior;
    if (write) {
      value = size === 4 ? value >>> 0 : value & ((1 << (8 * size)) - 1);
      b?.ioWrite?.(bar, off, size, value);
    } else {
      const ones = size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
      result = b?.ioRead === undefined ? ones : (b.ioRead(bar, off, size) & ones) >>> 0;
    }
    this.host.events.emit({ kind: 'pio', dev: this.name, bar, offset: off, size, value: BigInt(write ? value : result), dir: write ? 'w' : 'r' });
    return result;
  }

  private bytesRead(buf: Uint8Array, off: number, size: number): bigint {
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[off + i] ?? 0);
    return v;
  }

  private msixTableAccess(off: number, size: number, write: boolean, value: bigint): bigint {
    if (!write) return this.bytesRead(this.msixTable, off, size);
    const touched = new Set<number>();
    for (let i = 0; i < size; i++) {
      const o = off + i;
      if (o >= this.msixTable.length) break;
      let b = Number((value >> BigInt(8 * i)) & 0xffn);
      const field = o % 16;
      if (field >= 12) b = field === 12 ? b & R.PCI_MSIX_ENTRY_CTRL_MASKBIT : 0; // vector control: only the mask bit
      if (field < 4 && field === 0) b &= 0xfc; // message address is DWORD aligned
      this.msixTable[o] = b;
      touched.add(Math.floor(o / 16));
    }
    for (const v of touched) this.msixDeliverPendingVector(v);
    return 0n;
  }

  // ---------------------------------------------------------------- interrupts

  private msiMaskOff(): number {
    const off = this.tpl.msiOff;
    if (off === 0) return 0;
    const fl = this.cs.r16(off + R.PCI_MSI_FLAGS);
    if ((fl & R.PCI_MSI_FLAGS_MASKBIT) === 0) return 0;
    return off + ((fl & R.PCI_MSI_FLAGS_64BIT) !== 0 ? R.PCI_MSI_MASK_64 : R.PCI_MSI_MASK_32);
  }

  /** MSI-X entry `v`: {addr, data, masked}. */
  msixEntry(v: number): { addr: number; data: number; masked: boolean } {
    const b = v * 16;
    const t = this.msixTable;
    const u32 = (o: number): number => ((t[o] ?? 0) | ((t[o + 1] ?? 0) << 8) | ((t[o + 2] ?? 0) << 16) | ((t[o + 3] ?? 0) << 24)) >>> 0;
    return { addr: u32(b + 4) * 2 ** 32 + u32(b), data: u32(b + 8), masked: (u32(b + 12) & 1) !== 0 };
  }

  /** Whether the MSI-X Pending Bit of vector `v` is set. */
  msixPending(v: number): boolean {
    return ((this.msixPba[v >> 3] ?? 0) & (1 << (v & 7))) !== 0;
  }

  private setMsixPending(v: number, on: boolean): void {
    const i = v >> 3;
    const cur = this.msixPba[i] ?? 0;
    this.msixPba[i] = on ? cur | (1 << (v & 7)) : cur & ~(1 << (v & 7));
  }

  private msixCtl(): number {
    return this.tpl.msixOff === 0 ? 0 : this.cs.r16(this.tpl.msixOff + R.PCI_MSIX_FLAGS);
  }

  private msixDeliverPendingVector(v: number): void {
    const ctl = this.msixCtl();
    if ((ctl & R.PCI_MSIX_FLAGS_ENABLE) === 0 || (ctl & R.PCI_MSIX_FLAGS_MASKALL) !== 0) return;
    if (!this.msixPending(v)) return;
    const e = this.msixEntry(v);
    if (e.masked) return;
    this.setMsixPending(v, false);
    this.sendMsi(v, e.addr, e.data);
  }

  private msixDeliverPending(): void {
    const n = this.tpl.msix?.vectors ?? 0;
    for (let v = 0; v < n; v++) this.msixDeliverPendingVector(v);
  }

  private msiUnmasked(oldMask: number): void {
    const mo = this.msiMaskOff();
    const now = this.cs.r32(mo);
    const cleared = clear32(oldMask, now);
    if (cleared === 0) return;
    const po = mo + 4;
    const pend = this.cs.r32(po);
    for (let v = 0; v < 32; v++) {
      const bit = 2 ** v;
      if ((cleared & bit) !== 0 && (pend & bit) !== 0) {
        this.cs.set32(po, (this.cs.r32(po) & ~bit) >>> 0);
        this.msiSend(v);
      }
    }
  }

  private msiSend(vector: number): void {
    const off = this.tpl.msiOff;
    const fl = this.cs.r16(off + R.PCI_MSI_FLAGS);
    const a64 = (fl & R.PCI_MSI_FLAGS_64BIT) !== 0;
    const lo = this.cs.r32(off + R.PCI_MSI_ADDRESS_LO);
    const hi = a64 ? this.cs.r32(off + R.PCI_MSI_ADDRESS_HI) : 0;
    const data = this.cs.r16(off + (a64 ? R.PCI_MSI_DATA_64 : R.PCI_MSI_DATA_32));
    const nvec = 1 << ((fl & R.PCI_MSI_FLAGS_QSIZE) >> 4);
    this.sendMsi(vector, hi * 2 ** 32 + lo, ((data & ~(nvec - 1)) | vector) & 0xffff);
  }

  private sendMsi(vector: number, addr: number, data: number): void {
    if (!this.masterOn) {
      this.host.events.emit({ kind: 'msi', dev: this.name, vector, addr, data, delivered: false });
      return;
    }
    const delivered = this.host.msiWrite(this, addr, data);
    this.host.events.emit({ kind: 'msi', dev: this.name, vector, addr, data, delivered });
  }

  /**
   * Device behaviour signals interrupt `vector`: MSI-X if enabled (masked → Pending
   * Bit), else MSI if enabled (vector < 2^MME), else INTx (status Interrupt bit).
   */
  raiseIrq(vector: number): void {
    if (!this.ready || this.powerState !== 'D0') return;
    const t = this.tpl;
    const mctl = this.msixCtl();
    if (t.msix !== null && (mctl & R.PCI_MSIX_FLAGS_ENABLE) !== 0) {
      if (vector < 0 || vector >= t.msix.vectors) return;
      const e = this.msixEntry(vector);
      if ((mctl & R.PCI_MSIX_FLAGS_MASKALL) !== 0 || e.masked) {
        this.setMsixPending(vector, true);
        this.host.events.emit({ kind: 'msi', dev: this.name, vector, addr: e.addr, data: e.data, delivered: false });
        return;
      }
      this.sendMsi(vector, e.addr, e.data);
      return;
    }
    if (t.msiOff !== 0 && (this.cs.r16(t.msiOff + R.PCI_MSI_FLAGS) & R.PCI_MSI_FLAGS_ENABLE) !== 0) {
      const fl = this.cs.r16(t.msiOff + R.PCI_MSI_FLAGS);
      const nvec = 1 << ((fl & R.PCI_MSI_FLAGS_QSIZE) >> 4);
      if (vector < 0 || vector >= nvec) return;
      const mo = this.msiMaskOff();
      if (mo !== 0 && (this.cs.r32(mo) & 2 ** vector) !== 0) {
        this.cs.set32(mo + 4, (this.cs.r32(mo + 4) | 2 ** vector) >>> 0);
        this.host.events.emit({ kind: 'msi', dev: this.name, vector, addr: 0, data: 0, delivered: false });
        return;
      }
      this.msiSend(vector);
      return;
    }
    if (this.cs.r8(R.PCI_INTERRUPT_PIN) !== 0) {
      this.cs.set16(R.PCI_STATUS, this.cs.r16(R.PCI_STATUS) | R.PCI_STATUS_INTERRUPT);
    }
  }

  /** Deassert INTx: clear the status Interrupt bit. */
  lowerIrq(_vector: number): void {
    if (!this.ready) return;
    const t = this.tpl;
    if (t.msix !== null && (this.msixCtl() & R.PCI_MSIX_FLAGS_ENABLE) !== 0) return;
    this.cs.set16(R.PCI_STATUS, this.cs.r16(R.PCI_STATUS) & ~R.PCI_STATUS_INTERRUPT);
  }

  /** Record an Unsupported Request this function received (PCIe DevSta URD). */
  noteUnsupportedRequest(): void {
    if (!this.ready || this.tpl.pcieOff === 0) return;
    const o = this.tpl.pcieOff + R.PCI_EXP_DEVSTA;
    this.cs.set16(o, this.cs.r16(o) | R.PCI_EXP_DEVSTA_URD);
  }

  // ---------------------------------------------------------------- DMA

  dmaRead(busAddr: number, len: number): Uint8Array | null {
    if (!this.masterOn) {
      this.host.events.emit({ kind: 'dma', dev: this.name, iova: busAddr, len, dir: 'r', target: 'none', result: 'master-disabled' });
      return null;
    }
    return this.host.dmaRead(this, busAddr, len);
  }

  dmaWrite(busAddr: number, data: Uint8Array): boolean {
    if (!this.masterOn) {
      this.host.events.emit({ kind: 'dma', dev: this.name, iova: busAddr, len: data.length, dir: 'w', target: 'none', result: 'master-disabled' });
      return false;
    }
    return this.host.dmaWrite(this, busAddr, data);
  }

  /** All-ones of an access size (a UR completion's data). */
  static allOnes(size: number): bigint {
    return allOnes(size);
  }
}
