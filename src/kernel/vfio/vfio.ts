/**
 * The VFIO core (drivers/vfio/vfio.c, Linux 5.8): the container (/dev/vfio/vfio), the
 * groups (/dev/vfio/<iommu group>), the device files handed out by
 * VFIO_GROUP_GET_DEVICE_FD, IOMMU backend registration and the external-user API.
 *
 * Modelled locks: container->group_lock (rwsem) and vfio.iommu_drivers_lock (mutex),
 * which nest outside the IOMMU backend's locks. vfio.group_lock and group->device_lock
 * only protect list walks that never sleep in the model, so they are not modelled.
 */
import type { PciFunctionHw } from '../../hw/api.js';
import {
  VFIO_API_VERSION,
  VFIO_CHECK_EXTENSION,
  VFIO_GET_API_VERSION,
  VFIO_GROUP_FLAGS_CONTAINER_SET,
  VFIO_GROUP_FLAGS_VIABLE,
  VFIO_GROUP_GET_DEVICE_FD,
  VFIO_GROUP_GET_STATUS,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_GROUP_STATUS_MINSZ,
  VFIO_GROUP_UNSET_CONTAINER,
  VFIO_SET_IOMMU,
  decodeGroupStatus,
  encodeGroupStatus,
} from '../../uapi/vfio.js';
import { EBADF, EBUSY, EINVAL, ENODEV, ENOTTY } from '../errno.js';
import { registerDevice } from '../fs/devfs.js';
import { KFile, type FileOperations, type FilePos } from '../fs/file.js';
import type { Kernel } from '../kernel.js';
import type { Mutex } from '../locking/mutex.js';
import type { RwSemaphore } from '../locking/rwsem.js';
import type { Vma } from '../mm/types.js';
import { threadProcess } from '../proc.js';
import type { Task } from '../sched/task.js';
import type { VfioDevice, VfioDeviceOps, VfioIommuDriverOps } from './device.js';
import { fetchUser, getUserS32, storeUser, strndupUser } from './uaccess.js';
import { vfioDeviceFileSetMapping } from './vfio-fs.js';

export type { VfioDevice, VfioDeviceOps, VfioIommuDriverOps } from './device.js';

/** O_RDWR */
const O_RDWR = 0o2;
const PAGE_SIZE = 4096;

/** Drivers that may own a device in a user-owned group without breaking isolation (vfio_driver_whitelist). */
const DRIVER_WHITELIST: readonly string[] = ['pci-stub'];

/** struct vfio_container: created by each open of /dev/vfio/vfio. */
export class VfioContainer {
  /** Per-kernel id (so two machines in one process number their containers alike). */
  readonly id: number;
  /** kref: the file plus one per attached group. */
  refs = 1;
  readonly groups: VfioGroup[] = [];
  readonly groupLock: RwSemaphore;
  iommuDriver: VfioIommuDriverOps | null = null;
  iommuData: object | null = null;

  constructor(k: Kernel) {
    this.id = k.sched.allocId('vfio-container');
    this.groupLock = k.rwsem('&container->group_lock', `container_group_lock:${this.id}`);
  }
}

/** struct vfio_group: one per IOMMU group that has at least one VFIO device. */
export class VfioGroup {
  container: VfioContainer | null = null;
  /** container_users: the group file's attachment plus one per open device file / external user. */
  containerUsers = 0;
  /** opened: the group file is open (only one open at a time). */
  opened = 0;
  readonly devices: VfioDeviceImpl[] = [];
  /** unbound_list: devices removed from the group but not yet unbound from the driver. */
  readonly unbound = new Set<PciFunctionHw>();

  constructor(
    readonly core: VfioCore,
    /** The IOMMU group number (iommu_group_id). */
    readonly iommuGroup: number,
  ) {}

  /** Path of the group's character device. */
  get path(): string {
    return `/dev/vfio/${this.iommuGroup}`;
  }
}

/** struct vfio_device */
class VfioDeviceImpl implements VfioDevice {
  /** kref: the group's list entry plus one per open device file. */
  refs = 1;
  constructor(
    readonly name: string,
    readonly fn: PciFunctionHw,
    readonly group: VfioGroup,
    readonly ops: VfioDeviceOps,
    readonly driverData: unknown,
  ) {}
}

