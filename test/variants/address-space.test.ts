/**
 * The 6.10 and 6.12 designs (spec §5 Variants E and F): the per-device inode address
 * space, zap = down_write(memory_lock) then unmap_mapping_range, faults that insert pfns
 * (the whole vma in 6.10, PMD/PUD leaves in 6.12), and the hot reset without vma_lock.
 * Driven from the user side: processes, threads, fork and the typed VFIO client.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defineDevice, endpoint, rootPort, type DeviceDefinition, type MachineSpec } from '../../src/hw/index.js';
import { asMm, findVma, type MmStruct } from '../../src/kernel/mm/mm.js';
import { vmFlagsChangedUnderReadLock, vmFlagsWrittenUnderReadLock } from '../../src/kernel/mm/memory.js';
import { MAP_SHARED, VM_DONTDUMP, VM_DONTEXPAND, VM_IO, VM_PFNMAP, type Vma } from '../../src/kernel/mm/types.js';
import { I_MMAP_RWSEM_CLASS } from '../../src/kernel/mm/address-space.js';
import type { KThread } from '../../src/kernel/sched/thread.js';
import { vfioDeviceMapping } from '../../src/kernel/vfio/vfio-fs.js';
import type { VfioPciDevice } from '../../src/kernel/vfio/pci/vfio-pci-device.js';
import { System } from '../../src/system.js';
import type { CpuAccessResult, Process } from '../../src/user/process.js';
import { unwrap, type VfioDeviceHandle } from '../../src/user/vfio-client.js';
import { encodePciHotReset, VFIO_DEVICE_PCI_HOT_RESET, vfioPciIndexToOffset } from '../../src/uapi/vfio.js';
import { countSince, EDU0, holds, MEMORY_LOCK, openDevice, PAGE, PROT_RW, runAll, setMem, start, stepUntil, VMA_LOCK } from '../claims/helpers.js';

const EDU_ID = 0x010000edn;
const EDU_BAR0 = 0x100000;
const MiB = 1 << 20;
const GiB = 2 ** 30;
/** A free, 1 GiB-aligned user address (below the top-down mmap area) for MAP_FIXED-free hints. */
const HINT = 0x7e00_0000_0000;

function mmOf(p: Process): MmStruct {
  return asMm(p.kproc.mm);
}

function ptes(p: Process, addr: number, len: number): number {
  return mmOf(p).presentPtes(addr, addr + len);
}

function vmaAt(p: Process, addr: number): Vma {
  const v = findVma(p.kproc.mm, addr);
  assert.ok(v !== null && v.start <= addr, `a vma at 0x${addr.toString(16)}`);
  return v;
}

function vpci(sys: System, name: string): VfioPciDevice {
  const v = sys.vfioPci.devices.find((d) => d.name === name);
  assert.ok(v);
  return v;
}

function forked(p: Process): Process {
  const c = p.fork(true); // the dup_mmap order of 35e351780fa9, as 6.10 has it
  assert.ok(typeof c !== 'number', `fork failed: ${String(c)}`);
  return c;
}

function sigbus(r: CpuAccessResult): boolean {
  return !r.ok && r.signal === 'SIGBUS';
}

/** mmap(hint, len, rw, MAP_SHARED, device fd, region offset + off) at exactly `hint`. */
function mmapAt(p: Process, d: VfioDeviceHandle, hint: number, index: number, off: number, len: number): number {
  const a = p.mmap(hint, len, PROT_RW, MAP_SHARED, d.fd, vfioPciIndexToOffset(index) + off);
  assert.equal(a, hint, `mmap at the hint 0x${hint.toString(16)} (got ${a})`);
  return a;
}

// ---- 6.10 ------------------------------------------------------------------------

