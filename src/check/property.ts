/**
 * The properties the explorer checks on every execution (issue #4), as monitors that
 * watch one run: its events, every scheduler step, the start and end of each user
 * operation, and the run's end. A monitor reports violations; the first one of each
 * property in a run is kept.
 *
 * Built in:
 * - `unsupported-request`: a CPU access (user load/store, the kernel's read/write path,
 *   an ioeventfd write) reached a function whose decode was off.
 * - `p2p-dma`: a peer-to-peer DMA reached a BAR whose decode was off. Reported apart:
 *   no variant before DMA-buf revocation prevents it (spec §5 Variant G, H8).
 * - `deadlock`: no runnable thread while some sleep.
 * - `lockdep`: the lock validator reported (circular dependency, recursive read).
 * - `kernel-bug`: a BUG() killed a thread (e.g. the double remap of H1).
 * - `kernel-warning`: a WARN splat (e.g. mmap_assert_write_locked of H9 on 6.6 with lockdep),
 *   or a kernel error line with a stack dump (might_sleep's "BUG: sleeping function called
 *   from invalid context", 5.9's ioeventfd write).
 * - `vm-flags-under-read-lock`: a vma's vm_flags changed while mmap_lock was held only for
 *   read (H9 itself, on every kernel whose fault path does it, whether or not the kernel
 *   checks and prints a WARNING).
 * - `spurious-error`: an operation got SIGBUS or -EIO while memory was enabled on every
 *   open device for the whole operation, or a BAR fault handler returned VM_FAULT_SIGBUS
 *   while memory was enabled (v1's SIGBUS on contention, which futex sees as -EFAULT).
 * - `stale-mapping`: "zapped means zapped": when an operation ends, no process (fork
 *   children included) has a PTE to a BAR of a device whose memory is disabled, and no
 *   IOMMU mapping of such a BAR is created while it is disabled.
 * - `tracking`: vfio-pci's vma_list holds no node for a vma that was freed (the spec's
 *   "no node for a freed vma"). A vma munmap has detached but not yet closed is not
 *   freed: its ->close, which drops the node, is still to come.
 * - `host-disabled-memory`: a user CPU access or mapping reaches a BAR whose MEM bit the
 *   host cleared behind vfio-pci's back (setpci, sysfs config): true on every kernel and
 *   nothing vfio-pci can prevent, so reported apart (as `p2p-dma` is), and those accesses
 *   and mappings do not count as `unsupported-request` or `stale-mapping`.
 * - `termination`: the run hit its step limit (a livelock, or a bound too small).
 *
 * "Memory disabled" means the function does not decode memory (the hardware: command MEM
 * clear, D3hot, not ready), not vfio-pci's virtual copy of the command register: a VF's
 * virtual MEM bit may read 0 while it decodes (5.7), and 5.8-rc1 refused a VF's accesses
 * while it decoded; judging by vfio-pci's own predicate would miss exactly those mistakes.
 */
import type { SimEvent } from '../events/event.js';
import type { PciFunctionHw, PciResource } from '../hw/api.js';
import type { KProcess } from '../kernel/proc.js';
import type { KThread } from '../kernel/sched/thread.js';
import { asMm, type MmStruct, PT_WHOLE_END, TASK_SIZE } from '../kernel/mm/mm.js';
import type { VfioPciDevice } from '../kernel/vfio/pci/vfio-pci-device.js';
import type { System } from '../system.js';
import { PCI_COMMAND, PCI_COMMAND_MEMORY } from '../uapi/pci-regs.js';

/** Ids of the built-in properties, in report order. */
export const BUILTIN_PROPERTIES = [
  'unsupported-request',
  'p2p-dma',
  'deadlock',
  'lockdep',
  'kernel-bug',
  'kernel-warning',
  'vm-flags-under-read-lock',
  'spurious-error',
  'stale-mapping',
  'tracking',
  'host-disabled-memory',
  'termination',
] as const;
export type BuiltinProperty = (typeof BUILTIN_PROPERTIES)[number];

