/**
 * Scenario-declared properties (`properties:` in a scenario file), checked by the
 * explorer on every execution. Three forms:
 *
 * - `event`: at most `at_most` (default 0) events of a kind whose fields match `where`,
 *   counted over the whole run.
 * - result predicates, `never: { step, result }` / `always: { step, result }`: no step the
 *   selector picks ends with a result matching `result` / every one does. `result` is
 *   written as a step's `expect:` (ok, an errno name, a signal, a value, a mapping).
 * - state predicates, `always: { after, when?, state }`: when a step the selector picks
 *   ends (and its result matches `when`, if given), every named observable in `state`
 *   has the value asked for (STATE_OBSERVABLES).
 *
 * A step selector (`step:` or `after:`) is `thread#n` (the n-th step of a thread, or of a
 * process's setup by the process name), a thread or process name (each of its steps), the
 * name a step binds with `as:`, an operation (`pread`, `load`, `ioctl`...), an ioctl
 * command (`MAP_DMA` or `VFIO_IOMMU_MAP_DMA`), or `any`.
 *
 * What the checks read, for the explorer's partial-order reduction (as the built-in
 * monitors declare theirs, src/check/property.ts): the event form and the result
 * predicates are judged on the finished run, from its events and its steps' results,
 * which are the same in every execution of one trace class — they need no footprint. A
 * state predicate is judged in the middle of the run, in the step that ends the selected
 * operation, from state other threads change: each observable it reads is one object
 * (`property:<observable>`), which the check reads and which every step that changes the
 * observable's value writes, so the search orders the check against those steps.
 */
import type { SimEvent } from '../events/event.js';
import { stepKey } from './property-names.js';
import { liveMms, memBarPfns, type FootprintSink, type Violation } from '../check/property.js';
import { asMm, TASK_SIZE } from '../kernel/mm/mm.js';
import type { MmStructRef } from '../kernel/mm/types.js';
import type { System } from '../system.js';
import type { PropertyDecl, StateCheck } from './load.js';
import { expectationMismatch, expectText, type RunResult, type StepResult } from './run.js';
import { pushAll } from '../util/array.js';

/** A property of the user's: a predicate over a finished run (null: holds; else why not). */
export interface UserProperty {
  readonly name: string;
  readonly check: (r: RunResult) => string | null;
}

export { EVENT_KINDS, STATE_OBSERVABLES, type StateObservable, stepKey } from './property-names.js';

function matches(ev: SimEvent, where: Readonly<Record<string, string | number | boolean>>): boolean {
  const rec = ev as unknown as Record<string, unknown>;
  for (const [k, want] of Object.entries(where)) {
    const got = rec[k];
    if (typeof got === 'bigint' ? typeof want !== 'number' || got !== BigInt(want) : got !== want) return false;
  }
  return true;
}

/** A step as a property message names it. */
function stepName(s: StepResult): string {
  return `${s.thread} ${s.phase === 'setup' ? 'setup step' : 'step'} ${s.index} (line ${s.line}: ${s.text})`;
}

/** A declared property in words, for the report (what it says, and its line). */
export function describeProperty(d: PropertyDecl): string {
  switch (d.kind) {
    case 'event':
      return `at most ${d.atMost} ${d.event} event${d.atMost === 1 ? '' : 's'}${Object.keys(d.where).length === 0 ? '' : ` with ${Object.entries(d.where).map(([k, v]) => `${k}: ${String(v)}`).join(', ')}`} (line ${d.line})`;
    case 'result':
      return `${d.mode === 'never' ? 'no step' : 'every step'} of '${d.selector}' ends with ${expectText(d.result)} (line ${d.line})`;
    case 'state': {
      const cmp = (c: StateCheck): string => {
        const parts: string[] = [];
        if (c.is !== null) parts.push(c.observable === 'memory_decode' || c.observable === 'pte_present' ? `is ${String(c.is === 1)}` : `is ${c.is}`);
        if (c.atMost !== null) parts.push(`≤ ${c.atMost}`);
        if (c.atLeast !== null) parts.push(`≥ ${c.atLeast}`);
        return `${c.text} ${parts.join(' and ')}`;
      };
      return `after each step of '${d.selector}'${d.when === null ? '' : ` that ends with ${expectText(d.when)}`}: ${d.state.map(cmp).join(', ')} (line ${d.line})`;
    }
  }
}

