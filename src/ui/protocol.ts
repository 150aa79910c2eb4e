/**
 * The JSON the `vfio-sim ui` server sends the web app (web/ imports these types only):
 * the machine's state at a step of a run, a recorded trace, check cells, scenario files.
 */

/** A lock as one thread holds it or waits for it. */
export interface LockHoldJson {
  readonly lock: string;
  /** The lockdep class ('&vdev->memory_lock'). */
  readonly cls: string;
  readonly mode: 'r' | 'w';
  /** The kernel function that took it. */
  readonly fn: string;
}

/** One thread at a step: what it holds, what it sleeps on. */
export interface ThreadStateJson {
  readonly name: string;
  readonly tid: number;
  readonly state: string;
  readonly held: readonly LockHoldJson[];
  /** The lock (or gate) it sleeps on, null when it does not. */
  readonly waitsFor: { readonly lock: string; readonly mode: 'r' | 'w' | null } | null;
  /** The scenario step it is performing. */
  readonly label: string;
}

/** A lock some thread holds or waits for. */
export interface LockJson {
  readonly lock: string;
  readonly cls: string;
  readonly holders: readonly { readonly thread: string; readonly mode: 'r' | 'w' }[];
  readonly waiters: readonly { readonly thread: string; readonly mode: 'r' | 'w' | null }[];
}

/** Present pages of a vma, as a run: the first page's user address and pfn, and how many follow contiguously. */
export interface PageJson {
  readonly addr: number;
  readonly pfn: number;
  readonly pages: number;
  /** The pfn lies in one of the device's memory BARs: the BAR's index. */
  readonly bar: number | null;
}

/** A vma of a process over a vfio device fd. */
export interface VmaJson {
  readonly id: number;
  readonly start: number;
  readonly end: number;
  /** The device it maps (null: not a vfio-pci mapping). */
  readonly device: string | null;
  /** Unmapped (munmap, exit) but maybe still referenced (a stale vma_list node). */
  readonly live: boolean;
  readonly pages: number;
  readonly present: readonly PageJson[];
  /** On the device's vma_list (tracked for zap), or in its address space (6.10+). */
  readonly tracked: boolean;
}

export interface ProcessJson {
  readonly name: string;
  readonly pid: number;
  readonly mm: number;
  readonly vmas: readonly VmaJson[];
}

export interface BarJson {
  readonly index: number;
  readonly kind: 'mem' | 'io';
  readonly start: number;
  readonly size: number;
  /** Whether the hardware decodes accesses to it now. */
  readonly decode: boolean;
}

export interface DeviceJson {
  readonly name: string;
  /** vfio-pci's virtual command register (vconfig), null while the device is closed. */
  readonly vconfigCommand: number | null;
  /** The command register as the hardware holds it. */
  readonly hwCommand: number;
  readonly powerState: string;
  /** The kernel's pdev->current_state. */
  readonly currentState: string;
  readonly inReset: boolean;
  /** Config access blocked (pci_cfg_access_lock) by this thread, during a reset. */
  readonly cfgBlockedBy: string | null;
  readonly bars: readonly BarJson[];
  /** vma_list: the tracked vmas as (mm, start, end, live), head first. */
  readonly vmaList: readonly { readonly mm: number; readonly start: number; readonly end: number; readonly live: boolean }[];
  /** The device inode's address space (6.10+): its vmas; null when the variant has none. */
  readonly addressSpace: readonly { readonly mm: number; readonly start: number; readonly end: number }[] | null;
}

export interface IommuMappingJson {
  readonly container: number;
  readonly iova: number;
  readonly vaddr: number;
  readonly size: number;
  readonly mapped: boolean;
}

export interface LockdepEdgeJson {
  readonly from: string;
  readonly to: string;
}

/** The model's state after a step. */
export interface MachineStateJson {
  readonly threads: readonly ThreadStateJson[];
  readonly locks: readonly LockJson[];
  readonly processes: readonly ProcessJson[];
  readonly devices: readonly DeviceJson[];
  readonly iommu: readonly IommuMappingJson[];
  /** lockdep's dependency graph so far (class -> class). */
  readonly lockdep: readonly LockdepEdgeJson[];
  readonly platformErrors: number;
}

/** One scheduler step of a recorded run. */
export interface TraceStepJson {
  /** A step of a process's setup (before the threads start). */
  readonly setup: boolean;
  /** The thread that ran (its scenario name). */
  readonly thread: string;
  /** The scheduling point it passed: 'down_read memory_lock:0000:01:00.0'. */
  readonly point: string;
  /** The scenario step it was performing. */
  readonly label: string;
  /** The events of the step, in the kernel's words. */
  readonly events: readonly string[];
  /** The step produced a platform error (an access nothing decodes). */
  readonly platformError: boolean;
  /** A lockdep report was printed in this step: its cycle's classes. */
  readonly lockdepCycle: readonly string[] | null;
  /** Properties first found broken at this step. */
  readonly breaks: readonly { readonly property: string; readonly message: string }[];
  /** Index into TraceJson.states of the state after this step. */
  readonly state: number;
}

