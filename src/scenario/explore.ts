/**
 * Exploring a scenario: the interleaving search of src/check/search.ts over runs of the
 * scenario, with the properties of src/check/property.ts (and the user's own) checked on
 * every execution. The scenario's own schedule and its step expectations are ignored:
 * the search makes every choice, and properties, not expectations, decide what is wrong
 * (`expectAsProperties` makes each expectation a property of its own).
 */
import {
  BUILTIN_PROPERTIES,
  builtinMonitors,
  type Monitor,
  type OpOutcome,
  type Violation,
} from '../check/property.js';
import {
  type Counterexample,
  type ExecControl,
  type ExecReport,
  type Program,
  Search,
  type SearchOptions,
  type SearchResult,
  type Strategy,
} from '../check/search.js';
import { shrinkCounterexample } from '../check/shrink.js';
import { Snapshot } from '../check/snapshot.js';
import type { SimEvent } from '../events/event.js';
import type { RunEnd } from '../kernel/sched/scheduler.js';
import type { System } from '../system.js';
import { type Scenario, scenarioText } from './load.js';
import { ParallelSearch } from '../check/parallel/index.js';
import { scenarioWorker, WORKER_OPTION_KEYS, type WorkerExploreOptions } from './worker-program.js';
import { prepareRun, type RunOptions, type RunResult, type Runner, type RunnerHooks, runScenario, type SetupWorld, snapshotSetup } from './run.js';
import { declaredProperty, describeProperty, expectPropertyName, expectProperties, type MappingResolver, scenarioStateMonitor, type StateMonitor, type UserProperty } from './property-decl.js';

export type { UserProperty } from './property-decl.js';
import { eventCountObject } from './observe-ops.js';
import type { PropertyDecl, StepDecl, ThreadDecl } from './load.js';
import { decodeToken, encodeToken, ScenarioInputError } from './schedule.js';
import { escapeControls } from './source.js';
import { checkVariant, type KnobValue } from './variant.js';


export interface ExploreOptions extends Omit<SearchOptions, 'properties'> {
  /** A preset replacing the scenario's variant (as `run --variant`). */
  readonly variant?: string;
  /** Knob overrides on top. */
  readonly knobs?: Readonly<Record<string, KnobValue>>;
  /** Scheduler step limit per execution (default: the scenario's max_steps). */
  readonly maxSteps?: number;
  /** Only these properties count (built-in ids or user property names; default: all). */
  readonly only?: readonly string[];
  /**
   * Leave these properties out (built-in ids, the scenario's property names, `expect:...`
   * names of `expectAsProperties`, library property names); an unknown name is a
   * ScenarioInputError naming the known ones (see knownProperties).
   */
  readonly noProperty?: readonly string[];
  /**
   * Make each step's `expect:` a property of its own, `expect:<thread>#<n>` (setup steps:
   * the process name): broken by an execution where the step finishes with another result.
   */
  readonly expectAsProperties?: boolean;
  /** More properties, checked on every execution after the built-in ones. */
  readonly properties?: readonly UserProperty[];
  /** Skip the counterexample replays (the full runs behind each counterexample). */
  readonly noReplays?: boolean;
  /**
   * Keep each counterexample as the search found it (default: shrink it to fewer
   * preemptions and steps by replaying rewritten schedules, src/check/shrink.ts).
   */
  readonly noShrink?: boolean;
  /**
   * Worker threads to search with (default 1: in this thread). The result is the same
   * with any number. Needs a scenario made by `loadScenario` (workers reload its text)
   * and no `properties` (a predicate cannot cross to a thread); otherwise the search runs
   * in this thread.
   */
  readonly workers?: number;
  /**
   * Start every execution from a copy of the world after the setup (default true) rather
   * than building it and running the setup again. The search is the same either way.
   */
  readonly snapshot?: boolean;
}

export interface ExploreResult {
  readonly scenario: { readonly file: string; readonly name: string | null; readonly hash: string };
  readonly variant: { readonly base: string; readonly knobs: Readonly<Record<string, KnobValue>> };
  readonly search: SearchResult;
  /** Each counterexample with its run replayed from its token (for traces and JSON). */
  readonly counterexamples: readonly { readonly cx: Counterexample; readonly run: RunResult | null }[];
  /** The scenario's own properties in words, by name (the report's line under each broken one). */
  readonly properties: Readonly<Record<string, string>>;
  /** The threads the scenario declares (fork children included; setup steps are not threads): 0 leaves nothing to interleave. */
  readonly threads: number;
  /** What one execution costs and what dominates it (the first complete execution; null: none completed in this thread). */
  readonly cost: CostProfile | null;
}

