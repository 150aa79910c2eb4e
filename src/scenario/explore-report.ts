/**
 * Views of an exploration and of a suite check: the text summary, the variant ×
 * property table, and JSON (with each counterexample's event stream and a trace in the
 * Informal Trace Format of Apalache/Quint). Nothing here runs the model.
 */
import pc from 'picocolors';
import { PROPERTY_TEXT } from '../check/property.js';
import type { CheckHit, CheckResult } from './check-suite.js';
import type { CostProfile, ExploreResult } from './explore.js';
import { plural } from '../util/plural.js';
import { jsonSafe } from './report.js';
import { maxOf } from '../util/array.js';
import { escapeControls } from './source.js';
import { itf } from './itf.js';

type Colors = ReturnType<typeof pc.createColors>;

function rate(n: number, ms: number): string {
  const r = ms > 0 ? (n * 1000) / ms : 0;
  return r >= 1000 ? `${(r / 1000).toFixed(1)} k/s` : `${r.toFixed(0)}/s`;
}

function secs(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 1000).toFixed(0)} s`;
}

/** The scenario step that dominates an execution's cost, as one phrase ("mapper step 1: … (770 of 812 steps: 768 pte, 2 lock)"). */
export function dominantCost(cost: CostProfile | null): string | null {
  const top = cost?.byStep[0];
  if (cost === null || top === undefined) return null;
  const points = top.points.slice(0, 3).map((p) => `${p.count} ${p.op}`).join(', ');
  return `${top.step} (${top.steps} of its ${cost.steps} steps: ${points})`;
}

/** The exploration declares nothing to interleave: no threads (or one), and one execution covered it. */
export function nothingToInterleave(r: ExploreResult): boolean {
  return r.threads <= 1 && r.search.stats.executions <= 1 && r.search.stoppedBy === 'exhausted';
}

/**
 * A search its budget (or Ctrl-C) stopped: what it covered, and what to try to finish
 * one (null: the search ended by itself).
 */
export function budgetReport(r: ExploreResult): { readonly covered: string; readonly tryNext: readonly string[] } | null {
  const s = r.search;
  if (s.stoppedBy !== 'max-executions' && s.stoppedBy !== 'max-time' && s.stoppedBy !== 'interrupted') return null;
  const st = s.stats;
  const parts = [`${st.executions} executions`, `${st.distinctTraces} distinct traces (interleavings that differ in the order of dependent steps)`];
  if (s.strategy === 'bfs' && st.bound !== null) {
    parts.push(st.bound > 0 ? `every interleaving with at most ${st.bound - 1} preemption${st.bound - 1 === 1 ? '' : 's'} (bound ${st.bound} only in part)` : 'no preemption bound in full (bound 0 only in part)');
  }
  if (st.pruned > 0) parts.push(`${st.pruned} executions cut at the preemption bound`);
  const tryNext: string[] = [];
  const bound = s.preemptionBound;
  if (s.strategy !== 'random' && s.strategy !== 'pct') {
    if (bound === null) tryNext.push('a preemption bound (--max-preemptions 2: most real races need 1 or 2)');
    else if (bound > 0) tryNext.push(`a smaller preemption bound (--max-preemptions ${bound - 1})${s.strategy === 'dpor' ? ', or --strategy bfs (fewest preemptions first: says which bound it covered in full)' : ''}`);
  }
  const dom = dominantCost(r.cost);
  tryNext.push(`a smaller scenario: fewer threads, or smaller ranges${dom === null ? '' : ` — one execution is ${r.cost?.steps ?? 0} scheduler steps, most from ${dom}`}`);
  if (s.strategy !== 'random' && s.strategy !== 'pct') tryNext.push('sampling instead of covering: --strategy pct or random (a sample, not a proof)');
  tryNext.push(s.stoppedBy === 'max-time' ? 'more time (--max-time)' : 'a larger budget (--max-executions, --max-time)');
  return { covered: parts.join(', '), tryNext };
}

/** The summary of an exploration: bounds, coverage, cost, and one block per broken property. */
export function renderExplore(r: ExploreResult, opts: { color?: boolean; replayCommand?: (t: string) => string } = {}): string[] {
  const c: Colors = pc.createColors(opts.color ?? false);
  const s = r.search;
  const st = s.stats;
  const out: string[] = [];
  const bound = s.preemptionBound === null ? 'no preemption bound' : `at most ${s.preemptionBound} preemption${s.preemptionBound === 1 ? '' : 's'}`;
  out.push(c.bold(`${escapeControls(r.scenario.name ?? r.scenario.file)} — variant ${r.variant.base}, strategy ${s.strategy} (${bound})`));
  out.push(`${plural(st.executions, 'execution')} (${plural(st.distinctTraces, 'distinct trace')}, ${st.sleepBlocked} sleep-set blocked${st.pruned > 0 ? `, ${st.pruned} past the bound` : ''}), ${plural(st.distinctOutcomes, 'distinct outcome')}, longest ${plural(st.maxDepth, 'step')}, ${(st.elapsedMs / 1000).toFixed(1)} s (${rate(st.executions, st.elapsedMs)})`);
  const dom = dominantCost(r.cost);
  if (r.cost !== null && dom !== null) out.push(c.dim(`cost: ${r.cost.steps} scheduler steps per execution (each a point where the search may switch threads); most from ${dom}`));
  const empty = nothingToInterleave(r);
  if (empty) {
    out.push(c.yellow(r.threads === 0
      ? "nothing to interleave: the scenario declares no threads (its setup steps run one process at a time), so one execution is the whole search — put the operations that should race in 'threads:'"
      : "nothing to interleave: the scenario declares one thread and the kernel made no scheduling choice, so one execution is the whole search — add a thread to race it against"));
  }
  const budget = budgetReport(r);
  const how = s.complete
    ? empty ? 'the search is complete: its one execution is every interleaving' : `the search is complete: every interleaving with ${bound} was covered`
    : s.stoppedBy === 'samples' ? `${st.executions} ${s.strategy} samples: a sample of the interleavings, not all of them`
    : s.stoppedBy === 'first-violation' ? 'the search stopped at the first broken property (--stop-at-first)'
    : `the search stopped early (${s.stoppedBy}): what was not covered is unknown`;
  const tail = (): void => {
    if (budget === null) return;
    out.push(`  covered: ${budget.covered}`);
    out.push('  to finish a search, try:');
    for (const t of budget.tryNext) out.push(`    - ${t}`);
  };
  if (s.counterexamples.length === 0) {
    out.push(s.complete ? c.green(`✓ no property is broken; ${how}`) : c.yellow(`no property broken in what was covered; ${how}`));
    tail();
    return out;
  }
  out.push(c.red(`✗ ${s.counterexamples.length} propert${s.counterexamples.length === 1 ? 'y is' : 'ies are'} broken (${how})`));
  tail();
  for (const { cx } of r.counterexamples) {
    out.push('');
    out.push(`  ${c.bold(c.red(cx.property))}: ${cx.message}`);
    out.push(c.dim(`    ${PROPERTY_TEXT[cx.property as keyof typeof PROPERTY_TEXT] ?? r.properties[cx.property] ?? (cx.property.startsWith('expect:') ? "a step's expect: line (--expect-as-properties)" : 'a property of the scenario')}`));
    out.push(`    simplest: ${plural(cx.preemptions, 'preemption')}, ${plural(cx.steps, 'step')} (execution ${cx.execution}); first found: execution ${cx.firstExecution}, ${secs(s.firstFoundMs[cx.property] ?? 0)} after the search started`);
    out.push(`    replay:   ${opts.replayCommand !== undefined ? opts.replayCommand(cx.token) : cx.token}`);
  }
  return out;
}

/** The exploration as JSON: the search, and each counterexample with its events and ITF trace. */
export function exploreToJson(r: ExploreResult, exitCode: number): unknown {
  return {
    exitCode,
    scenario: r.scenario,
    variant: r.variant,
    strategy: r.search.strategy,
    complete: r.search.complete,
    stoppedBy: r.search.stoppedBy,
    preemptionBound: r.search.preemptionBound,
    stats: r.search.stats,
    threads: r.threads,
    nothingToInterleave: nothingToInterleave(r),
    cost: r.cost,
    budget: budgetReport(r),
    counterexamples: r.counterexamples.map(({ cx, run }) => ({
      ...cx,
      firstFound: { execution: cx.firstExecution, elapsedMs: r.search.firstFoundMs[cx.property] ?? 0 },
      events: run === null ? null : jsonSafe(run.events),
      itf: run === null ? null : itf(run, `${cx.property}: ${cx.message}`),
    })),
  };
}

/** How renderCheck lists the failing cells under the table. */
export interface CheckRenderOptions {
  readonly color?: boolean;
  /** The command that replays `token` of scenario `file` (default: the token alone). */
  readonly replayCommand?: (file: string, token: string) => string;
  /** How a scenario's path is shown (the CLI: relative to the working directory). */
  readonly path?: (file: string) => string;
  /**
   * 'scenarios' (default): one line per scenario that breaks a cell, with the knobs it
   * forces; 'cells': under each scenario, every cell it breaks with its replay command.
   */
  readonly footnotes?: 'scenarios' | 'cells';
}

/** The mark of a cell broken only under knobs its scenario forces off the row's preset. */
export const FORCED_MARK = '*';

/**
 * The check: the variant × property table (a failing cell names the defect id of the
 * scenario that breaks it, marked * when only under knobs that scenario forces), the
 * scenarios (or every failing cell, opts.footnotes 'cells'), then the defects.
 */
/** Columns of the check table are at least this wide (or as wide as their property's name), so names wrap over fewer header lines. */
const MIN_COLUMN = 9;

/** `name` over lines of at most `width` characters, broken after hyphens (a part longer than `width` keeps its line). */
function wrapAtHyphens(name: string, width: number): string[] {
  const lines: string[] = [];
  for (const part of name.split(/(?<=-)/)) {
    const last = lines.length - 1;
    if (last >= 0 && (lines[last] ?? '').length + part.length <= width) lines[last] += part;
    else lines.push(part);
  }
  return lines;
}

export function renderCheck(r: CheckResult, opts: CheckRenderOptions = {}): string[] {
  const c: Colors = pc.createColors(opts.color ?? false);
  const path = opts.path ?? ((f: string): string => f);
  const out: string[] = [];
  const broken = (p: string): boolean => r.variants.some((v) => r.table.get(v)?.has(p) === true);
  // columns for the properties some variant breaks; the others hold everywhere and get one line
  const props = r.properties.filter(broken);
  const held = r.properties.filter((p) => !broken(p) && (p in PROPERTY_TEXT || r.properties.includes(p)));
  // a scenario is named by its defect id (the defect table's rows), else by its file name
  const label = (file: string): string => r.defects.find((d) => d.file === file)?.id ?? (file.split('/').pop() ?? file).replace(/\.ya?ml$/, '');
  const cellText = (hit: CheckHit | undefined): string => (hit === undefined ? '✓' : `✗ ${label(hit.file)}${hit.forced.length > 0 ? FORCED_MARK : ''}`);
  // a column is as wide as its widest cell or the longest hyphen-separated part of its name;
  // the name is wrapped over header lines at hyphens to fit that width
  const cw = props.map((p) => maxOf([...p.split(/(?<=-)/).map((x) => x.length), ...r.variants.map((v) => cellText(r.table.get(v)?.get(p)).length)], Math.min(p.length, MIN_COLUMN)));
  const heads = props.map((p, i) => wrapAtHyphens(p, cw[i] ?? 0));
  const vw = maxOf(r.variants.map((v) => v.length), 7);
  const headLines = maxOf(heads.map((h) => h.length), 1);
  for (let k = 0; k < headLines; k++) {
    out.push((c.bold((k === 0 ? 'variant' : '').padEnd(vw)) + '  ' + heads.map((h, i) => c.bold((h[k] ?? '').padEnd(cw[i] ?? 0))).join('  ')).trimEnd());
  }
  for (const v of r.variants) {
    const row = r.table.get(v);
    const cells = props.map((p, i) => {
      const hit = row?.get(p);
      const text = cellText(hit).padEnd(cw[i] ?? 0);
      return hit === undefined ? c.green(text) : hit.forced.length > 0 ? c.yellow(text) : c.red(text);
    });
    out.push((v.padEnd(vw) + '  ' + cells.join('  ')).trimEnd());
  }
  if (held.length > 0) {
    // wrapped to the table's width (at least 60 columns); `len` counts what is visible, not colour codes
    let line = `${c.green('✓')} under every variant:`;
    let len = '✓ under every variant:'.length;
    const width = Math.max(60, vw + 2 + cw.reduce((a, w) => a + w + 2, 0));
    held.forEach((p, i) => {
      const word = ` ${p}${i < held.length - 1 ? ',' : ''}`;
      if (len + word.length > width) {
        out.push(line);
        line = '   ';
        len = 3;
      }
      line += word;
      len += word.length;
    });
    out.push(line);
  }
  // the scenarios that break a cell, in suite order, each with the knobs it forces
  const hits = r.variants.flatMap((v) => props.flatMap((p) => {
    const hit = r.table.get(v)?.get(p);
    return hit === undefined ? [] : [{ v, p, hit }];
  }));
  const files = [...new Set([...r.defects.map((d) => d.file), ...hits.map((h) => h.hit.file)])].filter((f) => hits.some((h) => h.hit.file === f));
  const forcedBy = (f: string): string[] => [...new Set(hits.filter((h) => h.hit.file === f).flatMap((h) => h.hit.forced))];
  if (hits.length > 0) {
    out.push('');
    out.push(`✗ ID: the property is broken in the scenario of that defect (its simplest counterexample is kept).`);
    if (hits.some((h) => h.hit.forced.length > 0)) {
      out.push(c.yellow(`${FORCED_MARK} only under knobs that scenario forces on every variant (listed with it), which this variant's`));
      out.push(c.yellow(`  preset does not have: not a defect of the preset as released.`));
    }
    const iw = maxOf(files.map((f) => label(f).length), 0);
    for (const f of files) {
      const forced = forcedBy(f);
      out.push(`  ${c.bold(label(f).padEnd(iw))}  ${path(f)}${forced.length > 0 ? c.yellow(`  ${FORCED_MARK} forces ${forced.join(', ')}`) : ''}`);
      if (opts.footnotes !== 'cells') continue;
      for (const { v, p, hit } of hits.filter((h) => h.hit.file === f)) {
        const replay = opts.replayCommand !== undefined ? opts.replayCommand(hit.file, hit.cx.token) : hit.cx.token;
        out.push(`    ${v} ${p}${hit.forced.length > 0 ? FORCED_MARK : ''} (${plural(hit.cx.preemptions, 'preemption')}): ${replay}`);
      }
    }
    out.push(c.dim(opts.footnotes === 'cells'
      ? 'A cell in full: vfio-sim explore FILE --variant V --trace.'
      : 'A cell in full: vfio-sim explore FILE --variant V --trace; every cell\'s replay command: --footnotes.'));
  }
  if (r.defects.length > 0) {
    out.push('');
    out.push(c.bold('Defects: where the explorer finds each one (● found, · not found)'));
    const iw = maxOf(r.defects.map((d) => d.id.length), 6);
    out.push((''.padEnd(iw) + '  ' + r.variants.map((v) => v.padEnd(5)).join(' ')).trimEnd());
    for (const d of r.defects) {
      const cells = r.variants.map((v) => {
        const found = d.found.includes(v);
        const want = d.declared.includes(v);
        const mark = found ? '●' : '·';
        return found === want ? (found ? c.red(mark) : c.dim(mark)) : c.bold(c.yellow(`${mark}!`));
      });
      const forced = forcedBy(d.file);
      out.push(`${d.id.padEnd(iw)}  ${cells.map((x) => x + ' '.repeat(Math.max(0, 5 - visibleLength(x)))).join(' ')}  ${c.dim(d.property)}${forced.length > 0 ? c.dim(` (with ${forced.join(', ')})`) : ''}${d.ok ? '' : c.yellow('  differs from the scenario\'s declaration')}`);
    }
  }
  out.push('');
  out.push(r.complete ? 'Every search was complete within its bounds.' : c.yellow('Some searches stopped at their budget: their cells cover only what was explored.'));
  return out;
}

function visibleLength(s: string): number {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u001b\[[0-9;]*m/g, '').length;
}

/** The check as JSON: the table (each failing cell with its token) and the defects. */
export function checkToJson(r: CheckResult, exitCode: number): unknown {
  const table: Record<string, Record<string, unknown>> = {};
  for (const v of r.variants) {
    const row: Record<string, unknown> = {};
    for (const p of r.properties) {
      const hit = r.table.get(v)?.get(p);
      row[p] = hit === undefined ? null : { file: hit.file, token: hit.cx.token, message: hit.cx.message, preemptions: hit.cx.preemptions, steps: hit.cx.steps, forcedKnobs: hit.forced };
    }
    table[v] = row;
  }
  return { exitCode, ok: r.ok, complete: r.complete, interrupted: r.interrupted, planned: r.planned, variants: r.variants, table, defects: r.defects, cells: r.cells.map((c) => ({ file: c.file, variant: c.variant, executions: c.executions, complete: c.complete, note: c.note, broken: c.counterexamples?.map((x) => x.property) ?? null })) };
}
