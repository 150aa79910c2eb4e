/** `vfio-sim ui`: its usage, bad input (exit 2 with a message), and the URL it prints. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../../src/cli/main.js';
import { uiCommand } from '../../src/cli/ui.js';
import type { UiServer } from '../../src/ui/server.js';
import { raw } from './helpers.js';

async function run(argv: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['ui', ...argv], (s) => (out += `${s}\n`), (s) => (err += `${s}\n`));
  return { code, out, err };
}

test('vfio-sim ui --help prints its usage; the top-level usage lists ui', async () => {
  const r = await run(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.out, /^usage: vfio-sim ui \[--port N\] \[scenario files or folders\.\.\.\]/);
  assert.match(r.out, /127\.0\.0\.1/);
  let top = '';
  main(['--help'], (s) => (top += s), () => undefined);
  assert.match(top, /^ {2}ui \[--port N\]/m);
});

test('vfio-sim ui refuses a bad port, an unknown flag and a missing file (exit 2, no stack trace)', async () => {
  for (const [argv, msg] of [
    [['--port', 'eighty'], /--port expects a port number 0-65535, got 'eighty'/],
    [['--port', '70000'], /--port expects a port number/],
    [['--bogus'], /vfio-sim ui: Unknown option '--bogus'/],
    [['/no/such/scenario.yaml'], /vfio-sim ui: no such file or folder '\/no\/such\/scenario\.yaml'/],
  ] as const) {
    const r = await run(argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.match(r.err, msg);
    assert.doesNotMatch(r.err, /\n\s+at /);
  }
});

test('vfio-sim ui prints its 127.0.0.1 URL, serves there, and stops when interrupted (Ctrl-C)', async () => {
  const signal = { interrupted: false };
  let out = '';
  let server: UiServer | null = null;
  const done = uiCommand([], (s) => (out += s), () => undefined, undefined, signal, (s) => (server = s));
  while (server === null) await new Promise((r) => setTimeout(r, 20));
  const s = server as UiServer;
  assert.equal(out, `vfio-sim ui: serving on ${s.url} (Ctrl-C stops)`);
  assert.equal((await raw(s.port, '/')).status, 200);
  signal.interrupted = true;
  assert.equal(await done, 0);
  await assert.rejects(raw(s.port, '/'), /ECONNREFUSED/);
});
