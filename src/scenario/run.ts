/**
 * Running a scenario: build the machine and kernel for the chosen variant, create the
 * processes and threads, run each process's setup, then run every thread under the
 * schedule with the deterministic scheduler. The result holds every step's outcome and
 * verdict, the run's end (done, deadlock with its wait-for cycle, halt, step limit),
 * kernel BUGs, platform errors, lockdep reports, the event stream and the replay token.
 */
import type { SimEvent } from '../events/event.js';
import type { PciFunctionHw } from '../hw/api.js';
import { errnoName } from '../kernel/errno.js';
import type { KernelBug, WaitEdge } from '../kernel/sched/errors.js';
import type { RunEnd, SchedObserver } from '../kernel/sched/scheduler.js';
import type { Task } from '../kernel/sched/task.js';
import type { KThread } from '../kernel/sched/thread.js';
import type { Knobs } from '../kernel/variant/knobs.js';
import type { MmStructRef } from '../kernel/mm/types.js';
import { reachable, Snapshot, SnapshotRefused } from '../check/snapshot.js';
import { System } from '../system.js';
import type { Process } from '../user/process.js';
import { type Binding, type Outcome, type StepCtx, Unavailable } from './context.js';
import type { RunExpect, Scenario, StepDecl, ThreadDecl } from './load.js';
import { formatOutcome, hex } from './op-def.js';
import {
  decodeToken,
  describeSchedule,
  encodeToken,
  hardwareThreadNames,
  parseSchedule,
  RecordingChooser,
  ScenarioInputError,
  type ScheduleSpec,
} from './schedule.js';
import { type BindKind, type DeviceRef, type Expectation, type NameRef } from './values.js';
import { checkVariant, type KnobValue, resolveKnobs, type VariantChoice, variantWarnings } from './variant.js';
import { pushAll } from '../util/array.js';

export interface RunOptions {
  /** A preset name; replaces the scenario's whole variant (its preset and its knob overrides). */
  readonly variant?: string;
  /** Knob overrides: on top of the scenario's, or on top of `variant` when one is given. */
  readonly knobs?: Readonly<Record<string, KnobValue>>;
  /** 'rr' (default), 'random', a list of thread names ('main,vcpu*3'), or a parsed schedule. */
  readonly schedule?: string | readonly string[] | ScheduleSpec;
  /** Seed of the random schedule (implies 'random' when no schedule is given). */
  readonly seed?: number;
  /** A replay token from an earlier run: fixes the variant and every choice. */
  readonly replay?: string;
  /** Scheduler step limit (default: the scenario's max_steps). */
  readonly maxSteps?: number;
  /** Run the lock validator (default true, as System's `lockdep` option); false runs without it (benchmarks). */
  readonly lockdep?: boolean;
  /** Watches every scheduler step (the explorer records its trace with it). */
  readonly observer?: SchedObserver;
  /**
   * Called once the System is built, before any process exists, with the scenario's name
   * for each kernel thread and where a thread's named mapping is (the explorer attaches its
   * property monitors here).
   */
  readonly attach?: (sys: System, nameOf: (t: KThread) => string, mappingOf: (thread: string, name: string) => { readonly addr: number; readonly mm: MmStructRef } | null) => void;
  /** Told when each step's operation starts and ends (the explorer's property monitors). */
  readonly stepHook?: StepHook;
}

/** See RunOptions.stepHook. */
export interface StepHook {
  start(thread: string): void;
  /** `outcome` is null when the step was skipped; `step`: the step's result, judged. */
  end(thread: string, outcome: Outcome | null, step: StepResult): void;
}

export type StepStatus = 'ok' | 'error' | 'signal' | 'failed' | 'killed' | 'skipped' | 'blocked' | 'not-run';

/** One step's outcome and verdict. */
export interface StepResult {
  readonly thread: string;
  readonly process: string;
  /** 'setup' steps run before the threads start, one process at a time. */
  readonly phase: 'setup' | 'thread';
  readonly index: number;
  readonly line: number;
  readonly text: string;
  status: StepStatus;
  /** The result as text ("0x10000ed", "-EIO", "SIGBUS (BUS_ADRERR) at 0x...", "skipped: ..."). */
  result: string;
  outcome: Outcome | null;
  readonly expect: Expectation | null;
  verdict: 'met' | 'failed' | 'none';
  /** Why an expectation failed. */
  why: string | null;
  /** Sequence numbers of the step's start and end events. */
  startSeq: number;
  endSeq: number;
}

/** A run-level expectation (deadlock, bug, halted, platform_errors...). */
export interface RunVerdict {
  readonly what: string;
  readonly expected: string;
  readonly actual: string;
  readonly met: boolean;
}

export interface ThreadInfo {
  readonly name: string;
  readonly process: string;
  readonly tid: number;
  readonly state: string;
  readonly death: string | null;
}