/** One-line descriptions (README, `vfio-sim explore --help`). */
export const PROPERTY_TEXT: Readonly<Record<BuiltinProperty, string>> = {
  'unsupported-request': 'no user-reachable CPU access (load/store, read/write, ioeventfd) reaches a function whose decode is off',
  'p2p-dma': 'no peer-to-peer DMA reaches a BAR whose decode is off (no variant before DMA-buf revocation prevents it)',
  deadlock: 'no deadlock',
  lockdep: 'lockdep stays silent',
  'kernel-bug': 'no kernel BUG',
  'kernel-warning': 'no kernel WARNING, nor an error report with a stack dump (BUG: sleeping function called from invalid context)',
  'vm-flags-under-read-lock': "no vma's vm_flags change while mmap_lock is held only for read (H9, warned or not)",
  'spurious-error': 'no SIGBUS or -EIO while memory was enabled for the whole operation',
  'stale-mapping': 'zapped means zapped: no PTE (any process) or new IOMMU mapping to a BAR of a device whose memory is disabled, once an operation has completed',
  tracking: 'vma_list holds no node for a freed vma',
  'host-disabled-memory': "no user access or mapping reaches a BAR whose MEM the host cleared behind vfio-pci's back (setpci; no variant prevents it)",
  termination: 'the run finishes within its step limit',
};

/** A broken property in one execution. */
export interface Violation {
  readonly property: string;
  readonly message: string;
}

/** How a user operation ended, as the monitors need it. */
export interface OpOutcome {
  readonly errno?: number;
  readonly signal?: { readonly sig: string };
}

/** How the run ended, as the monitors need it. */
export interface ExecEnd {
  readonly kind: 'done' | 'deadlock' | 'halted' | 'step-limit';
  readonly cycle: readonly string[];
  readonly reason: string | null;
  readonly bugs: readonly { readonly thread: string; readonly fn: string; readonly message: string }[];
}

/** Watches one run. Every hook is optional. */
export interface Monitor {
  onEvent?(ev: SimEvent): void;
  /** After every scheduler step. */
  afterStep?(t: KThread): void;
  opStart?(thread: string): void;
  opEnd?(thread: string, outcome: OpOutcome | null): void;
  finish?(end: ExecEnd): void;
}

/** Where monitors report. */
export type ViolationSink = (v: Violation) => void;

/**
 * Where monitors say what state their checks read, for the explorer's dependency relation
 * (see ExecControl.touch): a check made in the middle of a run (at an operation's end)
 * reads objects other threads write, so the step it runs in must be ordered against
 * theirs, or the search would take two interleavings for one while the check tells them
 * apart. `lo`/`hi`: an address range, for a page table.
 */
export type FootprintSink = (obj: string, access: 'r' | 'w', lo?: number, hi?: number) => void;

/** The state summaries the monitors' checks read (see builtinMonitors). */
const MEMORY_OFF_OBJ = 'monitor:memory-off';
const TRACKING_OBJ = 'monitor:vma-list';

const EIO = 5;

/** The memory-BAR ranges of a device, as page frame numbers [first, end). */
function barPfns(vdev: VfioPciDevice): { first: number; end: number }[] {
  return memBarPfns(vdev.pdev.fn);
}

/** The memory-BAR ranges of a PCI function, as page frame numbers [first, end). */
export function memBarPfns(fn: PciFunctionHw): { first: number; end: number }[] {
  const out: { first: number; end: number }[] = [];
  for (let i = 0; i < 6; i++) {
    const r: PciResource | null = fn.resource(i);
    if (r === null || r.kind !== 'mem' || r.size === 0) continue;
    out.push({ first: Math.floor(r.start / 4096), end: Math.floor((r.start + r.size + 4095) / 4096) });
  }
  return out;
}

/** Memory is off for an opened device: the function does not decode memory (the hardware's view, not vfio-pci's). */
function memoryOff(vdev: VfioPciDevice): boolean {
  return vdev.vconfig !== null && !vdev.pdev.fn.state().memDecode;
}

/** Whether a config write of `size` bytes at `offset` covers the command register's MEM bit; then whether it sets it. */
function commandMemWrite(offset: number, size: number, value: number): boolean | null {
  if (offset > PCI_COMMAND || offset + size <= PCI_COMMAND) return null;
  return ((value >>> ((PCI_COMMAND - offset) * 8)) & PCI_COMMAND_MEMORY) !== 0;
}

/** The live address spaces of every user process (fork children included). */
export function liveMms(sys: System): MmStruct[] {
  const seen = new Set<MmStruct>();
  for (const t of sys.kernel.sched.threads) {
    const p = t.owner as KProcess | null;
    if (p === null || p.mm === undefined) continue;
    const mm = asMm(p.mm);
    if (!mm.exited) seen.add(mm);
  }
  return [...seen];
}

/**
 * The built-in monitors for one run of `sys`. With `footprint`, they also say what their
 * checks read, in the step each runs in: `spurious-error`, `stale-mapping` and `tracking`
 * judge the state at operation boundaries, which other threads' steps change. Two state
 * summaries stand for what they read: whether each device's memory is off for the user
 * (`monitor:memory-off`) and which vma_list nodes are stale (`monitor:vma-list`); a step
 * that changes one writes it. A stale-mapping check made while memory is off reads every
 * live page table too.
 */
