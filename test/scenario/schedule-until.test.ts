/**
 * Schedule entries that run a thread until something happens (`main until lock.contended`)
 * instead of for a number of choices: a new scheduling point in a kernel path must not
 * break the examples (the project's decision: examples do not depend on step counts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { loadScenario, runScenario } from '../../src/scenario/index.js';
import { parseSchedule, ScenarioInputError } from '../../src/scenario/schedule.js';
import { EXAMPLES_DIR, example, load, ONE_DEVICE_SETUP } from './helpers.js';

test('schedule entries: `T until [N] KIND[:TEXT]` and `T until blocked` parse beside `T*N`', () => {
  const s = parseSchedule('vcpu until lock.acquire:vma_lock:0000:01:00.0, main until 2 fault, main until blocked, vcpu*3');
  assert.equal(s.kind, 'list');
  assert.deepEqual(s.kind === 'list' ? s.entries : [], [
    { thread: 'vcpu', count: 1, until: { kind: 'lock.acquire', n: 1, text: 'vma_lock:0000:01:00.0' } },
    { thread: 'main', count: 1, until: { kind: 'fault', n: 2, text: null } },
    { thread: 'main', count: 1, until: { kind: 'blocked', n: 1, text: null } },
    { thread: 'vcpu', count: 3 },
  ]);
  assert.throws(() => parseSchedule('main until nosuch'), (e: unknown) => e instanceof ScenarioInputError && /'nosuch' is no event kind \(until: blocked, fault, /.test(e.message));
  assert.throws(() => parseSchedule('main until 2 blocked'), /'until blocked' takes no number or text/);
});

test('a bad until entry in a scenario file is an error at the schedule\'s position', () => {
  const r = loadScenario(`schedule: 'main until lock.wait'\n${ONE_DEVICE_SETUP}      - name: main\n        steps:\n          - load: bar\n`, 'bad.yaml');
  assert.equal(r.ok, false);
  assert.match(JSON.stringify(r.ok ? [] : r.errors), /'lock\.wait' is no event kind/);
});

test('an until entry ends at the event even when it happens while its thread runs alone (no choice in between): the next entry counts from right after it', () => {
  // H2 under 5.8: the disabler blocks on vma_lock, so the vCPU runs alone until it drops it
  const r = runScenario(example('h2-fault-races-disable.yaml'), { variant: '5.8' });
  assert.ok(r.ok, JSON.stringify(r.steps.filter((x) => x.verdict === 'failed')));
  assert.equal(r.platformErrors.length, 1, 'the untracked mapping reaches the device after the disable');
  assert.deepEqual(r.scheduleWarnings, []);
});

test('`T until blocked` runs T while it can run, then round-robin', () => {
  const s = load(`name: x\nschedule: 'b until blocked'\n${ONE_DEVICE_SETUP}      - name: a\n        steps:\n          - load: bar\n      - name: b\n        steps:\n          - load: bar\n          - load: bar+0x4\n`);
  const r = runScenario(s);
  const order = r.events.filter((e) => e.kind === 'scenario.step' && e.phase === 'end' && e.thread !== 'qemu').map((e) => (e.kind === 'scenario.step' ? e.thread : ''));
  assert.deepEqual(order, ['b', 'b', 'a'], 'b ran both its steps before a');
});

test('no example schedule depends on a step count (each entry waits for an event, or the schedule is rr/random)', () => {
  const offenders: string[] = [];
  for (const f of readdirSync(EXAMPLES_DIR).filter((x) => x.endsWith('.yaml'))) {
    const m = /^schedule: *(.+)$/m.exec(readFileSync(new URL(f, EXAMPLES_DIR), 'utf8'));
    if (m === null) continue;
    const s = parseSchedule((m[1] ?? '').replace(/^'|'$/g, ''));
    if (s.kind === 'list' && s.entries.some((e) => e.until === undefined)) offenders.push(`${f}: ${m[1] ?? ''}`);
  }
  assert.deepEqual(offenders, []);
});
