/**
 * Bad uAPI input returns the errno the 5.8 kernel returns and never throws out of the
 * model (vfio_pci_ioctl, vfio_pci_rw/vfio_pci_config_rw, vfio_iommu_type1_ioctl,
 * vfio_fops_unl_ioctl).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAP_ANONYMOUS, MAP_PRIVATE } from '../../src/kernel/mm/types.js';
import { rawIoctl, unwrap } from '../../src/user/vfio-client.js';
import {
  encodeDeviceInfo,
  encodeDmaMap,
  encodeIrqSet,
  encodeRegionInfo,
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_DEVICE_GET_REGION_INFO,
  VFIO_DEVICE_RESET,
  VFIO_DEVICE_SET_IRQS,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_PCI_MSI_IRQ_INDEX,
  encodeIrqInfo,
  vfioPciIndexToOffset,
} from '../../src/uapi/vfio.js';
import { EDU0, NIC, openDevice, PAGE, PROT_RW } from './helpers.js';

const EINVAL = -22;
const RW = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;

test('short argsz on VFIO_DEVICE_GET_INFO is EINVAL (argsz < offsetofend(num_irqs))', () => {
  const { p, d } = openDevice(EDU0);
  assert.doesNotThrow(() => {
    const r = rawIoctl(p, d.fd, VFIO_DEVICE_GET_INFO, encodeDeviceInfo({ argsz: 12, flags: 0, numRegions: 0, numIrqs: 0 }));
    assert.equal(r.ret, EINVAL);
    assert.equal(rawIoctl(p, d.fd, VFIO_DEVICE_GET_INFO, encodeDeviceInfo({ argsz: 0, flags: 0, numRegions: 0, numIrqs: 0 })).ret, EINVAL);
  });
});

test('short argsz on VFIO_DEVICE_GET_REGION_INFO is EINVAL; an unknown region index is EINVAL', () => {
  const { p, d } = openDevice(NIC);
  assert.equal(rawIoctl(p, d.fd, VFIO_DEVICE_GET_REGION_INFO, encodeRegionInfo({ argsz: 31, index: 0 })).ret, EINVAL);
  assert.equal(rawIoctl(p, d.fd, VFIO_DEVICE_GET_REGION_INFO, encodeRegionInfo({ argsz: 32, index: 9 })).ret, EINVAL, 'index past the PCI regions');
  assert.equal(rawIoctl(p, d.fd, VFIO_DEVICE_GET_REGION_INFO, encodeRegionInfo({ argsz: 32, index: 0xffffffff })).ret, EINVAL);
  assert.equal(rawIoctl(p, d.fd, VFIO_DEVICE_GET_REGION_INFO, encodeRegionInfo({ argsz: 32, index: 8 })).ret, EINVAL, 'VGA without VGA');
  assert.deepEqual(d.getRegionInfo(42), { ok: false, errno: 22 });
  // an unimplemented BAR is a zero-sized region, not an error
  assert.equal(unwrap(d.getRegionInfo(1)).size, 0n);
});

test('bad VFIO_DEVICE_GET_IRQ_INFO / SET_IRQS input: short argsz and bad index are EINVAL', () => {
  const { p, d } = openDevice(EDU0);
  assert.equal(rawIoctl(p, d.fd, VFIO_DEVICE_GET_IRQ_INFO, encodeIrqInfo({ argsz: 8, flags: 0, index: 0, count: 0 })).ret, EINVAL);
  assert.equal(rawIoctl(p, d.fd, VFIO_DEVICE_GET_IRQ_INFO, encodeIrqInfo({ argsz: 16, flags: 0, index: 5, count: 0 })).ret, EINVAL);
  const flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
  assert.equal(rawIoctl(p, d.fd, VFIO_DEVICE_SET_IRQS, encodeIrqSet({ argsz: 19, flags, index: VFIO_PCI_MSI_IRQ_INDEX, start: 0, count: 0 })).ret, EINVAL, 'short argsz');
  assert.equal(rawIoctl(p, d.fd, VFIO_DEVICE_SET_IRQS, encodeIrqSet({ flags, index: 7, start: 0, count: 0 })).ret, EINVAL, 'bad index');
  assert.equal(rawIoctl(p, d.fd, VFIO_DEVICE_SET_IRQS, encodeIrqSet({ flags, index: VFIO_PCI_MSI_IRQ_INDEX, start: 0, count: 5 })).ret, EINVAL, 'more vectors than the device has');
  assert.equal(rawIoctl(p, d.fd, VFIO_DEVICE_SET_IRQS, encodeIrqSet({ flags: 0, index: VFIO_PCI_MSI_IRQ_INDEX, start: 0, count: 0 })).ret, EINVAL, 'no data type or action');
});

test('short argsz on VFIO_IOMMU_MAP_DMA is EINVAL; misaligned vaddr/iova/size is EINVAL; overlap is EEXIST', () => {
  const { p, c } = openDevice(EDU0);
  const buf = p.mmap(0, 4 * PAGE, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert.ok(buf > 0);
  const iova = 0x2000_0000;
  assert.equal(rawIoctl(p, c.fd, VFIO_IOMMU_MAP_DMA, encodeDmaMap({ argsz: 24, flags: RW, vaddr: buf, iova, size: PAGE })).ret, EINVAL);
  assert.deepEqual(c.mapDma({ vaddr: BigInt(buf + 8), size: BigInt(PAGE), iova: BigInt(iova) }), { ok: false, errno: 22 }, 'vaddr');
  assert.deepEqual(c.mapDma({ vaddr: BigInt(buf), size: BigInt(PAGE), iova: BigInt(iova + 8) }), { ok: false, errno: 22 }, 'iova');
  assert.deepEqual(c.mapDma({ vaddr: BigInt(buf), size: BigInt(PAGE + 1), iova: BigInt(iova) }), { ok: false, errno: 22 }, 'size');
  assert.deepEqual(c.mapDma({ vaddr: BigInt(buf), size: 0n, iova: BigInt(iova) }), { ok: false, errno: 22 }, 'zero size');
  assert.deepEqual(c.mapDma({ vaddr: BigInt(buf), size: BigInt(PAGE), iova: BigInt(iova), flags: 0 }), { ok: false, errno: 22 }, 'no READ/WRITE');
  assert.deepEqual(c.mapDma({ vaddr: BigInt(buf), size: BigInt(2 * PAGE), iova: BigInt(iova) }), { ok: true, value: undefined });
  assert.deepEqual(c.mapDma({ vaddr: BigInt(buf + 2 * PAGE), size: BigInt(2 * PAGE), iova: BigInt(iova + PAGE) }), { ok: false, errno: 17 }, 'overlapping iova');
  assert.deepEqual(c.mapDma({ vaddr: BigInt(buf), size: BigInt(2 * PAGE), iova: BigInt(iova) }), { ok: false, errno: 17 }, 'same range');
});

test('config-space access at or past 4 KiB is EFAULT, never a throw', () => {
  const { d } = openDevice(NIC);
  assert.doesNotThrow(() => {
    assert.deepEqual(d.readConfig(4096, 4), { ok: false, errno: 14 });
    assert.deepEqual(d.writeConfig(4096, 4, 0), { ok: false, errno: 14 });
    assert.deepEqual(d.readConfig(0x10000, 1), { ok: false, errno: 14 });
    assert.deepEqual(d.readRegion(7, 4092, 8), { ok: false, errno: 14 });
  });
});

test('pread/pwrite at an offset past the BAR is EINVAL; on an unimplemented BAR or unknown region, EINVAL', () => {
  const { p, d } = openDevice(NIC);
  assert.deepEqual(d.readRegion(0, 0x20000, 4), { ok: false, errno: 22 }, 'BAR0 is 128 KiB');
  assert.deepEqual(d.writeRegion(0, 0x20000, new Uint8Array(4)), { ok: false, errno: 22 });
  assert.deepEqual(d.readRegion(2, 32, 4), { ok: false, errno: 22 }, 'I/O BAR is 32 bytes');
  assert.deepEqual(d.readRegion(1, 0, 4), { ok: false, errno: 22 }, 'BAR1 unimplemented');
  assert.deepEqual(d.readRegion(6, 0x10000, 4), { ok: false, errno: 22 }, 'past the ROM');
  assert.doesNotThrow(() => assert.equal(p.preadBytes(d.fd, 4, vfioPciIndexToOffset(9)).ret, EINVAL));
  assert.doesNotThrow(() => assert.equal(p.preadBytes(d.fd, 4, vfioPciIndexToOffset(200)).ret, EINVAL));
  // a short read at the end is clamped, not an error
  const r = d.readRegion(0, 0x20000 - 2, 8);
  assert.ok(r.ok && r.value.byteLength === 2);
});

test('a device ioctl on a container fd is ENOTTY (type1 does not know it)', () => {
  const { p, c } = openDevice(EDU0);
  assert.equal(p.ioctl(c.fd, VFIO_DEVICE_RESET, 0), -25);
  assert.equal(rawIoctl(p, c.fd, VFIO_DEVICE_GET_REGION_INFO, encodeRegionInfo({ argsz: 32, index: 0 })).ret, -25);
  assert.equal(rawIoctl(p, c.fd, VFIO_DEVICE_GET_INFO, encodeDeviceInfo({ argsz: 16, flags: 0, numRegions: 0, numIrqs: 0 })).ret, -25);
});

test('unknown device ioctl is ENOTTY; a bad user pointer is EFAULT; a closed fd is EBADF', () => {
  const { p, d } = openDevice(EDU0);
  assert.doesNotThrow(() => {
    assert.equal(p.ioctl(d.fd, 0x3b00 + 99, 0), -25);
    assert.equal(p.ioctl(d.fd, VFIO_DEVICE_GET_INFO, 0), -14, 'NULL struct pointer');
    assert.equal(p.ioctl(d.fd, VFIO_DEVICE_GET_REGION_INFO, 0x7ff0_0000_0000), -14, 'unmapped struct pointer');
    assert.equal(p.pread(d.fd, 0, 4, vfioPciIndexToOffset(7)), -14, 'pread into NULL');
    assert.equal(p.ioctl(999, VFIO_DEVICE_GET_INFO, 0), -9);
  });
});
