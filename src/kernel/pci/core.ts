import type { Kernel } from '../kernel.js';
import type { RwSemaphore } from '../locking/rwsem.js';
import { PciDev } from './pci-dev.js';
import { pciSysfsInit } from './pci-sysfs.js';
import { pushAll } from '../../util/array.js';

/** The PCI core's device list (pci_devices), built by enumeration at boot. */
export class PciCore {
  readonly devs: PciDev[] = [];
  private readonly byName = new Map<string, PciDev>();
  /** pci_bus_sem (drivers/pci/search.c): read-held by pci_walk_bus. */
  readonly busSem: RwSemaphore;

  constructor(readonly k: Kernel) {
    this.busSem = k.rwsem('pci_bus_sem', 'pci_bus_sem');
    for (const fn of k.hw.functions()) {
      const d = new PciDev(k, fn);
      this.devs.push(d);
      this.byName.set(d.name, d);
    }
    pciSysfsInit(k, this);
  }

  get(name: string): PciDev | undefined {
    return this.byName.get(name);
  }

  /** The bridge above `dev` (dev->bus->self), or null on the root bus. */
  upstream(dev: PciDev): PciDev | null {
    const up = dev.fn.upstream;
    return up === null ? null : (this.byName.get(up.name) ?? null);
  }

  /** Devices on bus `bus` (bus->devices). */
  busDevices(bus: number): PciDev[] {
    return this.devs.filter((d) => d.fn.bus === bus);
  }

  /** Every device on `bus` and below it, in walk order (pci_walk_bus). */
  walkBus(bus: number): PciDev[] {
    const out: PciDev[] = [];
    for (const d of this.busDevices(bus)) {
      out.push(d);
      if (d.fn.isBridge && d.fn.secondaryBus !== null) pushAll(out, this.walkBus(d.fn.secondaryBus));
    }
    return out;
  }
}
