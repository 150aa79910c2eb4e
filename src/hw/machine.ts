/**
 * The simulated machine: RAM, the root complex (address routing, Unsupported
 * Requests and the platform error policy), the PCI topology enumerated and
 * assigned by "firmware", the IOMMU, the clock and MSI delivery.
 */
import type { Initiator } from '../events/event.js';
import { EventStream } from '../events/stream.js';
import {
  PAGE_SIZE,
  type AccessSize,
  type CfgOrigin,
  type ConfigSize,
  type HwMachine,
  type MsiHandler,
  type MsiSink,
  type PciFunctionHw,
  type PciResource,
  type PlatformHw,
  type UnassignedValue,
  type UrPolicy,
} from './api.js';
import { Clock } from './clock.js';
import type { DeviceDefinition } from './device.js';
import { EDU_DEVICE } from './devices/edu.js';
import { NIC_DEVICE } from './devices/nic.js';
import { assignIommuGroups } from './groups.js';
import { Iommu } from './iommu.js';
import { PciFunction, type BarWindow, type FunctionHost } from './pci-function.js';
import { Ram } from './ram.js';
import * as R from './regs.js';
import { bridgeTemplate, endpointTemplate, hostBridgeTemplate, type BridgeKind, type FunctionTemplate } from './template.js';
import { pushAll } from '../util/array.js';

// ------------------------------------------------------------------ topology spec

/** An endpoint function built from a device definition. */
export interface EndpointFunctionSpec {
  /** Function number 0..7 (default: its index in the slot). */
  readonly fn?: number;
  readonly device: DeviceDefinition;
  /**
   * An SR-IOV virtual function (its PF is not modelled; VF Enable and VF MSE are taken as
   * set): command MEM is hardwired to 0 and memory decode does not depend on it.
   */
  readonly virtfn?: boolean;
}

/** A bridge function with the slots of its secondary bus. */
export interface BridgeFunctionSpec {
  readonly fn?: number;
  /**
   * 'root-port': PCIe root port (ACS-capable unless `acs: false`);
   * 'pcie-pci-bridge': PCIe-to-PCI bridge; 'pci-bridge': conventional PCI-to-PCI bridge.
   */
  readonly bridge: BridgeKind;
  readonly acs?: boolean;
  readonly slots: readonly SlotSpec[];
}

export type FunctionSpec = EndpointFunctionSpec | BridgeFunctionSpec;

/** A device (slot) number on a bus with its functions; more than one function makes it multi-function. */
export interface SlotSpec {
  /** 0..31 */
  readonly dev: number;
  readonly functions: readonly FunctionSpec[];
}

/**
 * A machine description.
 *
 * - RAM is `ramSize` bytes at physical address 0 (default 256 MiB).
 * - `urPolicy`: what an Unsupported Request does: 'log' (all-ones / dropped write,
 *   `platform.error` event) or 'fatal' (same, plus the machine halts: firmware-first).
 * - `slots`: the devices on the root bus (bus 0). A host bridge occupies 00:00.0
 *   unless `hostBridge` is false. Bus numbers of bridges are assigned by depth-first
 *   enumeration in (dev, fn) order.
 *
 * Build slots with the helpers: `endpoint(dev, DEF)`, `multiFunction(dev, [DEF, ...])`,
 * `rootPort(dev, [slots...], {acs})`, `pciBridge(dev, [slots...])`,
 * `pciePciBridge(dev, [slots...])`. Example (the default machine):
 *
 * ```ts
 * createMachine({ slots: [
 *   rootPort(1, [endpoint(0, EDU_DEVICE)]),
 *   rootPort(2, [endpoint(0, EDU_DEVICE)]),
 *   rootPort(3, [endpoint(0, NIC_DEVICE)]),
 * ]});
 * ```
 */
export interface MachineSpec {
  readonly ramSize?: number;
  /**
   * What the firmware leaves in the command registers: 'seabios' (default; SeaBIOS and
   * typical PC firmware: IO|MEM|SERR on every function) or 'none' (all 0, as after a
   * power-on reset with no firmware).
   */
  readonly firmware?: 'seabios' | 'none';
  readonly urPolicy?: UrPolicy;
  /**
   * What a CPU read of an address nothing decodes returns (the Unsupported Request is
   * reported either way): 'ones' (default; PCIe hardware) or 'zeros' (QEMU's
   * unassigned-access handler). Writes are dropped either way.
   */
  readonly unassigned?: UnassignedValue;
  /** DMA remapping address width in bits (default 48; QEMU 7.2's intel-iommu: 39). */
  readonly iommuAddressWidth?: number;
  readonly hostBridge?: boolean;
  readonly slots: readonly SlotSpec[];
}

