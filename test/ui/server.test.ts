/**
 * The `vfio-sim ui` server's security: it listens on 127.0.0.1 only, serves only its own
 * assets and the files it was given (no path traversal, no symlink out of a given folder),
 * sends a content security policy, and refuses requests whose Host or Origin is not its own
 * (DNS rebinding, cross-site requests).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StaticAssets } from '../../src/ui/static-assets.js';
import { FileRegistry } from '../../src/ui/file-registry.js';
import { CONTENT_SECURITY_POLICY } from '../../src/ui/security.js';
import type { FileJson } from '../../src/ui/protocol.js';
import { EXAMPLES, postJson, raw, startServer } from './helpers.js';

const H2 = readFileSync(join(EXAMPLES, 'h2-fault-races-disable.yaml'), 'utf8');

/** A folder with a scenario, a symlink leading outside it, and a scenario given by name. */
function fixture(): { dir: string; folder: string; given: string; secret: string } {
  const dir = mkdtempSync(join(tmpdir(), 'vfio-sim-ui-'));
  const folder = join(dir, 'scenarios');
  mkdirSync(folder);
  writeFileSync(join(folder, 'h2.yaml'), H2);
  const secret = join(dir, 'secret.yaml');
  writeFileSync(secret, 'name: SECRET-OUTSIDE-THE-FOLDER\n');
  symlinkSync(secret, join(folder, 'escape.yaml'));
  const given = join(dir, 'mine.yaml');
  writeFileSync(given, H2);
  return { dir, folder, given, secret };
}

test('the server listens on 127.0.0.1 only: a connection through 127.0.0.2 is refused', async (t) => {
  const s = await startServer();
  t.after(() => s.close());
  assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
    const c = connect({ host: '127.0.0.2', port: s.port });
    c.on('connect', () => {
      c.destroy();
      resolve(null);
    });
    c.on('error', (e) => resolve(e));
  });
  assert.ok(err !== null, 'a connection through 127.0.0.2 must not be accepted');
  assert.equal(err.code, 'ECONNREFUSED');
  const ok = await raw(s.port, '/');
  assert.equal(ok.status, 200);
});

test('the app is served with a content security policy that allows only its own assets', async (t) => {
  const s = await startServer();
  t.after(() => s.close());
  const page = await raw(s.port, '/');
  assert.equal(page.status, 200);
  assert.match(page.body, /<div id="app">/);
  assert.equal(page.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
  assert.match(CONTENT_SECURITY_POLICY, /default-src 'none'/);
  assert.match(CONTENT_SECURITY_POLICY, /script-src 'self'/);
  assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval/);
  assert.equal(page.headers['x-content-type-options'], 'nosniff');
  // the page's script is one of the served assets
  const src = /src="\.\/(assets\/[^"]+\.js)"/.exec(page.body)?.[1];
  assert.ok(src !== undefined, 'index.html loads its script from assets/');
  const js = await raw(s.port, `/${src}`);
  assert.equal(js.status, 200);
  assert.match(String(js.headers['content-type']), /javascript/);
  const api = await raw(s.port, '/api/files');
  assert.equal(api.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
});

test('path traversal out of the assets folder is refused, however it is spelled', async (t) => {
  const s = await startServer();
  t.after(() => s.close());
  const attempts = [
    '/..%2f..%2fpackage.json',
    '/assets/..%2f..%2f..%2fpackage.json',
    '/%2e%2e/%2e%2e/package.json',
    '/%2e%2e%2f%2e%2e%2fpackage.json',
    '/../../package.json',
    '/assets/../../../package.json',
    '/..%5c..%5cpackage.json',
    '/..%252f..%252fpackage.json',
    '/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/assets%2f..%2f..%2f..%2fsrc%2fui%2fserver.ts',
    '/index.html%00.js',
    '/%c0%ae%c0%ae/package.json',
  ];
  for (const path of attempts) {
    const r = await raw(s.port, path);
    assert.ok(r.status === 404 || r.status === 400, `${path}: status ${r.status}`);
    assert.doesNotMatch(r.body, /"name": "vfio-sim"|root:x:0|startUiServer/, `${path} leaked a file`);
  }
});

