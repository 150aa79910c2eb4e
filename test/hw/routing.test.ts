import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EDU_ID_VALUE, EDU_REG_ID, EDU_REG_LIVENESS, NIC_REG_SCRATCH } from '../../src/hw/index.js';
import { EDU1, EDU2, NIC, bar, enable, eventsOf, machine } from './util.js';

test('RAM reads and writes are little-endian at every access size', () => {
  const m = machine();
  m.memWrite(0x2000, 8, 0x0102030405060708n);
  assert.equal(m.memRead(0x2000, 1), 0x08n);
  assert.equal(m.memRead(0x2000, 2), 0x0708n);
  assert.equal(m.memRead(0x2004, 4), 0x01020304n);
  assert.equal(m.memRead(0x2000, 8), 0x0102030405060708n);
  m.memWrite(0x2ffe, 4, 0xaabbccddn); // crosses a page
  assert.equal(m.memRead(0x2ffe, 4), 0xaabbccddn);
  assert.equal(m.ram.page(3)[0], 0xbb);
});

test('BAR access with memory decode enabled reaches the device and emits an mmio event', () => {
  const m = machine();
  enable(m, EDU1);
  const b = bar(m, EDU1, 0);
  assert.equal(m.memRead(b + EDU_REG_ID, 4), BigInt(EDU_ID_VALUE));
  m.memWrite(b + EDU_REG_LIVENESS, 4, 0x12345678n);
  assert.equal(m.memRead(b + EDU_REG_LIVENESS, 4), BigInt(~0x12345678 >>> 0));
  const mm = eventsOf(m, 'mmio');
  assert.equal(mm.length, 3);
  assert.deepEqual(
    mm.map((e) => [e.dev, e.bar, e.offset, e.dir, e.initiator]),
    [
      [EDU1, 0, 0, 'r', 'cpu'],
      [EDU1, 0, 4, 'w', 'cpu'],
      [EDU1, 0, 4, 'r', 'cpu'],
    ],
  );
  assert.equal(m.platform.urCount, 0);
});

test('memory decode off: read is an Unsupported Request returning all-ones, write dropped, platform.error logged', () => {
  const m = machine({ firmware: 'none' });
  const b = bar(m, EDU1, 0);
  // no firmware: MEM clear
  assert.equal(m.memRead(b + EDU_REG_ID, 4), 0xffffffffn);
  assert.equal(m.memRead(b, 8), 0xffffffffffffffffn);
  assert.equal(m.memRead(b, 1), 0xffn);
  m.memWrite(b + EDU_REG_LIVENESS, 4, 0n);
  assert.equal(m.platform.urCount, 4);
  const errs = eventsOf(m, 'platform.error');
  assert.equal(errs.length, 4);
  assert.deepEqual(
    { addr: errs[3]?.addr, dir: errs[3]?.dir, target: errs[3]?.target, initiator: errs[3]?.initiator, severity: errs[3]?.severity },
    { addr: b + 4, dir: 'w', target: EDU1, initiator: 'cpu', severity: 'logged' },
  );
  assert.equal(eventsOf(m, 'mmio').length, 0, 'the device saw nothing');
  enable(m, EDU1);
  assert.equal(m.memRead(b + EDU_REG_LIVENESS, 4), 0n, 'the dropped write never reached the liveness register');
  assert.equal(m.platform.haltReason, null);
});

test('clearing MEM after a cached hit invalidates the routing cache (next access is an Unsupported Request)', () => {
  const m = machine();
  enable(m, EDU1);
  const b = bar(m, EDU1, 0);
  assert.equal(m.memRead(b, 4), BigInt(EDU_ID_VALUE));
  assert.equal(m.memRead(b, 4), BigInt(EDU_ID_VALUE));
  m.fn(EDU1).cfgWrite(4, 2, 0);
  assert.equal(m.memRead(b, 4), 0xffffffffn);
  assert.equal(m.platform.urCount, 1);
  m.fn(EDU1).cfgWrite(4, 2, 2);
  assert.equal(m.memRead(b, 4), BigInt(EDU_ID_VALUE));
});

