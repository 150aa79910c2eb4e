import { PCI_COMMAND, PCI_EXP_DEVCTL, PCI_MSI_FLAGS, PCI_MSIX_FLAGS } from '../../uapi/pci-regs.js';
import type { Task } from '../sched/task.js';
import { type PciDev, type PciSavedState, pciReadConfig, pciWriteConfig } from './pci-dev.js';

/*
 * Saved-state layout (the model's pci_saved_state, see PciSavedState): 16 header dwords,
 * then PCIe DevCtl, MSI flags, MSI-X flags.
 */
const HDR = 16;

/** pci_save_state (drivers/pci/pci.c, 5.8): header dwords, PCIe control and MSI/MSI-X control. */
export function* pciSaveState(dev: PciDev): Task<void> {
  const st: number[] = [];
  for (let i = 0; i < 16; i++) {
    st.push(yield* pciReadConfig(dev, i * 4, 4));
  }
  st.push(dev.pcieCap !== 0 ? yield* pciReadConfig(dev, dev.pcieCap + PCI_EXP_DEVCTL, 2) : 0);
  st.push(dev.msiCap !== 0 ? yield* pciReadConfig(dev, dev.msiCap + PCI_MSI_FLAGS, 2) : 0);
  st.push(dev.msixCap !== 0 ? yield* pciReadConfig(dev, dev.msixCap + PCI_MSIX_FLAGS, 2) : 0);
  dev.savedState = st;
}

/**
 * pci_restore_state (drivers/pci/pci.c, 5.8): PCIe state first, then the header from
 * the top dword down (pci_restore_config_space: 10–15, BARs 4–9, then 0–3, writing only
 * dwords that differ), then MSI/MSI-X control. Consumes the saved state.
 */
export function* pciRestoreState(dev: PciDev): Task<void> {
  const st = dev.savedState;
  if (st === null) return;
  if (dev.pcieCap !== 0) yield* pciWriteConfig(dev, dev.pcieCap + PCI_EXP_DEVCTL, 2, (st[HDR] ?? 0) & 0x7fff);
  for (let i = 15; i >= 0; i--) {
    const saved = st[i] ?? 0;
    const cur = yield* pciReadConfig(dev, i * 4, 4);
    if (cur !== saved) {
      if (i === 1) yield* pciWriteConfig(dev, PCI_COMMAND, 2, saved & 0xffff);
      else yield* pciWriteConfig(dev, i * 4, 4, saved);
    }
  }
  if (dev.msiCap !== 0) yield* pciWriteConfig(dev, dev.msiCap + PCI_MSI_FLAGS, 2, st[HDR + 1] ?? 0);
  if (dev.msixCap !== 0) yield* pciWriteConfig(dev, dev.msixCap + PCI_MSIX_FLAGS, 2, st[HDR + 2] ?? 0);
  dev.savedState = null;
}

/** pci_store_saved_state (drivers/pci/pci.c, 5.8): a copy of the saved state, or null. */
export function pciStoreSavedState(dev: PciDev): PciSavedState | null {
  return dev.savedState === null ? null : dev.savedState.slice();
}

/** pci_load_saved_state (drivers/pci/pci.c, 5.8): make `state` the device's saved state; -EINVAL when none. */
export function pciLoadSavedState(dev: PciDev, state: PciSavedState | null): number {
  if (state === null) return -22;
  dev.savedState = state.slice();
  return 0;
}
