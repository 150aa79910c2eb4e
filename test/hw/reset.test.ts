import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventStream } from '../../src/events/stream.js';
import {
  createMachine,
  defineDevice,
  endpoint,
  rootPort,
  pciBridge,
  EDU_DEVICE,
  NIC_DEVICE,
  NIC_REG_SCRATCH,
  type Machine,
  type PciFunction,
} from '../../src/hw/index.js';
import { EDU1, MS, NIC, bar, enable, eventsOf, machine } from './util.js';

function capOf(f: PciFunction, id: number): number {
  let p = f.cs.r8(0x34);
  while (p !== 0 && f.cs.r8(p) !== id) p = f.cs.r8(p + 1);
  return p;
}

function setupNic(m: Machine): { nic: PciFunction; b0: number } {
  const nic = m.fn(NIC);
  enable(m, NIC, true);
  const b0 = bar(m, NIC, 0);
  m.memWrite(b0 + NIC_REG_SCRATCH, 4, 0xcafef00dn);
  return { nic, b0 };
}

test('FLR returns the function to power-on state and leaves it not ready for 100 ms of virtual time', () => {
  const m = machine();
  const { nic, b0 } = setupNic(m);
  const exp = capOf(nic, 0x10);
  const msix = capOf(nic, 0x11);
  nic.cfgWrite(msix + 2, 2, 0x8000);
  nic.cfgWrite(0x3c, 1, 11);
  const seq = m.events.lastSeq;
  nic.cfgWrite(exp + 8, 2, nic.cfgRead(exp + 8, 2) | 0x8000);
  assert.deepEqual(
    eventsOf(m, 'reset', seq).map((e) => [e.method, e.phase]),
    [['flr', 'start']],
  );
  // not ready: config reads all-ones, writes dropped, memory is UR
  assert.equal(nic.cfgRead(0, 4), 0xffffffff);
  assert.equal(nic.cfgRead(4, 2), 0xffff);
  nic.cfgWrite(4, 2, 2);
  assert.equal(m.memRead(b0 + NIC_REG_SCRATCH, 4), 0xffffffffn);
  assert.equal(m.platform.urCount, 1);
  assert.equal(nic.state().inReset, true);
  m.clock.advance(99 * MS);
  assert.equal(nic.cfgRead(0, 2), 0xffff, 'still not ready at 99 ms');
  m.clock.advance(1 * MS);
  assert.deepEqual(eventsOf(m, 'reset', seq).map((e) => e.phase), ['start', 'done']);
  assert.equal(nic.cfgRead(0, 2), 0x1b36);
  assert.equal(nic.cfgRead(4, 2), 0, 'command 0');
  assert.equal(nic.cfgRead(0x10, 4), 0, 'BAR0 0');
  assert.equal(nic.cfgRead(0x30, 4), 0, 'ROM BAR 0');
  assert.equal(nic.cfgRead(0x3c, 1), 0);
  assert.equal(nic.cfgRead(msix + 2, 2) & 0xc000, 0, 'MSI-X disabled');
  assert.equal(nic.msixEntry(0).masked, true, 'MSI-X table masked');
  assert.equal(nic.state().inReset, false);
  // restore like pci_restore_state and check the device registers were reset too
  nic.cfgWrite(0x10, 4, b0);
  nic.cfgWrite(4, 2, 2);
  assert.equal(m.memRead(b0 + NIC_REG_SCRATCH, 4), 0n, 'nic registers reset by FLR');
});

test('Initiate-FLR on a function without FLR capability does nothing', () => {
  const NOFLR = defineDevice({ model: 'noflr', vendorId: 1, deviceId: 2, classCode: 0xff0000, bars: [{ index: 0, kind: 'mem', size: 4096 }], caps: { pcie: { flr: false } }, behavior: () => ({ mmioRead: () => 7n, mmioWrite: () => {}, reset: () => {} }) });
  const m2 = createMachine({ slots: [rootPort(1, [endpoint(0, NOFLR)])] }, new EventStream());
  const f = m2.fn('0000:01:00.0');
  f.cfgWrite(4, 2, 2);
  const exp = capOf(f, 0x10);
  f.cfgWrite(exp + 8, 2, 0x8000);
  assert.equal(f.cfgRead(exp + 8, 2) & 0x8000, 0);
  assert.equal(f.cfgRead(4, 2), 2, 'not reset');
  assert.equal(eventsOf(m2, 'reset').length, 0);
});

test('Secondary Bus Reset on a root port holds every function below in reset until cleared, then 100 ms not-ready', () => {
  const m = machine();
  const { nic, b0 } = setupNic(m);
  const rp = m.fn('0000:00:03.0');
  const other = m.fn(EDU1);
  enable(m, EDU1);
  const seq = m.events.lastSeq;
  rp.cfgWrite(0x3e, 2, 0x40);
  assert.deepEqual(eventsOf(m, 'reset', seq).map((e) => [e.dev, e.method, e.phase]), [[NIC, 'bus', 'start']]);
  assert.equal(nic.cfgRead(0, 4), 0xffffffff);
  assert.equal(m.memRead(b0, 4), 0xffffffffn);
  m.clock.advance(500 * MS);
  assert.equal(nic.cfgRead(0, 4), 0xffffffff, 'held in reset while SBR is set, however long');
  assert.equal(other.state().memDecode, true, 'a device below another root port is untouched');
  rp.cfgWrite(0x3e, 2, 0);
  assert.equal(nic.cfgRead(0, 4), 0xffffffff, 'not ready right after SBR clears');
  m.clock.advance(100 * MS);
  assert.equal(nic.cfgRead(0, 2), 0x1b36);
  assert.equal(nic.cfgRead(4, 2), 0);
  assert.equal(nic.cfgRead(0x10, 4), 0);
  nic.cfgWrite(0x10, 4, b0);
  nic.cfgWrite(4, 2, 2);
  assert.equal(m.memRead(b0 + NIC_REG_SCRATCH, 4), 0n, 'device reset("bus")');
  assert.deepEqual(eventsOf(m, 'reset', seq).map((e) => e.phase), ['start', 'done']);
});

