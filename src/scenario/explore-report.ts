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
import type { ExploreResult } from './explore.js';
import { jsonSafe } from './report.js';
import type { RunResult } from './run.js';
import { maxOf, pushAll } from '../util/array.js';
import { escapeControls } from './source.js';

type Colors = ReturnType<typeof pc.createColors>;

function rate(n: number, ms: number): string {
  const r = ms > 0 ? (n * 1000) / ms : 0;
  return r >= 1000 ? `${(r / 1000).toFixed(1)} k/s` : `${r.toFixed(0)}/s`;
}

/** The summary of an exploration: bounds, coverage, and one block per broken property. */
export function renderExplore(r: ExploreResult, opts: { color?: boolean; replayCommand?: (t: string) => string } = {}): string[] {
  const c: Colors = pc.createColors(opts.color ?? false);
  const s = r.search;
  const st = s.stats;
  const out: string[] = [];
  const bound = s.preemptionBound === null ? 'no preemption bound' : `at most ${s.preemptionBound} preemption${s.preemptionBound === 1 ? '' : 's'}`;
  out.push(c.bold(`${escapeControls(r.scenario.name ?? r.scenario.file)} — variant ${r.variant.base}, strategy ${s.strategy} (${bound})`));
  out.push(`${st.executions} executions (${st.distinctTraces} distinct traces, ${st.sleepBlocked} sleep-set blocked${st.pruned > 0 ? `, ${st.pruned} past the bound` : ''}), ${st.distinctOutcomes} distinct outcomes, longest ${st.maxDepth} steps, ${(st.elapsedMs / 1000).toFixed(1)} s (${rate(st.executions, st.elapsedMs)})`);
  const how = s.complete
    ? `the search is complete: every interleaving with ${bound} was covered`
    : `the search stopped early (${s.stoppedBy}): what was not covered is unknown`;
  if (s.counterexamples.length === 0) {
    out.push(s.complete ? c.green(`✓ no property is broken; ${how}`) : c.yellow(`no property broken in what was covered; ${how}`));
    return out;
  }
  out.push(c.red(`✗ ${s.counterexamples.length} propert${s.counterexamples.length === 1 ? 'y is' : 'ies are'} broken (${how})`));
  for (const { cx } of r.counterexamples) {
    out.push('');
    out.push(`  ${c.bold(c.red(cx.property))}: ${cx.message}`);
    out.push(c.dim(`    ${PROPERTY_TEXT[cx.property as keyof typeof PROPERTY_TEXT] ?? 'a property of the scenario'}`));
    out.push(`    simplest: ${cx.preemptions} preemption${cx.preemptions === 1 ? '' : 's'}, ${cx.steps} steps (execution ${cx.execution})`);
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
    counterexamples: r.counterexamples.map(({ cx, run }) => ({
      ...cx,
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
  const vw = maxOf(r.variants.map((v) => v.length), 7);
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
  pushAll(out, notes);
  if (r.defects.length > 0) {
    out.push('');
    out.push(c.bold('Defects: where the explorer finds each one (● found, · not found)'));
    const iw = maxOf(r.defects.map((d) => d.id.length), 6);
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
