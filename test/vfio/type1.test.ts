import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EEXIST, EFAULT, EINVAL, ENOSPC } from '../../src/kernel/errno.js';
import { allocUserPage, pageCount } from '../../src/kernel/mm/mm.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../src/kernel/mm/types.js';
import { VARIANT_5_7, VARIANT_5_8, VARIANT_6_1, type Knobs } from '../../src/kernel/variant/knobs.js';
import { lockedVm, TYPE1_RESV_MSI_START, VfioIommu } from '../../src/kernel/vfio/type1/type1.js';
import * as U from '../../src/uapi/vfio.js';
import { rawIoctl, unwrap, VfioContainer, VfioGroup } from '../../src/user/vfio-client.js';
import { boot } from './fake.js';

const DEV = '0000:01:00.0';
const RW = PROT_READ | PROT_WRITE;
const PAGE = 4096;
const IOVA = 0x100000;

function ready(type = U.VFIO_TYPE1v2_IOMMU, knobs: Knobs = VARIANT_5_8.knobs) {
  const b = boot(knobs);
  const c = unwrap(VfioContainer.open(b.p));
  const g = unwrap(VfioGroup.open(b.p, b.group));
  unwrap(g.setContainer(c));
  unwrap(c.setIommu(type));
  const d = unwrap(g.getDevice(DEV));
  const iommu = (b.p.kproc.files.get(c.fd)?.privateData as { iommuData: unknown }).iommuData;
  assert.ok(iommu instanceof VfioIommu);
  return { ...b, c, g, d, iommu, fn: b.hw.fn(DEV) };
}

