/**
 * Design variants are data: every behavioural difference between kernel versions of
 * the vfio-pci memory-enable blocking is a knob, and each version is a preset of knob
 * values. Kernel code branches on knobs, never on a variant's name.
 */
export interface Knobs {
  /**
   * How a BAR mmap gets its PTEs.
   * - 'remap-at-mmap': vfio_pci_mmap calls remap_pfn_range for the whole range (5.7).
   * - 'fault-whole-vma': vm_ops.fault remaps the entire vma (remap_pfn_range) and tracks it on vma_list (5.8–6.9).
   * - 'fault-insert-full-vma': vm_ops.fault inserts the faulting page with vmf_insert_pfn, then
   *   opportunistically the rest of the vma page by page (d71a989cf5d9, 6.10).
   * - 'huge-fault': vm_ops.huge_fault maps the faulting page, or the aligned PMD/PUD block
   *   containing it when the pfn and the vma allow (f9e54c3a2f5b + HF1/HF2, 6.12+).
   */
  readonly mmapPopulate: 'remap-at-mmap' | 'fault-whole-vma' | 'fault-insert-full-vma' | 'huge-fault';
  /**
   * How vfio-pci finds the user mappings it must zap.
   * - 'vma-list': vm_ops open/close/fault keep a per-device vma_list under vma_lock; zapping walks
   *   it with the mmap_lock → vma_lock dance (5.8–6.9).
   * - 'address-space': every device fd shares one pseudo-fs inode's address space; zap is
   *   unmap_mapping_range over the BAR offsets, done after down_write(memory_lock); no vma_list,
   *   vma_lock or open/close (b7c5e64fecfa + aac6db75a9fc, 6.10).
   */
  readonly zapMethod: 'vma-list' | 'address-space';
  /**
   * How the vma_list fault handler takes memory_lock and when it drops vma_lock.
   * - 'trylock-retry': patch v1 — down_read_trylock; on contention return VM_FAULT_RETRY (after
   *   dropping mmap_lock and waiting for memory_lock) when the fault allows retry, else SIGBUS.
   * - 'drop-before-remap': 5.8 as merged — blocking down_read, node pushed without a duplicate
   *   check, vma_lock dropped before remap_pfn_range (H1, H2).
   * - 'hold-across-remap': 6a45ece4c9af (5.13) — vma_lock and memory_lock held across the remap,
   *   no remap if the vma is already listed, zap on failure.
   */
  readonly faultLocking: 'trylock-retry' | 'drop-before-remap' | 'hold-across-remap';
  /**
   * Lock order of the zap-then-write-lock callers (command write, FLR, reset).
   * - 'memory-lock-first': patch v1 — down_write(memory_lock), then the mmap_lock → vma_lock zap
   *   walk (an ABBA against the fault path, which the v1 fault breaks with a trylock).
   * - 'vma-lock-first': v2/v3 and 5.8 — zap walk, then down_write(memory_lock) with vma_lock held
   *   and vma_list empty.
   */
  readonly zapOrder: 'memory-lock-first' | 'vma-lock-first';
  /** Whether vfio-pci tracks the command register's MEM bit and blocks user MMIO while it is clear (patch 3/3). */
  readonly blockDisabledMemory: boolean;
  /**
   * Locking in BAR read/write (vfio_pci_bar_rw).
   * - 'none': no memory_lock, no check (5.7).
   * - 'whole-call': down_read(memory_lock) across the whole call incl. user copies and ROM map (5.8.0).
   * - 'per-access': each ioread/iowrite of a memory BAR or the ROM takes memory_lock for read and
   *   checks; user copies and pci_map_rom outside the lock (bc93b9ae0151, 5.8.y/5.9).
   */
  readonly rwLocking: 'none' | 'whole-call' | 'per-access';
  /** ROM presence probe in GET_REGION_INFO: 'unlocked-enable' (5.7, commit 0cfd027be1d6) or 'lock-and-enable' (5.8). */
  readonly romProbe: 'unlocked-enable' | 'lock-and-enable';
  /**
   * Where the MSI/MSI-X part of SET_IRQS holds memory_lock (write, with MEM temporarily enabled).
   * - 'none': no memory_lock (5.7).
   * - 'whole-ioctl': across the whole MSI/MSI-X branch of vfio_pci_set_irqs_ioctl, including
   *   irq_bypass_register_producer — which calls into KVM (patch v2; Qian Cai's cycle, §3.4).
   * - 'callouts': only around the callouts that touch the vector table (alloc/free vectors,
   *   MSI-X message restore + request_irq, free_irq); irqbypass outside (v3, 5.8).
   */
  readonly msiMemoryLock: 'none' | 'whole-ioctl' | 'callouts';
  /** type1 vaddr_get_pfn faults PFNMAP vmas in with fixup_user_fault (patch 1/3, 41311242221e). */
  readonly type1FaultIn: boolean;
  /**
   * The VF fix (ebfa440ce38b, 5.8-rc3): a VF's unimplemented command MEM bit is virtualized
   * (set at open, read back from vconfig) and the memory-enabled predicate is always true
   * for it. Without it (5.8-rc1/rc2) a freshly opened VF fails BAR r/w with -EIO.
   */
  readonly vfAlwaysEnabled: boolean;
  /** Resets and command-register writes zap user mappings and hold memory_lock for write (5.8). */
  readonly zapOnDisable: boolean;
  /**
   * What the VFIO_DEVICE_IOEVENTFD handler does when its eventfd fires, for a memory BAR.
   * - 'unchecked': iowrite unconditionally, even while memory is disabled (5.8.0, H4).
   * - 'checked-sleeping': down_read(memory_lock) in the eventfd wakeup, drop the write while
   *   disabled (5.8.y/5.9, bc93b9ae0151): sleeps in atomic context.
   * - 'checked-trylock': down_read_trylock in the wakeup, on contention redo the checked write
   *   from a work item; dropped while disabled (5.10-rc3+, IOEVT).
   */
  readonly ioeventfdWrite: 'unchecked' | 'checked-sleeping' | 'checked-trylock';
  /**
   * D3hot counts as disabled (2b2c651baf1c, 5.19): PM_CTRL writes entering D3hot zap and
   * write-lock memory_lock, and the memory-enabled predicate is false in D3hot.
   */
  readonly d3hotBlocks: boolean;
  /**
   * VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY/EXIT (runtime PM, 6.0/6.1): entry zaps under the write
   * lock and sets pm_runtime_engaged, which the fault handler treats as disabled.
   */
  readonly lowPowerEntry: boolean;
  /** Hot reset try-locks every affected device (vma_lock, mmap lock, memory_lock) and returns -EBUSY on contention (5.8). */
  readonly hotResetTryLock: boolean;
  /**
   * dup_mmap calls the new vma's vm_ops->open before copy_page_range (35e351780fa9 "fork: defer
   * linking file vma until vma is fully initialized", 6.9 and stable lines), so a vma_list
   * design's open-time zap no longer clears the child's copied PTEs (H10).
   */
  readonly forkOpenBeforeCopy: boolean;
  /**
   * What checks that vm_flags is written with mmap_lock held for write (H9's WARNING):
   * 'none' before 6.3 (remap_pfn_range stored vm_flags unchecked); 'lockdep' from 6.3,
   * where vm_flags_set asserts mmap_assert_write_locked, i.e. lockdep_assert_held_write, which
   * warns only on a kernel built with CONFIG_LOCKDEP while lockdep is still on (debug_locks);
   * 'always' from 6.10-rc1 (ba168b52bf8e, on f70405afc99b's rwsem_assert_held_write): without
   * lockdep a WARN_ON of the rwsem's writer bit, so it warns on distro kernels too.
   */
  readonly vmFlagsAssert: 'none' | 'lockdep' | 'always';
}

