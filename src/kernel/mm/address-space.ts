/**
 * A file's address space as far as mappings go: struct address_space's i_mmap (every
 * vma that maps the file, in every process) and i_mmap_rwsem (include/linux/fs.h), the
 * mm core's linking of file vmas into it (mm/mmap.c, mm/vma.c), and unmap_mapping_range
 * (mm/memory.c), which zaps a file range out of every vma mapping it (6.10).
 *
 * Only files that were given a mapping with setFileMapping take part: in the model that is
 * a vfio device file under the 6.10 design (b7c5e64fecfa: the device fd's f_mapping is the
 * per-device pseudo-fs inode's i_mapping). For every other file the linking helpers are
 * no-ops, so designs that never use unmap_mapping_range take no i_mmap_rwsem at all.
 */
import type { KFile } from '../fs/file.js';
import type { Kernel } from '../kernel.js';
import type { RwSemaphore } from '../locking/rwsem.js';
import type { Task } from '../sched/task.js';
import { zapRange } from './memory.js';
import { mmOf, PAGE_SIZE } from './mm.js';
import type { Vma } from './types.js';
import { SideTable } from '../../util/side-table.js';

/** Lock class of every mapping's i_mmap_rwsem, as lockdep names it. */
export const I_MMAP_RWSEM_CLASS = '&mapping->i_mmap_rwsem';

/** struct address_space (the mapping part): i_mmap and i_mmap_rwsem. */
export class AddressSpace {
  /** i_mmap_rwsem: write to link/unlink vmas, read to walk them (unmap_mapping_range). */
  readonly iMmapRwsem: RwSemaphore;
  /**
   * i_mmap: the vmas mapping this file, in link order (the kernel's interval tree is
   * walked in vm_pgoff order; see vmasInRange).
   */
  readonly iMmap: Vma[] = [];

  constructor(
    k: Kernel,
    /** A name for traces and lock ids, e.g. 'vfio:0000:01:00.0'. */
    readonly name: string,
  ) {
    this.iMmapRwsem = k.rwsem(I_MMAP_RWSEM_CLASS, `i_mmap_rwsem:${name}`);
  }

  /** mapping_mapped (include/linux/fs.h): whether any vma maps the file. */
  get mapped(): boolean {
    return this.iMmap.length > 0;
  }

  /**
   * vma_interval_tree_foreach (mm/interval_tree.c): the linked vmas whose file pages
   * [vm_pgoff, vm_pgoff + pages) overlap [first, last], in vm_pgoff order (ties in link
   * order). Caller holds i_mmap_rwsem.
   */
  vmasInRange(first: number, last: number): Vma[] {
    const out = this.iMmap.filter((v) => v.pgoff <= last && v.pgoff + (v.end - v.start) / PAGE_SIZE - 1 >= first);
    return out.sort((a, b) => a.pgoff - b.pgoff);
  }
}

/** file->f_mapping for the files that have one (see the module comment). */
const fMapping = new SideTable<KFile, AddressSpace>('fMapping');

/** file->f_mapping, or null for a file whose vmas the model does not track. */
export function fileMapping(f: KFile): AddressSpace | null {
  return fMapping.get(f) ?? null;
}

/** Set file->f_mapping (vfio_device_open_file does `filep->f_mapping = inode->i_mapping`, 6.10). */
export function setFileMapping(f: KFile, mapping: AddressSpace): void {
  fMapping.set(f, mapping);
}

/** The mapping a vma's file links it into, or null. */
export function vmaMapping(vma: Vma): AddressSpace | null {
  return vma.file === null ? null : fileMapping(vma.file);
}

/** __vma_link_file (mm/mmap.c, 6.10) with i_mmap_rwsem held for write: add to i_mmap. */
function linkLocked(m: AddressSpace, vma: Vma): void {
  if (!m.iMmap.includes(vma)) m.iMmap.push(vma);
}

/** __remove_shared_vm_struct (mm/mmap.c, 6.10) with i_mmap_rwsem held for write. */
function unlinkLocked(m: AddressSpace, vma: Vma): void {
  const i = m.iMmap.indexOf(vma);
  if (i >= 0) m.iMmap.splice(i, 1);
}