export function builtinMonitors(sys: System, report: ViolationSink, footprint?: FootprintSink): Monitor[] {
  const vdevs = (): readonly VfioPciDevice[] => sys.vfioPci.devices;
  const anyOff = (): boolean => vdevs().some((d) => memoryOff(d));
  const touch: FootprintSink = footprint ?? ((): void => undefined);
  /** Devices whose command register the host wrote last, clearing MEM (behind vfio-pci's back). */
  const hostCleared = new Set<string>();
  const hostOff = (d: VfioPciDevice): boolean => hostCleared.has(d.name) && memoryOff(d);
  /** memoryOff of every device, as a string: 0 on, 1 off, h off by the host's hand. */
  const offSummary = (): string => {
    let out = '';
    for (const d of vdevs()) out += hostOff(d) ? 'h' : memoryOff(d) ? '1' : '0';
    return out;
  };
  /** The stale vma_list nodes, as text. */
  const trackingSummary = (): string => {
    let out = '';
    for (const d of vdevs()) for (const vma of d.vmaList) if (!vma.live) out += `${d.name}@${vma.start};`;
    return out;
  };
  // (the summaries are kept only for a footprint sink)
  let lastOff = footprint === undefined ? '' : offSummary();
  let lastTracking = footprint === undefined ? '' : trackingSummary();
  const summaries: Monitor = {
    onEvent(ev) {
      if (ev.kind !== 'cfg.write') return;
      const mem = commandMemWrite(ev.offset, ev.size, ev.value);
      if (mem === null) return;
      if (ev.origin === 'host' && !mem) hostCleared.add(ev.dev);
      else hostCleared.delete(ev.dev);
    },
    afterStep() {
      if (footprint === undefined) return;
      const off = offSummary();
      if (off !== lastOff) {
        lastOff = off;
        touch(MEMORY_OFF_OBJ, 'w');
      }
      const tr = trackingSummary();
      if (tr !== lastTracking) {
        lastTracking = tr;
        touch(TRACKING_OBJ, 'w');
      }
    },
  };

  // spurious-error: operations in flight, and whether memory was off at any step during them
  const inFlight = new Map<string, { off: boolean }>();
  /** Threads whose fault in progress the handler refused because memory was off (`vfio.blocked`). */
  const blockedFault = new Set<number>();
  const spurious: Monitor = {
    // the kernel-side view: a BAR fault handler refused a fault while memory was enabled
    // (v1's trylock under contention: the caller may see -EFAULT rather than SIGBUS). A
    // handler that found memory off says so (`vfio.blocked`, path fault) when it decides;
    // that refusal is right even if another thread enables memory before the fault ends
    // and its `fault` event is emitted.
    onEvent(ev) {
      if (ev.kind === 'vfio.blocked') {
        if (ev.path === 'fault') blockedFault.add(ev.tid);
        return;
      }
      if (ev.kind !== 'fault') return;
      const decided = blockedFault.delete(ev.tid);
      if (!/SIGBUS/.test(ev.result) || !/vfio/.test(ev.fn) || decided) return;
      touch(MEMORY_OFF_OBJ, 'r');
      if (anyOff()) return;
      report({ property: 'spurious-error', message: `${ev.fn} returned ${ev.result} at 0x${ev.addr.toString(16)} (mm${ev.mm}) while memory was enabled` });
    },
    opStart(thread) {
      touch(MEMORY_OFF_OBJ, 'r');
      inFlight.set(thread, { off: anyOff() });
    },
    afterStep() {
      if (inFlight.size === 0) return;
      let off: boolean | null = null;
      for (const st of inFlight.values()) {
        if (st.off) continue;
        off ??= anyOff();
        if (off) st.off = true;
      }
    },
    opEnd(thread, o) {
      touch(MEMORY_OFF_OBJ, 'r');
      const st = inFlight.get(thread);
      inFlight.delete(thread);
      if (st === undefined || o === null || st.off || anyOff()) return;
      if (o.signal?.sig === 'SIGBUS') report({ property: 'spurious-error', message: `${thread} got SIGBUS while memory was enabled for the whole operation` });
      else if (o.errno === EIO) report({ property: 'spurious-error', message: `${thread} got -EIO while memory was enabled for the whole operation` });
    },
  };

  // stale-mapping and tracking: checked whenever an operation ends
  const stale: Monitor = {
    onEvent(ev) {
      if (ev.kind === 'iommu.map') {
        touch(MEMORY_OFF_OBJ, 'r');
        for (const d of vdevs()) {
          if (!memoryOff(d)) continue;
          for (const r of barPfns(d)) {
            if (ev.pfn < r.end && ev.pfn + ev.pages > r.first) {
              if (hostOff(d)) report({ property: 'host-disabled-memory', message: `an IOMMU mapping of ${d.name}'s BAR (pfn 0x${ev.pfn.toString(16)}) was created while the host had cleared its MEM behind vfio-pci's back` });
              else report({ property: 'stale-mapping', message: `an IOMMU mapping of ${d.name}'s BAR (pfn 0x${ev.pfn.toString(16)}) was created while its memory was disabled` });
            }
          }
        }
      } else if (ev.kind === 'scenario.step' && ev.phase === 'end') {
        checkPtes(ev.thread);
        checkTracking(ev.thread);
      }
    },
  };
  const checkPtes = (after: string): void => {
    touch(MEMORY_OFF_OBJ, 'r');
    const off = vdevs().filter((d) => memoryOff(d));
    if (off.length === 0) return;
    const mms = liveMms(sys);
    for (const mm of mms) touch(mm.ptObj, 'r', 0, PT_WHOLE_END);
    for (const mm of mms) {
      if (mm.pt.size === 0) continue;
      for (const d of off) {
        for (const r of barPfns(d)) {
          let hit = -1;
          mm.pt.forEachInRange(0, Math.floor(TASK_SIZE / 4096), (vpn, pte) => {
            if (hit < 0 && pte.pfn >= r.first && pte.pfn < r.end) hit = vpn;
          }, (vpn, n, pte) => {
            if (hit < 0 && pte.pfn < r.end && pte.pfn + n > r.first) hit = vpn + Math.max(0, r.first - pte.pfn);
          });
          if (hit >= 0) {
            const at = `after ${after}'s operation, mm${mm.id} still maps ${d.name}'s BAR at 0x${(hit * 4096).toString(16)}`;
            if (hostOff(d)) report({ property: 'host-disabled-memory', message: `${at} after the host cleared its MEM behind vfio-pci's back` });
            else report({ property: 'stale-mapping', message: `${at} while its memory is disabled` });
            return;
          }
        }
      }
    }
  };
  const checkTracking = (after: string): void => {
    touch(TRACKING_OBJ, 'r');
    for (const d of vdevs()) {
      for (const vma of d.vmaList) {
        if (!vma.live) {
          report({ property: 'tracking', message: `after ${after}'s operation, ${d.name}'s vma_list holds a node for a freed vma [0x${vma.start.toString(16)}, 0x${vma.end.toString(16)})` });
          return;
        }
      }
    }
  };

  const events: Monitor = {
    onEvent(ev) {
      if (ev.kind === 'platform.error') {
        const where = `${ev.dir === 'r' ? 'read' : 'write'} of ${ev.size} byte${ev.size === 1 ? '' : 's'} at 0x${ev.addr.toString(16)}${ev.target === null ? '' : ` (${ev.target})`}`;
        if (ev.initiator === 'dma') report({ property: 'p2p-dma', message: `Unsupported Request: peer-to-peer DMA ${where} by ${ev.requester ?? 'a device'}` });
        else if (ev.target !== null && hostCleared.has(ev.target)) report({ property: 'host-disabled-memory', message: `Unsupported Request: CPU ${where}, whose MEM the host cleared behind vfio-pci's back` });
        else report({ property: 'unsupported-request', message: `Unsupported Request: CPU ${where}` });
      } else if (ev.kind === 'lockdep') {
        report({ property: 'lockdep', message: ev.title });
      } else if (ev.kind === 'warn') {
        report({ property: 'kernel-warning', message: `WARNING in ${ev.fn}: ${ev.message}` });
      } else if (ev.kind === 'printk' && ev.stack === true) {
        report({ property: 'kernel-warning', message: `${ev.line} (in ${ev.fn}, with a stack dump)` });
      } else if (ev.kind === 'mm.vm-flags') {
        report({ property: 'vm-flags-under-read-lock', message: `${ev.fn} changed vm_flags of vma 0x${ev.start.toString(16)}-0x${ev.end.toString(16)} (mm${ev.mm}) with mmap_lock held for ${ev.lock}` });
      }
    },
    finish(end) {
      if (end.kind === 'deadlock') report({ property: 'deadlock', message: `deadlock: ${end.cycle.join('; ')}` });
      if (end.kind === 'step-limit') report({ property: 'termination', message: 'the run hit its step limit' });
      for (const b of end.bugs) report({ property: 'kernel-bug', message: `kernel BUG in ${b.fn} (${b.thread}): ${b.message}` });
    },
  };
  return [summaries, events, spurious, stale];
}

