/**
 * Exploring a scenario: the interleaving search of src/check/search.ts over runs of the
 * scenario, with the properties of src/check/property.ts (and the user's own) checked on
 * every execution. The scenario's own schedule and its step expectations are ignored:
 * the search makes every choice, and properties, not expectations, decide what is wrong.
 */
import {
  builtinMonitors,
  type Monitor,
  type OpOutcome,
  type Violation,
} from '../check/property.js';
import {
  type Counterexample,
  type ExecControl,
  type ExecReport,
  runSearch,
  Search,
  type SearchOptions,
  type SearchResult,
  type Strategy,
} from '../check/search.js';
import type { SimEvent } from '../events/event.js';
import type { Scenario } from './load.js';
import { type RunResult, runScenario } from './run.js';
import { declaredProperty } from './property-decl.js';
import { ScenarioInputError } from './schedule.js';
import { checkVariant, type KnobValue } from './variant.js';

/** A property of the user's: a predicate over a finished run (null: holds; else why not). */
export interface UserProperty {
  readonly name: string;
  readonly check: (r: RunResult) => string | null;
}

export interface ExploreOptions extends Omit<SearchOptions, 'properties'> {
  /** A preset replacing the scenario's variant (as `run --variant`). */
  readonly variant?: string;
  /** Knob overrides on top. */
  readonly knobs?: Readonly<Record<string, KnobValue>>;
  /** Scheduler step limit per execution (default: the scenario's max_steps). */
  readonly maxSteps?: number;
  /** Only these properties count (built-in ids or user property names; default: all). */
  readonly only?: readonly string[];
  /** More properties, checked on every execution after the built-in ones. */
  readonly properties?: readonly UserProperty[];
  /** Skip the counterexample replays (the full runs behind each counterexample). */
  readonly noReplays?: boolean;
}

export interface ExploreResult {
  readonly scenario: { readonly file: string; readonly name: string | null; readonly hash: string };
  readonly variant: { readonly base: string; readonly knobs: Readonly<Record<string, KnobValue>> };
  readonly search: SearchResult;
  /** Each counterexample with its run replayed from its token (for traces and JSON). */
  readonly counterexamples: readonly { readonly cx: Counterexample; readonly run: RunResult | null }[];
}

/**
 * The device objects an event shows a step touched, named as the kernel's scheduling
 * points name them (`hw:<function>`): an MMIO, port or config access, an Unsupported
 * Request, a ROM read, a DMA (its requester and its peer target), a reset, a power change.
 */