export interface RunResult {
  readonly scenario: { readonly file: string; readonly name: string | null; readonly hash: string };
  readonly variant: { readonly base: string; readonly knobs: Readonly<Record<string, KnobValue>>; readonly effective: Knobs };
  readonly schedule: { readonly kind: ScheduleSpec['kind']; readonly description: string; readonly seed: number | null };
  /** How the scheduled run ended. */
  readonly end: { readonly kind: RunEnd['kind']; readonly reason: string | null; readonly edges: readonly WaitEdge[]; readonly cycle: readonly string[] };
  readonly steps: readonly StepResult[];
  readonly threads: readonly ThreadInfo[];
  readonly bugs: readonly { readonly thread: string; readonly fn: string; readonly message: string; readonly label: string }[];
  readonly platformErrors: readonly SimEvent[];
  readonly warnings: readonly SimEvent[];
  readonly lockdep: readonly SimEvent[];
  readonly runVerdicts: readonly RunVerdict[];
  readonly expectations: { readonly met: number; readonly failed: number };
  /** Schedule problems (a list entry that was not runnable, a diverging replay). */
  readonly scheduleWarnings: readonly string[];
  /** Knob values no preset uses. */
  readonly variantWarnings: readonly string[];
  readonly choices: readonly number[];
  readonly schedulerSteps: number;
  readonly token: string;
  /** Set when the run replayed an explorer's counterexample token: the properties it was found breaking. */
  readonly finding?: { readonly properties: readonly string[] } | null;
  readonly events: readonly SimEvent[];
  /** Thread display name by kernel thread id (for the trace). */
  readonly threadOfTid: ReadonlyMap<number, string>;
  /** Every expectation (step and run level) met, and the run finished within its step limit. */
  readonly ok: boolean;
}

interface ThreadRt {
  readonly name: string;
  readonly process: ProcRt;
  readonly phase: 'setup' | 'thread';
  readonly kthread: KThread;
  readonly ctx: Ctx;
  readonly steps: readonly StepDecl[];
  pos: number;
}

interface ProcRt {
  readonly name: string;
  exited: boolean;
}

/** A step's run-time context (see StepCtx). */
class Ctx implements StepCtx {
  private scratchAddr = 0;
  private scratchSize = 0;

  constructor(
    readonly sys: System,
    readonly p: Process,
    readonly thread: string,
    readonly bindings: Map<string, Binding>,
    private readonly deviceNames: ReadonlyMap<string, string>,
  ) {}

  private get(ref: NameRef): Binding {
    const b = this.bindings.get(ref.name);
    if (b === undefined) throw new Unavailable(`${ref.name} is not available (the step that names it failed or did not run)`);
    return b;
  }

  fd(ref: NameRef | number): number {
    if (typeof ref === 'number') return ref;
    const b = this.get(ref);
    if (ref.sub !== null) {
      if (b.kind !== 'device') throw new Unavailable(`${ref.text}: ${ref.name} is not a device`);
      const v = ref.sub === 'group' ? b.groupFd : b.containerFd;
      if (v === null) throw new Unavailable(`${ref.text}: ${ref.name} was not opened with open_device`);
      return v;
    }
    if (b.kind === 'mapping') throw new Unavailable(`${ref.name} is a mapping, not an fd`);
    return b.fd;
  }

  binding(ref: NameRef, _kinds: readonly BindKind[]): Binding {
    return this.get(ref);
  }

  addr(ref: NameRef | number): number {
    if (typeof ref === 'number') return ref;
    const b = this.get(ref);
    if (b.kind !== 'mapping') throw new Unavailable(`${ref.name} is not a mapping`);
    return b.addr + ref.offset;
  }

  deviceOfFd(ref: NameRef | number): string | null {
    if (typeof ref === 'number' || ref.sub !== null) return null;
    const b = this.bindings.get(ref.name);
    return b?.kind === 'device' ? b.dev : null;
  }

  device(ref: DeviceRef): PciFunctionHw {
    const fn = this.sys.hw.findFunction(this.deviceNames.get(ref.name) ?? ref.name);
    if (fn === undefined) throw new Unavailable(`no device ${ref.name}`);
    return fn;
  }

  findGroupFd(group: number): number | null {
    for (const b of this.bindings.values()) {
      if (b.kind === 'group' && b.group === group) return b.fd;
      if (b.kind === 'device' && b.groupFd !== null && this.sys.hw.findFunction(b.dev)?.iommuGroup === group) return b.groupFd;
    }
    return null;
  }

  *scratch(n: number): Task<number> {
    if (this.scratchSize >= n && this.scratchAddr !== 0) return this.scratchAddr;
    const size = Math.max(4096, Math.ceil(n / 4096) * 4096);
    const a = yield* this.p.ops.alloc(size);
    if (a < 0) return a;
    this.scratchAddr = a;
    this.scratchSize = size;
    return a;
  }

  *ioctlStruct(fd: number, cmd: number, bytes: Uint8Array): Task<{ ret: number; bytes: Uint8Array }> {
    const buf = yield* this.scratch(Math.max(1, bytes.length));
    if (buf < 0) return { ret: buf, bytes };
    if (bytes.length > 0) {
      const w = yield* this.p.ops.writeBytes(buf, bytes);
      if (!w.ok) return { ret: -14, bytes };
    }
    const ret = yield* this.p.ops.ioctl(fd, cmd, buf);
    if (bytes.length === 0) return { ret, bytes };
    const back = yield* this.p.ops.readBytes(buf, bytes.length);
    return { ret, bytes: back.ok ? back.data : bytes };
  }
}

