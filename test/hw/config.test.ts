import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createMachine,
  defineDevice,
  endpoint,
  multiFunction,
  rootPort,
  EDU_DEVICE,
  NIC_DEVICE,
  PCI_CAP_ID_EXP,
  PCI_CAP_ID_MSI,
  PCI_CAP_ID_MSIX,
  PCI_CAP_ID_PM,
} from '../../src/hw/index.js';
import { EventStream } from '../../src/events/stream.js';
import { EDU1, NIC, machine } from './util.js';

function caps(m: ReturnType<typeof machine>, name: string): Map<number, number> {
  const f = m.fn(name);
  const out = new Map<number, number>();
  let p = f.cfgRead(0x34, 1);
  while (p !== 0) {
    out.set(f.cfgRead(p, 1), p);
    p = f.cfgRead(p + 1, 1);
  }
  return out;
}

test('type-0 header identifies edu (1234:11e8, class 00ff00, conventional 256-byte config, pin A)', () => {
  const m = machine();
  const f = m.fn(EDU1);
  assert.equal(f.cfgRead(0, 4), 0x11e81234);
  assert.equal(f.cfgRead(0x09, 1) | (f.cfgRead(0x0a, 2) << 8), 0x00ff00);
  assert.equal(f.configSize, 256);
  assert.equal(f.cfgRead(0x0e, 1), 0);
  assert.equal(f.cfgRead(0x3d, 1), 1);
  assert.equal(f.cfgRead(0x04, 2), 0x0103, 'SeaBIOS leaves IO|MEM|SERR set');
  assert.equal(f.cfgRead(0x100, 4), 0xffffffff, 'beyond a 256-byte config space reads all-ones');
  assert.deepEqual([...caps(m, EDU1).keys()], [PCI_CAP_ID_MSI]);
});

test('command register: only IO/MEM/MASTER/PARITY/SERR/INTX_DISABLE are writable', () => {
  const m = machine();
  const f = m.fn(EDU1);
  f.cfgWrite(4, 2, 0xffff);
  assert.equal(f.cfgRead(4, 2), 0x0547);
  f.cfgWrite(4, 2, 0);
  assert.equal(f.cfgRead(4, 2), 0);
});

test('status register: error bits are write-1-to-clear, capability-list bit is read-only', () => {
  const m = machine();
  const f = m.fn(EDU1);
  // hardware sets received-master-abort and detected-parity
  f.cs.set16(6, f.cs.r16(6) | 0x2000 | 0x8000);
  assert.equal(f.cfgRead(6, 2) & 0xa010, 0xa010);
  f.cfgWrite(6, 2, 0x2000); // clear only master abort
  assert.equal(f.cfgRead(6, 2) & 0xa010, 0x8010);
  f.cfgWrite(6, 2, 0); // writing zeros clears nothing
  assert.equal(f.cfgRead(6, 2) & 0x8000, 0x8000);
  f.cfgWrite(6, 2, 0xffff); // cap-list bit stays
  assert.equal(f.cfgRead(6, 2), 0x0010);
});

test('read-only ids, revision and interrupt pin ignore writes; interrupt line is RW', () => {
  const m = machine();
  const f = m.fn(EDU1);
  f.cfgWrite(0, 4, 0);
  f.cfgWrite(0x3c, 2, 0xffff);
  assert.equal(f.cfgRead(0, 4), 0x11e81234);
  assert.equal(f.cfgRead(0x3c, 1), 0xff);
  assert.equal(f.cfgRead(0x3d, 1), 1);
});

test('BAR sizing: writing all-ones reads back the size mask with the flag bits', () => {
  const m = machine();
  const edu = m.fn(EDU1);
  const orig = edu.cfgRead(0x10, 4);
  assert.equal(orig, edu.resource(0)?.start, 'firmware programmed the BAR');
  edu.cfgWrite(0x10, 4, 0xffffffff);
  assert.equal(edu.cfgRead(0x10, 4), 0xfff00000, '1 MiB 32-bit non-prefetchable');
  edu.cfgWrite(0x10, 4, orig);
  assert.equal(edu.cfgRead(0x10, 4), orig);
  for (let i = 1; i < 6; i++) {
    edu.cfgWrite(0x10 + 4 * i, 4, 0xffffffff);
    assert.equal(edu.cfgRead(0x10 + 4 * i, 4), 0, `unimplemented BAR ${i} reads 0`);
  }

  const nic = m.fn(NIC);
  nic.cfgWrite(0x10, 4, 0xffffffff);
  assert.equal(nic.cfgRead(0x10, 4), 0xfffe0000, 'BAR0 128 KiB');
  nic.cfgWrite(0x18, 4, 0xffffffff);
  assert.equal(nic.cfgRead(0x18, 4), 0xffffffe1, 'BAR2 I/O 32 bytes');
  nic.cfgWrite(0x1c, 4, 0xffffffff);
  nic.cfgWrite(0x20, 4, 0xffffffff);
  assert.equal(nic.cfgRead(0x1c, 4), 0xffffc00c, 'BAR3 16 KiB, 64-bit, prefetchable');
  assert.equal(nic.cfgRead(0x20, 4), 0xffffffff, 'upper half of a 64-bit BAR is fully writable');
  nic.cfgWrite(0x30, 4, 0xffffffff);
  assert.equal(nic.cfgRead(0x30, 4), 0xffff0001, 'ROM BAR: 64 KiB and the enable bit');
  assert.equal(nic.resource(4), null, 'upper half of BAR3 is not a resource');
  const r3 = nic.resource(3);
  assert.ok(r3 !== null && r3.mem64 && r3.prefetch && r3.start >= 0x8000000000 && r3.start % r3.size === 0);
});