/** Every value each knob may take (for validation of composed variants and for listings). */
export const KNOB_VALUES: { readonly [K in keyof Knobs]: readonly Knobs[K][] } = {
  mmapPopulate: ['remap-at-mmap', 'fault-whole-vma', 'fault-insert-full-vma', 'huge-fault'],
  zapMethod: ['vma-list', 'address-space'],
  faultLocking: ['trylock-retry', 'drop-before-remap', 'hold-across-remap'],
  zapOrder: ['memory-lock-first', 'vma-lock-first'],
  blockDisabledMemory: [false, true],
  rwLocking: ['none', 'whole-call', 'per-access'],
  romProbe: ['unlocked-enable', 'lock-and-enable'],
  msiMemoryLock: ['none', 'whole-ioctl', 'callouts'],
  type1FaultIn: [false, true],
  vfAlwaysEnabled: [false, true],
  zapOnDisable: [false, true],
  ioeventfdWrite: ['unchecked', 'checked-sleeping', 'checked-trylock'],
  d3hotBlocks: [false, true],
  lowPowerEntry: [false, true],
  hotResetTryLock: [false, true],
  forkOpenBeforeCopy: [false, true],
  vmFlagsAssert: ['none', 'lockdep', 'always'],
};

/**
 * Knob combinations no kernel had and the model cannot run meaningfully (e.g. fault-time
 * population without a way to zap). Returns one message per conflict; empty when consistent.
 */
