/**
 * The testable claims of §7 of /work/shared/spec/kernel-semantics.md that apply to
 * Linux 5.8 (plus 5.7 claims 1 and 27), checked end to end through the user side:
 * values, errno, signals and event counts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EDU_DEVICE, endpoint, pciePciBridge, rootPort, type MachineSpec } from '../../src/hw/index.js';
import { System } from '../../src/system.js';
import { VARIANT_5_8 } from '../../src/kernel/variant/knobs.js';
import { unwrap, VfioContainer, VfioGroup, rawIoctl } from '../../src/user/vfio-client.js';
import type { CpuAccessResult, ReadResult } from '../../src/user/process.js';
import { MAP_PRIVATE, MAP_SHARED } from '../../src/kernel/mm/types.js';
import { PCI_CAP_ID_EXP, PCI_CAP_ID_PM, PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_BCR_FLR, PCI_PM_CTRL } from '../../src/uapi/pci-regs.js';
import {
  encodePciHotReset,
  encodePciHotResetInfo,
  encodeRegionInfo,
  SIZEOF_VFIO_REGION_INFO,
  VFIO_DEVICE_FLAGS_RESET,
  VFIO_DEVICE_GET_PCI_HOT_RESET_INFO,
  VFIO_DEVICE_GET_REGION_INFO,
  VFIO_DEVICE_PCI_HOT_RESET,
  VFIO_DEVICE_RESET,
  VFIO_PCI_MSIX_IRQ_INDEX,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_TYPE1v2_IOMMU,
  vfioPciIndexToOffset,
  decodePciHotResetInfo,
  SIZEOF_VFIO_PCI_HOT_RESET_INFO,
} from '../../src/uapi/vfio.js';
import {
  countSince, EDU0, EDU1, findCap, holds, hwCommand, MEMORY_LOCK, NIC, openDevice, PAGE, PROT_RW, runAll, setMem, start,
  stepUntil, VMA_LOCK,
} from './helpers.js';

const EDU_ID = 0x010000edn;
const EDU_BAR0 = 0x100000;
const IOVA = 0x1000_0000;

function sigbus(r: CpuAccessResult): boolean {
  return !r.ok && r.signal === 'SIGBUS';
}

// ---- 5.7 baseline -----------------------------------------------------------------------

test('claim 1 (5.7): a BAR mmap has PTEs as soon as mmap() returns; the first touch takes no page fault', () => {
  const { sys, p, d } = openDevice(EDU0, { variant: '5.7' });
  const seq = sys.events.lastSeq;
  const addr = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  assert.ok(countSince(sys, seq, 'pte.install', (e) => e.start === addr && e.end === addr + EDU_BAR0) >= 1, 'whole range installed by mmap');
  const afterMmap = sys.events.lastSeq;
  assert.deepEqual(p.load(addr + 0x3000, 4).ok, true);
  assert.deepEqual(p.load(addr, 4), { ok: true, value: EDU_ID });
  assert.equal(countSince(sys, afterMmap, 'fault'), 0);
});

test('claim 27 (5.7): VFIO_IOMMU_MAP_DMA of a BAR mmap succeeds even while the memory bit is clear', () => {
  const { sys, c, d } = openDevice(EDU0, { variant: '5.7' });
  const addr = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  setMem(d, false);
  assert.equal(hwCommand(sys, EDU0) & 2, 0, 'hardware MEM is clear');
  const r = c.mapDma({ vaddr: BigInt(addr), size: BigInt(EDU_BAR0), iova: BigInt(IOVA) });
  assert.deepEqual(r, { ok: true, value: undefined });
});

// ---- 5.8 ----------------------------------------------------------------------------

test('claim 2 (5.8): mmap() of a BAR succeeds while memory is disabled and installs no PTEs', () => {
  const { sys, p, d } = openDevice(EDU0);
  setMem(d, false);
  const seq = sys.events.lastSeq;
  const addr = d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW });
  assert.ok(addr.ok, 'mmap succeeds while disabled');
  assert.equal(countSince(sys, seq, 'pte.install'), 0);
  assert.ok(sigbus(p.load(addr.value, 4)), 'touch while disabled is SIGBUS');
});

test('claim 2 (5.8): mmap() of a BAR succeeds while a reset holds memory_lock and installs no PTEs', () => {
  const { sys, p, d } = openDevice(EDU0);
  const t2 = p.thread('mmapper');
  start(sys, p.kthread, p.ops.ioctl(d.fd, VFIO_DEVICE_RESET, 0), 'reset');
  assert.ok(stepUntil(sys, p.kthread, () => holds(p.kthread, MEMORY_LOCK, 'w')), 'reset reaches its write-locked window');
  const seq = sys.events.lastSeq;
  start(sys, t2.kthread, t2.ops.mmap(0, EDU_BAR0, PROT_RW, MAP_SHARED, d.fd, 0), 'mmap');
  stepUntil(sys, t2.kthread, () => t2.kthread.state !== 'runnable');
  assert.equal(t2.kthread.state, 'done', 'mmap does not wait for the reset');
  assert.ok(holds(p.kthread, MEMORY_LOCK, 'w'), 'reset still in progress');
  const addr = t2.kthread.result as number;
  assert.ok(addr > 0, `mmap returned ${addr}`);
  assert.equal(countSince(sys, seq, 'pte.install'), 0);
  runAll(sys);
  assert.equal(p.kthread.result, 0, 'reset succeeded');
  assert.deepEqual(p.load(addr, 4), { ok: true, value: EDU_ID });
});

test('claim 3 (all): mmap without MAP_SHARED, of ROM/config/VGA, or past the page-rounded BAR size fails with EINVAL', () => {
  const { p, d } = openDevice(NIC);
  assert.equal(p.mmap(0, PAGE, PROT_RW, MAP_PRIVATE, d.fd, vfioPciIndexToOffset(0)), -22);
  for (const idx of [6, 7, 8]) assert.equal(p.mmap(0, PAGE, 1, MAP_SHARED, d.fd, vfioPciIndexToOffset(idx)), -22, `index ${idx}`);
  // NIC BAR0 is 128 KiB
  assert.equal(p.mmap(0, 0x20000 + PAGE, PROT_RW, MAP_SHARED, d.fd, vfioPciIndexToOffset(0)), -22);
  assert.equal(p.mmap(0, PAGE, PROT_RW, MAP_SHARED, d.fd, vfioPciIndexToOffset(0) + 0x20000), -22);
  assert.ok(p.mmap(0, 0x20000, PROT_RW, MAP_SHARED, d.fd, vfioPciIndexToOffset(0)) > 0, 'the whole BAR is fine');
});

test('claim 4 (5.8): the first access to any page maps the whole vma; other pages then take no vfio fault', () => {
  const { sys, p, d } = openDevice(EDU0);
  const addr = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  const seq = sys.events.lastSeq;
  assert.ok(p.load(addr + 0x5000, 4).ok);
  assert.equal(countSince(sys, seq, 'fault'), 1);
  assert.ok(countSince(sys, seq, 'pte.install', (e) => e.start === addr && e.end === addr + EDU_BAR0) === 1, 'entire vma remapped');
  const seq2 = sys.events.lastSeq;
  assert.deepEqual(p.load(addr, 4), { ok: true, value: EDU_ID });
  assert.ok(p.load(addr + EDU_BAR0 - 4, 4).ok);
  assert.equal(countSince(sys, seq2, 'fault'), 0);
});

test('claim 5 (5.8): after clearing MEM a read through an existing BAR mmap raises SIGBUS, even for a never-touched page', () => {
  const { sys, p, d } = openDevice(EDU0);
  const addr = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  assert.ok(p.load(addr, 4).ok);
  setMem(d, false);
  const seq = sys.events.lastSeq;
  assert.ok(sigbus(p.load(addr, 4)), 'touched page');
  assert.ok(sigbus(p.load(addr + 0x7000, 4)), 'never-touched page');
  assert.equal(countSince(sys, seq, 'signal', (e) => e.sig === 'SIGBUS'), 2);
  assert.equal(sys.platformErrors, 0, 'no Unsupported Request reached the platform');
});

test('claim 6 (5.8): a command write clearing MEM zaps again even when memory was already disabled', () => {
  const { sys, p, d } = openDevice(EDU0);
  const addr = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  assert.ok(p.load(addr, 4).ok);
  const z0 = sys.events.count('vfio.zap');
  setMem(d, false);
  assert.equal(sys.events.count('vfio.zap'), z0 + 1);
  setMem(d, false);
  assert.equal(sys.events.count('vfio.zap'), z0 + 2, 'second zap although MEM was already clear');
});

test('claim 7 (5.8): a 1-byte config write at offset 5 never zaps and never changes the blocked state', () => {
  const { sys, p, d } = openDevice(EDU0);
  const addr = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  assert.ok(p.load(addr, 4).ok);
  const z0 = sys.events.count('vfio.zap');
  const hi = unwrap(d.readConfig(5, 1));
  unwrap(d.writeConfig(5, 1, hi ^ 0x04)); // toggle INTx disable (bit 10)
  assert.equal(sys.events.count('vfio.zap'), z0, 'no zap while enabled');
  assert.ok(p.load(addr + 0x1000, 4).ok, 'still enabled');
  setMem(d, false);
  const z1 = sys.events.count('vfio.zap');
  unwrap(d.writeConfig(5, 1, hi));
  assert.equal(sys.events.count('vfio.zap'), z1, 'no zap while disabled');
  assert.ok(sigbus(p.load(addr, 4)), 'still disabled');
  assert.deepEqual(d.readRegion(0, 0, 4), { ok: false, errno: 5 });
});

test('claim 8 (5.8): after setting MEM again the same existing mmap works without a new mmap()', () => {
  const { sys, p, d } = openDevice(EDU0);
  const addr = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  assert.ok(p.load(addr, 4).ok);
  setMem(d, false);
  assert.ok(sigbus(p.load(addr, 4)));
  setMem(d, true);
  const mm0 = sys.events.count('mmap');
  assert.deepEqual(p.load(addr, 4), { ok: true, value: EDU_ID });
  assert.ok(p.load(addr + 0x9000, 4).ok);
  assert.equal(sys.events.count('mmap'), mm0);
});

test('claim 9 (5.8): pread/pwrite of a memory BAR outside the MSI-X table while disabled is EIO with no device access', () => {
  for (const [name, bar] of [[EDU0, 0], [NIC, 0]] as const) {
    const { sys, d } = openDevice(name);
    setMem(d, false);
    const seq = sys.events.lastSeq;
    assert.deepEqual(d.readRegion(bar, 0, 4), { ok: false, errno: 5 }, `${name} pread`);
    assert.deepEqual(d.writeRegion(bar, 8, new Uint8Array([1, 2, 3, 4])), { ok: false, errno: 5 }, `${name} pwrite`);
    assert.equal(countSince(sys, seq, 'mmio'), 0, 'no MMIO reached the device');
    assert.equal(sys.platformErrors, 0);
  }
});

test('claim 10 (5.8): pread of an I/O-port BAR is not failed with EIO because MEM is clear', () => {
  const { sys, d } = openDevice(NIC);
  setMem(d, false);
  const seq = sys.events.lastSeq;
  const r = d.readRegion(2, 0, 4);
  assert.ok(r.ok, `I/O BAR pread: ${JSON.stringify(r)}`);
  assert.equal(r.value.byteLength, 4);
  assert.ok(countSince(sys, seq, 'pio') >= 1, 'the I/O port was accessed');
});

test('claim 12 (all): pwrite to the ROM region returns EINVAL', () => {
  const { d } = openDevice(NIC);
  assert.deepEqual(d.writeRegion(6, 0, new Uint8Array([0, 0, 0, 0])), { ok: false, errno: 22 });
});

test('claim 15 (5.8): config reads never fail because MEM is clear; a config access past the config size is EFAULT', () => {
  const { d } = openDevice(NIC);
  setMem(d, false);
  assert.equal(unwrap(d.readConfig(0, 2)), 0x1b36);
  assert.equal(unwrap(d.readConfig(4, 2)) & 2, 0);
  assert.ok(d.readConfig(0x100, 4).ok, 'extended config read works');
  assert.deepEqual(d.readConfig(4096, 4), { ok: false, errno: 14 });
  assert.deepEqual(d.readRegion(7, 4094, 4), { ok: false, errno: 14 }, 'straddling the end');
  const e = openDevice(EDU0);
  setMem(e.d, false);
  assert.deepEqual(e.d.readConfig(256, 4), { ok: false, errno: 14 }, 'conventional device: 256-byte config');
});

/** Two edu functions sharing bus 1 behind one root port: no FLR, no PM, and no parent bus reset (not alone on the bus). */
function sharedBusMachine(): MachineSpec {
  return { urPolicy: 'log', slots: [rootPort(1, [endpoint(0, EDU_DEVICE), endpoint(1, EDU_DEVICE)])] };
}

