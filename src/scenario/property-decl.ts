/**
 * Scenario-declared properties (`properties:` in a scenario file): "at most N events of
 * this kind whose fields match", checked by the explorer on every execution.
 */
import type { EventKind, SimEvent } from '../events/event.js';
import type { PropertyDecl } from './load.js';
import type { RunResult } from './run.js';
import type { UserProperty } from './explore.js';

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

function matches(ev: SimEvent, where: PropertyDecl['where']): boolean {
  const rec = ev as unknown as Record<string, unknown>;
  for (const [k, want] of Object.entries(where)) {
    const got = rec[k];
    if (typeof got === 'bigint' ? typeof want !== 'number' || got !== BigInt(want) : got !== want) return false;
  }
  return true;
}

/** The explorer's form of a declared property. */
export function declaredProperty(d: PropertyDecl): UserProperty {
  const what = `${d.event}${Object.keys(d.where).length === 0 ? '' : ` {${Object.entries(d.where).map(([k, v]) => `${k}: ${String(v)}`).join(', ')}}`}`;
  return {
    name: d.name,
    check: (r: RunResult) => {
      const hits = r.events.filter((e) => e.kind === d.event && matches(e, d.where));
      if (hits.length <= d.atMost) return null;
      return `${hits.length} ${what} event${hits.length === 1 ? '' : 's'} (at most ${d.atMost} allowed; line ${d.line})`;
    },
  };
}
