/** `vfio-sim variants`: the presets in history order, each with the knobs it changed. */
import picocolors from 'picocolors';
import { KNOB_VALUES, type Knobs, VARIANTS } from '../kernel/variant/knobs.js';
import { maxOf } from '../util/array.js';

const KNOB_NAMES = Object.keys(KNOB_VALUES) as (keyof Knobs)[];

/** The lines `vfio-sim variants` prints; `table`: every knob of every variant in one grid. */
export function renderVariants(table: boolean, color: boolean): string[] {
  const c = picocolors.createColors(color);
  const out: string[] = [];
  if (table) {
    const w = maxOf(KNOB_NAMES.map((k) => k.length), 0);
    const cols = VARIANTS.map((v) => maxOf(KNOB_NAMES.map((k) => short(v.knobs[k]).length), v.name.length));
    out.push(`${''.padEnd(w)}  ${VARIANTS.map((v, i) => c.bold(v.name.padEnd(cols[i] ?? 0))).join('  ')}`);
    for (const k of KNOB_NAMES) {
      let prev: string | null = null;
      const cells = VARIANTS.map((v, i) => {
        const val = short(v.knobs[k]);
        const cell = val.padEnd(cols[i] ?? 0);
        const changed = prev !== null && val !== prev;
        prev = val;
        return changed ? c.yellow(cell) : cell;
      });
      out.push(`${k.padEnd(w)}  ${cells.join('  ')}`);
    }
    out.push('');
    out.push('Values: ' + KNOB_NAMES.map((k) => `${k} ${KNOB_VALUES[k].map(String).join('|')}`).join('; '));
    return out;
  }
  for (const v of VARIANTS) {
    out.push(`${c.bold(v.name.padEnd(6))} ${v.title}`);
    out.push(`       ${v.description}`);
    const base = v.from === null ? undefined : VARIANTS.find((x) => x.name === v.from);
    if (base === undefined) {
      for (const k of KNOB_NAMES) out.push(c.dim(`         ${k} = ${String(v.knobs[k])}`));
    } else {
      out.push(c.dim(`       changes from ${base.name}:`));
      for (const k of KNOB_NAMES.filter((x) => v.knobs[x] !== base.knobs[x])) {
        out.push(`         ${k} = ${c.green(String(v.knobs[k]))} ${c.dim(`(was ${String(base.knobs[k])})`)}`);
      }
    }
    out.push('');
  }
  out.push("Compose a variant in a scenario with variant: { base: '5.8', knobs: { ... } }, on the command line with");
  out.push("--variant V --knob NAME=VALUE, or in code with new System({ variant: { ...VARIANT_5_8.knobs, ... } }).");
  out.push("'vfio-sim variants --knobs' shows every knob of every variant.");
  return out;
}

function short(v: string | boolean): string {
  return typeof v === 'boolean' ? (v ? 'yes' : 'no') : v;
}
