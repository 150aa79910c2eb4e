/**
 * The PCI part of sysfs (drivers/pci/pci-sysfs.c, drivers/pci/pci-driver.c,
 * drivers/iommu/iommu.c; Linux 5.8 layout, reset_method from 5.15):
 *
 *   /sys/devices/pci0000:00/<bridge>/.../<bdf>/   the device's directory
 *     vendor, device, class, config, reset_method, iommu_group -> , driver ->
 *   /sys/bus/pci/devices/<bdf> -> ../../../devices/pci0000:00/.../<bdf>
 *   /sys/bus/pci/drivers/<driver>/<bdf> -> ../../../../devices/...
 *   /sys/kernel/iommu_groups/<n>/devices/<bdf> -> ../../../../devices/...
 *
 * `config` is the root view: the whole config space, readable and writable. A write goes
 * to the hardware as pci_user_write_config_* does (waiting while a reset blocks config
 * access), behind vfio-pci's back: vfio-pci neither sees nor virtualizes it.
 */
import {
  PCI_AF_CAP, PCI_AF_CAP_FLR, PCI_AF_CAP_TP, PCI_CLASS_REVISION, PCI_DEVICE_ID, PCI_EXP_DEVCAP, PCI_EXP_DEVCAP_FLR,
  PCI_PM_CTRL, PCI_PM_CTRL_NO_SOFT_RESET, PCI_VENDOR_ID,
} from '../../uapi/pci-regs.js';
import { sysfsDir, type SysfsAttr, type SysfsNode, sysfsRegisterRoot } from '../fs/sysfs.js';
import type { Kernel } from '../kernel.js';
import type { Task } from '../sched/task.js';
import { SideTable } from '../../util/side-table.js';
import type { PciCore } from './core.js';
import type { PciDev } from './pci-dev.js';

/** The ids pci_setup_device caches in struct pci_dev (vendor, device, class). */
interface PciIds {
  readonly vendor: number;
  readonly device: number;
  readonly cls: number;
}

/**
 * pdev->vendor, ->device, ->class: read from the function once, the first time sysfs
 * shows them (the kernel reads them at enumeration; reading them lazily keeps boot's
 * config cycles, and so every event stream, as they were). A read that finds the
 * function not responding (all-ones) is not cached.
 */
const idsOf = new SideTable<PciDev, PciIds>('pciSysfsIds');

function pciIds(dev: PciDev): PciIds {
  const c = idsOf.get(dev);
  if (c !== undefined) return c;
  const vendor = dev.fn.cfgRead(PCI_VENDOR_ID, 2, 'kernel');
  const ids = { vendor, device: dev.fn.cfgRead(PCI_DEVICE_ID, 2, 'kernel'), cls: dev.fn.cfgRead(PCI_CLASS_REVISION, 4, 'kernel') >>> 8 };
  if (vendor !== 0xffff) idsOf.set(dev, ids);
  return ids;
}

/** pci_reset_fn_methods (drivers/pci/pci.c, 5.15) in their order, as reset_method names them. */
const resetMethodsOf = new SideTable<PciDev, readonly string[]>('pciSysfsResetMethods');

/**
 * pci_init_reset_methods (drivers/pci/pci.c, 5.15): probe every method — flr
 * (pcie_reset_flr: DevCap FLR), af_flr (AF cap with TP and FLR), pm (PM cap without
 * No_Soft_Reset), bus (pci_parent_bus_reset: alone on a non-root bus, not a bridge) —
 * and keep those that work. Probed once, the first time sysfs needs them.
 */
export function pciResetMethods(pci: PciCore, dev: PciDev): readonly string[] {
  const c = resetMethodsOf.get(dev);
  if (c !== undefined) return c;
  const m: string[] = [];
  const rd = (off: number, size: 1 | 2 | 4): number => dev.fn.cfgRead(off, size, 'kernel');
  if (dev.pcieCap !== 0 && (rd(dev.pcieCap + PCI_EXP_DEVCAP, 4) & PCI_EXP_DEVCAP_FLR) !== 0) m.push('flr');
  if (dev.afCap !== 0) {
    const cap = rd(dev.afCap + PCI_AF_CAP, 1);
    if ((cap & PCI_AF_CAP_TP) !== 0 && (cap & PCI_AF_CAP_FLR) !== 0) m.push('af_flr');
  }
  if (dev.pmCap !== 0 && (rd(dev.pmCap + PCI_PM_CTRL, 2) & PCI_PM_CTRL_NO_SOFT_RESET) === 0) m.push('pm');
  const up = pci.upstream(dev);
  if (up !== null && !dev.fn.isBridge && pci.busDevices(dev.fn.bus).every((d) => d === dev)) m.push('bus');
  resetMethodsOf.set(dev, m);
  return m;
}

