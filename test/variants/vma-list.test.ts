/**
 * The vma_list design (zapMethod 'vma-list') across its versions: the fault handler's
 * locking (knob faultLocking: patch v1's trylock + retry, 5.8's drop-before-remap,
 * 6a45ece4c9af's hold-across-remap), the zap lock order (zapOrder), the fork order
 * (forkOpenBeforeCopy, 35e351780fa9) and the vm_flags assertion of H9. Spec §2.4, §2.5,
 * §2.13 (H1, H2, H9, H10), §2.14, §3.3, §3.5.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { EFAULT } from '../../src/kernel/errno.js';
import { fixupUserFault, handleMmFault } from '../../src/kernel/mm/index.js';
import { asMm, findVma, type MmStruct } from '../../src/kernel/mm/mm.js';
import {
  FAULT_FLAG_ALLOW_RETRY, FAULT_FLAG_KILLABLE, FAULT_FLAG_RETRY_NOWAIT, FAULT_FLAG_WRITE, VM_FAULT_RETRY,
} from '../../src/kernel/mm/types.js';
import type { Task } from '../../src/kernel/sched/task.js';
import { findVariant, VARIANT_6_1, type Knobs } from '../../src/kernel/variant/knobs.js';
import { System } from '../../src/system.js';
import { loadScenario, runScenario, type RunResult, type Scenario } from '../../src/scenario/index.js';
import { PCI_COMMAND, PCI_COMMAND_MEMORY } from '../../src/uapi/pci-regs.js';
import {
  encodeDmaMap, VFIO_DEVICE_RESET, VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE, VFIO_IOMMU_MAP_DMA,
  VFIO_PCI_CONFIG_REGION_INDEX, vfioPciIndexToOffset,
} from '../../src/uapi/vfio.js';
import type { CpuAccessResult, Process } from '../../src/user/process.js';
import { unwrap } from '../../src/user/vfio-client.js';
import { countSince, EDU0, holds, MEMORY_LOCK, openDevice, type Opened, PROT_RW, runAll, setMem, start, stepUntil, VMA_LOCK } from '../claims/helpers.js';

const EDU_ID = 0x010000edn;
const BAR0_LEN = 0x100000;
const BAR0_PAGES = BAR0_LEN / 4096;
const CFG_COMMAND = vfioPciIndexToOffset(VFIO_PCI_CONFIG_REGION_INDEX) + PCI_COMMAND;
const MMAP_LOCK = '&mm->mmap_lock';
const EXAMPLES = new URL('../../../examples/', import.meta.url);

function example(file: string): Scenario {
  const r = loadScenario(readFileSync(new URL(file, EXAMPLES), 'utf8'), file);
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.errors));
  return r.scenario;
}

function stepText(r: RunResult, thread: string, index: number): string {
  const s = r.steps.find((x) => x.thread === thread && x.index === index);
  assert.ok(s !== undefined, `${thread} step ${index}`);
  return s.result;
}

/** A device opened under `variant` with its BAR0 mapped (not yet touched). */
function mapped(variant: string | Knobs, lockdep = true): Opened & { addr: number; mm: MmStruct } {
  const o = openDevice(EDU0, { variant, lockdep });
  const addr = unwrap(o.d.mmapRegion(0, { length: BAR0_LEN, prot: PROT_RW }));
  return { ...o, addr, mm: asMm(o.p.kproc.mm) };
}

function vdevOf(o: Opened) {
  const v = o.sys.vfioDevice(EDU0);
  assert.ok(v !== undefined);
  return v;
}

/** The task of a command-register write clearing MEM through the config region (the disable's zap). */
function clearMemTask(o: Opened): Task<number> {
  const cmd = unwrap(o.d.readConfig(PCI_COMMAND, 2)) & ~PCI_COMMAND_MEMORY;
  return o.p.ops.pwriteBytes(o.d.fd, new Uint8Array([cmd & 0xff, cmd >> 8]), CFG_COMMAND);
}