/** PCI_BRIDGE_CTL_SERR (include/uapi/linux/pci_regs.h): forward SERR# from the secondary side. */
const PCI_BRIDGE_CTL_SERR = 0x02;

/** A single-function endpoint slot. */
export function endpoint(dev: number, device: DeviceDefinition, opts: { virtfn?: boolean } = {}): SlotSpec {
  return { dev, functions: [{ fn: 0, device, ...(opts.virtfn === true ? { virtfn: true } : {}) }] };
}

/** A multi-function endpoint slot: function i is `devices[i]`. */
export function multiFunction(dev: number, devices: readonly DeviceDefinition[]): SlotSpec {
  return { dev, functions: devices.map((device, fn) => ({ fn, device })) };
}

/** A PCIe root port slot with its secondary bus. */
export function rootPort(dev: number, slots: readonly SlotSpec[], opts: { acs?: boolean } = {}): SlotSpec {
  return { dev, functions: [{ fn: 0, bridge: 'root-port', acs: opts.acs ?? true, slots }] };
}

/** A conventional PCI-to-PCI bridge slot with its secondary bus. */
export function pciBridge(dev: number, slots: readonly SlotSpec[]): SlotSpec {
  return { dev, functions: [{ fn: 0, bridge: 'pci-bridge', slots }] };
}

/** A PCIe-to-PCI bridge slot with its (conventional) secondary bus. */
export function pciePciBridge(dev: number, slots: readonly SlotSpec[]): SlotSpec {
  return { dev, functions: [{ fn: 0, bridge: 'pcie-pci-bridge', slots }] };
}

export const DEFAULT_RAM_SIZE = 256 * 1024 * 1024;

/** Root ports 00:01.0/00:02.0/00:03.0 with edu at 01:00.0, edu at 02:00.0 and nic at 03:00.0. */
export function defaultMachineSpec(): MachineSpec {
  return {
    ramSize: DEFAULT_RAM_SIZE,
    urPolicy: 'log',
    slots: [
      rootPort(1, [endpoint(0, EDU_DEVICE)]),
      rootPort(2, [endpoint(0, EDU_DEVICE)]),
      rootPort(3, [endpoint(0, NIC_DEVICE)]),
    ],
  };
}

/** An IOMMU group and its functions. */
export interface IommuGroupInfo {
  readonly id: number;
  readonly functions: readonly PciFunctionHw[];
}

/**
 * A machine spec the hardware cannot hold: more than 256 buses, or BARs that do not fit
 * the address windows. `at` is the function spec that does not fit (a bridge, an endpoint).
 */
export class MachineSpecError extends Error {
  constructor(
    message: string,
    readonly at: FunctionSpec | null,
  ) {
    super(message);
    this.name = 'MachineSpecError';
  }
}

function isBridgeSpec(f: FunctionSpec): f is BridgeFunctionSpec {
  return 'bridge' in f;
}

class Platform implements PlatformHw {
  haltReason: string | null = null;
  urCount = 0;
  constructor(
    readonly urPolicy: UrPolicy,
    readonly unassigned: UnassignedValue,
  ) {}
}

/** Create a machine from a spec (firmware enumeration and resource assignment included). */
export function createMachine(spec: MachineSpec = defaultMachineSpec(), events: EventStream = new EventStream()): Machine {
  return new Machine(spec, events);
}

const NO_FN: PciFunction | null = null;

const MMIO32_FULL = `the 32-bit MMIO window (0x${R.MMIO32_BASE.toString(16)}-0x${R.MMIO32_LIMIT.toString(16)}) is exhausted`;

/** Size of further buffers config spaces are carved from (when configBytesOf was short). */
const CFG_SLAB_SIZE = 16 * 1024;

/**
 * The config-space bytes of every function a spec places (host bridge, bridges,
 * endpoints), from the same templates enumeration uses; 0 for a spec enumeration will
 * reject (it then reports the problem itself).
 */
