/**
 * Config-space virtualization (drivers/vfio/pci/vfio_pci_config.c, 5.8): per-byte
 * permission maps (virtualized bits live in vconfig, writable non-virtual bits go to
 * hardware), the command register with the tracked MEM bit, BAR sizing emulation,
 * FLR through PCIe DevCtl, PM power-state writes.
 */
import {
  PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_MEM_PREFETCH, PCI_BASE_ADDRESS_MEM_TYPE_64, PCI_BASE_ADDRESS_SPACE_IO,
  PCI_BIST, PCI_CACHE_LINE_SIZE, PCI_CAP_ID_AF, PCI_CAP_ID_EXP, PCI_CAP_ID_MSI, PCI_CAP_ID_MSIX, PCI_CAP_ID_PM,
  PCI_CAP_LIST_NEXT, PCI_CAPABILITY_LIST, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, PCI_COMMAND_IO,
  PCI_COMMAND_MEMORY, PCI_DEVICE_ID, PCI_EXP_DEVCAP, PCI_EXP_DEVCAP_FLR, PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_BCR_FLR,
  PCI_INTERRUPT_LINE, PCI_INTERRUPT_PIN, PCI_LATENCY_TIMER, PCI_MSI_ADDRESS_HI, PCI_MSI_ADDRESS_LO,
  PCI_MSI_DATA_32, PCI_MSI_DATA_64, PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT, PCI_MSI_FLAGS_ENABLE,
  PCI_MSI_FLAGS_QMASK, PCI_MSI_FLAGS_QSIZE, PCI_PM_CTRL, PCI_PM_CTRL_STATE_MASK, PCI_ROM_ADDRESS,
  PCI_ROM_ADDRESS_ENABLE, PCI_STATUS, PCI_STATUS_CAP_LIST, PCI_VENDOR_ID, PCI_AF_CAP, PCI_AF_CAP_FLR,
  PCI_AF_CAP_TP, PCI_AF_CTRL, PCI_AF_CTRL_FLR, PCI_CFG_SPACE_SIZE,
} from '../../../uapi/pci-regs.js';
import { VFIO_PCI_MSI_IRQ_INDEX, VFIO_PCI_OFFSET_MASK } from '../../../uapi/vfio.js';
import { EFAULT } from '../../errno.js';
import type { Kernel } from '../../kernel.js';
import { copyFromUser, copyToUser } from '../../mm/index.js';
import type { PciCore } from '../../pci/core.js';
import { pciReadConfig, pciUserReadConfig, pciUserWriteConfig } from '../../pci/pci-dev.js';
import { pciSetPowerState } from '../../pci/power.js';
import { pciTryResetFunction } from '../../pci/reset.js';
import type { FilePos } from '../../fs/file.js';
import type { Task } from '../../sched/task.js';
import { vfioPciZapAndDownWriteMemoryLock } from './memory-lock.js';
import type { VfioPciDevice } from './vfio-pci-device.js';
import { SideTable } from '../../../util/side-table.js';
import { and32, barHighMask, barLowMask } from '../../../hw/bits32.js';

/** pci_config_map markers (vfio_pci_private.h, 5.8). */
const CAP_ID_BASIC = 0;
const CAP_ID_INVALID = 0xff;

/** A config access handler (perm_bits::writefn / readfn): bytes written, or the value read. */
type WriteFn = (k: Kernel, pci: PciCore, vdev: VfioPciDevice, pos: number, count: number, perm: PermBits, offset: number, val: number) => Task<number>;
type ReadFn = (vdev: VfioPciDevice, pos: number, count: number, perm: PermBits, offset: number) => Task<number>;

/** struct perm_bits: per-byte virtualization and write masks for one capability. */
interface PermBits {
  readonly virt: Uint8Array;
  readonly write: Uint8Array;
  readonly readfn: ReadFn | null;
  readonly writefn: WriteFn | null;
}

function perm(len: number, readfn: ReadFn | null, writefn: WriteFn | null): PermBits {
  return { virt: new Uint8Array(len), write: new Uint8Array(len), readfn, writefn };
}

function setBits(a: Uint8Array, off: number, size: number, v: number): void {
  for (let i = 0; i < size; i++) a[off + i] = (v >>> (8 * i)) & 0xff;
}

