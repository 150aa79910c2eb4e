/**
 * Malformed scenario files: every mistake gives exactly one error, at the line and
 * column of the offending text, saying what was expected. Never a stack trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatScenarioError, loadScenario } from '../../src/scenario/index.js';

/** A valid scenario; cases replace one line (`@N`: 1-based line) or append text. */
const BASE = `name: base
processes:
  - name: qemu
    setup:
      - open_device: edu0
        as: dev
      - mmap: { fd: dev, region: bar0 }
        as: bar
    threads:
      - name: main
        steps:
          - load: bar
            expect: 0x010000ed
      - name: vcpu
        steps:
          - pread: { fd: dev, region: bar0, size: 4 }
`;

function withLine(n: number, text: string): string {
  const lines = BASE.split('\n');
  lines[n - 1] = text;
  return lines.join('\n');
}

interface Case {
  readonly name: string;
  readonly text: string;
  /** Expected `line:col`. */
  readonly at: string;
  readonly message: RegExp;
}

const CASES: readonly Case[] = [
  { name: 'YAML syntax: unclosed flow mapping', text: withLine(12, '          - load: { at: bar'), at: '13:13', message: /YAML syntax error: Flow map .* must .* end with a \}/ },
  { name: 'YAML syntax: a key without a value on the same line as a list item', text: withLine(16, '          - pread: { fd: dev } size: 4'), at: '16:32', message: /YAML syntax error/ },
  { name: 'YAML: duplicate key', text: withLine(13, '            expect: 0x010000ed\n            expect: SIGBUS'), at: '14:13', message: /YAML syntax error: Map keys must be unique.*each key may appear once/ },
  { name: 'empty file', text: '', at: '1:1', message: /the file is empty: expected a scenario mapping with 'processes'/ },
  { name: 'top level is a list', text: '- load: bar\n', at: '1:1', message: /expected a scenario \(a mapping of name, description, variant, machine, .*processes\)/ },
  { name: 'missing processes', text: 'name: nothing\n', at: '1:1', message: /missing field 'processes'/ },
  { name: 'unknown top-level field with a suggestion', text: BASE.replace('processes:', 'proceses:'), at: '2:1', message: /unknown field 'proceses' in a scenario \(did you mean 'processes'\?\)/ },
  { name: 'wrong type of a top-level field', text: `max_steps: lots\n${BASE}`, at: '1:12', message: /expected a non-negative integer .*got 'lots'/ },
  { name: 'unknown variant', text: `variant: '9.9'\n${BASE}`, at: '1:10', message: /unknown variant '9\.9' .*\(known: 5\.7, v1, v2, 5\.8, 5\.9, 5\.13, 5\.19, 6\.1, 6\.1\.y, 6\.6, 6\.10, 6\.12\)/ },
  { name: 'a version written as a number keeps its spelling (6.20 is not 6.2)', text: `variant: 6.20\n${BASE}`, at: '1:10', message: /unknown variant '6\.20'/ },
  { name: 'a YAML alias with no anchor (schedule: *reader) is an error at the alias, not a crash', text: `schedule: *reader\n${BASE}`, at: '1:11', message: /the alias '\*reader' refers to no anchor/ },
  { name: 'composed knobs no kernel had are rejected', text: `variant: { base: '5.8', knobs: { zapMethod: address-space } }\n${BASE}`, at: '1:18', message: /inconsistent: mmapPopulate 'fault-whole-vma' .* needs zapMethod 'vma-list'/ },
  { name: 'unknown knob with a suggestion', text: `variant: { base: '5.8', knobs: { rwLockin: none } }\n${BASE}`, at: '1:34', message: /unknown knob 'rwLockin' \(did you mean 'rwLocking'\?\)/ },
  { name: 'knob value of the wrong type', text: `variant: { base: '5.8', knobs: { rwLocking: true } }\n${BASE}`, at: '1:34', message: /knob rwLocking expects a string \(e\.g\. .*none.*whole-call.*\); got true/ },
  { name: 'boolean knob given a string', text: `variant: { base: '5.8', knobs: { zapOnDisable: 'no' } }\n${BASE}`, at: '1:34', message: /knob zapOnDisable expects true or false; got "no"/ },
  { name: 'unknown device model', text: `machine: { devices: [edu, vga] }\n${BASE}`, at: '1:27', message: /expected a device model: edu, nic, gpu; got 'vga'/ },
  { name: 'a VRAM size that is not a power of two', text: `machine: { devices: [edu, { model: gpu, vram: 0x300000 }] }\n${BASE}`, at: '1:47', message: /expected a VRAM size: a power of two from 0x10000 \(64 KiB\) to 0x40000000 \(1 GiB\)/ },
  { name: 'vram on a model other than gpu', text: `machine: { devices: [edu, { model: nic, vram: 0x400000 }] }\n${BASE}`, at: '1:47', message: /'vram' is an option of the gpu model only/ },
  { name: 'virtfn that is not a boolean', text: `machine: { devices: [{ model: edu, virtfn: yes }] }\n${BASE}`, at: '1:44', message: /expected true or false/ },
  { name: 'unknown field of a device entry with a suggestion', text: `machine: { devices: [{ model: gpu, vrams: 0x400000 }] }\n${BASE}`, at: '1:36', message: /unknown field 'vrams' in a device \(did you mean 'vram'\?\) \(expected one of: model, name, virtfn, vram, rom\)/ },
  { name: 'unknown event kind for events', text: withLine(12, '          - events: faults'), at: '12:21', message: /expected an event kind: fault, pte\.install/ },
  { name: 'pte of something that is not an address', text: withLine(12, '          - pte: { at: bar, length: -1 }'), at: '12:37', message: /expected a non-negative integer/ },
  { name: 'bad platform policy', text: `machine: { policy: panic }\n${BASE}`, at: '1:20', message: /expected a platform error policy: 'log' .* or 'fatal'.*got 'panic'/ },
  { name: 'thread without steps', text: BASE.replace(/ {8}steps:\n {10}- pread.*\n$/, ''), at: '14:9', message: /missing field 'steps' \(expected a list|missing field 'steps'/ },
  { name: 'empty step list', text: withLine(16, '').replace('      - name: vcpu\n        steps:\n', '      - name: vcpu\n        steps: []\n'), at: '15:16', message: /expected at least one step/ },
  { name: 'unknown operation with a suggestion', text: withLine(12, '          - lod: bar'), at: '12:13', message: /unknown operation 'lod' \(did you mean 'load'\?\) \(expected one of: open_device, open, ioctl/ },
  { name: 'two operations in one step', text: withLine(12, '          - load: bar\n            store: { at: bar, value: 1 }'), at: '13:13', message: /a step has exactly one operation; found 'load' and 'store'/ },
  { name: 'unknown field of an operation', text: withLine(16, '          - pread: { fd: dev, region: bar0, sise: 4 }'), at: '16:45', message: /unknown field 'sise' in pread \(did you mean 'size'\?\)/ },
  { name: 'missing required field', text: withLine(16, '          - pread: { fd: dev, region: bar0 }'), at: '16:20', message: /missing field 'size' \(expected a non-negative integer/ },
  { name: 'bad access size', text: withLine(12, '          - load: { at: bar, size: 3 }'), at: '12:36', message: /expected an access size: 1, 2, 4 or 8; got 3/ },
  { name: 'bad address expression', text: withLine(12, '          - load: bar + x'), at: '12:19', message: /expected an address .*got 'bar \+ x'/ },
  { name: 'unknown name with a suggestion', text: withLine(12, '          - load: baz'), at: '12:19', message: /unknown name 'baz' \(did you mean 'bar'\?\) \(names bound before this step: dev, bar\)/ },
  { name: 'a mapping where an fd is expected', text: withLine(16, '          - pread: { fd: bar, region: bar0, size: 4 }'), at: '16:26', message: /'bar' is a mapping; expected a device fd here/ },
  { name: '.group of something that is not a device', text: withLine(12, '          - close: bar.group'), at: '12:20', message: /'bar\.group': bar is a mapping, not a device opened with open_device/ },
  { name: 'unknown device in an operation', text: withLine(5, '      - open_device: edu9'), at: '5:22', message: /unknown device 'edu9' \(did you mean 'edu0'\?\) \(the machine has: edu0 \(0000:01:00\.0\), edu1/ },
  { name: 'unknown ioctl', text: withLine(16, '          - ioctl: { fd: dev, cmd: SET_IRQ }'), at: '16:36', message: /unknown cmd 'SET_IRQ' \(did you mean 'SET_IRQS'\?\)/ },
  { name: 'bad region name', text: withLine(16, '          - pread: { fd: dev, region: bar9, size: 4 }'), at: '16:39', message: /expected a region: bar0\.\.bar5, rom, config or vga.*got 'bar9'/ },
  { name: 'unknown errno in an expectation', text: withLine(13, '            expect: EIOO'), at: '13:21', message: /expected an expectation: .*got 'EIOO'/ },
  { name: "'as' on an operation without a result", text: withLine(16, '          - close: dev\n            as: gone'), at: '17:17', message: /'as' names a result, but close has none to name/ },
  { name: 'duplicate thread name', text: BASE.replace('name: vcpu', 'name: main'), at: '14:15', message: /duplicate thread name 'main' \(first used at line 10\)/ },
  { name: 'a thread named like a process', text: BASE.replace('name: vcpu', 'name: qemu'), at: '14:15', message: /the name 'qemu' is already used by a process/ },
  { name: 'exit before the last step', text: withLine(12, '          - exit\n          - load: bar'), at: '12:13', message: /exit must be the last step of its thread/ },
  { name: 'an operation that needs arguments written bare', text: withLine(16, '          - load'), at: '16:13', message: /'load' needs arguments/ },
  { name: 'schedule naming an unknown thread', text: `schedule: main,vcpu0\n${BASE}`, at: '1:11', message: /the schedule names an unknown thread 'vcpu0' \(did you mean 'vcpu'\?\)/ },
  { name: 'a 64-bit value written as an unquoted number', text: withLine(12, '          - store: { at: bar, value: 0xffffffffffffffff }'), at: '12:38', message: /quote values above 2\^53 as strings/ },
  { name: 'pwrite with two data sources', text: withLine(16, '          - pwrite: { fd: dev, region: bar0, value: 1, data: "00" }'), at: '16:21', message: /pwrite needs exactly one of value, data and buf/ },
];

for (const c of CASES) {
  test(`malformed scenario: ${c.name} -> one error at ${c.at}`, () => {
    const r = loadScenario(c.text, 'bad.yaml');
    assert.equal(r.ok, false, 'the scenario is rejected');
    if (r.ok) return;
    const lines = r.errors.map(formatScenarioError);
    assert.equal(r.errors.length, 1, `exactly one error, got:\n${lines.join('\n')}`);
    const e = r.errors[0];
    assert.ok(e !== undefined);
    assert.equal(`${e.line}:${e.col}`, c.at, lines[0]);
    assert.match(e.message, c.message);
    assert.match(lines[0] ?? '', /^bad\.yaml:\d+:\d+: /);
    assert.doesNotMatch(lines[0] ?? '', /\bat .*\.js:\d+/, 'no stack trace');
  });
}

test('the table covers at least 20 kinds of mistakes', () => {
  assert.ok(CASES.length >= 20);
});

test('the base scenario of the table is valid', () => {
  const r = loadScenario(BASE, 'base.yaml');
  assert.equal(r.ok, true, r.ok ? '' : r.errors.map(formatScenarioError).join('\n'));
});

test('several independent mistakes are all reported, in file order', () => {
  const text = withLine(12, '          - lod: bar').replace('region: bar0, size: 4', 'region: bar0, size: 4, sise: 4');
  const r = loadScenario(text, 'bad.yaml');
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.errors.map((e) => e.line), [12, 16]);
});

test('an unquoted variant version keeps its spelling: variant: 6.10 is Linux 6.10, not 6.1', () => {
  const r = loadScenario(`variant: 6.10\n${BASE}`, 'v.yaml');
  assert.ok(r.ok, r.ok ? '' : r.errors.map((e) => e.message).join('\n'));
  assert.equal(r.scenario.variant.base, '6.10');
});
