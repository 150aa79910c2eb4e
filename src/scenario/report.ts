/**
 * Views of a scenario run: the per-thread trace (one column per thread, one row per
 * step or event, in the order things happened), the summary, and a JSON form for other
 * tools. Nothing here runs the model.
 */
import pc from 'picocolors';
import type { SimEvent } from '../events/event.js';
import { describe } from '../events/format.js';
import { errnoName } from '../kernel/errno.js';
import { plural } from '../util/plural.js';
import type { Outcome } from './context.js';
import { hex } from './op-def.js';
import type { RunResult, StepResult } from './run.js';
import type { Scenario } from './load.js';
import type { MatrixResult } from './matrix.js';
import { maxOf, minOf } from '../util/array.js';
import { escapeControls } from './source.js';

type Colors = ReturnType<typeof pc.createColors>;

export interface TextOptions {
  /** Total width of the trace (default 120). */
  readonly width?: number;
  /** ANSI colors (default off; the CLI turns them on for terminals, honouring NO_COLOR). */
  readonly color?: boolean;
  /** Trace rows: steps only, steps and key kernel events (default), or every event. */
  readonly detail?: 'steps' | 'key' | 'all';
  /** How to show the command that replays the run (default: `--replay TOKEN`). */
  readonly replayCommand?: (token: string) => string;
  /**
   * The expectations are secondary (the replay of an explorer's finding: they were
   * written for the scenario's own schedule): a mismatch is marked '≠ unmet', not '✗ FAILED'.
   */
  readonly expectationsSecondary?: boolean;
}

/** Kernel and hardware events shown in the default trace. */
const KEY_EVENTS = new Set([
  'fault', 'lock.contended', 'lock.trylock-failed', 'vfio.zap', 'vfio.blocked', 'signal', 'platform.error', 'bug', 'warn', 'printk',
  'machine.halt', 'note', 'iommu.fault', 'reset', 'fork',
]);

function isKey(ev: SimEvent): boolean {
  if ((ev.kind as string).startsWith('lockdep')) return true;
  // faults on ordinary memory (scratch buffers) are noise; device faults and failing ones are not
  if (ev.kind === 'fault') return ev.fn !== 'handle_mm_fault' || /SIGBUS|SIGSEGV/.test(ev.result);
  if (ev.kind === 'reset') return ev.phase === 'start';
  if (ev.kind === 'dma') return ev.result !== 'ok';
  return KEY_EVENTS.has(ev.kind);
}

/** One line for an event (also for kinds this module does not know, e.g. newer lockdep events); a path from the scenario is escaped. */
function eventText(ev: SimEvent): string {
  const d = describe(ev) as string | undefined;
  if (typeof d === 'string') return escapeControls(d);
  const r = ev as unknown as Record<string, unknown>;
  const first = ['title', 'summary', 'message', 'text'].map((k) => r[k]).find((v): v is string => typeof v === 'string');
  return escapeControls(`${ev.kind}: ${(first ?? '').split('\n')[0] ?? ''}`);
}

/** The full text of a lockdep report event (the kernel's layout), or its one-line form. */
function lockdepText(ev: SimEvent): string {
  const t = (ev as unknown as Record<string, unknown>)['text'];
  return typeof t === 'string' ? t : eventText(ev);
}

/** Split a cell's text into lines of at most `w` characters (continuations indented), at most `max` lines. */
function wrap(s: string, w: number, max = 3): string[] {
  const lines: string[] = [];
  let rest = s;
  const indent = (/^\s*/.exec(s)?.[0] ?? '') + '    ';
  while (rest.length > 0 && lines.length < max) {
    const room = lines.length === 0 ? w : w - indent.length;
    if (rest.length <= room) {
      lines.push(lines.length === 0 ? rest : indent + rest);
      rest = '';
      break;
    }
    let cut = rest.lastIndexOf(' ', room);
    if (cut <= room / 2) cut = room;
    const head = rest.slice(0, cut);
    lines.push(lines.length === 0 ? head : indent + head);
    rest = rest.slice(cut).trimStart();
  }
  if (rest.length > 0) {
    const last = lines.pop() ?? '';
    lines.push(fit(last, w - 1).trimEnd() + '…');
  }
  return lines;
}

function fit(s: string, w: number): string {
  if (s.length <= w) return s + ' '.repeat(w - s.length);
  return `${s.slice(0, Math.max(0, w - 1))}…`;
}