/** p_setb/p_setw/p_setd */
function pSet(p: PermBits, off: number, size: number, virt: number, write: number): void {
  setBits(p.virt, off, size, virt);
  setBits(p.write, off, size, write);
}

function le(buf: Uint8Array, off: number, size: number): number {
  let v = 0;
  for (let i = 0; i < size; i++) v |= (buf[off + i] ?? 0) << (8 * i);
  return v >>> 0;
}

function putLe(buf: Uint8Array, off: number, size: number, v: number): void {
  setBits(buf, off, size, v);
}

const ALL = 0xffffffff;

/** vfio_default_config_read (drivers/vfio/pci/vfio_pci_config.c, 5.8): virtual bits from vconfig, the rest from hardware. */
function* defaultConfigRead(vdev: VfioPciDevice, pos: number, count: number, p: PermBits, offset: number): Task<number> {
  const vconfig = vdev.vconfig as Uint8Array; // open devices always have vconfig
  const virt = le(p.virt, offset, count);
  let val = le(vconfig, pos, count);
  // Any non-virtualized bits?
  if (virt !== (count === 4 ? ALL : (1 << (8 * count)) - 1)) {
    const phys = yield* pciUserReadConfig(vdev.pdev, pos, count as 1 | 2 | 4);
    val = ((phys & ~virt) | (val & virt)) >>> 0;
  }
  return val;
}

/** vfio_default_config_write (drivers/vfio/pci/vfio_pci_config.c, 5.8): writable virtual bits to vconfig, writable non-virtual bits to hardware. */
function* defaultConfigWrite(_k: Kernel, _pci: PciCore, vdev: VfioPciDevice, pos: number, count: number, p: PermBits, offset: number, val: number): Task<number> {
  const vconfig = vdev.vconfig as Uint8Array;
  const write = le(p.write, offset, count);
  if (write === 0) return count; // drop if no writable bits
  const virt = le(p.virt, offset, count);
  // Virtualized and writable bits go to vconfig
  if ((write & virt) !== 0) {
    let v = le(vconfig, pos, count);
    v = ((v & ~(write & virt)) | (val & write & virt)) >>> 0;
    putLe(vconfig, pos, count, v);
  }
  // Non-virtualized and writable bits go to hardware
  const physMask = write & ~virt;
  if (physMask !== 0) {
    const size = count as 1 | 2 | 4;
    const phys = yield* pciUserReadConfig(vdev.pdev, pos, size);
    yield* pciUserWriteConfig(vdev.pdev, pos, size, ((phys & ~physMask) | (val & physMask)) >>> 0);
  }
  return count;
}

/** vfio_direct_config_read (drivers/vfio/pci/vfio_pci_config.c, 5.8): hardware value, with the capability's next pointer virtualized. */
function* directConfigRead(vdev: VfioPciDevice, pos: number, count: number, _p: PermBits, offset: number): Task<number> {
  let val = yield* pciUserReadConfig(vdev.pdev, pos, count as 1 | 2 | 4);
  if (pos >= PCI_CFG_SPACE_SIZE) return val;
  if (offset <= PCI_CAP_LIST_NEXT && offset + count > PCI_CAP_LIST_NEXT) {
    const vconfig = vdev.vconfig as Uint8Array;
    const shift = 8 * (PCI_CAP_LIST_NEXT - offset);
    val = ((val & ~(0xff << shift)) | ((vconfig[pos - offset + PCI_CAP_LIST_NEXT] ?? 0) << shift)) >>> 0;
  }
  return val;
}

/** vfio_raw_config_read (drivers/vfio/pci/vfio_pci_config.c, 5.8): straight to hardware. */
function* rawConfigRead(vdev: VfioPciDevice, pos: number, count: number): Task<number> {
  return yield* pciUserReadConfig(vdev.pdev, pos, count as 1 | 2 | 4);
}
/** vfio_raw_config_write (drivers/vfio/pci/vfio_pci_config.c, 5.8): straight to hardware. */
function* rawConfigWrite(_k: Kernel, _pci: PciCore, vdev: VfioPciDevice, pos: number, count: number, _p: PermBits, _o: number, val: number): Task<number> {
  yield* pciUserWriteConfig(vdev.pdev, pos, count as 1 | 2 | 4, val);
  return count;
}