/**
 * The file operations of VFIO's files carry their core: the functions are shared by every
 * kernel and find the core through the file (`file.fops.core`), not in a closure, so that
 * a copy of the whole System (the explorer's snapshots, src/check/snapshot.ts) reaches
 * its own.
 */
interface VfioFops extends FileOperations {
  readonly core: VfioCore;
}

function vfioFops(core: VfioCore, ops: FileOperations): VfioFops {
  return { core, ...ops };
}

function coreOf(file: KFile): VfioCore {
  return (file.fops as VfioFops).core;
}

function deviceOfFile(file: KFile): VfioDeviceImpl | null {
  return file.privateData instanceof VfioDeviceImpl ? file.privateData : null;
}

/**
 * The VFIO core of one kernel (the kernel's static `struct vfio vfio`). Creating it
 * registers /dev/vfio/vfio in devfs (vfio_init); each group's node appears when its
 * first device is added (vfio_create_group).
 */
export class VfioCore {
  private readonly groups = new Map<number, VfioGroup>();
  private readonly iommuDrivers: VfioIommuDriverOps[] = [];
  private readonly iommuDriversLock: Mutex;
  /** Driver each function is bound to (null/absent = no driver). Devices added with addGroupDev are bound to their ops.name. */
  private readonly drivers = new Map<PciFunctionHw, string>();
  readonly containerFops: FileOperations;
  readonly groupFops: FileOperations;
  readonly deviceFops: FileOperations;

  /** vfio_init (drivers/vfio/vfio.c, 5.8) */
  constructor(readonly k: Kernel) {
    this.iommuDriversLock = k.mutex('&vfio.iommu_drivers_lock', 'vfio.iommu_drivers_lock');
    this.containerFops = vfioFops(this, VfioCore.CONTAINER_FOPS);
    this.groupFops = vfioFops(this, VfioCore.GROUP_FOPS);
    this.deviceFops = vfioFops(this, VfioCore.DEVICE_FOPS);
    registerDevice(k, '/dev/vfio/vfio', VfioCore.containerDevOpen, this);
  }

  /** vfio_fops_open (drivers/vfio/vfio.c, 5.8): /dev/vfio/vfio's open, for the core registered with the node. */
  private static containerDevOpen(_k: Kernel, flags: number, core: VfioCore): Task<KFile | number> {
    return core.containerOpen(flags);
  }

  /** vfio_group_fops_open (drivers/vfio/vfio.c, 5.8): /dev/vfio/<group>'s open, for the group registered with the node. */
  private static groupDevOpen(_k: Kernel, flags: number, group: VfioGroup): Task<KFile | number> {
    return group.core.groupOpen(group, flags);
  }

  // ---- driver-facing API -------------------------------------------------------------

  /** vfio_register_iommu_driver (drivers/vfio/vfio.c, 5.8): -EINVAL if already registered. */
  registerIommuDriver(driver: VfioIommuDriverOps): number {
    if (this.iommuDrivers.includes(driver)) return -EINVAL;
    // list_add: newest first
    this.iommuDrivers.unshift(driver);
    return 0;
  }

  /** vfio_unregister_iommu_driver (drivers/vfio/vfio.c, 5.8) */
  unregisterIommuDriver(driver: VfioIommuDriverOps): void {
    const i = this.iommuDrivers.indexOf(driver);
    if (i >= 0) this.iommuDrivers.splice(i, 1);
  }

  /**
   * vfio_add_group_dev (drivers/vfio/vfio.c, 5.8): add `fn` to the VFIO group of its
   * IOMMU group (creating the group and its /dev/vfio/<n> node if needed) and bind it to
   * `ops.name`. Adding a function twice is a driver bug (dev_WARN, -EBUSY in the
   * kernel): the model emits a warning and returns the existing device.
   */
  addGroupDev(fn: PciFunctionHw, ops: VfioDeviceOps, driverData: unknown): VfioDevice {
    let group = this.groups.get(fn.iommuGroup);
    if (group === undefined) group = this.createGroup(fn.iommuGroup);
    const existing = group.devices.find((d) => d.fn === fn);
    if (existing !== undefined) {
      this.k.events.emit({ kind: 'warn', message: `Device ${fn.name} already exists on group ${fn.iommuGroup}`, fn: 'vfio_add_group_dev' });
      return existing;
    }
    const dev = new VfioDeviceImpl(fn.name, fn, group, ops, driverData);
    group.devices.push(dev);
    group.unbound.delete(fn);
    this.drivers.set(fn, ops.name);
    return dev;
  }

