/**
 * Power-on configuration-space images ("templates") of functions: the standard
 * type-0 / type-1 headers, BAR and ROM BAR write masks, and the capability list.
 * A function's FLR / bus reset / PM soft reset reloads its template.
 */
import { ConfigSpace } from './config-space.js';
import type { BehaviorFactory, DeviceDefinition, MsiCapSpec, MsixCapSpec, RomSpec } from './device.js';
import * as R from './regs.js';
import { barHighMask, barLowMask } from './bits32.js';

export interface BarInfo {
  readonly index: number;
  readonly kind: 'mem' | 'io';
  readonly size: number;
  readonly mem64: boolean;
  readonly prefetch: boolean;
}

export type BridgeKind = 'root-port' | 'pci-bridge' | 'pcie-pci-bridge';

export interface FunctionTemplate {
  readonly model: string;
  /** Power-on bytes and the (constant) write masks. */
  readonly cs: ConfigSpace;
  /** Indexed by BAR register 0..5; the upper half of a 64-bit BAR is undefined. */
  readonly bars: readonly (BarInfo | undefined)[];
  readonly rom: RomSpec | null;
  /** Capability offsets, 0 if absent. */
  readonly pmOff: number;
  readonly msiOff: number;
  readonly msixOff: number;
  readonly pcieOff: number;
  readonly acsOff: number;
  readonly msi: MsiCapSpec | null;
  readonly msix: MsixCapSpec | null;
  readonly isBridge: boolean;
  /**
   * An SR-IOV virtual function: the command register's Memory Space Enable bit is
   * hardwired to 0 and memory decode follows the PF's VF MSE (modelled as always set).
   */
  readonly virtfn: boolean;
  readonly bridgeKind: BridgeKind | null;
  /** PCIe device/port type, or null for a conventional PCI function. */
  readonly pcieType: number | null;
  readonly flr: boolean;
  readonly noSoftReset: boolean;
  /** ACS capability bits (0 if no ACS capability). */
  readonly acsCap: number;
  readonly classCode: number;
  readonly behavior: BehaviorFactory | null;
  /** DeviceSpec.hostDriver of an endpoint (absent: bound to vfio-pci by default). */
  readonly hostDriver?: string;
}

const STATUS_W1C =
  R.PCI_STATUS_PARITY |
  R.PCI_STATUS_SIG_TARGET_ABORT |
  R.PCI_STATUS_REC_TARGET_ABORT |
  R.PCI_STATUS_REC_MASTER_ABORT |
  R.PCI_STATUS_SIG_SYSTEM_ERROR |
  R.PCI_STATUS_DETECTED_PARITY;
const COMMAND_WMASK =
  R.PCI_COMMAND_IO |
  R.PCI_COMMAND_MEMORY |
  R.PCI_COMMAND_MASTER |
  R.PCI_COMMAND_PARITY |
  R.PCI_COMMAND_SERR |
  R.PCI_COMMAND_INTX_DISABLE;

/** Appends capabilities to the standard list (0x40 upward), linking next pointers. */
class CapChain {
  private next = 0x40;
  private last = -1;
  constructor(private readonly cs: ConfigSpace) {}

  add(id: number, len: number): number {
    const off = this.next;
    this.cs.set8(off, id);
    this.cs.set8(off + 1, 0);
    if (this.last < 0) {
      this.cs.set8(R.PCI_CAPABILITY_LIST, off);
      this.cs.set16(R.PCI_STATUS, this.cs.r16(R.PCI_STATUS) | R.PCI_STATUS_CAP_LIST);
    } else {
      this.cs.set8(this.last + 1, off);
    }
    this.last = off;
    this.next = off + ((len + 3) & ~3);
    if (this.next > 0x100) throw new Error('capability list overflows the standard config space');
    return off;
  }
}

function header(cs: ConfigSpace, vendor: number, device: number, rev: number, classCode: number, type: number): void {
  cs.set16(R.PCI_VENDOR_ID, vendor);
  cs.set16(R.PCI_DEVICE_ID, device);
  cs.setWmask(R.PCI_COMMAND, 2, COMMAND_WMASK);
  cs.setW1c(R.PCI_STATUS, 2, STATUS_W1C);
  cs.set8(R.PCI_REVISION_ID, rev);
  cs.set8(R.PCI_CLASS_PROG, classCode & 0xff);
  cs.set16(R.PCI_CLASS_DEVICE, (classCode >>> 8) & 0xffff);
  cs.setWmask(R.PCI_CACHE_LINE_SIZE, 1, 0xff);
  cs.set8(R.PCI_HEADER_TYPE, type);
  cs.setWmask(R.PCI_INTERRUPT_LINE, 1, 0xff);
}

