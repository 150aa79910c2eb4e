/**
 * The vfio-pci bus driver (drivers/vfio/pci/vfio_pci.c, 5.8): probe, open/release,
 * the device ioctls, read/write and mmap.
 */
import { PAGE_SIZE } from '../../../hw/api.js';
import {
  PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, PCI_INTERRUPT_PIN, PCI_MSI_FLAGS, PCI_MSI_FLAGS_QMASK, PCI_MSIX_FLAGS,
  PCI_MSIX_FLAGS_QSIZE, PCI_MSIX_TABLE, PCI_MSIX_TABLE_BIR,
} from '../../../uapi/pci-regs.js';
import {
  decodeDeviceIoeventfd, decodeEventfdArray, decodeIrqSet, encodePciDependentDevice, SIZEOF_VFIO_PCI_DEPENDENT_DEVICE,
  VFIO_DEVICE_INFO, VFIO_IRQ_INFO, VFIO_PCI_HOT_RESET_INFO_LAYOUT, VFIO_PCI_HOT_RESET_LAYOUT, VFIO_REGION_INFO,
  VFIO_DEVICE_IOEVENTFD, VFIO_DEVICE_IOEVENTFD_MINSZ, VFIO_DEVICE_IOEVENTFD_SIZE_MASK, VFIO_DEVICE_INFO_MINSZ, VFIO_IRQ_INFO_MINSZ, VFIO_PCI_HOT_RESET_INFO_MINSZ, VFIO_PCI_HOT_RESET_MINSZ, VFIO_REGION_INFO_MINSZ,
  VFIO_DEVICE_FLAGS_PCI, VFIO_DEVICE_FLAGS_RESET, VFIO_DEVICE_GET_INFO, VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, VFIO_DEVICE_GET_REGION_INFO, VFIO_DEVICE_PCI_HOT_RESET, VFIO_DEVICE_RESET,
  VFIO_DEVICE_FEATURE, VFIO_DEVICE_SET_IRQS, VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_DATA_NONE, VFIO_IRQ_INFO_AUTOMASKED, VFIO_IRQ_INFO_EVENTFD, VFIO_IRQ_INFO_MASKABLE,
  VFIO_IRQ_INFO_NORESIZE, VFIO_IRQ_SET_DATA_BOOL, VFIO_IRQ_SET_DATA_EVENTFD, VFIO_IRQ_SET_DATA_TYPE_MASK,
  VFIO_IRQ_SET_MINSZ, VFIO_PCI_BAR5_REGION_INDEX, VFIO_PCI_CONFIG_REGION_INDEX, VFIO_PCI_ERR_IRQ_INDEX,
  VFIO_PCI_INTX_IRQ_INDEX, VFIO_PCI_MSI_IRQ_INDEX, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_PCI_NUM_IRQS,
  VFIO_PCI_NUM_REGIONS, VFIO_PCI_REQ_IRQ_INDEX, VFIO_PCI_ROM_REGION_INDEX, VFIO_PCI_VGA_REGION_INDEX,
  VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, VFIO_REGION_INFO_FLAG_CAPS, VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE, vfioPciIndexToOffset, vfioPciOffsetToIndex,
} from '../../../uapi/vfio.js';
import { EAGAIN, EBADF, EINVAL, ENODEV, ENOSPC, ENOTTY, EBUSY } from '../../errno.js';
import type { FilePos, KFile } from '../../fs/file.js';
import type { IrqTable } from '../../irq/irq.js';
import type { Kernel } from '../../kernel.js';
import type { Vma, VmOperations } from '../../mm/types.js';
import type { PciCore } from '../../pci/core.js';
import { pciClearMaster, pciDisableDevice, pciEnableDevice } from '../../pci/enable.js';
import { type PciDev, pciReadConfig, pciWriteConfig } from '../../pci/pci-dev.js';
import { pciSetPowerState } from '../../pci/power.js';
import { pciMapRom, pciUnmapRom } from '../../pci/rom.js';
import { pciProbeResetBus, pciResetBus, pciResetFunctionLocked, pciTryResetFunction } from '../../pci/reset.js';
import { pciLoadSavedState, pciRestoreState, pciSaveState, pciStoreSavedState } from '../../pci/state.js';
import { threadProcess } from '../../proc.js';
import type { Task } from '../../sched/task.js';
import type { VfioDevice, VfioDeviceOps } from '../device.js';
import { VfioInfoCapChain, vfioSetIrqsValidateAndPrepare } from '../info-cap.js';
import { fetchUser, storeUser } from '../uaccess.js';
import type { VfioCore, VfioGroup } from '../vfio.js';
import { vfioConfigFree, vfioConfigInit, vfioPciConfigRw } from './config.js';
import { type IrqSetData, vfioPciSetIrqsIoctl } from './intrs.js';
import { hotResetTryLockAndZap, vfioPciMemoryLockAndEnable, vfioPciMemoryUnlockAndRestore, vfioPciZapAndDownWriteMemoryLock, vfioPciZapAndVmaLock } from './memory-lock.js';
import { vfioPciMmap, vfioPciMmapOps } from './mmap.js';
import { vfioPciIoeventfd, vfioPciIoeventfdsRelease } from './ioeventfd.js';
import { vfioPciIoctlFeature, vfioPciPmDisable, vfioPciPmRuntimeBracket } from './pm.js';
import { vfioPciBarRw } from './rdwr.js';
import { VfioPciDevice } from './vfio-pci-device.js';

