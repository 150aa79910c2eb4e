/**
 * The rwLocking 'per-access' knob (bc93b9ae0151 "vfio-pci: Avoid recursive read-lock
 * usage", 5.9 and 5.8.y; spec §2.7, §2.13 H3, claims 11, 13, 35) and the lowPowerEntry
 * knob (runtime-PM VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY/EXIT, 6.0/6.1; spec §2.2, §5
 * Variant D), checked from the user side through the typed VFIO client and scenarios.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { formatEvent } from '../../src/events/format.js';
import type { KThread } from '../../src/kernel/sched/thread.js';
import { vfioPciRuntimeSuspended } from '../../src/kernel/vfio/pci/pm.js';
import type { VfioPciDevice } from '../../src/kernel/vfio/pci/vfio-pci-device.js';
import { formatScenarioError, loadScenario, runScenario, type Scenario } from '../../src/scenario/index.js';
import type { System } from '../../src/system.js';
import {
  encodeLowPowerEntryWithWakeup, VFIO_DEVICE_FEATURE_GET, VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY,
  VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP, VFIO_DEVICE_FEATURE_LOW_POWER_EXIT, VFIO_DEVICE_FEATURE_PROBE,
  VFIO_DEVICE_FEATURE_SET, VFIO_PCI_CONFIG_REGION_INDEX, VFIO_PCI_ROM_REGION_INDEX, vfioPciIndexToOffset,
} from '../../src/uapi/vfio.js';
import { unwrap } from '../../src/user/vfio-client.js';
import { countSince, EDU0, NIC, openDevice, PROT_RW, setMem } from '../claims/helpers.js';

const EIO = 5;
const ENOMEM = 12;
const EINVAL = 22;
const ENOTTY = 25;
const EBADF = 9;
const EDU_ID = 0x010000ed;
const NIC_SCRATCH = 0x08;
const NIC_MSIX_BAR = 3; // the nic's MSI-X table: BAR3 offset 0, 4 vectors x 16 bytes
const NIC_IO_BAR = 2;
const EXAMPLES = new URL('../../../examples/', import.meta.url);

function example(name: string): Scenario {
  const r = loadScenario(readFileSync(new URL(name, EXAMPLES), 'utf8'), name);
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatScenarioError).join('\n'));
  return r.scenario;
}

function vdevOf(sys: System, name: string): VfioPciDevice {
  const v = sys.vfioPci.devices.find((d) => d.name === name);
  assert.ok(v !== undefined, `${name} is bound to vfio-pci`);
  return v;
}

function powerState(sys: System, name: string): string {
  const fn = sys.hw.findFunction(name);
  assert.ok(fn);
  return fn.state().powerState;
}

/** Run every runnable thread to completion, always choosing `first` while it can run. */
function runPreferring(sys: System, first: KThread): void {
  const end = sys.kernel.sched.run((rs) => rs.find((t) => t === first) ?? (rs[0] as KThread));
  assert.equal(end.kind, 'done', `scheduled run ended with ${end.kind}`);
}

// ---- rwLocking 'per-access' (5.9) ------------------------------------------------------------

test('5.9 per-access rw: read() of a memory BAR while MEM is disabled is -EIO with no device access, and the file position stays put', () => {
  const { sys, p, d } = openDevice(EDU0, { variant: '5.9' });
  const buf = p.alloc(16);
  setMem(d, false);
  const seq = sys.events.lastSeq;
  assert.equal(p.read(d.fd, buf, 4), -EIO, 'f_pos 0 is BAR0 offset 0');
  assert.equal(countSince(sys, seq, 'mmio'), 0, 'the refused access never reached the device');
  assert.equal(countSince(sys, seq, 'vfio.blocked', (e) => e.path === 'pread' && e.errno === EIO), 1);
  setMem(d, true);
  assert.equal(p.read(d.fd, buf, 4), 4);
  const r = p.readBytes(buf, 4);
  assert.ok(r.ok);
  assert.equal(new DataView(r.data.buffer, r.data.byteOffset).getUint32(0, true), EDU_ID, 'the next read starts at offset 0: the failed read did not advance f_pos');
});

