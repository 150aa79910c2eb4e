/**
 * `node dist/bench/exec.js`: what `vfio-sim exec` costs (issue #16) — test/c/op-costs.c,
 * built with `cc -O2`, run under the shim against 6.12: an ioctl (GET_REGION_INFO), a 4-byte
 * pread of BAR0 and a trapped 4-byte load of the mapped BAR0, per operation, and one whole
 * `exec` run (server start, boot, the program, the report). Needs `cc` and the shim
 * (native/libvfio-sim-preload.so, built at install).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function runExecBenchmarks(): void {
  const shim = join(ROOT, 'native', 'libvfio-sim-preload.so');
  if (!existsSync(shim)) {
    console.log(`exec: not measured (no shim at ${shim}: install a C compiler, then npm run build:native)`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'vfio-sim-bench-exec-'));
  try {
    const prog = join(dir, 'op-costs');
    const cc = spawnSync('cc', ['-O2', '-pthread', '-o', prog, join(ROOT, 'test', 'c', 'op-costs.c')], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`cc failed: ${cc.stderr}`);
    const cli = join(ROOT, 'dist', 'src', 'cli', 'bin.js');
    const lines: string[] = [];
    const runs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [cli, 'exec', '--variant', '6.12', '--', prog, '2000'], { encoding: 'utf8' });
      runs.push(performance.now() - t0);
      if (r.status !== 0) throw new Error(`exec op-costs exited ${String(r.status)}: ${r.stdout}${r.stderr}`);
      const line = r.stdout.split('\n').find((l) => l.startsWith('ioctl('));
      if (line !== undefined) lines.push(line);
    }
    const t1 = performance.now();
    const small = spawnSync(process.execPath, [cli, 'exec', '--variant', '6.12', '--', prog, '1'], { encoding: 'utf8' });
    const oneRun = performance.now() - t1;
    if (small.status !== 0) throw new Error('exec op-costs 1 failed');
    console.log(`\nexec (6.12, op-costs -O2, 2000 of each; 3 runs):\n  ${lines.join('\n  ')}`);
    console.log(`  whole exec run with 3 x 2000 operations: ${runs.map((ms) => `${(ms / 1000).toFixed(2)} s`).join(', ')}`);
    console.log(`  whole exec run with one of each (node start, server, boot, program, report): ${(oneRun / 1000).toFixed(2)} s`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