test('address decoding follows the current BAR register (hardware truth), not the firmware assignment', () => {
  const m = machine();
  enable(m, EDU1);
  const edu = m.fn(EDU1);
  const old = bar(m, EDU1, 0);
  assert.equal(m.memRead(old, 4), BigInt(EDU_ID_VALUE));
  const moved = 0xd0000000;
  edu.cfgWrite(0x10, 4, moved);
  assert.equal(m.memRead(moved, 4), BigInt(EDU_ID_VALUE));
  assert.equal(m.memRead(old, 4), 0xffffffffn);
  const ur = eventsOf(m, 'platform.error');
  assert.equal(ur.length, 1);
  assert.equal(ur[0]?.target, EDU1, 'target of an unclaimed access is the function owning the firmware range');
  assert.equal(edu.resource(0)?.start, old, 'resource() stays the firmware assignment');
});

test('an address no function was ever assigned is an Unsupported Request with target null', () => {
  const m = machine();
  assert.equal(m.memRead(0xe0000000, 4), 0xffffffffn);
  assert.equal(eventsOf(m, 'platform.error')[0]?.target, null);
});

test('fatal UR policy halts the machine on the first Unsupported Request', () => {
  const m = machine({ urPolicy: 'fatal', firmware: 'none' });
  enable(m, EDU2);
  assert.equal(m.memRead(bar(m, EDU2, 0), 4), BigInt(EDU_ID_VALUE));
  assert.equal(m.platform.haltReason, null);
  m.memWrite(bar(m, EDU1, 0), 4, 1n);
  assert.notEqual(m.platform.haltReason, null);
  assert.match(m.platform.haltReason ?? '', /Unsupported Request/);
  assert.equal(eventsOf(m, 'machine.halt').length, 1);
  assert.equal(eventsOf(m, 'platform.error')[0]?.severity, 'fatal');
  m.memRead(bar(m, EDU1, 0), 4);
  assert.equal(eventsOf(m, 'machine.halt').length, 1, 'halts once');
  assert.equal(m.platform.urCount, 2);
});

test('a PCIe target that receives an Unsupported Request records URD in its Device Status', () => {
  const m = machine({ firmware: 'none' });
  const nic = m.fn(NIC);
  m.memRead(bar(m, NIC, 0), 4);
  let exp = nic.cfgRead(0x34, 1);
  while (exp !== 0 && nic.cfgRead(exp, 1) !== 0x10) exp = nic.cfgRead(exp + 1, 1);
  assert.equal(nic.cfgRead(exp + 10, 2) & 0x8, 0x8);
});

test('expansion ROM decodes only with MEM and the ROM BAR enable bit', () => {
  const m = machine();
  enable(m, NIC);
  const nic = m.fn(NIC);
  const rom = bar(m, NIC, 6);
  assert.equal(m.memRead(rom, 2), 0xffffn, 'ROM enable clear: UR');
  assert.equal(m.platform.urCount, 1);
  nic.cfgWrite(0x30, 4, nic.cfgRead(0x30, 4) | 1);
  assert.equal(m.memRead(rom, 2), 0xaa55n);
  assert.equal(eventsOf(m, 'rom.read').length, 1);
  nic.cfgWrite(4, 2, 0);
  assert.equal(m.memRead(rom, 2), 0xffffn, 'MEM clear: UR even with ROM enabled');
});

test('I/O port BAR needs the IO bit; unclaimed port reads all-ones and is an Unsupported Request', () => {
  const m = machine();
  const nic = m.fn(NIC);
  const port = bar(m, NIC, 2);
  assert.ok(port >= 0xc000 && port + 32 <= 0x10000);
  nic.cfgWrite(4, 2, 0x2); // MEM only
  m.ioWrite(port, 4, NIC_REG_SCRATCH);
  assert.equal(m.ioRead(port, 4), 0xffffffff);
  assert.equal(m.platform.urCount, 2);
  nic.cfgWrite(4, 2, 0x3);
  m.ioWrite(port, 4, NIC_REG_SCRATCH);
  assert.equal(m.ioRead(port, 4), NIC_REG_SCRATCH);
  assert.equal(eventsOf(m, 'pio').length, 2);
});

test('CPU throughput on the cached MMIO path is at least a few million loads per second', () => {
  const m = machine();
  m.events.record = false;
  enable(m, EDU1);
  const b = bar(m, EDU1, 0);
  const n = 200_000;
  const t0 = performance.now();
  let x = 0n;
  for (let i = 0; i < n; i++) x ^= m.memRead(b, 4);
  const dt = performance.now() - t0;
  assert.equal(x, 0n);
  assert.ok(n / (dt / 1000) > 1_000_000, `only ${(n / (dt / 1000)).toFixed(0)} loads/s`);
});
