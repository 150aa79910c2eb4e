/**
 * The vocabulary of walking an object graph to copy it (snapshot.ts) or to audit it
 * (graph-audit.ts): what a copy cannot reproduce and why (SnapshotRefused, the refused
 * internal-slot tags), what is shared instead of copied (GraphOptions, deeply frozen
 * objects), and how a place in the graph is named in messages (property paths).
 */

/** The graph holds something a copy cannot reproduce. */
export class SnapshotRefused extends Error {
  constructor(
    /** Where, as a property path from the root (`$.sys.kernel.sched.threads[2].task`). */
    readonly path: string,
    readonly why: string,
  ) {
    super(`cannot snapshot ${path}: ${why}`);
    this.name = 'SnapshotRefused';
  }
}

/** Any function value (functions are kept by reference). */
export type AnyFunction = (...args: never[]) => unknown;

export interface GraphOptions {
  /**
   * Objects (and functions) every copy keeps as they are: never walked, never copied
   * (immutable data, or state that is global rather than per world).
   */
  readonly shared?: (o: object) => boolean;
  /**
   * Functions are always kept by reference. Return false to refuse the snapshot on one
   * (a closure over per-world state); `path` gives where it is. Default: accept all.
   */
  readonly allowFunction?: (f: AnyFunction, path: () => string) => boolean;
}

/** Tags (Object.prototype.toString) of objects with internal state no copy can reproduce. */
export const REFUSED_TAGS: ReadonlyMap<string, string> = new Map([
  ['Generator', 'a generator object (a suspended computation) cannot be copied'],
  ['AsyncGenerator', 'an async generator cannot be copied'],
  ['Promise', 'a promise cannot be copied'],
  ['WeakMap', 'a WeakMap cannot be copied (its entries cannot be enumerated)'],
  ['WeakSet', 'a WeakSet cannot be copied (its entries cannot be enumerated)'],
  ['WeakRef', 'a WeakRef cannot be copied'],
  ['FinalizationRegistry', 'a FinalizationRegistry cannot be copied'],
  ['Array Iterator', 'an iterator cannot be copied'],
  ['Map Iterator', 'an iterator cannot be copied'],
  ['Set Iterator', 'an iterator cannot be copied'],
  ['String Iterator', 'an iterator cannot be copied'],
  ['RegExp String Iterator', 'an iterator cannot be copied'],
  ['Date', 'Date is not supported'],
  ['RegExp', 'RegExp is not supported (lastIndex, flags are internal)'],
  ['Error', 'Error objects are not supported'],
  ['Boolean', 'boxed primitives are not supported'],
  ['Number', 'boxed primitives are not supported'],
  ['String', 'boxed primitives are not supported'],
  ['Symbol', 'boxed primitives are not supported'],
  ['BigInt', 'boxed primitives are not supported'],
  ['Arguments', 'arguments objects are not supported'],
  ['SharedArrayBuffer', 'a SharedArrayBuffer cannot be copied'],
]);

const toStringTag = Object.prototype.toString;

export function tagOf(o: object): string {
  const t = toStringTag.call(o);
  return t.slice(8, -1);
}

/** The first characters of a function's source (for audits and refusals). */
export function functionHead(f: AnyFunction, n = 100): string {
  let src: string;
  try {
    src = Function.prototype.toString.call(f);
  } catch {
    src = '<unprintable>';
  }
  src = src.replace(/\s+/g, ' ');
  return src.length > n ? `${src.slice(0, n)}…` : src;
}

/** A path step that is not a property name (a Map entry, a Set element, as written in paths). */
export class PathStep {
  constructor(readonly text: string) {}
}

export function keyText(k: unknown): string {
  if (k instanceof PathStep) return k.text;
  if (typeof k === 'symbol') return `[${k.description ?? 'symbol'}]`;
  if (typeof k === 'number') return `[${k}]`;
  if (typeof k === 'string') return /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
  return `{${String(k)}}`;
}

/**
 * Objects proven deeply frozen, for the life of the process: a frozen object's own data
 * properties can never change, so once every object reachable from one is frozen (and has
 * no accessor, no Map/Set/buffer/view, nothing refused), that stays true. A snapshot taken
 * again and again (the explorer's) then checks each such object with one lookup instead
 * of walking it.
 */
const provenFrozen = new WeakSet<object>();

/**
 * Deeply frozen: frozen, and every value primitive, a function or deeply frozen (cycles
 * allowed). `memo` (one walk of a graph) keeps the objects found not to be.
 */
export function deepFrozen(o: object, memo: Map<object, boolean>): boolean {
  if (provenFrozen.has(o)) return true;
  if (memo.get(o) === false) return false;
  // every object reachable from o must be frozen: a walk that stops at the first that is not
  const seen = new Set<object>();
  const stack: object[] = [o];
  while (stack.length > 0) {
    const x = stack.pop() as object; // length > 0
    if (seen.has(x) || provenFrozen.has(x)) continue;
    if (memo.get(x) === false || !Object.isFrozen(x) || ArrayBuffer.isView(x) || x instanceof Map || x instanceof Set || x instanceof ArrayBuffer || REFUSED_TAGS.has(tagOf(x))) {
      memo.set(o, false);
      return false;
    }
    seen.add(x);
    for (const k of Reflect.ownKeys(x)) {
      const d = Object.getOwnPropertyDescriptor(x, k);
      if (d === undefined) continue;
      if (d.get !== undefined || d.set !== undefined) {
        memo.set(o, false);
        return false;
      }
      const v: unknown = d.value;
      if (v !== null && typeof v === 'object') stack.push(v);
    }
  }
  for (const x of seen) provenFrozen.add(x);
  return true;
}

/** A function inside a deeply frozen object, and its path from that object (`.a[2].f`). */
export interface FrozenFunction {
  readonly f: AnyFunction;
  readonly path: string;
}

/** The functions inside each deeply frozen object asked about (they can never change either). */
const frozenFunctions = new WeakMap<object, readonly FrozenFunction[]>();

/** Every function reachable from `o`, which deepFrozen proved deeply frozen (each path the first found). */
export function functionsInFrozen(o: object): readonly FrozenFunction[] {
  let out = frozenFunctions.get(o);
  if (out !== undefined) return out;
  const found: FrozenFunction[] = [];
  const seen = new Set<object>();
  const walk = (x: object, path: string): void => {
    if (seen.has(x)) return;
    seen.add(x);
    for (const k of Reflect.ownKeys(x)) {
      const v: unknown = (x as Record<string | symbol, unknown>)[k];
      if (typeof v === 'function') found.push({ f: v as AnyFunction, path: `${path}${keyText(k)}` });
      else if (v !== null && typeof v === 'object') walk(v, `${path}${keyText(k)}`);
    }
  };
  walk(o, '');
  out = found;
  frozenFunctions.set(o, out);
  return out;
}
