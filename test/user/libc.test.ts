/**
 * The C-shaped layer (src/user/libc.ts): -1 and errno as libc returns them, structs
 * copied in and out through model memory by the kernel, mmap flags as vfio-pci checks
 * them, and a C VFIO test sequence ported line by line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EBADF, EFAULT, EINVAL, EIO, ENOENT, ENOTTY, Libc, libc, MAP_ANONYMOUS, MAP_FAILED, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, O_RDWR, PROT_READ,
  PROT_WRITE, strerror, System, VFIO_API_VERSION, VFIO_DEVICE_GET_REGION_INFO, VFIO_GET_API_VERSION, VFIO_GROUP_FLAGS_VIABLE,
  VFIO_GROUP_GET_DEVICE_FD, VFIO_GROUP_GET_STATUS, VFIO_GROUP_SET_CONTAINER, VFIO_GROUP_STATUS, VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_TYPE1_DMA_MAP, VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_CONFIG_REGION_INDEX, VFIO_REGION_INFO, VFIO_SET_IOMMU,
  VFIO_TYPE1v2_IOMMU, VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE,
} from '../../src/index.js';

const EDU = '0000:01:00.0';
const PCI_COMMAND = 0x04;
const PCI_COMMAND_MEMORY = 0x2;

/** A C test's prologue: container, group (its number read from sysfs), type1v2, device fd. */
function openDevice(): { sys: System; c: Libc; container: number; group: number; device: number } {
  const sys = new System({ variant: '5.8' });
  const c = libc(sys.spawnProcess('vfio-test'));
  const link = c.malloc(256);
  const n = c.readlink(`/sys/bus/pci/devices/${EDU}/iommu_group`, link, 255);
  assert.ok(n > 0);
  const groupId = Number(c.peekString(link, n).split('/').pop());
  const container = c.open('/dev/vfio/vfio', O_RDWR);
  const group = c.open(`/dev/vfio/${groupId}`, O_RDWR);
  const pfd = c.malloc(4);
  c.store32(pfd, container);
  assert.equal(c.ioctl(group, VFIO_GROUP_SET_CONTAINER, pfd), 0);
  assert.equal(c.ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
  const device = c.ioctl(group, VFIO_GROUP_GET_DEVICE_FD, c.strdup(EDU));
  assert.ok(device >= 0, strerror(c.errno));
  return { sys, c, container, group, device };
}

/** VFIO_DEVICE_GET_REGION_INFO through a struct in model memory. */
function regionInfo(c: Libc, device: number, index: number): { size: bigint; offset: bigint; flags: number } {
  const reg = c.malloc(VFIO_REGION_INFO.size);
  c.pokeStruct(reg, VFIO_REGION_INFO, { argsz: VFIO_REGION_INFO.size, index });
  assert.equal(c.ioctl(device, VFIO_DEVICE_GET_REGION_INFO, reg), 0, strerror(c.errno));
  return c.peekStruct(reg, VFIO_REGION_INFO);
}

test('libc: a failing call returns -1 and sets errno; a succeeding call leaves errno alone (as C)', () => {
  const sys = new System();
  const c = libc(sys.spawnProcess('t'));
  const fd = c.open('/dev/vfio/vfio', O_RDWR);
  assert.ok(fd >= 0);
  assert.equal(c.open('/dev/vfio/99', O_RDWR), -1);
  assert.equal(c.errno, ENOENT);
  assert.equal(c.ioctl(fd, VFIO_GET_API_VERSION), VFIO_API_VERSION);
  assert.equal(c.errno, ENOENT, 'errno is not cleared by a successful call');
  assert.equal(strerror(c.errno), 'No such file or directory');
  assert.equal(strerror(EBADF), 'Bad file descriptor');
  assert.equal(strerror(4242), 'Unknown error 4242');
});

test('libc: every fd call on a closed fd is -1/EBADF (fdget finds nothing)', () => {
  const sys = new System();
  const c = libc(sys.spawnProcess('t'));
  const fd = c.open('/dev/vfio/vfio', O_RDWR);
  const buf = c.malloc(16);
  assert.equal(c.close(fd), 0);
  for (const [name, r] of [
    ['close', () => c.close(fd)],
    ['read', () => c.read(fd, buf, 4)],
    ['write', () => c.write(fd, buf, 4)],
    ['pread', () => c.pread(fd, buf, 4, 0)],
    ['pwrite', () => c.pwrite(fd, buf, 4, 0)],
    ['ioctl', () => c.ioctl(fd, VFIO_GET_API_VERSION)],
    ['mmap', () => c.mmap(0, 4096, PROT_READ, MAP_SHARED, fd, 0)],
  ] as const) {
    c.errno = 0;
    assert.equal(r(), -1, name);
    assert.equal(c.errno, EBADF, name);
  }
});

test('libc: ENOENT for a missing device node and a missing sysfs path', () => {
  const sys = new System();
  const c = libc(sys.spawnProcess('t'));
  for (const path of ['/dev/vfio/42', '/dev/nothing', '/sys/bus/pci/devices/0000:09:00.0/vendor', '/sys/kernel/iommu_groups/99/devices']) {
    c.errno = 0;
    assert.equal(c.open(path, O_RDWR), -1, path);
    assert.equal(c.errno, ENOENT, path);
  }
  assert.equal(c.readlink('/sys/bus/pci/devices/0000:09:00.0/iommu_group', c.malloc(64), 64), -1);
  assert.equal(c.errno, ENOENT);
});

test('libc ioctl: a struct pointer into unmapped memory is -1/EFAULT (copy_from_user fails)', () => {
  const { c, device, container } = openDevice();
  assert.equal(c.ioctl(device, VFIO_DEVICE_GET_REGION_INFO, 0x10), -1);
  assert.equal(c.errno, EFAULT);
  assert.equal(c.ioctl(container, VFIO_IOMMU_MAP_DMA, 0x7000_0000), -1);
  assert.equal(c.errno, EFAULT);
  // a read into an unmapped buffer: copy_to_user fails
  const cfg = regionInfo(c, device, VFIO_PCI_CONFIG_REGION_INDEX);
  c.errno = 0;
  assert.equal(c.pread(device, 0x10, 4, Number(cfg.offset)), -1);
  assert.equal(c.errno, EFAULT);
});

test('libc ioctl: argsz below the kernel minsz is -1/EINVAL (VFIO_DEVICE_GET_REGION_INFO, VFIO_IOMMU_MAP_DMA)', () => {
  const { c, device, container } = openDevice();
  const reg = c.malloc(VFIO_REGION_INFO.size);
  c.pokeStruct(reg, VFIO_REGION_INFO, { argsz: VFIO_REGION_INFO.size - 8, index: 0 });
  assert.equal(c.ioctl(device, VFIO_DEVICE_GET_REGION_INFO, reg), -1);
  assert.equal(c.errno, EINVAL);
  const buf = c.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  const map = c.malloc(VFIO_IOMMU_TYPE1_DMA_MAP.size);
  const flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
  c.pokeStruct(map, VFIO_IOMMU_TYPE1_DMA_MAP, { argsz: 24, flags, vaddr: BigInt(buf), iova: 0n, size: 4096n });
  c.errno = 0;
  assert.equal(c.ioctl(container, VFIO_IOMMU_MAP_DMA, map), -1);
  assert.equal(c.errno, EINVAL);
  // the same struct with the full argsz maps
  c.pokeStruct(map, VFIO_IOMMU_TYPE1_DMA_MAP, { argsz: VFIO_IOMMU_TYPE1_DMA_MAP.size });
  assert.equal(c.ioctl(container, VFIO_IOMMU_MAP_DMA, map), 0, strerror(c.errno));
  // an ioctl the file does not know
  assert.equal(c.ioctl(device, 0x3bff), -1);
  assert.equal(c.errno, ENOTTY);
});

test('libc mmap: MAP_PRIVATE of a BAR is MAP_FAILED/EINVAL (vfio_pci_mmap requires VM_SHARED); MAP_SHARED maps', () => {
  const { c, device } = openDevice();
  const bar0 = regionInfo(c, device, VFIO_PCI_BAR0_REGION_INDEX);
  assert.equal(c.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, device, Number(bar0.offset)), MAP_FAILED);
  assert.equal(c.errno, EINVAL);
  const bar = c.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, device, Number(bar0.offset));
  assert.notEqual(bar, MAP_FAILED);
  assert.equal(c.load32(bar), 0x010000ed);
});