/**
 * The low dword of a virtual BAR after vfio_bar_fixup (5.8): the user's value limited to
 * the BAR's size mask (`*vbar &= ~(len - 1)` on a u32, so 0 for a BAR of 4 GiB or more),
 * with the flag bits of the resource.
 */
export function vbarLow(v: number, r: { kind: 'io' | 'mem'; size: number; mem64: boolean; prefetch: boolean }): number {
  if (r.kind === 'io') return (and32(v, barLowMask(r.size, 0xfffffffc)) | PCI_BASE_ADDRESS_SPACE_IO) >>> 0;
  return (and32(v, barLowMask(r.size, 0xfffffff0)) | (r.mem64 ? PCI_BASE_ADDRESS_MEM_TYPE_64 : 0) | (r.prefetch ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0)) >>> 0;
}

/** The virtual ROM BAR after vfio_bar_fixup (5.8): `&= ~(len - 1) | PCI_ROM_ADDRESS_ENABLE` on a u32. */
export function vromLow(v: number, size: number): number {
  return and32(v, (barLowMask(size, 0xffffffff) | PCI_ROM_ADDRESS_ENABLE) >>> 0);
}

/** vfio_bar_fixup (5.8): regenerate the virtual BARs from the sizes (sizing emulation). */
function barFixup(vdev: VfioPciDevice): void {
  const vconfig = vdev.vconfig as Uint8Array;
  for (let i = 0; i < 6; i++) {
    const off = PCI_BASE_ADDRESS_0 + 4 * i;
    const r = vdev.pdev.resource(i);
    let v = le(vconfig, off, 4);
    if (r !== null) {
      putLe(vconfig, off, 4, vbarLow(v, r));
      if (r.mem64 && i < 5) {
        putLe(vconfig, off + 4, 4, and32(le(vconfig, off + 4, 4), barHighMask(r.size)));
        i++;
      }
    } else {
      putLe(vconfig, off, 4, 0);
    }
  }
  const rom = vdev.pdev.resource(6);
  if (rom !== null) {
    putLe(vconfig, PCI_ROM_ADDRESS, 4, vromLow(le(vconfig, PCI_ROM_ADDRESS, 4), rom.size));
  } else {
    putLe(vconfig, PCI_ROM_ADDRESS, 4, 0);
  }
  vdev.bardirty = false;
}

/** vfio_basic_config_read (drivers/vfio/pci/vfio_pci_config.c, 5.8): BAR fixup, and the virtual MEM bit ORed in for VFs. */
function* basicConfigRead(vdev: VfioPciDevice, pos: number, count: number, p: PermBits, offset: number): Task<number> {
  if (offset >= PCI_BASE_ADDRESS_0 && offset <= PCI_ROM_ADDRESS + 3 && vdev.bardirty) barFixup(vdev);
  const val = yield* defaultConfigRead(vdev, pos, count, p, offset);
  // Mask in virtual memory enable
  if (offset === PCI_COMMAND && vdev.pdev.noCommandMemory) return val | (vdev.vconfigCommand & PCI_COMMAND_MEMORY);
  return val;
}

/** vfio_need_bar_restore (drivers/vfio/pci/vfio_pci_config.c, 5.8): do the hardware BARs still hold what we saw at open? */
function* needBarRestore(vdev: VfioPciDevice): Task<boolean> {
  for (let i = 0; i < 6; i++) {
    const rb = vdev.rbar[i] ?? 0;
    if (rb === 0) continue;
    const v = yield* pciUserReadConfig(vdev.pdev, PCI_BASE_ADDRESS_0 + 4 * i, 4);
    if (v !== rb) return true;
  }
  return false;
}

/** vfio_bar_restore (drivers/vfio/pci/vfio_pci_config.c, 5.8): rewrite the real BARs after a backdoor reset. */
function* barRestore(k: Kernel, vdev: VfioPciDevice): Task<void> {
  k.events.emit({ kind: 'note', text: `${vdev.name}: reset recovery - restoring BARs` });
  for (let i = 0; i < 6; i++) {
    const rb = vdev.rbar[i] ?? 0;
    if (rb !== 0) yield* pciUserWriteConfig(vdev.pdev, PCI_BASE_ADDRESS_0 + 4 * i, 4, rb);
  }
}