/** The parts of a MachineStateJson that are stored once per distinct value (TraceJson.pools). */
export const STATE_PARTS = ['threads', 'locks', 'processes', 'devices', 'iommu', 'lockdep'] as const;
export type StatePart = (typeof STATE_PARTS)[number];

/** A state as indices into the trace's pools, one per part. */
export type StateRef = { readonly [K in StatePart]: number } & { readonly platformErrors: number };

/** Each part's distinct values (a long trace changes few parts per step). */
export type StatePools = { readonly [K in StatePart]: readonly MachineStateJson[K][] };

/** The state `ref` of `trace`, assembled from its pools. */
export function resolveState(pools: StatePools, ref: StateRef): MachineStateJson {
  return {
    threads: pools.threads[ref.threads] ?? [],
    locks: pools.locks[ref.locks] ?? [],
    processes: pools.processes[ref.processes] ?? [],
    devices: pools.devices[ref.devices] ?? [],
    iommu: pools.iommu[ref.iommu] ?? [],
    lockdep: pools.lockdep[ref.lockdep] ?? [],
    platformErrors: ref.platformErrors,
  };
}

export interface TraceJson {
  readonly scenario: string;
  readonly variant: string;
  readonly schedule: string;
  readonly token: string;
  /** The thread columns, in the order the CLI prints them. */
  readonly threads: readonly string[];
  /** The state before the first step (after setup). */
  readonly initial: number;
  readonly steps: readonly TraceStepJson[];
  /** Distinct states (consecutive equal states are stored once), as indices into `pools`. */
  readonly states: readonly StateRef[];
  readonly pools: StatePools;
  /** The properties broken: where (step index, -1 at the run's end) and why. */
  readonly violations: readonly { readonly property: string; readonly message: string; readonly step: number }[];
  /** How the run ended ('done', 'deadlock', ...), with the reason. */
  readonly end: string;
  /** The lockdep report's cycle (first circular report), or null. */
  readonly lockdepCycle: readonly string[] | null;
  /** The explorer's finding the token carries, or null. */
  readonly finding: readonly string[] | null;
}

/** A scenario file the server may show. */
export interface FileJson {
  readonly id: string;
  /** The path as the user gave it (or relative to the folder given). */
  readonly name: string;
  /** Saving allowed: the file was given on the command line by name. */
  readonly writable: boolean;
  /** A shipped example (read-only). */
  readonly example: boolean;
}

/** One cell of the check table (one scenario under one variant) as it finishes. */
export interface CheckCellJson {
  readonly file: string;
  readonly fileId: string | null;
  readonly variant: string;
  readonly executions: number;
  readonly complete: boolean;
  readonly note: string | null;
  readonly counterexamples: readonly { readonly property: string; readonly message: string; readonly token: string; readonly steps: number; readonly preemptions: number }[];
}

/**
 * A defect scenario's verdict (the defect table under `vfio-sim check`'s table): where the
 * explorer found its declared property broken, against where the scenario says it is.
 */
export interface DefectJson {
  /** The defect's id (the scenario's `defect: { id }`). */
  readonly id: string;
  readonly file: string;
  readonly fileId: string | null;
  /** The property the defect breaks. */
  readonly property: string;
  /** The variants the scenario declares it present in (`present_in`), of those checked. */
  readonly declared: readonly string[];
  /** The variants where the explorer found it, each with the counterexample that opens it. */
  readonly found: readonly { readonly variant: string; readonly token: string; readonly message: string }[];
  /** Found exactly where declared. */
  readonly ok: boolean;
  /** The knobs the scenario forces off some checked preset (`NAME=VALUE`). */
  readonly forced: readonly string[];
}

/** The check's end: the table as `vfio-sim check` computes it. */
export interface CheckDoneJson {
  readonly variants: readonly string[];
  readonly properties: readonly string[];
  /** variant -> property -> the finding shown. */
  readonly table: Readonly<Record<string, Readonly<Record<string, { readonly file: string; readonly fileId: string | null; readonly token: string; readonly message: string; readonly forced: readonly string[] }>>>>;
  /** The suite's defects, in suite order. */
  readonly defects: readonly DefectJson[];
  readonly complete: boolean;
  readonly ok: boolean;
}

/** A positioned error of the scenario loader. */
export interface ScenarioErrorJson {
  readonly line: number;
  readonly col: number;
  readonly message: string;
}