/** The vfio-pci driver instance of one kernel: its devices and the shared pieces they need. */
export class VfioPciDriver implements VfioDeviceOps {
  readonly name = 'vfio-pci';
  readonly devices: VfioPciDevice[] = [];
  private readonly reflcks = new Map<string, ReturnType<Kernel['mutex']>>();
  readonly mmapOps: VmOperations;

  constructor(
    readonly k: Kernel,
    readonly pci: PciCore,
    readonly vfio: VfioCore,
    readonly irqs: IrqTable,
  ) {
    this.mmapOps = vfioPciMmapOps(k);
  }

  /**
   * vfio_pci_probe (drivers/vfio/pci/vfio_pci.c, 5.8): bind a function, create its
   * locks, find the reflck shared by its slot/bus, add it to its VFIO group.
   */
  probe(pdev: PciDev): VfioPciDevice {
    const key = this.pci.upstream(pdev)?.name ?? `bus${pdev.fn.bus}`;
    let reflck = this.reflcks.get(key);
    if (reflck === undefined) {
      reflck = this.k.mutex('&reflck->lock', `reflck:${key}`);
      this.reflcks.set(key, reflck);
    }
    const vdev = new VfioPciDevice(this.k, pdev, reflck);
    pdev.driver = 'vfio-pci';
    vdev.vdev = this.vfio.addGroupDev(pdev.fn, this, vdev);
    this.devices.push(vdev);
    return vdev;
  }

  private vd(vdev: VfioDevice): VfioPciDevice {
    return vdev.driverData as VfioPciDevice;
  }

  /** vfio_pci_open (drivers/vfio/pci/vfio_pci.c, 5.8): first open enables the device. */
  *open(device: VfioDevice): Task<number> {
    const vdev = this.vd(device);
    yield* vdev.reflck.lock('vfio_pci_open');
    let ret = 0;
    if (vdev.refcnt === 0) ret = yield* this.enable(vdev);
    if (ret === 0) vdev.refcnt++;
    yield* vdev.reflck.unlock('vfio_pci_open');
    return ret;
  }

  /** vfio_pci_release (drivers/vfio/pci/vfio_pci.c, 5.8): last release disables the device. */
  *release(device: VfioDevice): Task<void> {
    const vdev = this.vd(device);
    yield* vdev.reflck.lock('vfio_pci_release');
    vdev.refcnt--;
    if (vdev.refcnt === 0) {
      yield* this.disable(vdev);
      yield* vdev.igate.lock('vfio_pci_release');
      vdev.errTrigger = null;
      vdev.reqTrigger = null;
      yield* vdev.igate.unlock('vfio_pci_release');
    }
    yield* vdev.reflck.unlock('vfio_pci_release');
  }

  /** vfio_pci_get_irq_count (drivers/vfio/pci/vfio_pci.c, 5.8) */
  private *irqCount(vdev: VfioPciDevice, index: number): Task<number> {
    const pdev = vdev.pdev;
    if (index === VFIO_PCI_INTX_IRQ_INDEX) {
      if (pdev.fn.isVirtfn) return 0;
      const pin = yield* pciReadConfig(pdev, PCI_INTERRUPT_PIN, 1);
      return pin !== 0 ? 1 : 0;
    }
    if (index === VFIO_PCI_MSI_IRQ_INDEX) {
      if (pdev.msiCap === 0) return 0;
      const flags = yield* pciReadConfig(pdev, pdev.msiCap + PCI_MSI_FLAGS, 2);
      return 1 << ((flags & PCI_MSI_FLAGS_QMASK) >> 1);
    }
    if (index === VFIO_PCI_MSIX_IRQ_INDEX) {
      if (pdev.msixCap === 0) return 0;
      const flags = yield* pciReadConfig(pdev, pdev.msixCap + PCI_MSIX_FLAGS, 2);
      return (flags & PCI_MSIX_FLAGS_QSIZE) + 1;
    }
    if (index === VFIO_PCI_ERR_IRQ_INDEX) return pdev.isPcie ? 1 : 0;
    if (index === VFIO_PCI_REQ_IRQ_INDEX) return 1;
    return 0;
  }