/** [model] Lock/link/unlock as one task (only built when the file has a mapping). */
function* lockedUpdate(m: AddressSpace, vma: Vma, link: boolean, fn: string): Task<void> {
  yield* m.iMmapRwsem.downWrite(fn);
  if (link) linkLocked(m, vma);
  else unlinkLocked(m, vma);
  yield* m.iMmapRwsem.upWrite(fn);
}

/**
 * vma_link_file (mm/mmap.c, 6.10; dup_mmap's i_mmap insertion in kernel/fork.c): link a
 * new file vma into its file's i_mmap under i_mmap_rwsem (write); nothing for a vma whose
 * file has no mapping.
 */
export function* vmaLinkFile(vma: Vma, fn: string): Task<void> {
  const m = vmaMapping(vma);
  if (m !== null) yield* lockedUpdate(m, vma, true, fn);
}

/**
 * unlink_file_vma (mm/mmap.c, 6.10; called from free_pgtables after the vma's PTEs are
 * gone): take the vma out of its file's i_mmap under i_mmap_rwsem (write).
 */
export function* unlinkFileVma(vma: Vma, fn: string): Task<void> {
  const m = vmaMapping(vma);
  if (m !== null) yield* lockedUpdate(m, vma, false, fn);
}

/**
 * vma_prepare (mm/vma.c, 6.10) for a split: i_mmap_lock_write of the file's mapping
 * before the vma bounds change. Returns the mapping (to pass to vmaCompleteSplit) or null.
 */
export function* vmaPrepareSplit(vma: Vma, fn: string): Task<AddressSpace | null> {
  const m = vmaMapping(vma);
  if (m === null) return null;
  yield* m.iMmapRwsem.downWrite(fn);
  return m;
}

/** vma_complete (mm/vma.c, 6.10) for a split: link the new vma and drop i_mmap_rwsem. */
export function* vmaCompleteSplit(m: AddressSpace | null, inserted: Vma, fn: string): Task<void> {
  if (m === null) return;
  linkLocked(m, inserted);
  yield* m.iMmapRwsem.upWrite(fn);
}

/** ULONG_MAX as a pgoff bound (the model's page offsets stay below 2^53). */
const PGOFF_MAX = Number.MAX_SAFE_INTEGER;

/**
 * unmap_mapping_range → unmap_mapping_pages → unmap_mapping_range_tree (mm/memory.c,
 * 6.10): zap the PTEs (and huge entries) of the file bytes [holebegin, holebegin +
 * holelen) in every vma that maps them, in any process, under i_mmap_rwsem (read). A
 * zero `holelen` means "to the end of the file". No mmap_lock is taken: each vma's
 * range is cleared page-table page by page-table page (zap_page_range_single). Private
 * COW copies are not modelled (`evenCows` is accepted for the signature). Returns how
 * many vmas overlapped the range.
 */
export function* unmapMappingRange(k: Kernel, mapping: AddressSpace, holebegin: number, holelen: number, _evenCows: boolean): Task<number> {
  const fn = 'unmap_mapping_range';
  const first = Math.floor(holebegin / PAGE_SIZE);
  const nr = Math.ceil(holelen / PAGE_SIZE);
  let last = first + nr - 1;
  if (nr === 0 || last < first) last = PGOFF_MAX;
  yield* mapping.iMmapRwsem.downRead('unmap_mapping_pages');
  const vmas = mapping.mapped ? mapping.vmasInRange(first, last) : [];
  for (const vma of vmas) {
    const vba = vma.pgoff;
    const vea = vba + (vma.end - vma.start) / PAGE_SIZE - 1;
    const zba = Math.max(first, vba);
    const zea = Math.min(last, vea);
    const start = vma.start + (zba - vba) * PAGE_SIZE;
    const end = vma.start + (zea - vba + 1) * PAGE_SIZE;
    // unmap_mapping_range_vma → zap_page_range_single
    const mm = mmOf(vma);
    const present = yield* zapRange(k, mm, start, end);
    if (k.events.active) k.events.emit({ kind: 'pte.zap', mm: mm.id, start, end, present, fn });
    else k.events.skipCounted(k.events.hot.pteZap);
  }
  yield* mapping.iMmapRwsem.upRead('unmap_mapping_pages');
  return vmas.length;
}