  /**
   * vfio_del_group_dev (drivers/vfio/vfio.c, 5.8), non-blocking part: remove the device
   * from its group and put it on the unbound list (the caller then unbinds it with
   * setDriver(fn, null)). Returns 0, -ENODEV if `fn` has no VFIO device, or -EBUSY while
   * a device file is still open (the kernel sleeps until it closes instead).
   */
  delGroupDev(fn: PciFunctionHw): number {
    const dev = this.findDevice(fn);
    if (dev === null) return -ENODEV;
    if (dev.refs > 1) return -EBUSY;
    const group = dev.group;
    group.devices.splice(group.devices.indexOf(dev), 1);
    group.unbound.add(fn);
    return 0;
  }

  /** vfio_device_get_from_dev (drivers/vfio/vfio.c, 5.8): the VFIO device of `fn`, or null. */
  deviceForFunction(fn: PciFunctionHw): VfioDevice | null {
    return this.findDevice(fn);
  }

  /** Mark `fn` bound to driver `name` (e.g. 'pci-stub', 'e1000e') or unbound (null). Affects group viability. */
  setDriver(fn: PciFunctionHw, name: string | null): void {
    if (name === null) {
      this.drivers.delete(fn);
      for (const g of this.groups.values()) g.unbound.delete(fn);
    } else {
      this.drivers.set(fn, name);
    }
  }

  /** The driver `fn` is bound to, or null. */
  driverOf(fn: PciFunctionHw): string | null {
    return this.drivers.get(fn) ?? null;
  }

  /** The VFIO group for IOMMU group `iommuGroup`, if it exists. */
  groupByNumber(iommuGroup: number): VfioGroup | null {
    return this.groups.get(iommuGroup) ?? null;
  }

  /** vfio_external_user_iommu_id (drivers/vfio/vfio.c, 5.8) */
  groupId(group: VfioGroup): number {
    return group.iommuGroup;
  }

  /**
   * vfio_group_get_external_user (drivers/vfio/vfio.c, 5.8): the group behind a group
   * file, with a container user reference taken; -EINVAL if `file` is not a VFIO group
   * file or the group has no container with an IOMMU, or is not viable.
   */
  groupGetExternalUser(file: KFile): VfioGroup | number {
    const group = file.privateData;
    if (file.fops !== this.groupFops || !(group instanceof VfioGroup)) return -EINVAL;
    const ret = this.groupAddContainerUser(group);
    if (ret !== 0) return ret;
    return group;
  }

  /** vfio_group_get_external_user, null on any error (the callers in vfio-pci map that to -EINVAL). */
  groupFromFile(file: KFile): VfioGroup | null {
    const g = this.groupGetExternalUser(file);
    return typeof g === 'number' ? null : g;
  }

  /** vfio_group_put_external_user (drivers/vfio/vfio.c, 5.8) */
  *groupPutExternalUser(group: VfioGroup): Task<void> {
    yield* this.groupTryDissolveContainer(group);
  }

  /** vfio_external_group_match_file (drivers/vfio/vfio.c, 5.8) */
  groupMatchFile(group: VfioGroup, file: KFile): boolean {
    return file.fops === this.groupFops && file.privateData === group;
  }

  /** The container a group is attached to (for tests and checkers). */
  containerOf(group: VfioGroup): VfioContainer | null {
    return group.container;
  }

  // ---- groups --------------------------------------------------------------------------

  /** vfio_create_group (drivers/vfio/vfio.c, 5.8): device_create makes /dev/vfio/<n> appear. */
  private createGroup(iommuGroup: number): VfioGroup {
    const group = new VfioGroup(this, iommuGroup);
    this.groups.set(iommuGroup, group);
    registerDevice(this.k, group.path, VfioCore.groupDevOpen, group);
    return group;
  }