  /** vfio_pci_probe_mmaps (drivers/vfio/pci/vfio_pci.c, 5.8): memory BARs of at least a page are mmap-capable. */
  private probeMmaps(vdev: VfioPciDevice): void {
    for (let i = 0; i <= VFIO_PCI_BAR5_REGION_INDEX; i++) {
      const r = vdev.pdev.resource(i);
      vdev.barMmapSupported[i] = r !== null && r.kind === 'mem' && r.size > 0 && (r.size >= PAGE_SIZE || r.start % PAGE_SIZE === 0);
    }
  }

  /**
   * vfio_pci_enable (drivers/vfio/pci/vfio_pci.c, 5.8): D0, clear bus master, enable,
   * try a function reset (reset_works), save state, build vconfig, find the MSI-X BAR.
   */
  private *enable(vdev: VfioPciDevice): Task<number> {
    const k = this.k;
    const pdev = vdev.pdev;
    yield* pciSetPowerState(k, pdev, 'D0');
    yield* pciClearMaster(pdev);
    let ret = yield* pciEnableDevice(pdev);
    if (ret !== 0) return ret;
    ret = yield* pciTryResetFunction(k, this.pci, pdev);
    if (ret === -EAGAIN) {
      yield* pciDisableDevice(pdev);
      return ret;
    }
    vdev.resetWorks = ret === 0;
    yield* pciSaveState(pdev);
    vdev.pciSavedState = pciStoreSavedState(pdev);
    const cmd = yield* pciReadConfig(pdev, PCI_COMMAND, 2);
    if ((cmd & PCI_COMMAND_INTX_DISABLE) !== 0) yield* pciWriteConfig(pdev, PCI_COMMAND, 2, cmd & ~PCI_COMMAND_INTX_DISABLE);
    ret = yield* vfioConfigInit(vdev, (yield* this.irqCount(vdev, VFIO_PCI_INTX_IRQ_INDEX)) > 0);
    if (ret !== 0) {
      vdev.pciSavedState = null;
      yield* pciDisableDevice(pdev);
      return ret;
    }
    if (pdev.msixCap !== 0) {
      const flags = yield* pciReadConfig(pdev, pdev.msixCap + PCI_MSIX_FLAGS, 2);
      const table = yield* pciReadConfig(pdev, pdev.msixCap + PCI_MSIX_TABLE, 4);
      vdev.msixBar = table & PCI_MSIX_TABLE_BIR;
      vdev.msixOffset = (table & ~PCI_MSIX_TABLE_BIR) >>> 0;
      vdev.msixSize = ((flags & PCI_MSIX_FLAGS_QSIZE) + 1) * 16;
    } else {
      vdev.msixBar = 0xff;
    }
    this.probeMmaps(vdev);
    return 0;
  }

