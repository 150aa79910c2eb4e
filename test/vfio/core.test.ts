import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EBADF, EBUSY, EINVAL, ENODEV, ENOENT, ENOTTY } from '../../src/kernel/errno.js';
import { MAP_SHARED, PROT_READ, PROT_WRITE } from '../../src/kernel/mm/types.js';
import { VARIANT_5_8 } from '../../src/kernel/variant/knobs.js';
import { VfioIommu } from '../../src/kernel/vfio/type1/type1.js';
import { EDU_DEVICE, NIC_DEVICE, endpoint, pciBridge, type MachineSpec } from '../../src/hw/index.js';
import * as U from '../../src/uapi/vfio.js';
import { rawIoctl, unwrap, VfioContainer, VfioGroup } from '../../src/user/vfio-client.js';
import { boot } from './fake.js';

const DEV = '0000:01:00.0';

/** Container + group attached + type1v2 set: the usual QEMU sequence. */
function ready() {
  const b = boot();
  const c = unwrap(VfioContainer.open(b.p));
  const g = unwrap(VfioGroup.open(b.p, b.group));
  unwrap(g.setContainer(c));
  unwrap(c.setIommu(U.VFIO_TYPE1v2_IOMMU));
  return { ...b, c, g };
}

test('container: GET_API_VERSION is 0; CHECK_EXTENSION answers type1/type1v2/nesting via the registered type1 driver', () => {
  const { p } = boot();
  const c = unwrap(VfioContainer.open(p));
  assert.deepEqual(c.apiVersion(), { ok: true, value: U.VFIO_API_VERSION });
  assert.equal(unwrap(c.checkExtension(U.VFIO_TYPE1_IOMMU)), 1);
  assert.equal(unwrap(c.checkExtension(U.VFIO_TYPE1v2_IOMMU)), 1);
  assert.equal(unwrap(c.checkExtension(U.VFIO_TYPE1_NESTING_IOMMU)), 1);
  assert.equal(unwrap(c.checkExtension(U.VFIO_SPAPR_TCE_IOMMU)), 0);
  assert.equal(unwrap(c.checkExtension(U.VFIO_NOIOMMU_IOMMU)), 0);
  assert.equal(unwrap(c.checkExtension(U.VFIO_DMA_CC_IOMMU)), 0, 'DMA_CC needs an iommu');
  // other ioctls are only passed through once an IOMMU is set
  assert.equal(p.ioctl(c.fd, U.VFIO_IOMMU_GET_INFO, 0), -EINVAL);
});

test('container: SET_IOMMU without a group attached is -EINVAL', () => {
  const { p } = boot();
  const c = unwrap(VfioContainer.open(p));
  assert.deepEqual(c.setIommu(U.VFIO_TYPE1v2_IOMMU), { ok: false, errno: EINVAL });
});

test('container: SET_IOMMU of a type no driver claims is -ENODEV; a second SET_IOMMU is -EINVAL', () => {
  const { p, group } = boot();
  const c = unwrap(VfioContainer.open(p));
  const g = unwrap(VfioGroup.open(p, group));
  unwrap(g.setContainer(c));
  assert.deepEqual(c.setIommu(U.VFIO_SPAPR_TCE_IOMMU), { ok: false, errno: ENODEV });
  assert.deepEqual(c.setIommu(U.VFIO_TYPE1v2_IOMMU), { ok: true, value: undefined });
  assert.deepEqual(c.setIommu(U.VFIO_TYPE1v2_IOMMU), { ok: false, errno: EINVAL });
  assert.deepEqual(c.setIommu(U.VFIO_TYPE1_IOMMU), { ok: false, errno: EINVAL });
});

test('group: /dev/vfio/<group> exists only for groups with a VFIO device; a second open is -EBUSY until the first is closed', () => {
  const { p, group } = boot();
  assert.equal(p.open('/dev/vfio/5'), -ENOENT, '02:00.0 was never added to VFIO');
  const g = unwrap(VfioGroup.open(p, group));
  assert.deepEqual(VfioGroup.open(p, group), { ok: false, errno: EBUSY });
  unwrap(g.close());
  const g2 = VfioGroup.open(p, group);
  assert.ok(g2.ok);
});

