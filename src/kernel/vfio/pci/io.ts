/**
 * The checked MMIO accessors of the per-access read/write design (vfio_pci_ioreadN/
 * vfio_pci_iowriteN, drivers/vfio/pci/vfio_pci_rdwr.c, 5.9 / 5.8.y bc93b9ae0151): each
 * single access of a memory BAR takes memory_lock for read, fails with -EIO while memory
 * is disabled, and releases the lock before the next access.
 */
import { EIO } from '../../errno.js';
import type { Kernel } from '../../kernel.js';
import { ioread, iowrite } from '../../pci/pci-dev.js';
import type { Task } from '../../sched/task.js';
import { memoryEnabled, type VfioPciDevice } from './vfio-pci-device.js';

/** vfio_pci_iowrite64 / vfio_pci_iowrite32 / vfio_pci_iowrite16 / vfio_pci_iowrite8 (drivers/vfio/pci/vfio_pci_rdwr.c, 5.9): 0, or -EIO with the write dropped. */
export function* vfioPciIowrite(k: Kernel, vdev: VfioPciDevice, testMem: boolean, addr: number, size: 1 | 2 | 4 | 8, value: bigint, fn: string): Task<number> {
  if (testMem) {
    yield* vdev.memoryLock.downRead(fn);
    if (!memoryEnabled(k, vdev)) {
      yield* vdev.memoryLock.upRead(fn);
      return -EIO;
    }
  }
  yield* iowrite(k, vdev.pdev, addr, size, value);
  if (testMem) yield* vdev.memoryLock.upRead(fn);
  return 0;
}

/** vfio_pci_ioread32 / vfio_pci_ioread16 / vfio_pci_ioread8 (drivers/vfio/pci/vfio_pci_rdwr.c, 5.9): the value, or -EIO without touching the device. */
export function* vfioPciIoread(k: Kernel, vdev: VfioPciDevice, testMem: boolean, addr: number, size: 1 | 2 | 4 | 8, fn: string): Task<bigint | number> {
  if (testMem) {
    yield* vdev.memoryLock.downRead(fn);
    if (!memoryEnabled(k, vdev)) {
      yield* vdev.memoryLock.upRead(fn);
      return -EIO;
    }
  }
  const v = yield* ioread(k, vdev.pdev, addr, size);
  if (testMem) yield* vdev.memoryLock.upRead(fn);
  return v;
}