function configBytesOf(spec: MachineSpec): number {
  let total = 0;
  const walk = (slots: readonly SlotSpec[], onRootBus: boolean): void => {
    for (const s of slots) {
      const mf = s.functions.length > 1;
      for (const f of s.functions) {
        if (isBridgeSpec(f)) {
          total += cachedBridgeTemplate(f.bridge, f.acs !== false, mf, s.dev).cs.size;
          walk(f.slots, false);
        } else {
          total += cachedEndpointTemplate(f.device, mf, onRootBus, f.virtfn === true).cs.size;
        }
      }
    }
  };
  try {
    if (spec.hostBridge !== false) total += cachedHostBridgeTemplate().cs.size;
    walk(spec.slots, true);
  } catch {
    return 0;
  }
  return total;
}

/*
 * Templates are immutable once built (a function copies the power-on bytes and shares
 * the write masks, see ConfigSpace.instance), and depend only on their arguments, so
 * every machine reuses them: building one is most of the cost of creating a machine.
 */
let hostBridgeTpl: FunctionTemplate | null = null;
const bridgeTpls = new Map<number, FunctionTemplate>();
const BRIDGE_KINDS: readonly BridgeKind[] = ['root-port', 'pci-bridge', 'pcie-pci-bridge'];
const endpointTpls = new WeakMap<DeviceDefinition, Map<number, FunctionTemplate>>();

function cachedHostBridgeTemplate(): FunctionTemplate {
  if (hostBridgeTpl === null) hostBridgeTpl = hostBridgeTemplate();
  return hostBridgeTpl;
}

function cachedBridgeTemplate(kind: BridgeKind, acs: boolean, multiFunction: boolean, portNumber: number): FunctionTemplate {
  // kind, ACS, multi-function and the port number (0..31, or anything else: not cached)
  if (!Number.isInteger(portNumber) || portNumber < 0 || portNumber > 31) return bridgeTemplate(kind, acs, multiFunction, portNumber);
  const key = portNumber | (multiFunction ? 32 : 0) | (acs ? 64 : 0) | (BRIDGE_KINDS.indexOf(kind) << 7);
  let t = bridgeTpls.get(key);
  if (t === undefined) {
    t = bridgeTemplate(kind, acs, multiFunction, portNumber);
    bridgeTpls.set(key, t);
  }
  return t;
}

function cachedEndpointTemplate(def: DeviceDefinition, multiFunction: boolean, onRootBus: boolean, virtfn: boolean): FunctionTemplate {
  let byFlags = endpointTpls.get(def);
  if (byFlags === undefined) {
    byFlags = new Map();
    endpointTpls.set(def, byFlags);
  }
  const key = (multiFunction ? 1 : 0) | (onRootBus ? 2 : 0) | (virtfn ? 4 : 0);
  let t = byFlags.get(key);
  if (t === undefined) {
    t = endpointTemplate(def, multiFunction, onRootBus, virtfn);
    byFlags.set(key, t);
  }
  return t;
}

/** The whole machine (implements the kernel-facing HwMachine contract). */
export class Machine implements HwMachine, FunctionHost {
  readonly ram: Ram;
  readonly iommu: Iommu;
  readonly clock = new Clock();
  readonly platform: Platform;
  readonly ramSize: number;
  private readonly fns: PciFunction[] = [];
  private readonly byName = new Map<string, PciFunction>();
  private readonly addOrder: PciFunction[] = [];
  private msiSink: MsiSink | null = null;
  private groupCount = 0;
  /** The buffer functions' config spaces are carved from (configBytes), and how much of it is used. */
  private cfgSlab: ArrayBuffer | null = null;
  private cfgSlabUsed = 0;
  /** Config-space bytes of every function of the spec (0 if unknown). */
  private cfgBytesNeeded = 0;

  // routing state (rebuilt lazily after any config write / reset)
  private dirty = true;
  private memWins: BarWindow[] = [];
  private ioWins: BarWindow[] = [];
  private fwMem: { start: number; end: number; fn: PciFunction }[] = [];
  private fwIo: { start: number; end: number; fn: PciFunction }[] = [];
  // last-hit cache for memory accesses
  private hitStart = 0;
  private hitEnd = 0;
  private hitFn: PciFunction | null = NO_FN;
  private hitBar = 0;

