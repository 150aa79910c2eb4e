/** Every scenario in examples/ loads and runs with all of its expectations met. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { formatScenarioError, loadScenario, runScenario } from '../../src/scenario/index.js';

const DIR = new URL('../../../examples/', import.meta.url);
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();

test('examples/ holds scenarios', () => {
  assert.ok(files.length >= 5, files.join(', '));
});

for (const f of files) {
  test(`example ${f}: loads, runs, and every expectation is met`, () => {
    const r = loadScenario(readFileSync(new URL(f, DIR), 'utf8'), f);
    assert.ok(r.ok, r.ok ? '' : r.errors.map(formatScenarioError).join('\n'));
    const res = runScenario(r.scenario);
    const failed = [
      ...res.steps.filter((s) => s.verdict === 'failed').map((s) => `${s.thread} step ${s.index} ${s.text}: ${s.why ?? ''}`),
      ...res.runVerdicts.filter((v) => !v.met).map((v) => `${v.what}: expected ${v.expected}, got ${v.actual}`),
    ];
    assert.deepEqual(failed, []);
    assert.ok(res.ok);
    assert.ok(res.expectations.met > 0, 'the example checks something');
  });
}

test('the README scenario example loads and runs with its expectations met', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Scenarios'));
  const m = /```yaml\n([\s\S]*?)```/.exec(section);
  assert.ok(m !== null && m[1] !== undefined, 'a yaml block in the Scenarios section');
  const r = loadScenario(m[1], 'README.md');
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatScenarioError).join('\n'));
  const res = runScenario(r.scenario);
  assert.ok(res.ok);
  assert.equal(res.end.kind, 'deadlock');
});
