import assert from 'node:assert/strict';
import { test } from 'node:test';
import { _IO } from '../../src/uapi/ioctl.js';
import * as U from '../../src/uapi/vfio.js';
import { VfioInfoCapChain, vfioSetIrqsValidateAndPrepare } from '../../src/kernel/vfio/info-cap.js';

test('VFIO ioctl numbers are _IO(\';\', 100 + n) as in include/uapi/linux/vfio.h', () => {
  assert.equal(U.VFIO_TYPE, ';'.charCodeAt(0));
  assert.equal(U.VFIO_GET_API_VERSION, 0x3b64);
  assert.equal(U.VFIO_CHECK_EXTENSION, 0x3b65);
  assert.equal(U.VFIO_SET_IOMMU, 0x3b66);
  assert.equal(U.VFIO_GROUP_GET_STATUS, 0x3b67);
  assert.equal(U.VFIO_GROUP_SET_CONTAINER, 0x3b68);
  assert.equal(U.VFIO_GROUP_UNSET_CONTAINER, 0x3b69);
  assert.equal(U.VFIO_GROUP_GET_DEVICE_FD, 0x3b6a);
  assert.equal(U.VFIO_DEVICE_GET_INFO, 0x3b6b);
  assert.equal(U.VFIO_DEVICE_GET_REGION_INFO, 0x3b6c);
  assert.equal(U.VFIO_DEVICE_GET_IRQ_INFO, 0x3b6d);
  assert.equal(U.VFIO_DEVICE_SET_IRQS, 0x3b6e);
  assert.equal(U.VFIO_DEVICE_RESET, 0x3b6f);
  assert.equal(U.VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, 0x3b70);
  assert.equal(U.VFIO_DEVICE_PCI_HOT_RESET, 0x3b71);
  assert.equal(U.VFIO_DEVICE_IOEVENTFD, 0x3b74);
  // the type1 container ioctls share numbers with device ioctls (different fds)
  assert.equal(U.VFIO_IOMMU_GET_INFO, U.VFIO_DEVICE_GET_PCI_HOT_RESET_INFO);
  assert.equal(U.VFIO_IOMMU_MAP_DMA, _IO(0x3b, 113));
  assert.equal(U.VFIO_IOMMU_UNMAP_DMA, _IO(0x3b, 114));
});

