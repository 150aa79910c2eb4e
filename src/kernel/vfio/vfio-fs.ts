/**
 * vfio_fs_type (b7c5e64fecfa "vfio: Create vfio_fs_type with inode per device",
 * drivers/vfio/vfio_main.c, 6.10): every vfio device gets an inode on a pseudo
 * filesystem, and every file opened for the device uses that inode's address space as
 * its f_mapping. All mmaps of the device, by any process and through any of its fds,
 * then live in one address space, which a bus driver can zap with unmap_mapping_range.
 */
import type { KFile } from '../fs/file.js';
import type { Kernel } from '../kernel.js';
import { AddressSpace, setFileMapping } from '../mm/address-space.js';
import type { VfioDevice } from './device.js';
import { SideTable } from '../../util/side-table.js';

const inodes = new SideTable<VfioDevice, AddressSpace>('inodes');

/**
 * vfio_fs_inode_new (drivers/vfio/vfio_main.c, 6.10; called once per device from
 * vfio_init_device): the device inode's i_mapping, created on first use.
 */
export function vfioDeviceMapping(k: Kernel, device: VfioDevice): AddressSpace {
  let m = inodes.get(device);
  if (m === undefined) {
    m = new AddressSpace(k, `vfio:${device.name}`);
    inodes.set(device, m);
  }
  return m;
}

/**
 * The f_mapping step of vfio_device_open_file (drivers/vfio/vfio_main.c, 6.10): point the
 * new device file at the device inode's address space. Only the address-space design
 * (zapMethod 'address-space') has the pseudo-fs inode; earlier kernels leave the file on
 * the shared anon inode, whose mapping nothing ever unmaps, so the model tracks nothing.
 */
export function vfioDeviceFileSetMapping(k: Kernel, device: VfioDevice, file: KFile): void {
  if (k.knobs.zapMethod !== 'address-space') return;
  setFileMapping(file, vfioDeviceMapping(k, device));
}