test('claim 16 (5.8): VFIO_DEVICE_RESET on a device without reset support returns EINVAL and does not zap', () => {
  const { sys, p, d } = openDevice('0000:01:00.0', { machine: sharedBusMachine() });
  assert.equal(unwrap(d.getInfo()).flags & VFIO_DEVICE_FLAGS_RESET, 0, 'no RESET flag');
  const addr = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  assert.ok(p.load(addr, 4).ok);
  const z0 = sys.events.count('vfio.zap');
  const pz0 = sys.events.count('pte.zap');
  const r0 = sys.events.count('reset');
  assert.deepEqual(d.reset(), { ok: false, errno: 22 });
  assert.equal(sys.events.count('vfio.zap'), z0);
  assert.equal(sys.events.count('pte.zap'), pz0);
  assert.equal(sys.events.count('reset'), r0);
  const f0 = sys.events.count('fault');
  assert.ok(p.load(addr + 0x2000, 4).ok);
  assert.equal(sys.events.count('fault'), f0, 'mapping still present');
});

test('claim 17 (5.8): VFIO_DEVICE_RESET zaps all BAR mmaps; afterwards the existing mmap works again without re-mmap', () => {
  for (const name of [EDU0, NIC]) {
    const { sys, p, d } = openDevice(name);
    const len = name === NIC ? 0x20000 : EDU_BAR0;
    const addr = unwrap(d.mmapRegion(0, { length: len, prot: PROT_RW }));
    assert.ok(p.load(addr, 4).ok);
    const seq = sys.events.lastSeq;
    assert.deepEqual(d.reset(), { ok: true, value: undefined }, name);
    assert.ok(countSince(sys, seq, 'vfio.zap', (e) => e.vmas === 1) === 1, `${name}: one vma zapped`);
    assert.ok(countSince(sys, seq, 'reset', (e) => e.phase === 'done') >= 1, `${name}: device reset`);
    const f0 = sys.events.count('fault');
    assert.ok(p.load(addr + 0x1000, 4).ok, `${name}: access after reset`);
    assert.equal(sys.events.count('fault'), f0 + 1, `${name}: refaulted`);
  }
});