export function touchesOf(ev: SimEvent, touch: (obj: string, access: 'r' | 'w') => void): void {
  switch (ev.kind) {
    case 'mmio':
    case 'pio':
    case 'cfg.write':
    case 'rom.read':
    case 'reset':
    case 'power':
      touch(`hw:${ev.dev}`, 'w');
      break;
    case 'cfg.read':
      touch(`hw:${ev.dev}`, 'r');
      break;
    case 'platform.error':
      if (ev.target !== null) touch(`hw:${ev.target}`, 'w');
      if (ev.requester !== null) touch(`hw:${ev.requester}`, 'w');
      break;
    case 'dma':
      touch(`hw:${ev.dev}`, 'w');
      if (ev.target.startsWith('0000:')) touch(`hw:${ev.target}`, 'w');
      break;
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

/** Adapts one scenario into the search's Program. */
export function scenarioProgram(s: Scenario, opts: ExploreOptions = {}): (ctl: ExecControl) => ExecReport {
  const choice = opts.variant !== undefined ? { base: opts.variant, knobs: { ...(opts.knobs ?? {}) } } : { base: s.variant.base, knobs: { ...s.variant.knobs, ...(opts.knobs ?? {}) } };
  const vErr = checkVariant(choice);
  if (vErr.length > 0) throw new ScenarioInputError(vErr.map((e) => e.message).join('; '));
  const description = `explore (${opts.strategy ?? 'dpor'})`;
  const props = [...s.properties.map(declaredProperty), ...(opts.properties ?? [])];
  return (ctl) => {
    const violations = new Map<string, string>();
    const sink = (v: Violation): void => {
      if (!violations.has(v.property)) violations.set(v.property, v.message);
    };
    let monitors: Monitor[] = [];
    const r = runScenario(s, {
      variant: choice.base,
      knobs: choice.knobs,
      schedule: { kind: 'custom', pick: (rs) => ctl.pick(rs), description },
      ...(opts.maxSteps === undefined ? {} : { maxSteps: opts.maxSteps }),
      observer: {
        before: (rs, t) => ctl.observer.before(rs, t),
        after: (t, threads) => {
          ctl.observer.after(t, threads);
          for (const m of monitors) m.afterStep?.(t);
        },
      },
      attach: (sys, nameOf) => {
        ctl.setNameOf(nameOf);
        monitors = builtinMonitors(sys, sink);
        const listeners = monitors.filter((m) => m.onEvent !== undefined);
        sys.events.on((ev: SimEvent) => {
          touchesOf(ev, (obj, access) => ctl.touch(obj, access));
          for (const m of listeners) m.onEvent?.(ev);
        });
      },
      stepHook: {
        start: (thread) => {
          for (const m of monitors) m.opStart?.(thread);
        },
        end: (thread, o) => {
          const oo: OpOutcome | null = o === null ? null : { ...(o.errno === undefined ? {} : { errno: o.errno }), ...(o.signal === undefined ? {} : { signal: o.signal }) };
          for (const m of monitors) m.opEnd?.(thread, oo);
        },
      },
    });
    const end = { kind: r.end.kind, cycle: r.end.cycle, reason: r.end.reason, bugs: r.bugs };
    for (const m of monitors) m.finish?.(end);
    for (const p of props) {
      const why = p.check(r);
      if (why !== null) sink({ property: p.name, message: why });
    }
    return { violations, outcome: outcomeText(r, violations), choices: r.choices, token: r.token };
  };
}

function searchOptions(opts: ExploreOptions): SearchOptions {
  const { variant: _v, knobs: _k, maxSteps: _m, only, properties: _p, noReplays: _n, ...rest } = opts;
  return { ...rest, ...(only === undefined ? {} : { properties: only }) };
}

/** Replay each counterexample to get its full run. */
function replays(s: Scenario, r: SearchResult, opts: ExploreOptions): ExploreResult['counterexamples'] {
  return r.counterexamples.map((cx) => ({ cx, run: opts.noReplays === true ? null : runScenario(s, { replay: cx.token, ...(opts.maxSteps === undefined ? {} : { maxSteps: opts.maxSteps }) }) }));
}

function meta(s: Scenario, opts: ExploreOptions): Pick<ExploreResult, 'scenario' | 'variant'> {
  return {
    scenario: { file: s.file, name: s.name, hash: s.hash },
    variant: opts.variant !== undefined ? { base: opts.variant, knobs: opts.knobs ?? {} } : { base: s.variant.base, knobs: { ...s.variant.knobs, ...(opts.knobs ?? {}) } },
  };
}

/** Explore a loaded scenario to the end of its budgets. */
export function exploreScenario(s: Scenario, opts: ExploreOptions = {}): ExploreResult {
  const search = runSearch(scenarioProgram(s, opts), searchOptions(opts));
  return { ...meta(s, opts), search, counterexamples: replays(s, search, opts) };
}

/**
 * An exploration run in slices (`step(ms)`), so a caller can keep an event loop alive
 * between them (progress lines, Ctrl-C).
 */
export class ScenarioExploration {
  private readonly search: Search;

  constructor(
    private readonly s: Scenario,
    private readonly opts: ExploreOptions = {},
  ) {
    this.search = new Search(scenarioProgram(s, opts), searchOptions(opts));
  }

  /** Run for about `ms` of wall time; true when the search is over. */
  step(ms: number): boolean {
    return this.search.step(ms);
  }

  get strategy(): Strategy {
    return this.search.strategy;
  }

  result(): ExploreResult {
    const search = this.search.result();
    return { ...meta(this.s, this.opts), search, counterexamples: replays(this.s, search, this.opts) };
  }
}