/** The components of the device's directory below /sys: devices, pci0000:00, bridges..., bdf. */
function devicePath(pci: PciCore, dev: PciDev): string[] {
  const chain: string[] = [];
  for (let d: PciDev | null = dev; d !== null; d = pci.upstream(d)) chain.unshift(d.name);
  return ['devices', 'pci0000:00', ...chain];
}

/** A link target from a directory `depth` levels below /sys to `to` (components below /sys). */
function rel(depth: number, to: readonly string[]): string {
  return '../'.repeat(depth) + to.join('/');
}

/** A text attribute (DEVICE_ATTR_RO): its show routine. */
function roAttr(show: () => string): SysfsAttr {
  return { kind: 'attr', show: () => show(), size: 4096 };
}

/**
 * pci_user_read_config_dword / pci_user_read_config_word / pci_user_read_config_byte
 * (drivers/pci/access.c, 5.8): a config read from sysfs; wait while a reset blocks config access,
 * the config cycle's scheduling point, then the read (origin 'host').
 */
function* userCfgRead(dev: PciDev, off: number, size: 1 | 2 | 4): Task<number> {
  yield* dev.cfgGate.wait();
  if (!dev.sched.passPoint()) yield dev.cfgReadPoint;
  return dev.fn.cfgRead(off, size, 'host');
}

/** pci_user_write_config_dword / pci_user_write_config_word / pci_user_write_config_byte (drivers/pci/access.c, 5.8): the write twin of userCfgRead. */
function* userCfgWrite(dev: PciDev, off: number, size: 1 | 2 | 4, value: number): Task<void> {
  yield* dev.cfgGate.wait();
  if (!dev.sched.passPoint()) yield dev.cfgPoint;
  dev.fn.cfgWrite(off, size, value, 'host');
}

/** The aligned pieces pci_read_config / pci_write_config split [off, off+count) into: bytes up to a word, words up to a dword, dwords, then the tail. */
function pieces(off: number, count: number): Array<[number, 1 | 2 | 4]> {
  const out: Array<[number, 1 | 2 | 4]> = [];
  let o = off;
  let n = count;
  if ((o & 1) !== 0 && n >= 1) {
    out.push([o, 1]);
    o++;
    n--;
  }
  if ((o & 3) !== 0 && n > 2) {
    out.push([o, 2]);
    o += 2;
    n -= 2;
  }
  while (n >= 4) {
    out.push([o, 4]);
    o += 4;
    n -= 4;
  }
  if (n >= 2) {
    out.push([o, 2]);
    o += 2;
    n -= 2;
  }
  if (n >= 1) out.push([o, 1]);
  return out;
}

/** The `config` binary attribute (pci_read_config / pci_write_config, drivers/pci/pci-sysfs.c 5.8; root view). */
function configAttr(dev: PciDev): SysfsAttr {
  const size = dev.cfgSize;
  return {
    kind: 'attr',
    size,
    *read(_k: Kernel, pos: number, count: number): Task<Uint8Array> {
      if (pos >= size) return new Uint8Array(0);
      const n = Math.min(count, size - pos);
      const out = new Uint8Array(n);
      for (const [o, s] of pieces(pos, n)) {
        const v = yield* userCfgRead(dev, o, s);
        for (let i = 0; i < s; i++) out[o - pos + i] = (v >>> (8 * i)) & 0xff;
      }
      return out;
    },
    *write(_k: Kernel, pos: number, data: Uint8Array): Task<number> {
      if (pos >= size) return 0;
      const n = Math.min(data.length, size - pos);
      for (const [o, s] of pieces(pos, n)) {
        let v = 0;
        for (let i = 0; i < s; i++) v |= (data[o - pos + i] as number) << (8 * i);
        yield* userCfgWrite(dev, o, s, v >>> 0);
      }
      return n;
    },
  };
}

