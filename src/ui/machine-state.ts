/**
 * The machine as the web UI's panes show it at one step, read from the model's
 * own objects (threads and their held locks, each process's mm and page table, vfio-pci's
 * devices and the hardware functions behind them, type1's dma_list, lockdep's graph): the
 * UI never re-derives state from the text log.
 */
import type { System } from '../system.js';
import type { KThread } from '../kernel/sched/thread.js';
import { RwSemaphore } from '../kernel/locking/rwsem.js';
import { Mutex } from '../kernel/locking/mutex.js';
import { WaitGate } from '../kernel/locking/gate.js';
import { KProcessImpl } from '../kernel/process.js';
import { type VmaImpl, vpnOf } from '../kernel/mm/mm.js';
import { fileMapping } from '../kernel/mm/address-space.js';
import type { Vma } from '../kernel/mm/types.js';
import { VfioPciDevice } from '../kernel/vfio/pci/vfio-pci-device.js';
import { VfioContainer } from '../kernel/vfio/vfio.js';
import { VfioIommu } from '../kernel/vfio/type1/type1.js';
import type { BarJson, DeviceJson, IommuMappingJson, LockJson, MachineStateJson, PageJson, ProcessJson, ThreadStateJson, VmaJson } from './protocol.js';

const PAGE_SIZE = 4096;
/** Present-page runs listed per vma at most (the rest are counted in `pages`). */
const MAX_RUNS = 64;

/** Which mode a thread sleeping on `on` waits for. */
function waitMode(on: unknown, t: KThread): 'r' | 'w' | null {
  if (on instanceof RwSemaphore) return on.waiters.find((w) => w.t === t)?.mode ?? null;
  if (on instanceof Mutex) return 'w';
  return null;
}

/** The lock class of a waitable (a gate has none: its id). */
function waitClass(on: unknown, id: string): string {
  if (on instanceof RwSemaphore || on instanceof Mutex) return on.cls;
  if (on instanceof WaitGate) return 'pci_cfg_access_lock';
  return id;
}

/** The memory BARs of a device as pfn ranges, with their index. */
function barPfns(d: VfioPciDevice): { index: number; first: number; end: number }[] {
  const out: { index: number; first: number; end: number }[] = [];
  for (let i = 0; i < 6; i++) {
    const r = d.pdev.fn.resource(i);
    if (r === null || r.kind !== 'mem' || r.size === 0) continue;
    out.push({ index: i, first: Math.floor(r.start / PAGE_SIZE), end: Math.floor((r.start + r.size + PAGE_SIZE - 1) / PAGE_SIZE) });
  }
  return out;
}

/** The present PTEs of `vma` as runs of contiguous pfns. */
function presentRuns(p: KProcessImpl, vma: VmaImpl, bars: readonly { index: number; first: number; end: number }[]): PageJson[] {
  const runs: { addr: number; pfn: number; pages: number; bar: number | null }[] = [];
  const first = vpnOf(vma.start);
  const end = vpnOf(vma.end);
  for (let vpn = first; vpn < end; vpn++) {
    const pte = p.mm.pt.get(vpn);
    if (pte === undefined) continue;
    const last = runs[runs.length - 1];
    if (last !== undefined && last.addr + last.pages * PAGE_SIZE === vpn * PAGE_SIZE && last.pfn + last.pages === pte.pfn) {
      last.pages++;
      continue;
    }
    if (runs.length >= MAX_RUNS) break;
    const bar = bars.find((b) => pte.pfn >= b.first && pte.pfn < b.end)?.index ?? null;
    runs.push({ addr: vpn * PAGE_SIZE, pfn: pte.pfn, pages: 1, bar });
  }
  return runs;
}

/** The vfio-pci device a vma maps, or null. */
function vmaDevice(vma: Vma): VfioPciDevice | null {
  return vma.privateData instanceof VfioPciDevice ? vma.privateData : null;
}

function tracked(vma: Vma, d: VfioPciDevice): boolean {
  if (d.vmaList.includes(vma)) return true;
  const m = vma.file === null ? null : fileMapping(vma.file);
  return m !== null && m.iMmap.includes(vma);
}

/** The processes of the machine: the owners of its threads, in pid order. */
function processesOf(sys: System): KProcessImpl[] {
  const out = new Set<KProcessImpl>();
  for (const t of sys.kernel.sched.threads) if (t.owner instanceof KProcessImpl) out.add(t.owner);
  return [...out].sort((a, b) => a.pid - b.pid);
}