test('Secondary Bus Reset reaches every function below nested bridges', () => {
  const m = createMachine({ slots: [rootPort(1, [pciBridge(0, [endpoint(1, EDU_DEVICE), endpoint(2, NIC_DEVICE)])])] }, new EventStream());
  const rp = m.fn('0000:00:01.0');
  const below = ['0000:01:00.0', '0000:02:01.0', '0000:02:02.0'];
  for (const n of below) m.fn(n).cfgWrite(4, 2, 2);
  // the nested bridge asserts its own SBR first, then the root port resets everything
  m.fn('0000:01:00.0').cfgWrite(0x3e, 2, 0x40);
  rp.cfgWrite(0x3e, 2, 0x40);
  for (const n of below) assert.equal(m.fn(n).state().inReset, true, n);
  rp.cfgWrite(0x3e, 2, 0);
  m.clock.advance(100 * MS);
  for (const n of below) {
    assert.equal(m.fn(n).state().inReset, false, n);
    assert.equal(m.fn(n).cfgRead(4, 2), 0, `${n} command reset`);
  }
  assert.equal(m.fn('0000:01:00.0').cfgRead(0x3e, 2), 0, 'nested bridge SBR bit reset');
});

test('D3hot turns memory decode off but keeps config accessible; No_Soft_Reset=1 keeps state on return to D0', () => {
  const m = machine();
  const { nic, b0 } = setupNic(m);
  const pm = capOf(nic, 0x01);
  const seq = m.events.lastSeq;
  nic.cfgWrite(pm + 4, 2, 3);
  assert.deepEqual(eventsOf(m, 'power', seq).map((e) => [e.from, e.to]), [['D0', 'D3hot']]);
  assert.equal(nic.state().powerState, 'D3hot');
  assert.equal(nic.cfgRead(0, 2), 0x1b36, 'config space still accessible');
  assert.equal(m.memRead(b0 + NIC_REG_SCRATCH, 4), 0xffffffffn, 'UR in D3hot');
  assert.equal(m.platform.urCount, 1);
  nic.cfgWrite(pm + 4, 2, 0);
  assert.equal(nic.state().powerState, 'D0');
  assert.equal(m.memRead(b0 + NIC_REG_SCRATCH, 4), 0xcafef00dn, 'No_Soft_Reset: state kept');
  assert.equal(nic.cfgRead(4, 2) & 2, 2, 'command kept');
  assert.equal(eventsOf(m, 'reset', seq).length, 0);
});

test('D3hot -> D0 with No_Soft_Reset=0 performs an internal reset to the power-on state', () => {
  let resets: string[] = [];
  const DEV = defineDevice({
    model: 'nsr0',
    vendorId: 0x1234,
    deviceId: 0x9999,
    classCode: 0xff0000,
    bars: [{ index: 0, kind: 'mem', size: 4096 }],
    caps: { pm: { noSoftReset: false }, pcie: { flr: false } },
    behavior: () => {
      let reg = 0n;
      return {
        mmioRead: () => reg,
        mmioWrite: (_b, _o, _s, v) => {
          reg = v;
        },
        reset: (k) => {
          resets.push(k);
          reg = 0n;
        },
      };
    },
  });
  const m = createMachine({ slots: [rootPort(1, [endpoint(0, DEV)])] }, new EventStream());
  resets = [];
  const f = m.fn('0000:01:00.0');
  const b = f.resource(0)?.start ?? 0;
  f.cfgWrite(4, 2, 2);
  m.memWrite(b, 4, 42n);
  const pm = capOf(f, 0x01);
  f.cfgWrite(pm + 4, 2, 3);
  f.cfgWrite(pm + 4, 2, 0);
  assert.deepEqual(resets, ['pm']);
  assert.equal(f.cfgRead(4, 2), 0, 'command back to 0');
  assert.equal(f.cfgRead(0x10, 4), 0, 'BAR lost');
  assert.deepEqual(eventsOf(m, 'reset').map((e) => [e.method, e.phase]), [['pm', 'start'], ['pm', 'done']]);
  f.cfgWrite(0x10, 4, b);
  f.cfgWrite(4, 2, 2);
  assert.equal(m.memRead(b, 4), 0n);
});

test('unsupported power states (D1/D2 not in PMC) are ignored', () => {
  const m = machine();
  const nic = m.fn(NIC);
  const pm = capOf(nic, 0x01);
  nic.cfgWrite(pm + 4, 2, 1);
  assert.equal(nic.state().powerState, 'D0');
  assert.equal(eventsOf(m, 'power').length, 0);
});