test('nic is PCIe (4 KiB config) with PM, MSI-X and an Express capability advertising FLR', () => {
  const m = machine();
  const nic = m.fn(NIC);
  assert.equal(nic.configSize, 4096);
  const c = caps(m, NIC);
  assert.deepEqual([...c.keys()].sort(), [PCI_CAP_ID_PM, PCI_CAP_ID_EXP, PCI_CAP_ID_MSIX].sort());
  const exp = c.get(PCI_CAP_ID_EXP) ?? 0;
  assert.notEqual(nic.cfgRead(exp + 4, 4) & 0x10000000, 0, 'DevCap FLR');
  assert.equal((nic.cfgRead(exp + 2, 2) >> 4) & 0xf, 0, 'endpoint');
  const msix = c.get(PCI_CAP_ID_MSIX) ?? 0;
  assert.equal(nic.cfgRead(msix + 2, 2) & 0x7ff, 3, 'table size N-1');
  assert.equal(nic.cfgRead(msix + 4, 4), 0x0 | 3, 'table at BAR3 offset 0');
  assert.equal(nic.cfgRead(msix + 8, 4), 0x2000 | 3, 'PBA at BAR3 offset 0x2000');
  nic.cfgWrite(msix + 2, 2, 0xffff);
  assert.equal(nic.cfgRead(msix + 2, 2), 0xc003, 'only enable and function mask are writable');
  const pm = c.get(PCI_CAP_ID_PM) ?? 0;
  assert.equal(nic.cfgRead(pm + 4, 2) & 0x8, 0x8, 'No_Soft_Reset');
  nic.cfgWrite(pm + 4, 2, 0);
  assert.equal(nic.cfgRead(pm + 4, 2) & 0x8, 0x8, 'No_Soft_Reset is read-only');
});

test('PCIe DevCtl Initiate-FLR bit reads back 0; DevSta error bits are RW1C', () => {
  const m = machine();
  const nic = m.fn(NIC);
  const exp = caps(m, NIC).get(PCI_CAP_ID_EXP) ?? 0;
  nic.cfgWrite(exp + 8, 2, 0x000f);
  assert.equal(nic.cfgRead(exp + 8, 2), 0x000f);
  nic.cs.set16(exp + 10, 0x000f);
  nic.cfgWrite(exp + 10, 2, 0x0005);
  assert.equal(nic.cfgRead(exp + 10, 2), 0x000a);
});

test('MSI capability: 64-bit flag, MMC read-only, MME clamped to MMC, address low bits read-only', () => {
  const m = machine();
  const edu = m.fn(EDU1);
  const msi = caps(m, EDU1).get(PCI_CAP_ID_MSI) ?? 0;
  assert.equal(msi, 0x40);
  assert.equal(edu.cfgRead(msi + 2, 2), 0x0080);
  edu.cfgWrite(msi + 2, 2, 0xffff);
  assert.equal(edu.cfgRead(msi + 2, 2), 0x0081, 'enable set; MME clamped to 0 (1 vector)');
  edu.cfgWrite(msi + 4, 4, 0xfee00003);
  assert.equal(edu.cfgRead(msi + 4, 4), 0xfee00000);
});