  private findDevice(fn: PciFunctionHw): VfioDeviceImpl | null {
    const g = this.groups.get(fn.iommuGroup);
    if (g === undefined) return null;
    return g.devices.find((d) => d.fn === fn) ?? null;
  }

  /** vfio_dev_whitelisted (drivers/vfio/vfio.c, 5.8): non-normal header types (bridges) and pci-stub. */
  private devWhitelisted(fn: PciFunctionHw, driver: string): boolean {
    if (fn.isBridge) return true;
    return DRIVER_WHITELIST.includes(driver);
  }

  /** vfio_dev_viable (drivers/vfio/vfio.c, 5.8) */
  private devViable(group: VfioGroup, fn: PciFunctionHw): boolean {
    if (group.unbound.has(fn)) return true;
    const drv = this.drivers.get(fn);
    if (drv === undefined || this.devWhitelisted(fn, drv)) return true;
    return group.devices.some((d) => d.fn === fn);
  }

  /** vfio_group_viable (drivers/vfio/vfio.c, 5.8): every function of the IOMMU group is viable. */
  groupViable(group: VfioGroup): boolean {
    return this.k.hw.functions().every((fn) => fn.iommuGroup !== group.iommuGroup || this.devViable(group, fn));
  }

  /** vfio_group_fops_open (drivers/vfio/vfio.c, 5.8) */
  private *groupOpen(group: VfioGroup, flags: number): Task<KFile | number> {
    if (this.groups.get(group.iommuGroup) !== group) return -ENODEV;
    if (group.opened !== 0) return -EBUSY;
    group.opened = 1;
    // Something still in use from a previous open?
    if (group.container !== null) {
      group.opened = 0;
      return -EBUSY;
    }
    const f = new KFile(group.path, this.groupFops, flags);
    f.privateData = group;
    return f;
  }

  /** vfio_group_fops_release (drivers/vfio/vfio.c, 5.8) */
  private *groupRelease(group: VfioGroup): Task<void> {
    yield* this.groupTryDissolveContainer(group);
    group.opened = 0;
  }

  /** __vfio_group_unset_container (drivers/vfio/vfio.c, 5.8) */
  private *groupUnsetContainerLocked(group: VfioGroup): Task<void> {
    const container = group.container;
    if (container === null) return;
    yield* container.groupLock.downWrite('__vfio_group_unset_container');
    const driver = container.iommuDriver;
    const data = container.iommuData;
    if (driver !== null && data !== null) yield* driver.detachGroup(data, group.iommuGroup);
    group.container = null;
    container.groups.splice(container.groups.indexOf(group), 1);
    // Detaching the last group deprivileges a container: remove the iommu.
    if (driver !== null && data !== null && container.groups.length === 0) {
      yield* driver.release(data);
      container.iommuDriver = null;
      container.iommuData = null;
    }
    yield* container.groupLock.upWrite('__vfio_group_unset_container');
    container.refs--;
  }

  /** vfio_group_unset_container (drivers/vfio/vfio.c, 5.8): only the 1 -> 0 transition is allowed. */
  private *groupUnsetContainer(group: VfioGroup): Task<number> {
    const users = group.containerUsers;
    if (users === 0) return -EINVAL;
    if (users !== 1) return -EBUSY;
    group.containerUsers = 0;
    yield* this.groupUnsetContainerLocked(group);
    return 0;
  }

  /** vfio_group_try_dissolve_container (drivers/vfio/vfio.c, 5.8): drop a container user; the last one detaches. */
  private *groupTryDissolveContainer(group: VfioGroup): Task<void> {
    if (group.containerUsers <= 0) return;
    group.containerUsers--;
    if (group.containerUsers === 0) yield* this.groupUnsetContainerLocked(group);
  }

