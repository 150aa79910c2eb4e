/**
 * Views of an exploration and of a suite check: the text summary, the variant ×
 * property table, and JSON (with each counterexample's event stream and a trace in the
 * Informal Trace Format of Apalache/Quint). Nothing here runs the model.
 */
import pc from 'picocolors';
import { PROPERTY_TEXT } from '../check/property.js';
import type { SimEvent } from '../events/event.js';
import { describe } from '../events/format.js';
import type { CheckResult } from './check-suite.js';
import type { CostProfile, ExploreResult } from './explore.js';
import { jsonSafe } from './report.js';
import type { RunResult } from './run.js';

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
  out.push(c.bold(`${r.scenario.name ?? r.scenario.file} — variant ${r.variant.base}, strategy ${s.strategy} (${bound})`));
  out.push(`${st.executions} execution${st.executions === 1 ? '' : 's'} (${st.distinctTraces} distinct traces, ${st.sleepBlocked} sleep-set blocked${st.pruned > 0 ? `, ${st.pruned} past the bound` : ''}), ${st.distinctOutcomes} distinct outcomes, longest ${st.maxDepth} steps, ${(st.elapsedMs / 1000).toFixed(1)} s (${rate(st.executions, st.elapsedMs)})`);
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
    out.push(`    simplest: ${cx.preemptions} preemption${cx.preemptions === 1 ? '' : 's'}, ${cx.steps} steps (execution ${cx.execution}); first found: execution ${cx.firstExecution}, ${secs(s.firstFoundMs[cx.property] ?? 0)} after the search started`);
    out.push(`    replay:   ${opts.replayCommand !== undefined ? opts.replayCommand(cx.token) : cx.token}`);
  }
  return out;
}

/** An ITF state per event: the thread that ran and what happened. */
function itf(run: RunResult, description: string): unknown {
  const big = (n: number): unknown => ({ '#bigint': String(n) });
  return {
    '#meta': { format: 'ITF', 'format-description': 'https://apalache-mc.org/docs/adr/015adr-trace.html', source: run.scenario.file, description },
    vars: ['seq', 'thread', 'kind', 'text'],
    states: run.events.map((e: SimEvent, i) => ({
      '#meta': { index: i },
      seq: big(e.seq),
      thread: run.threadOfTid.get(e.tid) ?? (e.tid === 0 ? '(kernel)' : `tid ${e.tid}`),
      kind: e.kind,
      text: describe(e),
    })),
  };
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

/** The check: the variant × property table (failing cells point at a numbered replay), then the defects. */
export function renderCheck(r: CheckResult, opts: { color?: boolean; replayCommand?: (file: string, token: string) => string } = {}): string[] {
  const c: Colors = pc.createColors(opts.color ?? false);
  const out: string[] = [];
  const props = r.properties.filter((p) => r.variants.some((v) => r.table.get(v)?.has(p) === true) || p in PROPERTY_TEXT);
  const vw = Math.max(7, ...r.variants.map((v) => v.length));
  const cw = props.map((p) => Math.max(5, p.length));
  const notes: string[] = [];
  out.push(c.bold('variant'.padEnd(vw)) + '  ' + props.map((p, i) => c.bold(p.padEnd(cw[i] ?? 5))).join('  '));
  for (const v of r.variants) {
    const row = r.table.get(v);
    const cells = props.map((p, i) => {
      const hit = row?.get(p);
      const w = cw[i] ?? 5;
      if (hit === undefined) return c.green('✓'.padEnd(w));
      notes.push(`[${notes.length + 1}] ${v} ${p} (${hit.file}, ${hit.cx.preemptions} preemptions): ${opts.replayCommand !== undefined ? opts.replayCommand(hit.file, hit.cx.token) : hit.cx.token}`);
      return c.red(`✗ [${notes.length}]`.padEnd(w));
    });
    out.push(v.padEnd(vw) + '  ' + cells.join('  '));
  }
  out.push('');
  out.push(...notes);
  if (r.defects.length > 0) {
    out.push('');
    out.push(c.bold('Defects: where the explorer finds each one (● found, · not found)'));
    const iw = Math.max(6, ...r.defects.map((d) => d.id.length));
    out.push(''.padEnd(iw) + '  ' + r.variants.map((v) => v.padEnd(5)).join(' '));
    for (const d of r.defects) {
      const cells = r.variants.map((v) => {
        const found = d.found.includes(v);
        const want = d.declared.includes(v);
        const mark = found ? '●' : '·';
        return (found === want ? (found ? c.red(mark) : c.dim(mark)) : c.bold(c.yellow(`${mark}!`))).padEnd(5 + (found === want ? 0 : 0));
      });
      out.push(`${d.id.padEnd(iw)}  ${cells.map((x) => x + ' '.repeat(Math.max(0, 5 - visibleLength(x)))).join(' ')}  ${c.dim(d.property)}${d.ok ? '' : c.yellow('  differs from the scenario\'s declaration')}`);
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
      row[p] = hit === undefined ? null : { file: hit.file, token: hit.cx.token, message: hit.cx.message, preemptions: hit.cx.preemptions, steps: hit.cx.steps };
    }
    table[v] = row;
  }
  return { exitCode, ok: r.ok, complete: r.complete, interrupted: r.interrupted, planned: r.planned, variants: r.variants, table, defects: r.defects, cells: r.cells.map((c) => ({ file: c.file, variant: c.variant, executions: c.executions, complete: c.complete, note: c.note, broken: c.counterexamples?.map((x) => x.property) ?? null })) };
}
