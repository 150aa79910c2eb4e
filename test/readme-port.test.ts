/**
 * The README's ported C test (section "C-shaped layer: porting a C test") runs as it
 * stands: the block after `<!-- readme-port-example -->` is taken from README.md, its
 * `'vfio-sim'` import pointed at this build, and run by node.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The first ```ts block after the marker. */
function portedExample(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf('<!-- readme-port-example -->');
  assert.ok(at >= 0, 'README has the ported example marker');
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(m !== null, 'a ts block follows the marker');
  return m[1] as string;
}

test('README ported C test: the C-shaped port runs as written and ends in SIGBUS and EIO', () => {
  const code = portedExample();
  assert.match(code, /from 'vfio-sim'/);
  const dir = mkdtempSync(join(tmpdir(), 'vfio-sim-readme-'));
  try {
    const file = join(dir, 'port.mjs');
    const index = pathToFileURL(join(ROOT, 'dist', 'src', 'index.js')).href;
    writeFileSync(file, code.replace(/from 'vfio-sim'/g, `from '${index}'`));
    const out = execFileSync(process.execPath, [file], { encoding: 'utf8' });
    assert.equal(out, 'ported C test passed\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
