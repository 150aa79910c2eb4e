/**
 * Snapshots of an object graph: a deep copy that keeps every object's class (its
 * prototype), the sharing between objects and the cycles, so that a world (the
 * explorer's System after a scenario's setup) can be built once and copied for every
 * execution instead of being rebuilt and its setup replayed.
 *
 * What is copied: objects (own data properties, enumerable or not, string and symbol
 * keys, in their order; the same prototype; frozen, sealed and non-extensible objects
 * stay so), arrays, Map, Set, ArrayBuffer (the bytes) and its views (typed arrays,
 * DataView: a view of a copied buffer, so views of one buffer still share it).
 * Primitives (bigint included) are values. What is kept as it is, shared by the
 * original and every copy: functions (a copy cannot rebind a closure: one that captures
 * per-world state is a defect of the world, which `auditGraph` helps to find), objects
 * the caller declares shared (`shared`), and deeply frozen objects (an object that is
 * frozen and whose values are primitives, functions or deeply frozen objects: nothing
 * can change it, so a copy would be indistinguishable).
 *
 * What is refused (SnapshotRefused): state a copy cannot reproduce — generator objects
 * (a suspended computation), promises, WeakMap/WeakSet/WeakRef/FinalizationRegistry
 * (their entries cannot be enumerated), iterators, Date, RegExp, Error and boxed
 * primitives (internal slots), accessor properties, arrays with holes or extra
 * properties, and subclasses of Array/Map/Set. A caller falls back to re-building the
 * world then.
 *
 * The graph's vocabulary (refusals, shared objects, paths) is graph.ts; looking at a graph
 * without copying it, graph-audit.ts; the generated per-layout stores, filler.ts.
 *
 * A `Snapshot` records the graph once (`take`: the walk, the checks, the layout of
 * every object) and then builds copies from that record (`restore`) without walking
 * or checking again: a restore is two flat loops over the recorded objects.
 */
import { type Filler, fillerForObject } from './filler.js';
import { type AnyFunction, deepFrozen, functionHead, functionsInFrozen, type GraphOptions, keyText, PathStep, REFUSED_TAGS, SnapshotRefused, tagOf } from './graph.js';

export { auditGraph, reachable, type FunctionSite, type GraphAudit } from './graph-audit.js';
export { functionHead, SnapshotRefused, type AnyFunction, type GraphOptions } from './graph.js';

// kinds of recorded objects
const K_OBJ = 0;
const K_ARR = 1;
const K_MAP = 2;
const K_SET = 3;
const K_BUF = 4;
const K_VIEW = 5;

/** A view's constructor and position (buffer: its buffer's node). */
interface ViewRec {
  readonly ctor: new (buf: ArrayBuffer, off: number, len: number) => ArrayBufferView;
  readonly buf: number;
  readonly off: number;
  /** Elements (typed arrays) or bytes (DataView). */
  readonly len: number;
}

/** An object to freeze, seal or make non-extensible once filled. */
interface SpecialRec {
  readonly node: number;
  readonly integrity: 'non-extensible' | 'sealed' | 'frozen';
}

const VIEW_CTORS: readonly ViewRec['ctor'][] = [
  Uint8Array,
  Int8Array,
  Uint16Array,
  Int16Array,
  Uint32Array,
  Int32Array,
  Float32Array,
  Float64Array,
  Uint8ClampedArray,
  BigInt64Array,
  BigUint64Array,
  DataView,
] as unknown as ViewRec['ctor'][];

/**
 * A recorded object graph, copied by `restore()`. Take one with `Snapshot.take(root)`;
 * the original may change afterwards (the record holds its own copy of every value).
 */
export class Snapshot<T> {
  /** Number of recorded (copied) objects. */
  readonly objects: number;
  /** Number of recorded property slots (object properties, elements, Map entries ×2). */
  readonly slots: number;

  private constructor(
    private readonly root: unknown,
    private readonly rootNode: number,
    private readonly kind: Uint8Array,
    private readonly extra: readonly unknown[],
    private readonly start: Int32Array,
    private readonly val: readonly unknown[],
    private readonly ref: Int32Array,
    private readonly views: readonly number[],
    private readonly special: readonly SpecialRec[],
    /** Per object node: its filler (null: none, or the generic path for unusual attributes). */
    private readonly fill: readonly (Filler | null)[],
  ) {
    this.objects = kind.length;
    this.slots = val.length;
  }

