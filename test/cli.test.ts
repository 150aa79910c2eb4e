import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../src/cli/main.js';
import { runDemo } from '../src/cli/demo.js';
import { runCli } from './cli/helpers.js';


test('CLI: unknown flag is bad input (exit 2) with a message, not a stack trace', () => {
  const r = runCli(['demo', '--bogus']);
  assert.equal(r.code, 2);
  assert.match(r.err, /Unknown option '--bogus'/);
  assert.doesNotMatch(r.err, /at .*\.js:\d+/);
});

test('CLI: unknown variant and unknown command exit 2', () => {
  assert.equal(runCli(['demo', '--variant', '9.9']).code, 2);
  assert.equal(runCli(['frobnicate']).code, 2);
  assert.equal(runCli([]).code, 2);
});

test('CLI: variants lists every preset in history order with the knobs it changed', () => {
  const r = runCli(['variants']);
  assert.equal(r.code, 0);
  const names = [...r.out.matchAll(/^(\S+) +(?:Linux|patch)/gm)].map((m) => m[1]);
  assert.deepEqual(names, ['5.7', 'v1', 'v2', '5.8', '5.9', '5.13', '5.19', '6.1', '6.1.y', '6.6', '6.10', '6.12']);
  assert.match(r.out, /^v2 [^]*?changes from 5\.8:\n {9}msiMemoryLock = whole-ioctl \(was callouts\)\n\n/m, 'v2 differs from 5.8 in the MSI lock scope only');
  assert.match(r.out, /^5\.8 [^]*?mmapPopulate = fault-whole-vma \(was remap-at-mmap\)/m);
  assert.match(r.out, /^6\.10 [^]*?zapMethod = address-space \(was vma-list\)/m);
});

test('CLI: variants --knobs prints every knob of every variant as a grid', () => {
  const r = runCli(['variants', '--knobs']);
  assert.equal(r.code, 0);
  assert.match(r.out, /^ +5\.7 +v1 +v2 +5\.8 +5\.9 +5\.13 +5\.19 +6\.1 +6\.1\.y +6\.6 +6\.10 +6\.12 *$/m);
  assert.match(r.out, /^rwLocking +none +whole-call +whole-call +whole-call +per-access /m);
});

test('demo (5.8): SIGBUS and -EIO while disabled, and exactly one Unsupported Request - from the peer-to-peer DMA (H8)', () => {
  const lines: string[] = [];
  const ur = runDemo((s) => lines.push(s));
  const text = lines.join('\n');
  assert.equal(ur, 1);
  assert.match(text, /SIGBUS \(BUS_ADRERR\)/);
  assert.match(text, /pread BAR0: .*-EIO/);
  assert.match(text, /Unsupported Request, DMA from 0000:01:00\.0/);
});

test('CLI colors: NO_COLOR wins, FORCE_COLOR forces, a CI variable alone does not color a pipe', async () => {
  const { detectTerminal } = await import('../src/cli/terminal.js');
  assert.equal(detectTerminal({ CI: 'true' }, { isTTY: false }).color, false, 'CI pipes are plain');
  assert.equal(detectTerminal({}, { isTTY: true, columns: 100 }).color, true);
  assert.equal(detectTerminal({}, { isTTY: true, columns: 100 }).columns, 100);
  assert.equal(detectTerminal({ NO_COLOR: '1' }, { isTTY: true }).color, false);
  assert.equal(detectTerminal({ NO_COLOR: '', FORCE_COLOR: '1' }, { isTTY: false }).color, true, 'empty NO_COLOR is ignored');
  assert.equal(detectTerminal({ FORCE_COLOR: '0' }, { isTTY: false }).color, false);
  assert.equal(detectTerminal({}, { isTTY: false, columns: 80 }).columns, undefined);
  const colored: string[] = [];
  main(['demo'], (s) => colored.push(s), () => undefined, { color: true, columns: undefined });
  assert.match(colored.join('\n'), /\x1b\[/, 'the demo colors when asked');
  assert.doesNotMatch(runCli(['demo']).out, /\x1b\[/, 'and is plain by default');
});