/** The effective variant and schedule of a run. */
function resolveRun(s: Scenario, opts: RunOptions): { choice: VariantChoice; schedule: ScheduleSpec; finding: { readonly properties: readonly string[] } | null } {
  if (opts.replay !== undefined) {
    if (opts.variant !== undefined || opts.knobs !== undefined || opts.schedule !== undefined || opts.seed !== undefined) {
      throw new ScenarioInputError('a replay token fixes the variant and the schedule: do not combine it with a variant, knobs, a schedule or a seed');
    }
    // a run makes at most maxSteps choices per phase (each process's setup, then the threads)
    const t = decodeToken(opts.replay, (opts.maxSteps ?? s.maxSteps) * (s.processes.length + 1));
    if (t.hash !== s.hash) throw new ScenarioInputError(`the replay token is for a different scenario, or for this one before a change to its machine, processes, steps or max_steps (token hash ${t.hash}, this scenario ${s.hash})`);
    return { choice: { base: t.variant, knobs: t.knobs }, schedule: { kind: 'replay', choices: t.choices }, finding: t.finding ?? null };
  }
  // a variant named on the command line replaces the scenario's whole variant (its preset
  // and its knob overrides); knobs given with it are applied on top
  const choice: VariantChoice =
    opts.variant !== undefined
      ? { base: opts.variant, knobs: { ...(opts.knobs ?? {}) } }
      : { base: s.variant.base, knobs: { ...s.variant.knobs, ...(opts.knobs ?? {}) } };
  let schedule: ScheduleSpec;
  if (opts.schedule !== undefined) {
    if (typeof opts.schedule === 'string' || Array.isArray(opts.schedule)) {
      schedule = parseSchedule(opts.schedule as string | readonly string[], opts.seed ?? (s.schedule?.kind === 'random' ? s.schedule.seed : undefined));
    } else schedule = opts.schedule as ScheduleSpec;
  } else if (opts.seed !== undefined) schedule = { kind: 'random', seed: opts.seed };
  else schedule = s.schedule ?? { kind: 'rr' };
  if (opts.seed !== undefined && schedule.kind !== 'random') throw new ScenarioInputError('a seed only applies to the random schedule');
  return { choice, schedule, finding: null };
}

/** Thread names a schedule list may use: every declared thread (incl. fork children) and the devices' hardware threads. */
function allThreadNames(s: Scenario): string[] {
  const out: string[] = [];
  const walk = (ts: readonly ThreadDecl[]): void => {
    for (const t of ts) {
      out.push(t.name);
      for (const st of t.steps) if (st.fork !== null) walk(st.fork.threads);
    }
  };
  for (const p of s.processes) {
    for (const st of p.setup) if (st.fork !== null) walk(st.fork.threads);
    walk(p.threads);
  }
  for (const h of hardwareThreadNames(s.machine.devices)) out.push(h);
  return out;
}

/**
 * A Runner for a loaded scenario, built and checked as `runScenario` does (the explorer
 * drives its phases itself). Throws ScenarioInputError for bad options.
 */
export function prepareRun(s: Scenario, opts: RunOptions = {}): Runner {
  const { choice, schedule } = resolveRun(s, opts);
  const vErr = checkVariant(choice);
  if (vErr.length > 0) throw new ScenarioInputError(vErr.map((e) => e.message).join('; '));
  if (schedule.kind === 'list') {
    const names = allThreadNames(s);
    for (const e of schedule.entries) if (!names.includes(e.thread)) throw new ScenarioInputError(`schedule names an unknown thread '${e.thread}' (threads: ${names.join(', ')})`);
  }
  const knobs = resolveKnobs(choice);
  const runner = new Runner(s, choice, knobs, schedule, opts.maxSteps ?? s.maxSteps, opts.lockdep);
  runner.hookUp({ schedule, observer: opts.observer ?? null, stepHook: opts.stepHook ?? null });
  return runner;
}

/** Run a loaded scenario. Throws ScenarioInputError for bad options (unknown variant, bad token...). */
export function runScenario(s: Scenario, opts: RunOptions = {}): RunResult {
  const runner = prepareRun(s, opts);
  if (opts.attach !== undefined) opts.attach(runner.sys, runner.nameOf, (t, n) => runner.mappingOf(t, n));
  const r = runner.run();
  const finding = opts.replay !== undefined ? (decodeToken(opts.replay).finding ?? null) : null;
  if (finding === null) return r;
  // the replay of an explorer's finding keeps the finding's token
  return { ...r, finding, token: encodeToken({ ...decodeToken(r.token), finding }) };
}

/** A Runner recorded between its phases, with what the caller keeps beside it (see snapshotSetup). */
export interface SetupWorld<T> {
  readonly runner: Runner;
  readonly extra: T;
}