export function knobConflicts(k: Knobs): string[] {
  const out: string[] = [];
  const faulting = k.mmapPopulate !== 'remap-at-mmap';
  if (k.zapMethod === 'address-space' && k.mmapPopulate === 'fault-whole-vma') {
    out.push("mmapPopulate 'fault-whole-vma' (remap_pfn_range from the fault, tracked on vma_list) needs zapMethod 'vma-list'");
  }
  if (k.zapMethod === 'vma-list' && (k.mmapPopulate === 'fault-insert-full-vma' || k.mmapPopulate === 'huge-fault')) {
    out.push(`mmapPopulate '${k.mmapPopulate}' (no vma tracking) needs zapMethod 'address-space'`);
  }
  if (k.blockDisabledMemory && !faulting) out.push("blockDisabledMemory needs a fault-populated mmap (mmapPopulate other than 'remap-at-mmap')");
  if (k.zapOnDisable && !faulting) out.push("zapOnDisable needs a fault-populated mmap (mmapPopulate other than 'remap-at-mmap')");
  if (k.blockDisabledMemory && k.rwLocking === 'none') out.push("blockDisabledMemory needs rwLocking 'whole-call' or 'per-access'");
  if (k.d3hotBlocks && !k.blockDisabledMemory) out.push('d3hotBlocks needs blockDisabledMemory');
  if (k.lowPowerEntry && !k.zapOnDisable) out.push('lowPowerEntry needs zapOnDisable');
  return out;
}

export interface VariantPreset {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  /** The preset this one is described against (what it changed), null for the baseline. */
  readonly from: string | null;
  readonly knobs: Knobs;
}

const BASE_5_7: Knobs = {
  mmapPopulate: 'remap-at-mmap',
  zapMethod: 'vma-list',
  faultLocking: 'drop-before-remap',
  zapOrder: 'vma-lock-first',
  blockDisabledMemory: false,
  rwLocking: 'none',
  romProbe: 'unlocked-enable',
  msiMemoryLock: 'none',
  type1FaultIn: false,
  vfAlwaysEnabled: false,
  zapOnDisable: false,
  ioeventfdWrite: 'unchecked',
  d3hotBlocks: false,
  lowPowerEntry: false,
  hotResetTryLock: false,
  forkOpenBeforeCopy: false,
  vmFlagsAssert: 'none',
};

/** Linux 5.7: the baseline, before the series. */
export const VARIANT_5_7: VariantPreset = {
  name: '5.7',
  from: null,
  title: 'Linux 5.7 baseline',
  description: 'remap_pfn_range at mmap, no memory-enable tracking, type1 without fault-in, ROM probe toggles MEM unlocked.',
  knobs: BASE_5_7,
};

