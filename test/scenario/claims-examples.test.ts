/**
 * Every testable claim of the spec's §7 (claims 1..40) has a scenario in examples/ whose
 * header comment names it as `Claim N (§7)`; examples.test.ts runs each one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';

const DIR = new URL('../../../examples/', import.meta.url);
const CLAIMS = 40;

/** The leading comment block of a scenario file (its header). */
function header(text: string): string {
  const lines: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('#')) break;
    lines.push(line);
  }
  return lines.join('\n');
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();
const headers = new Map(files.map((f) => [f, header(readFileSync(new URL(f, DIR), 'utf8'))]));

/** The claim numbers a header names with `Claim N (§7)`. */
function claimsIn(h: string): number[] {
  return [...h.matchAll(/Claim (\d+) \(§7\)/g)].map((m) => Number(m[1]));
}

test('every §7 claim 1..40 is named as `Claim N (§7)` in the header of some examples/*.yaml', () => {
  const covered = new Map<number, string[]>();
  for (const [f, h] of headers) for (const n of claimsIn(h)) covered.set(n, [...(covered.get(n) ?? []), f]);
  const missing = Array.from({ length: CLAIMS }, (_, i) => i + 1).filter((n) => !covered.has(n));
  assert.deepEqual(missing, [], `claims without an example: ${missing.join(', ')}`);
});

test('headers name only claims that exist (1..40)', () => {
  const bad = [...headers].flatMap(([f, h]) => claimsIn(h).filter((n) => n < 1 || n > CLAIMS).map((n) => `${f}: Claim ${n}`));
  assert.deepEqual(bad, []);
});

test('a claim-NN-*.yaml file names claim NN in its header, and its scenario name says which claim', () => {
  const claimFiles = files.filter((f) => /^claim-\d\d-/.test(f));
  assert.ok(claimFiles.length >= 20, `claim files: ${claimFiles.length}`);
  for (const f of claimFiles) {
    const n = Number(f.slice(6, 8));
    assert.ok(claimsIn(headers.get(f) ?? '').includes(n), `${f} header names Claim ${n} (§7)`);
    const text = readFileSync(new URL(f, DIR), 'utf8');
    assert.match(text, new RegExp(`^name: '?claim ${n}\\b`, 'm'), `${f}: name: starts with 'claim ${n}'`);
  }
});

test('the one [inferred] claim (18) is marked [inferred] in its header and its name', () => {
  const f = files.find((x) => x.startsWith('claim-18-'));
  assert.ok(f !== undefined, 'a claim-18 example');
  const text = readFileSync(new URL(f, DIR), 'utf8');
  assert.match(header(text), /\[inferred\]/);
  assert.match(text, /^name: .*\[inferred\]/m);
});