test('claim 18 (5.8): if MEM was disabled before VFIO_DEVICE_RESET it is still disabled afterwards', () => {
  const { sys, p, d } = openDevice(EDU0);
  const addr = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  setMem(d, false);
  unwrap(d.reset());
  assert.equal(unwrap(d.readConfig(4, 2)) & 2, 0, 'virtual MEM still clear');
  assert.equal(hwCommand(sys, EDU0) & 2, 0, 'hardware MEM still clear');
  assert.ok(sigbus(p.load(addr, 4)));
  assert.deepEqual(d.readRegion(0, 0, 4), { ok: false, errno: 5 });
});

test('claim 19 (5.8): a CPU access to a zapped mmap during a reset (memory_lock write-held) blocks, then succeeds', () => {
  const { sys, p, d } = openDevice(EDU0);
  const addr = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  assert.ok(p.load(addr, 4).ok);
  const vcpu = p.thread('vcpu');
  start(sys, p.kthread, p.ops.ioctl(d.fd, VFIO_DEVICE_RESET, 0), 'reset');
  assert.ok(stepUntil(sys, p.kthread, () => holds(p.kthread, MEMORY_LOCK, 'w')));
  start(sys, vcpu.kthread, vcpu.ops.load(addr + 0x10, 4), 'load');
  stepUntil(sys, vcpu.kthread, () => vcpu.kthread.state !== 'runnable');
  assert.equal(vcpu.kthread.state, 'blocked', 'the faulting access sleeps');
  runAll(sys);
  assert.equal(p.kthread.result, 0);
  const r = vcpu.kthread.result as CpuAccessResult;
  assert.equal(r.ok, true, `access after reset: ${r.ok ? '' : r.signal}`);
  assert.equal(sys.events.count('signal'), 0);
});

