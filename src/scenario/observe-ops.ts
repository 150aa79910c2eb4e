/**
 * Observation operations: they look at the model without driving it, so a scenario can
 * state what the spec's claims are about but no user syscall returns — whether PTEs exist
 * and at which page-table level (`pte`), how many kernel or hardware events of a kind
 * happened (`events`: faults, zaps, resets, device accesses...), and the hardware value
 * of a config register (`host_config_read`, as `lspci`/`setpci` without a value would
 * show it, bypassing vfio-pci's virtualized config space).
 */
import * as z from 'zod';
import type { EventKind } from '../events/event.js';
import { asMm } from '../kernel/mm/mm.js';
import { point, type Task } from '../kernel/sched/task.js';
import type { Outcome } from './context.js';
import { defineOp, hex, refText, short } from './op-def.js';
import { addr, cfgSize, device, type DeviceRef, type NameRef, obj, uint } from './values.js';
import { SideTable } from '../util/side-table.js';

const PAGE = 4096;

const pteOp = defineOp<{ at: NameRef | number; length?: number }>({
  name: 'pte',
  doc: "Look at the thread's page table, touching nothing (no fault, no device access). For one address (`pte: bar+0x1000`): fields `present`, `level` (none, pte, pmd or pud: the entry that maps the page; pmd/pud are 2 MiB / 1 GiB leaf entries) and `pfn`. With `length` (`{at, length}`): the value and field `pages` count the present 4 KiB pages of the range, `pmd` and `pud` the huge leaf entries overlapping it.",
  args: short('at', addr(), obj({ at: addr(), length: uint().optional() }, 'pte'), 'expected an address (e.g. bar+0x1000) or a mapping {at, length}'),
  binds: null,
  describe: (a) => `pte ${refText(a.at)}${a.length !== undefined ? ` len ${hex(a.length)}` : ''}`,
  *run(ctx, a): Task<Outcome> {
    const mm = asMm(ctx.p.kproc.mm);
    yield mm.ptRead;
    const at = ctx.addr(a.at);
    const vpn = Math.floor(at / PAGE);
    if (a.length !== undefined) {
      const end = Math.ceil((at + a.length) / PAGE);
      const pages = mm.pt.countRange(vpn, end);
      return { value: BigInt(pages), fields: { pages: BigInt(pages), pmd: BigInt(mm.pt.countHuge(vpn, end, 'pmd')), pud: BigInt(mm.pt.countHuge(vpn, end, 'pud')) } };
    }
    const pte = mm.pt.get(vpn);
    if (pte === undefined) return { fields: { present: false, level: 'none' } };
    return { fields: { present: true, level: pte.huge ?? 'pte', pfn: BigInt(pte.pfn) } };
  },
});

/** The event kinds `events` counts (src/events/event.ts). */
export const COUNTABLE_EVENTS = [
  'fault', 'pte.install', 'pte.zap', 'vma.open', 'vma.close', 'mm.vm-flags', 'mmap', 'munmap', 'fork',
  'cfg.write', 'cfg.read', 'mmio', 'pio', 'rom.read', 'dma', 'iommu.fault', 'iommu.map', 'iommu.unmap',
  'platform.error', 'machine.halt', 'reset', 'power', 'msi', 'irq',
  'bug', 'warn', 'printk', 'lockdep',
  'vfio.zap', 'vfio.vma-track', 'vfio.blocked', 'vfio.pm', 'signal', 'syscall', 'note',
  'lock.acquire', 'lock.contended', 'lock.trylock-failed', 'lock.release', 'sleep',
] as const satisfies readonly EventKind[];

type CountableEvent = (typeof COUNTABLE_EVENTS)[number];

/** Per run (System): the count of each kind when an `events` step last asked. */
const lastCounts = new SideTable<object, Map<string, number>>('lastCounts');

const eventKind = z.enum(COUNTABLE_EVENTS, { error: `expected an event kind: ${COUNTABLE_EVENTS.join(', ')}` });

/** The explorer's object for the count of events of `kind` (read by `events`, written by each such event). */
export function eventCountObject(kind: string): string {
  return `events:${kind}`;
}

const eventsOp = defineOp<{ kind: CountableEvent }>({
  name: 'events',
  doc: "How many events of a kind (`events: fault`, `vfio.zap`, `reset`, `mmio`, `iommu.map`, ...; every thread and the hardware count) happened since the previous `events` step for the same kind (in any thread or setup); the first `events` step for a kind counts from the start of the run (open_device's own resets, faults... included), so it is usually a baseline without `expect`. The value is the count.",
  args: short('kind', eventKind, obj({ kind: eventKind }, 'events'), `expected an event kind (${COUNTABLE_EVENTS.slice(0, 6).join(', ')}, ...) or a mapping {kind}`),
  binds: null,
  describe: (a) => `events ${a.kind}`,
  // eslint-disable-next-line require-yield
  *run(ctx, a) {
    let m = lastCounts.get(ctx.sys);
    if (m === undefined) {
      m = new Map();
      lastCounts.set(ctx.sys, m);
    }
    // the count depends on every step that emitted such an event (see eventCountObject)
    ctx.sys.kernel.sched.observer?.touch?.(eventCountObject(a.kind), 'r');
    const now = ctx.sys.events.count(a.kind);
    const before = m.get(a.kind) ?? 0;
    m.set(a.kind, now);
    return { value: BigInt(now - before), note: `(${now} in all)` };
  },
});

const hostConfigRead = defineOp<{ device: DeviceRef; offset: number; size?: 1 | 2 | 4 }>({
  name: 'host_config_read',
  doc: "A config read by the host (like lspci), bypassing vfio-pci: the hardware register's value (vfio-pci's virtual copy, which config_read shows, may differ — e.g. a VF's MEM bit).",
  args: obj({ device, offset: uint(0xfff), size: cfgSize.optional() }, 'host_config_read'),
  binds: null,
  describe: (a) => `host_config_read ${a.device.name} @${hex(a.offset)}/${a.size ?? 4}`,
  *run(ctx, a) {
    const fn = ctx.device(a.device);
    yield point('cfg', `hw:${fn.name}:cfg`, 'r');
    return { value: BigInt(fn.cfgRead(a.offset, a.size ?? 4, 'host')) };
  },
});

/** The observation operations, in the order the README lists them. */
export const OBSERVE_OPS = [pteOp, eventsOp, hostConfigRead];