test('6.10 mmap: vm_pgoff keeps the region encoding, VM_IO|VM_PFNMAP|VM_DONTEXPAND|VM_DONTDUMP, vm_ops has only fault, no PTEs', () => {
  const { p, d } = openDevice(EDU0, { variant: '6.10' });
  const addr = unwrap(d.mmapRegion(0, { length: 0x20000, prot: PROT_RW, offset: 0x10000 }));
  const vma = vmaAt(p, addr);
  assert.equal(vma.pgoff, 0x10000 / PAGE, 'index 0 << 28 | page offset 16: not rewritten to the pfn');
  const want = VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP;
  assert.equal(vma.flags & want, want);
  assert.ok(vma.ops !== null && vma.ops.fault !== undefined);
  assert.equal(vma.ops.open, undefined, 'no open');
  assert.equal(vma.ops.close, undefined, 'no close');
  assert.equal(vma.ops.hugeFault, undefined, '6.10 has no huge_fault');
  assert.equal(ptes(p, addr, 0x20000), 0, 'mmap installs nothing');
  // edu has no BAR3: index 3 of the same encoding is refused
  const vma3 = p.mmap(0, PAGE, PROT_RW, MAP_SHARED, d.fd, vfioPciIndexToOffset(3));
  assert.equal(vma3, -22);
});

test('6.10 fault (d71a989cf5d9): the first touch inserts the faulting page, then pre-faults the whole vma; a second touch does not fault', () => {
  const { sys, p, d } = openDevice(EDU0, { variant: '6.10' });
  const addr = unwrap(d.mmapRegion(0, { length: 0x20000, prot: PROT_RW, offset: 0x10000 }));
  const seq = sys.events.lastSeq;
  assert.ok(p.load(addr + 0x8000, 4).ok);
  assert.equal(countSince(sys, seq, 'fault'), 1);
  assert.equal(ptes(p, addr, 0x20000), 0x20, 'every page of the vma');
  const bar = sys.hw.fn(EDU0).resource(0);
  assert.ok(bar !== null);
  const pt = mmOf(p).pt;
  for (const off of [0, 0x8000, 0x1f000]) {
    assert.equal(pt.get((addr + off) / PAGE)?.pfn, (bar.start + 0x10000 + off) / PAGE, `pfn of page +0x${off.toString(16)} = BAR start + offset`);
  }
  const installs = sys.events.since(seq).filter((e) => e.kind === 'pte.install');
  assert.ok(installs.length >= 2 && installs.every((e) => e.kind === 'pte.install' && e.fn === 'vmf_insert_pfn'), 'the faulting page first, then the rest');
  const first = installs[0];
  assert.ok(first !== undefined && first.kind === 'pte.install' && first.start === addr + 0x8000 && first.end === addr + 0x9000);
  const seq2 = sys.events.lastSeq;
  assert.ok(p.load(addr, 4).ok);
  assert.equal(countSince(sys, seq2, 'fault'), 0);
});

test('6.10 (H10 absent): clearing MEM zaps every mapping of the device — two fds, a split vma, a forked child\'s copied PTEs and a child\'s own mmap', () => {
  const { sys, p, g, d } = openDevice(EDU0, { variant: '6.10' });
  const d2 = unwrap(g.getDevice(EDU0)); // a second device fd: same inode, same address space
  const a = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  const b = unwrap(d2.mmapRegion(0, { length: 0x4000, prot: PROT_RW }));
  assert.equal(p.load(a, 4).ok && p.load(b, 4).ok, true);
  // munmap the middle of `a`: two vmas, both still in the mapping
  assert.equal(p.munmap(a + 0x40000, 0x10000), 0);
  const copy = forked(p); // copied PTEs (dup_mmap: open, link into i_mmap, copy_page_range)
  assert.equal(ptes(copy, a, EDU_BAR0), EDU_BAR0 / PAGE - 0x10, 'the child inherits the live PTEs');
  const own = forked(p);
  const c = own.mmap(0, 0x8000, PROT_RW, MAP_SHARED, d.fd, 0x8000); // the child's own mmap of the inherited fd
  assert.ok(c > 0);
  assert.ok(own.load(c, 4).ok, 'the child\'s own mapping works');
  const mapping = vfioDeviceMapping(sys.kernel, vpci(sys, EDU0).vdev ?? assert.fail('vfio device'));
  const before = mapping.iMmap.length;
  assert.equal(before, 3 + 3 + 3 + 1, 'parent: 2 pieces + the second fd; each child: 3 copies; plus the child\'s own');
  const seq = sys.events.lastSeq;
  setMem(d, false);
  assert.equal(countSince(sys, seq, 'vfio.zap', (e) => e.fn === 'vfio_pci_zap_bars' && e.vmas === before), 1);
  for (const [who, proc] of [['parent', p], ['fork copy', copy], ['fork with own mmap', own]] as const) {
    assert.equal(ptes(proc, a, EDU_BAR0) + ptes(proc, b, 0x4000), 0, `${who}: no PTE left`);
    assert.ok(sigbus(proc.load(a, 4)), `${who}: touch is SIGBUS`);
    assert.ok(sigbus(proc.load(a + 0x50000, 4)), `${who}: the upper split piece too`);
  }
  assert.equal(ptes(own, c, 0x8000), 0);
  assert.ok(sigbus(own.load(c, 4)));
  assert.deepEqual(d.readRegion(0, 0, 4), { ok: false, errno: 5 }, 'read is -EIO');
  assert.equal(sys.platformErrors, 0, 'nothing reached the non-decoding device');
  setMem(d, true);
  for (const proc of [p, copy]) assert.deepEqual(proc.load(a, 4), { ok: true, value: EDU_ID }, 're-enabled: refault works');
  assert.ok(own.load(c, 4).ok);
  assert.deepEqual(p.load(b, 4), { ok: true, value: EDU_ID });
});

