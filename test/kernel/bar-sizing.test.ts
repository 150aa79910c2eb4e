/**
 * vfio-pci's virtual BARs (vfio_bar_fixup) after a sizing write, for a BAR above 4 GiB:
 * the upper dword's mask comes from the size's upper half (a u64 ~(size - 1) in C).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineDevice, endpoint, rootPort } from '../../src/hw/index.js';
import { unwrap } from '../../src/user/vfio-client.js';
import { openDevice } from '../claims/helpers.js';

test('BAR sizing through vfio on a 64-bit 8 GiB BAR: writing all-ones to the upper dword reads back 0xfffffffe (vfio_bar_fixup masks with the size\'s upper half; JS ~ on the whole size gave 0)', () => {
  const BIG = defineDevice({
    model: 'big64',
    vendorId: 0x1b36,
    deviceId: 0x00ff,
    classCode: 0xff0000,
    bars: [{ index: 0, kind: 'mem', size: 4096 }, { index: 2, kind: 'mem', size: 2 ** 33, mem64: true, prefetch: true }],
    caps: { pcie: { flr: false } },
    behavior: () => ({ mmioRead: () => 0n, mmioWrite: () => {}, reset: () => {} }),
  });
  const o = openDevice('0000:01:00.0', { machine: { slots: [rootPort(1, [endpoint(0, BIG)])] } });
  unwrap(o.d.writeConfig(0x18, 4, 0xffffffff));
  unwrap(o.d.writeConfig(0x1c, 4, 0xffffffff));
  assert.equal(unwrap(o.d.readConfig(0x18, 4)), 0x0000000c, 'low dword: no address bits below 8 GiB, 64-bit prefetchable');
  assert.equal(unwrap(o.d.readConfig(0x1c, 4)), 0xfffffffe, 'upper dword: size 8 GiB');
});