test('claim 21 (5.8): setting the PCIe DevCtl FLR bit zaps mmaps, resets the function and reads back 0', () => {
  const { sys, p, d } = openDevice(NIC);
  const exp = findCap(d, PCI_CAP_ID_EXP);
  assert.ok(exp > 0, 'PCIe capability found');
  const addr = unwrap(d.mmapRegion(0, { length: 0x20000, prot: PROT_RW }));
  assert.ok(p.load(addr, 4).ok);
  const seq = sys.events.lastSeq;
  const ctl = unwrap(d.readConfig(exp + PCI_EXP_DEVCTL, 2));
  unwrap(d.writeConfig(exp + PCI_EXP_DEVCTL, 2, ctl | PCI_EXP_DEVCTL_BCR_FLR));
  assert.equal(countSince(sys, seq, 'vfio.zap', (e) => e.vmas === 1), 1, 'mmap zapped');
  assert.ok(countSince(sys, seq, 'reset', (e) => e.dev === NIC && String(e.method).includes('flr')) >= 1, 'function reset by FLR');
  assert.equal(unwrap(d.readConfig(exp + PCI_EXP_DEVCTL, 2)) & PCI_EXP_DEVCTL_BCR_FLR, 0);
  assert.ok(p.load(addr, 4).ok, 'refault after FLR');
});

test('claim 25 (5.8): VFIO_IOMMU_MAP_DMA of a never-touched BAR mmap succeeds while enabled', () => {
  const { sys, c, d } = openDevice(EDU0);
  const addr = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  assert.equal(sys.events.all().filter((e) => e.kind === 'fault' && e.addr >= addr && e.addr < addr + EDU_BAR0).length, 0, 'never touched');
  assert.deepEqual(c.mapDma({ vaddr: BigInt(addr), size: BigInt(EDU_BAR0), iova: BigInt(IOVA) }), { ok: true, value: undefined });
  assert.ok(sys.events.count('iommu.map') >= 1);
});

test('claim 26 (5.8): VFIO_IOMMU_MAP_DMA of a BAR mmap while disabled fails with EFAULT', () => {
  const { sys, c, d } = openDevice(EDU0);
  const addr = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  setMem(d, false);
  const m0 = sys.events.count('iommu.map');
  assert.deepEqual(c.mapDma({ vaddr: BigInt(addr), size: BigInt(EDU_BAR0), iova: BigInt(IOVA) }), { ok: false, errno: 14 });
  assert.equal(sys.events.count('iommu.map'), m0);
});

test('claim 28 (5.8): an IOMMU mapping of a BAR made while enabled survives memory disable, reset and munmap', () => {
  const { sys, p, c, d } = openDevice(EDU0);
  const addr = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  unwrap(c.mapDma({ vaddr: BigInt(addr), size: BigInt(EDU_BAR0), iova: BigInt(IOVA) }));
  const fn = sys.hw.fn(EDU0);
  const dom = sys.hw.iommu.domainOfGroup(fn.iommuGroup);
  assert.ok(dom !== null);
  const before = sys.hw.iommu.lookup(dom, IOVA);
  assert.ok(before !== null);
  setMem(d, false);
  unwrap(d.reset());
  assert.equal(p.munmap(addr, EDU_BAR0), 0);
  assert.equal(sys.events.count('iommu.unmap'), 0);
  assert.deepEqual(sys.hw.iommu.lookup(dom, IOVA), before);
  assert.deepEqual(sys.hw.iommu.lookup(dom, IOVA + EDU_BAR0 - PAGE)?.pfn, before.pfn + EDU_BAR0 / PAGE - 1);
});

test('claim 29 (5.8): SET_IRQS enabling MSI-X succeeds while MEM is clear; memory stays disabled afterwards', () => {
  const { sys, p, d } = openDevice(NIC);
  const addr = unwrap(d.mmapRegion(0, { length: 0x20000, prot: PROT_RW }));
  setMem(d, false);
  const efd = p.eventfd(0, 0);
  assert.ok(efd >= 0);
  assert.deepEqual(d.setIrqEventfds(VFIO_PCI_MSIX_IRQ_INDEX, 0, [efd]), { ok: true, value: undefined });
  assert.equal(hwCommand(sys, NIC) & 2, 0, 'hardware MEM restored to clear');
  assert.equal(unwrap(d.readConfig(4, 2)) & 2, 0, 'virtual MEM still clear');
  assert.ok(sigbus(p.load(addr, 4)));
  assert.deepEqual(d.readRegion(0, 0, 4), { ok: false, errno: 5 });
});