test('group: GET_STATUS reports VIABLE and CONTAINER_SET; argsz below 8 is -EINVAL', () => {
  const { p, group } = boot();
  const c = unwrap(VfioContainer.open(p));
  const g = unwrap(VfioGroup.open(p, group));
  assert.equal(unwrap(g.status()), U.VFIO_GROUP_FLAGS_VIABLE);
  unwrap(g.setContainer(c));
  assert.equal(unwrap(g.status()), U.VFIO_GROUP_FLAGS_VIABLE | U.VFIO_GROUP_FLAGS_CONTAINER_SET);
  const r = rawIoctl(p, g.fd, U.VFIO_GROUP_GET_STATUS, U.encodeGroupStatus({ argsz: 7, flags: 0 }));
  assert.equal(r.ret, -EINVAL);
  assert.equal(p.ioctl(g.fd, U.VFIO_GROUP_GET_STATUS, 0), -14, 'NULL arg: -EFAULT');
});

test('group: SET_CONTAINER checks the fd (-EBADF, negative -EINVAL, not a container -EINVAL) and refuses a second container', () => {
  const { p, group } = boot();
  const c = unwrap(VfioContainer.open(p));
  const c2 = unwrap(VfioContainer.open(p));
  const g = unwrap(VfioGroup.open(p, group));
  assert.deepEqual(g.setContainer(77), { ok: false, errno: EBADF });
  assert.deepEqual(g.setContainer(-1), { ok: false, errno: EINVAL });
  assert.deepEqual(g.setContainer(g.fd), { ok: false, errno: EINVAL }, 'a group fd is not a container');
  unwrap(g.setContainer(c));
  assert.deepEqual(g.setContainer(c2), { ok: false, errno: EINVAL });
  assert.deepEqual(g.setContainer(c), { ok: false, errno: EINVAL });
});

test('group: GET_DEVICE_FD needs a container with an IOMMU (-EINVAL), then matches the name (-ENODEV) and calls the driver open', () => {
  const { p, group, st } = boot();
  const c = unwrap(VfioContainer.open(p));
  const g = unwrap(VfioGroup.open(p, group));
  assert.deepEqual(g.getDevice(DEV), { ok: false, errno: EINVAL }, 'no container');
  unwrap(g.setContainer(c));
  assert.deepEqual(g.getDevice(DEV), { ok: false, errno: EINVAL }, 'no iommu');
  unwrap(c.setIommu(U.VFIO_TYPE1v2_IOMMU));
  assert.deepEqual(g.getDevice('0000:02:00.0'), { ok: false, errno: ENODEV });
  assert.equal(st.opens, 0);
  const d = unwrap(g.getDevice(DEV));
  assert.ok(d.fd >= 0);
  assert.equal(st.opens, 1);
  st.openError = -EBUSY;
  assert.deepEqual(g.getDevice(DEV), { ok: false, errno: EBUSY }, 'the driver open error is returned');
});

test('wrong fd types: container ioctls on a group fd are -ENOTTY; device ioctls on a type1 container are -ENOTTY; group ioctls on a device reach the driver', () => {
  const { p, c, g, st } = ready();
  const d = unwrap(g.getDevice(DEV));
  assert.equal(p.ioctl(g.fd, U.VFIO_GET_API_VERSION, 0), -ENOTTY);
  assert.equal(p.ioctl(g.fd, U.VFIO_DEVICE_GET_INFO, 0), -ENOTTY);
  assert.equal(p.ioctl(c.fd, U.VFIO_DEVICE_GET_INFO, 0), -ENOTTY, 'forwarded to type1, which does not know it');
  assert.equal(p.ioctl(c.fd, U.VFIO_GROUP_GET_STATUS, 0), -ENOTTY);
  assert.equal(p.ioctl(d.fd, U.VFIO_GROUP_GET_STATUS, 0), -ENOTTY);
  assert.deepEqual(st.ioctls, [U.VFIO_GROUP_GET_STATUS]);
});

