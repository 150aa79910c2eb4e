import type { PciFunctionHw, PciResource } from '../../hw/api.js';
import {
  PCI_CAP_ID_AF, PCI_CAP_ID_EXP, PCI_CAP_ID_MSI, PCI_CAP_ID_MSIX, PCI_CAP_ID_PM, PCI_CAPABILITY_LIST,
  PCI_STATUS, PCI_STATUS_CAP_LIST,
} from '../../uapi/pci-regs.js';
import type { Kernel } from '../kernel.js';
import { WaitGate } from '../locking/gate.js';
import type { Mutex } from '../locking/mutex.js';
import type { Scheduler } from '../sched/scheduler.js';
import type { SchedPoint, Task } from '../sched/task.js';

/**
 * What pci_save_state saves (the model's pci_saved_state): the 16 header dwords
 * (saved_config_space), then PCIe DevCtl, MSI flags and MSI-X flags (0 when absent).
 */
export type PciSavedState = readonly number[];

/** A cached MSI message (struct msi_msg). */
export interface MsiMsg {
  addr: number;
  data: number;
}

/**
 * struct pci_dev: the kernel's view of one PCI function, built at enumeration
 * (pci_setup_device / pci_init_capabilities, drivers/pci/probe.c 5.8).
 */
export class PciDev {
  readonly name: string;
  readonly pmCap: number;
  readonly msiCap: number;
  readonly msixCap: number;
  readonly pcieCap: number;
  readonly afCap: number;
  readonly cfgSize: number;
  /**
   * Whether vfio treats the function's command MEM bit as not implemented: a VF once the
   * VF fix (ebfa440ce38b, 5.8-rc3) is in — the `vfAlwaysEnabled` knob; before it, false.
   */
  readonly noCommandMemory: boolean;
  /** pdev->current_state */
  currentState: 'D0' | 'D1' | 'D2' | 'D3hot' = 'D0';
  enableCnt = 0;
  /** pci_save_state() buffer (dev->saved_config_space + cap state); null when !state_saved. */
  savedState: PciSavedState | null = null;
  /** dev->reset_fn: a function reset method exists (pci_probe_reset_function == 0). */
  resetFn = false;
  /** device_lock(&pdev->dev) */
  readonly deviceLock: Mutex;
  /** block_cfg_access + pci_cfg_wait */
  readonly cfgGate: WaitGate;
  msiEnabled = false;
  msixEnabled = false;
  /** Linux irq numbers of allocated MSI/MSI-X vectors, by vector index. */
  irqs: number[] = [];
  /** Cached MSI messages by vector index (get_cached_msi_msg). */
  msiMsgs: MsiMsg[] = [];
  /** Bound driver name ('vfio-pci', 'pci-stub', or null). */
  driver: string | null = null;
  // the scheduling points of config and device accesses, made on first use
  private cfgPoint_: SchedPoint | null = null;
  private cfgReadPoint_: SchedPoint | null = null;
  private hwPoint_: SchedPoint | null = null;
  /** The kernel's scheduler (config and device accesses pass their points through it). */
  readonly sched: Scheduler;

  constructor(
    k: Kernel,
    readonly fn: PciFunctionHw,
  ) {
    this.name = fn.name;
    this.sched = k.sched;
    this.cfgSize = fn.configSize;
    this.noCommandMemory = fn.isVirtfn && k.knobs.vfAlwaysEnabled;
    this.deviceLock = k.mutex('&dev->mutex', `device_lock:${fn.name}`);
    this.cfgGate = new WaitGate(k, `cfg_access:${fn.name}`);
    this.pmCap = findCapability(fn, PCI_CAP_ID_PM);
    this.msiCap = findCapability(fn, PCI_CAP_ID_MSI);
    this.msixCap = findCapability(fn, PCI_CAP_ID_MSIX);
    this.pcieCap = findCapability(fn, PCI_CAP_ID_EXP);
    this.afCap = findCapability(fn, PCI_CAP_ID_AF);
  }

  /** The scheduling point of a config write (it writes the function's config space, `hw:<function>:cfg`). */
  get cfgPoint(): SchedPoint {
    if (this.cfgPoint_ === null) this.cfgPoint_ = { op: 'cfg', obj: `hw:${this.name}:cfg`, access: 'w' };
    return this.cfgPoint_;
  }

  /** The scheduling point of a config read (it reads the function's config space). */
  get cfgReadPoint(): SchedPoint {
    if (this.cfgReadPoint_ === null) this.cfgReadPoint_ = { op: 'cfg', obj: `hw:${this.name}:cfg`, access: 'r' };
    return this.cfgReadPoint_;
  }

