/** Names the scenario loader and the property checks share (no imports of either, so no import cycle). */
import type { EventKind } from '../events/event.js';

/** Every event kind (a record, so the compiler checks the list is complete). */
export const EVENT_KINDS: Readonly<Record<EventKind, true>> = {
  'lock.acquire': true, 'lock.contended': true, 'lock.trylock-failed': true, 'lock.release': true, 'lock.downgrade': true,
  'thread.start': true, 'thread.exit': true, sleep: true, mmap: true, munmap: true, fault: true, 'pte.install': true,
  'pte.zap': true, 'vma.open': true, 'vma.close': true, 'mm.vm-flags': true, fork: true, 'cfg.write': true, 'cfg.read': true, mmio: true,
  pio: true, 'rom.read': true, dma: true, 'iommu.fault': true, 'iommu.map': true, 'iommu.unmap': true,
  'platform.error': true, 'machine.halt': true, reset: true, power: true, msi: true, irq: true, bug: true, warn: true, printk: true,
  lockdep: true, 'vfio.zap': true, 'vfio.vma-track': true, 'vfio.blocked': true, 'vfio.pm': true, syscall: true,
  signal: true, note: true, 'scenario.step': true,
};

/** The named observables a state predicate can read (README "Scenario properties"). */
export const STATE_OBSERVABLES = {
  memory_decode: 'whether a function decodes memory (its Memory Space Enable bit set, in D0, not in reset): { device, is: true|false }',
  iommu_maps_of_disabled_bars: 'IOMMU-mapped pages (any domain) of a memory BAR whose function does not decode memory; optionally of one { device }',
  bar_ptes: "user PTEs (any live process, fork children included) mapping a memory BAR of { device }",
  pte_present: "a PTE maps the page at { at: <mapping name>[+offset] } in the address space of the thread that bound the name (or { thread })",
  events: 'events of { kind } since the run started (every thread, setup included)',
} as const;
export type StateObservable = keyof typeof STATE_OBSERVABLES;

/** A step's key: `thread#index` (setup steps: the process name). */
export function stepKey(thread: string, index: number): string {
  return `${thread}#${index}`;
}