function faultResults(o: Opened, seq: number, addr: number): string[] {
  return o.sys.events.since(seq).flatMap((e) => (e.kind === 'fault' && e.addr >= addr && e.addr < addr + BAR0_LEN ? [e.result] : []));
}

function isSigbus(r: CpuAccessResult): boolean {
  return !r.ok && r.signal === 'SIGBUS';
}

// ---- H1: concurrent first faults on one vma ---------------------------------------------------

test('H1 (5.8 drop-before-remap): two threads first-touching one BAR vma both remap it — kernel BUG in remap_pte_range (examples/h1)', () => {
  const r = runScenario(example('h1-concurrent-first-fault.yaml'), { variant: '5.8' });
  assert.equal(r.bugs.length, 1);
  assert.equal(r.bugs[0]?.fn, 'remap_pte_range');
  assert.match(r.bugs[0]?.message ?? '', /BUG_ON\(!pte_none/);
});

test('H1 fixed (5.13 hold-across-remap, 6a45ece4c9af): the same schedule runs clean (examples/h1)', () => {
  const r = runScenario(example('h1-concurrent-first-fault.yaml'), { variant: '5.13' });
  assert.equal(r.bugs.length, 0);
  assert.equal(r.end.kind, 'done');
  assert.equal(stepText(r, 'lcore0', 1), '0x10000ed');
});

test('H1 fixed (5.13): a fault that waited for vma_lock finds the vma on vma_list and returns NOPAGE without a second remap; one tracking node', () => {
  const o = mapped('5.13');
  const vdev = vdevOf(o);
  const t0 = o.p.thread('lcore0');
  const t1 = o.p.thread('lcore1');
  const seq = o.sys.events.lastSeq;
  start(o.sys, t0.kthread, t0.ops.load(o.addr, 4), 'load');
  assert.ok(stepUntil(o.sys, t0.kthread, () => holds(t0.kthread, MEMORY_LOCK, 'r')), 'first fault holds vma_lock and memory_lock');
  assert.ok(holds(t0.kthread, VMA_LOCK));
  start(o.sys, t1.kthread, t1.ops.load(o.addr + 0x1000, 4), 'load');
  stepUntil(o.sys, t1.kthread, () => t1.kthread.state !== 'runnable');
  assert.equal(t1.kthread.state, 'blocked', 'the second fault waits for vma_lock');
  runAll(o.sys);
  assert.equal((t0.kthread.result as CpuAccessResult).ok, true);
  assert.equal((t1.kthread.result as CpuAccessResult).ok, true);
  assert.equal(vdev.vmaList.length, 1, 'one tracking node');
  assert.equal(countSince(o.sys, seq, 'pte.install', (e) => e.fn === 'remap_pfn_range'), 1, 'one remap');
  assert.deepEqual(faultResults(o, seq, o.addr), ['NOPAGE', 'NOPAGE']);
  assert.equal(o.sys.events.count('bug'), 0);
});

// ---- H2: a fault racing a disable -------------------------------------------------------------

test('H2 (5.8): a MEM disable zaps between the fault\'s node push and its remap; the remap leaves live PTEs on an untracked vma and the next load is an Unsupported Request', () => {
  const o = mapped('5.8');
  const vdev = vdevOf(o);
  const vcpu = o.p.thread('vcpu');
  start(o.sys, vcpu.kthread, vcpu.ops.load(o.addr, 4), 'load');
  assert.ok(
    stepUntil(o.sys, vcpu.kthread, () => vdev.vmaList.length === 1 && !holds(vcpu.kthread, VMA_LOCK)),
    'the fault pushed its node and dropped vma_lock',
  );
  assert.ok(holds(vcpu.kthread, MEMORY_LOCK, 'r'), 'still before the remap, memory_lock read-held');
  assert.equal(o.mm.presentPtes(o.addr, o.addr + BAR0_LEN), 0);
  const seq = o.sys.events.lastSeq;
  start(o.sys, o.p.kthread, clearMemTask(o), 'clear MEM');
  stepUntil(o.sys, o.p.kthread, () => o.p.kthread.state !== 'runnable');
  assert.equal(o.p.kthread.state, 'blocked', 'the disabler waits in down_write(memory_lock)');
  assert.equal(vdev.vmaList.length, 0, 'the zap removed the node');
  assert.equal(countSince(o.sys, seq, 'pte.zap', (e) => e.present === 0), 1, 'and zapped an empty range');
  runAll(o.sys);
  assert.equal(o.p.kthread.result, 2, 'the command write completed');
  assert.equal(unwrap(o.d.readConfig(PCI_COMMAND, 2)) & PCI_COMMAND_MEMORY, 0, 'MEM is clear');
  assert.equal(vdev.vmaList.length, 0, 'nothing tracks the vma');
  assert.equal(o.mm.presentPtes(o.addr, o.addr + BAR0_LEN), BAR0_PAGES, 'but its PTEs are live');
  const ur = o.sys.platformErrors;
  const r = o.p.load(o.addr, 4);
  assert.deepEqual(r, { ok: true, value: 0xffffffffn });
  assert.equal(o.sys.platformErrors, ur + 1, 'an Unsupported Request');
});

test('H2 fixed (5.13): the disabler waits for vma_lock across the remap, then zaps the mapped vma; no PTE survives and the next load gets SIGBUS', () => {
  const o = mapped('5.13');
  const vdev = vdevOf(o);
  const vcpu = o.p.thread('vcpu');
  start(o.sys, vcpu.kthread, vcpu.ops.load(o.addr, 4), 'load');
  assert.ok(stepUntil(o.sys, vcpu.kthread, () => holds(vcpu.kthread, MEMORY_LOCK, 'r')));
  start(o.sys, o.p.kthread, clearMemTask(o), 'clear MEM');
  stepUntil(o.sys, o.p.kthread, () => o.p.kthread.state !== 'runnable');
  assert.equal(o.p.kthread.state, 'blocked', 'the zapper waits for vma_lock');
  runAll(o.sys);
  assert.equal(vdev.vmaList.length, 0);
  assert.equal(o.mm.presentPtes(o.addr, o.addr + BAR0_LEN), 0, 'no live PTE after the disable');
  const ur = o.sys.platformErrors;
  assert.ok(isSigbus(o.p.load(o.addr, 4)));
  assert.equal(o.sys.platformErrors, ur);
});

test('H2 example (examples/h2-fault-races-disable.yaml): one Unsupported Request under 5.8; under 5.13 the same schedule (a list of events, not step counts) leaves no live mapping: the load after the disable gets SIGBUS, no Unsupported Request', () => {
  const s = example('h2-fault-races-disable.yaml');
  const r58 = runScenario(s, { variant: '5.8' });
  assert.ok(r58.ok);
  assert.equal(r58.platformErrors.length, 1);
  assert.equal(stepText(r58, 'vcpu', 2), '0xffffffff');
  assert.deepEqual(r58.scheduleWarnings, []);
  const r513 = runScenario(s, { variant: '5.13' });
  assert.equal(r513.platformErrors.length, 0);
  assert.match(stepText(r513, 'vcpu', 2), /SIGBUS/);
});

// ---- patch v1: trylock + retry ---------------------------------------------------------------

/**
 * A kernel path that faults `addr` in without allowing retry, as
 * fault_in_user_writeable (kernel/futex.c, 5.8) does for a private futex word: under
 * mmap_read_lock, fixup_user_fault(mm, addr, FAULT_FLAG_WRITE, NULL). (type1's
 * MAP_DMA is not such a caller: it passes &unlocked.)
 */
function* faultInUserWriteable(o: Opened & { mm: MmStruct }, addr: number): Task<number> {
  const fn = 'fault_in_user_writeable';
  yield* o.mm.mmapLock.downRead(fn);
  const r = yield* fixupUserFault(o.sys.kernel, o.mm, addr, FAULT_FLAG_WRITE, null);
  yield* o.mm.mmapLock.upRead(fn);
  return r;
}

/** Start VFIO_DEVICE_RESET on the main thread and step it until it holds memory_lock for write. */
function resetHoldingMemoryLock(o: Opened): void {
  start(o.sys, o.p.kthread, o.p.ops.ioctl(o.d.fd, VFIO_DEVICE_RESET, 0), 'reset');
  assert.ok(stepUntil(o.sys, o.p.kthread, () => holds(o.p.kthread, MEMORY_LOCK, 'w')), 'the reset holds memory_lock for write');
}

test('v1 (trylock-retry): a fault that cannot retry (futex fault_in_user_writeable → fixup_user_fault, unlocked == NULL) gets VM_FAULT_SIGBUS → -EFAULT while a reset holds memory_lock, although memory is enabled', () => {
  const o = mapped('v1');
  const kt = o.p.thread('kworker').kthread;
  resetHoldingMemoryLock(o);
  const seq = o.sys.events.lastSeq;
  start(o.sys, kt, faultInUserWriteable(o, o.addr), 'fixup_user_fault');
  stepUntil(o.sys, kt, () => kt.state !== 'runnable');
  assert.equal(kt.state, 'done', 'it did not wait');
  assert.equal(kt.result, -EFAULT);
  assert.deepEqual(faultResults(o, seq, o.addr), ['SIGBUS']);
  runAll(o.sys);
  assert.equal(o.p.kthread.result, 0, 'the reset completed');
  assert.notEqual(unwrap(o.d.readConfig(PCI_COMMAND, 2)) & PCI_COMMAND_MEMORY, 0, 'memory was enabled all along');
});

test('v1 fixed (5.8 drop-before-remap): the same no-retry fault sleeps on memory_lock until the reset ends, then maps the vma (0)', () => {
  const o = mapped('5.8');
  const kt = o.p.thread('kworker').kthread;
  resetHoldingMemoryLock(o);
  start(o.sys, kt, faultInUserWriteable(o, o.addr), 'fixup_user_fault');
  stepUntil(o.sys, kt, () => kt.state !== 'runnable');
  assert.equal(kt.state, 'blocked', 'the fault sleeps');
  runAll(o.sys);
  assert.equal(kt.result, 0);
  assert.equal(o.mm.presentPtes(o.addr, o.addr + BAR0_LEN), BAR0_PAGES);
});

test('v1 retry path: a CPU load during a reset — trylock fails, the fault drops mmap_lock, waits for memory_lock, returns VM_FAULT_RETRY, and the retried fault maps the BAR', () => {
  const o = mapped('v1');
  assert.ok(o.p.load(o.addr, 4).ok, 'populated before the reset');
  const vcpu = o.p.thread('vcpu');
  resetHoldingMemoryLock(o);
  // v1 zaps after taking memory_lock: let the zap walk finish
  assert.ok(stepUntil(o.sys, o.p.kthread, () => !holds(o.p.kthread, VMA_LOCK) && !holds(o.p.kthread, MMAP_LOCK) && o.mm.presentPtes(o.addr, o.addr + BAR0_LEN) === 0));
  assert.ok(holds(o.p.kthread, MEMORY_LOCK, 'w'));
  const seq = o.sys.events.lastSeq;
  start(o.sys, vcpu.kthread, vcpu.ops.load(o.addr + 0x8, 4), 'load');
  stepUntil(o.sys, vcpu.kthread, () => vcpu.kthread.state !== 'runnable');
  assert.equal(vcpu.kthread.state, 'blocked', 'the fault waits for memory_lock');
  assert.ok(!holds(vcpu.kthread, MMAP_LOCK), 'with mmap_lock dropped');
  runAll(o.sys);
  assert.equal(o.p.kthread.result, 0);
  const r = vcpu.kthread.result as CpuAccessResult;
  assert.equal(r.ok, true, r.ok ? '' : `${r.signal} at 0x${r.addr.toString(16)}`);
  assert.deepEqual(faultResults(o, seq, o.addr), ['RETRY', 'NOPAGE']);
  assert.equal(countSince(o.sys, seq, 'signal'), 0);
});

test('v1 retry path: VFIO_IOMMU_MAP_DMA during a reset succeeds — type1 passes &unlocked to fixup_user_fault (ALLOW_RETRY), the fault returns VM_FAULT_RETRY and vaddr_get_pfn retries', () => {
  const o = mapped('v1');
  const t = o.p.thread('dma');
  const buf = o.p.alloc(64);
  const iova = 0x1000_0000;
  assert.ok(o.p.writeBytes(buf, encodeDmaMap({ flags: VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE, vaddr: o.addr, iova, size: BAR0_LEN })).ok);
  resetHoldingMemoryLock(o);
  const seq = o.sys.events.lastSeq;
  start(o.sys, t.kthread, t.ops.ioctl(o.c.fd, VFIO_IOMMU_MAP_DMA, buf), 'MAP_DMA');
  stepUntil(o.sys, t.kthread, () => t.kthread.state !== 'runnable');
  assert.equal(t.kthread.state, 'blocked');
  runAll(o.sys);
  assert.equal(t.kthread.result, 0, 'MAP_DMA succeeded');
  assert.deepEqual(faultResults(o, seq, o.addr), ['RETRY', 'NOPAGE']);
  assert.ok(countSince(o.sys, seq, 'iommu.map') >= 1);
});

test('v1 retry example (examples/v1-retry-on-contention.yaml): MAP_DMA during a reset succeeds after a VM_FAULT_RETRY under v1; under 5.8 the fault sleeps instead and never retries', () => {
  const s = example('v1-retry-on-contention.yaml');
  const retries = (r: RunResult): number => r.events.filter((e) => e.kind === 'fault' && e.result === 'RETRY').length;
  const v1 = runScenario(s);
  assert.ok(v1.ok);
  assert.equal(retries(v1), 1);
  const v58 = runScenario(s, { variant: '5.8' });
  assert.ok(v58.ok);
  assert.equal(retries(v58), 0);
  assert.ok(v58.events.some((e) => e.kind === 'lock.contended' && e.cls === MEMORY_LOCK && e.fn === 'vfio_pci_mmap_fault'));
});

test('v1 (trylock-retry): with FAULT_FLAG_RETRY_NOWAIT a contended fault returns VM_FAULT_RETRY at once, mmap_lock still held', () => {
  const o = mapped('v1');
  const kt = o.p.thread('kworker').kthread;
  resetHoldingMemoryLock(o);
  const vma = findVma(o.mm, o.addr);
  assert.ok(vma !== null);
  const k = o.sys.kernel;
  const flags = FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE | FAULT_FLAG_RETRY_NOWAIT;
  let stillHeld = false;
  start(o.sys, kt, (function* (): Task<number> {
    yield* o.mm.mmapLock.downRead('nowait_caller');
    const r = yield* handleMmFault(k, vma, o.addr, flags);
    stillHeld = o.mm.mmapLock.readers.includes(kt);
    yield* o.mm.mmapLock.upRead('nowait_caller');
    return r;
  })(), 'nowait');
  stepUntil(o.sys, kt, () => kt.state !== 'runnable');
  assert.equal(kt.state, 'done', 'no wait');
  assert.equal(kt.result, VM_FAULT_RETRY);
  assert.ok(stillHeld, 'mmap_lock not dropped');
  runAll(o.sys);
});

test('v1 zap order (memory-lock-first): a MEM disable takes memory_lock for write before the mmap_lock → vma_lock zap walk; lockdep records memory_lock → mmap_lock and reports nothing; 5.8 records vma_lock → memory_lock instead', () => {
  const v1 = mapped('v1');
  assert.ok(v1.p.load(v1.addr, 4).ok);
  const seq = v1.sys.events.lastSeq;
  setMem(v1.d, false);
  const order = v1.sys.events.since(seq).flatMap((e) => (e.kind === 'lock.acquire' && [MEMORY_LOCK, MMAP_LOCK, VMA_LOCK].includes(e.cls) ? [e.cls] : []));
  assert.deepEqual(order.slice(0, 4), [MEMORY_LOCK, VMA_LOCK, MMAP_LOCK, VMA_LOCK], 'memory_lock, then the walk: vma_lock (list), mmap_lock, vma_lock');
  assert.ok(isSigbus(v1.p.load(v1.addr, 4)), 'the mapping was zapped');
  const ld = v1.sys.lockdep;
  assert.ok(ld !== null);
  assert.ok(ld.hasDependency(MEMORY_LOCK, MMAP_LOCK));
  assert.ok(!ld.hasDependency(MMAP_LOCK, MEMORY_LOCK) && !ld.hasDependency(VMA_LOCK, MEMORY_LOCK), 'the fault\'s trylock adds no dependency');
  assert.equal(ld.reports.length, 0);

  const v58 = mapped('5.8');
  assert.ok(v58.p.load(v58.addr, 4).ok);
  setMem(v58.d, false);
  const ld58 = v58.sys.lockdep;
  assert.ok(ld58 !== null);
  assert.ok(ld58.hasDependency(VMA_LOCK, MEMORY_LOCK));
  assert.ok(!ld58.hasDependency(MEMORY_LOCK, MMAP_LOCK));
});

// ---- H9: vm_flags stored under a read-held mmap_lock ---------------------------------------------

function h9Warnings(o: Opened, seq = 0): string[] {
  return o.sys.events.since(seq).flatMap((e) => (e.kind === 'warn' && e.fn === 'mmap_assert_write_locked' ? [e.message] : []));
}

function h9Defects(o: Opened, seq = 0): string[] {
  return o.sys.events.since(seq).flatMap((e) => (e.kind === 'mm.vm-flags' ? [e.fn] : []));
}

for (const variant of ['5.8', '5.13', '5.19', '6.1', '6.1.y', '6.6']) {
  test(`H9 (${variant}): remap_pfn_range from vfio_pci_mmap_fault changes vm_flags with mmap_lock read-held — the defect is recorded once per vma (mm.vm-flags), on every vma_list kernel`, () => {
    const o = mapped(variant);
    assert.ok(o.p.load(o.addr, 4).ok);
    assert.deepEqual(h9Defects(o), ['remap_pfn_range <- vfio_pci_mmap_fault']);
    // zap and refault the same vma: still one record for it; a second vma: a second one
    setMem(o.d, false);
    setMem(o.d, true);
    assert.ok(o.p.load(o.addr + 0x10, 4).ok);
    assert.equal(h9Defects(o).length, 1, 'once per vma');
    const addr2 = unwrap(o.d.mmapRegion(0, { length: 0x1000, prot: PROT_RW }));
    assert.ok(o.p.load(addr2, 4).ok);
    assert.equal(h9Defects(o).length, 2);
  });
}

for (const variant of ['5.8', '5.13', '5.19', '6.1', '6.1.y']) {
  test(`H9 prints nothing on ${variant}: before 6.3 remap_pfn_range stored vm_flags without any assertion (real 6.1 is silent), even with lockdep`, () => {
    const o = mapped(variant);
    assert.ok(o.p.load(o.addr, 4).ok);
    assert.equal(h9Defects(o).length, 1);
    assert.deepEqual(h9Warnings(o), []);
    assert.equal(o.sys.events.count('warn'), 0);
  });
}

test('H9 WARNING on 6.6 with lockdep (the debug config): vm_flags_set asserts mmap_assert_write_locked = lockdep_assert_held_write, once per vma', () => {
  const o = mapped('6.6');
  assert.ok(o.p.load(o.addr, 4).ok);
  const w = h9Warnings(o);
  assert.equal(w.length, 1);
  assert.match(w[0] ?? '', /vm_flags_set/);
  assert.match(w[0] ?? '', /&mm->mmap_lock held for read, not write \(lockdep_assert_held_write\)/);
  assert.match(w[0] ?? '', /remap_pfn_range <- vfio_pci_mmap_fault/);
  setMem(o.d, false);
  setMem(o.d, true);
  assert.ok(o.p.load(o.addr + 0x10, 4).ok);
  assert.equal(h9Warnings(o).length, 1, 'once per vma');
});

test('H9 on 6.6 without lockdep (kernelConfig distro, as Debian ships): lockdep_assert_held_write compiles to nothing — the defect, no WARNING', () => {
  const o = openDevice(EDU0, { variant: '6.6', kernelConfig: 'distro' });
  assert.equal(o.sys.lockdep, null, 'a distro kernel has no lockdep');
  const addr = unwrap(o.d.mmapRegion(0, { length: BAR0_LEN, prot: PROT_RW }));
  assert.ok(o.p.load(addr, 4).ok);
  assert.equal(h9Defects(o).length, 1);
  assert.deepEqual(h9Warnings(o), []);
  assert.throws(() => new System({ variant: '6.6', kernelConfig: 'distro', lockdep: true }), /lockdep needs kernelConfig 'debug'/);
});

test('H9 WARNING with ba168b52bf8e (knob vmFlagsAssert always, 6.10-rc1 on): rwsem_assert_held_write warns without lockdep too', () => {
  const knobs: Knobs = { ...VARIANT_6_1.knobs, vmFlagsAssert: 'always' };
  const o = openDevice(EDU0, { variant: knobs, lockdep: false });
  const addr = unwrap(o.d.mmapRegion(0, { length: BAR0_LEN, prot: PROT_RW }));
  assert.ok(o.p.load(addr, 4).ok);
  assert.equal(h9Warnings(o).length, 1);
  assert.match(h9Warnings(o)[0] ?? '', /\(rwsem_assert_held_write\)/);
});

test('H9 absent (5.7 remap-at-mmap): remap_pfn_range runs in vfio_pci_mmap under the mmap_lock write lock — no warning', () => {
  const o = mapped('5.7');
  assert.equal(o.mm.presentPtes(o.addr, o.addr + BAR0_LEN), BAR0_PAGES, 'mapped at mmap time');
  assert.deepEqual(o.p.load(o.addr, 4), { ok: true, value: EDU_ID });
  assert.equal(h9Warnings(o).length, 0);
  assert.equal(o.sys.events.count('warn'), 0);
});

// ---- H10: fork order ------------------------------------------------------------------------------

const KNOBS_6_1_NEW_FORK: Knobs = { ...VARIANT_6_1.knobs, forkOpenBeforeCopy: true };

function forkAfterTouch(variant: string | Knobs, openBeforeCopy?: boolean): { o: ReturnType<typeof mapped>; child: Process } {
  const o = mapped(variant);
  assert.deepEqual(o.p.load(o.addr, 4), { ok: true, value: EDU_ID });
  const child = o.p.fork(openBeforeCopy);
  assert.ok(typeof child !== 'number', `fork: ${String(child)}`);
  return { o, child };
}

test('H10 (6.1 + forkOpenBeforeCopy, 35e351780fa9): vm_ops->open zaps the child\'s empty vma before copy_page_range copies live PTEs; vma_list never tracks them and after a MEM disable the child\'s load is an Unsupported Request', () => {
  const { o, child } = forkAfterTouch(KNOBS_6_1_NEW_FORK);
  const vdev = vdevOf(o);
  const cmm = asMm(child.kproc.mm);
  assert.equal(cmm.presentPtes(o.addr, o.addr + BAR0_LEN), BAR0_PAGES, 'the child kept the copied PTEs');
  assert.equal(vdev.vmaList.length, 1, 'only the parent\'s vma is tracked');
  setMem(o.d, false);
  assert.ok(isSigbus(o.p.load(o.addr, 4)), 'the parent\'s mapping was zapped');
  const ur = o.sys.platformErrors;
  assert.deepEqual(child.load(o.addr, 4), { ok: true, value: 0xffffffffn });
  assert.equal(o.sys.platformErrors, ur + 1);
});

test('H10 absent (6.1, old fork order): open runs after the copy and zaps the child\'s PTEs; the child refaults, is tracked, and gets SIGBUS after the disable', () => {
  const { o, child } = forkAfterTouch('6.1');
  const cmm = asMm(child.kproc.mm);
  assert.equal(cmm.presentPtes(o.addr, o.addr + BAR0_LEN), 0);
  assert.ok(child.load(o.addr, 4).ok);
  assert.equal(vdevOf(o).vmaList.length, 2);
  setMem(o.d, false);
  const ur = o.sys.platformErrors;
  assert.ok(isSigbus(child.load(o.addr, 4)));
  assert.equal(o.sys.platformErrors, ur);
});

test('H10 on the 6.1.y preset (6.1.191+, Debian 12\'s 6.1.192, which carry 35e351780fa9): a child forked after its parent touched the BAR keeps accessing it after the parent clears MEM (no SIGBUS), and after MEM is set again its next access takes no fault', () => {
  const { o, child } = forkAfterTouch('6.1.y');
  setMem(o.d, false);
  const ur = o.sys.platformErrors;
  const st = child.store(o.addr + 0x4, 4, 0x1234n);
  assert.ok(st.ok, 'the child\'s store takes no SIGBUS');
  assert.ok(child.load(o.addr, 4).ok, 'nor does its load');
  assert.equal(o.sys.platformErrors, ur + 2, 'both reach the device that does not decode');
  setMem(o.d, true);
  const faults = o.sys.events.count('fault');
  assert.deepEqual(child.load(o.addr, 4), { ok: true, value: EDU_ID });
  assert.equal(o.sys.events.count('fault'), faults, 'the stale PTE serves the access: no fault');
});

test('6.1 is 6.1.0: the 6.1 preset keeps the old fork order, 6.1.y differs from it only by forkOpenBeforeCopy', () => {
  const a = findVariant('6.1');
  const b = findVariant('6.1.y');
  assert.ok(a !== undefined && b !== undefined);
  assert.equal(a.knobs.forkOpenBeforeCopy, false);
  assert.deepEqual({ ...b.knobs, forkOpenBeforeCopy: false }, a.knobs);
});

test('fork order: an explicit openBeforeCopy argument overrides the knob both ways', () => {
  const a = forkAfterTouch(KNOBS_6_1_NEW_FORK, false);
  assert.equal(asMm(a.child.kproc.mm).presentPtes(a.o.addr, a.o.addr + BAR0_LEN), 0, 'old order on request');
  const b = forkAfterTouch('6.1', true);
  assert.equal(asMm(b.child.kproc.mm).presentPtes(b.o.addr, b.o.addr + BAR0_LEN), BAR0_PAGES, 'new order on request');
});

test('H10 example (examples/h10-fork-stale-mapping.yaml, variant 6.1.y): one Unsupported Request; none, and a SIGBUS, with the scenario\'s fork forced to the old order', () => {
  const s = example('h10-fork-stale-mapping.yaml');
  const on = runScenario(s);
  assert.ok(on.ok);
  assert.equal(on.platformErrors.length, 1);
  const off = runScenario(s, { knobs: { forkOpenBeforeCopy: false } });
  assert.equal(off.platformErrors.length, 0);
  assert.match(stepText(off, 'child', 1), /SIGBUS/);
});