test('claim 30 (5.8): GET_REGION_INFO for the ROM reports READ and its size while disabled; the command register is unchanged', () => {
  const { sys, d } = openDevice(NIC);
  setMem(d, false);
  const cmd = hwCommand(sys, NIC);
  const info = unwrap(d.getRegionInfo(6));
  assert.equal(info.flags, VFIO_REGION_INFO_FLAG_READ);
  assert.equal(info.size, 0x10000n);
  assert.equal(hwCommand(sys, NIC), cmd);
  assert.equal(unwrap(d.readConfig(4, 2)) & 2, 0);
});

test('claim 31 (5.8): after fork() the child\'s inherited BAR mapping has no PTEs and faults on first access', () => {
  const { sys, p, d } = openDevice(EDU0);
  const addr = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  assert.ok(p.load(addr, 4).ok);
  const child = p.fork();
  assert.ok(typeof child !== 'number', `fork: ${String(child)}`);
  const f0 = sys.events.count('fault');
  const t0 = sys.events.count('vfio.vma-track');
  assert.deepEqual(child.load(addr + 0x4000, 4).ok, true);
  assert.equal(sys.events.count('fault'), f0 + 1, 'child faulted');
  assert.equal(sys.events.count('vfio.vma-track'), t0 + 1, 'child vma tracked separately');
  const f1 = sys.events.count('fault');
  assert.ok(p.load(addr + 0x4000, 4).ok);
  assert.equal(sys.events.count('fault'), f1, 'parent mapping untouched');
  // both are zapped by a disable
  setMem(d, false);
  assert.ok(sigbus(child.load(addr, 4)));
  assert.ok(sigbus(p.load(addr, 4)));
});

test('claim 32 (5.8): munmap of a faulted BAR vma removes its tracking node; a later zap does not touch it', () => {
  const { sys, p, d } = openDevice(EDU0);
  const addr = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  assert.ok(p.load(addr, 4).ok);
  const seq = sys.events.lastSeq;
  assert.equal(p.munmap(addr, EDU_BAR0), 0);
  assert.equal(countSince(sys, seq, 'vfio.vma-track', (e) => e.op === 'del' && e.start === addr), 1);
  const seq2 = sys.events.lastSeq;
  setMem(d, false);
  assert.equal(countSince(sys, seq2, 'pte.zap'), 0);
  assert.ok(countSince(sys, seq2, 'vfio.zap', (e) => e.vmas === 0) === 1, 'zap found nothing to do');
});

test('claim 33 (5.8): hot reset info with no room is ENOSPC with the count; a hot reset succeeds and zaps', () => {
  const { sys, p, g, d } = openDevice(EDU0);
  const r = rawIoctl(p, d.fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, encodePciHotResetInfo({ count: 0 }, 0));
  assert.equal(r.ret, -28);
  assert.equal(decodePciHotResetInfo(r.bytes.subarray(0, SIZEOF_VFIO_PCI_HOT_RESET_INFO)).count, 1);
  const devs = unwrap(d.getHotResetInfo());
  assert.equal(devs.length, 1);
  const addr = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  assert.ok(p.load(addr, 4).ok);
  const seq = sys.events.lastSeq;
  assert.deepEqual(d.hotReset([g.fd]), { ok: true, value: undefined });
  assert.equal(countSince(sys, seq, 'vfio.zap', (e) => e.vmas === 1), 1);
  assert.ok(p.load(addr, 4).ok);
});

test('claim 33 (5.8): hot reset returns EINVAL for count 0, non-zero flags or missing group fds, ENODEV without a bus reset', () => {
  const { sys, p, c, g, d } = openDevice(EDU0);
  assert.equal(rawIoctl(p, d.fd, VFIO_DEVICE_PCI_HOT_RESET, encodePciHotReset({}, [])).ret, -22, 'count 0');
  assert.equal(rawIoctl(p, d.fd, VFIO_DEVICE_PCI_HOT_RESET, encodePciHotReset({ flags: 1 }, [g.fd])).ret, -22, 'flags');
  // a container fd is not a group fd (vfio_group_get_external_user)
  assert.equal(rawIoctl(p, d.fd, VFIO_DEVICE_PCI_HOT_RESET, encodePciHotReset({}, [c.fd])).ret, -22, 'container fd');
  // a group fd that does not own the affected device
  const g2 = unwrap(VfioGroup.open(p, sys.hw.fn(EDU1).iommuGroup));
  unwrap(g2.setContainer(c));
  assert.equal(rawIoctl(p, d.fd, VFIO_DEVICE_PCI_HOT_RESET, encodePciHotReset({}, [g2.fd])).ret, -22, 'wrong group');
  assert.equal(rawIoctl(p, d.fd, VFIO_DEVICE_PCI_HOT_RESET, encodePciHotReset({}, [g.fd, g2.fd])).ret, -22, 'more fds than affected devices');
  assert.equal(rawIoctl(p, d.fd, VFIO_DEVICE_PCI_HOT_RESET, encodePciHotReset({}, [g.fd])).ret, 0, 'with the right group it works');
  // endpoint on the root bus: no bus to reset
  const root: MachineSpec = { urPolicy: 'log', slots: [endpoint(1, EDU_DEVICE)] };
  const r = openDevice('0000:00:01.0', { machine: root });
  assert.deepEqual(r.d.getHotResetInfo(), { ok: false, errno: 19 });
  assert.deepEqual(r.d.hotReset([r.g.fd]), { ok: false, errno: 19 });
});

