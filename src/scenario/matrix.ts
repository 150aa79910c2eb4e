/**
 * One scenario under every variant preset: which variants make all its expectations hold.
 * A scenario that demonstrates a defect declares `defect: { id, present_in }`; the matrix
 * then says, per preset, whether the outcome matches (present exactly where declared).
 */
import { knobConflicts, type Knobs, VARIANTS } from '../kernel/variant/knobs.js';
import type { Scenario } from './load.js';
import { runScenario, type RunOptions, type RunResult } from './run.js';
import { ScenarioInputError } from './schedule.js';

/** The outcome under one preset. */
export interface MatrixRow {
  readonly variant: string;
  /** 'holds': every expectation met; 'fails': some expectation failed; 'n/a': the scenario's knob overrides conflict with this preset. */
  readonly verdict: 'holds' | 'fails' | 'n/a';
  /** A short description of what happened (deadlock, kernel BUG, 2 URs, 1 lockdep report, first failed expectation...). */
  readonly outcome: string;
  /** With a declared defect: whether this row matches the declaration (null for 'n/a' rows or without a declaration). */
  readonly asDeclared: boolean | null;
  /** The run itself (null for 'n/a'). */
  readonly run: RunResult | null;
}

export interface MatrixResult {
  readonly rows: readonly MatrixRow[];
  /** True when no row contradicts the scenario's `defect.present_in` (always true without a declaration). */
  readonly ok: boolean;
}

/** What a run shows, in a few words. */
export function outcomeSummary(r: RunResult): string {
  const parts: string[] = [];
  if (r.end.kind === 'deadlock') parts.push('deadlock');
  else if (r.end.kind === 'halted') parts.push('machine halted');
  else if (r.end.kind !== 'done') parts.push(r.end.kind);
  if (r.bugs.length > 0) parts.push('kernel BUG');
  if (r.platformErrors.length > 0) parts.push(`${r.platformErrors.length} UR${r.platformErrors.length === 1 ? '' : 's'}`);
  if (r.lockdep.length > 0) parts.push(`${r.lockdep.length} lockdep report${r.lockdep.length === 1 ? '' : 's'}`);
  if (r.warnings.length > 0) parts.push(`${r.warnings.length} warning${r.warnings.length === 1 ? '' : 's'}`);
  const failed = r.steps.find((s) => s.verdict === 'failed');
  if (failed !== undefined) parts.push(`${failed.thread} step ${failed.index}: ${failed.why ?? failed.result}`);
  else {
    const v = r.runVerdicts.find((x) => !x.met);
    if (v !== undefined) parts.push(`${v.what}: expected ${v.expected}, got ${v.actual}`);
  }
  return parts.length > 0 ? parts.join('; ') : 'clean run';
}

/** Why `overrides` cannot apply on top of preset `variant` (null: they can). */
export function knobConflictsFor(variant: string, overrides: Readonly<Record<string, unknown>>): string | null {
  const p = VARIANTS.find((x) => x.name === variant);
  if (p === undefined) return `unknown variant '${variant}'`;
  const conflicts = knobConflicts({ ...p.knobs, ...(overrides as Partial<Knobs>) } as Knobs);
  return conflicts.length > 0 ? `knob overrides conflict: ${conflicts.join('; ')}` : null;
}

/**
 * Run `s` under every preset (its knob overrides applied on top of each, as `--variant`
 * does), with the same schedule options. Presets the overrides conflict with are 'n/a'.
 */
export function runMatrix(s: Scenario, opts: Omit<RunOptions, 'variant' | 'replay'> = {}): MatrixResult {
  const rows: MatrixRow[] = [];
  const overrides = { ...s.variant.knobs, ...(opts.knobs ?? {}) };
  for (const p of VARIANTS) {
    const conflicts = knobConflictsFor(p.name, overrides);
    const declared = s.defect === null ? null : s.defect.presentIn.includes(p.name);
    if (conflicts !== null) {
      rows.push({ variant: p.name, verdict: 'n/a', outcome: conflicts, asDeclared: null, run: null });
      continue;
    }
    let run: RunResult;
    try {
      run = runScenario(s, { ...opts, variant: p.name, knobs: overrides });
    } catch (e) {
      if (e instanceof ScenarioInputError) {
        rows.push({ variant: p.name, verdict: 'n/a', outcome: e.message, asDeclared: null, run: null });
        continue;
      }
      throw e;
    }
    const holds = run.ok;
    rows.push({ variant: p.name, verdict: holds ? 'holds' : 'fails', outcome: outcomeSummary(run), asDeclared: declared === null ? null : declared === holds, run });
  }
  return { rows, ok: rows.every((r) => r.asDeclared !== false) };
}
