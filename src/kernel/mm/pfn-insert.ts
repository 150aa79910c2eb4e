/**
 * Inserting pfns from a fault handler without touching vm_flags (mm/memory.c,
 * mm/huge_memory.c): vmf_insert_pfn (6.10 vfio-pci), vmf_insert_pfn_pmd/pud and the mm
 * core's huge-fault attempt in __handle_mm_fault (6.12 huge pfnmaps, Peter Xu's series).
 *
 * Unlike remap_pfn_range these never write vma->vm_flags (the driver set
 * VM_IO|VM_PFNMAP|... at mmap time), so a fault holding mmap_lock only for read stays
 * correct (fixes H9), and an already present entry is not a BUG: the insert is skipped
 * and the fault reports success (fixes H1's crash).
 */
import type { Kernel } from '../kernel.js';
import { KernelBug } from '../sched/errors.js';
import type { Task } from '../sched/task.js';
import { mmOf, type MmStruct, PAGE_SIZE, pageAlignDown, PTRS_PER_PTE, vpnOf } from './mm.js';
import { HPAGE_PMD_NR, HPAGE_PUD_NR } from './pagetable.js';
import {
  type HugeLevel,
  PROT_WRITE,
  type Vma,
  type VmFault,
  VM_FAULT_FALLBACK,
  VM_FAULT_NOPAGE,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  VM_MAYWRITE,
  VM_PFNMAP,
  VM_SHARED,
} from './types.js';

/** Orders of the huge leaf levels (x86-64): PMD = 2 MiB, PUD = 1 GiB. */
export const PMD_ORDER = 9;
export const PUD_ORDER = 18;

/** VM_MIXEDMAP (include/linux/mm.h). */
const VM_MIXEDMAP = 0x10000000;

/** The BUG_ONs at the top of vmf_insert_pfn_prot / vmf_insert_pfn_pmd (6.10/6.12). */
function checkPfnmapVma(vma: Vma, fn: string): void {
  const pfnmap = (vma.flags & VM_PFNMAP) !== 0;
  const mixed = (vma.flags & VM_MIXEDMAP) !== 0;
  if (!pfnmap && !mixed) throw new KernelBug('BUG_ON(!(vma->vm_flags & (VM_PFNMAP|VM_MIXEDMAP)))', fn);
  if (pfnmap && mixed) throw new KernelBug('BUG_ON((vma->vm_flags & (VM_PFNMAP|VM_MIXEDMAP)) == (VM_PFNMAP|VM_MIXEDMAP))', fn);
  if (pfnmap && (vma.flags & (VM_SHARED | VM_MAYWRITE)) === VM_MAYWRITE) throw new KernelBug('BUG_ON((vma->vm_flags & VM_PFNMAP) && is_cow_mapping(vma->vm_flags))', fn);
}

function writableOf(vma: Vma): boolean {
  return (vma.pageProt.prot & PROT_WRITE) !== 0;
}

function emitInstall(k: Kernel, mm: MmStruct, start: number, end: number, pfn: number, fn: string): void {
  if (k.events.active) k.events.emit({ kind: 'pte.install', mm: mm.id, start, end, pfn, fn });
  else k.events.skipCounted(k.events.hot.pteInstall);
}

/**
 * insert_pfn (mm/memory.c, 6.10) with the PTE lock held: a huge leaf where the PTE table
 * should be makes get_locked_pte fail (VM_FAULT_OOM); a present PTE is left alone; else a
 * special PTE is installed. Returns a vm_fault_t.
 */
function insertPfnLocked(k: Kernel, mm: MmStruct, vma: Vma, addr: number, pfn: number): number {
  const vpn = vpnOf(addr);
  if (mm.pt.hugeAt(vpn) !== null) return VM_FAULT_OOM;
  if (mm.pt.has(vpn)) return VM_FAULT_NOPAGE;
  mm.pt.set(vpn, { pfn, writable: writableOf(vma), special: true });
  emitInstall(k, mm, addr, addr + PAGE_SIZE, pfn, 'vmf_insert_pfn');
  return VM_FAULT_NOPAGE;
}

/**
 * vmf_insert_pfn (mm/memory.c, 6.10): map one page at `addr` to `pfn` with a special PTE
 * and the vma's protection, from a fault handler. SIGBUS outside the vma; an existing PTE
 * is tolerated (VM_FAULT_NOPAGE, nothing changed). vm_flags is not written.
 */
export function* vmfInsertPfn(k: Kernel, vma: Vma, addr: number, pfn: number): Task<number> {
  checkPfnmapVma(vma, 'vmf_insert_pfn');
  if (addr < vma.start || addr >= vma.end) return VM_FAULT_SIGBUS;
  const mm = mmOf(vma);
  const page = pageAlignDown(addr);
  if (!k.sched.passPoint()) yield mm.ptWriteAt(page, page + PAGE_SIZE);
  return insertPfnLocked(k, mm, vma, page, pfn);
}

/**
 * vmf_insert_pfn (mm/memory.c, 6.10) called for each page of [addr, addr + n pages) in
 * address order with pfns from `pfn`, stopping at the first error (the prefault loop of
 * d71a989cf5d9). Pages that are already mapped are skipped. The model takes one scheduling
 * point per page-table page and installs the absent pages of it as runs (each real call
 * takes that page-table page's PTE lock, so no other step can tell the difference).
 * Returns VM_FAULT_NOPAGE or the first error.
 */
