/**
 * The qemu-q35 preset in scenarios: `machine: { preset: qemu-q35 }` (edu0 behind the root
 * port, the q35 functions named by model), `edu_bus`, the `unassigned` machine option, edu's
 * `rom` device option, and positioned errors for what does not fit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatScenarioError, loadScenario, runScenario } from '../../src/scenario/index.js';
import { load } from './helpers.js';

const steps = (machine: string, body: string): string => `name: q35
variant: '6.1'
machine: ${machine}
processes:
  - name: qemu
    threads:
      - name: main
        steps:
${body}`;

function failures(r: ReturnType<typeof runScenario>): string {
  return JSON.stringify(r.steps.filter((s) => s.verdict === 'failed').map((s) => [s.text, s.why]));
}

test('machine: { preset: qemu-q35 } names edu0 (0000:01:00.0) and the q35 functions by model: vga0, e1000e0, ich9-lpc0, ich9-ahci0, ich9-smbus0', () => {
  const s = load(steps('{ preset: qemu-q35 }', '          - open_device: edu0\n'));
  assert.deepEqual(s.machine.devices.map((d) => `${d.name} ${d.bdf} ${d.model}`), [
    'vga0 0000:00:01.0 vga',
    'e1000e0 0000:00:02.0 e1000e',
    'ich9-lpc0 0000:00:1f.0 ich9-lpc',
    'ich9-ahci0 0000:00:1f.2 ich9-ahci',
    'ich9-smbus0 0000:00:1f.3 ich9-smbus',
    'edu0 0000:01:00.0 edu',
  ]);
  assert.equal(s.machine.spec.unassigned, 'zeros');
  assert.equal(s.machine.spec.iommuAddressWidth, 39);
});

test('qemu-q35 in a scenario: edu0 is in group 5 behind the root port and in group 3 with edu_bus: pcie.0 (edu at 00:04.0)', () => {
  const body = (g: number): string => `          - open_device: edu0
            as: dev
          - open: /dev/vfio/${g}
            expect: EBUSY
`;
  const rp = runScenario(load(steps('{ preset: qemu-q35 }', body(5))));
  assert.ok(rp.ok, failures(rp));
  const root = load(steps('{ preset: qemu-q35, edu_bus: pcie.0 }', body(3)));
  assert.equal(root.machine.devices.find((d) => d.name === 'edu0')?.bdf, '0000:00:04.0');
  const r = runScenario(root);
  assert.ok(r.ok, failures(r));
});

const UNDECODED = `          - open_device: edu0
            as: dev
          - mmap: { fd: dev, region: bar0 }
            as: bar
          - load: bar
            expect: 0x010000ed
          - setpci: { device: edu0, offset: 0x4, size: 2, clear: 0x2 }
          - load: bar
`;

test("unassigned in a scenario: qemu-q35 reads 0 from the undecoded BAR, 'unassigned: ones' all-ones, the default machine all-ones and 'unassigned: zeros' 0; one Unsupported Request each", () => {
  for (const [machine, want] of [['{ preset: qemu-q35 }', 0n], ['{ preset: qemu-q35, unassigned: ones }', 0xffffffffn], ['{ policy: log }', 0xffffffffn], ['{ unassigned: zeros }', 0n]] as const) {
    const r = runScenario(load(steps(machine, UNDECODED)));
    const last = r.steps.at(-1);
    assert.ok(last?.outcome !== null && last?.outcome !== undefined, machine);
    assert.equal(last.outcome.value, want, machine);
    assert.equal(r.platformErrors.length, 1, `${machine}: the Unsupported Request is counted`);
  }
});

test("a device's rom option: { model: edu, rom: 2048 } gives edu an option ROM that reads 0x55 0xAA through vfio's ROM region", () => {
  const r = runScenario(load(steps('{ devices: [{ model: edu, rom: 2048 }] }', `          - open_device: edu0
            as: dev
          - pread: { fd: dev, region: rom, size: 2 }
            expect: 0xaa55
`)));
  assert.ok(r.ok, failures(r));
});

const BAD: { name: string; machine: string; at: string; message: RegExp }[] = [
  { name: 'an unknown preset', machine: '{ preset: qemu-q36 }', at: '3:20', message: /unknown machine preset 'qemu-q36' \(known: qemu-q35\)/ },
  { name: 'a preset that is not a string', machine: '{ preset: 35 }', at: '3:20', message: /expected a machine preset \(known: qemu-q35\)/ },
  { name: 'a preset with devices', machine: '{ preset: qemu-q35, devices: [edu] }', at: '3:39', message: /the qemu-q35 preset has its own devices: drop 'devices'/ },
  { name: 'edu_bus without the preset', machine: '{ edu_bus: pcie.0 }', at: '3:21', message: /'edu_bus' is an option of the qemu-q35 preset/ },
  { name: 'an unknown edu_bus', machine: '{ preset: qemu-q35, edu_bus: rp2 }', at: '3:39', message: /expected where qemu-q35 puts edu: 'rp1'.* or 'pcie\.0'/ },
  { name: 'a bad unassigned value', machine: '{ unassigned: none }', at: '3:24', message: /expected what a read nothing decodes returns: 'ones'.* or 'zeros'/ },
  { name: 'rom on a model other than edu', machine: '{ devices: [{ model: nic, rom: 2048 }] }', at: '3:41', message: /'rom' is an option of the edu model only/ },
  { name: 'a ROM size that is not a power of two', machine: '{ devices: [{ model: edu, rom: 3000 }] }', at: '3:41', message: /expected a ROM size: a power of two from 0x800 \(2 KiB\) to 0x1000000 \(16 MiB\)/ },
];

for (const c of BAD) {
  test(`malformed qemu-q35 machine: ${c.name} -> one positioned error at ${c.at}`, () => {
    const r = loadScenario(steps(c.machine, '          - open_device: edu0\n'), 'bad.yaml');
    assert.equal(r.ok, false);
    if (r.ok) return;
    const lines = r.errors.map(formatScenarioError);
    assert.equal(r.errors.length, 1, lines.join('\n'));
    assert.match(lines[0] ?? '', /^bad\.yaml:\d+:\d+: /);
    assert.equal(`${r.errors[0]?.line}:${r.errors[0]?.col}`, c.at, lines[0]);
    assert.match(r.errors[0]?.message ?? '', c.message);
  });
}
