/**
 * Looking at an object graph without copying it: every function value and everything a
 * snapshot would refuse (`auditGraph`, to find what keeps a world from being copied), and
 * everything reachable (`reachable`, to find what two worlds share).
 */
import { type AnyFunction, functionHead, type GraphOptions, keyText, REFUSED_TAGS, tagOf } from './graph.js';

/** A function found in a graph: where, and the start of its source. */
export interface FunctionSite {
  readonly path: string;
  readonly head: string;
}

/** What `auditGraph` found. */
export interface GraphAudit {
  /** Objects that a copy would copy. */
  readonly objects: number;
  /** Every function value (own property, element, Map key or value), by shortest path; each function once. */
  readonly functions: readonly FunctionSite[];
  /** Everything that makes Snapshot.take refuse. */
  readonly refused: readonly { readonly path: string; readonly why: string }[];
}

/**
 * Walk `root`'s graph breadth-first (shortest paths) and list every function value and
 * everything a snapshot would refuse, without stopping at the first. `shared` objects
 * are not entered; deeply frozen ones are (their functions are listed too).
 */
export function auditGraph(root: unknown, opts: Pick<GraphOptions, 'shared'> = {}): GraphAudit {
  const seen = new Set<unknown>();
  const functions: FunctionSite[] = [];
  const refused: { path: string; why: string }[] = [];
  let objects = 0;
  const queue: { v: unknown; path: string }[] = [{ v: root, path: '$' }];
  const push = (v: unknown, path: string): void => {
    if (v === null || (typeof v !== 'object' && typeof v !== 'function') || seen.has(v)) return;
    queue.push({ v, path });
  };
  for (let qi = 0; qi < queue.length; qi++) {
    const { v, path } = queue[qi] as { v: unknown; path: string };
    if (v === null || (typeof v !== 'object' && typeof v !== 'function') || seen.has(v)) continue;
    seen.add(v);
    if (opts.shared?.(v as object) === true) continue;
    if (typeof v === 'function') {
      functions.push({ path, head: functionHead(v as AnyFunction) });
      continue;
    }
    const o = v as object;
    objects++;
    if (Array.isArray(o)) {
      if (Object.getPrototypeOf(o) !== Array.prototype) refused.push({ path, why: 'a subclass of Array' });
      if (Object.keys(o).length !== o.length) refused.push({ path, why: 'an array with holes or extra properties' });
      o.forEach((x, j) => push(x, `${path}[${j}]`));
      continue;
    }
    if (o instanceof Map) {
      if (Object.getPrototypeOf(o) !== Map.prototype) refused.push({ path, why: 'a subclass of Map' });
      let j = 0;
      for (const [k, x] of o) {
        push(k, `${path}.key${j}`);
        push(x, `${path}${typeof k === 'string' || typeof k === 'number' ? `.get(${JSON.stringify(k)})` : `.value${j}`}`);
        j++;
      }
      continue;
    }
    if (o instanceof Set) {
      if (Object.getPrototypeOf(o) !== Set.prototype) refused.push({ path, why: 'a subclass of Set' });
      let j = 0;
      for (const x of o) push(x, `${path}.element${j++}`);
      continue;
    }
    if (o instanceof ArrayBuffer) continue;
    if (ArrayBuffer.isView(o)) {
      push(o.buffer, `${path}.buffer`);
      continue;
    }
    const why = REFUSED_TAGS.get(tagOf(o));
    if (why !== undefined) {
      refused.push({ path, why });
      continue;
    }
    for (const k of Reflect.ownKeys(o)) {
      const d = Object.getOwnPropertyDescriptor(o, k);
      if (d === undefined) continue;
      if (d.get !== undefined || d.set !== undefined) {
        refused.push({ path: `${path}${keyText(k)}`, why: 'an accessor property' });
        continue;
      }
      push(d.value, `${path}${keyText(k)}`);
    }
  }
  return { objects, functions, refused };
}

/**
 * Every object and function reachable from `root` (own data properties with string and
 * symbol keys, enumerable or not; array elements; Map keys and values; Set elements; a
 * view's buffer). Objects two independently built worlds both reach are global, not
 * per world: a caller shares them between the copies of a snapshot (`shared`).
 */
export function reachable(root: unknown): Set<object> {
  const seen = new Set<object>();
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || (typeof v !== 'object' && typeof v !== 'function')) continue;
    const o = v as object;
    if (seen.has(o)) continue;
    seen.add(o);
    if (typeof v === 'function') continue;
    if (Array.isArray(o)) {
      for (const x of o as unknown[]) stack.push(x);
      continue;
    }
    if (o instanceof Map) {
      for (const [k, x] of o) stack.push(k, x);
      continue;
    }
    if (o instanceof Set) {
      for (const x of o) stack.push(x);
      continue;
    }
    if (ArrayBuffer.isView(o)) {
      stack.push(o.buffer);
      continue;
    }
    if (o instanceof ArrayBuffer) continue;
    for (const k of Reflect.ownKeys(o)) {
      const d = Object.getOwnPropertyDescriptor(o, k);
      if (d !== undefined && 'value' in d) stack.push(d.value);
    }
  }
  return seen;
}