/** Per function name: the names of its two device objects (config space, device state). */
const hwObjects = new Map<string, { readonly cfg: string; readonly dev: string }>();

function hwOf(fn: string): { readonly cfg: string; readonly dev: string } {
  let o = hwObjects.get(fn);
  if (o === undefined) hwObjects.set(fn, (o = { cfg: `hw:${fn}:cfg`, dev: `hw:${fn}:bar` }));
  return o;
}

/**
 * The device objects an event shows a step touched. A PCI function is two objects: its
 * config space (`hw:<function>:cfg`, as the config scheduling points name it; it holds the
 * decode state every BAR access reads) and the state behind its BARs (`hw:<function>:bar`).
 * - an MMIO or port read reads both (device reads have no side effects: see
 *   DeviceBehavior.mmioRead), so two reads of a device commute;
 * - an MMIO or port write writes both (it may raise an interrupt, which sets the INTx
 *   status bit in config space);
 * - a config read reads the config space, a config write writes it (what a write does
 *   to the device beyond it — a reset, a power change, a pending MSI sent — has its own
 *   event);
 * - a ROM read reads both; an Unsupported Request writes its target's and requester's
 *   config space (status bits); a reset, a power change or an MSI writes both;
 * - a DMA writes both of its requester (bus master state, its DMA engine, a completion
 *   interrupt) and touches a peer target as an MMIO access of its direction.
 */
export function touchesOf(ev: SimEvent, touch: (obj: string, access: 'r' | 'w') => void): void {
  switch (ev.kind) {
    case 'mmio':
    case 'pio': {
      const h = hwOf(ev.dev);
      touch(h.cfg, ev.dir);
      touch(h.dev, ev.dir);
      break;
    }
    case 'cfg.read':
      touch(hwOf(ev.dev).cfg, 'r');
      break;
    case 'cfg.write':
      touch(hwOf(ev.dev).cfg, 'w');
      break;
    case 'rom.read': {
      const h = hwOf(ev.dev);
      touch(h.cfg, 'r');
      touch(h.dev, 'r');
      break;
    }
    case 'platform.error':
      if (ev.target !== null) touch(hwOf(ev.target).cfg, 'w');
      if (ev.requester !== null) touch(hwOf(ev.requester).cfg, 'w');
      break;
    case 'reset':
    case 'power':
    case 'msi': {
      const h = hwOf(ev.dev);
      touch(h.cfg, 'w');
      touch(h.dev, 'w');
      break;
    }
    case 'dma': {
      const h = hwOf(ev.dev);
      touch(h.cfg, 'w');
      touch(h.dev, 'w');
      if (ev.target.startsWith('0000:')) {
        const t = hwOf(ev.target);
        touch(t.cfg, ev.dir);
        touch(t.dev, ev.dir);
      }
      break;
    }
    default:
      break;
  }
}

/** The canonical outcome of one run: every step's result, the end, the violated properties. */
function outcomeText(r: RunResult, violations: ReadonlyMap<string, string>): string {
  const steps = r.steps.map((s) => `${s.thread}#${s.index}=${s.status}:${s.result}`).join('|');
  const bugs = r.bugs.map((b) => b.fn).join(',');
  return `${r.end.kind}|${steps}|bugs:${bugs}|ur:${r.platformErrors.length}|${[...violations.keys()].sort().join(',')}`;
}

/** The chooser was asked to choose during a setup the search does not see (see scenarioProgram). */
class SetupChoice extends Error {
  constructor() {
    super('the setup has a scheduling choice');
    this.name = 'SetupChoice';
  }
}

/**
 * One execution's hooks into a Runner: the property monitors (which watch the setup too)
 * and, once `searching`, the search's control (its observer, the touches, its choices).
 */