test('uAPI constants: API version, extension ids, PCI region and IRQ indexes, offset shift', () => {
  assert.equal(U.VFIO_API_VERSION, 0);
  assert.deepEqual(
    [U.VFIO_TYPE1_IOMMU, U.VFIO_SPAPR_TCE_IOMMU, U.VFIO_TYPE1v2_IOMMU, U.VFIO_DMA_CC_IOMMU, U.VFIO_EEH, U.VFIO_TYPE1_NESTING_IOMMU, U.VFIO_SPAPR_TCE_v2_IOMMU, U.VFIO_NOIOMMU_IOMMU],
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
  assert.equal(U.VFIO_PCI_ROM_REGION_INDEX, 6);
  assert.equal(U.VFIO_PCI_CONFIG_REGION_INDEX, 7);
  assert.equal(U.VFIO_PCI_VGA_REGION_INDEX, 8);
  assert.equal(U.VFIO_PCI_NUM_REGIONS, 9);
  assert.equal(U.VFIO_PCI_REQ_IRQ_INDEX, 4);
  assert.equal(U.VFIO_PCI_NUM_IRQS, 5);
  assert.equal(U.vfioPciIndexToOffset(7), 7 * 2 ** 40);
  assert.equal(U.vfioPciOffsetToIndex(U.vfioPciIndexToOffset(6) + 0x123), 6);
  assert.equal(U.vfioPciOffsetInRegion(U.vfioPciIndexToOffset(2) + 0x1004), 0x1004);
  assert.deepEqual([U.VFIO_REGION_INFO_CAP_SPARSE_MMAP, U.VFIO_REGION_INFO_CAP_TYPE, U.VFIO_REGION_INFO_CAP_MSIX_MAPPABLE], [1, 2, 3]);
  assert.equal(U.VFIO_IRQ_SET_DATA_TYPE_MASK, 0x7);
  assert.equal(U.VFIO_IRQ_SET_ACTION_TYPE_MASK, 0x38);
});

test('struct sizes and kernel minsz values match the x86-64 C layout', () => {
  assert.equal(U.SIZEOF_VFIO_GROUP_STATUS, 8);
  assert.equal(U.SIZEOF_VFIO_DEVICE_INFO, 16);
  assert.equal(U.SIZEOF_VFIO_REGION_INFO, 32);
  assert.equal(U.SIZEOF_VFIO_INFO_CAP_HEADER, 8);
  assert.equal(U.SIZEOF_VFIO_IRQ_INFO, 16);
  assert.equal(U.SIZEOF_VFIO_IRQ_SET, 20);
  assert.equal(U.SIZEOF_VFIO_PCI_DEPENDENT_DEVICE, 8);
  assert.equal(U.SIZEOF_VFIO_PCI_HOT_RESET_INFO, 12);
  assert.equal(U.SIZEOF_VFIO_PCI_HOT_RESET, 12);
  assert.equal(U.SIZEOF_VFIO_DEVICE_IOEVENTFD, 32);
  assert.equal(U.VFIO_DEVICE_IOEVENTFD_MINSZ, 28);
  assert.equal(U.SIZEOF_VFIO_IOMMU_TYPE1_INFO, 24);
  assert.equal(U.VFIO_IOMMU_TYPE1_INFO_MINSZ, 16);
  assert.equal(U.VFIO_IOMMU_TYPE1_INFO_CAPSZ, 20);
  assert.equal(U.SIZEOF_VFIO_IOMMU_TYPE1_DMA_MAP, 32);
  assert.equal(U.SIZEOF_VFIO_IOMMU_TYPE1_DMA_UNMAP, 24);
  assert.equal(U.SIZEOF_VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, 32);
  assert.equal(U.encodeDmaMap({ flags: 3, vaddr: 0, iova: 0, size: 0 }).byteLength, 32);
  assert.equal(U.encodeRegionInfo({ argsz: 32, index: 0 }).byteLength, 32);
});

test('vfio_region_info field offsets: index@8, cap_offset@12, size@16, offset@24 (little-endian)', () => {
  const b = U.encodeRegionInfo({ argsz: 0x20, flags: 0x7, index: 6, capOffset: 0x20, size: 0x20000, offset: U.vfioPciIndexToOffset(6) });
  const dv = new DataView(b.buffer);
  assert.equal(dv.getUint32(0, true), 0x20);
  assert.equal(dv.getUint32(4, true), 7);
  assert.equal(dv.getUint32(8, true), 6);
  assert.equal(dv.getUint32(12, true), 0x20);
  assert.equal(dv.getBigUint64(16, true), 0x20000n);
  assert.equal(dv.getBigUint64(24, true), 6n << 40n);
  assert.deepEqual(U.decodeRegionInfo(b), { argsz: 32, flags: 7, index: 6, capOffset: 32, size: 0x20000n, offset: 6n << 40n });
});

test('vfio_iommu_type1_dma_map/unmap layouts: vaddr@8 iova@16 size@24; unmap iova@8 size@16; u64 values beyond 2^53 survive', () => {
  const big = 0xffff_ffff_ffff_f000n;
  const m = U.encodeDmaMap({ flags: U.VFIO_DMA_MAP_FLAG_READ, vaddr: 0x7f00_0000_0000, iova: big, size: 0x2000 });
  const dv = new DataView(m.buffer);
  assert.equal(dv.getUint32(0, true), 32);
  assert.equal(dv.getBigUint64(8, true), 0x7f00_0000_0000n);
  assert.equal(dv.getBigUint64(16, true), big);
  assert.equal(dv.getBigUint64(24, true), 0x2000n);
  assert.equal(U.decodeDmaMap(m).iova, big);
  const u = U.encodeDmaUnmap({ iova: 0x1000, size: -1 });
  assert.equal(new DataView(u.buffer).getBigUint64(16, true), (1n << 64n) - 1n);
  assert.equal(U.decodeDmaUnmap(u).iova, 0x1000n);
});

test('vfio_irq_set carries an s32 eventfd array or a u8 bool array after the 20-byte header', () => {
  const b = U.encodeIrqSet({ flags: U.VFIO_IRQ_SET_DATA_EVENTFD | U.VFIO_IRQ_SET_ACTION_TRIGGER, index: 2, start: 1, count: 2 }, U.encodeEventfdArray([7, -1]));
  assert.equal(b.byteLength, 28);
  assert.deepEqual(U.decodeIrqSet(b), { argsz: 28, flags: 0x24, index: 2, start: 1, count: 2 });
  assert.deepEqual(U.decodeEventfdArray(b, 2, 20), [7, -1]);
  const bb = U.encodeIrqSet({ flags: U.VFIO_IRQ_SET_DATA_BOOL | U.VFIO_IRQ_SET_ACTION_MASK, index: 0, start: 0, count: 1 }, U.encodeBoolArray([true]));
  assert.equal(bb.byteLength, 21);
  assert.deepEqual(U.decodeBoolArray(bb, 1, 20), [true]);
});

test('hot reset structs: dependent device {group_id u32, segment u16, bus u8, devfn u8} after a 12-byte header', () => {
  const b = U.encodePciHotResetInfo({ devices: [{ groupId: 9, segment: 0, bus: 1, devfn: 0x08 }] });
  assert.equal(b.byteLength, 20);
  assert.equal(b[12], 9);
  assert.equal(b[18], 1);
  assert.equal(b[19], 0x08);
  assert.deepEqual(U.decodePciHotResetInfo(b).devices, [{ groupId: 9, segment: 0, bus: 1, devfn: 8 }]);
  const h = U.encodePciHotReset({}, [3, 4]);
  assert.equal(h.byteLength, 20);
  assert.equal(new DataView(h.buffer).getInt32(16, true), 4);
  assert.deepEqual(U.decodePciHotReset(h), { argsz: 20, flags: 0, count: 2 });
});

test('vfio_device_ioeventfd: offset@8, data@16, fd@24', () => {
  const b = U.encodeDeviceIoeventfd({ flags: U.VFIO_DEVICE_IOEVENTFD_32, offset: 0x10, data: 0xdead, fd: 5 });
  const dv = new DataView(b.buffer);
  assert.equal(dv.getBigUint64(8, true), 0x10n);
  assert.equal(dv.getBigUint64(16, true), 0xdeadn);
  assert.equal(dv.getInt32(24, true), 5);
});

test('vfio_info_cap_add/shift build a chain whose next offsets are relative to the info struct', () => {
  const chain = new VfioInfoCapChain();
  chain.addCapability(U.encodeCapType(U.VFIO_REGION_TYPE_GFX, U.VFIO_REGION_SUBTYPE_GFX_EDID));
  chain.addCapability(U.encodeCapMsixMappable());
  assert.equal(chain.size, 24);
  chain.shift(U.SIZEOF_VFIO_REGION_INFO);
  const info = new Uint8Array(U.SIZEOF_VFIO_REGION_INFO + chain.size);
  info.set(chain.buf, U.SIZEOF_VFIO_REGION_INFO);
  const caps = U.walkInfoCaps(info, U.SIZEOF_VFIO_REGION_INFO);
  assert.deepEqual(caps.map((c) => [c.header.id, c.offset]), [[2, 32], [3, 48]]);
  assert.deepEqual(U.decodeCapType((caps[0] as U.VfioInfoCap).bytes), { type: 1, subtype: 1 });
  assert.equal((caps[1] as U.VfioInfoCap).header.next, 0);
});

test('vfio_set_irqs_validate_and_prepare: data size by type, -EINVAL for short argsz, bad index, range past num_irqs', () => {
  const hdr = { argsz: 28, flags: U.VFIO_IRQ_SET_DATA_EVENTFD | U.VFIO_IRQ_SET_ACTION_TRIGGER, index: 2, start: 0, count: 2 };
  assert.equal(vfioSetIrqsValidateAndPrepare(hdr, 4, 5), 8);
  assert.equal(vfioSetIrqsValidateAndPrepare({ ...hdr, argsz: 27 }, 4, 5), -22);
  assert.equal(vfioSetIrqsValidateAndPrepare({ ...hdr, index: 5 }, 4, 5), -22);
  assert.equal(vfioSetIrqsValidateAndPrepare({ ...hdr, start: 3 }, 4, 5), -22);
  assert.equal(vfioSetIrqsValidateAndPrepare({ ...hdr, flags: U.VFIO_IRQ_SET_DATA_NONE | U.VFIO_IRQ_SET_ACTION_TRIGGER, count: 0 }, 4, 5), 0);
  assert.equal(vfioSetIrqsValidateAndPrepare({ ...hdr, flags: U.VFIO_IRQ_SET_DATA_BOOL | U.VFIO_IRQ_SET_DATA_EVENTFD }, 4, 5), -22);
  assert.equal(vfioSetIrqsValidateAndPrepare({ ...hdr, flags: hdr.flags | 0x40 }, 4, 5), -22);
});