test('6.10 i_mmap: munmap and exit unlink the vmas; a zap then finds nothing', () => {
  const { sys, p, d } = openDevice(EDU0, { variant: '6.10' });
  const mapping = vfioDeviceMapping(sys.kernel, vpci(sys, EDU0).vdev ?? assert.fail('vfio device'));
  const a = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  assert.ok(p.load(a, 4).ok);
  const child = forked(p);
  assert.equal(mapping.iMmap.length, 2);
  child.exit();
  assert.equal(mapping.iMmap.length, 1, 'exit_mmap unlinked the child\'s vma');
  assert.equal(p.munmap(a, EDU_BAR0), 0);
  assert.equal(mapping.iMmap.length, 0);
  const seq = sys.events.lastSeq;
  setMem(d, false);
  assert.equal(countSince(sys, seq, 'vfio.zap', (e) => e.vmas === 0), 1);
  assert.equal(countSince(sys, seq, 'pte.zap'), 0);
});

test('6.10 (H9 absent): the fault never writes vm_flags under the read-held mmap_lock; 6.1 (remap_pfn_range in the fault) does', () => {
  const r610 = openDevice(EDU0, { variant: '6.10' });
  const a = unwrap(r610.d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  assert.ok(r610.p.load(a, 4).ok);
  assert.equal(vmFlagsWrittenUnderReadLock(vmaAt(r610.p, a)), false);
  assert.equal(vmFlagsChangedUnderReadLock(vmaAt(r610.p, a)), false);
  const r61 = openDevice(EDU0, { variant: '6.1' });
  const b = unwrap(r61.d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  assert.ok(r61.p.load(b, 4).ok);
  assert.equal(vmFlagsWrittenUnderReadLock(vmaAt(r61.p, b)), true, 'the vma_list design stores vm_flags from the fault');
});

test('6.10 (H1 absent): concurrent first faults on one vma interleave without a BUG; vmf_insert_pfn skips present PTEs', () => {
  const { sys, p, d } = openDevice(EDU0, { variant: '6.10' });
  // straddle a page-table page (2 MiB) boundary: the prefault takes two steps
  const addr = mmapAt(p, d, HINT + 2 * MiB - EDU_BAR0 / 2, 0, 0, EDU_BAR0);
  const t1 = p.thread('vcpu0');
  const t2 = p.thread('vcpu1');
  start(sys, t1.kthread, t1.ops.load(addr, 4), 'load');
  start(sys, t2.kthread, t2.ops.load(addr + 0x90000, 4), 'load'); // in the second page-table page
  assert.ok(stepUntil(sys, t1.kthread, () => holds(t1.kthread, MEMORY_LOCK, 'r')), 'vcpu0 in the fault');
  assert.ok(stepUntil(sys, t2.kthread, () => holds(t2.kthread, MEMORY_LOCK, 'r')), 'vcpu1 in the fault at the same time');
  // vcpu0 inserts its page and part of the prefault, then vcpu1 runs its whole fault
  assert.ok(stepUntil(sys, t1.kthread, () => ptes(p, addr, EDU_BAR0) > 1));
  assert.ok(ptes(p, addr, EDU_BAR0) < EDU_BAR0 / PAGE, 'vcpu0 is mid-prefault');
  stepUntil(sys, t2.kthread, () => t2.kthread.state !== 'runnable');
  let i = 0;
  const end = sys.kernel.sched.run((rs) => rs[i++ % rs.length] as KThread);
  assert.equal(end.kind, 'done');
  assert.deepEqual(t1.kthread.result, { ok: true, value: EDU_ID });
  assert.equal((t2.kthread.result as CpuAccessResult).ok, true);
  assert.equal(sys.events.count('bug'), 0);
  assert.equal(ptes(p, addr, EDU_BAR0), EDU_BAR0 / PAGE);
});

test('6.10 lock order: a MEM disable with live mappings takes memory_lock (W) then i_mmap_rwsem (R); lockdep stays quiet; no vma_lock anywhere', () => {
  const { sys, p, d } = openDevice(EDU0, { variant: '6.10' });
  const a = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  assert.ok(p.load(a, 4).ok);
  forked(p);
  setMem(d, false);
  assert.ok(sigbus(p.load(a, 4)));
  setMem(d, true);
  assert.ok(p.load(a, 4).ok);
  const ld = sys.lockdep;
  assert.ok(ld !== null);
  assert.deepEqual(ld.reports, []);
  assert.ok(ld.hasDependency(MEMORY_LOCK, I_MMAP_RWSEM_CLASS), 'zap: memory_lock → i_mmap_rwsem');
  assert.ok(ld.hasDependency('&mm->mmap_lock', MEMORY_LOCK), 'fault: mmap_lock → memory_lock');
  assert.ok(ld.hasDependency('&mm->mmap_lock', I_MMAP_RWSEM_CLASS), 'mmap/fork/munmap: mmap_lock → i_mmap_rwsem');
  assert.equal(ld.hasDependency(MEMORY_LOCK, '&mm->mmap_lock'), false, 'nothing takes mmap_lock under memory_lock');
  assert.equal(ld.hasDependency(I_MMAP_RWSEM_CLASS, MEMORY_LOCK), false);
  assert.equal(sys.events.all().filter((e) => e.kind === 'lock.acquire' && e.cls === VMA_LOCK).length, 0);
});

test('6.10 hot reset: per device trylock memory_lock then zap; -EBUSY while a fault holds memory_lock; no vma_lock', () => {
  const { sys, p, g, d } = openDevice(EDU0, { variant: '6.10' });
  const addr = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  const vcpu = p.thread('vcpu');
  start(sys, vcpu.kthread, vcpu.ops.load(addr, 4), 'load');
  assert.ok(stepUntil(sys, vcpu.kthread, () => holds(vcpu.kthread, MEMORY_LOCK, 'r')), 'the fault holds memory_lock');
  const buf = p.alloc(64);
  assert.ok(p.writeBytes(buf, encodePciHotReset({}, [g.fd])).ok);
  start(sys, p.kthread, p.ops.ioctl(d.fd, VFIO_DEVICE_PCI_HOT_RESET, buf), 'hot-reset');
  stepUntil(sys, p.kthread, () => p.kthread.state !== 'runnable');
  assert.equal(p.kthread.state, 'done', 'the trylock never sleeps');
  assert.equal(p.kthread.result, -16);
  runAll(sys);
  assert.deepEqual(vcpu.kthread.result, { ok: true, value: EDU_ID });
  assert.equal(ptes(p, addr, EDU_BAR0), EDU_BAR0 / PAGE);
  const seq = sys.events.lastSeq;
  assert.deepEqual(d.hotReset([g.fd]), { ok: true, value: undefined });
  assert.equal(countSince(sys, seq, 'vfio.zap', (e) => e.fn === 'vfio_pci_zap_bars' && e.vmas === 1), 1);
  assert.ok(countSince(sys, seq, 'reset', (e) => e.phase === 'done') >= 1, 'the bus reset ran');
  assert.equal(ptes(p, addr, EDU_BAR0), 0, 'zapped');
  assert.equal(sys.events.all().filter((e) => e.kind === 'lock.acquire' && e.cls === VMA_LOCK).length, 0);
  assert.deepEqual(p.load(addr, 4), { ok: true, value: EDU_ID }, 'refaults after the reset');
  assert.deepEqual(sys.lockdep?.reports ?? [], []);
});

test('6.10 VFIO_DEVICE_RESET and low-level zaps go through unmap_mapping_range after down_write(memory_lock)', () => {
  const { sys, p, d } = openDevice(EDU0, { variant: '6.10' });
  const addr = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  assert.ok(p.load(addr, 4).ok);
  const seq = sys.events.lastSeq;
  assert.deepEqual(d.reset(), { ok: true, value: undefined });
  const ev = sys.events.since(seq);
  const w = ev.findIndex((e) => e.kind === 'lock.acquire' && e.cls === MEMORY_LOCK && e.mode === 'w');
  const z = ev.findIndex((e) => e.kind === 'pte.zap' && e.fn === 'unmap_mapping_range');
  assert.ok(w >= 0 && z > w, 'memory_lock is write-held before the zap');
  assert.equal(ptes(p, addr, EDU_BAR0), 0);
  assert.deepEqual(p.load(addr, 4), { ok: true, value: EDU_ID });
});

// ---- 6.12 ------------------------------------------------------------------------

/** A device with a 64-bit prefetchable BAR2 of `size` whose every dword reads as its own offset. */
function bigBarDevice(size: number): DeviceDefinition {
  return defineDevice({
    model: 'bigbar',
    vendorId: 0x1af4,
    deviceId: 0x10f0,
    classCode: 0xff0000,
    bars: [
      { index: 0, kind: 'mem', size: 0x1000 },
      { index: 2, kind: 'mem', size, mem64: true, prefetch: true },
    ],
    caps: { pcie: { flr: true } },
    behavior: () => ({
      mmioRead: (bar, off) => (bar === 2 ? BigInt(off) : 0n),
      mmioWrite: () => undefined,
      reset: () => undefined,
    }),
  });
}

const BIG = '0000:01:00.0';

function openBig(size: number, variant = '6.12'): ReturnType<typeof openDevice> {
  const machine: MachineSpec = { urPolicy: 'log', slots: [rootPort(1, [endpoint(0, bigBarDevice(size))])] };
  return openDevice(BIG, { machine, variant });
}

function barPfn(sys: System, index: number): number {
  const r = sys.hw.fn(BIG).resource(index);
  assert.ok(r !== null);
  return r.start / PAGE;
}

test('6.12 huge_fault: a 2 MiB-aligned mapping of a 2 MiB-aligned BAR offset is mapped by one PMD fault per block', () => {
  const { sys, p, d } = openBig(8 * MiB);
  assert.equal(barPfn(sys, 2) % 512, 0, 'the BAR itself is naturally aligned');
  const a = mmapAt(p, d, HINT, 2, 0, 8 * MiB);
  assert.equal(vmaAt(p, a).ops?.hugeFault !== undefined, true);
  const seq = sys.events.lastSeq;
  assert.deepEqual(p.load(a + 0x201234, 4), { ok: true, value: 0x201234n });
  assert.equal(countSince(sys, seq, 'fault'), 1);
  const pt = mmOf(p).pt;
  assert.equal(pt.hugeAt((a + 0x200000) / PAGE), 'pmd');
  assert.equal(pt.countHuge(a / PAGE, (a + 8 * MiB) / PAGE), 1, 'only the faulting block');
  assert.equal(ptes(p, a, 8 * MiB), 512, 'no full-vma prefault');
  assert.equal(pt.get((a + 0x3ff000) / PAGE)?.pfn, barPfn(sys, 2) + 0x3ff, 'the leaf maps BAR offset 2 MiB..4 MiB');
  assert.equal(countSince(sys, seq, 'pte.install', (e) => e.fn === 'vmf_insert_pfn_pmd' && e.start === a + 0x200000 && e.end === a + 0x400000), 1);
  const seq2 = sys.events.lastSeq;
  assert.deepEqual(p.load(a + 0x3ffffc, 4), { ok: true, value: 0x3ffffcn });
  assert.equal(countSince(sys, seq2, 'fault'), 0, 'the rest of the block needs no fault');
});

test('6.12 HF1: a mapping at a BAR offset that is not 2 MiB aligned falls back to 4 KiB pages (pfn not aligned to the order)', () => {
  const { sys, p, d } = openBig(8 * MiB);
  const a = mmapAt(p, d, HINT, 2, 0x1000, 4 * MiB); // virtually aligned, physically off by one page
  const seq = sys.events.lastSeq;
  assert.deepEqual(p.load(a + 0x10, 4), { ok: true, value: 0x1010n }, 'the right device offset');
  assert.deepEqual(p.load(a + 0x200040, 4), { ok: true, value: 0x201040n });
  assert.equal(countSince(sys, seq, 'fault'), 2);
  assert.equal(mmOf(p).pt.countHuge(a / PAGE, (a + 4 * MiB) / PAGE), 0);
  assert.equal(ptes(p, a, 4 * MiB), 2, 'one page per fault');
  assert.equal(countSince(sys, seq, 'pte.install', (e) => e.fn === 'vmf_insert_pfn_pmd'), 0);
});

test('6.12 HF2: the aligned block containing the fault is mapped when it lies inside the vma, else the fault falls back', () => {
  const { sys, p, d } = openBig(8 * MiB);
  // vm_start one page past a 2 MiB boundary, BAR offset one page: the pfn is congruent
  const a = mmapAt(p, d, HINT + PAGE, 2, PAGE, 4 * MiB);
  const pt = mmOf(p).pt;
  assert.deepEqual(p.load(a + 0x100, 4), { ok: true, value: 0x1100n });
  assert.equal(pt.hugeAt((a + 0x100) / PAGE), null, 'the first block starts below vm_start: fallback');
  assert.deepEqual(p.load(HINT + 2 * MiB + 0x1234, 4), { ok: true, value: 0x201234n });
  assert.equal(pt.hugeAt((HINT + 2 * MiB) / PAGE), 'pmd', 'an unaligned fault address maps its whole aligned block (HF2)');
  assert.deepEqual(p.load(HINT + 4 * MiB, 4), { ok: true, value: 0x400000n });
  assert.equal(pt.hugeAt((HINT + 4 * MiB) / PAGE), null, 'the last block ends past vm_end: fallback');
  assert.equal(sys.events.count('bug'), 0);
});

test('6.12 type1 MAP_DMA of a PMD-mapped BAR: one fault-in, the IOMMU maps the BAR pfns', () => {
  const { sys, p, c, d } = openBig(8 * MiB);
  const a = mmapAt(p, d, HINT, 2, 0, 4 * MiB);
  const seq = sys.events.lastSeq;
  assert.deepEqual(c.mapDma({ vaddr: BigInt(a), size: BigInt(2 * MiB), iova: 0x1000_0000n }), { ok: true, value: undefined });
  assert.equal(countSince(sys, seq, 'fault'), 1, 'fixup_user_fault once: the PMD covers the rest');
  assert.equal(mmOf(p).pt.hugeAt(a / PAGE), 'pmd');
  const maps = sys.events.since(seq).filter((e) => e.kind === 'iommu.map');
  assert.ok(maps.length > 0);
  const first = maps[0];
  assert.ok(first !== undefined && first.kind === 'iommu.map' && first.pfn === barPfn(sys, 2));
  assert.equal(maps.reduce((n, e) => n + (e.kind === 'iommu.map' ? e.pages : 0), 0), 512);
});

test('6.12 fork copies a PMD leaf as a PMD; clearing MEM zaps it in both; a PMD fault while disabled is SIGBUS; re-enable maps a PMD again', () => {
  const { sys, p, d } = openBig(8 * MiB);
  const a = mmapAt(p, d, HINT, 2, 0, 4 * MiB);
  assert.ok(p.load(a, 4).ok);
  const child = forked(p);
  assert.equal(mmOf(child).pt.hugeAt(a / PAGE), 'pmd', 'copy_huge_pmd keeps huge pfnmap leaves');
  assert.deepEqual(child.load(a + 0x100, 4), { ok: true, value: 0x100n });
  setMem(d, false);
  for (const proc of [p, child]) {
    assert.equal(ptes(proc, a, 4 * MiB), 0);
    assert.ok(sigbus(proc.load(a + 0x10, 4)));
  }
  assert.ok(sigbus(p.load(a + 2 * MiB, 4)), 'the untouched block: huge_fault(PMD) returns SIGBUS, no fallback');
  assert.equal(sys.platformErrors, 0);
  setMem(d, true);
  assert.deepEqual(p.load(a + 2 * MiB + 8, 4), { ok: true, value: 0x200008n });
  assert.equal(mmOf(p).pt.hugeAt((a + 2 * MiB) / PAGE), 'pmd');
  assert.deepEqual(sys.lockdep?.reports ?? [], []);
});

test('6.12 munmap of part of a PMD-mapped block clears the whole leaf (split of a special huge PMD); the rest refaults with 4 KiB pages', () => {
  const { sys, p, d } = openBig(8 * MiB);
  const a = mmapAt(p, d, HINT, 2, 0, 4 * MiB);
  assert.ok(p.load(a, 4).ok);
  assert.equal(p.munmap(a + MiB, PAGE), 0);
  assert.equal(ptes(p, a, 4 * MiB), 0, 'the leaf straddling the split is gone');
  assert.deepEqual(p.load(a + 0x10, 4), { ok: true, value: 0x10n });
  assert.equal(mmOf(p).pt.hugeAt(a / PAGE), null, 'the block no longer fits in a vma');
  const hole = p.load(a + MiB, 4);
  assert.ok(!hole.ok && hole.signal === 'SIGSEGV', 'the unmapped page');
  assert.equal(sys.events.count('bug'), 0);
});

test('6.12 PUD order: a 1 GiB-aligned mapping of a 1 GiB BAR is mapped by one PUD leaf', () => {
  const { sys, p, d } = openBig(GiB);
  assert.equal(barPfn(sys, 2) % 2 ** 18, 0);
  const a = mmapAt(p, d, HINT, 2, 0, GiB);
  const seq = sys.events.lastSeq;
  assert.deepEqual(p.load(a + 0x3000_0010, 4), { ok: true, value: 0x3000_0010n });
  assert.equal(countSince(sys, seq, 'fault'), 1);
  assert.equal(mmOf(p).pt.hugeAt(a / PAGE), 'pud');
  assert.equal(countSince(sys, seq, 'pte.install', (e) => e.fn === 'vmf_insert_pfn_pud'), 1);
  setMem(d, false);
  assert.equal(ptes(p, a, GiB), 0);
  setMem(d, true);
  // a mapping of half the BAR: the PUD does not fit, PMDs do
  const b = mmapAt(p, d, HINT + 2 * GiB, 2, 0, GiB / 2);
  assert.ok(p.load(b, 4).ok);
  assert.equal(mmOf(p).pt.hugeAt(b / PAGE), 'pmd');
});

test('6.12 vs 6.10 on the same big BAR: 6.10 pre-faults every 4 KiB page of the vma, 6.12 maps one PMD', () => {
  const r610 = openBig(8 * MiB, '6.10');
  const a = mmapAt(r610.p, r610.d, HINT, 2, 0, 4 * MiB);
  assert.ok(r610.p.load(a, 4).ok);
  assert.equal(ptes(r610.p, a, 4 * MiB), 1024);
  assert.equal(mmOf(r610.p).pt.countHuge(a / PAGE, (a + 4 * MiB) / PAGE), 0);
  const r612 = openBig(8 * MiB);
  const b = mmapAt(r612.p, r612.d, HINT, 2, 0, 4 * MiB);
  assert.ok(r612.p.load(b, 4).ok);
  assert.equal(ptes(r612.p, b, 4 * MiB), 512);
  assert.equal(mmOf(r612.p).pt.countHuge(b / PAGE, (b + 4 * MiB) / PAGE), 1);
});

test('address-space designs do not touch earlier variants: 5.8 device files have no mapping and take no i_mmap_rwsem', () => {
  const { sys, p, d } = openDevice(EDU0, { variant: '5.8' });
  const a = unwrap(d.mmapRegion(0, { length: EDU_BAR0, prot: PROT_RW }));
  assert.ok(p.load(a, 4).ok);
  forked(p);
  setMem(d, false);
  assert.equal(sys.events.all().filter((e) => e.kind === 'lock.acquire' && e.cls === I_MMAP_RWSEM_CLASS).length, 0);
  assert.equal(vfioDeviceMapping(sys.kernel, vpci(sys, EDU0).vdev ?? assert.fail('vfio device')).iMmap.length, 0);
});