test('5.9 per-access rw: a read refused at its second access returns -EIO; the first access was copied out but is not reported and f_pos is not advanced (5.8.0 instead makes the disabler wait and reads all 8 bytes)', () => {
  for (const variant of ['5.9', '5.8'] as const) {
    const { sys, p, d } = openDevice(EDU0, { variant });
    const disabler = p.thread('disabler');
    const buf = p.alloc(16);
    assert.ok(p.writeBytes(buf, new Uint8Array(8)).ok);
    const seq = sys.events.lastSeq;
    sys.kernel.sched.start(p.kthread, p.ops.read(d.fd, buf, 8), 'read');
    // run the reader until its first 4-byte ioread has reached the device
    for (let i = 0; i < 10_000 && countSince(sys, seq, 'mmio') === 0; i++) sys.kernel.sched.step(p.kthread);
    assert.equal(countSince(sys, seq, 'mmio'), 1, 'the first access happened');
    // the other thread writes 0 to the command register (MEM clear) through the config region
    sys.kernel.sched.start(disabler.kthread, disabler.ops.pwriteBytes(d.fd, new Uint8Array([0x00, 0x00]), vfioPciIndexToOffset(VFIO_PCI_CONFIG_REGION_INDEX) + 4), 'clear MEM');
    runPreferring(sys, disabler.kthread);
    assert.equal(disabler.kthread.result, 2, 'the command write went through');
    const readRet = p.kthread.result;
    const got = p.readBytes(buf, 8);
    assert.ok(got.ok);
    const dv = new DataView(got.data.buffer, got.data.byteOffset);
    assert.equal(dv.getUint32(0, true), EDU_ID, 'the first 4 bytes reached the user buffer');
    if (variant === '5.9') {
      assert.equal(readRet, -EIO, '5.9: the second access found MEM disabled');
      assert.equal(dv.getUint32(4, true), 0, '5.9: nothing was copied for the refused access');
    } else {
      assert.equal(readRet, 8, '5.8.0: memory_lock read-held across the call, the disable waited for it');
    }
    setMem(d, true);
    assert.equal(p.read(d.fd, buf, 4), 4);
    const again = p.readBytes(buf, 4);
    assert.ok(again.ok);
    const pos0 = new DataView(again.data.buffer, again.data.byteOffset).getUint32(0, true) === EDU_ID;
    assert.equal(pos0, variant === '5.9', variant === '5.9' ? 'f_pos was not advanced by the failed read' : 'f_pos advanced by 8 after the full read');
  }
});

test('MSI-X table reads while MEM is disabled: 5.9 per-access returns 0xff without touching the device; 5.8.0 fails the whole call with -EIO (claim 11)', () => {
  for (const [variant, expectOk] of [['5.9', true], ['5.8', false]] as const) {
    const { sys, d } = openDevice(NIC, { variant });
    setMem(d, false);
    const seq = sys.events.lastSeq;
    const r = d.readRegion(NIC_MSIX_BAR, 0, 16);
    if (expectOk) assert.deepEqual(r, { ok: true, value: new Uint8Array(16).fill(0xff) }, `${variant}: excluded range`);
    else assert.deepEqual(r, { ok: false, errno: EIO }, `${variant}: checked before any access`);
    assert.equal(countSince(sys, seq, 'mmio'), 0);
  }
});

test('5.9 per-access rw: a read spanning the MSI-X table and the BAR bytes after it is -EIO while disabled: the table part needs no access, the first real access is refused', () => {
  const { sys, d } = openDevice(NIC, { variant: '5.9' });
  assert.deepEqual(d.readRegion(NIC_MSIX_BAR, 0x30, 32).ok, true, 'enabled: the span reads');
  setMem(d, false);
  const seq = sys.events.lastSeq;
  assert.deepEqual(d.readRegion(NIC_MSIX_BAR, 0x30, 32), { ok: false, errno: EIO });
  assert.equal(countSince(sys, seq, 'mmio'), 0);
});

test('5.9 per-access rw: I/O-port BAR accesses are not checked against the memory enable bit (claim 10)', () => {
  const { d } = openDevice(NIC, { variant: '5.9' });
  setMem(d, false);
  const r = d.readRegion(NIC_IO_BAR, 0, 4);
  assert.equal(r.ok, true);
  assert.deepEqual(d.readRegion(0, NIC_SCRATCH, 4), { ok: false, errno: EIO }, 'the memory BAR of the same device is refused');
});

