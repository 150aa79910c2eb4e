/**
 * The web UI in a real browser (playwright-core driving Debian's chromium): start
 * `vfio-sim ui`, run check on the built-in suite, open H2's finding under 5.8, step to where
 * the stale mapping is left behind and read the memory and lock panes there; open the v2
 * lockdep cycle and read the highlighted classes; edit a scenario into an error and see
 * the loader's positioned message. A screenshot of the trace viewer is saved under
 * test-artifacts/.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { uiCommand } from '../../src/cli/ui.js';
import { loadScenario } from '../../src/index.js';
import { replayFinding } from '../../src/scenario/explore.js';
import type { UiServer } from '../../src/ui/server.js';
import type { FileJson } from '../../src/ui/protocol.js';
import { EXAMPLES, ROOT } from './helpers.js';
import { launchChromium } from './browser-helpers.js';

const ARTIFACTS = join(ROOT, 'test-artifacts');
const EDU0 = '0000:01:00.0';

let browser: Browser;
let server: UiServer;
let printed = '';
const signal = { interrupted: false };
let stopped: Promise<number>;

before(async () => {
  browser = await launchChromium();
  await new Promise<void>((resolve, reject) => {
    stopped = uiCommand(['--port', '0'], (s) => (printed += `${s}\n`), (s) => reject(new Error(s)), undefined, signal, (s) => {
      server = s;
      resolve();
    });
    stopped.catch(reject);
  });
});

after(async () => {
  signal.interrupted = true;
  await stopped;
  await browser.close();
});

async function fileId(name: string): Promise<string> {
  const files = (await (await fetch(`${server.url}api/files`)).json()) as FileJson[];
  const f = files.find((x) => x.name === name);
  assert.ok(f !== undefined, name);
  return f.id;
}

/** Script errors and console errors (a CSP violation is one) of each page. */
const pageErrors = new WeakMap<Page, string[]>();

async function newPage(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1500, height: 1300 } });
  const errors: string[] = [];
  pageErrors.set(page, errors);
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  return page;
}

/** Close `page`, which must have had no script error and no CSP violation. */
async function closePage(page: Page): Promise<void> {
  await page.close();
  assert.deepEqual(pageErrors.get(page), [], 'no script error and no CSP violation in the page');
}

/** Run `open` (a click that opens a trace) and wait for the new trace viewer. */
async function openTrace(page: Page, open: () => Promise<void>): Promise<void> {
  const viewer = page.getByTestId('trace-viewer');
  const before = (await viewer.count()) > 0 ? await viewer.getAttribute('data-load') : null;
  await open();
  await until('the new trace', async () => (await viewer.count()) > 0 && (await viewer.getAttribute('data-load')) !== before && (await viewer.isVisible()), 120_000);
}

