/**
 * Bad input never throws out of the loader: any edit of a valid scenario either loads
 * or yields positioned errors (file:line:col inside the file, a non-empty message).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { loadScenario } from '../../src/scenario/index.js';

const DIR = new URL('../../../examples/', import.meta.url);
const texts = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort().map((f) => readFileSync(new URL(f, DIR), 'utf8'));
const TOKENS = ['bar', 'dev', '0x10', '-1', 'null', '{', '}', '[', ']', ':', '- ', 'load', 'fork', 'expect:', 'as:', '99999999999999999999', '"x"', 'edu1', 'bar0+0x1000', 'SIGBUS', 'true', '\t', '&a', '*a', '---'];

test('loadScenario never throws on edited scenarios; every error has a line and column inside the file', () => {
  const edit = fc.record({
    file: fc.nat({ max: texts.length - 1 }),
    edits: fc.array(fc.record({ pos: fc.nat(), del: fc.nat({ max: 6 }), ins: fc.oneof(fc.constantFrom(...TOKENS), fc.string({ maxLength: 4 })) }), { minLength: 1, maxLength: 3 }),
  });
  fc.assert(
    fc.property(edit, ({ file, edits }) => {
      let t = texts[file] ?? '';
      for (const e of edits) {
        const p = e.pos % (t.length + 1);
        t = t.slice(0, p) + e.ins + t.slice(p + e.del);
      }
      const r = loadScenario(t, 'f.yaml');
      if (r.ok) return;
      assert.ok(r.errors.length > 0);
      const nLines = t.split('\n').length;
      for (const e of r.errors) {
        assert.ok(e.line >= 1 && e.line <= nLines + 1 && e.col >= 1, `${e.line}:${e.col}`);
        assert.ok(e.message.length > 0 && !/\n\s+at /.test(e.message), e.message);
      }
    }),
    { numRuns: 400, seed: 42 },
  );
});
