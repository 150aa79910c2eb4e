/**
 * The contract between the VFIO core and a VFIO bus driver (include/linux/vfio.h,
 * 5.8: struct vfio_device_ops), and between the core and an IOMMU backend
 * (struct vfio_iommu_driver_ops).
 */
import type { PciFunctionHw } from '../../hw/api.js';
import type { FilePos } from '../fs/file.js';
import type { Vma } from '../mm/types.js';
import type { Task } from '../sched/task.js';
import type { VfioGroup } from './vfio.js';

/**
 * struct vfio_device_ops: what a bus driver (vfio-pci) implements. The core calls these
 * from the device file's file_operations; return values are syscall-style (>= 0 or -errno).
 */
export interface VfioDeviceOps {
  /** Driver name, e.g. 'vfio-pci' (used for "is this device bound to vfio-pci" checks). */
  readonly name: string;
  /** Called by VFIO_GROUP_GET_DEVICE_FD before the device file exists; non-zero fails the ioctl. */
  open(vdev: VfioDevice): Task<number>;
  /** Called when the last reference to the device file goes away (close and every vma gone). */
  release(vdev: VfioDevice): Task<void>;
  ioctl(vdev: VfioDevice, cmd: number, arg: number): Task<number>;
  read(vdev: VfioDevice, buf: number, count: number, pos: FilePos): Task<number>;
  write(vdev: VfioDevice, buf: number, count: number, pos: FilePos): Task<number>;
  mmap(vdev: VfioDevice, vma: Vma): Task<number>;
}

/** struct vfio_device: one device added to a VFIO group by its bus driver. */
export interface VfioDevice {
  /** dev_name(), e.g. '0000:01:00.0'; VFIO_GROUP_GET_DEVICE_FD matches on it. */
  readonly name: string;
  readonly fn: PciFunctionHw;
  readonly group: VfioGroup;
  readonly ops: VfioDeviceOps;
  /** device_data: the bus driver's private structure (vfio-pci's vdev). */
  readonly driverData: unknown;
}

/**
 * struct vfio_iommu_driver_ops (subset used by type1). `data` is the object returned
 * by open (the kernel's void *iommu_data); null for CHECK_EXTENSION before an IOMMU
 * is set on the container.
 */
export interface VfioIommuDriverOps {
  readonly name: string;
  /** open(arg): the per-container backend state, or -errno (ERR_PTR). */
  open(arg: number): Task<object | number>;
  release(data: object): Task<void>;
  ioctl(data: object | null, cmd: number, arg: number): Task<number>;
  /** Attach every device of IOMMU group `iommuGroup`; 0 or -errno. */
  attachGroup(data: object, iommuGroup: number): Task<number>;
  detachGroup(data: object, iommuGroup: number): Task<void>;
}