  constructor(
    spec: MachineSpec,
    readonly events: EventStream,
  ) {
    this.ramSize = spec.ramSize ?? DEFAULT_RAM_SIZE;
    if (!(this.ramSize > 0) || this.ramSize % PAGE_SIZE !== 0 || this.ramSize > R.MMIO32_BASE) {
      throw new Error('ramSize must be a positive multiple of 4 KiB below the 32-bit MMIO window');
    }
    this.ram = new Ram(this.ramSize);
    const aw = spec.iommuAddressWidth ?? 48;
    if (!Number.isInteger(aw) || aw < 32 || aw > 52) throw new Error('iommuAddressWidth must be an integer from 32 to 52');
    this.iommu = new Iommu(events, aw);
    this.platform = new Platform(spec.urPolicy ?? 'log', spec.unassigned ?? 'ones');
    this.cfgBytesNeeded = configBytesOf(spec);
    // the spec each function was built from: to say which one does not fit
    const specOf = new Map<PciFunction, FunctionSpec>();
    this.enumerate(spec, specOf);
    this.assignResources(specOf);
    if ((spec.firmware ?? 'seabios') === 'seabios') this.seabiosInitDevices();
    this.groupCount = assignIommuGroups(this.addOrder, this.fns);
    for (const f of this.fns) f.behavior?.reset('power-on');
  }

  // ---------------------------------------------------------------- enumeration

  private enumerate(spec: MachineSpec, specOf: Map<PciFunction, FunctionSpec>): void {
    let busCounter = 0;
    const seen = new Set<string>();
    const placeBus = (bus: number, slots: readonly SlotSpec[], upstream: PciFunction | null, includeHostBridge: boolean): void => {
      const onBus: { fn: PciFunction; sub: BridgeFunctionSpec | null }[] = [];
      const all: { dev: number; fn: number; f: FunctionSpec | null; mf: boolean }[] = [];
      if (includeHostBridge) all.push({ dev: 0, fn: 0, f: null, mf: false });
      for (const s of slots) {
        if (!Number.isInteger(s.dev) || s.dev < 0 || s.dev > 31) throw new Error(`bad device number ${s.dev}`);
        if (s.functions.length === 0) throw new Error(`slot ${s.dev} has no functions`);
        const mf = s.functions.length > 1;
        s.functions.forEach((f, i) => all.push({ dev: s.dev, fn: f.fn ?? i, f, mf }));
      }
      all.sort((a, b) => a.dev - b.dev || a.fn - b.fn);
      for (const e of all) {
        if (e.fn < 0 || e.fn > 7) throw new Error(`bad function number ${e.fn}`);
        const key = `${bus}:${e.dev}.${e.fn}`;
        if (seen.has(key)) throw new Error(`duplicate function ${key}`);
        seen.add(key);
        let tpl: FunctionTemplate;
        let sub: BridgeFunctionSpec | null = null;
        if (e.f === null) tpl = cachedHostBridgeTemplate();
        else if (isBridgeSpec(e.f)) {
          sub = e.f;
          tpl = cachedBridgeTemplate(e.f.bridge, e.f.acs !== false, e.mf, e.dev);
        } else tpl = cachedEndpointTemplate(e.f.device, e.mf, upstream === null, e.f.virtfn === true);
        const fn = new PciFunction(this, tpl, bus, e.dev, e.fn, upstream);
        if (e.f !== null) specOf.set(fn, e.f);
        onBus.push({ fn, sub });
        this.addOrder.push(fn);
        upstream?.children.push(fn);
      }
      for (const { fn, sub } of onBus) {
        if (sub === null) continue;
        const secondary = ++busCounter;
        if (secondary > 255) throw new MachineSpecError('too many buses: this bridge would need bus 256, and PCI bus numbers go up to 255', sub);
        fn.secondaryBus = secondary;
        fn.cs.set8(R.PCI_PRIMARY_BUS, bus);
        fn.cs.set8(R.PCI_SECONDARY_BUS, secondary);
        fn.cs.set8(R.PCI_SUBORDINATE_BUS, 0xff);
        placeBus(secondary, sub.slots, fn, false);
        fn.subordinateBus = busCounter;
        fn.cs.set8(R.PCI_SUBORDINATE_BUS, busCounter);
      }
    };
    placeBus(0, spec.slots, null, spec.hostBridge !== false);
    pushAll(this.fns, this.addOrder);
    this.fns.sort((a, b) => a.bus - b.bus || a.devfn - b.devfn);
    for (const f of this.fns) this.byName.set(f.name, f);
  }