/**
 * vfio_basic_config_write (drivers/vfio/pci/vfio_pci_config.c, 5.8): a chunk starting at
 * PCI_COMMAND takes memory_lock for write — zapping first when the new value clears MEM (even if
 * MEM was already clear) — restores BARs after a backdoor reset, writes, and records the MEM/IO
 * bits in vconfig. (5.7, knob zapOnDisable off: no lock and no zap.)
 */
function* basicConfigWrite(k: Kernel, pci: PciCore, vdev: VfioPciDevice, pos: number, count: number, p: PermBits, offset: number, val: number): Task<number> {
  const fn = 'vfio_basic_config_write';
  const locking = offset === PCI_COMMAND && k.knobs.zapOnDisable;
  let newCmd = 0;
  if (offset === PCI_COMMAND) {
    const physCmd = yield* pciUserReadConfig(vdev.pdev, PCI_COMMAND, 2);
    newCmd = val & 0xffff;
    const virtCmd = vdev.vconfigCommand;
    const physIo = (physCmd & PCI_COMMAND_IO) !== 0;
    const virtIo = (virtCmd & PCI_COMMAND_IO) !== 0;
    const newIo = (newCmd & PCI_COMMAND_IO) !== 0;
    const physMem = (physCmd & PCI_COMMAND_MEMORY) !== 0;
    const virtMem = (virtCmd & PCI_COMMAND_MEMORY) !== 0;
    const newMem = (newCmd & PCI_COMMAND_MEMORY) !== 0;
    if (locking) {
      if (!newMem) yield* vfioPciZapAndDownWriteMemoryLock(k, vdev);
      else yield* vdev.memoryLock.downWrite(fn);
    }
    // A backdoor reset cleared the enables we think are set: restore the BARs first.
    if ((newMem && virtMem && !physMem) || (newIo && virtIo && !physIo) || (yield* needBarRestore(vdev))) yield* barRestore(k, vdev);
  }
  count = yield* defaultConfigWrite(k, pci, vdev, pos, count, p, offset, val);
  if (count < 0) {
    if (locking) yield* vdev.memoryLock.upWrite(fn);
    return count;
  }
  // Save the current memory/io enable bits in vconfig for the test above next time.
  if (offset === PCI_COMMAND) {
    const mask = PCI_COMMAND_MEMORY | PCI_COMMAND_IO;
    putLe(vdev.vconfig as Uint8Array, PCI_COMMAND, 2, (vdev.vconfigCommand & ~mask) | (newCmd & mask));
    if (locking) yield* vdev.memoryLock.upWrite(fn);
  }
  // Emulate INTx disable
  if (offset >= PCI_COMMAND && offset <= PCI_COMMAND + 1) {
    vdev.virqDisabled = (vdev.vconfigCommand & PCI_COMMAND_INTX_DISABLE) !== 0;
  }
  if (offset >= PCI_BASE_ADDRESS_0 && offset <= PCI_ROM_ADDRESS + 3) vdev.bardirty = true;
  return count;
}

/**
 * vfio_pci_lock_and_set_power_state (drivers/vfio/pci/vfio_pci_core.c, 5.19; 2b2c651baf1c):
 * entering D3hot zaps and write-locks memory_lock; other transitions only write-lock it.
 */
function* lockAndSetPowerState(k: Kernel, vdev: VfioPciDevice, state: 'D0' | 'D1' | 'D2' | 'D3hot'): Task<void> {
  const fn = 'vfio_pci_lock_and_set_power_state';
  if (state === 'D3hot') yield* vfioPciZapAndDownWriteMemoryLock(k, vdev);
  else yield* vdev.memoryLock.downWrite(fn);
  yield* pciSetPowerState(k, vdev.pdev, state);
  yield* vdev.memoryLock.upWrite(fn);
}