function pcieCap(cs: ConfigSpace, chain: CapChain, type: number, flr: boolean, portNumber: number): number {
  const off = chain.add(R.PCI_CAP_ID_EXP, R.PCI_CAP_EXP_ENDPOINT_SIZEOF_V2);
  cs.set16(off + R.PCI_EXP_FLAGS, 2 | (type << 4));
  // DevCap: MPS 256 supported; FLR per device.
  cs.set32(off + R.PCI_EXP_DEVCAP, 0x1 | (flr ? R.PCI_EXP_DEVCAP_FLR : 0));
  // DevCtl: error reporting enables, relaxed ordering, MPS, ext tag, no snoop, MRRS writable;
  // Initiate FLR (bit 15) is accepted by the mask and cleared by the function after the write.
  cs.set16(off + R.PCI_EXP_DEVCTL, 0x2810);
  cs.setWmask(off + R.PCI_EXP_DEVCTL, 2, 0xffff);
  cs.setW1c(off + R.PCI_EXP_DEVSTA, 2, 0x000f);
  // Link: 2.5 GT/s x1.
  cs.set32(off + R.PCI_EXP_LNKCAP, 0x11 | (portNumber << 24));
  cs.setWmask(off + R.PCI_EXP_LNKCTL, 2, 0x00c3);
  cs.set16(off + R.PCI_EXP_LNKSTA, type === R.PCI_EXP_TYPE_ROOT_PORT ? 0x2011 : 0x0011);
  return off;
}

