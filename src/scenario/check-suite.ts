/**
 * `vfio-sim check`: explore a suite of scenarios under every variant and compute which
 * properties each variant breaks, and so which defects it has — the design's history,
 * computed. A scenario's knob overrides are kept on every preset (as run --all-variants
 * does); its schedule and expectations are ignored.
 */
import { BUILTIN_PROPERTIES } from '../check/property.js';
import { type Counterexample, type SearchOptions, simpler, type Strategy } from '../check/search.js';
import { VARIANTS } from '../kernel/variant/knobs.js';
import { knownProperties, ScenarioExploration } from './explore.js';
import { type Scenario, scenarioText } from './load.js';
import { type CellResult, drain } from '../check/parallel/index.js';
import { type CellOptions, runCellsSteps } from './worker-program.js';
import { ScenarioInputError } from './schedule.js';
import { knobConflictsFor } from './matrix.js';

export interface CheckOptions extends Pick<SearchOptions, 'maxExecutions' | 'maxTimeMs' | 'maxPreemptions' | 'seed' | 'depth'> {
  /** Presets to check (default: all, in history order). */
  readonly variants?: readonly string[];
  readonly strategy?: Strategy;
  /** Called after each (scenario, variant) exploration, in table order. */
  readonly onCell?: (c: CheckCell) => void;
  /**
   * Worker threads exploring cells at once (default 1: in this thread). The result is the
   * same with any number; scenarios not made by `loadScenario` are explored in this thread.
   */
  readonly workers?: number;
  /**
   * Polled between executions (Ctrl-C): true stops the cell being explored (it ends
   * incomplete) and starts no other. The result covers the cells explored so far.
   */
  readonly interrupted?: () => boolean;
  /** Leave these properties out (built-in ids or properties of a scenario of the suite); an unknown name is a ScenarioInputError. */
  readonly noProperty?: readonly string[];
}

/** One scenario explored under one variant. */
export interface CheckCell {
  readonly file: string;
  readonly variant: string;
  /** null: the scenario's knobs conflict with this preset (not run). */
  readonly counterexamples: readonly Counterexample[] | null;
  readonly complete: boolean;
  readonly executions: number;
  readonly note: string | null;
}

/** A defect scenario's verdict: where the explorer found its property broken, against the declaration. */
export interface DefectRow {
  readonly id: string;
  readonly file: string;
  readonly property: string;
  readonly declared: readonly string[];
  readonly found: readonly string[];
  readonly ok: boolean;
}

/** A failing cell of the table: the counterexample shown for it, and from which scenario. */
export interface CheckHit {
  readonly file: string;
  readonly cx: Counterexample;
  /**
   * The knobs the scenario forces that differ from the row's preset (`NAME=VALUE`); empty
   * when the cell is broken under the preset as released. A cell shows such a hit only when
   * no scenario breaks the property without forcing knobs.
   */
  readonly forced: readonly string[];
}

export interface CheckResult {
  readonly variants: readonly string[];
  readonly properties: readonly string[];
  readonly cells: readonly CheckCell[];
  /**
   * variant → property → the counterexample shown for the cell (absent: holds): the
   * simplest of the scenarios that force no knob off the preset, else the simplest of all.
   */
  readonly table: ReadonlyMap<string, ReadonlyMap<string, CheckHit>>;
  readonly defects: readonly DefectRow[];
  /** Every search finished within its bounds. */
  readonly complete: boolean;
  /** Every defect was found exactly where its scenario declares. */
  readonly ok: boolean;
  /** Interrupted (CheckOptions.interrupted): `cells` holds the cells explored before, of `planned`. */
  readonly interrupted: boolean;
  readonly planned: number;
}

/** The knob overrides of a scenario that differ from preset `variant`'s values, as `NAME=VALUE`. */
export function forcedKnobs(variant: string, overrides: Readonly<Record<string, unknown>>): string[] {
  const preset = VARIANTS.find((x) => x.name === variant);
  const knobs = new Map<string, unknown>(Object.entries(preset?.knobs ?? {}));
  return Object.entries(overrides).filter(([k, v]) => knobs.get(k) !== v).map(([k, v]) => `${k}=${String(v)}`);
}

/** Explore every scenario of `suite` under every variant. */
export function checkSuite(suite: readonly Scenario[], opts: CheckOptions = {}): CheckResult {
  return drain(checkSteps(suite, opts));
}

/**
 * checkSuite giving the event loop a turn (`pause`) about every 200 ms of exploring, so
 * that a SIGINT handler can set the flag `opts.interrupted` reads.
 */
export async function checkSuiteAsync(suite: readonly Scenario[], opts: CheckOptions, pause: () => Promise<void>): Promise<CheckResult> {
  const it = checkSteps(suite, opts);
  for (;;) {
    const r = it.next();
    if (r.done === true) return r.value;
    await pause();
  }
}

