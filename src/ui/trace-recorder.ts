/**
 * Record a run for the trace viewer: replay a scenario (a counterexample's token,
 * or a variant and schedule) and, after every scheduler step, read the model's state
 * (machine-state.ts) with the step's events and the verdicts of the properties the
 * explorer checks (the built-in monitors and the scenario's own `properties:`, watched
 * as an execution of the search watches them), so the browser shows the machine as the
 * model held it at each step and the step where each property breaks.
 */
import { builtinMonitors, type Monitor, type Violation } from '../check/property.js';
import { describe } from '../events/format.js';
import type { SimEvent } from '../events/event.js';
import { runScenario, type RunOptions, type Scenario } from '../scenario/index.js';
import type { System } from '../system.js';
import type { KThread } from '../kernel/sched/thread.js';
import { machineState } from './machine-state.js';
import { firstBreak, scenarioStateMonitor, type StateMonitor } from '../scenario/property-decl.js';
import { type MachineStateJson, STATE_PARTS, type StatePart, type StatePools, type StateRef, type TraceJson, type TraceStepJson } from './protocol.js';

/** Interns each part of the states: equal values are stored once. */
class StateInterner {
  readonly pools: { [K in StatePart]: MachineStateJson[K][] } = { threads: [], locks: [], processes: [], devices: [], iommu: [], lockdep: [] };
  private readonly index = new Map<string, number>();
  private readonly refs: StateRef[] = [];
  private lastRef = '';

  /** The index of `st` among the states (a new one unless it equals the last). */
  add(st: MachineStateJson): number {
    const ref: Record<string, number> = { platformErrors: st.platformErrors };
    for (const part of STATE_PARTS) {
      const text = JSON.stringify(st[part]);
      const key = `${part}:${text}`;
      let i = this.index.get(key);
      if (i === undefined) {
        const pool = this.pools[part] as unknown[];
        i = pool.length;
        pool.push(st[part]);
        this.index.set(key, i);
      }
      ref[part] = i;
    }
    const refText = JSON.stringify(ref);
    if (refText !== this.lastRef || this.refs.length === 0) {
      this.refs.push(ref as StateRef);
      this.lastRef = refText;
    }
    return this.refs.length - 1;
  }

  get states(): readonly StateRef[] {
    return this.refs;
  }

  get statePools(): StatePools {
    return this.pools;
  }
}

/** How to run the scenario: a replay token, or a variant/knobs/schedule. */
export interface TraceRequest {
  readonly token?: string;
  readonly variant?: string;
  readonly knobs?: RunOptions['knobs'];
  readonly schedule?: string;
  readonly seed?: number;
  readonly maxSteps?: number;
}

interface StepRec {
  setup: boolean;
  /** Sequence number of the first event the step may emit. */
  seq: number;
  thread: string;
  point: string;
  label: string;
  events: string[];
  platformError: boolean;
  lockdepCycle: readonly string[] | null;
  breaks: { property: string; message: string }[];
  state: number;
}

