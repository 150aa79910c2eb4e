import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineDevice, endpoint, rootPort, System, unwrap, VfioContainer, VfioGroup, VFIO_TYPE1v2_IOMMU } from '../src/index.js';

test('README library example: clearing MEM turns BAR access into SIGBUS and -EIO with no platform error', () => {
  const sys = new System({ variant: '5.8' });
  const p = sys.spawnProcess('qemu');
  const c = unwrap(VfioContainer.open(p));
  const g = unwrap(VfioGroup.open(p, sys.hw.fn('0000:01:00.0').iommuGroup));
  unwrap(g.setContainer(c));
  unwrap(c.setIommu(VFIO_TYPE1v2_IOMMU));
  const d = unwrap(g.getDevice('0000:01:00.0'));
  const bar = unwrap(d.mmapRegion(0, { length: 0x100000, prot: 3 }));
  assert.deepEqual(p.load(bar, 4), { ok: true, value: 0x010000edn });
  unwrap(d.writeConfig(4, 2, 0));
  const r = p.load(bar, 4);
  assert.equal(r.ok, false);
  assert.equal(r.ok ? '' : r.signal, 'SIGBUS');
  assert.deepEqual(d.readRegion(0, 0, 4), { ok: false, errno: 5 });
  assert.equal(sys.platformErrors, 0);
});

test('README device example: a user-defined device behind a root port is usable through vfio-pci', () => {
  const MY_DEV = defineDevice({
    model: 'scratchpad', vendorId: 0x1af4, deviceId: 0x1234, classCode: 0xff0000,
    bars: [{ index: 0, kind: 'mem', size: 0x4000 }],
    caps: { pcie: { flr: true }, msix: { vectors: 2, tableBar: 0, tableOffset: 0x2000, pbaBar: 0, pbaOffset: 0x3000 } },
    behavior: () => {
      let scratch = 0n;
      return {
        mmioRead: (_bar, off) => (off === 0 ? scratch : 0n),
        mmioWrite: (_bar, off, _size, v) => { if (off === 0) scratch = v; },
        reset: () => { scratch = 0n; },
      };
    },
  });
  const sys = new System({ machine: { slots: [rootPort(1, [endpoint(0, MY_DEV)])] } });
  const p = sys.spawnProcess('app');
  const c = unwrap(VfioContainer.open(p));
  const g = unwrap(VfioGroup.open(p, sys.hw.fn('0000:01:00.0').iommuGroup));
  unwrap(g.setContainer(c));
  unwrap(c.setIommu(VFIO_TYPE1v2_IOMMU));
  const d = unwrap(g.getDevice('0000:01:00.0'));
  const bar = unwrap(d.mmapRegion(0, { length: 0x4000, prot: 3 }));
  assert.equal(p.store(bar, 4, 0xabcdn).ok, true);
  assert.deepEqual(p.load(bar, 4), { ok: true, value: 0xabcdn });
  // the FLR-capable device resets through VFIO_DEVICE_RESET: its behaviour's reset clears scratch
  unwrap(d.reset());
  assert.deepEqual(p.load(bar, 4), { ok: true, value: 0n });
});

test('README scenario example (the first yaml block, H3 under 5.8 with an until-schedule): it loads and its expectations hold — the recursive read deadlocks', async () => {
  const { readFileSync } = await import('node:fs');
  const { loadScenario, runScenario } = await import('../src/scenario/index.js');
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const m = /```yaml\n([^]*?)```/.exec(readme);
  assert.ok(m !== null, 'a yaml block');
  const l = loadScenario(m[1] ?? '', 'README.md');
  assert.ok(l.ok, JSON.stringify(l.ok ? [] : l.errors));
  const r = runScenario(l.scenario);
  assert.ok(r.ok);
  assert.equal(r.end.kind, 'deadlock');
});
