import {
  PCI_MSI_ADDRESS_HI, PCI_MSI_ADDRESS_LO, PCI_MSI_DATA_32, PCI_MSI_DATA_64, PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT,
  PCI_MSI_FLAGS_ENABLE, PCI_MSI_FLAGS_QMASK, PCI_MSI_FLAGS_QSIZE, PCI_MSIX_ENTRY_CTRL_MASKBIT,
  PCI_MSIX_ENTRY_DATA, PCI_MSIX_ENTRY_LOWER_ADDR, PCI_MSIX_ENTRY_SIZE, PCI_MSIX_ENTRY_UPPER_ADDR,
  PCI_MSIX_ENTRY_VECTOR_CTRL, PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, PCI_MSIX_FLAGS_MASKALL,
  PCI_MSIX_FLAGS_QSIZE, PCI_MSIX_TABLE,
} from '../../uapi/pci-regs.js';
import { EINVAL, ENOSPC } from '../errno.js';
import { MSI_ADDR_BASE, type IrqTable } from '../irq/irq.js';
import type { Kernel } from '../kernel.js';
import type { Task } from '../sched/task.js';
import { pciIntx } from './enable.js';
import { ioread, iowrite, type PciDev, pciReadConfig, pciWriteConfig } from './pci-dev.js';

/** msix_map_region (drivers/pci/msi.c, 5.8): the physical address of MSI-X table entry `i`. */
function* msixEntryAddr(dev: PciDev, i: number): Task<number> {
  const table = yield* pciReadConfig(dev, dev.msixCap + PCI_MSIX_TABLE, 4);
  const bir = table & 7;
  const r = dev.resource(bir);
  const base = r === null ? 0 : r.start;
  return base + ((table & ~7) >>> 0) + i * PCI_MSIX_ENTRY_SIZE;
}

/** pci_msix_clear_and_set_ctrl (drivers/pci/msi.c, 5.8) */
function* msixClearAndSetCtrl(dev: PciDev, clear: number, set: number): Task<void> {
  const ctrl = yield* pciReadConfig(dev, dev.msixCap + PCI_MSIX_FLAGS, 2);
  yield* pciWriteConfig(dev, dev.msixCap + PCI_MSIX_FLAGS, 2, (ctrl & ~clear) | set);
}

/** __pci_msix_desc_mask_irq (drivers/pci/msi.c, 5.8): write an entry's mask bit through MMIO. */
function* msixMaskEntry(k: Kernel, dev: PciDev, i: number, mask: boolean): Task<void> {
  const a = yield* msixEntryAddr(dev, i);
  const ctrl = Number(yield* ioread(k, dev, a + PCI_MSIX_ENTRY_VECTOR_CTRL, 4));
  const v = mask ? ctrl | PCI_MSIX_ENTRY_CTRL_MASKBIT : ctrl & ~PCI_MSIX_ENTRY_CTRL_MASKBIT;
  yield* iowrite(k, dev, a + PCI_MSIX_ENTRY_VECTOR_CTRL, 4, BigInt(v >>> 0));
}

/** __pci_write_msi_msg (drivers/pci/msi.c, 5.8): program one vector's message (table entry or capability). */
export function* pciWriteMsiMsg(k: Kernel, dev: PciDev, vector: number): Task<void> {
  const msg = dev.msiMsgs[vector];
  if (msg === undefined) return;
  if (dev.currentState !== 'D0') return; // "Don't touch the hardware now"
  if (dev.msixEnabled) {
    const a = yield* msixEntryAddr(dev, vector);
    yield* iowrite(k, dev, a + PCI_MSIX_ENTRY_LOWER_ADDR, 4, BigInt(msg.addr >>> 0));
    yield* iowrite(k, dev, a + PCI_MSIX_ENTRY_UPPER_ADDR, 4, 0n);
    yield* iowrite(k, dev, a + PCI_MSIX_ENTRY_DATA, 4, BigInt(msg.data >>> 0));
  } else if (dev.msiEnabled) {
    const flags = yield* pciReadConfig(dev, dev.msiCap + PCI_MSI_FLAGS, 2);
    yield* pciWriteConfig(dev, dev.msiCap + PCI_MSI_ADDRESS_LO, 4, msg.addr);
    if ((flags & PCI_MSI_FLAGS_64BIT) !== 0) {
      yield* pciWriteConfig(dev, dev.msiCap + PCI_MSI_ADDRESS_HI, 4, 0);
      yield* pciWriteConfig(dev, dev.msiCap + PCI_MSI_DATA_64, 2, msg.data & 0xffff);
    } else {
      yield* pciWriteConfig(dev, dev.msiCap + PCI_MSI_DATA_32, 2, msg.data & 0xffff);
    }
  }
}

/** msix_capability_init (drivers/pci/msi.c, 5.8): enable with all masked, program entries, unmask the function. */
function* msixCapabilityInit(k: Kernel, irqs: IrqTable, dev: PciDev, nvec: number): Task<number> {
  yield* msixClearAndSetCtrl(dev, 0, PCI_MSIX_FLAGS_MASKALL | PCI_MSIX_FLAGS_ENABLE);
  dev.irqs = irqs.alloc(dev.name, nvec);
  dev.msiMsgs = dev.irqs.map((irq) => ({ addr: MSI_ADDR_BASE, data: irq }));
  dev.msixEnabled = true;
  for (let i = 0; i < nvec; i++) {
    yield* pciWriteMsiMsg(k, dev, i);
    yield* msixMaskEntry(k, dev, i, true);
  }
  yield* pciIntx(dev, false);
  yield* msixClearAndSetCtrl(dev, PCI_MSIX_FLAGS_MASKALL, 0);
  return nvec;
}