test('H3 (claim 35): examples/h3-recursive-read.yaml deadlocks under 5.8.0 and completes under 5.9, where the copy into the BAR mapping faults with no memory_lock held', () => {
  const s = example('h3-recursive-read.yaml');
  const r58 = runScenario(s, { variant: '5.8' });
  assert.equal(r58.end.kind, 'deadlock');
  const r59 = runScenario(s, { variant: '5.9' });
  assert.equal(r59.end.kind, 'done', `5.9 run ended with ${r59.end.kind}`);
  const reader = r59.steps.find((x) => x.thread === 'reader');
  const disabler = r59.steps.find((x) => x.thread === 'disabler');
  assert.equal(disabler?.status, 'ok', 'the disable completed');
  // the copy into the (now zapped, disabled) BAR mapping takes SIGBUS in the kernel: -EFAULT
  assert.equal(reader?.result, '-EFAULT');
  assert.equal(r59.lockdep.length, 0, 'no lockdep report');
});

test('lockdep: 5.9 per-access rw records no memory_lock -> mmap_lock dependency, so pread into a BAR mapping and a fault-then-pread report nothing (5.8.0 does record it)', () => {
  for (const variant of ['5.9', '5.8'] as const) {
    const { sys, p, d } = openDevice(EDU0, { variant });
    const ld = sys.lockdep;
    assert.ok(ld !== null);
    const bar = unwrap(d.mmapRegion(0, { length: 0x1000, prot: PROT_RW }));
    assert.equal(p.pread(d.fd, bar, 4, vfioPciIndexToOffset(0)), 4, 'the copy faults the BAR mapping in');
    assert.ok(p.load(bar, 4).ok);
    assert.equal(p.pread(d.fd, p.alloc(64), 4, vfioPciIndexToOffset(0)), 4);
    const dep = ld.dependencyKinds('&vdev->memory_lock', '&mm->mmap_lock').length > 0;
    if (variant === '5.9') {
      assert.equal(dep, false, '5.9: no memory_lock -> mmap_lock');
      assert.equal(ld.reports.length, 0);
      assert.equal(ld.debugLocks, true);
    } else {
      assert.equal(dep, true, '5.8.0: copy_to_user under memory_lock');
      assert.ok(ld.reports.length > 0);
    }
  }
});

test('ROM pread while MEM is disabled: 5.8.0 fails with -EIO before pci_map_rom, so no Unsupported Request (claim 13)', () => {
  const { sys, d } = openDevice(NIC, { variant: '5.8' });
  setMem(d, false);
  const seq = sys.events.lastSeq;
  assert.deepEqual(d.readRegion(VFIO_PCI_ROM_REGION_INDEX, 0, 4), { ok: false, errno: EIO });
  assert.equal(countSince(sys, seq, 'platform.error'), 0);
  assert.equal(countSince(sys, seq, 'rom.read'), 0);
});

test('[inferred] ROM pread while MEM is disabled: 5.9 maps the ROM unlocked and unchecked; its header reads are unclaimed (Unsupported Requests, all-ones), the signature check fails and the read is -ENOMEM', () => {
  const { sys, d } = openDevice(NIC, { variant: '5.9' });
  const ok = d.readRegion(VFIO_PCI_ROM_REGION_INDEX, 0, 2);
  assert.deepEqual(ok, { ok: true, value: new Uint8Array([0x55, 0xaa]) }, 'enabled: the ROM signature reads');
  setMem(d, false);
  const seq = sys.events.lastSeq;
  assert.deepEqual(d.readRegion(VFIO_PCI_ROM_REGION_INDEX, 0, 4), { ok: false, errno: ENOMEM });
  assert.ok(countSince(sys, seq, 'platform.error', (e) => e.error === 'unsupported-request' && e.dir === 'r') >= 1, 'pci_map_rom read the undecoded ROM');
  assert.equal(countSince(sys, seq, 'rom.read'), 0, 'the ROM itself was never reached');
  assert.ok(countSince(sys, seq, 'printk', (e) => e.fn === 'pci_get_rom_size' && e.level === 'info') >= 1, 'the bad-signature info line');
  assert.equal(countSince(sys, seq, 'warn'), 0, 'pci_get_rom_size prints no WARNING');
});

