import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  IOMMU_READ,
  IOMMU_WRITE,
  NIC_DEFAULT_MAC,
  NIC_IO_ADDR,
  NIC_IO_DATA,
  NIC_REG_CTRL,
  NIC_REG_ICR,
  NIC_REG_MAC_LO,
  NIC_REG_RX_ADDR_LO,
  NIC_REG_RX_COUNT,
  NIC_REG_RX_DOORBELL,
  NIC_REG_SCRATCH,
  NIC_REG_STATUS,
  NIC_ROM_FILL,
  nicPacket,
} from '../../src/hw/index.js';
import { NIC, bar, enable, eventsOf, machine } from './util.js';

test('nic expansion ROM holds a valid image (55 AA, PCIR with ids, length, last-image bit) shorter than the ROM BAR', () => {
  const m = machine();
  enable(m, NIC);
  const nic = m.fn(NIC);
  const rom = bar(m, NIC, 6);
  nic.cfgWrite(0x30, 4, rom | 1);
  const rd = (o: number, s: 1 | 2 | 4): number => Number(m.memRead(rom + o, s));
  assert.equal(rd(0, 1), 0x55);
  assert.equal(rd(1, 1), 0xaa);
  const pcir = rd(0x18, 2);
  assert.equal(rd(pcir, 4), 0x52494350, '"PCIR"');
  assert.equal(rd(pcir + 4, 2), nic.cfgRead(0, 2));
  assert.equal(rd(pcir + 6, 2), nic.cfgRead(2, 2));
  const len = rd(pcir + 0x10, 2) * 512;
  assert.equal(rd(pcir + 0x15, 1) & 0x80, 0x80, 'last image');
  const size = nic.resource(6)?.size ?? 0;
  assert.ok(len > 0 && len < size, 'image shorter than the ROM BAR');
  let sum = 0;
  for (let i = 0; i < len; i += 4) {
    const v = rd(i, 4);
    sum += (v & 0xff) + ((v >> 8) & 0xff) + ((v >> 16) & 0xff) + (v >>> 24);
  }
  assert.equal(sum & 0xff, 0, 'checksum');
  assert.equal(rd(len, 1), NIC_ROM_FILL, 'bytes past the image exist in hardware');
  assert.equal(rd(size - 1, 1), NIC_ROM_FILL);
});

test('nic registers: scratch RW, status RO with link up, MAC reset value', () => {
  const m = machine();
  enable(m, NIC);
  const b = bar(m, NIC, 0);
  m.memWrite(b + NIC_REG_SCRATCH, 4, 0x11223344n);
  assert.equal(m.memRead(b + NIC_REG_SCRATCH, 4), 0x11223344n);
  assert.equal(m.memRead(b + NIC_REG_SCRATCH + 1, 2), 0x2233n, 'narrow access reads bytes of a register');
  m.memWrite(b + NIC_REG_STATUS, 4, 0n);
  assert.equal(m.memRead(b + NIC_REG_STATUS, 4), 1n);
  assert.equal(m.memRead(b + NIC_REG_MAC_LO, 4), 0x12005452n);
  assert.equal(NIC_DEFAULT_MAC[0], 0x52);
});

test('nic I/O BAR: IOADDR/IODATA indirect window into the BAR0 registers', () => {
  const m = machine();
  enable(m, NIC);
  const port = bar(m, NIC, 2);
  const b = bar(m, NIC, 0);
  m.ioWrite(port + NIC_IO_ADDR, 4, NIC_REG_SCRATCH);
  m.ioWrite(port + NIC_IO_DATA, 4, 0xdeadbeef);
  assert.equal(m.memRead(b + NIC_REG_SCRATCH, 4), 0xdeadbeefn);
  m.memWrite(b + NIC_REG_SCRATCH, 4, 0x5an);
  assert.equal(m.ioRead(port + NIC_IO_DATA, 4), 0x5a);
  assert.equal(m.ioRead(port + NIC_IO_ADDR, 4), NIC_REG_SCRATCH);
  assert.equal(m.ioRead(port + NIC_IO_DATA, 2), 0xffff, 'only 32-bit accesses');
  assert.equal(eventsOf(m, 'pio').length, 5);
});

test('nic RX doorbell DMAs a deterministic packet to the programmed bus address and raises MSI-X vector 0', () => {
  const m = machine();
  const got: number[] = [];
  m.setMsiHandler((_a, d) => got.push(d));
  enable(m, NIC, true);
  const nic = m.fn(NIC);
  const b = bar(m, NIC, 0);
  const t = bar(m, NIC, 3);
  const dom = m.iommu.createDomain();
  m.iommu.attachGroup(dom, nic.iommuGroup);
  const pfn = m.ram.allocPage();
  m.iommu.map(dom, 0x40000000, pfn, 1, IOMMU_READ | IOMMU_WRITE);
  m.memWrite(t, 4, 0xfee00000n);
  m.memWrite(t + 8, 4, 0x60n);
  m.memWrite(t + 12, 4, 0n);
  let msix = nic.cfgRead(0x34, 1);
  while (nic.cfgRead(msix, 1) !== 0x11) msix = nic.cfgRead(msix + 1, 1);
  nic.cfgWrite(msix + 2, 2, 0x8000);
  m.memWrite(b + NIC_REG_RX_ADDR_LO, 4, 0x40000100n);
  m.memWrite(b + NIC_REG_RX_DOORBELL, 4, 1n);
  assert.equal(m.memRead(b + NIC_REG_RX_COUNT, 4), 0n, 'RX disabled: nothing');
  m.memWrite(b + NIC_REG_CTRL, 4, 1n);
  m.memWrite(b + NIC_REG_RX_DOORBELL, 4, 1n);
  assert.equal(m.memRead(b + NIC_REG_RX_COUNT, 4), 1n);
  assert.deepEqual(Array.from(m.ram.page(pfn).subarray(0x100, 0x140)), Array.from(nicPacket(NIC_DEFAULT_MAC, 0)));
  assert.deepEqual(got, [0x60]);
  assert.equal(m.memRead(b + NIC_REG_ICR, 4), 1n);
  m.memWrite(b + NIC_REG_ICR, 4, 1n);
  assert.equal(m.memRead(b + NIC_REG_ICR, 4), 0n, 'ICR is write-1-to-clear');
});