/** A second world's setup needed a choice (see snapshotSetup). */
class SetupChoiceRefused extends Error {}

/**
 * Record `runner` (built with `opts` by prepareRun, its setup run, not yet its threads)
 * so that copies of it can run the thread phase: each `restore()` is a Runner of its
 * own (hookUp it, then runThreads). Returns why not when a copy could not be faithful.
 *
 * The runner is unhooked first (a hook is a closure over the caller's state). What every
 * world shares is found by building a second world the same way: objects both reach are
 * global (module constants, the scenario, device templates) and are kept, not copied; a
 * function only the first reaches is a closure over its state, which no copy could
 * rebind, so the snapshot is refused (as for a generator in flight, a WeakMap...). The
 * setup's events are frozen and shared: nothing changes an event once emitted, and a
 * change would now throw rather than alter every copy.
 */
export function snapshotSetup<T>(s: Scenario, opts: RunOptions, runner: Runner, extra: T): Snapshot<SetupWorld<T>> | string {
  if (runner.phaseName !== 'setup') return 'the runner is not between its phases';
  if (!runner.unhook()) return 'the setup made a scheduling choice';
  const refuseChoice = (): number => {
    throw new SetupChoiceRefused();
  };
  const b = prepareRun(s, { ...opts, schedule: { kind: 'custom', pick: refuseChoice, description: 'setup' }, observer: undefined, stepHook: undefined });
  let global: Set<object>;
  try {
    if (b.setup().kind !== 'done' || !b.unhook()) return 'a second setup did not end as the first';
    global = reachable(b);
  } catch (e) {
    if (e instanceof SetupChoiceRefused) return 'the setup has a scheduling choice';
    throw e;
  }
  for (const ev of runner.sys.events.all()) Object.freeze(ev);
  try {
    return Snapshot.take<SetupWorld<T>>({ runner, extra }, { shared: (o) => global.has(o), allowFunction: () => false });
  } catch (e) {
    if (e instanceof SnapshotRefused) return e.message;
    throw e;
  }
}

/** The hooks a Runner calls out through; set again on every copy of a snapshot (see Runner). */
export interface RunnerHooks {
  /** The schedule of the choices from now on. */
  readonly schedule: ScheduleSpec;
  /** Watches every scheduler step (the explorer's trace), or null. */
  readonly observer: SchedObserver | null;
  /** Told when each step's operation starts and ends, or null. */
  readonly stepHook: StepHook | null;
}

/** The schedule of a Runner without hooks (hookUp gives it one again). */
const UNHOOKED: ScheduleSpec = { kind: 'rr' };

/** A thread's kernel name (the display name of a Runner without hooks). */
function kernelName(t: KThread): string {
  return t.name;
}

/**
 * One run of a scenario in two phases: `setup()` creates every process and runs each
 * process's setup steps (one process at a time), `runThreads()` starts every thread and
 * runs them under the schedule, then judges the run. `run()` is both.
 *
 * Between the phases the explorer copies the whole Runner (src/check/snapshot.ts): its
 * System, step results, bindings, thread records and the threads of children forked
 * during setup. A copy must not share a closure over the original's state, so every
 * function the Runner installs (the chooser, the scheduler's observer and death handler,
 * the step hook, `nameOf`) is set by `hookUp` and removed by `unhook`: unhook before
 * taking the snapshot, and hookUp each copy.
 */
export class Runner {
  readonly sys: System;
  private readonly results: StepResult[] = [];
  private readonly resultOf = new Map<StepDecl, StepResult>();
  private readonly threadOfTid = new Map<number, string>();
  private readonly threads: ThreadRt[] = [];
  private readonly bugs: { thread: string; fn: string; message: string; label: string }[] = [];
  private readonly deviceNames: Map<string, string>;
  private chooser: RecordingChooser | null = null;
  private schedule: ScheduleSpec;
  private hook: StepHook | null = null;
  /** Threads of children forked during setup, started when the threads start. */
  private readonly deferred: ThreadRt[] = [];
  /** The scenario's name of a kernel thread (its kernel name when the scenario did not create it). */
  nameOf: (t: KThread) => string = kernelName;
  // between the phases
  private phase: 'new' | 'setup' | 'threads' = 'new';
  private stepBase = 0;
  private setupEnd: RunEnd = { kind: 'done' };
  private readonly procs: { rt: ProcRt; p: Process }[] = [];
  private readonly mains: ThreadRt[] = [];
  private readonly workers: { decl: ThreadDecl; proc: number; view: Process }[] = [];

  constructor(
    private readonly s: Scenario,
    private readonly choice: VariantChoice,
    private readonly knobs: Knobs,
    schedule: ScheduleSpec,
    private readonly maxSteps: number,
    lockdep: boolean | undefined,
  ) {
    this.schedule = schedule;
    const config = s.machine.kernelConfig;
    this.sys = new System({ machine: s.machine.spec, variant: knobs, kernelConfig: config, ...(lockdep === undefined || config === 'distro' ? {} : { lockdep }) });
    this.deviceNames = new Map(s.machine.devices.map((d) => [d.name, d.bdf]));
    for (const d of s.machine.devices) {
      const fn = this.sys.hw.findFunction(d.bdf);
      if (fn === undefined || fn.model !== d.model) throw new Error(`machine plan mismatch: ${d.name} expected ${d.model} at ${d.bdf}, found ${fn?.model ?? 'nothing'}`);
    }
    // every declared step has a result from the start ("not-run" until it runs)
    for (const p of s.processes) {
      this.declare(p.setup, p.name, p.name, 'setup');
      this.declareThreads(p.threads, p.name);
    }
  }