  /**
   * SeaBIOS pci_bios_init_device (src/fw/pciinit.c, SeaBIOS 1.16 as QEMU 7.2 ships it):
   * after assigning the resources, every function gets IO|MEM|SERR set in its command
   * register (whether or not it has I/O BARs), bridges also SERR forwarding in Bridge
   * Control. Bus mastering stays off. Linux leaves these as they are at boot.
   */
  private seabiosInitDevices(): void {
    for (const f of this.fns) f.firmwareEnable(R.PCI_COMMAND_IO | R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_SERR, PCI_BRIDGE_CTL_SERR);
    this.invalidate();
  }

  /** Firmware: naturally aligned addresses for every BAR and ROM; command registers are set by seabiosInitDevices. */
  private assignResources(specOf: ReadonlyMap<PciFunction, FunctionSpec>): void {
    let mem32 = R.MMIO32_BASE;
    let mem64 = R.MMIO64_BASE;
    let io = R.IO_PORT_BASE;
    const align = (a: number, s: number): number => Math.ceil(a / s) * s;
    for (const f of this.fns) {
      const t = f.tpl;
      for (const b of t.bars) {
        if (b === undefined) continue;
        let start: number;
        if (b.kind === 'io') {
          start = align(io, b.size);
          io = start + b.size;
          if (io - 1 > R.IO_PORT_LIMIT) throw new MachineSpecError(`the I/O port window (0x${R.IO_PORT_BASE.toString(16)}-0x${R.IO_PORT_LIMIT.toString(16)}) is exhausted: BAR ${b.index} of ${f.name} (${b.size} ports) does not fit`, specOf.get(f) ?? null);
        } else if (b.mem64) {
          start = align(mem64, Math.max(b.size, PAGE_SIZE));
          mem64 = start + b.size;
        } else {
          start = align(mem32, Math.max(b.size, PAGE_SIZE));
          mem32 = start + b.size;
          if (mem32 - 1 > R.MMIO32_LIMIT) throw new MachineSpecError(`${MMIO32_FULL}: BAR ${b.index} of ${f.name} (0x${b.size.toString(16)} bytes) does not fit`, specOf.get(f) ?? null);
        }
        const res: PciResource = { index: b.index, start, size: b.size, kind: b.kind, mem64: b.mem64, prefetch: b.prefetch };
        f.firmwareAssign(res);
        (b.kind === 'io' ? this.fwIo : this.fwMem).push({ start, end: start + b.size, fn: f });
      }
      if (t.rom !== null) {
        const start = align(mem32, Math.max(t.rom.size, PAGE_SIZE));
        mem32 = start + t.rom.size;
        if (mem32 - 1 > R.MMIO32_LIMIT) throw new MachineSpecError(`${MMIO32_FULL}: the ROM of ${f.name} (0x${t.rom.size.toString(16)} bytes) does not fit`, specOf.get(f) ?? null);
        f.firmwareAssign({ index: 6, start, size: t.rom.size, kind: 'mem', mem64: false, prefetch: false });
        this.fwMem.push({ start, end: start + t.rom.size, fn: f });
      }
    }
    this.invalidate();
  }

  /** FunctionHost.configBytes: config-space storage from a shared buffer (one allocation for several functions). */
  configBytes(size: number): Uint8Array {
    if (this.cfgSlab === null || this.cfgSlabUsed + size > this.cfgSlab.byteLength) {
      // the first buffer holds every function of the spec (configBytesOf), unless that failed
      this.cfgSlab = new ArrayBuffer(Math.max(this.cfgSlab === null ? this.cfgBytesNeeded : CFG_SLAB_SIZE, size));
      this.cfgSlabUsed = 0;
    }
    const b = new Uint8Array(this.cfgSlab, this.cfgSlabUsed, size);
    this.cfgSlabUsed += size;
    return b;
  }

  // ---------------------------------------------------------------- lookup

  functions(): readonly PciFunctionHw[] {
    return this.fns;
  }

  /** The functions with their concrete class (tests, diagnostics). */
  pciFunctions(): readonly PciFunction[] {
    return this.fns;
  }

  findFunction(name: string): PciFunction | undefined {
    return this.byName.get(name);
  }

