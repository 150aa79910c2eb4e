/**
 * The observation operations (src/scenario/observe-ops.ts) and the machine's per-device
 * options: `pte` reads the page table without faulting, `events` counts kernel and
 * hardware events between two of its steps, `host_config_read` reads the hardware
 * register behind vfio-pci's virtual copy; `{model: gpu, vram}` and `virtfn` shape the
 * devices.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatScenarioError, loadScenario, runScenario, type RunResult, type StepResult } from '../../src/scenario/index.js';

function run(text: string): RunResult {
  const r = loadScenario(text, 'observe.yaml');
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatScenarioError).join('\n'));
  return runScenario(r.scenario);
}

function step(res: RunResult, thread: string, index: number): StepResult {
  const s = res.steps.find((x) => x.thread === thread && x.index === index);
  assert.ok(s !== undefined, `${thread} step ${index}`);
  return s;
}

test('pte: an untouched 5.8 BAR mapping has no entries and looking does not fault it in; after the first load every page has a 4 KiB entry with the BAR pfn', () => {
  const res = run(`
variant: '5.8'
processes:
  - name: p
    threads:
      - name: main
        steps:
          - open_device: edu0
            as: dev
          - mmap: { fd: dev, region: bar0 }
            as: bar
          - events: fault
          - pte: bar+0x2000
          - pte: { at: bar, length: 0x100000 }
          - events: fault
          - load: bar
          - pte: bar+0x2000
          - pte: { at: bar+0x1000, length: 0x3000 }
`);
  assert.deepEqual(step(res, 'main', 4).outcome?.fields, { present: false, level: 'none' });
  assert.equal(step(res, 'main', 5).outcome?.value, 0n);
  assert.equal(step(res, 'main', 6).outcome?.value, 0n, 'pte took no fault');
  const after = step(res, 'main', 8).outcome?.fields;
  assert.equal(after?.['present'], true);
  assert.equal(after?.['level'], 'pte');
  const barStart = 0xc000_0000; // the firmware's first 32-bit MMIO window address: edu0's BAR0
  assert.equal(after?.['pfn'], BigInt(barStart / 4096 + 2));
  assert.deepEqual(step(res, 'main', 9).outcome?.fields, { pages: 3n, pmd: 0n, pud: 0n });
});

test('events: the first step for a kind counts from the start of the run; later ones count since the previous step for that kind, in any thread or setup', () => {
  const res = run(`
variant: '5.8'
schedule: a*1000,b*1000
processes:
  - name: p
    setup:
      - open_device: edu0
        as: dev
      - mmap: { fd: dev, region: bar0 }
        as: bar
      - events: vfio.zap
      - clear_mem: dev
    threads:
      - name: a
        steps:
          - events: vfio.zap
          - clear_mem: dev
          - clear_mem: dev
      - name: b
        steps:
          - events: vfio.zap
          - events: vfio.zap
`);
  assert.equal(step(res, 'p', 3).outcome?.value, 0n);
  assert.equal(step(res, 'a', 1).outcome?.value, 1n, "the setup's zap, seen from another thread");
  assert.equal(step(res, 'b', 1).outcome?.value, 2n, "thread a's two zaps");
  assert.equal(step(res, 'b', 2).outcome?.value, 0n);
});

test('host_config_read shows the hardware command register of a VF (MEM hardwired 0) while config_read shows the virtual MEM bit of vfio-pci', () => {
  const res = run(`
variant: '5.8'
machine: { devices: [{ model: edu, virtfn: true, name: vf }] }
processes:
  - name: p
    threads:
      - name: main
        steps:
          - open_device: vf
            as: dev
          - config_read: { fd: dev, offset: 4, size: 2 }
          - host_config_read: { device: vf, offset: 4, size: 2 }
          - host_config_read: { device: 0000:01:00.0, offset: 0, size: 4 }
`);
  assert.equal(step(res, 'main', 2).outcome?.value, 2n);
  assert.equal(step(res, 'main', 3).outcome?.value, 0n);
  assert.equal(step(res, 'main', 4).outcome?.value, 0x11e81234n, 'edu ids');
});

test("machine: {model: gpu, vram} sizes the gpu's BAR2; default gpu has 16 MiB; names are gpu0, gpu1", () => {
  const r = loadScenario(`
machine: { devices: [gpu, { model: gpu, vram: 0x200000 }] }
processes:
  - name: p
    threads:
      - name: main
        steps:
          - open_device: gpu1
            as: dev
          - ioctl: { fd: dev, cmd: GET_REGION_INFO, region: bar2 }
          - open_device: gpu0
            as: d0
          - ioctl: { fd: d0, cmd: GET_REGION_INFO, region: bar2 }
          - pread: { fd: d0, region: bar0, size: 4 }
`, 'gpu.yaml');
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatScenarioError).join('\n'));
  assert.deepEqual(r.scenario.machine.devices.map((d) => `${d.name}@${d.bdf}:${d.model}`), ['gpu0@0000:01:00.0:gpu', 'gpu1@0000:02:00.0:gpu']);
  const res = runScenario(r.scenario);
  assert.equal(step(res, 'main', 2).outcome?.fields?.['size'], 0x200000n);
  assert.equal(step(res, 'main', 4).outcome?.fields?.['size'], 0x1000000n);
  assert.equal(step(res, 'main', 4).outcome?.fields?.['flag_names'], 'read|write|mmap');
  assert.equal(step(res, 'main', 5).outcome?.value, 0x01101b36n, 'the ID register');
});