// ---- lowPowerEntry (6.1) ----------------------------------------------------------------------

test('6.1 LOW_POWER_ENTRY: BAR mappings are zapped and a touch is SIGBUS; the device runtime-suspends to D3hot; LOW_POWER_EXIT wakes it and the same mapping refaults', () => {
  const { sys, p, d } = openDevice(NIC, { variant: '6.1' });
  const bar = unwrap(d.mmapRegion(0, { length: 0x1000, prot: PROT_RW }));
  assert.ok(p.store(bar + NIC_SCRATCH, 4, 0x1234).ok);
  const zaps = sys.events.count('vfio.zap');
  unwrap(d.lowPowerEntry());
  assert.equal(sys.events.count('vfio.zap'), zaps + 1, 'entry zapped');
  assert.equal(vdevOf(sys, NIC).pmRuntimeEngaged, true);
  assert.equal(powerState(sys, NIC), 'D3hot', 'runtime suspend after the ioctl returned');
  assert.equal(vfioPciRuntimeSuspended(vdevOf(sys, NIC)), true);
  const seq = sys.events.lastSeq;
  const r = p.load(bar + NIC_SCRATCH, 4);
  assert.equal(r.ok ? 'ok' : r.signal, 'SIGBUS', 'faults do not wake the device');
  // the refusal says why: runtime low power (pm_runtime_engaged), not a cleared MEM bit
  const blocked = sys.events.since(seq).filter((e) => e.kind === 'vfio.blocked');
  assert.deepEqual(blocked.map((e) => formatEvent(e).replace(/^\[\d+\] t\d+ /, '')), ['vfio-pci 0000:03:00.0: fault blocked, device in runtime low power (SIGBUS)']);
  assert.equal(powerState(sys, NIC), 'D3hot');
  unwrap(d.lowPowerExit());
  assert.equal(vdevOf(sys, NIC).pmRuntimeEngaged, false);
  assert.equal(powerState(sys, NIC), 'D0');
  assert.deepEqual(p.load(bar + NIC_SCRATCH, 4), { ok: true, value: 0x1234n }, 'refault maps the BAR again; No_Soft_Reset kept the register');
  assert.equal(sys.platformErrors, 0);
});

test('6.1 low power: pread and ioctls wake the device for their duration and succeed (pm_runtime_engaged does not block them); it suspends again and mappings stay blocked', () => {
  const { sys, p, d } = openDevice(NIC, { variant: '6.1' });
  const bar = unwrap(d.mmapRegion(0, { length: 0x1000, prot: PROT_RW }));
  assert.ok(p.store(bar + NIC_SCRATCH, 4, 0xbeef).ok);
  unwrap(d.lowPowerEntry());
  const seq = sys.events.lastSeq;
  const r = d.readRegion(0, NIC_SCRATCH, 4);
  assert.deepEqual(r, { ok: true, value: new Uint8Array([0xef, 0xbe, 0, 0]) });
  assert.equal(countSince(sys, seq, 'vfio.pm', (e) => e.op === 'runtime-resume'), 1);
  assert.equal(countSince(sys, seq, 'vfio.pm', (e) => e.op === 'runtime-suspend'), 1);
  assert.equal(powerState(sys, NIC), 'D3hot');
  unwrap(d.reset());
  assert.equal(powerState(sys, NIC), 'D3hot', 'VFIO_DEVICE_RESET ran with the device resumed, then it suspended again');
  assert.equal(vdevOf(sys, NIC).pmRuntimeEngaged, true);
  const l = p.load(bar, 4);
  assert.equal(l.ok ? 'ok' : l.signal, 'SIGBUS');
  assert.equal(sys.platformErrors, 0, 'no access reached the device in D3hot');
});