  /** vfio_group_set_container (drivers/vfio/vfio.c, 5.8) */
  private *groupSetContainer(group: VfioGroup, containerFd: number): Task<number> {
    if (group.containerUsers !== 0) return -EINVAL;
    const proc = threadProcess(this.k.sched.current);
    const f = proc?.files.get(containerFd);
    if (f === undefined) return -EBADF;
    // Sanity check: is this really our fd?
    const container = f.privateData;
    if (f.fops !== this.containerFops || !(container instanceof VfioContainer)) return -EINVAL;
    yield* container.groupLock.downWrite('vfio_group_set_container');
    let ret = 0;
    const driver = container.iommuDriver;
    const data = container.iommuData;
    if (driver !== null && data !== null) ret = yield* driver.attachGroup(data, group.iommuGroup);
    if (ret === 0) {
      group.container = container;
      container.groups.unshift(group);
      container.refs++;
      group.containerUsers++;
    }
    yield* container.groupLock.upWrite('vfio_group_set_container');
    return ret;
  }

  /** vfio_group_add_container_user (drivers/vfio/vfio.c, 5.8) */
  private groupAddContainerUser(group: VfioGroup): number {
    if (group.containerUsers === 0) return -EINVAL;
    group.containerUsers++;
    if (group.container === null || group.container.iommuDriver === null || !this.groupViable(group)) {
      group.containerUsers--;
      return -EINVAL;
    }
    return 0;
  }

  /** vfio_group_get_device_fd (drivers/vfio/vfio.c, 5.8) */
  private *groupGetDeviceFd(group: VfioGroup, name: string): Task<number> {
    if (group.containerUsers === 0 || group.container === null || group.container.iommuDriver === null || !this.groupViable(group)) {
      return -EINVAL;
    }
    // vfio_device_get_from_name: match on dev_name()
    const device = group.devices.find((d) => d.name === name);
    if (device === undefined) return -ENODEV;
    device.refs++;
    const ret = yield* device.ops.open(device);
    if (ret !== 0) {
      device.refs--;
      return ret;
    }
    const proc = threadProcess(this.k.sched.current);
    const filep = new KFile(`vfio-device:${device.name}`, this.deviceFops, O_RDWR);
    filep.privateData = device;
    vfioDeviceFileSetMapping(this.k, device, filep); // f_mapping = the device inode's (6.10)
    const fd = proc === null ? -EBADF : proc.files.install(filep);
    if (fd < 0) {
      yield* device.ops.release(device);
      device.refs--;
      return fd;
    }
    group.containerUsers++;
    return fd;
  }

  /** vfio_group_fops_unl_ioctl (drivers/vfio/vfio.c, 5.8) */
  private *groupIoctl(group: VfioGroup, cmd: number, arg: number): Task<number> {
    switch (cmd) {
      case VFIO_GROUP_GET_STATUS: {
        const minsz = VFIO_GROUP_STATUS_MINSZ;
        const b = yield* fetchUser(this.k, arg, minsz);
        if (typeof b === 'number') return b;
        const status = decodeGroupStatus(b);
        if (status.argsz < minsz) return -EINVAL;
        status.flags = 0;
        if (this.groupViable(group)) status.flags |= VFIO_GROUP_FLAGS_VIABLE;
        if (group.container !== null) status.flags |= VFIO_GROUP_FLAGS_CONTAINER_SET;
        return yield* storeUser(this.k, arg, encodeGroupStatus(status).subarray(0, minsz));
      }
      case VFIO_GROUP_SET_CONTAINER: {
        const r = yield* getUserS32(this.k, arg);
        if (!r.ok) return r.err;
        if (r.value < 0) return -EINVAL;
        return yield* this.groupSetContainer(group, r.value);
      }
      case VFIO_GROUP_UNSET_CONTAINER:
        return yield* this.groupUnsetContainer(group);
      case VFIO_GROUP_GET_DEVICE_FD: {
        const name = yield* strndupUser(this.k, arg, PAGE_SIZE);
        if (typeof name === 'number') return name;
        return yield* this.groupGetDeviceFd(group, name);
      }
      default:
        return -ENOTTY;
    }
  }

