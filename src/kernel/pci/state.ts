import { PCI_COMMAND, PCI_EXP_DEVCTL, PCI_MSI_FLAGS, PCI_MSIX_FLAGS } from '../../uapi/pci-regs.js';
import type { Task } from '../sched/task.js';
import { type PciDev, pciReadConfig, pciWriteConfig } from './pci-dev.js';

/*
 * Saved-state layout (the model's pci_saved_state): 16 header dwords, then PCIe
 * DevCtl (u16), MSI flags (u16), MSI-X flags (u16).
 */
const HDR = 64;
const SAVED_LEN = HDR + 6;

/** pci_save_state (drivers/pci/pci.c, 5.8): header dwords, PCIe control and MSI/MSI-X control. */
export function* pciSaveState(dev: PciDev): Task<void> {
  const buf = new Uint8Array(SAVED_LEN);
  const dv = new DataView(buf.buffer);
  for (let i = 0; i < 16; i++) dv.setUint32(i * 4, yield* pciReadConfig(dev, i * 4, 4), true);
  if (dev.pcieCap !== 0) dv.setUint16(HDR, yield* pciReadConfig(dev, dev.pcieCap + PCI_EXP_DEVCTL, 2), true);
  if (dev.msiCap !== 0) dv.setUint16(HDR + 2, yield* pciReadConfig(dev, dev.msiCap + PCI_MSI_FLAGS, 2), true);
  if (dev.msixCap !== 0) dv.setUint16(HDR + 4, yield* pciReadConfig(dev, dev.msixCap + PCI_MSIX_FLAGS, 2), true);
  dev.savedState = buf;
}

/**
 * pci_restore_state (drivers/pci/pci.c, 5.8): PCIe state first, then the header from
 * the top dword down (pci_restore_config_space: 10–15, BARs 4–9, then 0–3, writing only
 * dwords that differ), then MSI/MSI-X control. Consumes the saved state.
 */
export function* pciRestoreState(dev: PciDev): Task<void> {
  const buf = dev.savedState;
  if (buf === null) return;
  const dv = new DataView(buf.buffer);
  if (dev.pcieCap !== 0) yield* pciWriteConfig(dev, dev.pcieCap + PCI_EXP_DEVCTL, 2, dv.getUint16(HDR, true) & 0x7fff);
  const order = [15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0];
  for (const i of order) {
    const saved = dv.getUint32(i * 4, true);
    const cur = yield* pciReadConfig(dev, i * 4, 4);
    if (cur !== saved) {
      if (i === 1) yield* pciWriteConfig(dev, PCI_COMMAND, 2, saved & 0xffff);
      else yield* pciWriteConfig(dev, i * 4, 4, saved);
    }
  }
  if (dev.msiCap !== 0) yield* pciWriteConfig(dev, dev.msiCap + PCI_MSI_FLAGS, 2, dv.getUint16(HDR + 2, true));
  if (dev.msixCap !== 0) yield* pciWriteConfig(dev, dev.msixCap + PCI_MSIX_FLAGS, 2, dv.getUint16(HDR + 4, true));
  dev.savedState = null;
}

/** pci_store_saved_state (drivers/pci/pci.c, 5.8): a copy of the saved state, or null. */
export function pciStoreSavedState(dev: PciDev): Uint8Array | null {
  return dev.savedState === null ? null : dev.savedState.slice();
}

/** pci_load_saved_state (drivers/pci/pci.c, 5.8): make `state` the device's saved state; -EINVAL when none. */
export function pciLoadSavedState(dev: PciDev, state: Uint8Array | null): number {
  if (state === null) return -22;
  dev.savedState = state.slice();
  return 0;
}
