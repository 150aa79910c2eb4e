import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventStream } from '../../src/events/stream.js';
import { createMachine, defineDevice, endpoint, rootPort, EDU_REG_IRQ_ACK, EDU_REG_IRQ_RAISE, type Machine, type PciFunction } from '../../src/hw/index.js';
import { EDU1, NIC, bar, enable, eventsOf, machine } from './util.js';

function collect(m: Machine): { addr: number; data: number; src: string }[] {
  const got: { addr: number; data: number; src: string }[] = [];
  m.setMsiHandler((addr, data, src) => got.push({ addr, data, src: src.name }));
  return got;
}

function capOf(f: PciFunction, id: number): number {
  let p = f.cs.r8(0x34);
  while (p !== 0 && f.cs.r8(p) !== id) p = f.cs.r8(p + 1);
  return p;
}

/** Program MSI-X entry v through the BAR (as the kernel does). */
function msixProgram(m: Machine, v: number, addr: number, data: number, masked: boolean): void {
  const t = bar(m, NIC, 3) + 16 * v;
  m.memWrite(t, 4, BigInt(addr));
  m.memWrite(t + 4, 4, 0n);
  m.memWrite(t + 8, 4, BigInt(data));
  m.memWrite(t + 12, 4, masked ? 1n : 0n);
}

test('edu INTx: raise sets the status Interrupt bit, ack clears it (no MSI enabled)', () => {
  const m = machine();
  enable(m, EDU1);
  const edu = m.fn(EDU1);
  const b = bar(m, EDU1, 0);
  m.memWrite(b + EDU_REG_IRQ_RAISE, 4, 0x10n);
  assert.equal(edu.cfgRead(6, 2) & 0x8, 0x8);
  m.memWrite(b + EDU_REG_IRQ_ACK, 4, 0x10n);
  assert.equal(edu.cfgRead(6, 2) & 0x8, 0);
  assert.equal(eventsOf(m, 'msi').length, 0);
});

test('MSI: with MSI enabled and bus master, a raise writes data to the MSI address', () => {
  const m = machine();
  const got = collect(m);
  enable(m, EDU1, true);
  const edu = m.fn(EDU1);
  const msi = capOf(edu, 0x05);
  edu.cfgWrite(msi + 4, 4, 0xfee01000);
  edu.cfgWrite(msi + 8, 4, 0);
  edu.cfgWrite(msi + 12, 2, 0x4041);
  edu.cfgWrite(msi + 2, 2, 1);
  m.memWrite(bar(m, EDU1, 0) + EDU_REG_IRQ_RAISE, 4, 1n);
  assert.deepEqual(got, [{ addr: 0xfee01000, data: 0x4041, src: EDU1 }]);
  const ev = eventsOf(m, 'msi');
  assert.equal(ev.length, 1);
  assert.equal(ev[0]?.delivered, true);
  assert.equal(edu.cfgRead(6, 2) & 0x8, 0, 'INTx not asserted while MSI is enabled');
});

test('MSI needs bus master: without MASTER the message is not delivered', () => {
  const m = machine();
  const got = collect(m);
  enable(m, EDU1, false);
  const edu = m.fn(EDU1);
  const msi = capOf(edu, 0x05);
  edu.cfgWrite(msi + 4, 4, 0xfee00000);
  edu.cfgWrite(msi + 2, 2, 1);
  m.memWrite(bar(m, EDU1, 0) + EDU_REG_IRQ_RAISE, 4, 1n);
  assert.equal(got.length, 0);
  assert.equal(eventsOf(m, 'msi')[0]?.delivered, false);
});

