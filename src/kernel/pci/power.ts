import { PCI_PM_CTRL, PCI_PM_CTRL_STATE_MASK } from '../../uapi/pci-regs.js';
import type { Kernel } from '../kernel.js';
import type { Task } from '../sched/task.js';
import { type PciDev, pciReadConfig, pciWriteConfig } from './pci-dev.js';

const STATES = ['D0', 'D1', 'D2', 'D3hot'] as const;
export type PciPowerState = (typeof STATES)[number];

/**
 * pci_set_power_state (drivers/pci/pci.c, 5.8), for D0..D3hot: write PMCSR and wait
 * the transition delay (10 ms to or from D3hot). A device without PM stays in D0.
 */
export function* pciSetPowerState(k: Kernel, dev: PciDev, state: PciPowerState): Task<number> {
  if (dev.pmCap === 0) return 0;
  if (dev.currentState === state) return 0;
  const csr = yield* pciReadConfig(dev, dev.pmCap + PCI_PM_CTRL, 2);
  yield* pciWriteConfig(dev, dev.pmCap + PCI_PM_CTRL, 2, (csr & ~PCI_PM_CTRL_STATE_MASK) | STATES.indexOf(state));
  if (state === 'D3hot' || dev.currentState === 'D3hot') yield* k.msleep(10, 'pci_set_power_state');
  const now = (yield* pciReadConfig(dev, dev.pmCap + PCI_PM_CTRL, 2)) & PCI_PM_CTRL_STATE_MASK;
  dev.currentState = STATES[now] ?? 'D0';
  return 0;
}