class ExecHooks {
  monitors: Monitor[] = [];
  private listeners: Monitor[] = [];
  /** The scenario's state predicates (set before `attach`), and their monitor over the attached run. */
  stateProps: readonly PropertyDecl[] = [];
  private state: StateMonitor | null = null;
  /** While set: counts each searched step by the scenario step it belongs to and its scheduling point (see CostProfile). */
  profile: Map<string, Map<string, number>> | null = null;
  private pointOp = '';
  readonly sink = (v: Violation): void => {
    // a message may quote the scenario (a path, a step): no raw control characters
    if (!this.violations.has(v.property)) this.violations.set(v.property, escapeControls(v.message));
  };
  /**
   * What the step being taken touched beyond its scheduling point (the devices its events
   * show, what the monitors' checks and `events` steps read), for the search while it watches.
   */
  private readonly footprint = (obj: string, access: 'r' | 'w', lo?: number, hi?: number): void => {
    if (this.searching) this.ctl?.touch(obj, access, lo, hi);
  };
  readonly runner: RunnerHooks;

  constructor(
    /** The search's control (null: a replay with no search, see replayFinding). */
    private readonly ctl: ExecControl | null,
    description: string,
    /** Steps, touches and choices go to the search (false during a setup it does not see). */
    public searching: boolean,
    /** Event kinds the scenario's `events` steps count: each such event is a write of its count. */
    private readonly counted: ReadonlySet<string>,
    /** Violations so far (a copy of the setup's, for a run from a snapshot). */
    readonly violations: Map<string, string> = new Map(),
  ) {
    this.runner = {
      schedule: {
        kind: 'custom',
        pick: (rs) => {
          if (!this.searching || this.ctl === null) throw new SetupChoice();
          return this.ctl.pick(rs);
        },
        description,
      },
      observer: {
        before: (rs, t) => {
          if (this.profile !== null) this.pointOp = t.next?.op ?? 'wake';
          if (this.searching) this.ctl?.observer.before(rs, t);
          else this.ctl?.poll?.();
        },
        after: (t, threads) => {
          if (this.profile !== null && this.searching) {
            const label = t.label === '' ? t.name : t.label;
            let m = this.profile.get(label);
            if (m === undefined) this.profile.set(label, (m = new Map()));
            m.set(this.pointOp, (m.get(this.pointOp) ?? 0) + 1);
          }
          // the monitors first: what they find the step changed is part of its footprint
          for (const m of this.monitors) m.afterStep?.(t);
          this.state?.afterStep();
          if (this.searching) this.ctl?.observer.after(t, threads);
        },
        touch: this.footprint,
      },
      stepHook: {
        start: (thread) => {
          for (const m of this.monitors) m.opStart?.(thread);
        },
        end: (thread, o, step) => {
          const oo: OpOutcome | null = o === null ? null : { ...(o.errno === undefined ? {} : { errno: o.errno }), ...(o.signal === undefined ? {} : { signal: o.signal }) };
          for (const m of this.monitors) m.opEnd?.(thread, oo);
          this.state?.stepEnd(step);
        },
      },
    };
  }

  /** Attach fresh built-in monitors to `sys` and listen to its events; returns the unsubscribe. */
  attach(sys: System, mappings: MappingResolver): () => void {
    this.monitors = builtinMonitors(sys, this.sink, this.footprint);
    this.state = scenarioStateMonitor(sys, this.stateProps, this.sink, this.footprint, mappings);
    this.listeners = this.monitors.filter((m) => m.onEvent !== undefined);
    return sys.events.on((ev: SimEvent) => {
      touchesOf(ev, this.footprint);
      if (this.counted.has(ev.kind)) this.footprint(eventCountObject(ev.kind), 'w');
      for (const m of this.listeners) m.onEvent?.(ev);
    });
  }
}

