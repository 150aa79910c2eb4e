/**
 * The typed client's conventions (src/user/vfio-client.ts): one result shape, u64 as
 * bigint in and out, several u64 arguments as one object named like the C struct's
 * fields (so a swap does not type-check), mmapRegion with mmap's flags.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  EINVAL, MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE, System, UAPI_STRUCTS, unwrap,
  VfioContainer, VfioGroup, type VfioDeviceHandle, VFIO_PCI_BAR0_REGION_INDEX, VFIO_TYPE1v2_IOMMU,
} from '../../src/index.js';

const EDU = '0000:01:00.0';

function open(): { sys: System; c: VfioContainer; d: VfioDeviceHandle } {
  const sys = new System({ variant: '5.8' });
  const p = sys.spawnProcess('vmm');
  const c = unwrap(VfioContainer.open(p));
  const g = unwrap(VfioGroup.open(p, sys.hw.fn(EDU).iommuGroup));
  unwrap(g.setContainer(c));
  unwrap(c.setIommu(VFIO_TYPE1v2_IOMMU));
  return { sys, c, d: unwrap(g.getDevice(EDU)) };
}

test('typed client: region size and offset are bigint (__u64), as load values and unmapDma results are', () => {
  const { d, c } = open();
  const info = unwrap(d.getRegionInfo(VFIO_PCI_BAR0_REGION_INDEX));
  assert.equal(typeof info.size, 'bigint');
  assert.equal(typeof info.offset, 'bigint');
  assert.equal(info.size, 0x100000n);
  assert.equal(info.offset, 0n);
  assert.equal(typeof unwrap(c.iommuInfo()).iovaPgsizes, 'bigint');
  const bar = unwrap(d.mmapRegion(VFIO_PCI_BAR0_REGION_INDEX, { length: Number(info.size), prot: PROT_READ }));
  const r = d.proc.load(bar, 4);
  assert.ok(r.ok && typeof r.value === 'bigint');
});

test('typed client: mapDma({ vaddr, size, iova }) maps in the C helpers\' order of meaning, and a positional or swapped call does not type-check', () => {
  const { c, d, sys } = open();
  const p = d.proc;
  const buf = p.mmap(0, 0x2000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  const iova = 0x10_0000n;
  assert.ok(p.store(buf + 0x1000, 4, 0xcafe).ok);
  unwrap(c.mapDma({ vaddr: BigInt(buf), size: 0x2000n, iova }));
  // the IOMMU translates iova + 0x1000 to the user page holding 0xcafe: vaddr and iova were not swapped
  const dom = sys.hw.iommu.domainOfGroup(sys.hw.fn(EDU).iommuGroup);
  assert.ok(dom !== null);
  const t = sys.hw.iommu.lookup(dom, Number(iova) + 0x1000);
  assert.ok(t !== null);
  assert.equal(sys.hw.ram.view(t.pfn).getUint32(0, true), 0xcafe);
  assert.equal(unwrap(c.unmapDma({ iova, size: 0x2000n })), 0x2000n);
  assert.equal(sys.hw.iommu.lookup(dom, Number(iova) + 0x1000), null);
  if (false as boolean) {
    // @ts-expect-error the 0.1 positional form (vaddr, iova, size) is gone
    c.mapDma(buf, 0x100000, 0x2000);
    // @ts-expect-error u64 fields are bigint: a number does not type-check
    c.mapDma({ vaddr: buf, size: 0x2000n, iova });
    // @ts-expect-error a misspelt field (a swap would need one) does not type-check
    c.mapDma({ vaddr: BigInt(buf), length: 0x2000n, iova });
  }
});

test('typed client: mmapRegion honours flags (MAP_PRIVATE of a BAR is EINVAL, as vfio_pci_mmap requires VM_SHARED) and MAP_FIXED with addr', () => {
  const { d } = open();
  assert.deepEqual(d.mmapRegion(0, { length: 0x1000, prot: PROT_READ, flags: MAP_PRIVATE }), { ok: false, errno: EINVAL });
  const at = unwrap(d.mmapRegion(0, { length: 0x2000, prot: PROT_READ, flags: MAP_SHARED }));
  const fixed = unwrap(d.mmapRegion(0, { length: 0x1000, prot: PROT_READ, flags: MAP_SHARED | MAP_FIXED, addr: at + 0x1000, offset: 0x0 }));
  assert.equal(fixed, at + 0x1000);
  assert.deepEqual(d.proc.load(fixed, 4), { ok: true, value: 0x010000edn }, 'region offset 0 now also at the second page');
});

test('typed client: ioeventfd takes { offset, size, data, fd } with bigint offset and data', () => {
  const { d } = open();
  const e = d.proc.eventfd(0, 0);
  unwrap(d.ioeventfd({ offset: 0x4n, size: 4, data: 0x1234n, fd: e }));
  assert.deepEqual(d.ioeventfd({ offset: 0x4n, size: 4, data: 0x1234n, fd: e }), { ok: false, errno: 17 }, 'the same ioeventfd twice: EEXIST');
});

test('every uAPI layout table: encode then decode gives the fields back, each at its offset (property)', () => {
  for (const l of UAPI_STRUCTS.values()) {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { minLength: l.fields.length, maxLength: l.fields.length }), (raw) => {
        const value: Record<string, number | bigint> = {};
        l.fields.forEach((f, i) => {
          const bits = BigInt(f.size * 8);
          const v = BigInt.asUintN(Number(bits), raw[i] as bigint);
          value[f.name] = f.type === 'u64' ? v : f.type === 's64' ? BigInt.asIntN(64, v) : f.type === 's32' ? Number(BigInt.asIntN(32, v)) : Number(v);
        });
        const b = l.encode(value);
        assert.equal(b.byteLength, l.size);
        assert.deepEqual(l.decode(b), value);
        const dv = new DataView(b.buffer);
        for (const f of l.fields) {
          const v = value[f.name];
          const at = f.size === 1 ? dv.getUint8(f.offset) : f.size === 2 ? dv.getUint16(f.offset, true) : f.size === 4 ? dv.getUint32(f.offset, true) : dv.getBigUint64(f.offset, true);
          assert.equal(BigInt(at), BigInt.asUintN(f.size * 8, BigInt(v as number | bigint)), `${l.cName}.${f.cName}`);
        }
      }),
      { numRuns: 50 },
    );
  }
});
