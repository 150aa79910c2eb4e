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

/** Deeply frozen: frozen, and every value primitive, a function or deeply frozen (cycles allowed). */
export function deepFrozen(o: object, memo: Map<object, boolean>): boolean {
  const known = memo.get(o);
  if (known !== undefined) return known;
  if (!Object.isFrozen(o) || ArrayBuffer.isView(o) || o instanceof Map || o instanceof Set || o instanceof ArrayBuffer || REFUSED_TAGS.has(tagOf(o))) {
    memo.set(o, false);
    return false;
  }
  memo.set(o, true); // provisional (a cycle back to o does not make it mutable)
  for (const k of Reflect.ownKeys(o)) {
    const d = Object.getOwnPropertyDescriptor(o, k);
    if (d === undefined) continue;
    if (d.get !== undefined || d.set !== undefined) {
      memo.set(o, false);
      return false;
    }
    const v: unknown = d.value;
    if (v !== null && typeof v === 'object' && !deepFrozen(v, memo)) {
      memo.set(o, false);
      return false;
    }
  }
  return true;
}
