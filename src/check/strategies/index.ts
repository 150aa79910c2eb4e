/** The explorer's strategies by name. */
import type { Strategy } from '../options.js';
import { bfs } from './bfs.js';
import { dpor } from './dpor.js';
import { naive } from './naive.js';
import { pct } from './pct.js';
import { random } from './random.js';
import type { SearchStrategy } from './strategy.js';

export type { Chooser, SampleStrategy, SearchStrategy, TreeStrategy, TreeView } from './strategy.js';

const BY_NAME: Readonly<Record<Strategy, SearchStrategy>> = { dpor, naive, bfs, random, pct };

export function strategyOf(name: Strategy): SearchStrategy {
  const s = BY_NAME[name] as SearchStrategy | undefined;
  if (s === undefined) throw new Error(`unknown strategy ${String(name)}`);
  return s;
}