/** vfio_pm_config_write (drivers/vfio/pci/vfio_pci_config.c, 5.8; 5.19 with the d3hotBlocks knob): a chunk starting at PM_CTRL changes the power state — with no lock and no zap in 5.8. */
function* pmConfigWrite(k: Kernel, pci: PciCore, vdev: VfioPciDevice, pos: number, count: number, p: PermBits, offset: number, val: number): Task<number> {
  const r = yield* defaultConfigWrite(k, pci, vdev, pos, count, p, offset, val);
  if (r < 0) return r;
  if (offset === PCI_PM_CTRL) {
    const state = (['D0', 'D1', 'D2', 'D3hot'] as const)[val & PCI_PM_CTRL_STATE_MASK] ?? 'D0';
    if (k.knobs.d3hotBlocks) yield* lockAndSetPowerState(k, vdev, state);
    else yield* pciSetPowerState(k, vdev.pdev, state);
  }
  return r;
}

/**
 * vfio_exp_config_write / vfio_af_config_write (drivers/vfio/pci/vfio_pci_config.c, 5.8): the FLR
 * both virtualized FLR bits trigger; zap and write-lock memory_lock (5.8+), pci_try_reset_function,
 * unlock.
 */
function* zappedFunctionReset(k: Kernel, pci: PciCore, vdev: VfioPciDevice, fn: string): Task<void> {
  if (k.knobs.zapOnDisable) yield* vfioPciZapAndDownWriteMemoryLock(k, vdev);
  yield* pciTryResetFunction(k, pci, vdev.pdev);
  if (k.knobs.zapOnDisable) yield* vdev.memoryLock.upWrite(fn);
}

/** vfio_exp_config_write (drivers/vfio/pci/vfio_pci_config.c, 5.8): the virtualized FLR bit triggers a zapped, write-locked function reset. */
function* expConfigWrite(k: Kernel, pci: PciCore, vdev: VfioPciDevice, pos: number, count: number, p: PermBits, offset: number, val: number): Task<number> {
  const r = yield* defaultConfigWrite(k, pci, vdev, pos, count, p, offset, val);
  if (r < 0) return r;
  const vconfig = vdev.vconfig as Uint8Array;
  const ctlOff = pos - offset + PCI_EXP_DEVCTL;
  const ctl = le(vconfig, ctlOff, 2);
  if ((ctl & PCI_EXP_DEVCTL_BCR_FLR) !== 0) {
    putLe(vconfig, ctlOff, 2, ctl & ~PCI_EXP_DEVCTL_BCR_FLR);
    const cap = yield* pciUserReadConfig(vdev.pdev, pos - offset + PCI_EXP_DEVCAP, 4);
    if ((cap & PCI_EXP_DEVCAP_FLR) !== 0) {
      yield* zappedFunctionReset(k, pci, vdev, 'vfio_exp_config_write');
    }
  }
  return r;
}

/** vfio_af_config_write (drivers/vfio/pci/vfio_pci_config.c, 5.8): the virtualized AF FLR bit, same as above. */
function* afConfigWrite(k: Kernel, pci: PciCore, vdev: VfioPciDevice, pos: number, count: number, p: PermBits, offset: number, val: number): Task<number> {
  const r = yield* defaultConfigWrite(k, pci, vdev, pos, count, p, offset, val);
  if (r < 0) return r;
  const vconfig = vdev.vconfig as Uint8Array;
  const ctlOff = pos - offset + PCI_AF_CTRL;
  if (((vconfig[ctlOff] ?? 0) & PCI_AF_CTRL_FLR) !== 0) {
    vconfig[ctlOff] = (vconfig[ctlOff] ?? 0) & ~PCI_AF_CTRL_FLR;
    const cap = yield* pciUserReadConfig(vdev.pdev, pos - offset + PCI_AF_CAP, 1);
    if ((cap & PCI_AF_CAP_FLR) !== 0 && (cap & PCI_AF_CAP_TP) !== 0) {
      yield* zappedFunctionReset(k, pci, vdev, 'vfio_af_config_write');
    }
  }
  return r;
}