/** The device's directory (pci_create_sysfs_dev_files + the driver core's links). */
function deviceDir(pci: PciCore, dev: PciDev): SysfsNode {
  const depth = devicePath(pci, dev).length;
  return sysfsDir(() => {
    const e: Array<[string, () => SysfsNode | null]> = [];
    if (dev.fn.isBridge && dev.fn.secondaryBus !== null) {
      for (const c of pci.busDevices(dev.fn.secondaryBus)) e.push([c.name, () => deviceDir(pci, c)]);
    }
    e.push(['class', () => roAttr(() => `0x${pciIds(dev).cls.toString(16).padStart(6, '0')}\n`)]);
    e.push(['config', () => configAttr(dev)]);
    e.push(['device', () => roAttr(() => `0x${pciIds(dev).device.toString(16).padStart(4, '0')}\n`)]);
    if (dev.driver !== null) {
      const drv = dev.driver;
      e.push(['driver', () => ({ kind: 'link', target: rel(depth, ['bus', 'pci', 'drivers', drv]) })]);
    }
    if (dev.fn.iommuGroup >= 0) {
      const g = String(dev.fn.iommuGroup);
      e.push(['iommu_group', () => ({ kind: 'link', target: rel(depth, ['kernel', 'iommu_groups', g]) })]);
    }
    // reset_method_attr_is_visible: hidden when no method works
    if (pciResetMethods(pci, dev).length > 0) e.push(['reset_method', () => roAttr(() => `${pciResetMethods(pci, dev).join(' ')}\n`)]);
    e.push(['vendor', () => roAttr(() => `0x${pciIds(dev).vendor.toString(16).padStart(4, '0')}\n`)]);
    return e;
  });
}

/** A link from a directory `depth` levels below /sys to the device's directory. */
function linkTo(pci: PciCore, dev: PciDev, depth: number): SysfsNode {
  return { kind: 'link', target: rel(depth, devicePath(pci, dev)) };
}

/** /sys/devices: the root bus and everything below it. */
function devicesRoot(pci: PciCore): SysfsNode {
  const rootBus = pci.devs.filter((d) => pci.upstream(d) === null);
  return sysfsDir(() => [['pci0000:00', () => sysfsDir(() => rootBus.map((d) => [d.name, () => deviceDir(pci, d)] as const))]]);
}

/** /sys/bus: pci/devices (links to every function) and pci/drivers/<driver> (links to its devices). */
function busRoot(pci: PciCore): SysfsNode {
  const drivers = (): string[] => [...new Set(pci.devs.flatMap((d) => (d.driver === null ? [] : [d.driver])))].sort();
  const driverDir = (drv: string): SysfsNode => sysfsDir(() => pci.devs.filter((d) => d.driver === drv).map((d) => [d.name, () => linkTo(pci, d, 4)] as const));
  return sysfsDir(() => [
    [
      'pci',
      () =>
        sysfsDir(() => [
          ['devices', () => sysfsDir(() => pci.devs.map((d) => [d.name, () => linkTo(pci, d, 3)] as const))],
          ['drivers', () => sysfsDir(() => drivers().map((drv) => [drv, () => driverDir(drv)] as const))],
        ]),
    ],
  ]);
}

/** /sys/kernel/iommu_groups/<n>/devices (iommu_group_add_device's links). */
function kernelRoot(pci: PciCore): SysfsNode {
  const groups = (): number[] => [...new Set(pci.devs.map((d) => d.fn.iommuGroup).filter((g) => g >= 0))].sort((a, b) => a - b);
  const members = (g: number): SysfsNode => sysfsDir(() => pci.devs.filter((d) => d.fn.iommuGroup === g).map((d) => [d.name, () => linkTo(pci, d, 4)] as const));
  return sysfsDir(() => [['iommu_groups', () => sysfsDir(() => groups().map((g) => [String(g), () => sysfsDir(() => [['devices', () => members(g)]])] as const))]]);
}

/**
 * Register /sys/devices, /sys/bus and /sys/kernel for the PCI devices of `pci`
 * (pci_create_sysfs_dev_files, bus_add_device, iommu_group_add_device at enumeration).
 */
export function pciSysfsInit(k: Kernel, pci: PciCore): void {
  sysfsRegisterRoot(k, 'devices', devicesRoot, pci);
  sysfsRegisterRoot(k, 'bus', busRoot, pci);
  sysfsRegisterRoot(k, 'kernel', kernelRoot, pci);
}
