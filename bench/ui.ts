/**
 * `node dist/bench/ui.js`: the trace viewer on a trace of about 5,000 scheduler steps —
 * how long the server takes to replay it and read the model's state after every step, how
 * long the browser takes to open it (share URL to the viewer drawn), and how long moving the
 * cursor one step takes to repaint (key press to the next frame). Issue #17's targets:
 * open < 2 s, one step < 50 ms. Needs Debian's chromium (/usr/bin/chromium).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { loadScenario } from '../src/index.js';
import { recordTrace } from '../src/ui/trace-recorder.js';
import { startUiServer } from '../src/ui/server.js';
import type { FileJson } from '../src/ui/protocol.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Two threads of `n` preads each of the mapped BAR (each a down_read/up_read of memory_lock) and loads. */
function scenario(n: number): string {
  const steps = (op: string): string => Array.from({ length: n }, () => `          - ${op}\n`).join('');
  return `name: ui bench, a long trace
variant: '5.8'
processes:
  - name: qemu
    setup:
      - open_device: edu0
        as: dev
      - mmap: { fd: dev, region: bar0 }
        as: bar
    threads:
      - name: a
        steps:
${steps('pread: { fd: dev, region: bar0, size: 4 }')}      - name: b
        steps:
${steps('load: bar')}`;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vfio-sim-uibench-'));
  const file = join(dir, 'long.yaml');
  // size the threads so that the run takes about 5,000 scheduler steps
  let n = 600;
  let steps = 0;
  for (;;) {
    const l = loadScenario(scenario(n), file);
    if (!l.ok) throw new Error(l.errors.map((e) => `${e.line}:${e.col}: ${e.message}`).join('\n'));
    const t0 = performance.now();
    const t = recordTrace(l.scenario, {});
    steps = t.steps.length;
    if (steps >= 5000) {
      const ms = performance.now() - t0;
      writeFileSync(file, scenario(n));
      console.log(`trace: ${steps} steps, ${t.states.length} distinct states, ${(JSON.stringify(t).length / 1e6).toFixed(1)} MB of JSON; replay and state reads: ${ms.toFixed(0)} ms`);
      break;
    }
    n = Math.ceil((n * 5100) / steps);
  }
  const server = await startUiServer({ port: 0, assetsDir: join(ROOT, 'dist', 'web'), examplesDir: join(ROOT, 'examples'), paths: [file] });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  try {
    const files = (await (await fetch(`${server.url}api/files`)).json()) as FileJson[];
    const id = files.find((f) => !f.example)?.id ?? '';
    const opens: number[] = [];
    const repaints: number[] = [];
    for (let round = 0; round < 3; round++) {
      const page = await browser.newPage({ viewport: { width: 1500, height: 1200 } });
      const t0 = performance.now();
      await page.goto(`${server.url}#trace?id=${id}`);
      await page.getByTestId('trace-viewer').waitFor({ timeout: 60_000 });
      opens.push(performance.now() - t0);
      // one step: key press to the frame after the repaint, timed in the page
      const ms = (await page.evaluate(`(async () => {
        const out = [];
        const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
        for (let i = 0; i < 60; i++) {
          const t = performance.now();
          window.dispatchEvent(new KeyboardEvent('keydown', { key: i % 2 === 0 ? 'ArrowRight' : 'ArrowLeft' }));
          await frame();
          out.push(performance.now() - t);
        }
        return out;
      })()`)) as number[];
      repaints.push(...ms);
      await page.close();
    }
    console.log(`open (share URL to the viewer drawn, replay included): median ${median(opens).toFixed(0)} ms, max ${Math.max(...opens).toFixed(0)} ms (target < 2000 ms)`);
    console.log(`one step (key press to the next frame): median ${median(repaints).toFixed(1)} ms, max ${Math.max(...repaints).toFixed(1)} ms over ${repaints.length} steps (target < 50 ms)`);
  } finally {
    await browser.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