/** checkSuite as a generator that yields between slices of exploring. */
function* checkSteps(suite: readonly Scenario[], opts: CheckOptions): Generator<void, CheckResult, void> {
  const interrupted = opts.interrupted ?? ((): boolean => false);
  const variants = opts.variants ?? VARIANTS.map((v) => v.name);
  for (const v of variants) if (!VARIANTS.some((x) => x.name === v)) throw new ScenarioInputError(`unknown variant '${v}' (known: ${VARIANTS.map((x) => x.name).join(', ')})`);
  const cells: CheckCell[] = [];
  const table = new Map<string, Map<string, CheckHit>>();
  for (const v of variants) table.set(v, new Map());
  const props = new Set<string>(BUILTIN_PROPERTIES);
  for (const s of suite) for (const p of s.properties) props.add(p.name);
  for (const x of opts.noProperty ?? []) if (!props.has(x)) throw new ScenarioInputError(`unknown property '${x}' (known: ${[...props].join(', ')})`);
  const left = new Set(opts.noProperty ?? []);
  for (const x of left) props.delete(x);
  // the cells in table order: each explored, or skipped for a knob conflict
  const plan: { readonly s: Scenario; readonly v: string; readonly conflicts: string | null; readonly options: CellOptions }[] = [];
  for (const s of suite) {
    const noProperty = knownProperties(s).filter((p) => left.has(p));
    for (const v of variants) {
      const options: CellOptions = {
        variant: v,
        knobs: s.variant.knobs,
        ...(opts.strategy === undefined ? {} : { strategy: opts.strategy }),
        ...(opts.maxExecutions === undefined ? {} : { maxExecutions: opts.maxExecutions }),
        ...(opts.maxTimeMs === undefined ? {} : { maxTimeMs: opts.maxTimeMs }),
        ...(opts.maxPreemptions === undefined ? {} : { maxPreemptions: opts.maxPreemptions }),
        ...(opts.seed === undefined ? {} : { seed: opts.seed }),
        ...(opts.depth === undefined ? {} : { depth: opts.depth }),
        ...(noProperty.length === 0 ? {} : { noProperty }),
      };
      plan.push({ s, v, conflicts: knobConflictsFor(v, s.variant.knobs), options });
    }
  }
  const add = (i: number, r: CellResult | null): void => {
    const { s, v, conflicts } = plan[i] as (typeof plan)[number]; // i < plan.length
    const c: CheckCell = r === null ? { file: s.file, variant: v, counterexamples: null, complete: true, executions: 0, note: conflicts } : { file: s.file, variant: v, counterexamples: r.counterexamples, complete: r.complete, executions: r.executions, note: null };
    cells.push(c);
    opts.onCell?.(c);
    const row = table.get(v) as Map<string, CheckHit>; // set for every variant above
    const forced = forcedKnobs(v, s.variant.knobs);
    for (const cx of r?.counterexamples ?? []) {
      const old = row.get(cx.property);
      // a cell broken under the preset itself is shown so, whatever forced scenario is simpler
      const unforced = forced.length === 0;
      const better = old === undefined ? true : unforced !== (old.forced.length === 0) ? unforced : simpler(cx, old.cx);
      if (better) row.set(cx.property, { file: s.file, cx, forced });
    }
  };
  /** Cell i explored here, in slices. */
  const localCell = (i: number): { step: (ms: number) => boolean; result: () => CellResult } => {
    const { s, options } = plan[i] as (typeof plan)[number]; // i < plan.length
    const x = new ScenarioExploration(s, { ...options, noReplays: true, interrupted });
    return {
      step: (ms) => x.step(ms),
      result: () => {
        const r = x.result().search;
        return { counterexamples: r.counterexamples, complete: r.complete, executions: r.stats.executions };
      },
    };
  };
  const workers = opts.workers ?? 1;
  if (workers > 1 && suite.every((s) => scenarioText(s) !== undefined)) {
    // explored cells over the workers, reported in table order
    const todo = plan.map((c, i) => ({ c, i })).filter(({ c }) => c.conflicts === null);
    let done = 0;
    const flush = (upTo: number): void => {
      for (; done < upTo; done++) if ((plan[done] as (typeof plan)[number]).conflicts !== null) add(done, null);
    };
    yield* runCellsSteps(
      todo.map(({ c }) => ({ source: { text: scenarioText(c.s) as string, file: c.s.file, hash: c.s.hash }, options: c.options })), // every text checked above
      workers,
      (j) => localCell((todo[j] as (typeof todo)[number]).i),
      (j, r) => {
        const i = (todo[j] as (typeof todo)[number]).i;
        flush(i);
        add(i, r);
        done = i + 1;
      },
      interrupted,
    );
    if (!interrupted()) flush(plan.length);
  } else {
    for (let i = 0; i < plan.length && !interrupted(); i++) {
      if ((plan[i] as (typeof plan)[number]).conflicts !== null) {
        add(i, null);
        continue;
      }
      const cell = localCell(i);
      while (!cell.step(200)) yield;
      add(i, cell.result());
      yield;
    }
  }
  const stopped = cells.length < plan.length;
  const defects: DefectRow[] = [];
  for (const s of suite) {
    const d = s.defect;
    if (d === null || d.property === null || left.has(d.property)) continue; // (a property left out finds no defect)
    const property = d.property;
    const found = cells.filter((c) => c.file === s.file && c.counterexamples?.some((x) => x.property === property) === true).map((c) => c.variant);
    // (interrupted: only the variants whose cell was explored are judged)
    const declared = d.foundIn.filter((v) => variants.includes(v) && cells.some((c) => c.file === s.file && c.variant === v));
    defects.push({ id: d.id, file: s.file, property, declared, found, ok: declared.length === found.length && declared.every((v) => found.includes(v)) });
  }
  return {
    variants,
    properties: [...props],
    cells,
    table,
    defects,
    complete: !stopped && cells.every((c) => c.complete),
    ok: defects.every((d) => d.ok),
    interrupted: stopped || cells.some((c) => !c.complete && interrupted()),
    planned: plan.length,
  };
}
