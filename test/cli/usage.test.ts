import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { runCli } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;


test('vfio-sim --version prints the package version and exits 0', () => {
  const r = runCli(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.out, `${VERSION}\n`);
  assert.equal(r.err, '');
});

test('vfio-sim demo --help and variants --help print their own usage (exit 0), not the top-level one', () => {
  const demo = runCli(['demo', '--help']);
  assert.equal(demo.code, 0);
  assert.match(demo.out, /^usage: vfio-sim demo \[--variant V\]/);
  assert.match(demo.out, /--variant V +design variant preset/);
  const variants = runCli(['variants', '-h']);
  assert.equal(variants.code, 0);
  assert.match(variants.out, /^usage: vfio-sim variants \[--knobs\]/);
  assert.doesNotMatch(demo.out + variants.out, /^commands:/m);
});

test('the CLI runs when started through a symlink whose name does not end in main.js (npm\'s bin link), from main.js and from the bin entry', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vfio-sim-link-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const target of ['main.js', 'bin.js']) {
    const link = join(dir, `vfio-sim-${target}`);
    symlinkSync(join(ROOT, 'dist', 'src', 'cli', target), link);
    const r = spawnSync(process.execPath, [link, '--version'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${VERSION}\n`, `through a link to ${target}`);
  }
});

test('counts of one are singular: an exploration of one execution says "1 execution (1 distinct trace ...), 1 distinct outcome"', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vfio-sim-one-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'serial.yaml');
  writeFileSync(file, 'name: serial\nprocesses:\n  - name: p\n    threads:\n      - name: t\n        steps:\n          - open_device: edu0\n');
  let out = '';
  assert.equal(await main(['explore', file], (s) => (out += s + '\n'), () => undefined), 0);
  assert.match(out, /^1 execution \(1 distinct trace, 0 sleep-set blocked\), 1 distinct outcome, longest \d+ steps/m);
  assert.doesNotMatch(out, /\b1 (executions|distinct traces|distinct outcomes|steps|preemptions)\b/);
});

test('vfio-sim explore --help names every built-in property (the list comes from BUILTIN_PROPERTIES, so a new one cannot be left out)', async () => {
  const { BUILTIN_PROPERTIES } = await import('../../src/check/property.js');
  let out = '';
  const code = await main(['explore', '--help'], (s) => (out += s + '\n'), () => undefined);
  assert.equal(code, 0);
  const listed = out.replace(/\n/g, ' ');
  for (const p of BUILTIN_PROPERTIES) assert.match(listed, new RegExp(`[ :]${p}[,]`), p);
});