/** Poll `cond` until it holds (at most `ms`), failing with `what`. */
async function until(what: string, cond: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Press `key` and wait for the cursor to be repainted. */
async function press(page: Page, key: string): Promise<void> {
  const cursor = page.getByTestId('cursor');
  const before = await cursor.textContent();
  await page.keyboard.press(key);
  await until(`the cursor to move (${key})`, async () => (await cursor.textContent()) !== before, 10_000);
}

/** Press ← until the events pane shows `text` (at most `max` steps back). */
async function stepBackTo(page: Page, text: string, max: number): Promise<void> {
  for (let i = 0; i < max; i++) {
    if ((await page.getByTestId('events-pane').textContent())?.includes(text) === true) return;
    await press(page, 'ArrowLeft');
  }
  assert.fail(`no step with '${text}' within ${max} steps back`);
}

test('vfio-sim ui prints its URL on 127.0.0.1', () => {
  assert.match(printed, /serving on http:\/\/127\.0\.0\.1:\d+\//);
});

test("check fills the variant × property table live; H2's finding under 5.8 opens in the trace viewer, where the memory and lock panes show the stale mapping", { timeout: 300_000 }, async () => {
  const page = await newPage();
  await page.goto(server.url);
  await page.getByTestId('run-check').click();
  await page.getByTestId('progress').waitFor();
  // cells arrive one by one (server-sent events) before the table is done
  const progressText = async (): Promise<string> => (await page.getByTestId('progress').textContent()) ?? '';
  await until('a first cell', async () => /cells [1-9]\d*\//.test(await progressText()), 120_000);
  assert.doesNotMatch(await progressText(), /done/, 'the table fills in before the check is done');
  await until('the check to finish', async () => (await progressText()).includes('done'), 280_000);
  const progress = (await page.getByTestId('progress').textContent()) ?? '';
  assert.match(progress, /cells (\d+)\/\1 — done, every defect where declared/);
  // 5.8 breaks stale-mapping; 5.13 (6a45ece4c9af) does not break it under the preset
  const cell = page.locator('td[data-variant="5.8"][data-property="stale-mapping"]');
  assert.equal(await cell.getAttribute('class'), 'broken');
  await cell.hover();
  const hover = (await page.getByTestId('check-hover').textContent()) ?? '';
  assert.match(hover, /5\.8 breaks stale-mapping in examples\/\S+\.yaml: /);
  // a click opens the cell's counterexample in the trace viewer, replayed from its token
  await openTrace(page, () => cell.click());
  assert.match((await page.getByTestId('violations').textContent()) ?? '', /stale-mapping/);
  // an example is named in the share URL by its name, the same on any machine
  assert.match(page.url(), /#trace\?id=examples%2F[\w.-]+\.yaml&token=/);
  // under the table, the defects as check prints them: H2 (stale-mapping) found under 5.7, v2,
  // 5.8 and 5.9 where its scenario declares it, not under 5.13 (6a45ece4c9af) or later
  await page.getByTestId('tab-check').click();
  const defects = page.getByTestId('defects');
  const h2Row = defects.locator('tr[data-defect="H2"]');
  assert.equal(await h2Row.getAttribute('data-ok'), 'yes');
  const foundIn = await h2Row.locator('td[data-found=yes]').evaluateAll((els) => els.map((e) => e.getAttribute('data-variant')));
  assert.deepEqual(foundIn, ['5.7', 'v2', '5.8', '5.9']);
  assert.equal(await h2Row.locator('td[data-variant="5.13"]').getAttribute('data-found'), 'no');
  assert.match((await h2Row.textContent()) ?? '', /stale-mapping.*in 5\.7, v2, 5\.8, 5\.9.*examples\/h2-fault-races-disable\.yaml/);
  assert.equal(await defects.locator('tr[data-ok=no]').count(), 0, 'every defect where declared');
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'check-defects.png'), fullPage: true });
  // a finding opens its own scenario's counterexample under that variant
  await openTrace(page, () => h2Row.locator('td[data-variant="5.8"] button').click());
  assert.equal(await page.getByTestId('trace-variant').textContent(), '5.8');
  assert.equal(await page.getByTestId('trace-scenario').textContent(), 'H2 fault racing a MEM disable leaves a live untracked mapping');
  assert.match((await page.getByTestId('violations').textContent()) ?? '', /stale-mapping/);
  // H2's own finding: its scenario explored under 5.8 from the editor
  await page.getByTestId('tab-editor').click();
  await page.getByTestId('editor-file').selectOption({ label: 'examples/h2-fault-races-disable.yaml (read-only)' });
  await until('the file to load', async () => (await page.getByTestId('editor-text').inputValue()).includes('H2 fault racing'));
  await page.getByTestId('editor-variant').selectOption('5.8');
  await page.getByTestId('editor-explore').click();
  await page.getByTestId('editor-found').getByRole('button', { name: 'stale-mapping' }).waitFor({ timeout: 120_000 });
  await openTrace(page, () => page.getByTestId('editor-found').getByRole('button', { name: 'stale-mapping' }).click());
  assert.equal(await page.getByTestId('trace-variant').textContent(), '5.8');
  // the step where the property breaks: the disable has completed, the PTEs are still there
  await page.getByTestId('break-stale-mapping').click();
  assert.match((await page.getByTestId('step-break').textContent()) ?? '', /stale-mapping/);
  const mem = page.getByTestId('memory-pane');
  const vma = mem.locator('tr.vma');
  assert.equal(await vma.getAttribute('data-tracked'), 'no');
  assert.equal(await vma.getAttribute('data-present'), '256');
  assert.match((await vma.getByTestId('present').textContent()) ?? '', /256 present: 0x[0-9a-f]+ → pfn 0xc0000 \(BAR0\)/);
  assert.equal(await mem.locator(`[data-device="${EDU0}"] [data-testid=vma-list]`).textContent(), 'empty');
  const dev = page.getByTestId('device-pane').locator(`[data-device="${EDU0}"]`);
  assert.match((await dev.getByTestId('vconfig').textContent()) ?? '', /\bmem\b/);
  assert.match((await dev.getByTestId('hwcommand').textContent()) ?? '', /\bmem\b/);
  assert.match((await dev.getByTestId('bar0').textContent()) ?? '', /decode off/);
  // back to where the stale mapping is left behind: the fault's remap into the untracked vma
  await stepBackTo(page, 'remap_pfn_range: PTEs installed', 200);
  assert.match((await page.getByTestId('events-pane').locator('h3').textContent()) ?? '', /vcpu at/);
  assert.equal(await vma.getAttribute('data-tracked'), 'no');
  assert.equal(await vma.getAttribute('data-present'), '256');
  assert.match((await dev.getByTestId('bar0').textContent()) ?? '', /decode on/);
  const locks = page.getByTestId('locks-pane');
  assert.equal(await locks.locator(`tr[data-lock="memory_lock:${EDU0}"] [data-testid=holders]`).textContent(), 'vcpu (read)');
  assert.match((await locks.locator(`tr[data-lock="vma_lock:${EDU0}"] [data-testid=holders]`).textContent()) ?? '', /^main \(write\)$/);
  assert.match((await locks.locator('tr[data-lock="mmap_lock:mm2"] [data-testid=holders]').textContent()) ?? '', /vcpu \(read\)/);
  // the cursor moves with the keyboard and the scrubber
  const at = (await page.getByTestId('cursor').textContent()) ?? '';
  await press(page, 'ArrowRight');
  assert.notEqual(await page.getByTestId('cursor').textContent(), at);
  await press(page, 'ArrowLeft');
  assert.equal(await page.getByTestId('cursor').textContent(), at);
  await press(page, 'Home');
  assert.match((await page.getByTestId('cursor').textContent()) ?? '', /^step 1 \//);
  await press(page, 'End');
  assert.match((await page.getByTestId('cursor').textContent()) ?? '', /^step (\d+) \/ \1$/);
  // keys pressed faster than the page repaints all count
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('ArrowLeft');
  await until('three steps back', async () => /^step (\d+) \/ (\d+)$/.exec((await page.getByTestId('cursor').textContent()) ?? '')?.slice(1).map(Number).reduce((a, b) => b - a) === 3, 10_000);
  await stepBackTo(page, 'remap_pfn_range: PTEs installed', 200);
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'trace-viewer.png'), fullPage: true });
  // the share URL carries the scenario and token
  assert.match(page.url(), /#trace\?id=examples%2Fh2-fault-races-disable\.yaml&token=/);
  // the trace exports as a self-contained SVG sequence diagram
  const [svg] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-svg').click()]);
  const text = readFileSync(await svg.path(), 'utf8');
  assert.match(text, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(text, />vcpu<\/text>/);
  assert.match(text, /✗ stale-mapping/);
  assert.doesNotMatch(text, /<script|href=/);
  // and as ITF, the run of its token as explore --json gives a counterexample: one state per event
  const [itfDownload] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-itf').click()]);
  const itfTrace = JSON.parse(readFileSync(await itfDownload.path(), 'utf8')) as { '#meta': { format: string; description: string }; vars: string[]; states: { '#meta': { index: number }; kind: string }[] };
  assert.equal(itfTrace['#meta'].format, 'ITF');
  assert.match(itfTrace['#meta'].description, /stale-mapping: /);
  assert.deepEqual(itfTrace.vars, ['seq', 'thread', 'kind', 'text']);
  const token = (await page.getByTestId('trace-token').textContent()) ?? '';
  const h2 = loadScenario(readFileSync(join(EXAMPLES, 'h2-fault-races-disable.yaml'), 'utf8'), join(EXAMPLES, 'h2-fault-races-disable.yaml'));
  assert.ok(h2.ok);
  const { run } = replayFinding(h2.scenario, token);
  assert.equal(itfTrace.states.length, run.events.length, 'one ITF state per event of the run');
  assert.deepEqual(itfTrace.states.map((st) => st.kind), run.events.map((e) => e.kind));
  assert.ok(itfTrace.states.every((st, i) => st['#meta'].index === i));
  await closePage(page);
});

test('the v2 lockdep cycle: the graph highlights kvm->lock, vcpu->mutex, memory_lock and the irqbypass lock', { timeout: 120_000 }, async () => {
  const page = await newPage();
  await page.goto(`${server.url}#trace?id=${await fileId('examples/v2-lockdep-cycle.yaml')}`);
  await page.getByTestId('trace-viewer').waitFor({ timeout: 60_000 });
  await page.getByTestId('goto-lockdep').click();
  assert.equal(await page.getByTestId('lockdep-cycle').textContent(), 'cycle: &kvm->lock → &vcpu->mutex → &vdev->memory_lock → lock → &kvm->lock');
  const hot = await page.locator('[data-testid=lockdep-graph] g.node[data-cycle=yes]').evaluateAll((els) => els.map((e) => e.getAttribute('data-class')).sort());
  assert.deepEqual(hot, ['&kvm->lock', '&vcpu->mutex', '&vdev->memory_lock', 'lock']);
  const cold = await page.locator('[data-testid=lockdep-graph] g.node[data-cycle=no]').count();
  assert.ok(cold > 0, 'the other classes are drawn, not highlighted');
  assert.equal(await page.locator('[data-testid=lockdep-graph] polyline[data-cycle=yes]').count(), 4);
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'lockdep-cycle.png'), fullPage: true });
  await closePage(page);
});