/** The step finished (a result to judge); steps that never did are the deadlock and termination properties' business. */
function finished(s: StepResult): boolean {
  return s.status !== 'blocked' && s.status !== 'not-run' && s.status !== 'skipped';
}

/**
 * Where a declared property judged on the finished run (the event form, the result
 * predicates) first breaks in `r`: the sequence number of the event that breaks it (the
 * matching event past the limit, the end of the step with the wrong result) and why; null
 * when it holds or for a state predicate (see scenarioStateMonitor).
 */
export function firstBreak(d: PropertyDecl, r: RunResult): { readonly seq: number; readonly message: string } | null {
  if (d.kind === 'state') return null;
  if (d.kind === 'result') {
    for (const s of r.steps) {
      if (!d.steps.has(stepKey(s.thread, s.index)) || !finished(s)) continue;
      const why = expectationMismatch(d.result, s);
      if (d.mode === 'never' && why === null) return { seq: s.endSeq, message: `${stepName(s)} returned ${s.result} (never allowed by '${d.selector}'; line ${d.line})` };
      if (d.mode === 'always' && why !== null) return { seq: s.endSeq, message: `${stepName(s)}: ${why} (line ${d.line})` };
    }
    return null;
  }
  const what = `${d.event}${Object.keys(d.where).length === 0 ? '' : ` {${Object.entries(d.where).map(([k, v]) => `${k}: ${String(v)}`).join(', ')}}`}`;
  const hits = r.events.filter((e) => e.kind === d.event && matches(e, d.where));
  const over = hits[d.atMost];
  if (over === undefined) return null;
  return { seq: over.seq, message: `${hits.length} ${what} event${hits.length === 1 ? '' : 's'} (at most ${d.atMost} allowed; line ${d.line})` };
}

/**
 * The explorer's form of a declared property judged on the finished run (the event form
 * and the result predicates), or null for a state predicate (see scenarioStateMonitor).
 */
export function declaredProperty(d: PropertyDecl): UserProperty | null {
  if (d.kind === 'state') return null;
  return { name: d.name, check: (r: RunResult) => firstBreak(d, r)?.message ?? null };
}

/** The name of the property `--expect-as-properties` makes of a step's `expect:`. */
export function expectPropertyName(thread: string, index: number): string {
  return `expect:${stepKey(thread, index)}`;
}

/**
 * `--expect-as-properties`: each step's `expect:` as a property of its own
 * (`expect:<thread>#<n>`), broken by an execution where the step finishes with another
 * result. A step that never finishes breaks none (deadlock and termination say why).
 * Judged on the finished run from the step's result: no footprint (see the module doc).
 */
export function expectProperties(keys: readonly { readonly thread: string; readonly index: number }[]): UserProperty[] {
  return keys.map(({ thread, index }) => ({
    name: expectPropertyName(thread, index),
    check: (r: RunResult) => {
      const s = r.steps.find((x) => x.thread === thread && x.index === index);
      if (s === undefined || !finished(s) || s.verdict !== 'failed') return null;
      return `${stepName(s)}: ${s.why ?? 'its expectation failed'}`;
    },
  }));
}

/** A mapping a thread has bound by name, and the address space it lies in (see Runner.mappingOf). */
export type MappingResolver = (thread: string, name: string) => { readonly addr: number; readonly mm: MmStructRef } | null;