  /**
   * Install the per-execution hooks: a fresh chooser for `schedule` (the choices made so
   * far are kept: a copy continues the original's record), the scheduler's observer, its
   * death handler (kernel BUGs are recorded here), the step hook and `nameOf`.
   */
  hookUp(h: RunnerHooks): void {
    const old = this.chooser;
    this.schedule = h.schedule;
    this.nameOf = (t: KThread): string => this.threadOfTid.get(t.tid) ?? t.name;
    const chooser = new RecordingChooser(h.schedule, this.nameOf, this.sys.events);
    if (old !== null) {
      pushAll(chooser.choices, old.choices);
      pushAll(chooser.warnings, old.warnings);
    }
    this.chooser = chooser;
    this.hook = h.stepHook;
    const sched = this.sys.kernel.sched;
    sched.observer = h.observer;
    sched.onDeath = (t: KThread, e: KernelBug) => {
      this.bugs.push({ thread: this.threadOfTid.get(t.tid) ?? t.name, fn: e.fn, message: e.message, label: t.label });
      this.sys.events.emit({ kind: 'bug', message: e.message, fn: e.fn });
    };
  }

  /**
   * Remove every hook (see the class comment). A chooser that made no choice is simply
   * dropped; after choices unhook refuses (returns false, hooks left in place): a new
   * chooser could not continue a random or list schedule where the old one was.
   */
  unhook(): boolean {
    const c = this.chooser;
    if (c !== null && (c.choices.length > 0 || c.warnings.length > 0)) return false;
    this.chooser = null;
    this.schedule = UNHOOKED;
    this.hook = null;
    this.nameOf = kernelName;
    const sched = this.sys.kernel.sched;
    sched.observer = null;
    sched.onDeath = null;
    return true;
  }

  /**
   * The mapping thread `thread` (a process name: its setup) has bound as `name`, with the
   * address space it lies in; null when it has none (not yet bound, or a failed step).
   */
  mappingOf(thread: string, name: string): { readonly addr: number; readonly mm: MmStructRef } | null {
    for (let i = this.threads.length - 1; i >= 0; i--) {
      const rt = this.threads[i] as ThreadRt; // i < length
      if (rt.name !== thread) continue;
      const b = rt.ctx.bindings.get(name);
      return b?.kind === 'mapping' ? { addr: b.addr, mm: rt.ctx.p.kproc.mm } : null;
    }
    return null;
  }

  /** Which phase ran last: 'new' (none), 'setup', 'threads'. */
  get phaseName(): 'new' | 'setup' | 'threads' {
    return this.phase;
  }

  /** Choices made so far (by the setup, once it ran). */
  get choiceCount(): number {
    return this.chooser?.choices.length ?? 0;
  }

  private declare(steps: readonly StepDecl[], thread: string, process: string, phase: 'setup' | 'thread'): void {
    for (const st of steps) {
      const r: StepResult = { thread, process, phase, index: st.index, line: st.line, text: st.text, status: 'not-run', result: 'not run', outcome: null, expect: st.expect, verdict: 'none', why: null, startSeq: 0, endSeq: 0 };
      this.results.push(r);
      this.resultOf.set(st, r);
      if (st.fork !== null) this.declareThreads(st.fork.threads, `${process}/child`);
    }
  }

  private declareThreads(ts: readonly ThreadDecl[], process: string): void {
    for (const t of ts) this.declare(t.steps, t.name, process, 'thread');
  }

  private newThread(name: string, proc: ProcRt, phase: 'setup' | 'thread', p: Process, steps: readonly StepDecl[], bindings: Map<string, Binding>): ThreadRt {
    const rt: ThreadRt = { name, process: proc, phase, kthread: p.kthread, ctx: new Ctx(this.sys, p, name, bindings, this.deviceNames), steps, pos: -1 };
    this.threadOfTid.set(p.kthread.tid, name);
    this.threads.push(rt);
    return rt;
  }

  private start(rt: ThreadRt): void {
    this.sys.kernel.sched.start(rt.kthread, this.threadTask(rt), `${rt.name}: start`);
  }