/** Build the power-on image of an endpoint defined with defineDevice. */
export function endpointTemplate(def: DeviceDefinition, multiFunction: boolean, onRootBus: boolean, virtfn = false): FunctionTemplate {
  const s = def.spec;
  const caps = s.caps ?? {};
  const pcie = caps.pcie !== undefined;
  const cs = new ConfigSpace(pcie ? 4096 : 256);
  header(cs, s.vendorId, s.deviceId, s.revision ?? 0, s.classCode, R.PCI_HEADER_TYPE_NORMAL | (multiFunction ? R.PCI_HEADER_TYPE_MFD : 0));
  if (!pcie) cs.setWmask(R.PCI_LATENCY_TIMER, 1, 0xff);
  // SR-IOV 1.1 §3.4.1.3: a VF's I/O Space and Memory Space Enable read 0 (the PF's VF MSE
  // governs decode), Parity Error Response and SERR# Enable are RsvdP (the PF's apply)
  if (virtfn) cs.setWmask(R.PCI_COMMAND, 2, COMMAND_WMASK & ~(R.PCI_COMMAND_IO | R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_PARITY | R.PCI_COMMAND_SERR));
  const bars: (BarInfo | undefined)[] = [undefined, undefined, undefined, undefined, undefined, undefined];
  for (const b of s.bars) {
    const info: BarInfo = { index: b.index, kind: b.kind, size: b.size, mem64: b.mem64 === true, prefetch: b.prefetch === true };
    bars[b.index] = info;
    const reg = R.PCI_BASE_ADDRESS_0 + 4 * b.index;
    if (b.kind === 'io') {
      cs.set32(reg, R.PCI_BASE_ADDRESS_SPACE_IO);
      cs.setWmask(reg, 4, barLowMask(b.size, 0xfffffffc));
    } else {
      const flags = (info.mem64 ? R.PCI_BASE_ADDRESS_MEM_TYPE_64 : 0) | (info.prefetch ? R.PCI_BASE_ADDRESS_MEM_PREFETCH : 0);
      cs.set32(reg, flags);
      cs.setWmask(reg, 4, barLowMask(b.size, 0xfffffff0));
      if (info.mem64) {
        cs.setWmask(reg + 4, 4, barHighMask(b.size));
      }
    }
  }
  cs.set16(R.PCI_SUBSYSTEM_VENDOR_ID, s.subsystemVendorId ?? s.vendorId);
  cs.set16(R.PCI_SUBSYSTEM_ID, s.subsystemId ?? 0x1100);
  if (s.rom !== undefined) cs.setWmask(R.PCI_ROM_ADDRESS, 4, (barLowMask(s.rom.size, 0xfffff800) | R.PCI_ROM_ADDRESS_ENABLE) >>> 0);
  cs.set8(R.PCI_INTERRUPT_PIN, s.interruptPin ?? 1);

  const chain = new CapChain(cs);
  let pmOff = 0;
  let msiOff = 0;
  let msixOff = 0;
  let pcieOff = 0;
  let acsOff = 0;
  if (caps.pm !== undefined) {
    pmOff = chain.add(R.PCI_CAP_ID_PM, 8);
    cs.set16(pmOff + R.PCI_PM_PMC, 0x0003);
    cs.set16(pmOff + R.PCI_PM_CTRL, caps.pm.noSoftReset ? R.PCI_PM_CTRL_NO_SOFT_RESET : 0);
    cs.setWmask(pmOff + R.PCI_PM_CTRL, 2, R.PCI_PM_CTRL_STATE_MASK | R.PCI_PM_CTRL_PME_ENABLE);
    cs.setW1c(pmOff + R.PCI_PM_CTRL, 2, R.PCI_PM_CTRL_PME_STATUS);
  }
  if (caps.msi !== undefined) {
    const m = caps.msi;
    const a64 = m.addr64 !== false;
    const mask = m.perVectorMask === true;
    const len = (a64 ? 0x0e : 0x0a) + (mask ? 0x0a : 0);
    msiOff = chain.add(R.PCI_CAP_ID_MSI, len);
    const mmc = Math.log2(m.vectors);
    cs.set16(msiOff + R.PCI_MSI_FLAGS, (mmc << 1) | (a64 ? R.PCI_MSI_FLAGS_64BIT : 0) | (mask ? R.PCI_MSI_FLAGS_MASKBIT : 0));
    cs.setWmask(msiOff + R.PCI_MSI_FLAGS, 2, R.PCI_MSI_FLAGS_ENABLE | R.PCI_MSI_FLAGS_QSIZE);
    cs.setWmask(msiOff + R.PCI_MSI_ADDRESS_LO, 4, 0xfffffffc);
    if (a64) cs.setWmask(msiOff + R.PCI_MSI_ADDRESS_HI, 4, 0xffffffff);
    cs.setWmask(msiOff + (a64 ? R.PCI_MSI_DATA_64 : R.PCI_MSI_DATA_32), 2, 0xffff);
    if (mask) cs.setWmask(msiOff + (a64 ? R.PCI_MSI_MASK_64 : R.PCI_MSI_MASK_32), 4, m.vectors === 32 ? 0xffffffff : (1 << m.vectors) - 1);
  }
  if (caps.msix !== undefined) {
    const m = caps.msix;
    msixOff = chain.add(R.PCI_CAP_ID_MSIX, 12);
    cs.set16(msixOff + R.PCI_MSIX_FLAGS, m.vectors - 1);
    cs.setWmask(msixOff + R.PCI_MSIX_FLAGS, 2, R.PCI_MSIX_FLAGS_ENABLE | R.PCI_MSIX_FLAGS_MASKALL);
    cs.set32(msixOff + R.PCI_MSIX_TABLE, m.tableOffset | m.tableBar);
    cs.set32(msixOff + R.PCI_MSIX_PBA, m.pbaOffset | m.pbaBar);
  }
  let pcieType: number | null = null;
  if (caps.pcie !== undefined) {
    pcieType = onRootBus ? R.PCI_EXP_TYPE_RC_END : R.PCI_EXP_TYPE_ENDPOINT;
    pcieOff = pcieCap(cs, chain, pcieType, caps.pcie.flr, 0);
  }
  let acsCap = 0;
  if (caps.acs === true) {
    acsOff = 0x100;
    acsCap = R.PCI_ACS_SV | R.PCI_ACS_RR | R.PCI_ACS_CR | R.PCI_ACS_UF;
    cs.set32(acsOff, R.PCI_EXT_CAP_ID_ACS | (1 << 16));
    cs.set16(acsOff + R.PCI_ACS_CAP, acsCap);
    cs.setWmask(acsOff + R.PCI_ACS_CTRL, 2, acsCap);
  }
  return {
    model: s.model,
    cs,
    bars,
    rom: s.rom ?? null,
    pmOff,
    msiOff,
    msixOff,
    pcieOff,
    acsOff,
    msi: caps.msi ?? null,
    msix: caps.msix ?? null,
    isBridge: false,
    virtfn,
    bridgeKind: null,
    pcieType,
    flr: caps.pcie?.flr === true,
    noSoftReset: caps.pm?.noSoftReset === true,
    acsCap,
    classCode: s.classCode,
    behavior: s.behavior,
    ...(s.hostDriver !== undefined ? { hostDriver: s.hostDriver } : {}),
  };
}