  /** Like findFunction but throws when absent (tests and scenario setup). */
  fn(name: string): PciFunction {
    const f = this.byName.get(name);
    if (f === undefined) throw new Error(`no PCI function ${name}`);
    return f;
  }

  /** IOMMU groups in id order. */
  groups(): readonly IommuGroupInfo[] {
    const out: IommuGroupInfo[] = [];
    for (let id = 0; id < this.groupCount; id++) out.push({ id, functions: this.fns.filter((f) => f.iommuGroup === id) });
    return out;
  }

  functionsBelow(bridge: PciFunction): readonly PciFunction[] {
    const out: PciFunction[] = [];
    const walk = (b: PciFunction): void => {
      for (const c of b.children) {
        out.push(c);
        walk(c);
      }
    };
    walk(bridge);
    return out;
  }

  setMsiHandler(h: MsiHandler | MsiSink): void {
    this.msiSink = typeof h === 'function' ? { deliverMsi: h } : h;
  }

  /** Config read as setpci / sysfs `config` does it (origin 'host'); null if no such function. */
  hostConfigRead(name: string, offset: number, size: ConfigSize): number | null {
    const f = this.byName.get(name);
    return f === undefined ? null : f.cfgRead(offset, size, 'host');
  }

  /** Config write as setpci / sysfs `config` does it (origin 'host'); false if no such function. */
  hostConfigWrite(name: string, offset: number, size: ConfigSize, value: number, origin: CfgOrigin = 'host'): boolean {
    const f = this.byName.get(name);
    if (f === undefined) return false;
    f.cfgWrite(offset, size, value, origin);
    return true;
  }

  // ---------------------------------------------------------------- routing

  invalidate(): void {
    this.dirty = true;
    this.dropHitCache();
  }

  dropHitCache(): void {
    this.hitFn = NO_FN;
    this.hitStart = 0;
    this.hitEnd = 0;
  }

  private rebuild(): void {
    const mem: BarWindow[] = [];
    const io: BarWindow[] = [];
    for (const f of this.fns) f.windows(mem, io);
    this.memWins = mem;
    this.ioWins = io;
    this.dirty = false;
  }

  /** CPU physical memory read. */
  memRead(addr: number, size: AccessSize): bigint {
    if (addr >= 0 && addr + size <= this.ramSize) return this.ram.read(addr, size);
    const h = this.hitFn;
    if (h !== null && addr >= this.hitStart && addr + size <= this.hitEnd) {
      return h.memAccess(this.hitBar, addr - this.hitStart, size, false, 0n, 'cpu', null);
    }
    return this.routeMem(addr, size, false, 0n, 'cpu', null) ?? (this.platform.unassigned === 'zeros' ? 0n : PciFunction.allOnes(size));
  }

  /** CPU physical memory write. */
  memWrite(addr: number, size: AccessSize, value: bigint): void {
    if (addr >= 0 && addr + size <= this.ramSize) {
      this.ram.write(addr, size, value);
      return;
    }
    const h = this.hitFn;
    if (h !== null && addr >= this.hitStart && addr + size <= this.hitEnd) {
      h.memAccess(this.hitBar, addr - this.hitStart, size, true, value, 'cpu', null);
      return;
    }
    this.routeMem(addr, size, true, value, 'cpu', null);
  }

  /**
   * Route a non-RAM memory request to the function that decodes it; null after an
   * Unsupported Request (already reported). CPU accesses to the MSI/LAPIC window
   * are not PCI traffic: reads return 0, writes are ignored.
   */
  private routeMem(addr: number, size: number, write: boolean, value: bigint, initiator: Initiator, requester: string | null): bigint | null {
    if (initiator === 'cpu' && addr >= R.MSI_WINDOW_BASE && addr <= R.MSI_WINDOW_LIMIT) return 0n;
    if (this.dirty) this.rebuild();
    const end = addr + size;
    for (const w of this.memWins) {
      if (addr < w.start || end > w.end) continue;
      if (!w.fn.decodesMem(w.bar)) continue;
      if (initiator === 'cpu') {
        this.hitStart = w.start;
        this.hitEnd = w.end;
        this.hitFn = w.fn;
        this.hitBar = w.bar;
      }
      return w.fn.memAccess(w.bar, addr - w.start, size, write, value, initiator, requester);
    }
    this.unsupportedRequest(addr, size, write, initiator, requester, this.fwMem);
    return null;
  }

