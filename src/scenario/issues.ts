/**
 * zod issues → `file:line:col: message` errors that say what was expected and what was
 * found. One mistake gives one error: for a union, the branch that matched best is
 * reported, not every branch.
 */
import type * as z from 'zod';
import type { DataPath, ScenarioError, YamlSource } from './source.js';
import { suggest } from './values.js';

type Issue = z.core.$ZodIssue;

/** The value at `path` in plain data (undefined if absent). */
export function valueAt(data: unknown, path: DataPath): unknown {
  let v: unknown = data;
  for (const seg of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

/** A short description of a value for "got ..." */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'nothing (null)';
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return 'a list';
  return 'a mapping';
}

const isCustom = (m: string): boolean => m.startsWith('expected') || m.startsWith('unknown') || m.includes(' needs ') || m.startsWith('a ');

/** Whether a "missing field" issue is explained by a misspelt key next to it (`sise` for `size`). */
function misspelt(iss: Issue, issues: readonly Issue[], src: YamlSource, base: DataPath): boolean {
  if ((iss.code !== 'invalid_type' && iss.code !== 'invalid_union') || iss.path.length === 0) return false;
  const key = iss.path[iss.path.length - 1];
  if (typeof key !== 'string' || src.has([...base, ...iss.path.map((p) => (typeof p === 'number' ? p : String(p)))])) return false;
  const parent = JSON.stringify(iss.path.slice(0, -1));
  return issues.some((o) => o.code === 'unrecognized_keys' && JSON.stringify(o.path) === parent && o.keys.some((k) => suggest(String(k), [key]) !== ''));
}

/** Errors for the issues of a safeParse at `base`. */
export function issuesToErrors(src: YamlSource, base: DataPath, issues: readonly Issue[]): ScenarioError[] {
  const out: ScenarioError[] = [];
  const seen = new Set<string>();
  for (const iss of issues) {
    if (misspelt(iss, issues, src, base)) continue;
    const e = issueToError(src, base, iss);
    const key = `${e.line}:${e.col}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(e);
  }
  return out;
}

/**
 * How well a union branch matched: a wrong type at the root is worst, a right type with
 * a wrong value (an enum, a pattern) next, then fewer issues deeper inside.
 */
function branchScore(issues: readonly Issue[]): number {
  if (issues.length === 0) return 0;
  const atRoot = issues.filter((i) => i.path.length === 0 && i.code !== 'unrecognized_keys' && i.code !== 'custom');
  const wrongType = atRoot.some((i) => i.code === 'invalid_type' || i.code === 'invalid_union');
  return (wrongType ? 2000 : atRoot.length > 0 ? 1000 : 0) + issues.length;
}

function issueToError(src: YamlSource, base: DataPath, iss: Issue): ScenarioError {
  const path: (string | number)[] = [...base, ...iss.path.map((p) => (typeof p === 'number' ? p : String(p)))];
  const got = valueAt(src.data, path);
  const last = path[path.length - 1];
  switch (iss.code) {
    case 'unrecognized_keys': {
      const k = iss.keys[0] ?? '';
      return src.errorAt([...path, String(k)], isCustom(iss.message) ? iss.message : `unknown field '${k}'`, 'key');
    }
    case 'invalid_type': {
      const expected = isCustom(iss.message) ? iss.message : `expected ${iss.expected}`;
      if (!src.has(path) && typeof last === 'string') return src.errorAt(path, `missing field '${last}' (${expected})`);
      return src.errorAt(path, `${expected}; got ${describeValue(got)}`);
    }
    case 'invalid_union': {
      const u = iss as typeof iss & { note?: string; discriminator?: string; options?: unknown[] };
      if (u.note === 'No matching discriminator') {
        const disc = u.discriminator ?? 'value';
        let opts = (u.options ?? []).map(String);
        let note = '';
        // short spellings (SET_IRQS for VFIO_DEVICE_SET_IRQS) are listed once, by their full name
        const full = opts.filter((o) => !opts.some((p) => p !== o && p.endsWith(`_${o}`)));
        if (full.length < opts.length) {
          opts = full.map((o) => o.replace(/^VFIO_/, ''));
          note = '; the VFIO_ prefix and the DEVICE_/GROUP_/IOMMU_ part are optional';
        }
        // the reported path already ends at the discriminator
        const at = last === disc ? path : [...path, disc];
        const v = valueAt(src.data, at);
        if (v === undefined) return src.errorAt(path, `missing field '${disc}' (expected one of: ${opts.join(', ')}${note})`);
        const all = (u.options ?? []).map(String);
        return src.errorAt(at, `unknown ${disc} ${describeValue(v)}${typeof v === 'string' ? suggest(v, all) : ''} (expected one of: ${opts.join(', ')}${note})`);
      }
      const branches = iss.errors;
      let best: readonly Issue[] | null = null;
      let bestScore = Infinity;
      for (const b of branches) {
        const s = branchScore(b);
        if (s < bestScore) {
          bestScore = s;
          best = b;
        }
      }
      // several branches equally close (1 | 2 | 4 | 8 given 3): the union's own message says it best
      const tied = branches.filter((b) => branchScore(b) === bestScore).length > 1 && bestScore >= 1000 && isCustom(iss.message);
      if (best !== null && best.length > 0 && bestScore < 2000 && !tied) {
        const first = best[0];
        if (first !== undefined) return issueToError(src, path, first);
      }
      const expected = isCustom(iss.message) ? iss.message : 'expected a different kind of value';
      if (got === undefined && !src.has(path) && typeof last === 'string') return src.errorAt(path, `missing field '${last}' (${expected})`);
      return src.errorAt(path, `${expected}; got ${describeValue(got)}`);
    }
    case 'invalid_value': {
      const opts = iss.values.map((v) => String(v));
      if (isCustom(iss.message)) return src.errorAt(path, `${iss.message}; got ${describeValue(got)}${typeof got === 'string' ? suggest(got, opts) : ''}`);
      return src.errorAt(path, `expected one of: ${opts.join(', ')}; got ${describeValue(got)}${typeof got === 'string' ? suggest(got, opts) : ''}`);
    }
    case 'too_small':
      if (isCustom(iss.message)) return src.errorAt(path, iss.message);
      return src.errorAt(path, iss.origin === 'array' ? `expected at least ${String(iss.minimum)} item(s)` : `expected at least ${String(iss.minimum)}; got ${describeValue(got)}`);
    case 'too_big':
      if (isCustom(iss.message)) return src.errorAt(path, iss.message);
      return src.errorAt(path, iss.origin === 'array' ? `expected at most ${String(iss.maximum)} item(s)` : `expected at most ${String(iss.maximum)}; got ${describeValue(got)}`);
    case 'invalid_format':
      return src.errorAt(path, isCustom(iss.message) ? `${iss.message}; got ${describeValue(got)}` : `expected ${iss.format}; got ${describeValue(got)}`);
    default:
      return src.errorAt(path, isCustom(iss.message) ? `${iss.message}${got !== undefined && !iss.message.includes('got') ? `; got ${describeValue(got)}` : ''}` : iss.message);
  }
}