  /** The group file's operations (vfio_group_fops, 5.8), shared by every core (see VfioFops). */
  private static readonly GROUP_FOPS: FileOperations = {
    /** vfio_group_fops_unl_ioctl (drivers/vfio/vfio.c, 5.8) */
    *unlockedIoctl(file: KFile, cmd: number, arg: number): Task<number> {
      const g = file.privateData;
      if (!(g instanceof VfioGroup)) return -EINVAL;
      return yield* coreOf(file).groupIoctl(g, cmd, arg);
    },
    /** vfio_group_fops_release (drivers/vfio/vfio.c, 5.8) */
    *release(file: KFile): Task<void> {
      const g = file.privateData;
      file.privateData = null;
      if (g instanceof VfioGroup) yield* coreOf(file).groupRelease(g);
    },
  };

  // ---- container -------------------------------------------------------------------------

  /** vfio_fops_open (drivers/vfio/vfio.c, 5.8) */
  // eslint-disable-next-line require-yield
  private *containerOpen(flags: number): Task<KFile | number> {
    const f = new KFile('/dev/vfio/vfio', this.containerFops, flags);
    f.privateData = new VfioContainer(this.k);
    return f;
  }

  /** vfio_ioctl_check_extension (drivers/vfio/vfio.c, 5.8) */
  private *checkExtension(container: VfioContainer, arg: number): Task<number> {
    let ret = 0;
    yield* container.groupLock.downRead('vfio_ioctl_check_extension');
    const driver = container.iommuDriver;
    if (driver === null) {
      // No driver set: poll every registered driver, first positive answer wins.
      yield* this.iommuDriversLock.lock('vfio_ioctl_check_extension');
      for (const d of this.iommuDrivers) {
        ret = yield* d.ioctl(null, VFIO_CHECK_EXTENSION, arg);
        if (ret > 0) break;
      }
      yield* this.iommuDriversLock.unlock('vfio_ioctl_check_extension');
    } else {
      ret = yield* driver.ioctl(container.iommuData, VFIO_CHECK_EXTENSION, arg);
    }
    yield* container.groupLock.upRead('vfio_ioctl_check_extension');
    return ret;
  }

  /** __vfio_container_attach_groups (drivers/vfio/vfio.c, 5.8): attach every group, unwinding on failure. */
  private *containerAttachGroups(container: VfioContainer, driver: VfioIommuDriverOps, data: object): Task<number> {
    let ret = -ENODEV;
    for (let i = 0; i < container.groups.length; i++) {
      const g = container.groups[i] as VfioGroup;
      ret = yield* driver.attachGroup(data, g.iommuGroup);
      if (ret !== 0) {
        for (let j = i - 1; j >= 0; j--) yield* driver.detachGroup(data, (container.groups[j] as VfioGroup).iommuGroup);
        return ret;
      }
    }
    return ret;
  }

  /** vfio_ioctl_set_iommu (drivers/vfio/vfio.c, 5.8) */
  private *setIommu(container: VfioContainer, arg: number): Task<number> {
    let ret = -ENODEV;
    yield* container.groupLock.downWrite('vfio_ioctl_set_iommu');
    // Only a container with a group may enable an IOMMU; there is no unset.
    if (container.groups.length === 0 || container.iommuDriver !== null) {
      yield* container.groupLock.upWrite('vfio_ioctl_set_iommu');
      return -EINVAL;
    }
    yield* this.iommuDriversLock.lock('vfio_ioctl_set_iommu');
    for (const driver of this.iommuDrivers) {
      // SET_IOMMU's argument is an extension id: open the driver that claims it.
      if ((yield* driver.ioctl(null, VFIO_CHECK_EXTENSION, arg)) <= 0) continue;
      const data = yield* driver.open(arg);
      if (typeof data === 'number') {
        ret = data;
        continue;
      }
      ret = yield* this.containerAttachGroups(container, driver, data);
      if (ret !== 0) {
        yield* driver.release(data);
        continue;
      }
      container.iommuDriver = driver;
      container.iommuData = data;
      break;
    }
    yield* this.iommuDriversLock.unlock('vfio_ioctl_set_iommu');
    yield* container.groupLock.upWrite('vfio_ioctl_set_iommu');
    return ret;
  }