/** The trace: a header row of thread names, then one row per step start/end or event. */
export function renderTrace(r: RunResult, opts: TextOptions = {}): string[] {
  const c: Colors = pc.createColors(opts.color ?? false);
  const detail = opts.detail ?? 'key';
  const width = Math.max(40, opts.width ?? 120);
  const firstSeq = r.events.find((e) => e.kind === 'scenario.step')?.seq ?? Infinity;
  type Row = { col: string; text: string; style: (s: string) => string };
  const rows: Row[] = [];
  const stepByEnd = new Map<number, StepResult>();
  for (const s of r.steps) if (s.endSeq !== 0) stepByEnd.set(s.endSeq, s);
  const setupThreads = new Set(r.steps.filter((s) => s.phase === 'setup').map((s) => s.thread));
  const colName = (thread: string): string => (setupThreads.has(thread) ? `${thread} (setup)` : thread);
  // the setup phase (one process at a time) and the concurrent phase are drawn as two tables
  const threadStarts = r.steps.filter((s) => s.phase === 'thread' && s.startSeq !== 0).map((s) => s.startSeq);
  const boundary = threadStarts.length > 0 ? minOf(threadStarts) : Infinity;
  let split = -1;
  for (const ev of r.events) {
    if (ev.seq < firstSeq) continue;
    if (split < 0 && ev.seq >= boundary) split = rows.length;
    const thread = r.threadOfTid.get(ev.tid);
    const col = thread === undefined ? '(kernel)' : colName(ev.kind === 'scenario.step' ? ev.thread : thread);
    let row: { text: string; style: (s: string) => string } | null = null;
    if (ev.kind === 'scenario.step') {
      if (ev.phase === 'start') row = { text: `${ev.step} ${ev.text}`, style: c.bold };
      else {
        const st = stepByEnd.get(ev.seq);
        const mark = ev.verdict === 'met' ? ' ✓' : ev.verdict === 'failed' ? ' ✗' : '';
        const bad = st !== undefined && st.status !== 'ok';
        row = { text: `  → ${ev.text}${mark}`, style: ev.verdict === 'failed' ? c.red : ev.verdict === 'met' ? c.green : bad ? c.yellow : (s) => s };
      }
    } else if (detail === 'all' || (detail === 'key' && isKey(ev))) {
      const severe = ev.kind === 'platform.error' || ev.kind === 'bug' || ev.kind === 'machine.halt' || (ev.kind as string).startsWith('lockdep');
      row = { text: `  · ${eventText(ev)}`, style: severe ? (s) => c.bold(c.red(s)) : ev.kind === 'signal' || ev.kind === 'warn' ? c.yellow : c.dim };
    }
    if (row !== null) rows.push({ col, ...row });
  }
  // steps that never finished: show where each thread stopped
  for (const s of r.steps) {
    if (s.startSeq !== 0 && s.endSeq === 0) rows.push({ col: colName(s.thread), text: `  ⨯ ${s.result}`, style: (x) => c.bold(c.red(x)) });
  }
  const parts = split < 0 ? [rows] : [rows.slice(0, split), rows.slice(split)];
  const out: string[] = [];
  for (const part of parts) {
    const cols: string[] = [];
    for (const row of part) if (!cols.includes(row.col)) cols.push(row.col);
    if (cols.length === 0) continue;
    if (out.length > 0) out.push('');
    const w = Math.max(20, Math.floor(width / cols.length));
    const last = cols.length - 1;
    out.push(cols.map((n, j) => c.bold(c.cyan(j === last ? n : fit(n, w - 2)))).join('  '));
    out.push(cols.map(() => c.dim('─'.repeat(w - 2))).join('  '));
    for (const row of part) {
      const i = cols.indexOf(row.col);
      for (const line of wrap(row.text, w - 2)) {
        // cells after the row's own are empty: leave them (and the padding of its own) out
        const cells = cols.slice(0, i + 1).map((_, j) => (j === i ? row.style(j === last ? line : fit(line, w - 2).trimEnd()) : ' '.repeat(w - 2)));
        out.push(cells.join('  '));
      }
    }
  }
  return out;
}