  private *threadTask(rt: ThreadRt): Task<void> {
    const ev = this.sys.events;
    for (let i = 0; i < rt.steps.length; i++) {
      const st = rt.steps[i] as StepDecl;
      rt.pos = i;
      const res = this.resultOf.get(st);
      if (res === undefined) throw new Error('undeclared step');
      rt.kthread.label = `${rt.name} ${rt.phase === 'setup' ? 'setup' : 'step'} ${st.index}: ${st.text}`;
      res.startSeq = ev.emit({ kind: 'scenario.step', thread: rt.name, step: st.index, phase: 'start', text: st.text, verdict: 'none' }).seq;
      res.status = 'blocked';
      res.result = 'did not finish';
      let outcome: Outcome | null = null;
      if (this.hook !== null) this.hook.start(rt.name);
      if (rt.process.exited) {
        res.status = 'skipped';
        res.result = 'skipped: the process has exited';
      } else {
        try {
          outcome = st.fork !== null ? yield* this.fork(rt, st) : st.op === null ? { failure: 'no operation' } : yield* st.op.run(rt.ctx, st.args);
        } catch (e) {
          if (!(e instanceof Unavailable)) throw e;
          res.status = 'skipped';
          res.result = `skipped: ${e.message}`;
        }
      }
      if (outcome !== null) {
        res.outcome = outcome;
        res.status = outcome.failure !== undefined ? 'failed' : outcome.signal !== undefined ? 'signal' : outcome.errno !== undefined ? 'error' : 'ok';
        res.result = st.op?.format !== undefined ? st.op.format(st.args, outcome) : formatOutcome(outcome);
        if (st.as !== null && outcome.bind !== undefined && res.status === 'ok') rt.ctx.bindings.set(st.as, outcome.bind);
        if (st.op?.name === 'exit' && res.status === 'ok') rt.process.exited = true;
      }
      judge(res);
      if (this.hook !== null) this.hook.end(rt.name, outcome, res);
      res.endSeq = ev.emit({ kind: 'scenario.step', thread: rt.name, step: st.index, phase: 'end', text: res.result, verdict: res.verdict }).seq;
    }
    rt.pos = rt.steps.length;
    rt.kthread.label = `${rt.name}: done`;
  }

  /** fork(2), then start the child's declared threads (the first runs on the child's own thread). */
  private *fork(rt: ThreadRt, st: StepDecl): Task<Outcome> {
    const f = st.fork;
    if (f === null) return { failure: 'not a fork' };
    const child = yield* rt.ctx.p.ops.fork(f.openBeforeCopy);
    if (typeof child === 'number') return { errno: -child };
    const proc: ProcRt = { name: `${rt.process.name}/${child.pid}`, exited: false };
    f.threads.forEach((t, i) => {
      const view = i === 0 ? child : child.thread(t.name);
      const crt = this.newThread(t.name, proc, 'thread', view, t.steps, new Map(rt.ctx.bindings));
      // a fork during setup: the child's threads start with everyone else's, after the setup
      if (rt.phase === 'setup') this.deferred.push(crt);
      else this.start(crt);
    });
    return { ret: child.pid, note: `(child pid ${child.pid})` };
  }

  /**
   * Run the started threads under the chooser. `drain` (the thread phase): once every
   * thread has finished, the machine idles until the device activity still armed (an edu
   * DMA in flight) has happened, so the run shows it; a setup does not drain (its DMA is
   * still in flight when the threads start).
   */
  private runSched(drain = false): RunEnd {
    const chooser = this.chooser;
    if (chooser === null) throw new Error('Runner: no hooks (hookUp before running)');
    return this.sys.kernel.sched.run(chooser.choose, Math.max(0, this.maxSteps - this.sys.kernel.sched.steps), drain);
  }

  /** Both phases. */
  run(): RunResult {
    this.setup();
    return this.runThreads();
  }

  /**
   * The setup phase: create every process and its setup thread (thread ids in
   * declaration order), then run each process's setup steps, one process at a time.
   * Returns how it ended ('done' unless a setup deadlocked, halted or hit the step limit).
   */
  setup(): RunEnd {
    if (this.phase !== 'new') throw new Error(`Runner.setup: already ran (${this.phase})`);
    this.phase = 'setup';
    this.stepBase = this.sys.kernel.sched.steps;
    for (const pd of this.s.processes) {
      const p = this.sys.spawnProcess(pd.name);
      const proc: ProcRt = { name: pd.name, exited: false };
      this.procs.push({ rt: proc, p });
      this.mains.push(this.newThread(pd.name, proc, 'setup', p, pd.setup, new Map<string, Binding>()));
    }
    this.s.processes.forEach((pd, i) => {
      const pr = this.procs[i];
      if (pr === undefined) return;
      for (const t of pd.threads) this.workers.push({ decl: t, proc: i, view: pr.p.thread(t.name) });
    });
    let end: RunEnd = { kind: 'done' };
    for (const m of this.mains) {
      if (m.steps.length === 0) continue;
      this.start(m);
      end = this.runSched();
      if (end.kind !== 'done') break;
    }
    this.setupEnd = end;
    return end;
  }

