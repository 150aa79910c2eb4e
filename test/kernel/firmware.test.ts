/**
 * What a VFIO program sees of firmware state: SeaBIOS leaves IO|MEM|SERR in every
 * function's command register; vfio-pci's open (pci_enable_device, a reset saved and
 * restored around by pci_dev_save_and_disable / pci_dev_restore, vfio_config_init copying
 * the hardware register, only INTx Disable virtualized) keeps them, so the config region
 * reads 0x0103 on edu after open.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScenario } from '../../src/scenario/index.js';
import { variantNames } from '../../src/scenario/variant.js';
import { load, MAIN_OPENS_EDU0 } from '../scenario/helpers.js';

const OPEN_AND_READ = `name: command register after open
${MAIN_OPENS_EDU0}          - config_read: { fd: dev, offset: 0x4, size: 2 }
            expect: 0x0103
          - host_config_read: { device: edu0, offset: 0x4, size: 2 }
            expect: 0x0103
          - ioctl: { fd: dev.container, cmd: IOMMU_GET_INFO }
`;

for (const v of variantNames()) {
  test(`${v}: edu's command register reads 0x0103 (IO|MEM|SERR, as SeaBIOS left it) through vfio's config region after open`, () => {
    const r = runScenario(load(OPEN_AND_READ), { variant: v });
    assert.ok(r.ok, JSON.stringify(r.steps.filter((s) => s.verdict === 'failed').map((s) => [s.text, s.why])));
  });
}

test('VFIO_IOMMU_GET_INFO through a scenario: iova_pgsizes 0x40201000 on 6.1 and 6.12 (4 KiB | 2 MiB | 1 GiB), ~0xfff on 5.8', () => {
  for (const [v, want] of [['6.1', 0x40201000n], ['6.12', 0x40201000n], ['5.8', 0xfffffffffffff000n]] as const) {
    const r = runScenario(load(OPEN_AND_READ), { variant: v });
    const step = r.steps.find((s) => s.text.includes('IOMMU_GET_INFO'));
    assert.ok(step !== undefined && step.outcome !== null);
    const text = JSON.stringify(step.outcome, (_k, x: unknown) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : x));
    assert.ok(text.includes(`"iova_pgsizes":"0x${want.toString(16)}"`), `${v}: ${text}`);
  }
});