test('claim 33 (5.8-5.14): hot reset is EINVAL when an affected device (same group, same bus) has no vfio device', () => {
  // two edu functions behind a PCIe-to-PCI bridge share one IOMMU group and bus 2; only 02:01.0 is bound to vfio-pci
  const machine: MachineSpec = { urPolicy: 'log', slots: [rootPort(1, [pciePciBridge(0, [endpoint(1, EDU_DEVICE), endpoint(2, EDU_DEVICE)])])] };
  const sys = new System({ machine, bind: (n) => n === '0000:02:01.0' });
  assert.equal(sys.hw.fn('0000:02:01.0').iommuGroup, sys.hw.fn('0000:02:02.0').iommuGroup, 'one group');
  const p = sys.spawnProcess('qemu');
  const c = unwrap(VfioContainer.open(p));
  const g = unwrap(VfioGroup.open(p, sys.hw.fn('0000:02:01.0').iommuGroup));
  unwrap(g.setContainer(c));
  unwrap(c.setIommu(VFIO_TYPE1v2_IOMMU));
  const d = unwrap(g.getDevice('0000:02:01.0'));
  assert.equal(unwrap(d.getHotResetInfo()).length, 2, 'both functions on the bus are affected');
  const resets = sys.events.count('reset');
  assert.deepEqual(d.hotReset([g.fd]), { ok: false, errno: 22 });
  assert.equal(sys.events.count('reset'), resets, 'no bus reset happened');
});

test('claim 33 (5.8): hot reset returns EBUSY while an affected device\'s vma_lock is held by a fault', () => {
  const { sys, p, g, d } = openDevice(EDU0);
  const addr = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  const vcpu = p.thread('vcpu');
  start(sys, vcpu.kthread, vcpu.ops.load(addr, 4), 'load');
  assert.ok(stepUntil(sys, vcpu.kthread, () => holds(vcpu.kthread, VMA_LOCK)), 'fault holds vma_lock');
  const buf = p.alloc(64);
  assert.ok(p.writeBytes(buf, encodePciHotReset({}, [g.fd])).ok);
  start(sys, p.kthread, p.ops.ioctl(d.fd, VFIO_DEVICE_PCI_HOT_RESET, buf), 'hot-reset');
  stepUntil(sys, p.kthread, () => p.kthread.state !== 'runnable');
  assert.equal(p.kthread.state, 'done', 'hot reset never sleeps on the contended lock');
  assert.equal(p.kthread.result, -16);
  runAll(sys);
  assert.deepEqual(vcpu.kthread.result, { ok: true, value: EDU_ID });
});

test('claim 39 (5.8): a fault during a write-locked window (ROM probe) sleeps and then succeeds; it never fails or retries', () => {
  const { sys, p, d } = openDevice(NIC);
  const addr = unwrap(d.mmapRegion(0, { length: 0x20000, prot: PROT_RW }));
  const vcpu = p.thread('vcpu');
  const buf = p.alloc(SIZEOF_VFIO_REGION_INFO);
  assert.ok(p.writeBytes(buf, encodeRegionInfo({ argsz: SIZEOF_VFIO_REGION_INFO, index: 6 })).ok);
  start(sys, p.kthread, p.ops.ioctl(d.fd, VFIO_DEVICE_GET_REGION_INFO, buf), 'rom-info');
  assert.ok(stepUntil(sys, p.kthread, () => holds(p.kthread, MEMORY_LOCK, 'w')), 'ROM probe holds memory_lock for write');
  const seq = sys.events.lastSeq;
  start(sys, vcpu.kthread, vcpu.ops.load(addr + 0x3000, 4), 'load');
  stepUntil(sys, vcpu.kthread, () => vcpu.kthread.state !== 'runnable');
  assert.equal(vcpu.kthread.state, 'blocked', 'the fault sleeps on memory_lock');
  runAll(sys);
  assert.equal(p.kthread.result, 0);
  assert.equal((vcpu.kthread.result as CpuAccessResult).ok, true);
  assert.equal(countSince(sys, seq, 'signal'), 0);
  const faults = sys.events.since(seq).filter((e) => e.kind === 'fault');
  assert.equal(faults.length, 1, 'one fault, no retry loop');
  assert.ok(faults.every((e) => e.kind === 'fault' && !/RETRY|SIGBUS/.test(e.result)), JSON.stringify(faults));
});