test('6.1 low power on a function without a PM capability (edu): it stays in D0, but mmap access is still SIGBUS until exit', () => {
  const { sys, p, d } = openDevice(EDU0, { variant: '6.1' });
  const bar = unwrap(d.mmapRegion(0, { length: 0x1000, prot: PROT_RW }));
  assert.ok(p.load(bar, 4).ok);
  unwrap(d.lowPowerEntry());
  assert.equal(powerState(sys, EDU0), 'D0');
  const r = p.load(bar, 4);
  assert.equal(r.ok ? 'ok' : r.signal, 'SIGBUS');
  assert.deepEqual(d.readRegion(0, 0, 4), { ok: true, value: new Uint8Array([0xed, 0, 0, 1]) });
  unwrap(d.lowPowerExit());
  assert.deepEqual(p.load(bar, 4), { ok: true, value: BigInt(EDU_ID) });
});

test('6.1: a second LOW_POWER_ENTRY while engaged is -EINVAL (it has zapped anyway); LOW_POWER_EXIT when not engaged is 0', () => {
  const { sys, d } = openDevice(NIC, { variant: '6.1' });
  unwrap(d.lowPowerEntry());
  const zaps = sys.events.count('vfio.zap');
  assert.deepEqual(d.lowPowerEntry(), { ok: false, errno: EINVAL });
  assert.equal(sys.events.count('vfio.zap'), zaps + 1);
  unwrap(d.lowPowerExit());
  assert.deepEqual(d.lowPowerExit(), { ok: true, value: undefined });
});

test('5.19 (lowPowerEntry off): the low-power features are -ENOTTY and mappings are untouched; the VFIO_DEVICE_FEATURE header checks still give -EINVAL', () => {
  const { sys, p, d } = openDevice(NIC, { variant: '5.19' });
  const bar = unwrap(d.mmapRegion(0, { length: 0x1000, prot: PROT_RW }));
  assert.ok(p.load(bar, 4).ok);
  const zaps = sys.events.count('vfio.zap');
  assert.deepEqual(d.lowPowerEntry(), { ok: false, errno: ENOTTY });
  assert.deepEqual(d.lowPowerExit(), { ok: false, errno: ENOTTY });
  assert.deepEqual(d.feature(VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY), { ok: false, errno: ENOTTY });
  assert.deepEqual(d.feature(VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY, new Uint8Array(0), 4), { ok: false, errno: EINVAL });
  assert.equal(sys.events.count('vfio.zap'), zaps);
  assert.ok(p.load(bar, 4).ok);
});

test('6.1 VFIO_DEVICE_FEATURE validation: argsz below the header, unknown flag bits and GET|SET without PROBE are -EINVAL; GET of a SET-only feature is -EINVAL; an unknown feature is -ENOTTY', () => {
  const { sys, d } = openDevice(NIC, { variant: '6.1' });
  const entry = VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY;
  assert.deepEqual(d.feature(VFIO_DEVICE_FEATURE_SET | entry, new Uint8Array(0), 7), { ok: false, errno: EINVAL });
  assert.deepEqual(d.feature(VFIO_DEVICE_FEATURE_SET | entry | (1 << 19)), { ok: false, errno: EINVAL });
  assert.deepEqual(d.feature(VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_GET | entry), { ok: false, errno: EINVAL });
  assert.deepEqual(d.feature(VFIO_DEVICE_FEATURE_GET | entry), { ok: false, errno: EINVAL });
  assert.deepEqual(d.feature(entry), { ok: false, errno: EINVAL }, 'neither GET nor SET');
  assert.deepEqual(d.feature(VFIO_DEVICE_FEATURE_SET | 0x99), { ok: false, errno: ENOTTY });
  assert.deepEqual(d.feature(VFIO_DEVICE_FEATURE_SET | 1), { ok: false, errno: ENOTTY }, 'migration: no migration driver');
  assert.equal(vdevOf(sys, NIC).pmRuntimeEngaged, false, 'none of them entered low power');
});

test('6.1 VFIO_DEVICE_FEATURE PROBE: SET of each low-power feature probes as supported without entering; GET does not', () => {
  const { sys, p, d } = openDevice(NIC, { variant: '6.1' });
  const bar = unwrap(d.mmapRegion(0, { length: 0x1000, prot: PROT_RW }));
  assert.ok(p.load(bar, 4).ok);
  for (const f of [VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY, VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP, VFIO_DEVICE_FEATURE_LOW_POWER_EXIT]) {
    assert.equal(d.feature(VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET | f).ok, true, `feature ${f}`);
    assert.deepEqual(d.feature(VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET | f), { ok: false, errno: EINVAL });
  }
  assert.equal(vdevOf(sys, NIC).pmRuntimeEngaged, false);
  assert.equal(powerState(sys, NIC), 'D0');
  assert.ok(p.load(bar, 4).ok, 'the mapping was not zapped');
});