  /**
   * vfio_pci_disable (drivers/vfio/pci/vfio_pci.c, 5.8): stop DMA, tear down
   * interrupts, restore the open-time state, reset if possible, try a bus reset, D3hot.
   */
  private *disable(vdev: VfioPciDevice): Task<void> {
    const k = this.k;
    const pdev = vdev.pdev;
    if (k.knobs.lowPowerEntry) yield* vfioPciPmDisable(k, vdev); // 6.1: leave low power, resume
    yield* pciClearMaster(pdev);
    if (vdev.irqType === VFIO_PCI_MSI_IRQ_INDEX || vdev.irqType === VFIO_PCI_MSIX_IRQ_INDEX) {
      // vfio_pci_set_irqs_ioctl(vdev, DATA_NONE | ACTION_TRIGGER, irq_type, 0, 0, NULL)
      yield* vfioPciSetIrqsIoctl(k, this.irqs, vdev, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, vdev.irqType, 0, 0, { kind: 'none' });
    }
    vfioPciIoeventfdsRelease(vdev);
    vdev.virqDisabled = false;
    vfioConfigFree(vdev);
    for (let i = 0; i < vdev.barmap.length; i++) vdev.barmap[i] = false;
    vdev.needsReset = true;
    let restored = true;
    if (pciLoadSavedState(pdev, vdev.pciSavedState) !== 0) {
      restored = false;
      if (vdev.resetWorks) yield* pciSaveState(pdev);
    }
    vdev.pciSavedState = null;
    if (restored || vdev.resetWorks) {
      yield* pciWriteConfig(pdev, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
      if (vdev.resetWorks && (yield* pdev.cfgGate.tryClose())) {
        if (yield* pdev.deviceLock.trylock('vfio_pci_disable')) {
          if ((yield* pciResetFunctionLocked(k, this.pci, pdev, false)) === 0) vdev.needsReset = false;
          yield* pdev.deviceLock.unlock('vfio_pci_disable');
        }
        yield* pdev.cfgGate.open();
      }
      yield* pciRestoreState(pdev);
    }
    yield* pciDisableDevice(pdev);
    yield* this.tryBusReset(vdev);
    yield* pciSetPowerState(k, pdev, 'D3hot');
  }

  /**
   * vfio_pci_try_bus_reset (drivers/vfio/pci/vfio_pci.c, 5.8): when every device on the
   * slot/bus is a closed vfio-pci device and one needs a reset, reset the bus.
   */
  private *tryBusReset(vdev: VfioPciDevice): Task<void> {
    if (!vdev.needsReset) return;
    if (pciProbeResetBus(this.pci, vdev.pdev) !== 0) return;
    const devs: VfioPciDevice[] = [];
    for (const d of this.pci.walkBus(vdev.pdev.fn.bus)) {
      const v = this.devices.find((x) => x.pdev === d);
      if (v === undefined || v.refcnt > 0) return;
      devs.push(v);
    }
    if (!devs.some((d) => d.needsReset)) return;
    if ((yield* pciResetBus(this.k, this.pci, vdev.pdev)) === 0) for (const d of devs) d.needsReset = false;
  }

  /** vfio_pci_read (drivers/vfio/pci/vfio_pci.c, 5.8) */
  *read(device: VfioDevice, buf: number, count: number, pos: FilePos): Task<number> {
    if (count === 0) return 0;
    return yield* this.pmRw(this.vd(device), buf, count, pos, false);
  }

  /** vfio_pci_write (drivers/vfio/pci/vfio_pci.c, 5.8) */
  *write(device: VfioDevice, buf: number, count: number, pos: FilePos): Task<number> {
    if (count === 0) return 0;
    return yield* this.pmRw(this.vd(device), buf, count, pos, true);
  }

  /**
   * vfio_pci_rw (drivers/vfio/pci/vfio_pci_core.c, 6.1): its runtime-PM bracket (with the
   * lowPowerEntry knob): after the region index check, pm_runtime_resume_and_get around
   * the access — a runtime-suspended device is woken for it, pm_runtime_engaged does not
   * block it. Without the knob: rw as is.
   */
  private *pmRw(vdev: VfioPciDevice, buf: number, count: number, pos: FilePos, iswrite: boolean): Task<number> {
    if (!this.k.knobs.lowPowerEntry || vfioPciOffsetToIndex(pos.value) >= VFIO_PCI_NUM_REGIONS) return yield* this.rw(vdev, buf, count, pos, iswrite);
    return yield* vfioPciPmRuntimeBracket(this.k, vdev, () => this.rw(vdev, buf, count, pos, iswrite));
  }

  /** vfio_pci_rw (drivers/vfio/pci/vfio_pci.c, 5.8): dispatch by region index. */
  private *rw(vdev: VfioPciDevice, buf: number, count: number, pos: FilePos, iswrite: boolean): Task<number> {
    const index = vfioPciOffsetToIndex(pos.value);
    if (index >= VFIO_PCI_NUM_REGIONS) return -EINVAL;
    switch (index) {
      case VFIO_PCI_CONFIG_REGION_INDEX:
        return yield* vfioPciConfigRw(this.k, this.pci, vdev, buf, count, pos, iswrite);
      case VFIO_PCI_ROM_REGION_INDEX:
        if (iswrite) return -EINVAL;
        return yield* vfioPciBarRw(this.k, vdev, buf, count, pos, false);
      case VFIO_PCI_VGA_REGION_INDEX:
        return -EINVAL; // vfio_pci_vga_rw: no VGA device is modelled (has_vga false)
      default:
        return yield* vfioPciBarRw(this.k, vdev, buf, count, pos, iswrite);
    }
  }

  /** vfio_pci_mmap (drivers/vfio/pci/vfio_pci.c, 5.8): the vfio_device_ops entry. */
  *mmap(device: VfioDevice, vma: Vma): Task<number> {
    return yield* vfioPciMmap(this.k, this.vd(device), vma, this.mmapOps);
  }

  /**
   * vfio_device_fops_unl_ioctl (drivers/vfio/vfio_main.c, 6.1; drivers/vfio/vfio.c in 5.8):
   * a device-fd ioctl. With the lowPowerEntry knob (6.1) it is bracketed with
   * vfio_device_pm_runtime_get/put: a runtime-suspended device is resumed for the call and
   * may suspend again after it.
   */
  *ioctl(device: VfioDevice, cmd: number, arg: number): Task<number> {
    const vdev = this.vd(device);
    if (!this.k.knobs.lowPowerEntry) return yield* this.pciIoctl(vdev, cmd, arg);
    return yield* vfioPciPmRuntimeBracket(this.k, vdev, () => this.pciIoctl(vdev, cmd, arg));
  }

  /** vfio_pci_ioctl (drivers/vfio/pci/vfio_pci.c, 5.8; VFIO_DEVICE_FEATURE also as in 6.1, see pm.ts) */
  private *pciIoctl(vdev: VfioPciDevice, cmd: number, arg: number): Task<number> {
    switch (cmd) {
      case VFIO_DEVICE_FEATURE: return yield* vfioPciIoctlFeature(this.k, vdev, arg);
      case VFIO_DEVICE_GET_INFO: return yield* this.getInfo(vdev, arg);
      case VFIO_DEVICE_GET_REGION_INFO: return yield* this.getRegionInfo(vdev, arg);
      case VFIO_DEVICE_GET_IRQ_INFO: return yield* this.getIrqInfo(vdev, arg);
      case VFIO_DEVICE_SET_IRQS: return yield* this.setIrqs(vdev, arg);
      case VFIO_DEVICE_RESET: return yield* this.reset(vdev);
      case VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: return yield* this.hotResetInfo(vdev, arg);
      case VFIO_DEVICE_PCI_HOT_RESET: return yield* this.hotReset(vdev, arg);
      case VFIO_DEVICE_IOEVENTFD: return yield* this.ioeventfd(vdev, arg);
      default: return -ENOTTY;
    }
  }

  /** vfio_pci_ioctl (drivers/vfio/pci/vfio_pci.c, 5.8): its VFIO_DEVICE_IOEVENTFD case. */
  private *ioeventfd(vdev: VfioPciDevice, arg: number): Task<number> {
    const minsz = VFIO_DEVICE_IOEVENTFD_MINSZ;
    const b = yield* fetchUser(this.k, arg, minsz);
    if (typeof b === 'number') return b;
    const a = decodeDeviceIoeventfd(b);
    if (a.argsz < minsz) return -EINVAL;
    if ((a.flags & ~VFIO_DEVICE_IOEVENTFD_SIZE_MASK) !== 0) return -EINVAL;
    const count = a.flags & VFIO_DEVICE_IOEVENTFD_SIZE_MASK;
    if ((count !== 1 && count !== 2 && count !== 4 && count !== 8) || a.fd < -1) return -EINVAL;
    return yield* vfioPciIoeventfd(this.k, vdev, a.offset, a.data, count, a.fd);
  }

  /** vfio_pci_ioctl (drivers/vfio/pci/vfio_pci.c, 5.8): its VFIO_DEVICE_GET_INFO case. */
  private *getInfo(vdev: VfioPciDevice, arg: number): Task<number> {
    const minsz = VFIO_DEVICE_INFO_MINSZ;
    const b = yield* fetchUser(this.k, arg, minsz);
    if (typeof b === 'number') return b;
    const info = VFIO_DEVICE_INFO.decode(b);
    if (info.argsz < minsz) return -EINVAL;
    info.flags = VFIO_DEVICE_FLAGS_PCI | (vdev.resetWorks ? VFIO_DEVICE_FLAGS_RESET : 0);
    info.numRegions = VFIO_PCI_NUM_REGIONS;
    info.numIrqs = VFIO_PCI_NUM_IRQS;
    return yield* storeUser(this.k, arg, VFIO_DEVICE_INFO.encode(info, b));
  }

  /** vfio_pci_ioctl (drivers/vfio/pci/vfio_pci.c, 5.8): its VFIO_DEVICE_GET_REGION_INFO case. */
  private *getRegionInfo(vdev: VfioPciDevice, arg: number): Task<number> {
    const k = this.k;
    const minsz = VFIO_REGION_INFO_MINSZ;
    const b = yield* fetchUser(k, arg, minsz);
    if (typeof b === 'number') return b;
    const info = VFIO_REGION_INFO.decode(b);
    const { argsz, index } = info;
    if (argsz < minsz) return -EINVAL;
    const caps = new VfioInfoCapChain();
    let flags = 0;
    let size = 0;
    const pdev = vdev.pdev;
    if (index === VFIO_PCI_CONFIG_REGION_INDEX) {
      size = pdev.cfgSize;
      flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
    } else if (index <= VFIO_PCI_BAR5_REGION_INDEX) {
      const r = pdev.resource(index);
      size = r === null ? 0 : r.size;
      if (size !== 0) {
        flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
        if (vdev.barMmapSupported[index] === true) {
          flags |= VFIO_REGION_INFO_FLAG_MMAP;
          if (index === vdev.msixBar) caps.add(8, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, 1);
        }
      }
    } else if (index === VFIO_PCI_ROM_REGION_INDEX) {
      const r = pdev.resource(index);
      size = r === null ? 0 : r.size;
      if (size !== 0) {
        // "Is it really there? Enable memory decode for implicit access in pci_map_rom()"
        let present: boolean;
        if (k.knobs.romProbe === 'lock-and-enable') {
          const cmd = yield* vfioPciMemoryLockAndEnable(vdev);
          present = yield* this.probeRom(pdev);
          yield* vfioPciMemoryUnlockAndRestore(vdev, cmd);
        } else {
          const cmd = yield* pciReadConfig(pdev, PCI_COMMAND, 2);
          yield* pciWriteConfig(pdev, PCI_COMMAND, 2, cmd | 2);
          present = yield* this.probeRom(pdev);
          yield* pciWriteConfig(pdev, PCI_COMMAND, 2, cmd);
        }
        if (present) flags = VFIO_REGION_INFO_FLAG_READ;
        else size = 0;
      }
    } else if (index === VFIO_PCI_VGA_REGION_INDEX) {
      return -EINVAL; // !vdev->has_vga
    } else {
      return -EINVAL; // no device-specific regions
    }
    let capOffset = 0;
    let outArgsz = argsz;
    if (caps.size > 0) {
      flags |= VFIO_REGION_INFO_FLAG_CAPS;
      if (argsz < minsz + caps.size) {
        outArgsz = minsz + caps.size;
      } else {
        caps.shift(minsz);
        const r = yield* storeUser(k, arg + minsz, caps.buf);
        if (r !== 0) return r;
        capOffset = minsz;
      }
    }
    info.argsz = outArgsz;
    info.flags = flags;
    info.capOffset = capOffset;
    info.size = BigInt(size);
    info.offset = BigInt(vfioPciIndexToOffset(index));
    return yield* storeUser(k, arg, VFIO_REGION_INFO.encode(info, b));
  }

  /** vfio_pci_ioctl (drivers/vfio/pci/vfio_pci.c, 5.8): the ROM probe of VFIO_DEVICE_GET_REGION_INFO (pci_map_rom, then pci_unmap_rom). */
  private *probeRom(pdev: PciDev): Task<boolean> {
    const rom = yield* pciMapRom(this.k, pdev);
    if (rom === null) return false;
    yield* pciUnmapRom(pdev);
    return true;
  }

  /** vfio_pci_ioctl (drivers/vfio/pci/vfio_pci.c, 5.8): its VFIO_DEVICE_GET_IRQ_INFO case. */
  private *getIrqInfo(vdev: VfioPciDevice, arg: number): Task<number> {
    const minsz = VFIO_IRQ_INFO_MINSZ;
    const b = yield* fetchUser(this.k, arg, minsz);
    if (typeof b === 'number') return b;
    const info = VFIO_IRQ_INFO.decode(b);
    const index = info.index;
    if (info.argsz < minsz || index >= VFIO_PCI_NUM_IRQS) return -EINVAL;
    if (index === VFIO_PCI_ERR_IRQ_INDEX && !vdev.pdev.isPcie) return -EINVAL;
    let flags = VFIO_IRQ_INFO_EVENTFD;
    if (index === VFIO_PCI_INTX_IRQ_INDEX) flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
    else flags |= VFIO_IRQ_INFO_NORESIZE;
    info.flags = flags;
    info.count = yield* this.irqCount(vdev, index);
    return yield* storeUser(this.k, arg, VFIO_IRQ_INFO.encode(info, b));
  }

  /** vfio_pci_ioctl (drivers/vfio/pci/vfio_pci.c, 5.8): its VFIO_DEVICE_SET_IRQS case. */
  private *setIrqs(vdev: VfioPciDevice, arg: number): Task<number> {
    const k = this.k;
    const hb = yield* fetchUser(k, arg, VFIO_IRQ_SET_MINSZ);
    if (typeof hb === 'number') return hb;
    const hdr = decodeIrqSet(hb);
    const max = yield* this.irqCount(vdev, hdr.index);
    const dataSize = vfioSetIrqsValidateAndPrepare(hdr, max, VFIO_PCI_NUM_IRQS);
    if (dataSize < 0) return dataSize;
    let data: IrqSetData = { kind: 'none' };
    if (dataSize > 0) {
      const db = yield* fetchUser(k, arg + VFIO_IRQ_SET_MINSZ, dataSize);
      if (typeof db === 'number') return db;
      const type = hdr.flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
      if (type === VFIO_IRQ_SET_DATA_EVENTFD) data = { kind: 'eventfd', fds: decodeEventfdArray(db, hdr.count) };
      else if (type === VFIO_IRQ_SET_DATA_BOOL) data = { kind: 'bool', values: Array.from(db, (x) => x !== 0) };
    }
    yield* vdev.igate.lock('vfio_pci_ioctl');
    const ret = yield* vfioPciSetIrqsIoctl(k, this.irqs, vdev, hdr.flags, hdr.index, hdr.start, hdr.count, data);
    yield* vdev.igate.unlock('vfio_pci_ioctl');
    return ret;
  }

  /** vfio_pci_ioctl (drivers/vfio/pci/vfio_pci.c, 5.8): VFIO_DEVICE_RESET; -EINVAL without reset support (no zap); else zap + write lock + try reset. */
  private *reset(vdev: VfioPciDevice): Task<number> {
    if (!vdev.resetWorks) return -EINVAL;
    const zap = this.k.knobs.zapOnDisable;
    if (zap) yield* vfioPciZapAndDownWriteMemoryLock(this.k, vdev);
    const ret = yield* pciTryResetFunction(this.k, this.pci, vdev.pdev);
    if (zap) yield* vdev.memoryLock.upWrite('vfio_pci_ioctl');
    return ret;
  }

  /** The devices a hot reset of `vdev` affects (vfio_pci_for_each_slot_or_bus; no hotplug slots modelled). */
  private affected(vdev: VfioPciDevice): PciDev[] {
    return this.pci.walkBus(vdev.pdev.fn.bus);
  }

  /** vfio_pci_ioctl (drivers/vfio/pci/vfio_pci.c, 5.8): its VFIO_DEVICE_GET_PCI_HOT_RESET_INFO case. */
  private *hotResetInfo(vdev: VfioPciDevice, arg: number): Task<number> {
    const k = this.k;
    const minsz = VFIO_PCI_HOT_RESET_INFO_MINSZ;
    const b = yield* fetchUser(k, arg, minsz);
    if (typeof b === 'number') return b;
    const hdr = VFIO_PCI_HOT_RESET_INFO_LAYOUT.decode(b);
    const argsz = hdr.argsz;
    if (argsz < minsz) return -EINVAL;
    hdr.flags = 0;
    if (pciProbeResetBus(this.pci, vdev.pdev) !== 0) return -ENODEV;
    yield* this.pci.busSem.downRead('pci_walk_bus');
    const devs = this.affected(vdev);
    yield* this.pci.busSem.upRead('pci_walk_bus');
    if (argsz < minsz + devs.length * SIZEOF_VFIO_PCI_DEPENDENT_DEVICE) {
      hdr.count = devs.length;
      const r = yield* storeUser(k, arg, VFIO_PCI_HOT_RESET_INFO_LAYOUT.encode(hdr, b));
      return r !== 0 ? r : -ENOSPC;
    }
    const out = new Uint8Array(devs.length * SIZEOF_VFIO_PCI_DEPENDENT_DEVICE);
    devs.forEach((d, i) => encodePciDependentDevice({ groupId: d.fn.iommuGroup, segment: 0, bus: d.fn.bus, devfn: d.fn.devfn }, out, i * SIZEOF_VFIO_PCI_DEPENDENT_DEVICE));
    hdr.count = devs.length;
    let r = yield* storeUser(k, arg, VFIO_PCI_HOT_RESET_INFO_LAYOUT.encode(hdr, b));
    if (r === 0) r = yield* storeUser(k, arg + minsz, out);
    return r;
  }

  /**
   * vfio_pci_ioctl (drivers/vfio/pci/vfio_pci.c, 5.8): VFIO_DEVICE_PCI_HOT_RESET; check
   * flags/count/group fds, then for every affected device try-zap keeping vma_lock, then try-lock
   * each memory_lock for write and drop its vma_lock, reset the bus, unwind. Any contention gives
   * -EBUSY.
   */
  private *hotReset(vdev: VfioPciDevice, arg: number): Task<number> {
    const k = this.k;
    const minsz = VFIO_PCI_HOT_RESET_MINSZ;
    const b = yield* fetchUser(k, arg, minsz);
    if (typeof b === 'number') return b;
    const { argsz, flags, count } = VFIO_PCI_HOT_RESET_LAYOUT.decode(b);
    if (argsz < minsz || flags !== 0) return -EINVAL;
    if (pciProbeResetBus(this.pci, vdev.pdev) !== 0) return -ENODEV;
    const devs = this.affected(vdev);
    if (count === 0 || count > devs.length) return -EINVAL;
    const fb = yield* fetchUser(k, arg + minsz, count * 4);
    if (typeof fb === 'number') return fb;
    const fds = decodeEventfdArray(fb, count);
    const proc = threadProcess(k.sched.current);
    if (proc === null) return -EINVAL;
    const groups: VfioGroup[] = [];
    let ret = 0;
    for (const fd of fds) {
      const f: KFile | undefined = proc.files.get(fd);
      if (f === undefined) {
        ret = -EBADF;
        break;
      }
      const g = this.vfio.groupGetExternalUser(f);
      if (typeof g === 'number') {
        ret = g;
        break;
      }
      groups.push(g);
    }
    const groupIds = groups.map((g) => this.vfio.groupId(g));
    if (ret === 0) for (const d of devs) if (!groupIds.includes(d.fn.iommuGroup)) ret = -EINVAL;
    if (ret === 0) ret = yield* this.hotResetLocked(vdev, devs);
    // vfio_group_put_external_user on every exit path
    for (const g of groups.reverse()) yield* this.vfio.groupPutExternalUser(g);
    return ret;
  }

  /**
   * vfio_pci_ioctl (drivers/vfio/pci/vfio_pci.c, 5.8): the locked part of
   * VFIO_DEVICE_PCI_HOT_RESET; try-zap, try-lock memory_lock, reset, unwind. With zapMethod
   * 'address-space' (vfio_pci_dev_set_hot_reset, 6.10): per device down_write_trylock(memory_lock)
   * then unmap_mapping_range, no vma_lock.
   */
  private *hotResetLocked(vdev: VfioPciDevice, devs: readonly PciDev[]): Task<number> {
    const k = this.k;
    const held: VfioPciDevice[] = [];
    let memIdx = 0;
    let ret = 0;
    yield* this.pci.busSem.downRead('pci_walk_bus');
    for (const d of devs) {
      const vd = this.vfio.deviceForFunction(d.fn);
      if (vd === null) {
        ret = -EINVAL;
        break;
      }
      if (vd.ops.name !== 'vfio-pci') {
        ret = -EBUSY;
        break;
      }
      const other = vd.driverData as VfioPciDevice;
      if (!k.knobs.hotResetTryLock || k.knobs.zapMethod === 'address-space') {
        held.push(other);
        continue;
      }
      if (!(yield* vfioPciZapAndVmaLock(k, other, true))) {
        ret = -EBUSY;
        break;
      }
      held.push(other);
    }
    yield* this.pci.busSem.upRead('pci_walk_bus');
    if (ret === 0 && k.knobs.hotResetTryLock) {
      for (; memIdx < held.length; memIdx++) {
        const other = held[memIdx] as VfioPciDevice;
        if (k.knobs.zapMethod === 'address-space') {
          // 6.10 vfio_pci_dev_set_hot_reset: trylock memory_lock (W), then zap; no vma_lock
          if (!(yield* hotResetTryLockAndZap(k, other, 'vfio_pci_dev_set_hot_reset'))) {
            ret = -EBUSY;
            break;
          }
          continue;
        }
        if (!(yield* other.memoryLock.downWriteTrylock('vfio_pci_ioctl'))) {
          ret = -EBUSY;
          break;
        }
        yield* other.vmaLock.unlock('vfio_pci_ioctl');
      }
    }
    if (ret === 0) ret = yield* pciResetBus(k, this.pci, vdev.pdev);
    if (k.knobs.hotResetTryLock) {
      for (let i = 0; i < held.length; i++) {
        const other = held[i] as VfioPciDevice;
        if (i < memIdx) yield* other.memoryLock.upWrite('vfio_pci_ioctl');
        else if (k.knobs.zapMethod !== 'address-space') yield* other.vmaLock.unlock('vfio_pci_ioctl');
      }
    }
    return ret;
  }
}



