/**
 * Design variants are data: every behavioural difference between kernel versions of
 * the vfio-pci memory-enable blocking is a knob, and each version is a preset of knob
 * values. Kernel code branches on knobs, never on a variant's name.
 */
export interface Knobs {
  /**
   * How a BAR mmap gets its PTEs.
   * - 'remap-at-mmap': vfio_pci_mmap calls remap_pfn_range for the whole range (5.7).
   * - 'fault-whole-vma': vm_ops.fault remaps the entire vma and tracks it on vma_list (5.8–6.9).
   */
  readonly mmapPopulate: 'remap-at-mmap' | 'fault-whole-vma';
  /** Whether vfio-pci tracks the command register's MEM bit and blocks user MMIO while it is clear (patch 3/3). */
  readonly blockDisabledMemory: boolean;
  /**
   * Locking in BAR read/write (vfio_pci_bar_rw).
   * - 'none': no memory_lock, no check (5.7).
   * - 'whole-call': down_read(memory_lock) across the whole call incl. user copies and ROM map (5.8.0).
   */
  readonly rwLocking: 'none' | 'whole-call';
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
  /** Hot reset try-locks every affected device (vma_lock, mmap lock, memory_lock) and returns -EBUSY on contention (5.8). */
  readonly hotResetTryLock: boolean;
}

/** Every value each knob may take (for validation of composed variants and for listings). */
export const KNOB_VALUES: { readonly [K in keyof Knobs]: readonly Knobs[K][] } = {
  mmapPopulate: ['remap-at-mmap', 'fault-whole-vma'],
  blockDisabledMemory: [false, true],
  rwLocking: ['none', 'whole-call'],
  romProbe: ['unlocked-enable', 'lock-and-enable'],
  msiMemoryLock: ['none', 'whole-ioctl', 'callouts'],
  type1FaultIn: [false, true],
  vfAlwaysEnabled: [false, true],
  zapOnDisable: [false, true],
  ioeventfdWrite: ['unchecked', 'checked-sleeping', 'checked-trylock'],
  d3hotBlocks: [false, true],
  hotResetTryLock: [false, true],
};

export interface VariantPreset {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly knobs: Knobs;
}

/** Linux 5.7: the baseline, before the series. */
export const VARIANT_5_7: VariantPreset = {
  name: '5.7',
  title: 'Linux 5.7 baseline',
  description: 'remap_pfn_range at mmap, no memory-enable tracking, type1 without fault-in, ROM probe toggles MEM unlocked.',
  knobs: {
    mmapPopulate: 'remap-at-mmap',
    blockDisabledMemory: false,
    rwLocking: 'none',
    romProbe: 'unlocked-enable',
    msiMemoryLock: 'none',
    type1FaultIn: false,
    vfAlwaysEnabled: false,
    zapOnDisable: false,
    ioeventfdWrite: 'unchecked',
    d3hotBlocks: false,
    hotResetTryLock: false,
  },
};

/** Linux 5.8: patch v3 as merged (41311242221e, 11c4cd07ba11, abafbc551fdd) plus ebfa440ce38b. */
export const VARIANT_5_8: VariantPreset = {
  name: '5.8',
  title: 'Linux 5.8 (patch v3 as merged)',
  description: 'fault-populated tracked vmas, zap + memory_lock on disable/reset, -EIO/SIGBUS while disabled, type1 faults PFNMAP vmas in, MSI-X and ROM paths enable memory under the lock.',
  knobs: {
    mmapPopulate: 'fault-whole-vma',
    blockDisabledMemory: true,
    rwLocking: 'whole-call',
    romProbe: 'lock-and-enable',
    msiMemoryLock: 'callouts',
    type1FaultIn: true,
    vfAlwaysEnabled: true,
    zapOnDisable: true,
    ioeventfdWrite: 'unchecked',
    d3hotBlocks: false,
    hotResetTryLock: true,
  },
};

export const VARIANTS: readonly VariantPreset[] = [VARIANT_5_7, VARIANT_5_8];

export function findVariant(name: string): VariantPreset | undefined {
  return VARIANTS.find((v) => v.name === name);
}