  /** Record `root`'s graph. Throws SnapshotRefused when a copy could not reproduce it. */
  static take<T>(root: T, opts: GraphOptions = {}): Snapshot<T> {
    const shared = opts.shared;
    const allowFunction = opts.allowFunction;
    const index = new Map<object, number>();
    const objs: object[] = [];
    const parent: number[] = [];
    const parentKey: unknown[] = [];
    const frozenMemo = new Map<object, boolean>();
    const kind: number[] = [];
    const extra: unknown[] = [];
    const start: number[] = [];
    const val: unknown[] = [];
    const ref: number[] = [];
    const views: number[] = [];
    const special: SpecialRec[] = [];
    const fill: (Filler | null)[] = [];

    const pathOf = (node: number, k?: unknown): string => {
      const parts: string[] = [];
      if (k !== undefined) parts.push(keyText(k));
      for (let x = node; x > 0; x = parent[x] as number) parts.push(keyText(parentKey[x]));
      return `$${parts.reverse().join('')}`;
    };

    /** The slot form of a value found at (node, k): a primitive/kept value (-1) or a node. */
    const visit = (v: unknown, from: number, k: unknown): number => {
      if (typeof v === 'function') {
        if (allowFunction !== undefined && !(shared?.(v) ?? false) && !allowFunction(v as AnyFunction, () => pathOf(from, k))) {
          throw new SnapshotRefused(pathOf(from, k), `a function that may capture per-world state: ${functionHead(v as AnyFunction)}`);
        }
        return -1;
      }
      if (v === null || typeof v !== 'object') return -1;
      const known = index.get(v);
      if (known !== undefined) return known;
      if (shared !== undefined && shared(v)) return -1;
      if (Object.isFrozen(v) && deepFrozen(v, frozenMemo)) {
        if (allowFunction !== undefined) checkFrozenFunctions(v, from, k);
        return -1;
      }
      const n = objs.length;
      index.set(v, n);
      objs.push(v);
      parent.push(from);
      parentKey.push(k);
      return n;
    };

    /** Functions inside a deeply frozen (hence shared) object still go through allowFunction. */
    const checkFrozenFunctions = (o: object, from: number, k: unknown): void => {
      for (const { f, path } of functionsInFrozen(o)) {
        const p = (): string => `${pathOf(from, k)}${path}`;
        if (!(shared?.(f) ?? false) && allowFunction !== undefined && !allowFunction(f, p)) {
          throw new SnapshotRefused(p(), `a function that may capture per-world state: ${functionHead(f)}`);
        }
      }
    };

    const slot = (k: string | symbol | null, v: unknown, from: number, pk: unknown): void => {
      const r = visit(v, from, pk);
      val.push(r < 0 ? v : undefined);
      ref.push(r);
    };

    const rootNode = visit(root, -1, undefined);
    if (rootNode >= 0) parent[rootNode] = -1;
    for (let i = 0; i < objs.length; i++) {
      const o = objs[i] as object;
      start.push(val.length);
      const refuse = (why: string): never => {
        throw new SnapshotRefused(pathOf(i), why);
      };
      // a frozen (sealed, non-extensible) object, array, Map or Set that is copied stays so
      if (!Object.isExtensible(o) && !(o instanceof ArrayBuffer) && !ArrayBuffer.isView(o)) {
        special.push({ node: i, integrity: Object.isFrozen(o) ? 'frozen' : Object.isSealed(o) ? 'sealed' : 'non-extensible' });
      }
      if (Array.isArray(o)) {
        if (Object.getPrototypeOf(o) !== Array.prototype) refuse('a subclass of Array is not supported');
        const a = o as unknown[];
        if (Object.keys(a).length !== a.length || Object.getOwnPropertySymbols(a).length > 0) refuse('an array with holes or extra properties is not supported');
        kind.push(K_ARR);
        fill.push(null);
        const refAt: number[] = [];
        for (let j = 0; j < a.length; j++) {
          slot(null, a[j], i, j);
          if ((ref[ref.length - 1] as number) >= 0) refAt.push(j);
        }
        // an array is restored as a slice of the recorded values, then its references patched
        extra.push(refAt.length === 0 ? null : Int32Array.from(refAt));
        continue;
      }
      if (o instanceof Map) {
        if (Object.getPrototypeOf(o) !== Map.prototype || Reflect.ownKeys(o).length > 0) refuse('a subclass of Map, or a Map with own properties, is not supported');
        kind.push(K_MAP);
        fill.push(null);
        extra.push(null);
        let j = 0;
        for (const [mk, mv] of o) {
          slot(null, mk, i, new PathStep(`.key${j}`));
          slot(null, mv, i, new PathStep(typeof mk === 'string' || typeof mk === 'number' ? `.get(${JSON.stringify(mk)})` : `.value${j}`));
          j++;
        }
        continue;
      }
      if (o instanceof Set) {
        if (Object.getPrototypeOf(o) !== Set.prototype || Reflect.ownKeys(o).length > 0) refuse('a subclass of Set, or a Set with own properties, is not supported');
        kind.push(K_SET);
        fill.push(null);
        extra.push(null);
        let j = 0;
        for (const sv of o) slot(null, sv, i, new PathStep(`.element${j++}`));
        continue;
      }
      if (o instanceof ArrayBuffer) {
        if (Reflect.ownKeys(o).length > 0) refuse('an ArrayBuffer with own properties is not supported');
        kind.push(K_BUF);
        fill.push(null);
        extra.push(o.slice(0));
        continue;
      }
      if (ArrayBuffer.isView(o)) {
        const ctor = VIEW_CTORS.find((c) => Object.getPrototypeOf(o) === c.prototype);
        if (ctor === undefined) refuse('an unknown kind of ArrayBuffer view');
        if (Object.getOwnPropertySymbols(o).length > 0 || (o instanceof DataView && Reflect.ownKeys(o).length > 0)) refuse('a view with own properties is not supported');
        if (!(o.buffer instanceof ArrayBuffer)) refuse('a view of a SharedArrayBuffer cannot be copied');
        const b = visit(o.buffer, i, new PathStep('.buffer'));
        if (b < 0) refuse('a view of a shared buffer is not supported');
        const len = o instanceof DataView ? o.byteLength : (o as unknown as { length: number }).length;
        kind.push(K_VIEW);
        fill.push(null);
        extra.push({ ctor: ctor as ViewRec['ctor'], buf: b, off: o.byteOffset, len } satisfies ViewRec);
        views.push(i);
        continue;
      }
      const tag = tagOf(o);
      const why = REFUSED_TAGS.get(tag);
      if (why !== undefined) refuse(why);
      if (o instanceof Map || o instanceof Set || o instanceof ArrayBuffer) refuse(`an unsupported ${tag}`);
      kind.push(K_OBJ);
      extra.push(Object.getPrototypeOf(o));
      const keys = Reflect.ownKeys(o);
      if (keys.includes('__proto__')) refuse('an own property named __proto__ is not supported');
      let attrs: [boolean, boolean, boolean][] | null = null;
      for (let j = 0; j < keys.length; j++) {
        const k = keys[j] as string | symbol;
        const d = Object.getOwnPropertyDescriptor(o, k);
        if (d === undefined) continue;
        if (d.get !== undefined || d.set !== undefined) refuse(`an accessor property ${keyText(k)} is not supported`);
        const a: [boolean, boolean, boolean] = [d.writable === true, d.enumerable === true, d.configurable === true];
        if (attrs === null && !(a[0] && a[1] && a[2])) attrs = keys.slice(0, j).map(() => [true, true, true]);
        if (attrs !== null) attrs.push(a);
        slot(k, d.value, i, k);
      }
      fill.push(keys.length > 0 ? fillerForObject(extra[extra.length - 1] as object | null, keys, attrs) : null);
    }
    start.push(val.length);
    return new Snapshot<T>(
      root,
      rootNode,
      Uint8Array.from(kind),
      extra,
      Int32Array.from(start),
      val,
      Int32Array.from(ref),
      views,
      special,
      fill,
    );
  }