export function* vmfInsertPfnEach(k: Kernel, vma: Vma, addr: number, n: number, pfn: number): Task<number> {
  checkPfnmapVma(vma, 'vmf_insert_pfn');
  const mm = mmOf(vma);
  const writable = writableOf(vma);
  const end = addr + n * PAGE_SIZE;
  let a = addr;
  while (a < end) {
    if (a < vma.start || a >= vma.end) return VM_FAULT_SIGBUS;
    const next = Math.min(end, vma.end, (Math.floor(a / PAGE_SIZE / PTRS_PER_PTE) + 1) * PTRS_PER_PTE * PAGE_SIZE);
    if (!k.sched.passPoint()) yield mm.ptWriteAt(a, next);
    let v = vpnOf(a);
    const stop = vpnOf(next);
    while (v < stop) {
      const busy = mm.pt.firstPresent(v, stop);
      const upto = busy < 0 ? stop : busy;
      if (upto > v) {
        const p = pfn + (v - vpnOf(addr));
        mm.pt.installRun(v, upto - v, p, writable, true);
        emitInstall(k, mm, v * PAGE_SIZE, upto * PAGE_SIZE, p, 'vmf_insert_pfn');
      }
      if (busy < 0) break;
      if (mm.pt.hugeAt(busy) !== null) return VM_FAULT_OOM;
      v = busy + 1;
    }
    a = next;
  }
  return VM_FAULT_NOPAGE;
}

/**
 * vmf_insert_pfn_pmd / vmf_insert_pfn_pud (mm/huge_memory.c, 6.12) for `level`: map the
 * naturally aligned block containing vmf.address with one leaf entry. SIGBUS when the
 * block's start lies outside the vma (the end is not checked: callers must). An entry
 * already there — a leaf, or a lower-level table with PTEs in it — is left alone
 * (insert_pfn_pmd: !pmd_none). The pfn is taken as the block's first frame; an unaligned
 * pfn would put its low bits into the PAT/reserved bits of the x86 entry, which the model
 * simplifies to mapping the aligned-down frame.
 */
function* vmfInsertPfnHuge(k: Kernel, vmf: VmFault, pfn: number, level: HugeLevel, fn: string): Task<number> {
  const vma = vmf.vma;
  const nr = level === 'pmd' ? HPAGE_PMD_NR : HPAGE_PUD_NR;
  const size = nr * PAGE_SIZE;
  const addr = Math.floor(vmf.address / size) * size;
  checkPfnmapVma(vma, fn);
  if (addr < vma.start || addr >= vma.end) return VM_FAULT_SIGBUS;
  const mm = mmOf(vma);
  if (!k.sched.passPoint()) yield mm.ptWriteAt(addr, addr + size);
  const vpn = vpnOf(addr);
  if (mm.pt.firstPresent(vpn, vpn + nr) >= 0) return VM_FAULT_NOPAGE;
  const base = pfn - (pfn % nr);
  mm.pt.installRun(vpn, nr, base, writableOf(vma), true, level);
  emitInstall(k, mm, addr, addr + size, base, fn);
  return VM_FAULT_NOPAGE;
}

/** vmf_insert_pfn_pmd (mm/huge_memory.c, 6.12): one 2 MiB leaf; see vmfInsertPfnHuge. */
export function vmfInsertPfnPmd(k: Kernel, vmf: VmFault, pfn: number, _write: boolean): Task<number> {
  return vmfInsertPfnHuge(k, vmf, pfn, 'pmd', 'vmf_insert_pfn_pmd');
}

/** vmf_insert_pfn_pud (mm/huge_memory.c, 6.12): one 1 GiB leaf; see vmfInsertPfnHuge. */
export function vmfInsertPfnPud(k: Kernel, vmf: VmFault, pfn: number, _write: boolean): Task<number> {
  return vmfInsertPfnHuge(k, vmf, pfn, 'pud', 'vmf_insert_pfn_pud');
}

/**
 * __handle_mm_fault (mm/memory.c, 6.12): its huge-fault half; when the vma has
 * ->huge_fault, try a PUD leaf, then a PMD leaf (create_huge_pud / create_huge_pmd), each
 * only if that level is still empty for the address (pud_none / pmd_none: modelled as "no
 * entry at all in the aligned block" — the model does not keep empty PTE tables around,
 * whereas the kernel keeps one until munmap). For PFNMAP vmas with ->huge_fault the
 * kernel allows both orders in the fault path and leaves the vma-fits check to the
 * handler (thp_vma_allowable_order with TVA_IN_PF). Returns the handler's result, or
 * VM_FAULT_FALLBACK when the caller must take the PTE path.
 */
export function* createHugeFault(k: Kernel, vma: Vma, addr: number, flags: number): Task<number> {
  const ops = vma.ops;
  if (ops === null || ops.hugeFault === undefined) return VM_FAULT_FALLBACK;
  const mm = mmOf(vma);
  const page = pageAlignDown(addr);
  const vpn = vpnOf(page);
  for (const order of [PUD_ORDER, PMD_ORDER]) {
    const nr = 2 ** order;
    const block = Math.floor(vpn / nr) * nr;
    if (!k.sched.passPoint()) yield mm.ptReadAt(block * PAGE_SIZE, (block + nr) * PAGE_SIZE);
    if (mm.pt.firstPresent(block, block + nr) >= 0) continue;
    const vmf: VmFault = { vma, address: page, realAddress: addr, flags, pgoff: vma.pgoff + (page - vma.start) / PAGE_SIZE };
    const r = yield* ops.hugeFault.call(ops, vmf, order);
    if ((r & VM_FAULT_FALLBACK) === 0) return r;
  }
  return VM_FAULT_FALLBACK;
}