/** Linux 5.8: patch v3 as merged (41311242221e, 11c4cd07ba11, abafbc551fdd) plus ebfa440ce38b. */
export const VARIANT_5_8: VariantPreset = {
  name: '5.8',
  from: '5.7',
  title: 'Linux 5.8 (patch v3 as merged)',
  description: 'fault-populated tracked vmas, zap + memory_lock on disable/reset, -EIO/SIGBUS while disabled, type1 faults PFNMAP vmas in, MSI-X and ROM paths enable memory under the lock.',
  knobs: {
    ...BASE_5_7,
    mmapPopulate: 'fault-whole-vma',
    blockDisabledMemory: true,
    rwLocking: 'whole-call',
    romProbe: 'lock-and-enable',
    msiMemoryLock: 'callouts',
    type1FaultIn: true,
    vfAlwaysEnabled: true,
    zapOnDisable: true,
    hotResetTryLock: true,
  },
};

/** Patch series v1 (April 2020): trylock + retry in the fault handler, memory_lock taken above mmap_sem by zappers. */
export const VARIANT_V1: VariantPreset = {
  name: 'v1',
  from: '5.8',
  title: 'patch series v1 (not merged)',
  description: 'fault handler trylocks memory_lock and returns VM_FAULT_RETRY (or SIGBUS when the fault cannot retry); zappers take memory_lock for write before mmap_sem. MSI locking taken as v2 [inferred].',
  knobs: { ...VARIANT_5_8.knobs, faultLocking: 'trylock-retry', zapOrder: 'memory-lock-first', msiMemoryLock: 'whole-ioctl' },
};

/** Patch series v2 (May 2020): v3's lock order, but memory_lock held across the whole MSI/MSI-X SET_IRQS path. */
export const VARIANT_V2: VariantPreset = {
  name: 'v2',
  from: '5.8',
  title: 'patch series v2 (not merged)',
  description: "v3's lock order; memory_lock held across the whole MSI/MSI-X part of SET_IRQS including irq_bypass_register_producer (Qian Cai's lockdep cycle through KVM, spec §3.4).",
  knobs: { ...VARIANT_5_8.knobs, msiMemoryLock: 'whole-ioctl' },
};

/** Linux 5.9 (and 5.8.y): per-access read locking in BAR r/w, checked ioeventfd writes. */
export const VARIANT_5_9: VariantPreset = {
  name: '5.9',
  from: '5.8',
  title: 'Linux 5.9 (5.8.y stable)',
  description: 'bc93b9ae0151: memory_lock read-held per ioread/iowrite, user copies and pci_map_rom outside the lock (fixes H3); ioeventfd writes checked, sleeping in the wakeup (fixes H4).',
  knobs: { ...VARIANT_5_8.knobs, rwLocking: 'per-access', ioeventfdWrite: 'checked-sleeping' },
};

/** Linux 5.13: concurrent-fault fix; ioeventfd thread from 5.10. */
export const VARIANT_5_13: VariantPreset = {
  name: '5.13',
  from: '5.9',
  title: 'Linux 5.13',
  description: '6a45ece4c9af: vma_lock and memory_lock held across the remap, no remap when already listed (fixes H1, H2); ioeventfd trylock + thread (5.10).',
  knobs: { ...VARIANT_5_9.knobs, faultLocking: 'hold-across-remap', ioeventfdWrite: 'checked-trylock' },
};

/** Linux 5.19: D3hot counts as disabled. */
export const VARIANT_5_19: VariantPreset = {
  name: '5.19',
  from: '5.13',
  title: 'Linux 5.19',
  description: '2b2c651baf1c: entering D3hot zaps and blocks like clearing MEM (fixes H7).',
  knobs: { ...VARIANT_5_13.knobs, d3hotBlocks: true },
};