  /** A new deep copy of the recorded graph. */
  restore(): T {
    if (this.rootNode < 0) return this.root as T;
    const n = this.kind.length;
    const kind = this.kind;
    const extra = this.extra;
    const start = this.start;
    const val = this.val;
    const ref = this.ref;
    const fill = this.fill;
    const out: unknown[] = new Array<unknown>(n);
    for (let i = 0; i < n; i++) {
      switch (kind[i]) {
        case K_OBJ: {
          const proto = extra[i] as object | null;
          out[i] = proto === Object.prototype ? {} : Object.create(proto);
          break;
        }
        case K_ARR:
          out[i] = val.slice(start[i] as number, start[i + 1] as number);
          break;
        case K_MAP:
          out[i] = new Map();
          break;
        case K_SET:
          out[i] = new Set();
          break;
        case K_BUF:
          out[i] = (extra[i] as ArrayBuffer).slice(0);
          break;
        default:
          break;
      }
    }
    for (const i of this.views) {
      const v = extra[i] as ViewRec;
      out[i] = new v.ctor(out[v.buf] as ArrayBuffer, v.off, v.len);
    }
    for (let i = 0; i < n; i++) {
      let s = start[i] as number;
      const e = start[i + 1] as number;
      if (s === e) continue;
      switch (kind[i]) {
        case K_OBJ:
          // an object with slots always has its filler
          (fill[i] as Filler)(out[i] as object, out, val, ref, s);
          break;
        case K_ARR: {
          const at = extra[i] as Int32Array | null;
          if (at === null) break;
          const a = out[i] as unknown[];
          for (let j = 0; j < at.length; j++) {
            const x = at[j] as number;
            a[x] = out[ref[s + x] as number];
          }
          break;
        }
        case K_MAP: {
          const m = out[i] as Map<unknown, unknown>;
          for (; s < e; s += 2) {
            const rk = ref[s] as number;
            const rv = ref[s + 1] as number;
            m.set(rk < 0 ? val[s] : out[rk], rv < 0 ? val[s + 1] : out[rv]);
          }
          break;
        }
        case K_SET: {
          const st = out[i] as Set<unknown>;
          for (; s < e; s++) {
            const r = ref[s] as number;
            st.add(r < 0 ? val[s] : out[r]);
          }
          break;
        }
        default:
          break;
      }
    }
    for (const sp of this.special) {
      const o = out[sp.node] as object;
      if (sp.integrity === 'frozen') Object.freeze(o);
      else if (sp.integrity === 'sealed') Object.seal(o);
      else if (sp.integrity === 'non-extensible') Object.preventExtensions(o);
    }
    return out[this.rootNode] as T;
  }
}

/** A deep copy of `root` (see the module comment). Throws SnapshotRefused. */
export function deepClone<T>(root: T, opts: GraphOptions = {}): T {
  return Snapshot.take(root, opts).restore();
}