  /** Report an Unsupported Request and apply the platform policy. */
  private unsupportedRequest(
    addr: number,
    size: number,
    write: boolean,
    initiator: Initiator,
    requester: string | null,
    fw: readonly { start: number; end: number; fn: PciFunction }[],
  ): void {
    const p = this.platform;
    p.urCount++;
    let target: PciFunction | null = null;
    for (const r of fw) {
      if (addr >= r.start && addr < r.end) {
        target = r.fn;
        break;
      }
    }
    target?.noteUnsupportedRequest();
    const fatal = p.urPolicy === 'fatal';
    this.events.emit({
      kind: 'platform.error',
      error: 'unsupported-request',
      addr,
      size,
      dir: write ? 'w' : 'r',
      target: target?.name ?? null,
      initiator,
      requester,
      severity: fatal ? 'fatal' : 'logged',
    });
    if (fatal && p.haltReason === null) {
      const dir = write ? 'write' : 'read';
      p.haltReason = `fatal platform error: Unsupported Request (${initiator} ${dir} of ${size} byte${size === 1 ? '' : 's'} at 0x${addr.toString(16)}${target !== null ? ` in ${target.name}` : ''})`;
      this.events.emit({ kind: 'machine.halt', reason: p.haltReason });
    }
  }

  ioRead(port: number, size: ConfigSize): number {
    const r = this.routeIo(port, size, false, 0);
    if (r !== null) return r;
    return this.platform.unassigned === 'zeros' ? 0 : size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
  }

  ioWrite(port: number, size: ConfigSize, value: number): void {
    this.routeIo(port, size, true, value);
  }

  private routeIo(port: number, size: number, write: boolean, value: number): number | null {
    if (this.dirty) this.rebuild();
    const end = port + size;
    for (const w of this.ioWins) {
      if (port < w.start || end > w.end || !w.fn.ioOn) continue;
      return w.fn.ioAccess(w.bar, port - w.start, size, write, value);
    }
    this.unsupportedRequest(port, size, write, 'cpu', null, this.fwIo);
    return null;
  }

  // ---------------------------------------------------------------- DMA and MSI

