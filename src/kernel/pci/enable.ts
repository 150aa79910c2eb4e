import { PCI_COMMAND, PCI_COMMAND_IO, PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY, PCI_COMMAND_INTX_DISABLE } from '../../uapi/pci-regs.js';
import type { Task } from '../sched/task.js';
import { type PciDev, pciReadConfig, pciWriteConfig } from './pci-dev.js';

/** pci_enable_device (drivers/pci/pci.c, 5.8): power up and set the decode bits of its resources. */
export function* pciEnableDevice(dev: PciDev): Task<number> {
  if (dev.enableCnt++ > 0) return 0;
  let want = 0;
  for (let i = 0; i <= 5; i++) {
    const r = dev.resource(i);
    if (r === null) continue;
    want |= r.kind === 'io' ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
  }
  const r = dev.resource(6);
  if (r !== null) want |= PCI_COMMAND_MEMORY;
  const cmd = yield* pciReadConfig(dev, PCI_COMMAND, 2);
  if ((cmd & want) !== want) yield* pciWriteConfig(dev, PCI_COMMAND, 2, cmd | want);
  return 0;
}

/** pci_disable_device (drivers/pci/pci.c, 5.8): only bus mastering is turned off. */
export function* pciDisableDevice(dev: PciDev): Task<void> {
  if (dev.enableCnt > 0) dev.enableCnt--;
  if (dev.enableCnt > 0) return;
  yield* pciClearMaster(dev);
}

/** pci_clear_master (drivers/pci/pci.c, 5.8). */
export function* pciClearMaster(dev: PciDev): Task<void> {
  const cmd = yield* pciReadConfig(dev, PCI_COMMAND, 2);
  if ((cmd & PCI_COMMAND_MASTER) !== 0) yield* pciWriteConfig(dev, PCI_COMMAND, 2, cmd & ~PCI_COMMAND_MASTER);
}

/** pci_intx (drivers/pci/pci.c, 5.8): set or clear INTx disable. */
export function* pciIntx(dev: PciDev, enable: boolean): Task<void> {
  const cmd = yield* pciReadConfig(dev, PCI_COMMAND, 2);
  const next = enable ? cmd & ~PCI_COMMAND_INTX_DISABLE : cmd | PCI_COMMAND_INTX_DISABLE;
  if (next !== cmd) yield* pciWriteConfig(dev, PCI_COMMAND, 2, next);
}
