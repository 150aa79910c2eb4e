import {
  PCI_AF_CAP, PCI_AF_CAP_FLR, PCI_AF_CAP_TP, PCI_AF_CTRL, PCI_AF_CTRL_FLR, PCI_BRIDGE_CONTROL,
  PCI_BRIDGE_CTL_BUS_RESET, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, PCI_EXP_DEVCAP, PCI_EXP_DEVCAP_FLR,
  PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_BCR_FLR, PCI_PM_CTRL, PCI_PM_CTRL_NO_SOFT_RESET, PCI_PM_CTRL_STATE_MASK,
} from '../../uapi/pci-regs.js';
import { EAGAIN, EINVAL, ENOTTY } from '../errno.js';
import type { Kernel } from '../kernel.js';
import type { Task } from '../sched/task.js';
import type { PciCore } from './core.js';
import { type PciDev, pciReadConfig, pciWriteConfig } from './pci-dev.js';
import { pciRestoreState, pciSaveState } from './state.js';

/** PCIE_RESET_READY_POLL_MS (drivers/pci/pci.c, 5.8) */
const RESET_READY_POLL_MS = 60000;

/** pci_dev_wait (drivers/pci/pci.c, 5.8): poll until config reads stop returning all-ones. */
function* pciDevWait(k: Kernel, dev: PciDev, reason: string, timeoutMs: number): Task<number> {
  let delay = 1;
  let waited = 0;
  for (;;) {
    const id = yield* pciReadConfig(dev, PCI_COMMAND, 4);
    if (id !== 0xffffffff) return 0;
    if (waited > timeoutMs) {
      k.events.emit({ kind: 'warn', message: `not ready ${waited}ms after ${reason}; giving up`, fn: 'pci_dev_wait' });
      return -ENOTTY;
    }
    yield* k.msleep(delay, 'pci_dev_wait');
    waited += delay;
    delay *= 2;
  }
}

/** pcie_has_flr (drivers/pci/pci.c, 5.8) */
function* pcieHasFlr(dev: PciDev): Task<boolean> {
  if (dev.pcieCap === 0) return false;
  const cap = yield* pciReadConfig(dev, dev.pcieCap + PCI_EXP_DEVCAP, 4);
  return (cap & PCI_EXP_DEVCAP_FLR) !== 0;
}

/** pcie_flr (drivers/pci/pci.c, 5.8): initiate FLR, wait 100 ms, wait for readiness. */
export function* pcieFlr(k: Kernel, dev: PciDev): Task<number> {
  k.events.emit({ kind: 'reset', dev: dev.name, method: 'flr', phase: 'start' });
  const ctl = yield* pciReadConfig(dev, dev.pcieCap + PCI_EXP_DEVCTL, 2);
  yield* pciWriteConfig(dev, dev.pcieCap + PCI_EXP_DEVCTL, 2, ctl | PCI_EXP_DEVCTL_BCR_FLR);
  yield* k.msleep(100, 'pcie_flr');
  const r = yield* pciDevWait(k, dev, 'FLR', RESET_READY_POLL_MS);
  k.events.emit({ kind: 'reset', dev: dev.name, method: 'flr', phase: 'done' });
  return r;
}

/** pci_af_flr (drivers/pci/pci.c, 5.8) */
function* pciAfFlr(k: Kernel, dev: PciDev, probe: boolean): Task<number> {
  if (dev.afCap === 0) return -ENOTTY;
  const cap = yield* pciReadConfig(dev, dev.afCap + PCI_AF_CAP, 1);
  if ((cap & PCI_AF_CAP_TP) === 0 || (cap & PCI_AF_CAP_FLR) === 0) return -ENOTTY;
  if (probe) return 0;
  k.events.emit({ kind: 'reset', dev: dev.name, method: 'af_flr', phase: 'start' });
  yield* pciWriteConfig(dev, dev.afCap + PCI_AF_CTRL, 1, PCI_AF_CTRL_FLR);
  yield* k.msleep(100, 'pci_af_flr');
  const r = yield* pciDevWait(k, dev, 'AF_FLR', RESET_READY_POLL_MS);
  k.events.emit({ kind: 'reset', dev: dev.name, method: 'af_flr', phase: 'done' });
  return r;
}

/** pci_pm_reset (drivers/pci/pci.c, 5.8): D0 → D3hot → D0 on a function without No_Soft_Reset. */
function* pciPmReset(k: Kernel, dev: PciDev, probe: boolean): Task<number> {
  if (dev.pmCap === 0) return -ENOTTY;
  const csr = yield* pciReadConfig(dev, dev.pmCap + PCI_PM_CTRL, 2);
  if ((csr & PCI_PM_CTRL_NO_SOFT_RESET) !== 0) return -ENOTTY;
  if (probe) return 0;
  if (dev.currentState !== 'D0') return -EINVAL;
  k.events.emit({ kind: 'reset', dev: dev.name, method: 'pm', phase: 'start' });
  const base = csr & ~PCI_PM_CTRL_STATE_MASK;
  yield* pciWriteConfig(dev, dev.pmCap + PCI_PM_CTRL, 2, base | 3);
  yield* k.msleep(10, 'pci_pm_reset');
  yield* pciWriteConfig(dev, dev.pmCap + PCI_PM_CTRL, 2, base);
  yield* k.msleep(10, 'pci_pm_reset');
  const r = yield* pciDevWait(k, dev, 'PM D3hot->D0', RESET_READY_POLL_MS);
  k.events.emit({ kind: 'reset', dev: dev.name, method: 'pm', phase: 'done' });
  return r;
}