/** The summary: every step's outcome and verdict, then the run's end, BUGs, platform errors, lockdep, the token. */
export function renderSummary(r: RunResult, opts: TextOptions = {}): string[] {
  const c: Colors = pc.createColors(opts.color ?? false);
  const out: string[] = [];
  out.push(c.bold('Summary'));
  const tw = maxOf(r.steps.map((s) => s.thread.length + (s.phase === 'setup' ? 8 : 0)), 6);
  const ow = Math.min(44, maxOf(r.steps.map((s) => s.text.length), 9));
  const secondary = opts.expectationsSecondary === true;
  for (const s of r.steps) {
    const mark = s.verdict === 'met' ? c.green('✓ met   ') : s.verdict === 'failed' ? (secondary ? c.yellow('≠ unmet ') : c.red('✗ FAILED')) : c.dim('·       ');
    const who = `${s.thread}${s.phase === 'setup' ? ' (setup)' : ''}`;
    const result = s.status === 'ok' ? s.result : c.yellow(s.result);
    out.push(`  ${mark} ${fit(who, tw)} ${String(s.index).padStart(2)}  ${fit(s.text, ow)}  ${result}${s.why !== null ? c.red(` — ${s.why}`) : ''}`);
  }
  out.push('');
  switch (r.end.kind) {
    case 'done':
      out.push(`  run: ${r.bugs.length === 0 ? c.green('every thread finished') : c.red(`every thread finished or died (${r.bugs.length} killed by a kernel BUG)`)}`);
      break;
    case 'deadlock':
      out.push(`  run: ${c.bold(c.red('DEADLOCK'))} — no runnable thread, ${r.end.edges.length} blocked`);
      for (const line of r.end.cycle) out.push(`    ${line}`);
      break;
    case 'halted':
      out.push(`  run: ${c.bold(c.red('MACHINE HALTED'))} — ${r.end.reason ?? ''}`);
      break;
    case 'step-limit':
      out.push(`  run: ${c.red('step limit reached')} (${plural(r.schedulerSteps, 'scheduler step')})`);
      break;
  }
  out.push(`  kernel BUGs: ${r.bugs.length === 0 ? 'none' : c.red(String(r.bugs.length))}`);
  for (const b of r.bugs) out.push(`    ${b.label}: kernel BUG in ${b.fn}: ${b.message}`);
  out.push(`  platform errors (Unsupported Requests): ${r.platformErrors.length === 0 ? '0' : c.red(String(r.platformErrors.length))}`);
  for (const e of r.platformErrors.slice(0, 5)) out.push(`    ${describe(e)}`);
  if (r.warnings.length > 0) {
    out.push(`  kernel warnings: ${c.yellow(String(r.warnings.length))}`);
    for (const e of r.warnings.slice(0, 5)) out.push(`    ${describe(e)}`);
  }
  out.push(`  lockdep: ${r.lockdep.length === 0 ? 'no reports' : c.red(`${r.lockdep.length} report(s)`)}`);
  for (const e of r.lockdep) for (const line of lockdepText(e).split('\n')) out.push(`    ${line}`);
  for (const w of r.scheduleWarnings) out.push(`  ${c.yellow(`schedule: ${w}`)}`);
  for (const w of r.variantWarnings) out.push(`  ${c.yellow(`variant: ${w}`)}`);
  const failedRun = r.runVerdicts.filter((v) => !v.met);
  if (secondary) {
    out.push(`  expectations (written for the scenario's own schedule, not this interleaving): ${r.expectations.met} met, ${r.expectations.failed} unmet`);
    for (const v of failedRun) out.push(`    ${c.yellow(`≠ ${v.what}: expected ${v.expected}, got ${v.actual}`)}`);
  } else {
    out.push(`  expectations: ${c.green(`${r.expectations.met} met`)}, ${r.expectations.failed > 0 ? c.red(`${r.expectations.failed} failed`) : '0 failed'}`);
    for (const v of failedRun) out.push(`    ${c.red(`✗ ${v.what}: expected ${v.expected}, got ${v.actual}`)}`);
  }
  out.push(`  variant: ${r.variant.base}${Object.keys(r.variant.knobs).length > 0 ? ` + ${Object.entries(r.variant.knobs).map(([k, v]) => `${k}=${String(v)}`).join(', ')}` : ''}; schedule: ${r.schedule.description}; ${plural(r.choices.length, 'choice')}, ${plural(r.schedulerSteps, 'scheduler step')}`);
  out.push(`  replay: ${opts.replayCommand !== undefined ? opts.replayCommand(r.token) : `--replay ${r.token}`}`);
  return out;
}

/** The header line of a run. */
export function renderHeader(r: RunResult, opts: TextOptions = {}): string {
  const c: Colors = pc.createColors(opts.color ?? false);
  return c.bold(`${escapeControls(r.scenario.name ?? r.scenario.file)} — variant ${r.variant.base}, schedule ${r.schedule.description}`);
}

// ---- JSON -------------------------------------------------------------------------------------

