/**
 * The structured event stream: every layer (hardware, kernel, user) reports what
 * happened here. Reports, traces, the terminal output and (later) the web UI are
 * views of this stream; nothing in the model prints.
 */

/** Who caused a hardware access: a CPU (through a page table or the kernel), or a device doing DMA. */
export type Initiator = 'cpu' | 'dma';

/** The kernel log levels (KERN_EMERG ... KERN_DEBUG), as `dmesg -x` names them. */
export type PrintkLevel = 'emerg' | 'alert' | 'crit' | 'err' | 'warn' | 'notice' | 'info' | 'debug';

export type EventBody =
  // ---- locking ----------------------------------------------------------
  | { kind: 'lock.acquire'; lock: string; cls: string; mode: 'r' | 'w'; trylock: boolean; fn: string }
  | { kind: 'lock.contended'; lock: string; cls: string; mode: 'r' | 'w'; fn: string }
  | { kind: 'lock.trylock-failed'; lock: string; cls: string; mode: 'r' | 'w'; fn: string }
  | { kind: 'lock.release'; lock: string; cls: string; mode: 'r' | 'w'; fn: string }
  | { kind: 'lock.downgrade'; lock: string; cls: string; fn: string }
  // ---- scheduler ---------------------------------------------------------
  | { kind: 'thread.start'; name: string }
  | { kind: 'thread.exit'; name: string }
  | { kind: 'sleep'; ms: number; fn: string }
  // ---- mm ------------------------------------------------------------------
  | { kind: 'mmap'; mm: number; start: number; len: number; prot: number; flags: number; file: string | null; ret: number }
  | { kind: 'munmap'; mm: number; start: number; len: number }
  | { kind: 'fault'; mm: number; addr: number; write: boolean; user: boolean; fn: string; result: string }
  | { kind: 'pte.install'; mm: number; start: number; end: number; pfn: number; fn: string }
  | { kind: 'pte.zap'; mm: number; start: number; end: number; present: number; fn: string }
  | { kind: 'vma.open'; mm: number; start: number; end: number; fn: string }
  | { kind: 'vma.close'; mm: number; start: number; end: number; fn: string }
  /** vm_flags of a vma changed while the writer held mmap_lock only for read (H9; not a kernel message). */
  | { kind: 'mm.vm-flags'; mm: number; start: number; end: number; lock: 'read'; fn: string }
  | { kind: 'fork'; parentPid: number; childPid: number }
  // ---- pci config / device accesses ----------------------------------------
  | { kind: 'cfg.write'; dev: string; offset: number; size: number; value: number; origin: 'vfio-user' | 'kernel' | 'host' }
  | { kind: 'cfg.read'; dev: string; offset: number; size: number; value: number; origin: 'vfio-user' | 'kernel' | 'host' }
  | { kind: 'mmio'; dev: string; bar: number; offset: number; size: number; value: bigint; dir: 'r' | 'w'; initiator: Initiator; requester: string | null }
  | { kind: 'pio'; dev: string; bar: number; offset: number; size: number; value: bigint; dir: 'r' | 'w' }
  | { kind: 'rom.read'; dev: string; offset: number; size: number }
  | { kind: 'dma'; dev: string; iova: number; len: number; dir: 'r' | 'w'; target: string; result: 'ok' | 'iommu-fault' | 'master-disabled' | 'unsupported-request' }
  | { kind: 'iommu.fault'; dev: string; iova: number; write: boolean; reason: string }
  | { kind: 'iommu.map'; domain: number; iova: number; pfn: number; pages: number; prot: number }
  | { kind: 'iommu.unmap'; domain: number; iova: number; pages: number }
  | { kind: 'platform.error'; error: 'unsupported-request'; addr: number; size: number; dir: 'r' | 'w'; target: string | null; initiator: Initiator; requester: string | null; severity: 'logged' | 'fatal' }
  | { kind: 'machine.halt'; reason: string }
  | { kind: 'reset'; dev: string; method: string; phase: 'start' | 'done' }
  | { kind: 'power'; dev: string; from: string; to: string }
  | { kind: 'msi'; dev: string; vector: number; addr: number; data: number; delivered: boolean }
  | { kind: 'irq'; irq: number; dev: string; vector: number; eventfd: number | null }
  // ---- kernel diagnostics ----------------------------------------------------
  | { kind: 'bug'; message: string; fn: string }
  | { kind: 'warn'; message: string; fn: string }
  /**
   * A kernel log line that is not a WARNING splat (printk / dev_printk / pci_info...):
   * `line` is what dmesg shows (a dev_printk line starts with the driver and device,
   * `vfio-pci 0000:01:00.0: `), `level` its log level, `fn` the function that prints it.
   */
  | { kind: 'printk'; level: PrintkLevel; line: string; fn: string; /** a stack dump follows the line (dump_stack) */ stack?: true }
  /** A lockdep report: `text` in the kernel's layout; `classes` the cycle (acquired lock first) or the class taken twice. */
  | { kind: 'lockdep'; report: 'circular' | 'recursive'; title: string; classes: readonly string[]; text: string; debugLocksOff: boolean }
  // ---- vfio / user-visible outcomes -------------------------------------------
  | { kind: 'vfio.zap'; dev: string; vmas: number; fn: string }
  | { kind: 'vfio.vma-track'; dev: string; op: 'add' | 'del'; mm: number; start: number; end: number }
  | { kind: 'vfio.blocked'; dev: string; path: string; errno: number; /** a fault refused because the user put the device into runtime low power (6.0+) */ lowPower?: true }
  /** Runtime PM of a vfio-pci device (6.0+): low-power entry/exit by the user, runtime suspend/resume by the PM core, wake-up eventfd signalled. */
  | { kind: 'vfio.pm'; dev: string; op: 'low-power-entry' | 'low-power-exit' | 'runtime-suspend' | 'runtime-resume' | 'wakeup'; state: string }
  | { kind: 'syscall'; pid: number; name: string; args: string; ret: number | string }
  | { kind: 'signal'; pid: number; sig: 'SIGBUS' | 'SIGSEGV'; code: string; addr: number }
  | { kind: 'note'; text: string }
  // ---- scenarios (src/scenario) ------------------------------------------------
  /** A scenario step starts (text: what it does) or ends (text: its result; verdict of its expectation). */
  | { kind: 'scenario.step'; thread: string; step: number; phase: 'start' | 'end'; text: string; verdict: 'met' | 'failed' | 'none' };

export type EventKind = EventBody['kind'];

/** One event: a body plus the global sequence number and the thread that caused it (0 = no thread). */
export type SimEvent = EventBody & { readonly seq: number; readonly tid: number };

/** Narrow an event to one kind. */
export type EventOf<K extends EventKind> = Extract<SimEvent, { kind: K }>;