  /** vfio_fops_unl_ioctl (drivers/vfio/vfio.c, 5.8) */
  private *containerIoctl(container: VfioContainer, cmd: number, arg: number): Task<number> {
    switch (cmd) {
      case VFIO_GET_API_VERSION:
        return VFIO_API_VERSION;
      case VFIO_CHECK_EXTENSION:
        return yield* this.checkExtension(container, arg);
      case VFIO_SET_IOMMU:
        return yield* this.setIommu(container, arg);
      default: {
        // pass every other ioctl through to the IOMMU driver, if one is set
        const driver = container.iommuDriver;
        if (driver !== null) return yield* driver.ioctl(container.iommuData, cmd, arg);
        return -EINVAL;
      }
    }
  }

  /** The container file's operations (vfio_fops, 5.8), shared by every core (see VfioFops). */
  private static readonly CONTAINER_FOPS: FileOperations = {
    /** vfio_fops_unl_ioctl (drivers/vfio/vfio.c, 5.8) */
    *unlockedIoctl(file: KFile, cmd: number, arg: number): Task<number> {
      const c = file.privateData;
      if (!(c instanceof VfioContainer)) return -EINVAL;
      return yield* coreOf(file).containerIoctl(c, cmd, arg);
    },
    /** vfio_fops_read (drivers/vfio/vfio.c, 5.8): -EINVAL, type1 has no read. */
    // vfio_fops_read/write/mmap: passed to the IOMMU driver if it has them; type1 has none.
    // eslint-disable-next-line require-yield
    *read(): Task<number> {
      return -EINVAL;
    },
    /** vfio_fops_write (drivers/vfio/vfio.c, 5.8): -EINVAL, type1 has no write. */
    // eslint-disable-next-line require-yield
    *write(): Task<number> {
      return -EINVAL;
    },
    /** vfio_fops_mmap (drivers/vfio/vfio.c, 5.8): -EINVAL, type1 has no mmap. */
    // eslint-disable-next-line require-yield
    *mmap(): Task<number> {
      return -EINVAL;
    },
    /** vfio_fops_release (drivers/vfio/vfio.c, 5.8) */
    // eslint-disable-next-line require-yield
    *release(file: KFile): Task<void> {
      const c = file.privateData;
      file.privateData = null;
      if (c instanceof VfioContainer) c.refs--;
    },
  };

  // ---- device file ------------------------------------------------------------------------

  /** The device file's operations (vfio_device_fops, 5.8), shared by every core (see VfioFops). */
  private static readonly DEVICE_FOPS: FileOperations = {
    /** vfio_device_fops_release (drivers/vfio/vfio.c, 5.8): the last reference (fd and vmas) is gone. */
    *release(file: KFile): Task<void> {
      const d = deviceOfFile(file);
      if (d === null) return;
      yield* d.ops.release(d);
      yield* coreOf(file).groupTryDissolveContainer(d.group);
      d.refs--;
    },
    /** vfio_device_fops_unl_ioctl (drivers/vfio/vfio.c, 5.8) */
    *unlockedIoctl(file: KFile, cmd: number, arg: number): Task<number> {
      const d = deviceOfFile(file);
      if (d === null) return -EINVAL;
      return yield* d.ops.ioctl(d, cmd, arg);
    },
    /** vfio_device_fops_read (drivers/vfio/vfio.c, 5.8) */
    *read(file: KFile, buf: number, count: number, pos: FilePos): Task<number> {
      const d = deviceOfFile(file);
      if (d === null) return -EINVAL;
      return yield* d.ops.read(d, buf, count, pos);
    },
    /** vfio_device_fops_write (drivers/vfio/vfio.c, 5.8) */
    *write(file: KFile, buf: number, count: number, pos: FilePos): Task<number> {
      const d = deviceOfFile(file);
      if (d === null) return -EINVAL;
      return yield* d.ops.write(d, buf, count, pos);
    },
    /** vfio_device_fops_mmap (drivers/vfio/vfio.c, 5.8) */
    *mmap(file: KFile, vma: Vma): Task<number> {
      const d = deviceOfFile(file);
      if (d === null) return -EINVAL;
      return yield* d.ops.mmap(d, vma);
    },
  };

  /** The VFIO device behind a device file, or null if `file` is not one. */
  deviceFromFile(file: KFile): VfioDevice | null {
    return file.fops === this.deviceFops && file.privateData instanceof VfioDeviceImpl ? file.privateData : null;
  }
}