  /** The thread phase (after `setup`): start every thread, run them under the schedule, judge the run. */
  runThreads(): RunResult {
    if (this.phase !== 'setup') throw new Error(`Runner.runThreads: ${this.phase === 'new' ? 'the setup has not run' : 'already ran'}`);
    this.phase = 'threads';
    let end = this.setupEnd;
    if (end.kind === 'done') {
      for (const w of this.workers) {
        const proc = this.procs[w.proc];
        const setup = this.mains[w.proc];
        if (proc === undefined || setup === undefined) continue;
        this.start(this.newThread(w.decl.name, proc.rt, 'thread', w.view, w.decl.steps, new Map(setup.ctx.bindings)));
      }
      for (const d of this.deferred) this.start(d);
      end = this.runSched(true);
    }
    return this.finish(end, this.sys.kernel.sched.steps - this.stepBase);
  }

  private finish(end: RunEnd, schedulerSteps: number): RunResult {
    // steps that never ended: the one a thread was in (blocked, or killed by a BUG)
    for (const rt of this.threads) {
      const st = rt.steps[rt.pos];
      if (st === undefined) continue;
      const r = this.resultOf.get(st);
      if (r === undefined || r.endSeq !== 0) continue;
      if (rt.kthread.state === 'dead') {
        r.status = 'killed';
        r.result = `killed: ${rt.kthread.deathReason ?? 'kernel BUG'}`;
      } else if (rt.kthread.state === 'blocked') {
        r.status = 'blocked';
        r.result = `blocked on ${rt.kthread.blockedOn?.id ?? '?'}`;
      } else if (end.kind === 'halted') {
        r.status = 'not-run';
        r.result = `machine halted: ${end.reason}`;
      } else if (end.kind === 'step-limit') {
        r.status = 'blocked';
        r.result = 'step limit reached';
      }
      judge(r);
    }
    for (const r of this.results) if (r.status === 'not-run' && r.verdict === 'none' && r.expect !== null) judge(r);

    const events = this.sys.events.all();
    const platformErrors = events.filter((e) => e.kind === 'platform.error');
    const warnings = events.filter((e) => e.kind === 'warn');
    const lockdep = events.filter((e) => (e.kind as string).startsWith('lockdep'));
    const edges = end.kind === 'deadlock' ? end.edges.map((e) => ({ waiter: this.display(e.waiter), on: e.on, holders: e.holders.map((h) => this.display(h, true)) })) : [];
    const runVerdicts = this.runVerdicts(this.s.expect, end, platformErrors.length, lockdep.length, warnings.length);
    const met = this.results.filter((r) => r.verdict === 'met').length + runVerdicts.filter((v) => v.met).length;
    const failed = this.results.filter((r) => r.verdict === 'failed').length + runVerdicts.filter((v) => !v.met).length;
    const choices = this.chooser?.choices ?? [];
    const token = encodeToken({ variant: this.choice.base, knobs: this.choice.knobs, hash: this.s.hash, choices });
    return {
      scenario: { file: this.s.file, name: this.s.name, hash: this.s.hash },
      variant: { base: this.choice.base, knobs: this.choice.knobs, effective: this.knobs },
      schedule: { kind: this.schedule.kind, description: describeSchedule(this.schedule), seed: this.schedule.kind === 'random' ? this.schedule.seed : null },
      end: { kind: end.kind, reason: end.kind === 'halted' ? end.reason : null, edges, cycle: waitCycle(edges) },
      steps: this.results,
      threads: this.threads.map((t) => ({ name: t.name, process: t.process.name, tid: t.kthread.tid, state: t.kthread.state, death: t.kthread.deathReason })),
      bugs: this.bugs,
      platformErrors,
      warnings,
      lockdep,
      runVerdicts,
      expectations: { met, failed },
      scheduleWarnings: this.chooser?.warnings ?? [],
      variantWarnings: variantWarnings(this.choice),
      choices,
      schedulerSteps,
      token,
      events,
      threadOfTid: this.threadOfTid,
      ok: failed === 0 && end.kind !== 'step-limit',
    };
  }

  /** The scenario's name for a kernel thread (`dead`: mark a thread killed by a kernel BUG). */
  private display(kthreadName: string, dead = false): string {
    const t = this.sys.kernel.sched.threads.find((x) => x.name === kthreadName);
    const name = t === undefined ? kthreadName : (this.threadOfTid.get(t.tid) ?? kthreadName);
    return dead && t?.state === 'dead' ? `${name} (killed by a kernel BUG, its locks are never released)` : name;
  }

  private runVerdicts(x: RunExpect, end: RunEnd, ur: number, lockdep: number, warns: number): RunVerdict[] {
    const v: RunVerdict[] = [];
    const deadlock = end.kind === 'deadlock';
    v.push({ what: 'deadlock', expected: String(x.deadlock ?? false), actual: String(deadlock), met: (x.deadlock ?? false) === deadlock });
    const bug = this.bugs.length > 0;
    v.push({ what: 'kernel BUG', expected: String(x.bug ?? false), actual: String(bug), met: (x.bug ?? false) === bug });
    if (x.halted !== undefined) v.push({ what: 'machine halted', expected: String(x.halted), actual: String(end.kind === 'halted'), met: x.halted === (end.kind === 'halted') });
    if (x.platform_errors !== undefined) v.push({ what: 'platform errors', expected: String(x.platform_errors), actual: String(ur), met: x.platform_errors === ur });
    if (x.lockdep !== undefined) v.push({ what: 'lockdep reports', expected: String(x.lockdep), actual: String(lockdep), met: x.lockdep === lockdep });
    if (x.warnings !== undefined) v.push({ what: 'kernel warnings', expected: String(x.warnings), actual: String(warns), met: x.warnings === warns });
    if (end.kind === 'step-limit') v.push({ what: 'finished', expected: 'true', actual: `false (step limit ${this.maxSteps})`, met: false });
    return v;
  }
}

