/** No import cycles in src/ (tools/import-cycles.ts; docs/ARCHITECTURE.md, Layers). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { importCycles, imports, moduleGraph, repoRoot } from '../../tools/import-cycles.js';

const ROOT = repoRoot();

test('src/ has no import cycle (type-only imports, erased by the compiler, are not load-order dependencies)', () => {
  const graph = moduleGraph(ROOT);
  assert.ok(graph.size > 120, `read ${graph.size} files`);
  assert.ok((graph.get('src/check/search.ts') ?? []).includes('src/check/units.ts'), 'the graph has the search engine importing the work units');
  assert.deepEqual(importCycles(graph).map((c) => c.join(' -> ')), []);
});

test('outside src/kernel/ there is no import cycle even counting type-only imports (check/search <-> check/units, the scenario layer)', () => {
  // src/kernel's own type-only cycles (file <-> mm/types, vfio/device <-> vfio/vfio, ...) are the kernel model's business
  const cycles = importCycles(moduleGraph(ROOT, 'src', true)).filter((c) => !c.every((f) => f.startsWith('src/kernel/')));
  assert.deepEqual(cycles.map((c) => c.join(' -> ')), []);
});

test('src/check does not import src/scenario or src/cli (the scenario layer supplies its worker program)', () => {
  const graph = moduleGraph(ROOT, 'src', true);
  const up = [...graph].filter(([f]) => f.startsWith('src/check/')).flatMap(([f, deps]) => deps.filter((d) => d.startsWith('src/scenario/') || d.startsWith('src/cli/')).map((d) => `${f} -> ${d}`));
  assert.deepEqual(up, []);
});

test('imports: value imports and re-exports, dynamic import(); type-only ones only when asked', () => {
  const text = [
    "import { a } from './a.js';",
    "import type { B } from './b.js';",
    "import { type C, type D } from './c.js';",
    "import { type E, f } from './e.js';",
    "export { g } from './g.js';",
    "export type { H } from './h.js';",
    "import './side-effect.js';",
    "const m = await import('./dyn.js');",
  ].join('\n');
  assert.deepEqual(imports('x.ts', text), ['./a.js', './e.js', './g.js', './side-effect.js', './dyn.js']);
  assert.deepEqual(imports('x.ts', text, true), ['./a.js', './b.js', './c.js', './e.js', './g.js', './h.js', './side-effect.js', './dyn.js']);
});

test('importCycles: one shortest cycle per strongly connected component, a self-import included, none in a DAG', () => {
  const g = new Map<string, string[]>([
    ['a', ['b']],
    ['b', ['c', 'd']],
    ['c', ['a']],
    ['d', ['e']],
    ['e', []],
    ['s', ['s']],
  ]);
  assert.deepEqual(importCycles(g), [['a', 'b', 'c', 'a'], ['s', 's']]);
  assert.deepEqual(importCycles(new Map([['a', ['b']], ['b', ['c']], ['c', []]])), []);
});
