/**
 * Replay tokens: a checksum (any changed character is refused, never replayed as another
 * execution), bounds on their length and on the choices they decode to (checked before
 * allocating), a hash of what decides the execution only (not the name, comments or
 * expectations), and the replay of an explorer's finding leading with its properties.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodeToken, encodeToken, runScenario, ScenarioInputError } from '../../src/scenario/index.js';
import { exploreScenario } from '../../src/scenario/explore.js';
import { MAX_TOKEN_CHARS } from '../../src/scenario/schedule.js';
import { load } from './helpers.js';
import { runCli } from '../cli/helpers.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';


const TWO = `name: two threads
description: a disable racing two loads
expect: { platform_errors: 0 }
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
          - load: bar            # a comment
            expect: 0x010000ed
          - store: { at: bar+0x4, value: 0x11 }
      - name: b
        steps:
          - clear_mem: dev
          - load: bar
`;

/** base64url of bytes (as tokens are written). */
function b64(bytes: readonly number[]): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = ((bytes[i] ?? 0) << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = i + 2 < bytes.length ? 4 : i + 1 < bytes.length ? 3 : 2;
    for (let j = 0; j < chars; j++) s += B64[(n >> (18 - 6 * j)) & 63];
  }
  return s;
}

function crc32(bytes: readonly number[]): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

test('a replay token with any one character changed, dropped or added is refused (bad input, one line), never replayed as another execution', () => {
  const s = load(TWO);
  const r = runScenario(s, { seed: 7 });
  const tok = r.token;
  assert.ok(tok.startsWith('vs1.'));
  let tried = 0;
  const refuse = (t: string): void => {
    tried++;
    assert.throws(() => runScenario(s, { replay: t }), (e: unknown) => e instanceof ScenarioInputError && /^bad replay token: [^\n]+$/.test(e.message), t);
  };
  for (let i = 0; i < tok.length; i++) {
    for (const ch of `${B64}.=+/ `) {
      if (ch === tok[i]) continue;
      const t = tok.slice(0, i) + ch + tok.slice(i + 1);
      if (t.trim() === tok) continue; // a space at either end is trimmed: the same token
      refuse(t);
    }
    refuse(tok.slice(0, i) + tok.slice(i + 1));
    refuse(`${tok.slice(0, i)}A${tok.slice(i)}`);
  }
  assert.ok(tried > 2000, `${tried} mutations`);
  // the token itself still replays the run
  assert.equal(runScenario(s, { replay: tok }).token, tok);
});