/** vfio_msi_config_write (drivers/vfio/pci/vfio_pci_config.c, 5.8): virtual MSI registers; enable only via SET_IRQS; queue size clamped. */
function* msiConfigWrite(k: Kernel, pci: PciCore, vdev: VfioPciDevice, pos: number, count: number, p: PermBits, offset: number, val: number): Task<number> {
  const r = yield* defaultConfigWrite(k, pci, vdev, pos, count, p, offset, val);
  if (r < 0) return r;
  if (offset === PCI_MSI_FLAGS && count >= 2) {
    const vconfig = vdev.vconfig as Uint8Array;
    const start = pos - offset;
    let flags = le(vconfig, start + PCI_MSI_FLAGS, 2);
    if (vdev.irqType !== VFIO_PCI_MSI_IRQ_INDEX) flags &= ~PCI_MSI_FLAGS_ENABLE;
    if ((flags & PCI_MSI_FLAGS_QSIZE) >> 4 > vdev.msiQmax) flags = (flags & ~PCI_MSI_FLAGS_QSIZE) | (vdev.msiQmax << 4);
    putLe(vconfig, start + PCI_MSI_FLAGS, 2, flags);
    yield* pciUserWriteConfig(vdev.pdev, start + PCI_MSI_FLAGS, 2, flags);
  }
  return r;
}

/** init_pci_cap_basic_perm (5.8) */
function basicPerm(): PermBits {
  const p = perm(64, basicConfigRead, basicConfigWrite);
  pSet(p, PCI_VENDOR_ID, 2, 0xffff, 0);
  pSet(p, PCI_DEVICE_ID, 2, 0xffff, 0);
  pSet(p, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE, 0xffff);
  pSet(p, PCI_STATUS, 2, PCI_STATUS_CAP_LIST, 0);
  pSet(p, PCI_CACHE_LINE_SIZE, 1, 0, 0xff);
  pSet(p, PCI_LATENCY_TIMER, 1, 0, 0xff);
  pSet(p, PCI_BIST, 1, 0, 0xff);
  for (let i = 0; i < 6; i++) pSet(p, PCI_BASE_ADDRESS_0 + 4 * i, 4, ALL, ALL);
  pSet(p, PCI_ROM_ADDRESS, 4, ALL, ALL);
  pSet(p, PCI_CAPABILITY_LIST, 1, 0xff, 0);
  pSet(p, PCI_INTERRUPT_LINE, 1, 0xff, 0xff);
  pSet(p, PCI_INTERRUPT_PIN, 1, 0xff, 0);
  return p;
}

/** init_pci_cap_pm_perm (5.8) */
function pmPerm(): PermBits {
  const p = perm(8, defaultConfigRead, pmConfigWrite);
  pSet(p, PCI_CAP_LIST_NEXT, 1, 0xff, 0);
  pSet(p, PCI_PM_CTRL, 4, 0, ~PCI_PM_CTRL_STATE_MASK >>> 0);
  return p;
}

/** init_pci_cap_exp_perm (5.8) */
function expPerm(): PermBits {
  const p = perm(0x3c, defaultConfigRead, expConfigWrite);
  pSet(p, PCI_CAP_LIST_NEXT, 1, 0xff, 0);
  pSet(p, PCI_EXP_DEVCTL, 2, PCI_EXP_DEVCTL_BCR_FLR, ~0x0200 & 0xffff);
  pSet(p, 0x28, 2, 0, ~0x0020 & 0xffff);
  return p;
}

/** init_pci_cap_af_perm (5.8) */
function afPerm(): PermBits {
  const p = perm(6, defaultConfigRead, afConfigWrite);
  pSet(p, PCI_CAP_LIST_NEXT, 1, 0xff, 0);
  pSet(p, PCI_AF_CTRL, 1, PCI_AF_CTRL_FLR, PCI_AF_CTRL_FLR);
  return p;
}

/** init_pci_cap_msi_perm (5.8) */
function msiPerm(len: number, flags: number): PermBits {
  const p = perm(len, defaultConfigRead, msiConfigWrite);
  pSet(p, PCI_CAP_LIST_NEXT, 1, 0xff, 0);
  pSet(p, PCI_MSI_FLAGS, 1, 0xff, 0xff);
  pSet(p, PCI_MSI_ADDRESS_LO, 4, ALL, ALL);
  if ((flags & PCI_MSI_FLAGS_64BIT) !== 0) {
    pSet(p, PCI_MSI_ADDRESS_HI, 4, ALL, ALL);
    pSet(p, PCI_MSI_DATA_64, 2, 0xffff, 0xffff);
  } else {
    pSet(p, PCI_MSI_DATA_32, 2, 0xffff, 0xffff);
  }
  return p;
}