test('claim 40 (5.8): writing MEM=1 to the command register never zaps existing mappings', () => {
  const { sys, p, d } = openDevice(EDU0);
  const addr = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  assert.ok(p.load(addr, 4).ok);
  const z0 = sys.events.count('vfio.zap');
  const pz0 = sys.events.count('pte.zap');
  setMem(d, true);
  unwrap(d.writeConfig(4, 2, unwrap(d.readConfig(4, 2)) | 2));
  assert.equal(sys.events.count('vfio.zap'), z0);
  assert.equal(sys.events.count('pte.zap'), pz0);
  const f0 = sys.events.count('fault');
  assert.ok(p.load(addr + 0x8000, 4).ok);
  assert.equal(sys.events.count('fault'), f0, 'mapping still populated');
});

test('claim 11 (5.8.0): pread of the MSI-X table range while MEM is clear is EIO (the whole call is checked)', () => {
  const { sys, d } = openDevice(NIC);
  const vdev = sys.vfioDevice(NIC);
  assert.ok(vdev && vdev.msixBar !== 0xff);
  assert.ok(d.readRegion(vdev.msixBar, vdev.msixOffset, 4).ok, 'enabled: the table range reads (as 0xff, no device access)');
  setMem(d, false);
  assert.deepEqual(d.readRegion(vdev.msixBar, vdev.msixOffset, 4), { ok: false, errno: 5 });
});

test('claim 13 (5.8.0): pread of the ROM region while MEM is clear is EIO', () => {
  const { sys, d } = openDevice(NIC);
  const rom = d.readRegion(6, 0, 2);
  assert.ok(rom.ok && rom.value[0] === 0x55 && rom.value[1] === 0xaa, 'enabled: the ROM signature reads');
  setMem(d, false);
  const seq = sys.events.lastSeq;
  assert.deepEqual(d.readRegion(6, 0, 2), { ok: false, errno: 5 });
  assert.equal(countSince(sys, seq, 'rom.read'), 0, 'the ROM was not mapped or read');
  assert.equal(sys.platformErrors, 0);
});

test('claim 20 (5.8): a pread issued while a reset holds memory_lock for write blocks until the reset completes, then succeeds', () => {
  const { sys, p, d } = openDevice(EDU0);
  const reader = p.thread('reader');
  start(sys, p.kthread, p.ops.ioctl(d.fd, VFIO_DEVICE_RESET, 0), 'reset');
  assert.ok(stepUntil(sys, p.kthread, () => holds(p.kthread, MEMORY_LOCK, 'w')));
  start(sys, reader.kthread, reader.ops.preadBytes(d.fd, 4, vfioPciIndexToOffset(0)), 'pread');
  stepUntil(sys, reader.kthread, () => reader.kthread.state !== 'runnable');
  assert.equal(reader.kthread.state, 'blocked', 'pread sleeps on memory_lock');
  runAll(sys);
  assert.equal(p.kthread.result, 0, 'reset succeeded');
  const r = reader.kthread.result as ReadResult;
  assert.equal(r.ret, 4, 'pread after the reset');
  assert.deepEqual([...r.data], [0xed, 0x00, 0x00, 0x01], 'the edu identification register');
});

test('claim 22 (5.8-5.18): writing D3hot to PM_CTRL neither zaps nor makes pread fail — the access reaches a non-decoding device (H7)', () => {
  const { sys, p, d } = openDevice(NIC);
  const pm = findCap(d, PCI_CAP_ID_PM);
  assert.ok(pm > 0, 'PM capability found');
  const addr = unwrap(d.mmapRegion(0, { length: 0x20000, prot: PROT_RW }));
  assert.ok(p.load(addr, 4).ok);
  const seq = sys.events.lastSeq;
  const ctrl = unwrap(d.readConfig(pm + PCI_PM_CTRL, 2));
  unwrap(d.writeConfig(pm + PCI_PM_CTRL, 2, (ctrl & ~3) | 3));
  assert.equal(countSince(sys, seq, 'power', (e) => e.to === 'D3hot'), 1, 'the function entered D3hot');
  assert.equal(countSince(sys, seq, 'vfio.zap') + countSince(sys, seq, 'pte.zap'), 0, 'no zap');
  const r = d.readRegion(0, 0, 4);
  assert.ok(r.ok, 'pread is not failed');
  assert.deepEqual([...r.value], [0xff, 0xff, 0xff, 0xff], 'all-ones from an unclaimed read');
  const ld = p.load(addr, 4);
  assert.ok(ld.ok, 'the live mapping still works from the CPU side');
  assert.equal(sys.platformErrors, 2, 'both accesses were Unsupported Requests');
});

test('claim 33 (5.8): hot reset returns EBUSY while an affected device\'s memory_lock is read-held (a pread in flight)', () => {
  const { sys, p, g, d } = openDevice(EDU0);
  const reader = p.thread('reader');
  start(sys, reader.kthread, reader.ops.preadBytes(d.fd, 4, vfioPciIndexToOffset(0)), 'pread');
  assert.ok(stepUntil(sys, reader.kthread, () => holds(reader.kthread, MEMORY_LOCK, 'r')), 'pread holds memory_lock');
  const buf = p.alloc(64);
  assert.ok(p.writeBytes(buf, encodePciHotReset({}, [g.fd])).ok);
  const resets = sys.events.count('reset');
  start(sys, p.kthread, p.ops.ioctl(d.fd, VFIO_DEVICE_PCI_HOT_RESET, buf), 'hot-reset');
  stepUntil(sys, p.kthread, () => p.kthread.state !== 'runnable');
  assert.equal(p.kthread.state, 'done', 'hot reset does not sleep on memory_lock');
  assert.equal(p.kthread.result, -16);
  assert.equal(sys.events.count('reset'), resets, 'no bus reset');
  assert.equal(holds(p.kthread, VMA_LOCK), false, 'vma_lock released on the EBUSY path');
  runAll(sys);
  assert.equal((reader.kthread.result as ReadResult).ret, 4, 'the pread completes');
});