function processJson(p: KProcessImpl): ProcessJson {
  const vmas: VmaJson[] = [];
  for (const vma of p.mm.vmas) {
    const d = vmaDevice(vma);
    if (d === null) continue;
    vmas.push({
      id: vma.id,
      start: vma.start,
      end: vma.end,
      device: d.name,
      live: vma.live,
      pages: (vma.end - vma.start) / PAGE_SIZE,
      present: presentRuns(p, vma, barPfns(d)),
      tracked: tracked(vma, d),
    });
  }
  return { name: p.name, pid: p.pid, mm: p.mm.id, vmas };
}

function deviceJson(sys: System, d: VfioPciDevice, nameOf: (t: KThread) => string): DeviceJson {
  const hw = d.pdev.fn.state();
  const bars: BarJson[] = [];
  for (let i = 0; i < 6; i++) {
    const r = d.pdev.fn.resource(i);
    if (r === null || r.size === 0) continue;
    bars.push({ index: i, kind: r.kind, start: r.start, size: r.size, decode: r.kind === 'mem' ? hw.memDecode : hw.ioDecode });
  }
  // the device's address space (6.10+): the mapping of any of its files, found through its vmas
  let space: DeviceJson['addressSpace'] = null;
  for (const p of processesOf(sys)) {
    for (const f of p.files.fds.values()) {
      const m = fileMapping(f);
      if (m === null || m.name !== `vfio:${d.name}`) continue;
      space = m.iMmap.map((v) => ({ mm: v.mm.id, start: v.start, end: v.end }));
    }
  }
  const closer = d.pdev.cfgGate.closedBy;
  return {
    name: d.name,
    vconfigCommand: d.vconfig === null ? null : d.vconfigCommand,
    hwCommand: hw.command,
    powerState: hw.powerState,
    currentState: d.pdev.currentState,
    inReset: hw.inReset,
    cfgBlockedBy: closer === null ? null : nameOf(closer),
    bars,
    vmaList: d.vmaList.map((v) => ({ mm: v.mm.id, start: v.start, end: v.end, live: v.live })),
    addressSpace: space,
  };
}

/** type1's dma_list of every container a process has open. */
function iommuJson(sys: System): IommuMappingJson[] {
  const seen = new Set<VfioIommu>();
  const out: IommuMappingJson[] = [];
  for (const p of processesOf(sys)) {
    for (const f of p.files.fds.values()) {
      const c = f.privateData;
      if (!(c instanceof VfioContainer) || !(c.iommuData instanceof VfioIommu) || seen.has(c.iommuData)) continue;
      seen.add(c.iommuData);
      for (const dma of c.iommuData.dmaList) out.push({ container: c.id, iova: dma.iova, vaddr: dma.vaddr, size: dma.size, mapped: dma.iommuMapped });
    }
  }
  return out;
}

/** The state of `sys` now; `nameOf` gives a kernel thread's scenario name. */
export function machineState(sys: System, nameOf: (t: KThread) => string): MachineStateJson {
  const threads: ThreadStateJson[] = [];
  const locks = new Map<string, { lock: string; cls: string; holders: LockJson['holders'][number][]; waiters: LockJson['waiters'][number][] }>();
  const lockOf = (id: string, cls: string): { lock: string; cls: string; holders: LockJson['holders'][number][]; waiters: LockJson['waiters'][number][] } => {
    let l = locks.get(id);
    if (l === undefined) locks.set(id, (l = { lock: id, cls, holders: [], waiters: [] }));
    return l;
  };
  for (const t of sys.kernel.sched.threads) {
    const name = nameOf(t);
    const on = t.state === 'blocked' ? t.blockedOn : null;
    const mode = on === null ? null : waitMode(on, t);
    threads.push({
      name,
      tid: t.tid,
      state: t.state,
      held: t.held.map((h) => ({ lock: h.lockId, cls: h.cls, mode: h.mode, fn: h.fn })),
      waitsFor: on === null ? null : { lock: on.id, mode },
      label: t.label,
    });
    for (const h of t.held) lockOf(h.lockId, h.cls).holders.push({ thread: name, mode: h.mode });
    if (on !== null) lockOf(on.id, waitClass(on, on.id)).waiters.push({ thread: name, mode });
  }
  const lockdep = sys.lockdep?.dependencies().map((d) => ({ from: d.from, to: d.to })) ?? [];
  return {
    threads,
    locks: [...locks.values()].sort((a, b) => (a.lock < b.lock ? -1 : a.lock > b.lock ? 1 : 0)),
    processes: processesOf(sys).map(processJson),
    devices: sys.vfioPci.devices.map((d) => deviceJson(sys, d, nameOf)),
    iommu: iommuJson(sys),
    lockdep,
    platformErrors: sys.platformErrors,
  };
}