test('MSI with multiple vectors: data low bits carry the vector within MME; per-vector mask sets pending', () => {
  let ctx: { raiseIrq(v: number): void } | null = null;
  const DEV = defineDevice({
    model: 'msi4',
    vendorId: 1,
    deviceId: 1,
    classCode: 0xff0000,
    bars: [{ index: 0, kind: 'mem', size: 4096 }],
    caps: { msi: { vectors: 4, addr64: false, perVectorMask: true }, pcie: { flr: false } },
    behavior: (c) => {
      ctx = c;
      return { mmioRead: () => 0n, mmioWrite: () => {}, reset: () => {} };
    },
  });
  const m = createMachine({ slots: [rootPort(1, [endpoint(0, DEV)])] }, new EventStream());
  const got = collect(m);
  const f = m.fn('0000:01:00.0');
  f.cfgWrite(4, 2, 6);
  const msi = capOf(f, 0x05);
  assert.equal(f.cfgRead(msi + 2, 2), 0x0104, '32-bit, maskable, MMC=2');
  f.cfgWrite(msi + 4, 4, 0xfee00000);
  f.cfgWrite(msi + 8, 2, 0x30);
  f.cfgWrite(msi + 2, 2, 0x0021); // enable, MME=2 (4 vectors)
  const c = ctx as { raiseIrq(v: number): void } | null;
  assert.ok(c !== null);
  c.raiseIrq(3);
  assert.deepEqual(got.map((g) => g.data), [0x33]);
  f.cfgWrite(msi + 12, 4, 0x2); // mask vector 1
  c.raiseIrq(1);
  assert.equal(got.length, 1);
  assert.equal(f.cfgRead(msi + 16, 4), 0x2, 'pending bit set');
  f.cfgWrite(msi + 12, 4, 0); // unmask -> pending delivered
  assert.deepEqual(got.map((g) => g.data), [0x33, 0x31]);
  assert.equal(f.cfgRead(msi + 16, 4), 0);
  c.raiseIrq(4);
  assert.equal(got.length, 2, 'vector beyond MME is not signalled');
});

test('MSI-X: table and PBA are served by the function; entries are masked at reset', () => {
  const m = machine();
  enable(m, NIC, true);
  const t = bar(m, NIC, 3);
  for (let v = 0; v < 4; v++) assert.equal(m.memRead(t + 16 * v + 12, 4), 1n);
  m.memWrite(t + 16 * 2 + 8, 4, 0x1234n);
  assert.equal(m.memRead(t + 16 * 2 + 8, 4), 0x1234n);
  m.memWrite(t + 12, 4, 0xffffffffn);
  assert.equal(m.memRead(t + 12, 4), 1n, 'only the mask bit of vector control is writable');
  assert.equal(m.memRead(t + 0x2000, 8), 0n, 'PBA empty');
  assert.equal(eventsOf(m, 'mmio').every((e) => e.dev === NIC && e.bar === 3), true);
});

test('MSI-X: masked entry sets the PBA bit; unmasking delivers the pending message', () => {
  const m = machine();
  const got = collect(m);
  enable(m, NIC, true);
  const nic = m.fn(NIC);
  const msix = capOf(nic, 0x11);
  msixProgram(m, 1, 0xfee02000, 0x51, true);
  nic.cfgWrite(msix + 2, 2, 0x8000);
  nic.raiseIrq(1);
  assert.equal(got.length, 0);
  assert.equal(m.memRead(bar(m, NIC, 3) + 0x2000, 8), 0x2n, 'PBA bit 1');
  assert.equal(nic.msixPending(1), true);
  m.memWrite(bar(m, NIC, 3) + 16 + 12, 4, 0n);
  assert.deepEqual(got, [{ addr: 0xfee02000, data: 0x51, src: NIC }]);
  assert.equal(nic.msixPending(1), false);
  nic.raiseIrq(1);
  assert.equal(got.length, 2, 'unmasked entry delivers directly');
});

test('MSI-X Function Mask holds all vectors pending; clearing it delivers them', () => {
  const m = machine();
  const got = collect(m);
  enable(m, NIC, true);
  const nic = m.fn(NIC);
  const msix = capOf(nic, 0x11);
  msixProgram(m, 0, 0xfee00000, 0x40, false);
  msixProgram(m, 3, 0xfee00000, 0x43, false);
  nic.cfgWrite(msix + 2, 2, 0xc000);
  nic.raiseIrq(0);
  nic.raiseIrq(3);
  assert.equal(got.length, 0);
  nic.cfgWrite(msix + 2, 2, 0x8000);
  assert.deepEqual(got.map((g) => g.data), [0x40, 0x43]);
});

test('MSI-X message to a non-interrupt address is a DMA write through the IOMMU (fault when unmapped)', () => {
  const m = machine();
  const got = collect(m);
  enable(m, NIC, true);
  const nic = m.fn(NIC);
  msixProgram(m, 0, 0x1000, 0x99, false);
  nic.cfgWrite(capOf(nic, 0x11) + 2, 2, 0x8000);
  nic.raiseIrq(0);
  assert.equal(got.length, 0);
  assert.equal(eventsOf(m, 'iommu.fault').length, 1);
  assert.equal(eventsOf(m, 'msi')[0]?.delivered, false);
});