test('claim 33 (5.8): hot reset returns EBUSY while the mmap lock of a process mapping the device is write-held', () => {
  const { sys, p, g, d } = openDevice(EDU0);
  const addr = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  assert.ok(p.load(addr, 4).ok, 'a tracked, faulted mapping');
  const buf = p.alloc(64);
  assert.ok(p.writeBytes(buf, encodePciHotReset({}, [g.fd])).ok);
  const mapper = p.thread('mapper');
  start(sys, mapper.kthread, mapper.ops.mmap(0, PAGE, PROT_RW, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0), 'mmap');
  assert.ok(stepUntil(sys, mapper.kthread, () => holds(mapper.kthread, '&mm->mmap_lock', 'w')), 'mmap holds mmap_lock for write');
  start(sys, p.kthread, p.ops.ioctl(d.fd, VFIO_DEVICE_PCI_HOT_RESET, buf), 'hot-reset');
  stepUntil(sys, p.kthread, () => p.kthread.state !== 'runnable');
  assert.equal(p.kthread.state, 'done');
  assert.equal(p.kthread.result, -16);
  runAll(sys);
});

/** One edu as an SR-IOV VF behind a root port (its PF not modelled). */
function vfMachine(): MachineSpec {
  return { urPolicy: 'log', slots: [rootPort(1, [endpoint(0, EDU_DEVICE, { virtfn: true })])] };
}

test('claim 23 (5.8 final, ebfa440ce38b): for a VF, clearing MEM zaps but the next access refaults and pread keeps working; the command register reads the virtual MEM bit', () => {
  const { sys, p, d } = openDevice(EDU0, { machine: vfMachine() });
  assert.equal(hwCommand(sys, EDU0) & 2, 0, 'the VF has MEM hardwired to 0');
  assert.equal(unwrap(d.readConfig(4, 2)) & 2, 2, 'virtual MEM set at open');
  const addr = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  assert.ok(p.load(addr, 4).ok);
  const seq = sys.events.lastSeq;
  setMem(d, false);
  assert.equal(countSince(sys, seq, 'vfio.zap', (e) => e.vmas === 1), 1, 'clearing MEM still zaps');
  assert.equal(unwrap(d.readConfig(4, 2)) & 2, 0, 'reads back the virtual (cleared) MEM bit');
  const f0 = sys.events.count('fault');
  assert.deepEqual(p.load(addr, 4), { ok: true, value: EDU_ID }, 'refault succeeds');
  assert.equal(sys.events.count('fault'), f0 + 1);
  assert.ok(d.readRegion(0, 0, 4).ok, 'pread works');
  assert.equal(sys.platformErrors, 0);
});

test('claim 24 (5.8-rc1/rc2, without ebfa440ce38b): a freshly opened VF fails BAR pread with EIO until the user sets MEM', () => {
  const variant = { ...VARIANT_5_8.knobs, vfAlwaysEnabled: false };
  const { sys, d } = openDevice(EDU0, { machine: vfMachine(), variant });
  assert.equal(unwrap(d.readConfig(4, 2)) & 2, 0, 'vconfig copies the hardware MEM bit (0)');
  assert.deepEqual(d.readRegion(0, 0, 4), { ok: false, errno: 5 });
  setMem(d, true);
  assert.equal(hwCommand(sys, EDU0) & 2, 0, 'hardware MEM stays 0');
  assert.ok(d.readRegion(0, 0, 4).ok, 'pread works once the virtual bit is set');
});

test('claim 22 (5.19+, d3hotBlocks): writing D3hot to PM_CTRL zaps the mapping; BAR access fails (SIGBUS / EIO) until D0, with no Unsupported Request', () => {
  const { sys, p, d } = openDevice(NIC, { variant: { ...VARIANT_5_8.knobs, d3hotBlocks: true } });
  const pm = findCap(d, PCI_CAP_ID_PM);
  const addr = unwrap(d.mmapRegion(0, { length: 0x20000, prot: PROT_RW }));
  assert.ok(p.load(addr, 4).ok);
  const seq = sys.events.lastSeq;
  const ctrl = unwrap(d.readConfig(pm + PCI_PM_CTRL, 2));
  unwrap(d.writeConfig(pm + PCI_PM_CTRL, 2, (ctrl & ~3) | 3));
  assert.equal(countSince(sys, seq, 'vfio.zap', (e) => e.vmas === 1), 1, 'entering D3hot zaps');
  assert.deepEqual(d.readRegion(0, 0, 4), { ok: false, errno: 5 });
  assert.ok(sigbus(p.load(addr, 4)));
  unwrap(d.writeConfig(pm + PCI_PM_CTRL, 2, ctrl & ~3));
  assert.ok(d.readRegion(0, 0, 4).ok, 'D0 again: pread works');
  assert.ok(p.load(addr, 4).ok, 'D0 again: the mapping refaults');
  assert.equal(sys.platformErrors, 0);
});
