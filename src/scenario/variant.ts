/**
 * The scenario's design variant: a preset name (`variant: '5.8'`) or a preset plus knob
 * overrides (`variant: { base: '5.8', knobs: { rwLocking: none } }`). Presets come from
 * src/kernel/variant/knobs.ts (VARIANTS / findVariant), so new presets appear here
 * automatically.
 */
import * as z from 'zod';
import * as knobsModule from '../kernel/variant/knobs.js';
import { findVariant, knobConflicts, type Knobs, VARIANTS } from '../kernel/variant/knobs.js';
import { obj, suggest } from './values.js';

export type KnobValue = string | boolean | number;

/** A variant as chosen: a preset and knob overrides on top of it. */
export interface VariantChoice {
  readonly base: string;
  readonly knobs: Readonly<Record<string, KnobValue>>;
}

export const DEFAULT_VARIANT = '5.8';

export const variantSchema = z.union([
  z.string(),
  obj({
    base: z.string({ error: 'expected a variant name (quote versions: \'5.10\')' }).optional(),
    knobs: z.record(z.string(), z.union([z.string(), z.boolean(), z.number()], { error: 'expected a knob value: a string, true/false or a number' })).optional(),
  }, 'variant'),
], { error: "expected a variant: a preset name ('5.8') or a mapping {base, knobs}" });

/**
 * The values a knob may take: `strict` when the knob module exports its own table
 * (`KNOB_VALUES: Record<knob, readonly values[]>`); otherwise every value some preset
 * uses (other values of the same type are allowed, with a warning).
 */
export function knobDomain(name: string): { readonly values: readonly KnobValue[]; readonly strict: boolean } {
  const table = (knobsModule as Record<string, unknown>)['KNOB_VALUES'];
  if (typeof table === 'object' && table !== null) {
    const vals = (table as Record<string, unknown>)[name];
    if (Array.isArray(vals)) return { values: vals as KnobValue[], strict: true };
  }
  const seen: KnobValue[] = [];
  for (const v of VARIANTS) {
    const x = (v.knobs as unknown as Record<string, unknown>)[name];
    if ((typeof x === 'string' || typeof x === 'boolean' || typeof x === 'number') && !seen.includes(x)) seen.push(x);
  }
  if (seen.length > 0 && typeof seen[0] === 'boolean') return { values: [false, true], strict: true };
  return { values: seen, strict: false };
}

/** Knob values no preset uses (allowed when the knob module has no value table, but worth a warning). */
export function variantWarnings(c: VariantChoice): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(c.knobs)) {
    const dom = knobDomain(k);
    if (!dom.strict && dom.values.length > 0 && !dom.values.includes(v)) out.push(`knob ${k} = ${JSON.stringify(v)} is used by no preset (presets use: ${dom.values.map(String).join(', ')})`);
  }
  return out;
}

/** Names of the knobs of a preset. */
export function knobNames(base: string): string[] {
  const p = findVariant(base) ?? findVariant(DEFAULT_VARIANT);
  return p === undefined ? [] : Object.keys(p.knobs);
}

export function variantNames(): string[] {
  return VARIANTS.map((v) => v.name);
}

/** Problems with a choice: an unknown preset, unknown knobs, values outside a knob's domain. */
export function checkVariant(c: VariantChoice): { knob: string | null; message: string }[] {
  const errs: { knob: string | null; message: string }[] = [];
  const p = findVariant(c.base);
  if (p === undefined) {
    errs.push({ knob: null, message: `unknown variant '${c.base}'${suggest(c.base, variantNames())} (known: ${variantNames().join(', ')})` });
    return errs;
  }
  const names = Object.keys(p.knobs);
  for (const [k, v] of Object.entries(c.knobs)) {
    if (!names.includes(k)) {
      errs.push({ knob: k, message: `unknown knob '${k}'${suggest(k, names)} (knobs: ${names.join(', ')})` });
      continue;
    }
    const dom = knobDomain(k);
    const want = typeof (p.knobs as unknown as Record<string, unknown>)[k];
    if (typeof v !== want) errs.push({ knob: k, message: `knob ${k} expects ${want === 'boolean' ? 'true or false' : `a ${want}${dom.values.length > 0 ? ` (e.g. ${dom.values.map(String).join(', ')})` : ''}`}; got ${JSON.stringify(v)}` });
    else if (dom.strict && !dom.values.includes(v)) errs.push({ knob: k, message: `knob ${k} cannot be ${JSON.stringify(v)} (expected one of: ${dom.values.map(String).join(', ')})` });
  }
  if (errs.length === 0) {
    for (const m of knobConflicts({ ...p.knobs, ...(c.knobs as Partial<Knobs>) } as Knobs)) errs.push({ knob: null, message: `variant ${c.base} with these knobs is inconsistent: ${m}` });
  }
  return errs;
}

/** The knobs of a (checked) choice. */
export function resolveKnobs(c: VariantChoice): Knobs {
  const p = findVariant(c.base);
  if (p === undefined) throw new RangeError(`unknown variant '${c.base}'`);
  return { ...p.knobs, ...(c.knobs as Partial<Knobs>) } as Knobs;
}

/** Parse `name=value` (CLI --knob): booleans and numbers as such, anything else a string. */
export function parseKnobAssignment(s: string): { key: string; value: KnobValue } | null {
  const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(s);
  if (m === null) return null;
  const raw = m[2] ?? '';
  const value: KnobValue = raw === 'true' ? true : raw === 'false' ? false : /^-?\d+$/.test(raw) ? Number(raw) : raw;
  return { key: m[1] ?? '', value };
}