test("the editor shows the loader's positioned error as you type and completes the keys the JSON Schema allows at the caret's YAML path", { timeout: 60_000 }, async () => {
  const page = await newPage();
  await page.goto(server.url);
  await page.getByTestId('tab-editor').click();
  await page.getByTestId('editor-file').selectOption({ label: 'examples/h2-fault-races-disable.yaml (read-only)' });
  await until('the file to load', async () => (await page.getByTestId('editor-text').inputValue()).includes('clear_mem: dev'));
  const text = readFileSync(join(EXAMPLES, 'h2-fault-races-disable.yaml'), 'utf8').replace('clear_mem: dev ', 'clear_mem: nodev');
  const expected = loadScenario(text, 'examples/h2-fault-races-disable.yaml');
  assert.equal(expected.ok, false);
  const first = expected.ok ? null : expected.errors[0];
  assert.ok(first !== null && first !== undefined);
  await page.getByTestId('editor-text').fill(text);
  const message = `examples/h2-fault-races-disable.yaml:${first.line}:${first.col}: ${first.message}`;
  const shown = async (): Promise<string> => ((await page.getByTestId('editor-errors').locator('li').count()) > 0 ? ((await page.getByTestId('editor-errors').locator('li').first().textContent()) ?? '') : '');
  await until(`the loader's error ${message}`, async () => (await shown()) === message);
  assert.match(message, /:\d+:\d+: unknown name 'nodev'/);
  assert.equal(await page.locator('.y-line.y-error').count() > 0, true, 'the line is marked in the editor');
  assert.equal(await page.getByTestId('editor-save').isDisabled(), true, 'an example is read-only');
  // completion from the scenario JSON Schema: a key being typed, taken with Tab
  const area = page.getByTestId('editor-text');
  await area.fill(`${text}          - clear_m`);
  await area.press('End');
  await until('completions', async () => ((await page.getByTestId('editor-completions').textContent()) ?? '').includes('clear_mem'));
  await area.press('Tab');
  await until('the completed key', async () => (await area.inputValue()).endsWith('- clear_mem: '));
  // the keys valid at the caret's YAML path, not any key: at the top a scenario's keys, in a
  // thread's step the operations and a step's own keys, in an operation's flow mapping its arguments
  const chips = async (): Promise<string[]> => page.getByTestId('editor-completions').locator('button').evaluateAll((els) => els.map((e) => e.textContent ?? ''));
  const offered = async (typed: string, want: string): Promise<string[]> => {
    await area.fill(`${text}${typed}`);
    await area.press('End');
    await until(`'${want}' offered after '${typed.trim()}'`, async () => (await chips()).includes(want));
    return chips();
  };
  const top = await offered('pr', 'processes');
  assert.deepEqual(top, ['processes', 'properties'], 'top-level keys');
  const inStep = await offered('          - pr', 'pread');
  assert.ok(!inStep.includes('processes') && !inStep.includes('properties'), inStep.join(','));
  const inPread = await offered('          - pread: { fd: dev, re', 'region');
  assert.ok(!inPread.includes('clear_mem') && inPread.every((k) => k.startsWith('re')), inPread.join(','));
  await closePage(page);
});

test('the variants grid: comparing 5.9 and 5.13 shows the two knobs 5.13 changed (6a45ece4c9af and the ioeventfd trylock)', { timeout: 60_000 }, async () => {
  const page = await newPage();
  await page.goto(server.url);
  await page.getByTestId('tab-variants').click();
  await until('the grid', async () => (await page.locator('[data-testid=variants-view] tr[data-knob]').count()) > 10);
  await page.getByTestId('compare-0').selectOption('5.9');
  await page.getByTestId('compare-1').selectOption('5.13');
  const knobs = await page.locator('[data-testid=variants-view] tr[data-knob]').evaluateAll((els) => els.map((e) => e.getAttribute('data-knob')));
  assert.deepEqual(knobs, ['faultLocking', 'ioeventfdWrite']);
  assert.equal(await page.getByTestId('diff-count').textContent(), '2 knobs differ');
  await closePage(page);
});