/** Linux 6.1 (LTS): runtime-PM low-power entry on top of 5.19; still vma_list and the old fork order. */
export const VARIANT_6_1: VariantPreset = {
  name: '6.1',
  from: '5.19',
  title: 'Linux 6.1',
  description: 'VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY/EXIT: entry zaps and sets pm_runtime_engaged, faults then SIGBUS. Still vma_list + remap in the fault (H9) and the old fork order (6.1.0; see 6.1.y).',
  knobs: { ...VARIANT_5_19.knobs, lowPowerEntry: true },
};

/**
 * Linux 6.1.y stable with 35e351780fa9 ("fork: defer linking file vma until vma is fully
 * initialized", CVE-2024-27022): 6.1.90-6.1.94 and again from 6.1.191 (Debian 12's 6.1.192),
 * with vfio-pci still on vma_list.
 */
export const VARIANT_6_1_Y: VariantPreset = {
  name: '6.1.y',
  from: '6.1',
  title: 'Linux 6.1.y stable (6.1.90-6.1.94, 6.1.191+)',
  description: '35e351780fa9 backported: fork calls vm_ops->open before copy_page_range while vfio-pci still tracks vmas on vma_list: a child forked after its parent touched a BAR keeps a live, untracked mapping (H10).',
  knobs: { ...VARIANT_6_1.knobs, forkOpenBeforeCopy: true },
};

/**
 * Linux 6.6 (LTS): vfio-pci as in 6.1 (vma_list, remap_pfn_range from the fault), on an mm
 * whose vm_flags_set asserts the write lock (6.3): the one place H9's WARNING really fires, on
 * a kernel built with lockdep. Its later stable releases took 35e351780fa9 as 6.1.y did: add
 * forkOpenBeforeCopy for those.
 */
export const VARIANT_6_6: VariantPreset = {
  name: '6.6',
  from: '6.1',
  title: 'Linux 6.6',
  description: 'vm_flags_set asserts mmap_assert_write_locked (6.3): with CONFIG_LOCKDEP the fault-time remap_pfn_range under a read-held mmap_lock prints the WARNING (H9). Old fork order (add forkOpenBeforeCopy for later 6.6.y).',
  knobs: { ...VARIANT_6_1.knobs, vmFlagsAssert: 'lockdep' },
};

/** Linux 6.10: address-space zap with unmap_mapping_range; faults insert pages. */
export const VARIANT_6_10: VariantPreset = {
  name: '6.10',
  from: '6.6',
  title: 'Linux 6.10',
  description: 'per-device inode address space, zap = down_write(memory_lock) then unmap_mapping_range, no vma_list/vma_lock/open/close; fault inserts the faulting page then the rest of the vma (fixes H9, H10); the new fork order.',
  knobs: { ...VARIANT_6_6.knobs, zapMethod: 'address-space', mmapPopulate: 'fault-insert-full-vma', forkOpenBeforeCopy: true, vmFlagsAssert: 'always' },
};

/** Linux 6.12: huge pfnmap faults. */
export const VARIANT_6_12: VariantPreset = {
  name: '6.12',
  from: '6.10',
  title: 'Linux 6.12',
  description: 'huge_fault maps PMD/PUD blocks when the pfn and the vma are aligned, else single pages (with the HF1/HF2 alignment fixes); no full-vma pre-fault.',
  knobs: { ...VARIANT_6_10.knobs, mmapPopulate: 'huge-fault' },
};

/** Every preset, in history order. */
export const VARIANTS: readonly VariantPreset[] = [
  VARIANT_5_7, VARIANT_V1, VARIANT_V2, VARIANT_5_8, VARIANT_5_9, VARIANT_5_13, VARIANT_5_19, VARIANT_6_1, VARIANT_6_1_Y, VARIANT_6_6, VARIANT_6_10, VARIANT_6_12,
];

export function findVariant(name: string): VariantPreset | undefined {
  return VARIANTS.find((v) => v.name === name);
}