test('group viability: a function of the group bound to a non-VFIO driver makes it non-viable; pci-stub keeps it viable', () => {
  // 0000:01:00.0 and 0000:01:01.0 behind a conventional PCI bridge share one IOMMU group
  const spec: MachineSpec = { slots: [pciBridge(1, [endpoint(0, EDU_DEVICE), endpoint(1, NIC_DEVICE)])] };
  const b = boot(VARIANT_5_8.knobs, spec);
  const other = b.hw.fn('0000:01:01.0');
  assert.equal(other.iommuGroup, b.group, 'the topology puts both endpoints in one group');
  const c = unwrap(VfioContainer.open(b.p));
  const g = unwrap(VfioGroup.open(b.p, b.group));
  b.core.setDriver(other, 'e1000e');
  assert.equal(unwrap(g.status()) & U.VFIO_GROUP_FLAGS_VIABLE, 0);
  // 5.8 SET_CONTAINER does not check viability; GET_DEVICE_FD does
  unwrap(g.setContainer(c));
  unwrap(c.setIommu(U.VFIO_TYPE1v2_IOMMU));
  assert.deepEqual(g.getDevice(DEV), { ok: false, errno: EINVAL });
  b.core.setDriver(other, 'pci-stub');
  assert.equal(unwrap(g.status()) & U.VFIO_GROUP_FLAGS_VIABLE, U.VFIO_GROUP_FLAGS_VIABLE);
  assert.ok(g.getDevice(DEV).ok);
});

test('device file: release reaches the driver only when the last reference (fd and vmas) is gone', () => {
  const { p, g, st } = ready();
  const d = unwrap(g.getDevice(DEV));
  const a = unwrap(d.mmapRegion(0, { length: 4096, prot: PROT_READ | PROT_WRITE }));
  unwrap(d.close());
  assert.equal(st.releases, 0, 'the vma still holds the file');
  assert.equal(p.munmap(a, 4096), 0);
  assert.equal(st.releases, 1);
  void MAP_SHARED;
});

test('UNSET_CONTAINER: -EBUSY while a device is open, -EINVAL when not set; unsetting deprivileges the container', () => {
  const { p, c, g } = ready();
  const d = unwrap(g.getDevice(DEV));
  assert.deepEqual(g.unsetContainer(), { ok: false, errno: EBUSY });
  unwrap(d.close());
  unwrap(g.unsetContainer());
  assert.deepEqual(g.unsetContainer(), { ok: false, errno: EINVAL });
  assert.equal(unwrap(g.status()) & U.VFIO_GROUP_FLAGS_CONTAINER_SET, 0);
  // the last group left: the IOMMU was released, so type1 ioctls are no longer passed through
  assert.equal(p.ioctl(c.fd, U.VFIO_IOMMU_GET_INFO, 0), -EINVAL);
  assert.deepEqual(c.setIommu(U.VFIO_TYPE1v2_IOMMU), { ok: false, errno: EINVAL }, 'no group any more');
});

test('group reopen is -EBUSY while an open device file still keeps the group in its container', () => {
  const { p, g, group, st } = ready();
  const d = unwrap(g.getDevice(DEV));
  unwrap(g.close());
  assert.deepEqual(VfioGroup.open(p, group), { ok: false, errno: EBUSY });
  unwrap(d.close());
  assert.equal(st.releases, 1);
  assert.ok(VfioGroup.open(p, group).ok, 'closing the device dissolved the container attachment');
});

test('vfio_group_get_external_user: a group file with container and IOMMU yields its group; other files do not', () => {
  const { p, c, g, core, group } = ready();
  const gf = p.kproc.files.get(g.fd);
  const cf = p.kproc.files.get(c.fd);
  assert.ok(gf !== undefined && cf !== undefined);
  const vg = core.groupFromFile(gf);
  assert.ok(vg !== null);
  assert.equal(core.groupId(vg), group);
  assert.ok(core.groupMatchFile(vg, gf));
  assert.equal(core.groupFromFile(cf), null);
  assert.equal(core.groupGetExternalUser(cf), -EINVAL);
  // the external user holds the group in the container: UNSET_CONTAINER is busy until it is put
  assert.deepEqual(g.unsetContainer(), { ok: false, errno: EBUSY });
  p.k.sched.runSync(p.kthread, core.groupPutExternalUser(vg));
  assert.ok(g.unsetContainer().ok);
});

test('core lookups: deviceForFunction, driverOf, and the type1 state behind a set container', () => {
  const { hw, core, c, p, vdev } = ready();
  assert.equal(core.deviceForFunction(hw.fn(DEV)), vdev);
  assert.equal(core.deviceForFunction(hw.fn('0000:02:00.0')), null);
  assert.equal(core.driverOf(hw.fn(DEV)), 'vfio-pci');
  assert.equal(core.driverOf(hw.fn('0000:02:00.0')), null);
  const cf = p.kproc.files.get(c.fd);
  const container = cf?.privateData;
  assert.ok(container !== undefined && container !== null && typeof container === 'object' && 'iommuData' in container);
  assert.ok((container as { iommuData: unknown }).iommuData instanceof VfioIommu);
});
