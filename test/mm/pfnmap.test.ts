import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EFAULT, EINVAL, ENOMEM } from '../../src/kernel/errno.js';
import { devfs } from '../../src/kernel/fs/devfs.js';
import { getFile } from '../../src/kernel/fs/file.js';
import { fixupUserFault, pinUserPagesRemote, unpinUserPage } from '../../src/kernel/mm/gup.js';
import {
  followPfn,
  handleMmFault,
  remapPfnRange,
  vmFlagsChangedUnderReadLock,
  zapVmaPtes,
} from '../../src/kernel/mm/memory.js';
import { findVma, findVmaIntersection, pageCount } from '../../src/kernel/mm/mm.js';
import { mmgetNotZero, mmput } from '../../src/kernel/mm/mmap.js';
import {
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_WRITE,
  FOLL_LONGTERM,
  FOLL_WRITE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
  type Vma,
  VM_FAULT_RETRY,
  VM_IO,
  VM_PFNMAP,
} from '../../src/kernel/mm/types.js';
import { ThreadKilled } from '../../src/kernel/sched/errors.js';
import type { Task } from '../../src/kernel/sched/task.js';
import { Process } from '../../src/user/process.js';
import { makeDevice, makeKernel, MMIO_PFN } from './fake.js';

const RW = PROT_READ | PROT_WRITE;

function setup() {
  const { k, hw } = makeKernel();
  const p = Process.create(k, 'app');
  const dev = makeDevice(k);
  devfs(k).register('/dev/fake', function* () {
    return getFile(dev.file);
  });
  const fd = p.open('/dev/fake');
  return { k, hw, p, dev, fd, mm: p.kproc.mm };
}

function vmaAt(p: Process, addr: number): Vma {
  const v = findVma(p.kproc.mm, addr);
  assert.ok(v !== null && v.start <= addr);
  return v;
}

/** Run `body` on the process's thread holding its mmap_lock for read (as type1 does). */
function underReadLock<T>(p: Process, body: () => Task<T>): T {
  const k = p.k;
  const sem = p.kproc.mm.mmapLock;
  return k.sched.runSync(
    p.kthread,
    (function* (): Task<T> {
      yield* sem.downRead('vaddr_get_pfn');
      const r = yield* body();
      if (sem.readers.includes(p.kthread)) yield* sem.upRead('vaddr_get_pfn');
      return r;
    })(),
  );
}

test('5.8 mmap installs no PTEs; the first fault remaps the whole vma; later pages do not fault', () => {
  const { k, p, dev, fd, mm } = setup();
  const a = p.mmap(0, 4 * 4096, RW, MAP_SHARED, fd, 0);
  assert.equal(mm.presentPtes(a, a + 4 * 4096), 0);
  assert.ok(p.load(a + 2 * 4096, 4).ok);
  assert.equal(mm.presentPtes(a, a + 4 * 4096), 4);
  for (let i = 0; i < 4; i++) {
    const pte = mm.pt.get(a / 4096 + i);
    assert.ok(pte !== undefined && pte.special && pte.writable && pte.pfn === MMIO_PFN + i);
  }
  for (let i = 0; i < 4; i++) assert.ok(p.load(a + i * 4096, 4).ok);
  assert.equal(dev.log.faults, 1);
  assert.equal(k.events.count('fault'), 1);
});

test('5.7-style remap at mmap: PTEs exist right after mmap, no fault on first touch', () => {
  const { k, p, dev, fd, mm } = setup();
  dev.mode = 'mmap';
  const a = p.mmap(0, 2 * 4096, RW, MAP_SHARED, fd, 0);
  assert.equal(mm.presentPtes(a, a + 2 * 4096), 2);
  const v = vmaAt(p, a);
  assert.equal(v.flags & (VM_IO | VM_PFNMAP), VM_IO | VM_PFNMAP);
  assert.ok(p.load(a, 4).ok);
  assert.equal(k.events.count('fault'), 0);
});