test('an asset folder symlink leading outside the folder is not served', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vfio-sim-assets-'));
  try {
    const web = join(dir, 'web');
    mkdirSync(web);
    writeFileSync(join(web, 'index.html'), '<p>app</p>');
    writeFileSync(join(dir, 'outside.txt'), 'OUTSIDE');
    symlinkSync(join(dir, 'outside.txt'), join(web, 'leak.txt'));
    const a = new StaticAssets(web);
    assert.equal(a.lookup('/').ok, true);
    const r = a.lookup('/leak.txt');
    assert.equal(r.ok, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('files: a given folder is listed read-only without the symlink that leads outside it; a file given by name is writable', async (t) => {
  const f = fixture();
  t.after(() => rmSync(f.dir, { recursive: true, force: true }));
  const s = await startServer([f.folder, f.given]);
  t.after(() => s.close());
  const list = JSON.parse((await raw(s.port, '/api/files')).body) as FileJson[];
  const given = list.filter((x) => !x.example);
  assert.deepEqual(given.map((x) => [x.name.endsWith('h2.yaml') || x.name.endsWith('mine.yaml'), x.writable]), [[true, false], [true, true]]);
  assert.ok(!list.some((x) => x.name.includes('escape')), 'the symlink out of the folder is not listed');
  assert.ok(list.some((x) => x.example && x.name === 'examples/h2-fault-races-disable.yaml'));
  // no id reaches the secret: unknown ids and path-like ids are refused
  for (const id of ['f999', '../secret.yaml', f.secret, '..%2fsecret.yaml']) {
    const r = await raw(s.port, `/api/file?id=${encodeURIComponent(id)}`);
    assert.equal(r.status, 404, id);
    assert.doesNotMatch(r.body, /SECRET/);
  }
  const inFolder = given[0] as FileJson;
  const mine = given[1] as FileJson;
  const refused = await postJson(s.port, '/api/save', { id: inFolder.id, text: 'x' });
  assert.equal(refused.status, 403);
  assert.match(refused.body, /read-only/);
  const example = list.find((x) => x.example) as FileJson;
  assert.equal((await postJson(s.port, '/api/save', { id: example.id, text: 'x' })).status, 403);
  const saved = await postJson(s.port, '/api/save', { id: mine.id, text: `${H2}# edited\n` });
  assert.equal(saved.status, 200);
  assert.match(readFileSync(f.given, 'utf8'), /# edited\n$/);
});

test('FileRegistry refuses a file whose folder symlink was changed to lead outside after listing', () => {
  const f = fixture();
  try {
    const reg = new FileRegistry();
    reg.add(f.folder);
    const id = reg.list()[0]?.id ?? '';
    assert.match(reg.read(id) ?? '', /^# yaml-language-server/);
    rmSync(join(f.folder, 'h2.yaml'));
    symlinkSync(f.secret, join(f.folder, 'h2.yaml'));
    assert.equal(reg.read(id), null);
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});

test('DNS rebinding and cross-site requests: a Host or Origin that is not the server is refused', async (t) => {
  const s = await startServer();
  t.after(() => s.close());
  for (const host of ['evil.example', `evil.example:${s.port}`, `127.0.0.1:${s.port + 1}`, `127.0.0.2:${s.port}`, '127.0.0.1', `127.0.0.1:${s.port}.evil.example`]) {
    const r = await raw(s.port, '/api/files', { headers: { Host: host } });
    assert.equal(r.status, 403, `Host '${host}'`);
    assert.match(r.body, /refused: Host/);
  }
  assert.equal((await raw(s.port, '/api/files', { headers: { Host: `localhost:${s.port}` } })).status, 200);
  const cross = await raw(s.port, '/api/files', { headers: { Origin: 'http://evil.example' } });
  assert.equal(cross.status, 403);
  assert.match(cross.body, /refused: Origin/);
  const site = await raw(s.port, '/api/files', { headers: { 'Sec-Fetch-Site': 'cross-site' } });
  assert.equal(site.status, 403);
  // a POST must say it comes from the server's own page
  const noOrigin = await raw(s.port, '/api/validate', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"text":""}' });
  assert.equal(noOrigin.status, 403);
  const evil = await raw(s.port, '/api/validate', { method: 'POST', headers: { Origin: 'http://127.0.0.1.evil.example', 'Content-Type': 'application/json' }, body: '{"text":""}' });
  assert.equal(evil.status, 403);
  const own = await postJson(s.port, '/api/validate', { text: '' });
  assert.equal(own.status, 200);
});

test('bad requests get a clear error, not a stack trace (a trace or ITF export with a bad token, no token for the ITF export, a bad knob)', async (t) => {
  const s = await startServer();
  t.after(() => s.close());
  const notJson = await raw(s.port, '/api/trace', { method: 'POST', headers: { Origin: `http://127.0.0.1:${s.port}`, 'Content-Type': 'application/json' }, body: '{' });
  assert.equal(notJson.status, 400);
  assert.deepEqual(JSON.parse(notJson.body), { error: 'the body is not JSON' });
  const badToken = await postJson(s.port, '/api/trace', { text: H2, token: 'nonsense' });
  assert.equal(badToken.status, 400);
  assert.doesNotMatch(badToken.body, /at \w+ \(/);
  // the ITF export replays a token: none, or a bad one, is a 400 with the reason
  const noToken = await postJson(s.port, '/api/itf', { text: H2 });
  assert.equal(noToken.status, 400);
  assert.match(JSON.parse(noToken.body).error as string, /expected 'token'/);
  const badItf = await postJson(s.port, '/api/itf', { text: H2, token: 'nonsense' });
  assert.equal(badItf.status, 400);
  assert.doesNotMatch(badItf.body, /at \w+ \(/);
  const badKnob = await raw(s.port, '/api/check?knob=noSuchKnob=1');
  assert.equal(badKnob.status, 400);
  assert.match(JSON.parse(badKnob.body).error as string, /unknown knob 'noSuchKnob'/);
  assert.equal((await raw(s.port, '/api/nothing')).status, 404);
});