function anon(p: ReturnType<typeof ready>['p'], pages: number): number {
  const a = p.mmap(0, pages * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert.ok(a > 0);
  return a;
}

function domainOf(r: ReturnType<typeof ready>): number {
  const d = r.hw.iommu.domainOfGroup(r.group);
  assert.ok(d !== null);
  return d;
}

test('VFIO_IOMMU_GET_INFO: argsz < 16 is -EINVAL; intel-iommu before 5.15 reports every power of two from 4 KiB (~0xfff); with room, an IOVA-range cap excluding the MSI window', () => {
  const r = ready();
  assert.equal(rawIoctl(r.p, r.c.fd, U.VFIO_IOMMU_GET_INFO, U.encodeIommuType1Info({ argsz: 15 })).ret, -EINVAL);
  // old userspace: 16 bytes, no cap_offset, no caps copied
  const small = rawIoctl(r.p, r.c.fd, U.VFIO_IOMMU_GET_INFO, U.encodeIommuType1Info({ argsz: 16 }).subarray(0, 16));
  assert.equal(small.ret, 0);
  const si = U.decodeIommuType1Info(small.bytes);
  assert.equal(si.flags & U.VFIO_IOMMU_INFO_PGSIZES, U.VFIO_IOMMU_INFO_PGSIZES);
  assert.equal(si.iovaPgsizes, 0xfffffffffffff000n);
  assert.ok(si.argsz > U.SIZEOF_VFIO_IOMMU_TYPE1_INFO, 'the kernel asks for room for the capabilities');
  const info = unwrap(r.c.iommuInfo());
  assert.equal(info.flags, U.VFIO_IOMMU_INFO_PGSIZES | U.VFIO_IOMMU_INFO_CAPS);
  assert.deepEqual(info.iovaRanges, [
    { start: 0n, end: BigInt(TYPE1_RESV_MSI_START - 1) },
    { start: 0xfef00000n, end: (1n << 48n) - 1n },
  ]);
  assert.ok(info.caps.some((c) => c.header.id === U.VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION));
});

test('VFIO_IOMMU_GET_INFO iova_pgsizes from 5.15 (6.1): 4 KiB plus the Intel IOMMU\'s 2 MiB and 1 GiB superpages = 0x40201000; MAP_DMA still takes 4 KiB-aligned ranges', () => {
  const r = ready(U.VFIO_TYPE1v2_IOMMU, VARIANT_6_1.knobs);
  const info = unwrap(r.c.iommuInfo());
  assert.equal(info.iovaPgsizes, 0x40201000n);
  const a = anon(r.p, 1);
  assert.equal(rawIoctl(r.p, r.c.fd, U.VFIO_IOMMU_MAP_DMA, U.encodeDmaMap({ argsz: U.SIZEOF_VFIO_IOMMU_TYPE1_DMA_MAP, flags: U.VFIO_DMA_MAP_FLAG_READ | U.VFIO_DMA_MAP_FLAG_WRITE, vaddr: BigInt(a), iova: BigInt(IOVA), size: BigInt(PAGE) })).ret, 0);
});

test('VFIO_IOMMU_MAP_DMA argument checks: argsz, unknown flags, no READ/WRITE, zero size, misalignment, wrap, reserved IOVA → -EINVAL', () => {
  const r = ready();
  const buf = anon(r.p, 2);
  const raw = (m: Parameters<typeof U.encodeDmaMap>[0]) => rawIoctl(r.p, r.c.fd, U.VFIO_IOMMU_MAP_DMA, U.encodeDmaMap(m)).ret;
  const rw = U.VFIO_DMA_MAP_FLAG_READ | U.VFIO_DMA_MAP_FLAG_WRITE;
  assert.equal(raw({ argsz: 31, flags: rw, vaddr: buf, iova: IOVA, size: PAGE }), -EINVAL);
  assert.equal(raw({ flags: rw | 4, vaddr: buf, iova: IOVA, size: PAGE }), -EINVAL);
  assert.equal(raw({ flags: 0, vaddr: buf, iova: IOVA, size: PAGE }), -EINVAL, 'no READ/WRITE');
  assert.equal(raw({ flags: rw, vaddr: buf, iova: IOVA, size: 0 }), -EINVAL);
  assert.equal(raw({ flags: rw, vaddr: buf, iova: IOVA + 0x10, size: PAGE }), -EINVAL);
  assert.equal(raw({ flags: rw, vaddr: buf + 8, iova: IOVA, size: PAGE }), -EINVAL);
  assert.equal(raw({ flags: rw, vaddr: buf, iova: IOVA, size: PAGE + 1 }), -EINVAL);
  assert.equal(raw({ flags: rw, vaddr: buf, iova: 0xffff_ffff_ffff_f000n, size: 2 * PAGE }), -EINVAL, 'IOVA wrap');
  assert.equal(raw({ flags: rw, vaddr: 0xffff_ffff_ffff_f000n, iova: IOVA, size: 2 * PAGE }), -EINVAL, 'vaddr wrap');
  assert.equal(raw({ flags: rw, vaddr: buf, iova: TYPE1_RESV_MSI_START, size: PAGE }), -EINVAL, 'IOVA in the MSI window');
  assert.equal(raw({ flags: rw, vaddr: buf, iova: 1n << 48n, size: PAGE }), -EINVAL, 'beyond the aperture');
  assert.equal(raw({ flags: rw, vaddr: 0x1000, iova: IOVA, size: PAGE }), -EFAULT, 'nothing mapped at vaddr');
  assert.equal(r.hw.iommu.mappedPages(domainOf(r)), 0);
});

test('VFIO_IOMMU_MAP_DMA pins RAM: device DMA through the IOMMU reaches the user page; UNMAP_DMA unpins and reports the size', () => {
  const r = ready();
  const buf = anon(r.p, 2);
  unwrap(r.c.mapDma({ vaddr: BigInt(buf), size: BigInt(2 * PAGE), iova: BigInt(IOVA) }));
  const mm = r.p.kproc.mm;
  const pfn0 = mm.pt.get(buf / PAGE)?.pfn;
  assert.ok(pfn0 !== undefined);
  assert.equal(pageCount(r.k, pfn0), 2, 'mapped by the page table and pinned');
  assert.equal(lockedVm(mm), 2);
  assert.equal(r.hw.iommu.lookup(domainOf(r), IOVA)?.pfn, pfn0);
  // the device writes into guest RAM
  r.fn.cfgWrite(4, 2, 0x6); // MEM | BUS_MASTER
  const data = Uint8Array.from([0xde, 0xad, 0xbe, 0xef]);
  assert.ok(r.fn.dmaWrite(IOVA + PAGE + 8, data));
  const back = r.p.readBytes(buf + PAGE + 8, 4);
  assert.ok(back.ok);
  assert.deepEqual(back.data, data);
  assert.deepEqual(r.fn.dmaRead(IOVA + PAGE + 8, 4), data);
  // unmap
  assert.equal(unwrap(r.c.unmapDma({ iova: BigInt(IOVA), size: BigInt(2 * PAGE) })), BigInt(2 * PAGE));
  assert.equal(pageCount(r.k, pfn0), 1);
  assert.equal(lockedVm(mm), 0);
  assert.equal(r.hw.iommu.lookup(domainOf(r), IOVA), null);
  assert.equal(r.fn.dmaWrite(IOVA, data), false, 'DMA to an unmapped IOVA faults in the IOMMU');
  assert.equal(unwrap(r.c.unmapDma({ iova: BigInt(IOVA), size: BigInt(2 * PAGE) })), 0n, 'nothing left to unmap');
});

test('VFIO_IOMMU_MAP_DMA overlap is -EEXIST; the dma entry limit gives -ENOSPC', () => {
  const r = ready();
  const buf = anon(r.p, 4);
  unwrap(r.c.mapDma({ vaddr: BigInt(buf), size: BigInt(2 * PAGE), iova: BigInt(IOVA) }));
  assert.deepEqual(r.c.mapDma({ vaddr: BigInt(buf + 2 * PAGE), size: BigInt(2 * PAGE), iova: BigInt(IOVA + PAGE) }), { ok: false, errno: EEXIST });
  assert.deepEqual(r.c.mapDma({ vaddr: BigInt(buf + 2 * PAGE), size: BigInt(2 * PAGE), iova: BigInt(IOVA - PAGE) }), { ok: false, errno: EEXIST });
  assert.ok(r.c.mapDma({ vaddr: BigInt(buf + 2 * PAGE), size: BigInt(PAGE), iova: BigInt(IOVA + 2 * PAGE) }).ok, 'adjacent is fine');
  r.iommu.dmaAvail = 0;
  assert.deepEqual(r.c.mapDma({ vaddr: BigInt(buf + 3 * PAGE), size: BigInt(PAGE), iova: BigInt(IOVA + 8 * PAGE) }), { ok: false, errno: ENOSPC });
});

test('VFIO_IOMMU_UNMAP_DMA: misaligned or zero size -EINVAL; type1v2 refuses to split a mapping, type1 (v1) unmaps nothing of it', () => {
  const v2 = ready(U.VFIO_TYPE1v2_IOMMU);
  const b2 = anon(v2.p, 4);
  unwrap(v2.c.mapDma({ vaddr: BigInt(b2), size: BigInt(4 * PAGE), iova: BigInt(IOVA) }));
  assert.deepEqual(v2.c.unmapDma({ iova: BigInt(IOVA + 1), size: BigInt(PAGE) }), { ok: false, errno: EINVAL });
  assert.deepEqual(v2.c.unmapDma({ iova: BigInt(IOVA), size: 0n }), { ok: false, errno: EINVAL });
  assert.deepEqual(v2.c.unmapDma({ iova: BigInt(IOVA), size: BigInt(PAGE + 0x800) }), { ok: false, errno: EINVAL });
  assert.deepEqual(v2.c.unmapDma({ iova: BigInt(IOVA), size: BigInt(2 * PAGE) }), { ok: false, errno: EINVAL }, 'tail bisects');
  assert.deepEqual(v2.c.unmapDma({ iova: BigInt(IOVA + PAGE), size: BigInt(3 * PAGE) }), { ok: false, errno: EINVAL }, 'head bisects');
  assert.equal(v2.hw.iommu.mappedPages(domainOf(v2)), 4);
  assert.equal(unwrap(v2.c.unmapDma({ iova: BigInt(IOVA - PAGE), size: BigInt(6 * PAGE) })), BigInt(4 * PAGE), 'covering range');

  const v1 = ready(U.VFIO_TYPE1_IOMMU);
  const b1 = anon(v1.p, 4);
  unwrap(v1.c.mapDma({ vaddr: BigInt(b1), size: BigInt(4 * PAGE), iova: BigInt(IOVA) }));
  assert.equal(unwrap(v1.c.unmapDma({ iova: BigInt(IOVA + PAGE), size: BigInt(PAGE) })), 0n, 'v1: success, zero bytes');
  assert.equal(v1.hw.iommu.mappedPages(domainOf(v1)), 4);
  assert.equal(unwrap(v1.c.unmapDma({ iova: BigInt(IOVA), size: BigInt(PAGE) })), BigInt(4 * PAGE), 'v1: covering the first iova unmaps the whole mapping');
});

test('a failed MAP_DMA unwinds: nothing stays mapped or pinned when a later page cannot be pinned', () => {
  const r = ready();
  const buf = anon(r.p, 2);
  // second page missing: unmap it so GUP fails there
  assert.equal(r.p.munmap(buf + PAGE, PAGE), 0);
  assert.deepEqual(r.c.mapDma({ vaddr: BigInt(buf), size: BigInt(2 * PAGE), iova: BigInt(IOVA) }), { ok: false, errno: EFAULT });
  const pfn0 = r.p.kproc.mm.pt.get(buf / PAGE)?.pfn;
  assert.ok(pfn0 !== undefined, 'the first page was faulted in by GUP');
  assert.equal(pageCount(r.k, pfn0), 1, 'and unpinned again');
  assert.equal(r.hw.iommu.mappedPages(domainOf(r)), 0);
  assert.equal(r.iommu.dmaList.length, 0);
  assert.equal(lockedVm(r.p.kproc.mm), 0);
});

test('claim 25 (5.8): MAP_DMA of a never-touched BAR mmap faults it in (fixup_user_fault) and maps the BAR pfns', () => {
  const r = ready();
  const bar = r.fn.resource(0);
  assert.ok(bar !== null);
  const a = unwrap(r.d.mmapRegion(0, { length: 4 * PAGE, prot: RW }));
  assert.equal(r.p.kproc.mm.presentPtes(a, a + 4 * PAGE), 0);
  unwrap(r.c.mapDma({ vaddr: BigInt(a), size: BigInt(4 * PAGE), iova: BigInt(IOVA) }));
  assert.equal(r.p.kproc.mm.presentPtes(a, a + 4 * PAGE), 4);
  for (let i = 0; i < 4; i++) assert.equal(r.hw.iommu.lookup(domainOf(r), IOVA + i * PAGE)?.pfn, bar.start / PAGE + i);
  assert.equal(lockedVm(r.p.kproc.mm), 0, 'MMIO pfns are not accounted as locked memory');
});

test('vaddr_get_pfn: when fixup_user_fault had to drop mmap_lock (unlocked), the vma is looked up again and the fault retried', () => {
  const r = ready();
  const a = unwrap(r.d.mmapRegion(0, { length: 2 * PAGE, prot: RW }));
  r.st.retryOnce = true;
  unwrap(r.c.mapDma({ vaddr: BigInt(a), size: BigInt(2 * PAGE), iova: BigInt(IOVA) }));
  assert.equal(r.st.faults, 2, 'first fault asked for a retry, second one mapped the vma');
  assert.equal(r.hw.iommu.mappedPages(domainOf(r)), 2);
  assert.equal(r.p.kproc.mm.mmapLock.isLocked(), false);
});

test('claim 26 (5.8): MAP_DMA of a BAR mmap while memory is disabled fails with -EFAULT and leaves nothing mapped', () => {
  const r = ready();
  const a = unwrap(r.d.mmapRegion(0, { length: 2 * PAGE, prot: RW }));
  r.st.enabled = false;
  assert.deepEqual(r.c.mapDma({ vaddr: BigInt(a), size: BigInt(2 * PAGE), iova: BigInt(IOVA) }), { ok: false, errno: EFAULT });
  assert.equal(r.hw.iommu.mappedPages(domainOf(r)), 0);
  assert.equal(r.iommu.dmaList.length, 0);
  assert.ok(r.k.events.all().some((e) => e.kind === 'fault' && e.result.includes('SIGBUS')), 'the fault handler refused');
});

test('claim 27 (5.7): without fault-in, a BAR mmap whose PTEs exist maps even while "disabled"; a RAM-backed PFNMAP does not', () => {
  const r = ready(U.VFIO_TYPE1v2_IOMMU, VARIANT_5_7.knobs);
  const a = unwrap(r.d.mmapRegion(0, { length: 2 * PAGE, prot: RW }));
  assert.equal(r.p.kproc.mm.presentPtes(a, a + 2 * PAGE), 2, '5.7 remaps at mmap time');
  r.st.enabled = false;
  unwrap(r.c.mapDma({ vaddr: BigInt(a), size: BigInt(2 * PAGE), iova: BigInt(IOVA) }));
  assert.equal(r.hw.iommu.mappedPages(domainOf(r)), 2);
});

test('5.7 knob: a PFNMAP vma without PTEs is not faulted in by type1 (-EFAULT from GUP)', () => {
  const r5 = ready(U.VFIO_TYPE1v2_IOMMU, { ...VARIANT_5_8.knobs, type1FaultIn: false });
  // The fake driver installs PTEs at mmap when type1FaultIn is off, so zap them to get an untouched PFNMAP vma.
  const a = unwrap(r5.d.mmapRegion(0, { length: PAGE, prot: RW }));
  r5.p.kproc.mm.pt.delete(a / PAGE);
  assert.deepEqual(r5.c.mapDma({ vaddr: BigInt(a), size: BigInt(PAGE), iova: BigInt(IOVA) }), { ok: false, errno: EFAULT });
});

test('vaddr_get_pfn: a PFNMAP vma whose PTE maps ordinary RAM is refused with -EFAULT', () => {
  const r = ready();
  const pfn = allocUserPage(r.k);
  assert.ok(pfn >= 0);
  r.st.mapPfn = pfn;
  const a = unwrap(r.d.mmapRegion(0, { length: PAGE, prot: RW }));
  assert.deepEqual(r.c.mapDma({ vaddr: BigInt(a), size: BigInt(PAGE), iova: BigInt(IOVA) }), { ok: false, errno: EFAULT });
  assert.equal(r.p.kproc.mm.pt.get(a / PAGE)?.pfn, pfn, 'the fault-in did map it');
  assert.equal(r.hw.iommu.mappedPages(domainOf(r)), 0);
});

test('claim 28: an IOMMU mapping of a BAR survives munmap of the BAR vma and a memory disable (no invalidation)', () => {
  const r = ready();
  const bar = r.fn.resource(0);
  assert.ok(bar !== null);
  const a = unwrap(r.d.mmapRegion(0, { length: 2 * PAGE, prot: RW }));
  unwrap(r.c.mapDma({ vaddr: BigInt(a), size: BigInt(2 * PAGE), iova: BigInt(IOVA) }));
  r.st.enabled = false;
  assert.equal(r.p.munmap(a, 2 * PAGE), 0);
  assert.equal(r.hw.iommu.lookup(domainOf(r), IOVA + PAGE)?.pfn, bar.start / PAGE + 1);
  assert.equal(unwrap(r.c.unmapDma({ iova: BigInt(IOVA), size: BigInt(2 * PAGE) })), BigInt(2 * PAGE), 'only the user unmap removes it');
});

test('UNMAP_DMA from another address space unmaps nothing (dma->task->mm check)', () => {
  const r = ready();
  const buf = anon(r.p, 1);
  unwrap(r.c.mapDma({ vaddr: BigInt(buf), size: BigInt(PAGE), iova: BigInt(IOVA) }));
  const child = r.p.fork();
  assert.ok(typeof child !== 'number');
  const cc = { ...r.c, proc: child } as unknown as VfioContainer;
  const res = VfioContainer.prototype.unmapDma.call(cc, { iova: BigInt(IOVA), size: BigInt(PAGE) });
  assert.deepEqual(res, { ok: true, value: 0n });
  assert.equal(r.hw.iommu.mappedPages(domainOf(r)), 1);
});

test('closing every fd releases the type1 IOMMU: mappings removed, RAM unpinned, domain destroyed, group detached', () => {
  const r = ready();
  const buf = anon(r.p, 1);
  unwrap(r.c.mapDma({ vaddr: BigInt(buf), size: BigInt(PAGE), iova: BigInt(IOVA) }));
  const pfn = r.p.kproc.mm.pt.get(buf / PAGE)?.pfn;
  assert.ok(pfn !== undefined);
  const dom = domainOf(r);
  unwrap(r.d.close());
  unwrap(r.g.close());
  assert.equal(r.hw.iommu.domainOfGroup(r.group), null);
  assert.equal(r.hw.iommu.mappedPages(dom), 0);
  assert.equal(pageCount(r.k, pfn), 1);
  assert.equal(r.st.releases, 1);
});

test('type1 lock order: MAP_DMA takes iommu->lock, then mmap_lock for read per page', () => {
  const r = ready();
  const buf = anon(r.p, 1);
  const from = r.k.events.lastSeq;
  unwrap(r.c.mapDma({ vaddr: BigInt(buf), size: BigInt(PAGE), iova: BigInt(IOVA) }));
  const acq = r.k.events.since(from).filter((e) => e.kind === 'lock.acquire').map((e) => (e.kind === 'lock.acquire' ? `${e.cls}:${e.mode}:${e.fn}` : ''));
  assert.deepEqual(acq.slice(0, 2), ['&iommu->lock:w:vfio_dma_do_map', '&mm->mmap_lock:r:vaddr_get_pfn']);
  assert.ok(acq.includes('&mm->mmap_lock:w:vfio_lock_acct'));
});
