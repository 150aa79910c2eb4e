/**
 * Kernel messages are what the kernel prints, at its level: pci_get_rom_size's bad
 * signature is a pci_info line (no WARNING, so `explore` reports no kernel-warning), and
 * a lockdep splat's `-> #n (lock)` frames are where that lock was acquired.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScenario } from '../../src/scenario/index.js';
import { exploreScenario } from '../../src/scenario/explore.js';
import { describe, formatEvent } from '../../src/events/format.js';
import { example, load } from '../scenario/helpers.js';

const ROM_WHILE_DISABLED = `name: ROM read while memory is disabled
processes:
  - name: qemu
    threads:
      - name: main
        steps:
          - open_device: nic0
            as: dev
          - clear_mem: dev
          - pread: { fd: dev, region: rom, size: 4 }
            expect: ENOMEM
`;

for (const variant of ['5.9', '5.13', '6.1', '6.12']) {
  test(`${variant}: a ROM read while MEM is clear logs "Invalid PCI ROM header signature" with pci_info (info level), no kernel WARNING`, () => {
    const r = runScenario(load(ROM_WHILE_DISABLED), { variant });
    assert.ok(r.ok);
    assert.deepEqual(r.warnings.map(formatEvent), []);
    const lines = r.events.filter((e) => e.kind === 'printk');
    assert.deepEqual(
      lines.map((e) => (e.kind === 'printk' ? [e.level, e.fn, e.line] : [])),
      [['info', 'pci_get_rom_size', 'vfio-pci 0000:03:00.0: Invalid PCI ROM header signature: expecting 0xaa55, got 0xffff']],
    );
    assert.equal(describe(lines[0] as (typeof lines)[number]), 'kernel info: vfio-pci 0000:03:00.0: Invalid PCI ROM header signature: expecting 0xaa55, got 0xffff');
  });
}

test('explore: a ROM read while MEM is clear (5.9) breaks no kernel-warning property', () => {
  const r = exploreScenario(load(ROM_WHILE_DISABLED), { variant: '5.9', maxPreemptions: 0, noReplays: true });
  assert.deepEqual(r.search.counterexamples.map((c) => c.property).filter((p) => p === 'kernel-warning'), []);
});

test('lockdep splat of the v2 cycle: each "-> #n (lock)" entry lists where that lock was acquired (memory_lock: down_read in vfio_pci_mmap_fault), no unlock frames', () => {
  const r = runScenario(example('v2-lockdep-cycle.yaml'));
  const rep = r.lockdep[0];
  assert.ok(rep !== undefined && rep.kind === 'lockdep');
  const entries = [...rep.text.matchAll(/^-> #\d+ \(([^)]+)\)[^\n]*:\n\s+(\S+)\n\s+(\S+)/gm)].map((m) => [m[1], m[2], m[3]]);
  assert.ok(entries.length >= 3, rep.text);
  for (const [cls, op] of entries) assert.doesNotMatch(op ?? '', /unlock|^up_/, `frames under ${cls ?? '?'} are its acquisition`);
  assert.deepEqual(entries.find((e) => e[0] === '&vdev->memory_lock'), ['&vdev->memory_lock', 'down_read', 'vfio_pci_mmap_fault']);
});
