/**
 * Per-object state kept beside an object's own fields, like a module-level WeakMap
 * (`get`/`set`/`has`/`delete`), but stored in the object itself under a private symbol
 * (not enumerable, so spreads, Object.keys and JSON never see it). Copying the object —
 * the explorer's snapshots copy a whole System (src/check/snapshot.ts) — then copies its
 * entry too, where a WeakMap's entry would stay with the original object and the copy
 * would silently start without it.
 */
export class SideTable<K extends object, V> {
  private readonly key: symbol;

  constructor(name: string) {
    this.key = Symbol(name);
  }

  get(o: K): V | undefined {
    return (o as unknown as Record<symbol, V | undefined>)[this.key];
  }

  has(o: K): boolean {
    return Object.prototype.hasOwnProperty.call(o, this.key);
  }

  set(o: K, v: V): this {
    if (Object.prototype.hasOwnProperty.call(o, this.key)) (o as unknown as Record<symbol, V>)[this.key] = v;
    else Object.defineProperty(o, this.key, { value: v, writable: true, enumerable: false, configurable: true });
    return this;
  }

  delete(o: K): boolean {
    if (!Object.prototype.hasOwnProperty.call(o, this.key)) return false;
    delete (o as unknown as Record<symbol, V>)[this.key];
    return true;
  }
}