  /**
   * The scheduling point of a device (MMIO / port I/O) access: whatever becomes of it, it
   * reads the function's decode state (its config space); the access's own event adds
   * what it did to the device (see touchesOf in src/scenario/explore.ts).
   */
  get hwPoint(): SchedPoint {
    if (this.hwPoint_ === null) this.hwPoint_ = { op: 'mmio', obj: `hw:${this.name}:cfg`, access: 'r' };
    return this.hwPoint_;
  }

  resource(i: number): PciResource | null {
    return this.fn.resource(i);
  }

  get isPcie(): boolean {
    return this.pcieCap !== 0;
  }
}

/** pci_find_capability (drivers/pci/pci.c, 5.8): walk the capability list at enumeration. */
export function findCapability(fn: PciFunctionHw, id: number): number {
  if ((fn.cfgRead(PCI_STATUS, 2, 'kernel') & PCI_STATUS_CAP_LIST) === 0) return 0;
  let pos = fn.cfgRead(PCI_CAPABILITY_LIST, 1, 'kernel') & ~3;
  for (let ttl = 48; pos >= 0x40 && ttl > 0; ttl--) {
    const ent = fn.cfgRead(pos, 2, 'kernel');
    if ((ent & 0xff) === id) return pos;
    pos = (ent >> 8) & ~3;
  }
  return 0;
}

/** pci_read_config_dword / pci_read_config_word / pci_read_config_byte (drivers/pci/access.c, 5.8): a kernel config read (its scheduling point, then the read). */
export function* pciReadConfig(dev: PciDev, offset: number, size: 1 | 2 | 4): Task<number> {
  if (!dev.sched.passPoint()) yield dev.cfgReadPoint;
  return dev.fn.cfgRead(offset, size, 'kernel');
}

/** pci_write_config_dword / pci_write_config_word / pci_write_config_byte (drivers/pci/access.c, 5.8): a kernel config write (point, then the write). */
export function* pciWriteConfig(dev: PciDev, offset: number, size: 1 | 2 | 4, value: number): Task<void> {
  if (!dev.sched.passPoint()) yield dev.cfgPoint;
  dev.fn.cfgWrite(offset, size, value, 'kernel');
}

/** pci_user_read_config_dword / pci_user_read_config_word / pci_user_read_config_byte (drivers/pci/access.c, 5.8): waits while a reset blocks config access. */
export function* pciUserReadConfig(dev: PciDev, offset: number, size: 1 | 2 | 4): Task<number> {
  yield* dev.cfgGate.wait();
  if (!dev.sched.passPoint()) yield dev.cfgReadPoint;
  return dev.fn.cfgRead(offset, size, 'vfio-user');
}

/** pci_user_write_config_dword / pci_user_write_config_word / pci_user_write_config_byte (drivers/pci/access.c, 5.8): waits while a reset blocks config access. */
export function* pciUserWriteConfig(dev: PciDev, offset: number, size: 1 | 2 | 4, value: number): Task<void> {
  yield* dev.cfgGate.wait();
  if (!dev.sched.passPoint()) yield dev.cfgPoint;
  dev.fn.cfgWrite(offset, size, value, 'vfio-user');
}

/** ioread32 / ioread16 / ioread8 (lib/iomap.c, 5.8): on a kernel mapping of device memory, a CPU access at a physical address. */
export function* ioread(k: Kernel, dev: PciDev, addr: number, size: 1 | 2 | 4 | 8): Task<bigint> {
  if (!dev.sched.passPoint()) yield dev.hwPoint;
  return k.hw.memRead(addr, size);
}

/** iowrite32 / iowrite16 / iowrite8 (lib/iomap.c, 5.8): on a kernel mapping of device memory. */
export function* iowrite(k: Kernel, dev: PciDev, addr: number, size: 1 | 2 | 4 | 8, value: bigint): Task<void> {
  if (!dev.sched.passPoint()) yield dev.hwPoint;
  k.hw.memWrite(addr, size, value);
}

/** inl / inw / inb (arch/x86/include/asm/io.h, 5.8): port I/O. */
export function* ioportRead(k: Kernel, dev: PciDev, port: number, size: 1 | 2 | 4): Task<number> {
  if (!dev.sched.passPoint()) yield dev.hwPoint;
  return k.hw.ioRead(port, size);
}

/** outl / outw / outb (arch/x86/include/asm/io.h, 5.8): port I/O. */
export function* ioportWrite(k: Kernel, dev: PciDev, port: number, size: 1 | 2 | 4, value: number): Task<void> {
  if (!dev.sched.passPoint()) yield dev.hwPoint;
  k.hw.ioWrite(port, size, value);
}