/** pci_bridge_secondary_bus_reset → pci_reset_secondary_bus (drivers/pci/pci.c, 5.8) */
export function* pciBridgeSecondaryBusReset(k: Kernel, pci: PciCore, bridge: PciDev): Task<number> {
  k.events.emit({ kind: 'reset', dev: bridge.name, method: 'bus', phase: 'start' });
  const ctl = yield* pciReadConfig(bridge, PCI_BRIDGE_CONTROL, 2);
  yield* pciWriteConfig(bridge, PCI_BRIDGE_CONTROL, 2, ctl | PCI_BRIDGE_CTL_BUS_RESET);
  yield* k.msleep(2, 'pci_reset_secondary_bus');
  yield* pciWriteConfig(bridge, PCI_BRIDGE_CONTROL, 2, ctl & ~PCI_BRIDGE_CTL_BUS_RESET);
  yield* k.msleep(1000, 'pci_reset_secondary_bus');
  let r = 0;
  const sec = bridge.fn.secondaryBus;
  if (sec !== null) {
    for (const d of pci.busDevices(sec)) {
      const w = yield* pciDevWait(k, d, 'bus reset', RESET_READY_POLL_MS);
      if (w !== 0) r = w;
    }
  }
  k.events.emit({ kind: 'reset', dev: bridge.name, method: 'bus', phase: 'done' });
  return r;
}

/** pci_parent_bus_reset (drivers/pci/pci.c, 5.8): SBR via the parent bridge if the device is alone on its bus. */
function* pciParentBusReset(k: Kernel, pci: PciCore, dev: PciDev, probe: boolean): Task<number> {
  const up = pci.upstream(dev);
  if (up === null || dev.fn.isBridge) return -ENOTTY;
  for (const other of pci.busDevices(dev.fn.bus)) if (other !== dev) return -ENOTTY;
  if (probe) return 0;
  return yield* pciBridgeSecondaryBusReset(k, pci, up);
}

/**
 * __pci_reset_function_locked / pci_probe_reset_function (drivers/pci/pci.c, 5.8):
 * try FLR, AF FLR, PM reset, then a bus reset through the parent bridge.
 */
export function* pciResetFunctionLocked(k: Kernel, pci: PciCore, dev: PciDev, probe: boolean): Task<number> {
  if (yield* pcieHasFlr(dev)) return probe ? 0 : yield* pcieFlr(k, dev);
  let rc = yield* pciAfFlr(k, dev, probe);
  if (rc !== -ENOTTY) return rc;
  rc = yield* pciPmReset(k, dev, probe);
  if (rc !== -ENOTTY) return rc;
  return yield* pciParentBusReset(k, pci, dev, probe);
}

/** pci_dev_save_and_disable (drivers/pci/pci.c, 5.8): save state, quiesce with only INTx disable set. */
export function* pciDevSaveAndDisable(dev: PciDev): Task<void> {
  yield* pciSaveState(dev);
  yield* pciWriteConfig(dev, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
}

/**
 * pci_try_reset_function (drivers/pci/pci.c, 5.8): -ENOTTY without a reset method,
 * -EAGAIN if the device lock or config-access block cannot be taken; otherwise save,
 * reset, restore (so the command register comes back as it was before the reset).
 */
export function* pciTryResetFunction(k: Kernel, pci: PciCore, dev: PciDev): Task<number> {
  if (!dev.resetFn) return -ENOTTY;
  // pci_dev_trylock: config access first, then the device lock
  if (!(yield* dev.cfgGate.tryClose())) return -EAGAIN;
  if (!(yield* dev.deviceLock.trylock('pci_dev_trylock'))) {
    yield* dev.cfgGate.open();
    return -EAGAIN;
  }
  yield* pciDevSaveAndDisable(dev);
  const rc = yield* pciResetFunctionLocked(k, pci, dev, false);
  yield* pciRestoreState(dev);
  yield* dev.deviceLock.unlock('pci_dev_unlock');
  yield* dev.cfgGate.open();
  return rc;
}

/** pci_probe_reset_bus (drivers/pci/pci.c, 5.8): 0 if the bus below a bridge can be reset. */
export function pciProbeResetBus(pci: PciCore, dev: PciDev): number {
  return pci.upstream(dev) === null ? -ENOTTY : 0;
}

/**
 * pci_reset_bus → __pci_reset_bus (drivers/pci/pci.c, 5.8): lock every device on the
 * bus (trylock → -EAGAIN), save and disable them all, secondary bus reset, restore.
 */
export function* pciResetBus(k: Kernel, pci: PciCore, dev: PciDev): Task<number> {
  const bridge = pci.upstream(dev);
  if (bridge === null) return -ENOTTY;
  const devs = pci.walkBus(dev.fn.bus);
  const locked: PciDev[] = [];
  let rc = 0;
  for (const d of devs) {
    if (!(yield* d.deviceLock.trylock('pci_bus_trylock'))) {
      rc = -EAGAIN;
      break;
    }
    if (!(yield* d.cfgGate.tryClose())) {
      yield* d.deviceLock.unlock('pci_bus_unlock');
      rc = -EAGAIN;
      break;
    }
    locked.push(d);
  }
  if (rc === 0) {
    for (const d of devs) yield* pciDevSaveAndDisable(d);
    rc = yield* pciBridgeSecondaryBusReset(k, pci, bridge);
    for (const d of devs) yield* pciRestoreState(d);
  }
  for (const d of locked.reverse()) {
    yield* d.cfgGate.open();
    yield* d.deviceLock.unlock('pci_bus_unlock');
  }
  return rc;
}