/** Property names in report order: the built-in ones in their order, then the others by name. */
function reportOrder(ps: readonly string[]): string[] {
  const rank = (p: string): number => {
    const i = (BUILTIN_PROPERTIES as readonly string[]).indexOf(p);
    return i < 0 ? BUILTIN_PROPERTIES.length : i;
  };
  return [...ps].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/** The checks made when a run is over: the monitors' end checks, then the run properties. */
function checkAtEnd(hooks: ExecHooks, props: readonly UserProperty[], r: RunResult): void {
  const end = { kind: r.end.kind, cycle: r.end.cycle, reason: r.end.reason, bugs: r.bugs };
  for (const m of hooks.monitors) m.finish?.(end);
  for (const p of props) {
    const why = p.check(r);
    if (why !== null) hooks.sink({ property: p.name, message: why });
  }
}

/**
 * Replay a token (an explorer's counterexample, or any run's) with the properties the
 * explorer checks watching it, as they watch an execution of the search: the run, and
 * each property it breaks with why. Throws ScenarioInputError for a bad token.
 */
export function replayFinding(s: Scenario, token: string, opts: { readonly maxSteps?: number } = {}): { run: RunResult; violations: ReadonlyMap<string, string> } {
  const hooks = new ExecHooks(null, 'replay', false, countedKinds(s));
  hooks.stateProps = s.properties.filter((p) => p.kind === 'state');
  const run = runScenario(s, {
    replay: token,
    ...(opts.maxSteps === undefined ? {} : { maxSteps: opts.maxSteps }),
    ...(hooks.runner.observer === null ? {} : { observer: hooks.runner.observer }),
    ...(hooks.runner.stepHook === null ? {} : { stepHook: hooks.runner.stepHook }),
    attach: (sys, _nameOf, mappingOf) => {
      hooks.attach(sys, mappingOf);
    },
  });
  checkAtEnd(hooks, s.properties.map(declaredProperty).filter((p) => p !== null), run);
  return { run, violations: hooks.violations };
}

/** The search's Program for one scenario, and how its executions start. */
export interface ScenarioProgram {
  (ctl: ExecControl): ExecReport;
  /**
   * 'pending' before the first execution; 'snapshot' when executions start from a copy
   * of the world after the setup; else why every execution runs the setup again.
   */
  snapshotStatus(): string;
  /** Where the first complete execution's scheduler steps went (null before one ran). */
  costProfile(): CostProfile | null;
}

/**
 * What one execution of the search costs and what dominates it: its scheduler steps (every
 * step is a scheduling point the search may switch threads at), and per scenario step the
 * steps it took and the kinds of scheduling point among them (`pte`: one page-table
 * update, `lock`: a lock...), most first. A step over a large range (a MAP_DMA or munmap of
 * a whole BAR) takes one point per page, which multiplies the interleavings.
 */
export interface CostProfile {
  readonly steps: number;
  readonly byStep: readonly { readonly step: string; readonly steps: number; readonly points: readonly { readonly op: string; readonly count: number }[] }[];
}

function toProfile(m: ReadonlyMap<string, ReadonlyMap<string, number>>): CostProfile {
  const byStep = [...m].map(([step, ops]) => {
    const points = [...ops].map(([op, count]) => ({ op, count })).sort((a, b) => b.count - a.count || (a.op < b.op ? -1 : 1));
    return { step, steps: points.reduce((n, p) => n + p.count, 0), points };
  }).sort((a, b) => b.steps - a.steps || (a.step < b.step ? -1 : 1));
  return { steps: byStep.reduce((n, x) => n + x.steps, 0), byStep };
}

/** The event kinds some `events` step of the scenario counts (any process, thread or fork child). */
function countedKinds(s: Scenario): Set<string> {
  const kinds = new Set<string>();
  const visit = (steps: readonly StepDecl[]): void => {
    for (const st of steps) {
      if (st.op?.name === 'events') kinds.add((st.args as { kind: string }).kind);
      if (st.fork !== null) for (const t of st.fork.threads) visitThread(t);
    }
  };
  const visitThread = (t: ThreadDecl): void => visit(t.steps);
  for (const p of s.processes) {
    visit(p.setup);
    for (const t of p.threads) visitThread(t);
  }
  return kinds;
}

/** The steps with an `expect:` (every process, thread and fork child), as `expectAsProperties` names them. */
function expectSteps(s: Scenario): { thread: string; index: number }[] {
  const out: { thread: string; index: number }[] = [];
  const visit = (thread: string, steps: readonly StepDecl[]): void => {
    for (const st of steps) {
      if (st.expect !== null) out.push({ thread, index: st.index });
      if (st.fork !== null) for (const t of st.fork.threads) visit(t.name, t.steps);
    }
  };
  for (const p of s.processes) {
    visit(p.name, p.setup);
    for (const t of p.threads) visit(t.name, t.steps);
  }
  return out;
}

/**
 * Every property an exploration of `s` with `opts` can report: the built-in ones, the
 * scenario's, the `expect:...` ones of `expectAsProperties`, the library's.
 */
export function knownProperties(s: Scenario, opts: Pick<ExploreOptions, 'expectAsProperties' | 'properties'> = {}): string[] {
  return [
    ...BUILTIN_PROPERTIES,
    ...s.properties.map((p) => p.name),
    ...(opts.expectAsProperties === true ? expectSteps(s).map((x) => expectPropertyName(x.thread, x.index)) : []),
    ...(opts.properties ?? []).map((p) => p.name),
  ];
}

/** `opts.noProperty` as a set, every name checked against knownProperties. */
function checkedExclusions(s: Scenario, opts: ExploreOptions): Set<string> {
  const out = new Set(opts.noProperty ?? []);
  if (out.size === 0) return out;
  const known = knownProperties(s, opts);
  for (const x of out) if (!known.includes(x)) throw new ScenarioInputError(`unknown property '${x}' (known: ${known.join(', ')})`);
  return out;
}

/**
 * Adapts one scenario into the search's Program.
 *
 * The setup steps run before every thread starts, one process at a time, so they never
 * race and the search does not see them: it sees (and chooses among) the thread phase's
 * steps only. The property monitors watch the setup too. With `opts.snapshot` (default
 * true) the second execution runs the setup, records the whole world at its end
 * (src/check/snapshot.ts: the Runner with its System, step results, bindings, thread
 * records, and the monitors' violations) and every execution from then on runs its
 * threads on a copy of that record (a search of one execution never pays for a
 * snapshot). Without a snapshot (refused, or `snapshot: false`) each execution builds
 * the world and runs the setup again; both give the same search. If the setup ever has a scheduling choice (a kernel thread runnable
 * beside a setup thread), the search must make it: every execution then runs in full
 * with the setup steps shown to the search, as a plain run.
 */
export function scenarioProgram(s: Scenario, opts: ExploreOptions = {}): ScenarioProgram {
  const choice = opts.variant !== undefined ? { base: opts.variant, knobs: { ...(opts.knobs ?? {}) } } : { base: s.variant.base, knobs: { ...s.variant.knobs, ...(opts.knobs ?? {}) } };
  const vErr = checkVariant(choice);
  if (vErr.length > 0) throw new ScenarioInputError(vErr.map((e) => e.message).join('; '));
  const description = `explore (${opts.strategy ?? 'dpor'})`;
  const excluded = checkedExclusions(s, opts);
  const props = [...s.properties.map(declaredProperty).filter((p) => p !== null), ...(opts.expectAsProperties === true ? expectProperties(expectSteps(s)) : []), ...(opts.properties ?? [])].filter((p) => !excluded.has(p.name));
  const stateProps = s.properties.filter((p) => p.kind === 'state' && !excluded.has(p.name));
  const counted = countedKinds(s);
  const runOpts: RunOptions = { variant: choice.base, knobs: choice.knobs, ...(opts.maxSteps === undefined ? {} : { maxSteps: opts.maxSteps }) };
  /** How executions start ('first', 'second': not decided yet). */
  let mode: 'first' | 'second' | 'rerun' | 'visible-setup' | Snapshot<SetupWorld<Map<string, string>>> = 'first';
  let status = 'pending';
  let profile: CostProfile | null = null;

  const finish = (hooks: ExecHooks, r: RunResult): ExecReport => {
    if (hooks.profile !== null) profile = toProfile(hooks.profile);
    checkAtEnd(hooks, props, r);
    for (const x of excluded) hooks.violations.delete(x);
    // a counterexample's token says what the explorer found (a replay leads with it)
    // (the properties the search counts: with `only`, those; a replay shows any other as well)
    const found = [...hooks.violations.keys()].filter((p) => opts.only === undefined || opts.only.includes(p));
    const token = found.length === 0 ? r.token : encodeToken({ ...decodeToken(r.token), finding: { properties: reportOrder(found) } });
    return { violations: hooks.violations, outcome: outcomeText(r, hooks.violations), choices: r.choices, token };
  };
  /** A new world with this execution's hooks (the search's control from the start when `searching`). */
  const build = (ctl: ExecControl, searching: boolean): { hooks: ExecHooks; runner: Runner; detach: () => void } => {
    const hooks = new ExecHooks(ctl, description, searching, counted);
    hooks.stateProps = stateProps;
    if (profile === null) hooks.profile = new Map();
    const runner = prepareRun(s, { ...runOpts, schedule: hooks.runner.schedule });
    runner.hookUp(hooks.runner);
    const detach = hooks.attach(runner.sys, (t, n) => runner.mappingOf(t, n));
    if (searching) ctl.setNameOf(runner.nameOf);
    return { hooks, runner, detach };
  };
  /** Run the threads of a world whose setup ran unseen. */
  const threads = (ctl: ExecControl, hooks: ExecHooks, runner: Runner): ExecReport => {
    hooks.searching = true;
    ctl.setNameOf(runner.nameOf);
    return finish(hooks, runner.runThreads());
  };
  /** The whole run with the setup shown to the search (a setup with a choice). */
  const visible = (ctl: ExecControl): ExecReport => {
    const { hooks, runner } = build(ctl, true);
    return finish(hooks, runner.run());
  };

  const program = (ctl: ExecControl): ExecReport => {
    if (mode === 'visible-setup') return visible(ctl);
    if (mode instanceof Snapshot) {
      const w = mode.restore();
      const hooks = new ExecHooks(ctl, description, false, counted, w.extra);
      hooks.stateProps = stateProps;
      if (profile === null) hooks.profile = new Map();
      w.runner.hookUp(hooks.runner);
      hooks.attach(w.runner.sys, (t, n) => w.runner.mappingOf(t, n));
      return threads(ctl, hooks, w.runner);
    }
    const { hooks, runner, detach } = build(ctl, false);
    let end: RunEnd;
    try {
      end = runner.setup();
    } catch (e) {
      if (!(e instanceof SetupChoice)) throw e;
      // nothing reached the search yet: start this execution over, the setup shown
      mode = 'visible-setup';
      status = 'the setup has a scheduling choice: every execution runs in full, the setup shown to the search';
      return visible(ctl);
    }
    if (mode === 'first') {
      // a search of one execution (most cells of a check) gains nothing from a snapshot:
      // it is taken at the second execution
      mode = 'rerun';
      if (opts.snapshot === false) status = 'off (snapshot: false)';
      else if (end.kind !== 'done') status = `the setup ended with ${end.kind}`;
      else mode = 'second';
    } else if (mode === 'second') {
      mode = 'rerun';
      detach();
      const snap = snapshotSetup(s, runOpts, runner, hooks.violations);
      if (typeof snap === 'string') status = snap;
      else {
        mode = snap;
        status = 'snapshot';
      }
      // this execution runs from a copy (or, refused, from a world of its own)
      return program(ctl);
    }
    return threads(ctl, hooks, runner);
  };
  return Object.assign(program, { snapshotStatus: () => status, costProfile: () => profile });
}

/** The search's own options among `opts`. */
export function searchOptions(opts: ExploreOptions): SearchOptions {
  const { variant: _v, knobs: _k, maxSteps: _m, only, properties: _p, noReplays: _n, noShrink: _ns, workers: _w, snapshot: _s, noProperty: _np, expectAsProperties: _ep, ...rest } = opts;
  return { ...rest, ...(only === undefined ? {} : { properties: only }) };
}

/** A replay stopped by the budget. */
class ReplayStopped extends Error {}

/** Replay each counterexample to get its full run (none once `stop` says the budget is spent: run null). */
function replays(s: Scenario, r: SearchResult, opts: ExploreOptions, stop: () => boolean): ExploreResult['counterexamples'] {
  return r.counterexamples.map((cx) => {
    if (opts.noReplays === true || stop()) return { cx, run: null };
    let polls = 0;
    const poll = (): void => {
      if ((++polls & 255) === 0 && stop()) throw new ReplayStopped();
    };
    try {
      return { cx, run: runScenario(s, { replay: cx.token, ...(opts.maxSteps === undefined ? {} : { maxSteps: opts.maxSteps }), observer: { before: poll, after: () => undefined } }) };
    } catch (e) {
      if (!(e instanceof ReplayStopped)) throw e;
      return { cx, run: null };
    }
  });
}

/**
 * The whole command's budget, from `t0` on: Ctrl-C or the time budget. The search keeps
 * to it by itself; the shrinker and the replays after it are told by this.
 */
function budget(opts: ExploreOptions, t0: number): () => boolean {
  const now = opts.now ?? (() => performance.now());
  return () => opts.interrupted?.() === true || (opts.maxTimeMs !== undefined && now() - t0 >= opts.maxTimeMs);
}

/** The threads `s` declares, fork children included. */
function threadCount(s: Scenario): number {
  let n = 0;
  const thread = (t: ThreadDecl): void => {
    n++;
    visit(t.steps);
  };
  const visit = (steps: readonly StepDecl[]): void => {
    for (const st of steps) if (st.fork !== null) st.fork.threads.forEach(thread);
  };
  for (const p of s.processes) {
    visit(p.setup);
    p.threads.forEach(thread);
  }
  return n;
}

function meta(s: Scenario, opts: ExploreOptions): Pick<ExploreResult, 'scenario' | 'variant' | 'threads' | 'properties'> {
  return {
    threads: threadCount(s),
    properties: Object.fromEntries(s.properties.map((p) => [p.name, describeProperty(p)])),
    scenario: { file: s.file, name: s.name, hash: s.hash },
    variant: opts.variant !== undefined ? { base: opts.variant, knobs: opts.knobs ?? {} } : { base: s.variant.base, knobs: { ...s.variant.knobs, ...(opts.knobs ?? {}) } },
  };
}

/** The plain-data part of `opts` (what a worker needs to build the same program). */
export function workerOptions(opts: ExploreOptions): WorkerExploreOptions {
  const out: Record<string, unknown> = {};
  for (const k of WORKER_OPTION_KEYS) if (opts[k] !== undefined) out[k] = opts[k];
  return out as WorkerExploreOptions;
}

/** The search behind an exploration: over worker threads when asked and possible, else in this thread. */
function searchFor(s: Scenario, opts: ExploreOptions): { search: Search | ParallelSearch; program: ScenarioProgram } {
  const program = scenarioProgram(s, opts);
  const text = scenarioText(s);
  const workers = opts.workers ?? 1;
  if (workers > 1 && text !== undefined && (opts.properties ?? []).length === 0) {
    return { search: new ParallelSearch(program, scenarioWorker({ text, file: s.file, hash: s.hash }, workerOptions(opts)), searchOptions(opts), workers), program };
  }
  return { search: new Search(program, searchOptions(opts)), program };
}

/**
 * The search's result with each counterexample shrunk (unless `noShrink`): in this thread,
 * after the search, so it is the same whatever the number of workers.
 */
function shrunk(r: SearchResult, program: Program, opts: ExploreOptions, stop: () => boolean): SearchResult {
  if (opts.noShrink === true || r.counterexamples.length === 0) return r;
  return { ...r, counterexamples: r.counterexamples.map((cx) => (stop() ? cx : shrinkCounterexample(program, cx, { stop }))) };
}

/** Explore a loaded scenario to the end of its budgets. */
export function exploreScenario(s: Scenario, opts: ExploreOptions = {}): ExploreResult {
  const stop = budget(opts, (opts.now ?? (() => performance.now()))());
  const { search: x, program } = searchFor(s, opts);
  x.step();
  const search = shrunk(x.result(), program, opts, stop);
  return { ...meta(s, opts), search, counterexamples: replays(s, search, opts, stop), cost: program.costProfile() };
}

/**
 * An exploration run in slices (`step(ms)`), so a caller can keep an event loop alive
 * between them (progress lines, Ctrl-C).
 */
export class ScenarioExploration {
  private readonly search: Search | ParallelSearch;
  private readonly program: ScenarioProgram;
  /** The budget of the whole exploration (search, shrinking, replays), from its start. */
  private readonly stop: () => boolean;

  constructor(
    private readonly s: Scenario,
    private readonly opts: ExploreOptions = {},
  ) {
    this.stop = budget(opts, (opts.now ?? (() => performance.now()))());
    const x = searchFor(s, opts);
    this.search = x.search;
    this.program = x.program;
  }

  /** Run for about `ms` of wall time; true when the search is over. */
  step(ms: number): boolean {
    return this.search.step(ms);
  }

  get strategy(): Strategy {
    return this.search.strategy;
  }

  result(): ExploreResult {
    const search = shrunk(this.search.result(), this.program, this.opts, this.stop);
    return { ...meta(this.s, this.opts), search, counterexamples: replays(this.s, search, this.opts, this.stop), cost: this.program.costProfile() };
  }

  /** What one execution costs (see CostProfile); null before one completed. */
  costProfile(): CostProfile | null {
    return this.program.costProfile();
  }
}