/** msi_capability_init (drivers/pci/msi.c, 5.8): program address/data, set MME and enable. */
function* msiCapabilityInit(k: Kernel, irqs: IrqTable, dev: PciDev, nvec: number): Task<number> {
  const flags = yield* pciReadConfig(dev, dev.msiCap + PCI_MSI_FLAGS, 2);
  yield* pciWriteConfig(dev, dev.msiCap + PCI_MSI_FLAGS, 2, flags & ~PCI_MSI_FLAGS_ENABLE);
  dev.irqs = irqs.alloc(dev.name, nvec);
  const base = dev.irqs[0] ?? 0;
  dev.msiMsgs = dev.irqs.map((_irq, i) => ({ addr: MSI_ADDR_BASE, data: base + i }));
  dev.msiEnabled = true;
  yield* pciWriteMsiMsg(k, dev, 0);
  let mme = 0;
  while (1 << mme < nvec) mme++;
  const f2 = (flags & ~PCI_MSI_FLAGS_QSIZE) | (mme << 4) | PCI_MSI_FLAGS_ENABLE;
  yield* pciWriteConfig(dev, dev.msiCap + PCI_MSI_FLAGS, 2, f2);
  yield* pciIntx(dev, false);
  return nvec;
}

/**
 * pci_alloc_irq_vectors (drivers/pci/msi.c, 5.8), for exactly one of MSI-X or MSI:
 * returns the number of vectors allocated or -errno.
 */
export function* pciAllocIrqVectors(k: Kernel, irqs: IrqTable, dev: PciDev, minVecs: number, maxVecs: number, msix: boolean): Task<number> {
  if (maxVecs < minVecs || minVecs < 1) return -EINVAL;
  if (dev.msiEnabled || dev.msixEnabled) return -EINVAL;
  if (msix) {
    if (dev.msixCap === 0) return -EINVAL;
    const ctrl = yield* pciReadConfig(dev, dev.msixCap + PCI_MSIX_FLAGS, 2);
    const size = (ctrl & PCI_MSIX_FLAGS_QSIZE) + 1;
    if (size < minVecs) return -ENOSPC;
    return yield* msixCapabilityInit(k, irqs, dev, Math.min(size, maxVecs));
  }
  if (dev.msiCap === 0) return -EINVAL;
  const flags = yield* pciReadConfig(dev, dev.msiCap + PCI_MSI_FLAGS, 2);
  const mmc = 1 << ((flags & PCI_MSI_FLAGS_QMASK) >> 1);
  if (mmc < minVecs) return -ENOSPC;
  let n = Math.min(mmc, maxVecs);
  // MSI allocates a power of two
  let p = 1;
  while (p * 2 <= n) p *= 2;
  n = p;
  if (n < minVecs) return -ENOSPC;
  return yield* msiCapabilityInit(k, irqs, dev, n);
}

/** pci_free_irq_vectors → pci_disable_msix/pci_disable_msi (drivers/pci/msi.c, 5.8). */
export function* pciFreeIrqVectors(k: Kernel, irqs: IrqTable, dev: PciDev): Task<void> {
  if (dev.msixEnabled) {
    for (let i = 0; i < dev.irqs.length; i++) yield* msixMaskEntry(k, dev, i, true);
    yield* msixClearAndSetCtrl(dev, PCI_MSIX_FLAGS_ENABLE, 0);
    yield* pciIntx(dev, true);
    dev.msixEnabled = false;
  } else if (dev.msiEnabled) {
    const flags = yield* pciReadConfig(dev, dev.msiCap + PCI_MSI_FLAGS, 2);
    yield* pciWriteConfig(dev, dev.msiCap + PCI_MSI_FLAGS, 2, flags & ~PCI_MSI_FLAGS_ENABLE);
    yield* pciIntx(dev, true);
    dev.msiEnabled = false;
  } else {
    return;
  }
  irqs.free(dev.irqs);
  dev.irqs = [];
  dev.msiMsgs = [];
}

/** pci_irq_vector (drivers/pci/msi.c, 5.8): the Linux irq of vector `nr`, or -EINVAL. */
export function pciIrqVector(dev: PciDev, nr: number): number {
  return dev.irqs[nr] ?? -EINVAL;
}

/** request_irq → request_threaded_irq (kernel/irq/manage.c, 5.8): on an MSI/MSI-X irq, installs the handler, then irq startup unmasks the MSI-X entry (MMIO). */
export function* requestMsiIrq<D>(k: Kernel, irqs: IrqTable, dev: PciDev, vector: number, handler: (irq: number, devId: D) => void, name: string, devId: D): Task<number> {
  const irq = pciIrqVector(dev, vector);
  if (irq < 0) return irq;
  const r = irqs.request(irq, handler, name, devId);
  if (r !== 0) return r;
  if (dev.msixEnabled) yield* msixMaskEntry(k, dev, vector, false);
  return 0;
}

/** free_irq (kernel/irq/manage.c, 5.8): on an MSI/MSI-X irq, irq shutdown masks the MSI-X entry (MMIO), then the handler goes. */
export function* freeMsiIrq(k: Kernel, irqs: IrqTable, dev: PciDev, vector: number): Task<void> {
  const irq = pciIrqVector(dev, vector);
  if (irq < 0) return;
  if (dev.msixEnabled) yield* msixMaskEntry(k, dev, vector, true);
  irqs.freeIrq(irq);
}