/** A cycle in the wait-for graph ("a waits for L held by b", ... back to a), or the longest chain. */
export function waitCycle(edges: readonly WaitEdge[]): string[] {
  const by = new Map(edges.map((e) => [e.waiter, e]));
  const fmt = (e: WaitEdge): string => `${e.waiter} waits for ${e.on} held by ${e.holders.length > 0 ? e.holders.join(', ') : 'nobody'}`;
  for (const startEdge of edges) {
    const seen: string[] = [];
    let cur: string | undefined = startEdge.waiter;
    while (cur !== undefined && !seen.includes(cur)) {
      seen.push(cur);
      const e = by.get(cur);
      cur = e?.holders.find((h) => by.has(h)) ?? e?.holders[0];
      if (cur !== undefined && !by.has(cur)) break;
    }
    if (cur !== undefined && seen.includes(cur)) {
      const loop = seen.slice(seen.indexOf(cur));
      return loop.map((w) => {
        const e = by.get(w);
        return e === undefined ? w : fmt(e);
      });
    }
  }
  return edges.map(fmt);
}

// ---- verdicts ------------------------------------------------------------------------------

/** An expectation as words ("-EIO", "value 0x5", "success"). */
export function expectText(e: Expectation): string {
  const parts: string[] = [];
  if (e.bug === true) parts.push('a kernel BUG');
  if (e.errno !== undefined) parts.push(`-${e.errno}`);
  if (e.signal !== undefined) parts.push(e.signal);
  if (e.value !== undefined) parts.push(`value ${hex(e.value)}`);
  if (e.ret !== undefined) parts.push(`ret ${e.ret}`);
  if (e.data !== undefined) parts.push(`data ${[...e.data].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`);
  if (e.fields !== undefined) parts.push(Object.entries(e.fields).map(([k, v]) => `${k}=${typeof v === 'bigint' ? hex(v) : String(v)}`).join(' '));
  if (e.ok !== undefined) parts.push(e.ok ? 'success' : 'a failure');
  return parts.join(', ') || 'anything';
}

/** Set a step's verdict from its expectation and outcome. */
function judge(r: StepResult): void {
  const e = r.expect;
  if (e === null) {
    r.verdict = 'none';
    return;
  }
  const why = expectationMismatch(e, r);
  r.verdict = why === null ? 'met' : 'failed';
  r.why = why;
}

/**
 * Why a step's result does not meet expectation `e` ("expected -EIO, got 0x0"), or null
 * when it does. Also the result predicates of scenario properties (`never`/`always`).
 */
export function expectationMismatch(e: Expectation, r: Pick<StepResult, 'status' | 'outcome' | 'result'>): string | null {
  const fail = (why: string): string => `expected ${expectText(e)}, got ${why}`;
  const o = r.outcome;
  if (e.bug === true) return r.status !== 'killed' ? fail(r.result) : null;
  if (o === null || r.status === 'killed' || r.status === 'skipped' || r.status === 'blocked' || r.status === 'not-run') return fail(r.result);
  const success = r.status === 'ok';
  if (e.errno !== undefined && (o.errno === undefined || errnoName(o.errno) !== e.errno)) return fail(r.result);
  if (e.signal !== undefined && o.signal?.sig !== e.signal) return fail(r.result);
  const wantsSuccess = e.value !== undefined || e.ret !== undefined || e.fields !== undefined || e.data !== undefined || e.ok === true;
  if (wantsSuccess && e.errno === undefined && e.signal === undefined && !success) return fail(r.result);
  if (e.ok === false && success) return fail(r.result);
  if (e.value !== undefined) {
    const v = o.value ?? (o.ret !== undefined ? BigInt(o.ret) : undefined);
    if (v !== e.value) return fail(v === undefined ? r.result : hex(v));
  }
  if (e.ret !== undefined && o.ret !== e.ret) return fail(o.ret === undefined ? r.result : `ret ${o.ret}`);
  if (e.data !== undefined) {
    const d = o.data ?? new Uint8Array(0);
    if (d.length < e.data.length || e.data.some((b, i) => d[i] !== b)) return fail(`data ${[...d].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`);
  }
  if (e.fields !== undefined) {
    for (const [k, want] of Object.entries(e.fields)) {
      const got = o.fields?.[k];
      const same = typeof want === 'bigint' && typeof got === 'bigint' ? want === got : typeof want === 'string' && typeof got === 'bigint' ? false : got === want;
      if (!same) return fail(`${k}=${got === undefined ? 'nothing' : typeof got === 'bigint' ? hex(got) : String(got)}`);
    }
  }
  return null;
}