/** Run `s` as `req` says and record every step. Throws ScenarioInputError for a bad request. */
export function recordTrace(s: Scenario, req: TraceRequest): TraceJson {
  const interner = new StateInterner();
  const steps: StepRec[] = [];
  let sys: System | null = null;
  let nameOf: (t: KThread) => string = (t) => t.name;
  let monitors: Monitor[] = [];
  /** The scenario's state predicates, judged as each selected step ends (as the explorer does). */
  let stateMonitor: StateMonitor | null = null;
  const found = new Map<string, { message: string; step: number }>();
  // the run-level checks (finish) report after the last step: their step is -1
  /** The step being taken (null: setup, before the first recorded step). */
  let cur: StepRec | null = null;
  const setupEvents: string[] = [];

  const snap = (): number => {
    if (sys === null) return 0;
    return interner.add(machineState(sys, nameOf));
  };
  const sink = (v: Violation): void => {
    if (found.has(v.property)) return;
    found.set(v.property, { message: v.message, step: ended ? -1 : steps.length - 1 });
    cur?.breaks.push({ property: v.property, message: v.message });
  };
  let nextSeq = 0;
  const onEvent = (ev: SimEvent): void => {
    nextSeq = ev.seq + 1;
    for (const m of monitors) m.onEvent?.(ev);
    const text = describe(ev);
    if (cur === null) {
      setupEvents.push(text);
      return;
    }
    cur.events.push(text);
    if (ev.kind === 'platform.error') cur.platformError = true;
    if (ev.kind === 'lockdep' && ev.report === 'circular' && cur.lockdepCycle === null) cur.lockdepCycle = ev.classes;
  };

  let initial = 0;
  let started = false;
  let ended = false;
  const opts: RunOptions = {
    ...(req.token !== undefined ? { replay: req.token } : {}),
    ...(req.variant !== undefined ? { variant: req.variant } : {}),
    ...(req.knobs !== undefined ? { knobs: req.knobs } : {}),
    ...(req.schedule !== undefined ? { schedule: req.schedule } : {}),
    ...(req.seed !== undefined ? { seed: req.seed } : {}),
    ...(req.maxSteps !== undefined ? { maxSteps: req.maxSteps } : {}),
    attach: (system, names, mappingOf) => {
      sys = system;
      nameOf = names;
      monitors = builtinMonitors(system, sink);
      stateMonitor = scenarioStateMonitor(system, s.properties, sink, () => undefined, mappingOf);
      system.events.on(onEvent);
    },
    observer: {
      before: (_runnable, t) => {
        if (!started) {
          started = true;
          initial = snap();
        }
        const p = t.next;
        cur = { setup: false, seq: nextSeq, thread: nameOf(t), point: p === null ? 'wake' : `${p.op} ${p.obj}`, label: t.label, events: [], platformError: false, lockdepCycle: null, breaks: [], state: 0 };
        steps.push(cur);
      },
      after: (t) => {
        for (const m of monitors) m.afterStep?.(t);
        stateMonitor?.afterStep();
        if (cur !== null) cur.state = snap();
      },
    },
    stepHook: {
      start: (thread) => {
        for (const m of monitors) m.opStart?.(thread);
      },
      end: (thread, o, step) => {
        const oo = o === null ? null : { ...(o.errno === undefined ? {} : { errno: o.errno }), ...(o.signal === undefined ? {} : { signal: o.signal }) };
        for (const m of monitors) m.opEnd?.(thread, oo);
        stateMonitor?.stepEnd(step);
      },
    },
  };
  const r = runScenario(s, opts);
  cur = null;
  ended = true;
  for (const m of monitors) m.finish?.({ kind: r.end.kind, cycle: r.end.cycle, reason: r.end.reason, bugs: r.bugs });
  // the scenario's properties judged on the finished run (event counts, step results), at
  // the step that took the event breaking them (the explorer judges them at the end the same way)
  for (const d of s.properties) {
    const b = firstBreak(d, r);
    if (b === null || found.has(d.name)) continue;
    let at = -1;
    for (let i = 0; i < steps.length; i++) if ((steps[i]?.seq ?? Infinity) <= b.seq) at = i;
    found.set(d.name, { message: b.message, step: at });
    steps[at]?.breaks.push({ property: d.name, message: b.message });
  }
  if (!started) initial = snap();
  // a step is the setup's when it came before the last setup operation's end
  let setupEnd = -1;
  for (const st of r.steps) if (st.phase === 'setup') setupEnd = Math.max(setupEnd, st.endSeq);
  for (const st of steps) st.setup = st.seq <= setupEnd;
  const violations = [...found].map(([property, v]) => ({ property, message: v.message, step: v.step }));
  const threads: string[] = [];
  for (const t of r.threads) if (!threads.includes(t.name)) threads.push(t.name);
  for (const st of steps) if (!threads.includes(st.thread)) threads.push(st.thread);
  let cycle: readonly string[] | null = null;
  for (const st of steps) if (cycle === null && st.lockdepCycle !== null) cycle = st.lockdepCycle;
  const out: TraceStepJson[] = steps;
  return {
    scenario: r.scenario.name ?? r.scenario.file,
    variant: r.variant.base + Object.entries(r.variant.knobs).map(([k, v]) => ` ${k}=${String(v)}`).join(''),
    schedule: r.schedule.description,
    token: r.token,
    threads,
    initial,
    steps: out,
    states: interner.states,
    pools: interner.statePools,
    violations,
    end: r.end.reason === null ? r.end.kind : `${r.end.kind}: ${r.end.reason}`,
    lockdepCycle: cycle,
    finding: r.finding?.properties ?? null,
  };
}