test('remap_pfn_range over a present PTE is BUG_ON(!pte_none) in remap_pte_range (defect H1)', () => {
  const { k, p, fd } = setup();
  const a = p.mmap(0, 2 * 4096, RW, MAP_SHARED, fd, 0);
  assert.ok(p.load(a, 4).ok);
  const v = vmaAt(p, a);
  assert.throws(
    () => k.sched.runSync(p.thread('racer').kthread, remapPfnRange(k, v, v.start, v.pgoff, v.end - v.start, v.pageProt)),
    (e: unknown) => e instanceof ThreadKilled && /remap_pte_range/.test(e.reason),
  );
});

test('remap_pfn_range rejects a misaligned or out-of-vma range with EINVAL', () => {
  const { k, p, fd } = setup();
  const a = p.mmap(0, 2 * 4096, RW, MAP_SHARED, fd, 0);
  const v = vmaAt(p, a);
  assert.equal(k.sched.runSync(p.kthread, remapPfnRange(k, v, a + 1, MMIO_PFN, 4096, v.pageProt)), -EINVAL);
  assert.equal(k.sched.runSync(p.kthread, remapPfnRange(k, v, a, MMIO_PFN, 3 * 4096, v.pageProt)), -EINVAL);
});

test('zap_vma_ptes removes the PTEs of a PFNMAP vma; the next access refaults; non-PFNMAP vmas are left alone', () => {
  const { k, p, dev, fd, mm } = setup();
  const a = p.mmap(0, 2 * 4096, RW, MAP_SHARED, fd, 0);
  assert.ok(p.load(a, 4).ok);
  const v = vmaAt(p, a);
  k.sched.runSync(p.kthread, zapVmaPtes(k, v, v.start, v.end - v.start));
  assert.equal(mm.presentPtes(a, a + 2 * 4096), 0);
  const z = k.events.all().filter((e) => e.kind === 'pte.zap');
  assert.ok(z.length === 1 && z[0]?.kind === 'pte.zap' && z[0].present === 2);
  assert.ok(p.load(a + 4096, 4).ok);
  assert.equal(dev.log.faults, 2);
  assert.equal(mm.presentPtes(a, a + 2 * 4096), 2);
  // out of range: no-op
  k.sched.runSync(p.kthread, zapVmaPtes(k, v, v.start, 3 * 4096));
  assert.equal(mm.presentPtes(a, a + 2 * 4096), 2);
  // anonymous vma: no-op
  const an = p.mmap(0, 4096, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  p.store(an, 1, 1);
  k.sched.runSync(p.kthread, zapVmaPtes(k, vmaAt(p, an), an, 4096));
  assert.equal(mm.presentPtes(an, an + 4096), 1);
});

test('follow_pfn: -EINVAL for non-PFNMAP vmas and missing PTEs, the pfn otherwise', () => {
  const { k, p, fd } = setup();
  const a = p.mmap(0, 2 * 4096, RW, MAP_SHARED, fd, 4096);
  const v = vmaAt(p, a);
  assert.equal(k.sched.runSync(p.kthread, followPfn(k, v, a + 4096)), -EINVAL);
  p.load(a, 1);
  assert.equal(k.sched.runSync(p.kthread, followPfn(k, v, a + 4096)), MMIO_PFN + 2);
  const an = p.mmap(0, 4096, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  p.store(an, 1, 1);
  assert.equal(k.sched.runSync(p.kthread, followPfn(k, vmaAt(p, an), an)), -EINVAL);
});

test('fixup_user_fault: success populates, SIGBUS → -EFAULT, no vma / no write permission → -EFAULT, OOM → -ENOMEM', () => {
  const { k, hw, p, dev, fd, mm } = setup();
  const a = p.mmap(0, 2 * 4096, RW, MAP_SHARED, fd, 0);
  const un = { value: false };
  assert.equal(underReadLock(p, () => fixupUserFault(k, mm, a + 4096, FAULT_FLAG_REMOTE, un)), 0);
  assert.equal(un.value, false);
  assert.equal(mm.presentPtes(a, a + 2 * 4096), 2);
  const v = vmaAt(p, a);
  k.sched.runSync(p.kthread, zapVmaPtes(k, v, v.start, v.end - v.start));
  dev.enabled = false;
  assert.equal(underReadLock(p, () => fixupUserFault(k, mm, a, FAULT_FLAG_REMOTE | FAULT_FLAG_WRITE, un)), -EFAULT);
  assert.equal(underReadLock(p, () => fixupUserFault(k, mm, 0x5000, FAULT_FLAG_REMOTE, un)), -EFAULT);
  const ro = p.mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert.equal(underReadLock(p, () => fixupUserFault(k, mm, ro, FAULT_FLAG_WRITE, null)), -EFAULT);
  const an = p.mmap(0, 4096, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  hw.ram.limit = hw.ram.pages.size;
  assert.equal(underReadLock(p, () => fixupUserFault(k, mm, an, FAULT_FLAG_WRITE, null)), -ENOMEM);
  assert.equal(p.kthread.held.length, 0);
});

test('fixup_user_fault retries after VM_FAULT_RETRY with the lock retaken and reports unlocked', () => {
  const { k, p, fd, mm } = setup();
  const a = p.mmap(0, 4096, RW, MAP_SHARED, fd, 0);
  const v = vmaAt(p, a);
  const orig = v.ops;
  assert.ok(orig !== null && orig.fault !== undefined);
  let calls = 0;
  const flagsSeen: number[] = [];
  v.ops = {
    name: 'retrying',
    *fault(vmf) {
      calls++;
      flagsSeen.push(vmf.flags);
      if (calls === 1) {
        yield* mm.mmapLock.upRead('retrying_fault');
        return VM_FAULT_RETRY;
      }
      return yield* (orig.fault as NonNullable<typeof orig.fault>)(vmf);
    },
  };
  const un = { value: false };
  assert.equal(underReadLock(p, () => fixupUserFault(k, mm, a, FAULT_FLAG_REMOTE, un)), 0);
  assert.equal(un.value, true);
  assert.equal(calls, 2);
  assert.ok((flagsSeen[1] ?? 0) & 0x20, 'second try has FAULT_FLAG_TRIED');
  assert.equal(p.kthread.held.length, 0);
});

test('pin_user_pages_remote refuses VM_IO|VM_PFNMAP vmas with -EFAULT and pins anonymous pages', () => {
  const { k, p, fd, mm } = setup();
  const a = p.mmap(0, 4096, RW, MAP_SHARED, fd, 0);
  p.load(a, 4);
  assert.equal(underReadLock(p, () => pinUserPagesRemote(k, mm, a, 1, FOLL_WRITE | FOLL_LONGTERM)), -EFAULT);
  const an = p.mmap(0, 2 * 4096, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  const r = underReadLock(p, () => pinUserPagesRemote(k, mm, an, 2, FOLL_WRITE | FOLL_LONGTERM));
  assert.ok(Array.isArray(r) && r.length === 2);
  for (const pfn of r) assert.equal(pageCount(k, pfn), 2, 'mapped + pinned');
  assert.equal(mm.pt.get(an / 4096)?.writable, true);
  assert.equal(underReadLock(p, () => pinUserPagesRemote(k, mm, 0x3000, 1, 0)), -EFAULT);
  // Unmapping leaves the pinned pages alive until unpinned.
  p.munmap(an, 2 * 4096);
  for (const pfn of r) {
    assert.equal(pageCount(k, pfn), 1);
    unpinUserPage(k, pfn);
    assert.equal(pageCount(k, pfn), 0);
  }
  const ro = p.mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert.equal(underReadLock(p, () => pinUserPagesRemote(k, mm, ro, 1, FOLL_WRITE)), -EFAULT);
});

test('fork (5.8 order): the child gets copies of the PFNMAP PTEs and then ->open zaps them', () => {
  const { k, p, dev, fd } = setup();
  const a = p.mmap(0, 2 * 4096, RW, MAP_SHARED, fd, 0);
  p.load(a, 4);
  const c = p.fork(false);
  assert.ok(typeof c !== 'number');
  assert.equal(dev.log.opens.length, 1);
  assert.equal(dev.log.opens[0]?.ptesAtOpen, 2, 'copy_page_range ran before ->open');
  assert.equal(c.kproc.mm.presentPtes(a, a + 2 * 4096), 0, 'open zapped the copies');
  assert.equal(p.kproc.mm.presentPtes(a, a + 2 * 4096), 2, 'parent untouched');
  assert.ok(c.load(a + 4096, 4).ok);
  assert.equal(dev.log.faults, 2, 'the child faults on its own');
  assert.equal(k.events.count('fork'), 1);
  assert.equal(k.events.count('vma.open'), 1);
});

test('fork with openBeforeCopy (35e351780fa9 order): ->open sees no PTEs and the child keeps the copies', () => {
  const { p, dev, fd } = setup();
  const a = p.mmap(0, 2 * 4096, RW, MAP_SHARED, fd, 0);
  p.load(a, 4);
  const c = p.fork(true);
  assert.ok(typeof c !== 'number');
  assert.equal(dev.log.opens[0]?.ptesAtOpen, 0);
  assert.equal(c.kproc.mm.presentPtes(a, a + 2 * 4096), 2);
  assert.ok(c.load(a, 4).ok);
  assert.equal(dev.log.faults, 1, 'no fault in the child: it uses the copied PTEs');
});

test('remap_pfn_range from a fault changes vm_flags under a read-held mmap_lock only if mmap did not set them (H9)', () => {
  const { p, dev, fd } = setup();
  const a = p.mmap(0, 4096, RW, MAP_SHARED, fd, 0);
  p.load(a, 4);
  assert.equal(vmFlagsChangedUnderReadLock(vmaAt(p, a)), false);
  dev.setFlagsAtMmap = false;
  const b = p.mmap(0, 4096, RW, MAP_SHARED, fd, 0);
  p.load(b, 4);
  assert.equal(vmFlagsChangedUnderReadLock(vmaAt(p, b)), true);
});

test('handle_mm_fault counts nested faults on the thread and emits a fault event', () => {
  const { k, p, fd, mm } = setup();
  const a = p.mmap(0, 4096, RW, MAP_SHARED, fd, 0);
  const v = vmaAt(p, a);
  let depth = -1;
  const orig = v.ops;
  assert.ok(orig !== null && orig.fault !== undefined);
  v.ops = {
    name: 'probe',
    *fault(vmf) {
      depth = p.kthread.inFault;
      return yield* (orig.fault as NonNullable<typeof orig.fault>)(vmf);
    },
  };
  underReadLock(p, () => handleMmFault(k, v, a, 0));
  assert.equal(depth, 1);
  assert.equal(p.kthread.inFault, 0);
  assert.equal(mm.presentPtes(a, a + 4096), 1);
});

test('find_vma returns the next vma above a gap; find_vma_intersection only an overlapping one', () => {
  const { p, fd, mm } = setup();
  const a = p.mmap(0, 4096, RW, MAP_SHARED, fd, 0);
  assert.equal(findVma(mm, a - 4096)?.start, a);
  assert.equal(findVmaIntersection(mm, a - 4096, a), null);
  assert.equal(findVmaIntersection(mm, a, a + 1)?.start, a);
});

test('mmget_not_zero pins the mm; the last mmput runs exit_mmap and closes the vmas', () => {
  const { k, p, dev, fd, mm } = setup();
  p.mmap(0, 4096, RW, MAP_SHARED, fd, 0);
  assert.equal(mmgetNotZero(mm), true);
  p.exit();
  assert.equal(dev.log.closes.length, 0, 'the extra reference defers exit_mmap');
  k.sched.runSync(p.thread('zapper').kthread, mmput(k, mm));
  assert.equal(dev.log.closes.length, 1);
  assert.equal(mm.users, 0);
  assert.equal(mmgetNotZero(mm), false);
});