test('6.1 LOW_POWER_ENTRY_WITH_WAKEUP: a pread wakes the device, signals the eventfd and leaves low power, so the mapping works again without EXIT; bad data is -EINVAL / -EBADF', () => {
  const { sys, p, d } = openDevice(NIC, { variant: '6.1' });
  const bar = unwrap(d.mmapRegion(0, { length: 0x1000, prot: PROT_RW }));
  const efd = p.eventfd(0, 0o4000);
  assert.ok(efd >= 0);
  const withWakeup = VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP;
  assert.deepEqual(d.feature(withWakeup), { ok: false, errno: EINVAL }, 'no data: argsz below the struct');
  assert.deepEqual(d.feature(withWakeup, encodeLowPowerEntryWithWakeup({ wakeupEventfd: -1 })), { ok: false, errno: EINVAL });
  assert.deepEqual(d.feature(withWakeup, encodeLowPowerEntryWithWakeup({ wakeupEventfd: 999 })), { ok: false, errno: EBADF });
  assert.equal(vdevOf(sys, NIC).pmRuntimeEngaged, false);
  unwrap(d.lowPowerEntry(efd));
  assert.equal(powerState(sys, NIC), 'D3hot');
  const l = p.load(bar, 4);
  assert.equal(l.ok ? 'ok' : l.signal, 'SIGBUS');
  assert.equal(p.eventfdRead(efd), -11, 'nothing signalled yet (EAGAIN)');
  assert.equal(d.readRegion(0, NIC_SCRATCH, 4).ok, true);
  assert.equal(p.eventfdRead(efd), 1n, 'the wake-up was signalled');
  assert.equal(vdevOf(sys, NIC).pmRuntimeEngaged, false, 'the resume left low power');
  assert.equal(powerState(sys, NIC), 'D0', 'and the device stays active');
  assert.ok(p.load(bar, 4).ok);
  unwrap(d.lowPowerExit());
});

test('6.1: closing the device while in low power leaves low power and resumes it in the release path; a new open works normally', () => {
  const { sys, p, d, g } = openDevice(NIC, { variant: '6.1' });
  unwrap(d.lowPowerEntry());
  assert.equal(powerState(sys, NIC), 'D3hot');
  const seq = sys.events.lastSeq;
  unwrap(d.close());
  assert.equal(countSince(sys, seq, 'vfio.pm', (e) => e.op === 'low-power-exit'), 1);
  assert.equal(countSince(sys, seq, 'vfio.pm', (e) => e.op === 'runtime-resume'), 1);
  assert.equal(vdevOf(sys, NIC).pmRuntimeEngaged, false);
  assert.equal(vfioPciRuntimeSuspended(vdevOf(sys, NIC)), false);
  const d2 = unwrap(g.getDevice(NIC));
  const bar = unwrap(d2.mmapRegion(0, { length: 0x1000, prot: PROT_RW }));
  assert.ok(p.load(bar, 4).ok);
  assert.equal(powerState(sys, NIC), 'D0');
});

test('scenario ops low_power_entry/low_power_exit and the FEATURE ioctl: -ENOTTY under 5.19, and examples/low-power-entry-6_1.yaml meets its expectations under 6.1', () => {
  const s = example('low-power-entry-6_1.yaml');
  const r = runScenario(s);
  assert.ok(r.ok, JSON.stringify(r.steps.filter((x) => x.verdict === 'failed').map((x) => [x.text, x.why])));
  assert.equal(r.variant.base, '6.1');
  const old = runScenario(s, { variant: '5.19' });
  const entry = old.steps.find((x) => x.text.startsWith('low_power_entry'));
  assert.equal(entry?.result, '-ENOTTY');
  const probe = old.steps.find((x) => x.text.includes('FEATURE'));
  assert.equal(probe?.result, '-ENOTTY');
});