/** Capabilities without a permission table: direct read, writes dropped (cap_perms default). */
const DIRECT = perm(0, directConfigRead, null);
const UNASSIGNED = perm(0, (v, pos, count) => rawConfigRead(v, pos, count), rawConfigWrite);
const BASIC = basicPerm();
const PM = pmPerm();
const EXP = expPerm();
const AF = afPerm();

/** Per-device permission state (vdev->msi_perm) and cap starts. */
interface DevicePerms {
  msi: PermBits | null;
  capStart: Map<number, number>;
}
const devPerms = new SideTable<VfioPciDevice, DevicePerms>('devPerms');

/** pci_cap_length for the capabilities the model knows. */
function capLength(id: number, flags: number): number {
  switch (id) {
    case PCI_CAP_ID_PM: return 8;
    case PCI_CAP_ID_MSI: return 10 + ((flags & PCI_MSI_FLAGS_64BIT) !== 0 ? 4 : 0) + ((flags & 0x100) !== 0 ? 10 : 0);
    case PCI_CAP_ID_MSIX: return 12;
    case PCI_CAP_ID_EXP: return 0x3c;
    case PCI_CAP_ID_AF: return 6;
    default: return 4;
  }
}

/**
 * vfio_config_init (drivers/vfio/pci/vfio_pci_config.c, 5.8): copy the hardware config space into
 * vconfig, map each byte to its capability, save the real BARs (rbar), virtualize VF ids/MEM and
 * the INTx pin.
 */
export function* vfioConfigInit(vdev: VfioPciDevice, hasIntx: boolean): Task<number> {
  const pdev = vdev.pdev;
  const size = pdev.cfgSize;
  const vconfig = new Uint8Array(size);
  const map = new Uint8Array(size).fill(CAP_ID_INVALID);
  for (let off = 0; off < size; off += 4) {
    putLe(vconfig, off, 4, yield* pciReadConfig(pdev, off, 4));
  }
  map.fill(CAP_ID_BASIC, 0, 64);
  const perms: DevicePerms = { msi: null, capStart: new Map() };
  let pos = (vconfig[PCI_CAPABILITY_LIST] ?? 0) & ~3;
  for (let ttl = 48; pos >= 0x40 && pos < 256 && ttl > 0; ttl--) {
    const id = vconfig[pos] ?? 0;
    const flags = le(vconfig, pos + 2, 2);
    const len = capLength(id, flags);
    map.fill(id, pos, Math.min(size, pos + len));
    perms.capStart.set(id, pos);
    if (id === PCI_CAP_ID_MSI) {
      perms.msi = msiPerm(len, flags);
      vdev.msiQmax = (flags & PCI_MSI_FLAGS_QMASK) >> 1;
    }
    pos = (vconfig[pos + 1] ?? 0) & ~3;
  }
  for (let i = 0; i < 6; i++) vdev.rbar[i] = le(vconfig, PCI_BASE_ADDRESS_0 + 4 * i, 4);
  if (pdev.noCommandMemory) {
    // ebfa440ce38b: a VF has MEM hardwired to 0, so start the virtual bit set, as for a PF
    putLe(vconfig, PCI_COMMAND, 2, le(vconfig, PCI_COMMAND, 2) | PCI_COMMAND_MEMORY);
  }
  if (!hasIntx) vconfig[PCI_INTERRUPT_PIN] = 0;
  vdev.vconfig = vconfig;
  vdev.configMap = map;
  vdev.bardirty = true;
  devPerms.set(vdev, perms);
  return 0;
}

/** vfio_config_free (5.8) */
export function vfioConfigFree(vdev: VfioPciDevice): void {
  vdev.vconfig = null;
  vdev.configMap = null;
  devPerms.delete(vdev);
}

/** vfio_pci_cap_remaining_dword (5.8): bytes left in this dword that belong to the same capability. */
function capRemainingDword(map: Uint8Array, pos: number): number {
  const cap = map[pos];
  let i = 1;
  while (i < 4 - (pos & 3) && map[pos + i] === cap) i++;
  return i;
}

/**
 * The chunk vfio_config_do_rw (5.8) handles at `pos`: naturally aligned and within one
 * capability's dword; its size, or -EFAULT outside config space.
 */