  msiWrite(fn: PciFunction, addr: number, data: number): boolean {
    if (addr >= R.MSI_WINDOW_BASE && addr <= R.MSI_WINDOW_LIMIT) {
      this.msiSink?.deliverMsi(addr, data, fn);
      return true;
    }
    // Not an interrupt address: an ordinary DMA write of the data dword.
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, data >>> 0, true);
    this.dmaWrite(fn, addr, b);
    return false;
  }

  /** Translate [busAddr, busAddr+len) page by page; null (after reporting) on a fault. */
  private translate(fn: PciFunction, busAddr: number, len: number, write: boolean): { phys: number; len: number }[] | null {
    const segs: { phys: number; len: number }[] = [];
    let a = busAddr;
    const end = busAddr + len;
    while (a < end) {
      const pageBase = Math.floor(a / PAGE_SIZE) * PAGE_SIZE;
      const n = Math.min(end, pageBase + PAGE_SIZE) - a;
      const tr = this.iommu.translate(fn.iommuGroup, a, write);
      if (!tr.ok) {
        this.events.emit({ kind: 'iommu.fault', dev: fn.name, iova: a, write, reason: tr.reason });
        this.events.emit({ kind: 'dma', dev: fn.name, iova: busAddr, len, dir: write ? 'w' : 'r', target: 'none', result: 'iommu-fault' });
        return null;
      }
      const phys = tr.pfn * PAGE_SIZE + (a - pageBase);
      const last = segs[segs.length - 1];
      if (last !== undefined && last.phys + last.len === phys) last.len += n;
      else segs.push({ phys, len: n });
      a += n;
    }
    return segs;
  }

  private targetName(phys: number): string {
    if (phys < this.ramSize) return 'ram';
    if (phys >= R.MSI_WINDOW_BASE && phys <= R.MSI_WINDOW_LIMIT) return 'msi';
    if (this.dirty) this.rebuild();
    for (const w of this.memWins) if (phys >= w.start && phys < w.end) return w.fn.name;
    for (const r of this.fwMem) if (phys >= r.start && phys < r.end) return r.fn.name;
    return 'none';
  }

  /** Largest naturally aligned access size (8/4/2/1) at `addr` that fits in `left`. */
  private static chunk(addr: number, left: number): 1 | 2 | 4 | 8 {
    if (left >= 8 && addr % 8 === 0) return 8;
    if (left >= 4 && addr % 4 === 0) return 4;
    if (left >= 2 && addr % 2 === 0) return 2;
    return 1;
  }

  dmaRead(fn: PciFunction, busAddr: number, len: number): Uint8Array | null {
    const segs = this.translate(fn, busAddr, len, false);
    if (segs === null) return null;
    const out = new Uint8Array(len);
    let pos = 0;
    let result: 'ok' | 'unsupported-request' = 'ok';
    const target = segs[0] === undefined ? 'none' : this.targetName(segs[0].phys);
    for (const s of segs) {
      if (s.phys + s.len <= this.ramSize) {
        this.ram.copyOut(s.phys, s.len, out, pos);
      } else {
        let o = 0;
        while (o < s.len) {
          const sz = Machine.chunk(s.phys + o, s.len - o);
          const isMsi = s.phys + o >= R.MSI_WINDOW_BASE && s.phys + o <= R.MSI_WINDOW_LIMIT;
          const v = isMsi ? null : this.routeMem(s.phys + o, sz, false, 0n, 'dma', fn.name);
          if (v === null) {
            if (isMsi) this.unsupportedRequest(s.phys + o, sz, false, 'dma', fn.name, this.fwMem);
            result = 'unsupported-request';
            break;
          }
          for (let i = 0; i < sz; i++) out[pos + o + i] = Number((v >> BigInt(8 * i)) & 0xffn);
          o += sz;
        }
        if (result !== 'ok') break;
      }
      pos += s.len;
    }
    this.events.emit({ kind: 'dma', dev: fn.name, iova: busAddr, len, dir: 'r', target, result });
    return result === 'ok' ? out : null;
  }

  dmaWrite(fn: PciFunction, busAddr: number, data: Uint8Array): boolean {
    const len = data.length;
    // Writes to the interrupt address range are interrupt requests (not translated).
    if (busAddr >= R.MSI_WINDOW_BASE && busAddr + len - 1 <= R.MSI_WINDOW_LIMIT && len > 0) {
      for (let o = 0; o + 4 <= len; o += 4) {
        const d = (data[o] ?? 0) | ((data[o + 1] ?? 0) << 8) | ((data[o + 2] ?? 0) << 16) | ((data[o + 3] ?? 0) << 24);
        this.msiSink?.deliverMsi(busAddr + o, d >>> 0, fn);
      }
      this.events.emit({ kind: 'dma', dev: fn.name, iova: busAddr, len, dir: 'w', target: 'msi', result: 'ok' });
      return true;
    }
    const segs = this.translate(fn, busAddr, len, true);
    if (segs === null) return false;
    let pos = 0;
    let result: 'ok' | 'unsupported-request' = 'ok';
    const target = segs[0] === undefined ? 'none' : this.targetName(segs[0].phys);
    for (const s of segs) {
      if (s.phys + s.len <= this.ramSize) {
        this.ram.copyIn(s.phys, data, pos, s.len);
      } else if (s.phys >= R.MSI_WINDOW_BASE && s.phys + s.len - 1 <= R.MSI_WINDOW_LIMIT) {
        for (let o = 0; o + 4 <= s.len; o += 4) {
          const i = pos + o;
          const d = (data[i] ?? 0) | ((data[i + 1] ?? 0) << 8) | ((data[i + 2] ?? 0) << 16) | ((data[i + 3] ?? 0) << 24);
          this.msiSink?.deliverMsi(s.phys + o, d >>> 0, fn);
        }
      } else {
        let o = 0;
        while (o < s.len) {
          const sz = Machine.chunk(s.phys + o, s.len - o);
          let v = 0n;
          for (let i = sz - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[pos + o + i] ?? 0);
          if (this.routeMem(s.phys + o, sz, true, v, 'dma', fn.name) === null) {
            result = 'unsupported-request';
            break;
          }
          o += sz;
        }
        if (result !== 'ok') break;
      }
      pos += s.len;
    }
    this.events.emit({ kind: 'dma', dev: fn.name, iova: busAddr, len, dir: 'w', target, result });
    return result === 'ok';
  }
}