test('a token that decodes to more choices than the scenario can make is refused before decoding them (a 45-character token naming 100 million choices)', () => {
  const s = load(TWO);
  const t = decodeToken(runScenario(s).token);
  // version 2, no flags, variant, no knobs, the hash, 100 000 000 choices as one run of 0s
  const bytes: number[] = [2, 0, t.variant.length, ...new TextEncoder().encode(t.variant), 0];
  for (let i = 0; i < 16; i += 2) bytes.push(parseInt(t.hash.slice(i, i + 2), 16));
  const varint = (v: number): void => {
    let x = v;
    while (x >= 0x80) {
      bytes.push((x & 0x7f) | 0x80);
      x = Math.floor(x / 128);
    }
    bytes.push(x);
  };
  varint(100_000_000);
  bytes.push(0);
  varint(1);
  varint(0);
  varint(100_000_000);
  const c = crc32(bytes);
  bytes.push(c >>> 24, (c >>> 16) & 0xff, (c >>> 8) & 0xff, c & 0xff);
  const huge = `vs1.${b64(bytes)}`;
  assert.ok(huge.length < 50, huge);
  const t0 = performance.now();
  assert.throws(() => runScenario(s, { replay: huge }), /bad replay token: 100000000 choices, more than this scenario's runs can make \(at most 400000\)/);
  assert.ok(performance.now() - t0 < 500, `${performance.now() - t0} ms`);
  // a token of the layout before checksums (version 1) naming 20 million choices: refused at once, not decoded
  const hash: number[] = [];
  for (let i = 0; i < 16; i += 2) hash.push(parseInt(t.hash.slice(i, i + 2), 16));
  // 20 000 000 = varint 80 da c4 09
  const v1 = `vs1.${b64([1, 3, ...new TextEncoder().encode('5.8'), 0, ...hash, 0x80, 0xda, 0xc4, 0x09, 0, 1, 0, 0x80, 0xda, 0xc4, 0x09])}`;
  const t1 = performance.now();
  assert.throws(() => runScenario(s, { replay: v1 }), /bad replay token: a token of an earlier vfio-sim/);
  assert.ok(performance.now() - t1 < 500, `${performance.now() - t1} ms`);
  // and any text longer than a token can be is refused unread
  assert.throws(() => decodeToken(`vs1.${'A'.repeat(MAX_TOKEN_CHARS)}`), /longer than any token/);
});

test('a replay token stays valid when the name, description, comments, layout or expectations change, and not when the machine, a step or max_steps does', () => {
  const s = load(TWO);
  const tok = runScenario(s, { seed: 3 }).token;
  const same = [
    TWO.replace('name: two threads', 'name: renamed'),
    TWO.replace('description: a disable racing two loads\n', ''),
    TWO.replace('          - load: bar            # a comment\n            expect: 0x010000ed', '          - { load: bar }'),
    TWO.replace('expect: { platform_errors: 0 }', 'expect: { platform_errors: 3, bug: true }'),
    `# a new comment\nschedule: rr\nvariant: '5.7'\n${TWO}`,
  ];
  for (const text of same) {
    const t = load(text);
    assert.equal(t.hash, s.hash, text);
    const again = runScenario(t, { replay: tok });
    assert.deepEqual(again.choices, decodeToken(tok).choices);
  }
  const other = [
    TWO.replace('value: 0x11', 'value: 0x12'),
    TWO.replace('name: b\n', 'name: c\n'),
    `max_steps: 1000\n${TWO}`,
    `machine: { devices: [edu, edu] }\n${TWO}`,
  ];
  for (const text of other) {
    const t = load(text);
    assert.notEqual(t.hash, s.hash, text);
    assert.throws(() => runScenario(t, { replay: tok }), /the replay token is for a different scenario, or for this one before a change to its machine, processes, steps or max_steps/);
  }
});

test('vfio-sim replay with a token of another scenario, of an unknown variant or a changed character: exit 2 and a one-line reason that names the replay command', () => {
  const a = `${EXAMPLES}h4-ioeventfd-while-disabled.yaml`;
  const b = `${EXAMPLES}h2-fault-races-disable.yaml`;
  const tok = runScenario(load(readFileSync(a, 'utf8'), a)).token;
  const other = runCli(['replay', b, tok]);
  assert.equal(other.code, 2);
  assert.match(other.err, /^vfio-sim replay: the replay token is for a different scenario[^\n]*\n$/);
  const t = decodeToken(tok);
  const unknown = runCli(['replay', a, encodeToken({ ...t, variant: '9.99' })]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /^vfio-sim replay: [^\n]*unknown variant '9\.99'[^\n]*\n$/);
  const changed = runCli(['replay', a, tok.slice(0, 10) + (tok[10] === 'A' ? 'B' : 'A') + tok.slice(11)]);
  assert.equal(changed.code, 2);
  assert.match(changed.err, /^vfio-sim replay: bad replay token: [^\n]*\n$/);
});

test('replaying an explorer counterexample leads with the property it breaks (H2 under 5.8: stale-mapping), exits 1 for it, and shows the round-robin expectations as a secondary note', () => {
  const f = `${EXAMPLES}h2-fault-races-disable.yaml`;
  const s = load(readFileSync(f, 'utf8'), f);
  const r = exploreScenario(s, { variant: '5.8', only: ['stale-mapping'], noReplays: true, strategy: 'bfs', maxPreemptions: 1, stopAtFirst: true });
  const cx = r.search.counterexamples[0];
  assert.ok(cx !== undefined && cx.property === 'stale-mapping');
  assert.ok(decodeToken(cx.token).finding?.properties.includes('stale-mapping'));
  const o = runCli(['replay', f, cx.token]);
  assert.equal(o.code, 1);
  // the lead, before the run's header: every property the finding broke, checked again
  const lead = o.out.split('\n\n')[0] ?? '';
  assert.match(lead, /^An explorer finding, replayed with the properties checked:\n/);
  assert.match(lead, /\n {2}✗ stale-mapping broken: after main's operation, mm2 still maps 0000:01:00\.0's BAR/);
  assert.doesNotMatch(o.out, /✗ FAILED|✗ kernel BUG: expected/);
  assert.match(o.out, /≠ unmet/);
  assert.match(o.out, /expectations \(written for the scenario's own schedule, not this interleaving\): \d+ met, [1-9]\d* unmet/);
  // the replay keeps the finding's token, and --json says what broke
  assert.match(o.out, new RegExp(`--replay ${cx.token}\\n`));
  const j = runCli(['replay', f, cx.token, '--json']);
  assert.equal(j.code, 1);
  const parsed = JSON.parse(j.out) as { finding: { properties: { property: string; broken: boolean }[] } };
  assert.deepEqual(parsed.finding.properties.find((p) => p.property === 'stale-mapping')?.broken, true);
  // a plain run's token is judged by the expectations, as before
  const plain = runScenario(s, { variant: '5.8' });
  const p = runCli(['replay', f, plain.token]);
  assert.equal(p.code, plain.ok ? 0 : 1);
  assert.doesNotMatch(p.out, /explorer finding/);
});
