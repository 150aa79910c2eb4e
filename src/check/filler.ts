/**
 * Generated property stores for restoring snapshots: one function per key list (a class's
 * layout), which a restore calls to fill each copied object of that layout.
 */

/** Fills the properties of one object of a given key list (see fillerFor). */
export type Filler = (o: object, out: readonly unknown[], val: readonly unknown[], ref: Int32Array, s: number) => void;

const IDENT = /^[A-Za-z_$][\w$]*$/;
/** Ids of symbol keys in filler signatures. */
const symbolIds = new Map<symbol, number>();
/** Fillers by key-list signature, shared by every snapshot. */
const fillers = new Map<string, Filler>();

/**
 * A function that stores the recorded values of one object's slots under its keys, in
 * order, with a named store per key: objects of one class then all take the same hidden
 * class transitions and every store is monomorphic (a generic `o[key] = v` loop is
 * several times slower).
 */
export function fillerFor(keys: readonly (string | symbol)[], attrs: readonly (readonly [boolean, boolean, boolean])[] | null): Filler {
  const attrText = (j: number): string => {
    const a = attrs?.[j];
    return a === undefined || (a[0] && a[1] && a[2]) ? '' : `/${a.map((x) => (x ? 1 : 0)).join('')}`;
  };
  const sig = keys.map((k, j) => {
    if (typeof k === 'string') return `${JSON.stringify(k)}${attrText(j)}`;
    let id = symbolIds.get(k);
    if (id === undefined) symbolIds.set(k, (id = symbolIds.size));
    return `@${id}${attrText(j)}`;
  }).join(',');
  let f = fillers.get(sig);
  if (f !== undefined) return f;
  const syms: symbol[] = [];
  const lines = keys.map((k, j) => {
    let name: string;
    let target: string;
    if (typeof k === 'symbol') {
      name = `K[${syms.length}]`;
      target = `o[${name}]`;
      syms.push(k);
    } else {
      name = JSON.stringify(k);
      target = IDENT.test(k) ? `o.${k}` : `o[${name}]`;
    }
    const v = `r < 0 ? val[s + ${j}] : out[r]`;
    const a = attrs?.[j];
    // a property with unusual attributes (a SideTable's non-enumerable entry) is defined in place, keeping the key order
    if (a !== undefined && !(a[0] && a[1] && a[2])) return `r = ref[s + ${j}]; Object.defineProperty(o, ${name}, { value: ${v}, writable: ${a[0]}, enumerable: ${a[1]}, configurable: ${a[2]} });`;
    return `r = ref[s + ${j}]; ${target} = ${v};`;
  });
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- code generated from recorded property names only
  const make = new Function('K', `"use strict"; return function fill(o, out, val, ref, s) { let r; ${lines.join(' ')} };`) as (k: readonly symbol[]) => Filler;
  f = make(syms);
  fillers.set(sig, f);
  return f;
}


/** The layout last seen per prototype (objects of one class mostly share one): its keys and filler. */
const lastLayout = new WeakMap<object, { readonly keys: readonly (string | symbol)[]; readonly filler: Filler }>();

function sameKeys(a: readonly (string | symbol)[], b: readonly (string | symbol)[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * fillerFor an object of prototype `proto`: the layout last seen for that prototype is
 * compared key by key before the filler is looked up by signature (building a signature
 * costs more than the comparison).
 */
export function fillerForObject(proto: object | null, keys: readonly (string | symbol)[], attrs: readonly (readonly [boolean, boolean, boolean])[] | null): Filler {
  if (attrs !== null || proto === null) return fillerFor(keys, attrs);
  const last = lastLayout.get(proto);
  if (last !== undefined && sameKeys(last.keys, keys)) return last.filler;
  const filler = fillerFor(keys, null);
  lastLayout.set(proto, { keys, filler });
  return filler;
}
