/** docs/KERNEL-INDEX.md is generated from the kernel model's doc comments, and every kernel path has one. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectKernelPaths, compareVersions, kernelIndexMarkdown, parseKernelDoc, pathsInSource, repoRoot, undocumented } from '../../tools/kernel-index.js';

const ROOT = repoRoot();
const PATHS = collectKernelPaths(ROOT);

test('docs/KERNEL-INDEX.md is current (regenerate with `npm run index`)', () => {
  assert.equal(readFileSync(join(ROOT, 'docs', 'KERNEL-INDEX.md'), 'utf8'), kernelIndexMarkdown(PATHS), 'run `npm run index` and commit the result');
});

test('every kernel path (generator, Task-returning function or method, hand-written task class in src/kernel) names its kernel function and version, or says [model]', () => {
  const missing = undocumented(PATHS).map((p) => `${p.file}:${p.line} ${p.symbol}: "${p.docText.slice(0, 60)}"`);
  assert.ok(PATHS.filter((p) => !p.sync).length > 300, `found ${PATHS.length} kernel paths`);
  assert.deepEqual(missing, [], 'each needs "kernel_fn (path/file.c, VERSION)" or "[model]" at the start of its doc comment (docs/ARCHITECTURE.md, Names)');
});

test('the doc-comment convention: kernel function, file and version(s) at the start, or [model]', () => {
  assert.deepEqual(parseKernelDoc('vfio_pci_mmap_fault (drivers/vfio/pci/vfio_pci.c, 5.8): fault in the BAR'), {
    kind: 'kernel', names: ['vfio_pci_mmap_fault'], title: 'vfio_pci_mmap_fault', file: 'drivers/vfio/pci/vfio_pci.c', versions: ['5.8'],
  });
  assert.deepEqual(parseKernelDoc('kvm_put_kvm → kvm_destroy_vm (virt/kvm/kvm_main.c, 5.8-6.12, v1)'), {
    kind: 'kernel', names: ['kvm_put_kvm', 'kvm_destroy_vm'], title: 'kvm_put_kvm → kvm_destroy_vm', file: 'virt/kvm/kvm_main.c', versions: ['5.8-6.12', 'v1'],
  });
  assert.deepEqual(parseKernelDoc('ioread32/ioread16 (lib/iomap.c, 5.8 / 6.1.y): sizes'), {
    kind: 'kernel', names: ['ioread32', 'ioread16'], title: 'ioread32 / ioread16', file: 'lib/iomap.c', versions: ['5.8', '6.1.y'],
  });
  assert.deepEqual(parseKernelDoc('exit_mmap (mm/mmap.c, 5.8; 6.0+ with knob exitMmapWriteLock): unmap'), {
    kind: 'kernel', names: ['exit_mmap'], title: 'exit_mmap', file: 'mm/mmap.c', versions: ['5.8'],
  });
  assert.deepEqual(parseKernelDoc('[model] the scheduler hands a value back'), { kind: 'model' });
  assert.equal(parseKernelDoc('vfio_default_config_read (5.8): no file'), null);
  assert.equal(parseKernelDoc('mutex_lock: no file, no version'), null);
  assert.equal(parseKernelDoc('The rest of vfio_basic_config_read (drivers/vfio/pci/vfio_pci_config.c, 5.8)'), null);
  assert.equal(parseKernelDoc('vfio_pci_mmap (drivers/vfio/pci/vfio_pci.c): no version'), null);
  assert.equal(parseKernelDoc('vfio_dma_do_map (vfio_iommu_type1.c, 5.8): a file without its directory'), null);
  assert.equal(parseKernelDoc('pci_read_config_{byte,word} (drivers/pci/access.c, 5.8): not an identifier'), null);
});

test('kernel versions sort by release, the patch series v1..v3 between 5.7 and 5.8, 6.1.y after 6.1', () => {
  const vs = ['6.10', '5.8', 'v1', '6.1.y', '5.7', '6.1', 'v3', '5.8-6.9', '5.14', '6.12'];
  assert.deepEqual([...vs].sort(compareVersions), ['5.7', 'v1', 'v3', '5.8', '5.8-6.9', '5.14', '6.1', '6.1.y', '6.10', '6.12']);
});

test('kernel paths are found mechanically: generators, Task-returning functions and methods (fops tables too), classes implementing Task (and their subclasses in the file); knobs read in the body', () => {
  const src = [
    '/** mutex_lock (kernel/locking/mutex.c, 5.8): sleep */',
    'export function* lock(k: K): Generator<Y, void> { if (k.knobs.faultLocking === "x") yield 1; }',
    '/** [model] a value */',
    'function done(): Task<number> { const { zapMethod, rwLocking: rw } = this.k.knobs; return t; }',
    'class Ops { /** no convention */ *fault(): Generator<Y, void> {} helper(): number { return 1; } }',
    'class Zap extends Other<boolean> { run() { return knobs.zapOrder; } }',
    'export function pure(x: number): number { return x; }',
    'const arrow = (): Task<void> => undefined as Task<void>;',
    'class Core { static readonly FOPS = {',
    '  /** [model] */ *read(): Task<number> { return 0; }, ioctl: function* () {} }; }',
    'const OPS = { fault(): Task<number> { return t; } };',
    'abstract class Cfg<T> implements Task<T> { next() { return r; } }',
    'class CfgRead extends Cfg<number> {}',
    'class Plain extends Base implements Other {}',
    '/** mmget_not_zero (include/linux/sched/mm.h, 5.8): synchronous, indexed because it says so */',
    'export function mmgetNotZero(mm: Mm): boolean { return mm.users > 0; }',
  ].join('\n');
  const got = pathsInSource('x.ts', src).map((p) => [p.symbol, p.line, p.doc?.kind ?? null, p.knobs.join(','), p.sync]);
  assert.deepEqual(got, [
    ['lock', 2, 'kernel', 'faultLocking', false],
    ['done', 4, 'model', 'rwLocking,zapMethod', false],
    ['Ops.fault', 5, null, '', false],
    ['arrow', 8, null, '', false],
    ['Core.FOPS.read', 10, 'model', '', false],
    ['Core.FOPS.ioctl', 10, null, '', false],
    ['OPS.fault', 11, null, '', false],
    ['Cfg', 12, null, '', false],
    ['CfgRead', 13, null, '', false],
    ['mmgetNotZero', 16, 'kernel', '', true],
  ]);
});

test('the index lists, for every kernel function, the knobs its model reads', () => {
  const md = kernelIndexMarkdown(PATHS);
  const readers = PATHS.filter((p) => p.doc?.kind === 'kernel' && p.knobs.length > 0);
  assert.ok(readers.length >= 15, `${readers.length} kernel paths read knobs`);
  for (const p of readers) {
    const row = md.split('\n').find((l) => l.includes(`\`${p.symbol}\` ${p.file}:${p.line} `));
    assert.ok(row !== undefined && p.knobs.every((k) => row.includes(`\`${k}\``)), `${p.symbol}: ${row ?? 'no row'}`);
  }
});