/** One observable's value in `sys` (booleans as 0/1). */
function observe(sys: System, c: StateCheck, mappings: MappingResolver): number {
  switch (c.observable) {
    case 'pte_present': {
      if (c.at === null) return 0;
      const m = mappings(c.at.thread, c.at.name);
      if (m === null) return 0;
      const mm = asMm(m.mm);
      return !mm.exited && mm.pt.has(Math.floor((m.addr + c.at.offset) / 4096)) ? 1 : 0;
    }
    case 'memory_decode':
      return sys.hw.findFunction(c.device ?? '')?.state().memDecode === true ? 1 : 0;
    case 'iommu_maps_of_disabled_bars': {
      const bars: { first: number; end: number }[] = [];
      for (const fn of sys.hw.pciFunctions()) {
        if (c.device !== null && fn.name !== c.device) continue;
        if (fn.state().memDecode) continue;
        pushAll(bars, memBarPfns(fn));
      }
      if (bars.length === 0) return 0;
      let n = 0;
      sys.hw.iommu.forEachMapping((_d, _page, pfn) => {
        if (bars.some((b) => pfn >= b.first && pfn < b.end)) n++;
      });
      return n;
    }
    case 'bar_ptes': {
      const fn = sys.hw.findFunction(c.device ?? '');
      if (fn === undefined) return 0;
      const bars = memBarPfns(fn);
      let n = 0;
      for (const mm of liveMms(sys)) {
        if (mm.pt.size === 0) continue;
        mm.pt.forEachInRange(0, Math.floor(TASK_SIZE / 4096), (_vpn, pte) => {
          if (bars.some((b) => pte.pfn >= b.first && pte.pfn < b.end)) n++;
        }, (_vpn, len, pte) => {
          for (const b of bars) n += Math.max(0, Math.min(b.end, pte.pfn + len) - Math.max(b.first, pte.pfn));
        });
      }
      return n;
    }
    case 'events':
      return sys.events.count(c.kind ?? '');
  }
}

/** The check holds for value `v`. */
function holds(c: StateCheck, v: number): boolean {
  return (c.is === null || v === c.is) && (c.atMost === null || v <= c.atMost) && (c.atLeast === null || v >= c.atLeast);
}

/** The explorer's object for one observable (see the module doc). */
export function observableObject(c: StateCheck): string {
  return `property:${c.key}`;
}

/** Watches one run for the scenario's state predicates. */
export interface StateMonitor {
  /** After every scheduler step: write the object of each observable whose value changed. */
  afterStep(): void;
  /** A step ended (in the step that ends it): judge every state predicate that selects it. */
  stepEnd(step: StepResult): void;
}

/**
 * The state predicates of `decls` over one run of `sys`, reporting to `report` and saying
 * what they read and what changed on `footprint` (see the module doc).
 */
export function scenarioStateMonitor(sys: System, decls: readonly PropertyDecl[], report: (v: Violation) => void, footprint: FootprintSink, mappings: MappingResolver): StateMonitor | null {
  const props = decls.filter((d): d is Extract<PropertyDecl, { kind: 'state' }> => d.kind === 'state');
  if (props.length === 0) return null;
  const checks = new Map<string, StateCheck>();
  for (const p of props) for (const c of p.state) checks.set(c.key, c);
  const last = new Map<string, number>();
  for (const [k, c] of checks) last.set(k, observe(sys, c, mappings));
  return {
    afterStep() {
      for (const [k, c] of checks) {
        const v = observe(sys, c, mappings);
        if (v !== last.get(k)) {
          last.set(k, v);
          footprint(observableObject(c), 'w');
        }
      }
    },
    stepEnd(step) {
      for (const p of props) {
        if (!p.steps.has(stepKey(step.thread, step.index))) continue;
        if (p.when !== null && expectationMismatch(p.when, step) !== null) continue;
        for (const c of p.state) {
          footprint(observableObject(c), 'r');
          const v = observe(sys, c, mappings);
          if (!holds(c, v)) {
            report({ property: p.name, message: `after ${stepName(step)} returned ${step.result}: ${c.text} is ${c.observable === 'memory_decode' || c.observable === 'pte_present' ? String(v === 1) : v} (line ${p.line})` });
            break;
          }
        }
      }
    },
  };
}
