/**
 * The UI's check (GET /api/check, server-sent events): cells arrive as they finish, then
 * the table; a knob override changes what the model finds — H2 under 5.8 with
 * faultLocking=hold-across-remap (6a45ece4c9af's locking, 5.13) leaves no stale mapping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CheckCellJson, CheckDoneJson, TraceJson } from '../../src/ui/protocol.js';
import { EXAMPLES, postJson, raw, startServer } from './helpers.js';

/** The events of a check stream, in order. */
function events(body: string): { event: string; data: unknown }[] {
  return body
    .split('\n\n')
    .filter((b) => b.trim() !== '')
    .map((b) => {
      const event = /^event: (.*)$/m.exec(b)?.[1] ?? '';
      const data = /^data: (.*)$/m.exec(b)?.[1] ?? 'null';
      return { event, data: JSON.parse(data) as unknown };
    });
}

test('check streams its cells then the table; a knob override (faultLocking=hold-across-remap) removes H2 from 5.8', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vfio-sim-uicheck-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const h2 = join(dir, 'h2.yaml');
  copyFileSync(join(EXAMPLES, 'h2-fault-races-disable.yaml'), h2);
  const s = await startServer([h2]);
  t.after(() => s.close());

  const plain = await raw(s.port, '/api/check?suite=given&variants=5.8,5.13&bound=2');
  assert.equal(plain.status, 200);
  assert.match(String(plain.headers['content-type']), /^text\/event-stream/);
  const ev = events(plain.body);
  assert.deepEqual(ev.map((e) => e.event), ['start', 'cell', 'cell', 'done']);
  const cells = ev.filter((e) => e.event === 'cell').map((e) => e.data as CheckCellJson);
  assert.deepEqual(cells.map((c) => c.variant), ['5.8', '5.13']);
  assert.ok(cells[0]?.counterexamples.some((x) => x.property === 'stale-mapping'));
  assert.match(cells[0]?.fileId ?? '', /^f\d+$/);
  const done = ev[3]?.data as CheckDoneJson;
  assert.ok(done.table['5.8']?.['stale-mapping'] !== undefined);
  assert.equal(done.table['5.13']?.['stale-mapping'], undefined);
  assert.equal(done.table['5.8']?.['stale-mapping']?.file, h2);

  const fixed = await raw(s.port, '/api/check?suite=given&variants=5.8&bound=2&knob=faultLocking=hold-across-remap');
  const done2 = events(fixed.body).find((e) => e.event === 'done')?.data as CheckDoneJson;
  assert.equal(done2.table['5.8']?.['stale-mapping'], undefined);

  // the other way: 5.13 with 5.8's fault locking breaks again, and the finding's token opens in the trace viewer
  const broken = await raw(s.port, '/api/check?suite=given&variants=5.13&bound=2&knob=faultLocking=drop-before-remap');
  const hit = (events(broken.body).find((e) => e.event === 'done')?.data as CheckDoneJson).table['5.13']?.['stale-mapping'];
  assert.ok(hit !== undefined && hit.fileId !== null);
  const tr = await postJson(s.port, '/api/trace', { id: hit.fileId, token: hit.token });
  assert.equal(tr.status, 200);
  const trace = JSON.parse(tr.body) as TraceJson;
  assert.match(trace.variant, /^5\.13 .*faultLocking=drop-before-remap/);
  assert.ok(trace.violations.some((v) => v.property === 'stale-mapping'));
});