test('root ports: type-1 header with bus numbers assigned by depth-first enumeration', () => {
  const m = machine();
  const rp = m.fn('0000:00:02.0');
  assert.equal(rp.cfgRead(0x0e, 1), 1);
  assert.equal(rp.cfgRead(0x18, 1), 0);
  assert.equal(rp.cfgRead(0x19, 1), 2);
  assert.equal(rp.cfgRead(0x1a, 1), 2);
  assert.equal(rp.secondaryBus, 2);
  assert.equal(m.fn(EDU1).upstream?.name, '0000:00:01.0');

  const nested = createMachine(
    { slots: [rootPort(1, [endpoint(0, EDU_DEVICE)]), rootPort(4, [{ dev: 0, functions: [{ bridge: 'pci-bridge', slots: [endpoint(1, EDU_DEVICE), endpoint(2, NIC_DEVICE)] }] }]), rootPort(5, [endpoint(0, EDU_DEVICE)])] },
    new EventStream(),
  );
  const names = nested.functions().map((f) => f.name);
  assert.deepEqual(names, [
    '0000:00:00.0',
    '0000:00:01.0',
    '0000:00:04.0',
    '0000:00:05.0',
    '0000:01:00.0',
    '0000:02:00.0',
    '0000:03:01.0',
    '0000:03:02.0',
    '0000:04:00.0',
  ]);
  assert.equal(nested.fn('0000:00:04.0').cfgRead(0x1a, 1), 3, 'subordinate covers the nested bus');
});

test('multi-function device sets the header-type multi-function bit on its functions', () => {
  const F = defineDevice({ model: 'f', vendorId: 0x1234, deviceId: 1, classCode: 0xff0000, bars: [], caps: { pcie: { flr: false } }, behavior: () => ({ mmioRead: () => 0n, mmioWrite: () => {}, reset: () => {} }) });
  const m = createMachine({ slots: [rootPort(1, [multiFunction(0, [F, F])])] }, new EventStream());
  assert.equal(m.fn('0000:01:00.0').cfgRead(0x0e, 1), 0x80);
  assert.equal(m.fn('0000:01:00.1').cfgRead(0x0e, 1), 0x80);
});

test('host config access by name (setpci/sysfs path) is reported with origin host', () => {
  const m = machine();
  assert.equal(m.hostConfigRead(EDU1, 0, 2), 0x1234);
  assert.equal(m.hostConfigRead('0000:09:00.0', 0, 2), null);
  assert.equal(m.hostConfigWrite(EDU1, 4, 2, 2), true);
  const w = m.events.all().filter((e) => e.kind === 'cfg.write');
  assert.equal(w.length, 1);
  assert.deepEqual(w[0] !== undefined && 'origin' in w[0] ? w[0].origin : null, 'host');
});

test('defineDevice rejects inconsistent descriptions', () => {
  const beh = () => ({ mmioRead: () => 0n, mmioWrite: () => {}, reset: () => {} });
  assert.throws(() => defineDevice({ model: 'x', vendorId: 1, deviceId: 1, classCode: 0, bars: [{ index: 0, kind: 'mem', size: 3000 }], behavior: beh }));
  assert.throws(() => defineDevice({ model: 'x', vendorId: 1, deviceId: 1, classCode: 0, bars: [{ index: 5, kind: 'mem', size: 4096, mem64: true }], behavior: beh }));
  assert.throws(() => defineDevice({ model: 'x', vendorId: 1, deviceId: 1, classCode: 0, bars: [{ index: 0, kind: 'mem', size: 4096 }], caps: { msix: { vectors: 512, tableBar: 0, tableOffset: 0, pbaBar: 0, pbaOffset: 0 } }, behavior: beh }));
});

test('firmware (SeaBIOS pci_bios_init_device): every function gets IO|MEM|SERR (0x0103) whether or not it has I/O BARs, bridges also SERR forwarding; bus mastering stays off', () => {
  const m = machine();
  for (const f of m.pciFunctions()) {
    assert.equal(f.cfgRead(0x04, 2), 0x0103, f.name);
    assert.equal(f.state().memDecode, true, `${f.name} decodes memory`);
    assert.equal(f.state().busMaster, false, `${f.name} is no bus master`);
  }
  assert.equal(m.fn('0000:00:01.0').cfgRead(0x3e, 2) & 0x2, 0x2, 'root port: Bridge Control SERR');
  assert.equal(m.memRead(m.fn(EDU1).resource(0)?.start ?? 0, 4), 0x010000edn, 'edu answers before any driver enables it');
});

test("firmware: a VF's command IO/MEM read 0 and its SERR is RsvdP (SR-IOV 3.4.1.3), so the firmware's write leaves 0; firmware 'none' leaves every command register 0", () => {
  const vf = createMachine({ slots: [rootPort(1, [endpoint(0, EDU_DEVICE, { virtfn: true })])] }, new EventStream());
  assert.equal(vf.fn('0000:01:00.0').cfgRead(0x04, 2), 0);
  const bare = machine({ firmware: 'none' });
  for (const f of bare.pciFunctions()) assert.equal(f.cfgRead(0x04, 2), 0, f.name);
});