test('libc mmap: MAP_FIXED maps at the given address, replacing what was there', () => {
  const { c, device } = openDevice();
  const bar0 = regionInfo(c, device, VFIO_PCI_BAR0_REGION_INDEX);
  const anon = c.mmap(0, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  c.store32(anon, 0xdead);
  const at = anon + 4096;
  assert.equal(c.mmap(at, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, device, Number(bar0.offset)), at);
  assert.equal(c.load32(at), 0x010000ed, 'the BAR is now at the fixed address');
  assert.equal(c.load32(anon), 0xdead, 'the page before it is untouched');
  assert.equal(c.munmap(at, 4096), 0);
  assert.equal(c.catchSignal(() => c.load32(at))?.signal, 'SIGSEGV');
});

test('ported C test: open container/group/device, region info, mmap BAR0, load, clear MEM with pwrite on the config region, then SIGBUS and EIO', () => {
  const { sys, c, container, group, device } = openDevice();
  assert.equal(c.ioctl(container, VFIO_GET_API_VERSION), VFIO_API_VERSION);
  const status = c.malloc(VFIO_GROUP_STATUS.size);
  c.pokeStruct(status, VFIO_GROUP_STATUS, { argsz: VFIO_GROUP_STATUS.size });
  assert.equal(c.ioctl(group, VFIO_GROUP_GET_STATUS, status), 0);
  assert.ok((c.peekStruct(status, VFIO_GROUP_STATUS).flags & VFIO_GROUP_FLAGS_VIABLE) !== 0);
  const bar0 = regionInfo(c, device, VFIO_PCI_BAR0_REGION_INDEX);
  assert.equal(bar0.size, 0x100000n);
  const bar = c.mmap(0, Number(bar0.size), PROT_READ | PROT_WRITE, MAP_SHARED, device, Number(bar0.offset));
  assert.equal(c.load32(bar), 0x010000ed);
  const cfg = regionInfo(c, device, VFIO_PCI_CONFIG_REGION_INDEX);
  const cmd = c.malloc(2);
  assert.equal(c.pread(device, cmd, 2, Number(cfg.offset) + PCI_COMMAND), 2);
  assert.ok((c.load16(cmd) & PCI_COMMAND_MEMORY) !== 0);
  c.store16(cmd, c.load16(cmd) & ~PCI_COMMAND_MEMORY);
  assert.equal(c.pwrite(device, cmd, 2, Number(cfg.offset) + PCI_COMMAND), 2);
  const sig = c.catchSignal(() => c.load32(bar));
  assert.equal(sig?.signal, 'SIGBUS');
  assert.equal(sig?.addr, bar);
  const v = c.malloc(4);
  assert.equal(c.pread(device, v, 4, Number(bar0.offset)), -1);
  assert.equal(c.errno, EIO);
  assert.equal(sys.platformErrors, 0);
  assert.equal(c.close(device), 0);
  assert.equal(c.close(group), 0);
  assert.equal(c.close(container), 0);
});