/** A JSON-safe copy (bigints as hex strings, byte arrays as hex). */
export function jsonSafe(v: unknown): unknown {
  if (typeof v === 'bigint') return hex(v);
  if (v instanceof Uint8Array) return [...v].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (typeof v === 'object' && v !== null) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) o[k] = jsonSafe(x);
    return o;
  }
  return v;
}

function outcomeJson(o: Outcome | null): unknown {
  if (o === null) return null;
  return jsonSafe({
    ret: o.ret,
    value: o.value,
    errno: o.errno === undefined ? undefined : errnoName(o.errno),
    signal: o.signal,
    fields: o.fields,
    data: o.data,
    failure: o.failure,
    where: o.where,
  });
}

/** The run as plain JSON data: verdicts, outcomes, the end, and the whole event stream. */
export function runToJson(r: RunResult, exitCode: number): unknown {
  return {
    scenario: r.scenario,
    variant: { base: r.variant.base, knobs: r.variant.knobs, effective: r.variant.effective },
    schedule: r.schedule,
    ok: r.ok,
    exitCode,
    end: r.end,
    steps: r.steps.map((s) => ({
      thread: s.thread,
      process: s.process,
      phase: s.phase,
      index: s.index,
      line: s.line,
      op: s.text,
      status: s.status,
      result: s.result,
      outcome: outcomeJson(s.outcome),
      expect: s.expect === null ? null : jsonSafe(s.expect),
      verdict: s.verdict,
      why: s.why,
    })),
    runVerdicts: r.runVerdicts,
    expectations: r.expectations,
    bugs: r.bugs,
    platformErrors: r.platformErrors.length,
    warnings: jsonSafe(r.warnings),
    lockdep: jsonSafe(r.lockdep),
    scheduleWarnings: r.scheduleWarnings,
    variantWarnings: r.variantWarnings,
    threads: r.threads,
    choices: r.choices.length,
    schedulerSteps: r.schedulerSteps,
    token: r.token,
    events: jsonSafe(r.events),
  };
}

/** The `run --all-variants` table: one row per preset, marked against the scenario's `defect` declaration. */
export function renderMatrix(s: Scenario, m: MatrixResult, opts: Pick<TextOptions, 'color'> = {}): string[] {
  const c: Colors = pc.createColors(opts.color ?? false);
  const out: string[] = [];
  const title = escapeControls(s.name ?? s.file);
  out.push(c.bold(`${title} — every variant${s.defect !== null ? ` (defect ${s.defect.id}, declared present in: ${s.defect.presentIn.join(', ') || 'none'})` : ''}`));
  out.push('');
  const w = maxOf(m.rows.map((r) => r.variant.length), 7);
  out.push(`  ${'variant'.padEnd(w)}  ${'expectations'.padEnd(12)}  ${s.defect !== null ? 'defect   ' : ''}outcome`);
  for (const r of m.rows) {
    const verdict = r.verdict === 'holds' ? c.green('hold'.padEnd(12)) : r.verdict === 'fails' ? c.yellow('fail'.padEnd(12)) : c.dim('n/a'.padEnd(12));
    let defect = '';
    if (s.defect !== null) {
      const word = r.verdict === 'n/a' ? 'n/a' : r.verdict === 'holds' ? 'present' : 'absent';
      const mark = r.asDeclared === null ? ' ' : r.asDeclared ? c.green('✓') : c.red('✗');
      defect = `${word.padEnd(7)} ${mark} `;
    }
    out.push(`  ${r.variant.padEnd(w)}  ${verdict}  ${defect}${r.verdict === 'n/a' ? c.dim(r.outcome) : r.outcome}`);
  }
  out.push('');
  if (s.defect !== null) {
    const bad = m.rows.filter((r) => r.asDeclared === false).map((r) => r.variant);
    out.push(bad.length === 0 ? c.green(`as declared: ${s.defect.id} is present exactly in ${s.defect.presentIn.join(', ') || 'no variant'}`) : c.red(`not as declared in: ${bad.join(', ')}`));
  }
  return out;
}

/** The `run --all-variants --json` document. */
export function matrixToJson(s: Scenario, m: MatrixResult): unknown {
  return {
    scenario: { file: s.file, name: s.name, hash: s.hash },
    defect: s.defect,
    ok: m.ok,
    exitCode: m.ok ? 0 : 1,
    rows: m.rows.map((r) => ({
      variant: r.variant,
      verdict: r.verdict,
      asDeclared: r.asDeclared,
      outcome: r.outcome,
      token: r.run?.token ?? null,
      expectations: r.run?.expectations ?? null,
    })),
  };
}
