/**
 * Array helpers that never spread an array into an argument list: `f(...xs)` passes every
 * element on the stack and throws a RangeError past about 100 000 elements (a scenario
 * with 250 000 steps). Use these wherever the array's length is not bounded by the code.
 */

/** Append every element of `items` to `into` (instead of `into.push(...items)`). */
export function pushAll<T>(into: T[], items: Iterable<T>): T[] {
  for (const x of items) into.push(x);
  return into;
}

/** The largest of `xs` and `floor` (instead of `Math.max(floor, ...xs)`). */
export function maxOf(xs: Iterable<number>, floor = -Infinity): number {
  let m = floor;
  for (const x of xs) if (x > m) m = x;
  return m;
}

/** The smallest of `xs` and `ceiling` (instead of `Math.min(ceiling, ...xs)`). */
export function minOf(xs: Iterable<number>, ceiling = Infinity): number {
  let m = ceiling;
  for (const x of xs) if (x < m) m = x;
  return m;
}

/** Replace `deleteCount` elements at `start` by `items` (instead of `a.splice(start, n, ...items)`). */
export function spliceAll<T>(a: T[], start: number, deleteCount: number, items: readonly T[]): void {
  if (items.length <= 2) {
    // the common case without building a tail copy
    if (items.length === 0) a.splice(start, deleteCount);
    else if (items.length === 1) a.splice(start, deleteCount, items[0] as T);
    else a.splice(start, deleteCount, items[0] as T, items[1] as T);
    return;
  }
  const tail = a.slice(start + deleteCount);
  a.length = start;
  pushAll(a, items);
  pushAll(a, tail);
}