/** The host bridge at 00:00.0 (Q35 MCH ids; no BARs). */
export function hostBridgeTemplate(): FunctionTemplate {
  const cs = new ConfigSpace(256);
  header(cs, 0x8086, 0x29c0, 0, 0x060000, R.PCI_HEADER_TYPE_NORMAL);
  return {
    model: 'host-bridge',
    cs,
    bars: [undefined, undefined, undefined, undefined, undefined, undefined],
    rom: null,
    pmOff: 0,
    msiOff: 0,
    msixOff: 0,
    pcieOff: 0,
    acsOff: 0,
    msi: null,
    msix: null,
    isBridge: false,
    virtfn: false,
    bridgeKind: null,
    pcieType: null,
    flr: false,
    noSoftReset: false,
    acsCap: 0,
    classCode: 0x060000,
    behavior: null,
  };
}

/**
 * A bridge: 'root-port' (QEMU pcie-root-port ids, PCIe root port with an ACS
 * capability unless `acs` is false), 'pcie-pci-bridge' (PCIe-to-PCI bridge, conventional
 * secondary bus) or 'pci-bridge' (conventional PCI-to-PCI bridge).
 */
export function bridgeTemplate(kind: BridgeKind, acs: boolean, multiFunction: boolean, portNumber: number): FunctionTemplate {
  const pcie = kind !== 'pci-bridge';
  const cs = new ConfigSpace(pcie ? 4096 : 256);
  const ids: Record<BridgeKind, [number, number]> = {
    'root-port': [0x1b36, 0x000c],
    'pcie-pci-bridge': [0x1b36, 0x000e],
    'pci-bridge': [0x1b36, 0x0001],
  };
  const [vendor, device] = ids[kind];
  header(cs, vendor, device, 0, 0x060400, R.PCI_HEADER_TYPE_BRIDGE | (multiFunction ? R.PCI_HEADER_TYPE_MFD : 0));
  if (!pcie) cs.setWmask(R.PCI_LATENCY_TIMER, 1, 0xff);
  cs.setWmask(R.PCI_PRIMARY_BUS, 4, 0xffffffff);
  cs.set16(R.PCI_IO_BASE, 0x0000);
  cs.setWmask(R.PCI_IO_BASE, 2, 0xf0f0);
  cs.setW1c(R.PCI_SEC_STATUS, 2, STATUS_W1C);
  cs.setWmask(R.PCI_MEMORY_BASE, 4, 0xfff0fff0);
  cs.set32(R.PCI_PREF_MEMORY_BASE, 0x00010001);
  cs.setWmask(R.PCI_PREF_MEMORY_BASE, 4, 0xfff0fff0);
  cs.setWmask(R.PCI_PREF_BASE_UPPER32, 8, 0xffffffff);
  cs.setWmask(R.PCI_PREF_BASE_UPPER32 + 4, 4, 0xffffffff);
  cs.setWmask(R.PCI_BRIDGE_CONTROL, 2, 0x007f);
  const chain = new CapChain(cs);
  let pcieOff = 0;
  let pcieType: number | null = null;
  if (pcie) {
    pcieType = kind === 'root-port' ? R.PCI_EXP_TYPE_ROOT_PORT : R.PCI_EXP_TYPE_PCI_BRIDGE;
    pcieOff = pcieCap(cs, chain, pcieType, false, portNumber);
  }
  let acsOff = 0;
  let acsCap = 0;
  if (kind === 'root-port' && acs) {
    acsOff = 0x100;
    acsCap = R.PCI_ACS_SV | R.PCI_ACS_TB | R.PCI_ACS_RR | R.PCI_ACS_CR | R.PCI_ACS_UF;
    cs.set32(acsOff, R.PCI_EXT_CAP_ID_ACS | (1 << 16));
    cs.set16(acsOff + R.PCI_ACS_CAP, acsCap);
    cs.setWmask(acsOff + R.PCI_ACS_CTRL, 2, acsCap);
  }
  return {
    model: kind,
    cs,
    bars: [undefined, undefined, undefined, undefined, undefined, undefined],
    rom: null,
    pmOff: 0,
    msiOff: 0,
    msixOff: 0,
    pcieOff,
    acsOff,
    msi: null,
    msix: null,
    isBridge: true,
    virtfn: false,
    bridgeKind: kind,
    pcieType,
    flr: false,
    noSoftReset: false,
    acsCap,
    classCode: 0x060400,
    behavior: null,
  };
}
