/**
 * The lowering keeps source maps pointing at the generator source: a lowered frame's
 * suspension points (the delegated task's `next()` for a `yield*`, `done: (this.$pc = N, false)`
 * for a `yield`)
 * map back to the TypeScript statement with that yield, so a stack trace (node
 * --enable-source-maps) or a coverage report names the line a kernel path was written on.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { findSourceMap } from 'node:module';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

process.setSourceMapsEnabled(true);

for (const mod of ['kernel/pci/reset', 'kernel/vfio/pci/vfio-pci', 'kernel/mm/mmap', 'scenario/ops']) {
  test(`source maps: every suspension point of the lowered ${mod}.js maps to a line of ${mod}.ts with its yield`, async () => {
    const url = new URL(`../../src/${mod}.js`, import.meta.url);
    await import(url.href);
    const sm = findSourceMap(fileURLToPath(url));
    assert.ok(sm !== undefined, 'the lowered module has a source map');
    const js = readFileSync(url, 'utf8').split('\n');
    const ts = readFileSync(new URL(`../../../src/${mod}.ts`, import.meta.url), 'utf8').split('\n');
    let checked = 0;
    js.forEach((line, i) => {
      const col = line.search(/= t_\d+\.next\(\)|this\.\$pc = \d+, false\)/);
      if (col < 0) return;
      const e = sm.findEntry(i, col) as { originalSource?: string; originalLine?: number };
      assert.ok(e.originalSource?.endsWith(`src/${mod}.ts`), `line ${i + 1} maps into ${mod}.ts (got ${String(e.originalSource)})`);
      const at = e.originalLine ?? -1;
      const around = ts.slice(at, at + 4).join('\n');
      assert.match(around, /yield/, `${mod}.js:${i + 1} (${line.trim()}) maps to ${mod}.ts:${at + 1}, which has no yield:\n${around}`);
      checked++;
    });
    assert.ok(checked >= 5, `suspension points checked: ${checked}`);
  });
}