function chunkSize(vdev: VfioPciDevice, map: Uint8Array, pos: number, count: number): number {
  const cfgSize = vdev.pdev.cfgSize;
  if (pos < 0 || pos >= cfgSize || pos + count > cfgSize) return -EFAULT;
  count = Math.min(count, capRemainingDword(map, pos));
  if (count >= 4 && pos % 4 === 0) return 4;
  if (count >= 2 && pos % 2 === 0) return 2;
  return 1;
}

/** vfio_config_do_rw's choice of perm_bits for capability `capId` (5.8). */
function permFor(vdev: VfioPciDevice, capId: number): PermBits {
  if (capId === CAP_ID_INVALID) return UNASSIGNED;
  if (capId === CAP_ID_BASIC) return BASIC;
  if (capId === PCI_CAP_ID_MSI) return devPerms.get(vdev)?.msi ?? DIRECT;
  if (capId === PCI_CAP_ID_PM) return PM;
  if (capId === PCI_CAP_ID_EXP) return EXP;
  if (capId === PCI_CAP_ID_AF) return AF;
  return DIRECT;
}

/** vfio_config_do_rw's cap_start for a chunk at `pos` of capability `capId` (vfio_find_cap_start, 5.8). */
function capStartFor(vdev: VfioPciDevice, capId: number, pos: number): number {
  if (capId === CAP_ID_INVALID) return pos;
  if (capId === CAP_ID_BASIC) return 0;
  return devPerms.get(vdev)?.capStart.get(capId) ?? pos;
}

/**
 * vfio_config_do_rw (drivers/vfio/pci/vfio_pci_config.c, 5.8): one naturally aligned chunk at
 * `pos` within one capability's dword, through the capability's perm_bits handlers; the chunk's
 * size (bytes done), or -errno.
 */
function* vfioConfigDoRw(k: Kernel, pci: PciCore, vdev: VfioPciDevice, buf: number, count: number, pos: number, iswrite: boolean): Task<number> {
  const map = vdev.configMap as Uint8Array; // open devices always have a config map
  count = chunkSize(vdev, map, pos, count);
  if (count < 0) return count;
  let ret = count;
  const capId = map[pos] ?? CAP_ID_INVALID;
  const p = permFor(vdev, capId);
  const offset = pos - capStartFor(vdev, capId, pos);
  if (iswrite) {
    if (p.writefn === null) return ret;
    const val = new Uint8Array(count);
    if ((yield* copyFromUser(k, buf, val)) !== 0) return -EFAULT;
    ret = yield* p.writefn(k, pci, vdev, pos, count, p, offset, le(val, 0, count));
  } else {
    const val = new Uint8Array(count);
    if (p.readfn !== null) putLe(val, 0, count, yield* p.readfn(vdev, pos, count, p, offset));
    if ((yield* copyToUser(k, buf, val)) !== 0) return -EFAULT;
  }
  return ret;
}

/**
 * `pos & VFIO_PCI_OFFSET_MASK` as `pos % (VFIO_PCI_OFFSET_MASK + 1)`, exactly, without a
 * floating-point remainder for the positions above 2^31 that every region but BAR 0 has
 * (see pageOffset in mm.ts: the same exact computation for a power of two).
 */
function offsetInRegion(pos: number): number {
  const unit = VFIO_PCI_OFFSET_MASK + 1;
  return pos > 0 && pos <= Number.MAX_SAFE_INTEGER ? pos - Math.floor(pos / unit) * unit : pos % unit;
}

/**
 * vfio_pci_config_rw (drivers/vfio/pci/vfio_pci_config.c, 5.8): chop the access into the chunks
 * vfio_config_do_rw does; the file position advances by what was done. Returns bytes done or
 * -errno (the first chunk's error).
 */
export function* vfioPciConfigRw(k: Kernel, pci: PciCore, vdev: VfioPciDevice, buf: number, count: number, ppos: FilePos, iswrite: boolean): Task<number> {
  let done = 0;
  let pos = offsetInRegion(ppos.value);
  while (count > 0) {
    const ret = yield* vfioConfigDoRw(k, pci, vdev, buf, count, pos, iswrite);
    if (ret < 0) return ret;
    count -= ret;
    done += ret;
    buf += ret;
    pos += ret;
  }
  ppos.value += done;
  return done;
}
