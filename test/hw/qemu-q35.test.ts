/**
 * The qemu-q35 machine preset: what a QEMU 7.2 q35 guest with intel-iommu, a root port and
 * edu (romfile=) shows — layout and IDs, IOMMU group numbers, the 39-bit IOVA aperture,
 * QEMU's zeros for undecoded accesses, and edu's option ROM through vfio's ROM region.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventStream } from '../../src/events/stream.js';
import { EINVAL, EIO } from '../../src/kernel/errno.js';
import { System } from '../../src/system.js';
import { createMachine, defaultMachineSpec, type Machine } from '../../src/hw/machine.js';
import { EDU_DEVICE, EDU_ROM_IMAGE_SIZE, eduWithRom } from '../../src/hw/devices/edu.js';
import { qemuQ35MachineSpec } from '../../src/hw/qemu-q35.js';
import * as R from '../../src/hw/regs.js';
import { VFIO_PCI_ROM_REGION_INDEX } from '../../src/uapi/vfio.js';
import { unwrap } from '../../src/user/vfio-client.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../src/kernel/mm/types.js';
import * as lib from '../../src/index.js';
import { countSince, openDevice, setMem } from '../claims/helpers.js';

const EDU_RP = '0000:01:00.0';
const EDU_ROOT = '0000:00:04.0';

function q35(opts: Parameters<typeof qemuQ35MachineSpec>[0] = {}): Machine {
  return createMachine(qemuQ35MachineSpec(opts), new EventStream());
}

/** vendor:device, class (24 bits) and header type of every function, by address. */
function layout(m: Machine): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of m.pciFunctions()) {
    const id = f.cfgRead(R.PCI_VENDOR_ID, 4);
    const cls = f.cfgRead(R.PCI_CLASS_REVISION, 4) >>> 8;
    const hdr = f.cfgRead(R.PCI_HEADER_TYPE, 1);
    out[f.name] = `${(id & 0xffff).toString(16).padStart(4, '0')}:${(id >>> 16).toString(16).padStart(4, '0')} class ${cls.toString(16).padStart(6, '0')} hdr ${hdr.toString(16).padStart(2, '0')}`;
  }
  return out;
}

test('qemu-q35 layout: host bridge 8086:29c0, std VGA 1234:1111 (class 030000), e1000e 8086:10d3, root port 00:04.0 with edu at 01:00.0, ICH9 LPC/AHCI/SMBus at 00:1f.0/.2/.3 (multi-function)', () => {
  assert.deepEqual(layout(q35()), {
    '0000:00:00.0': '8086:29c0 class 060000 hdr 00',
    '0000:00:01.0': '1234:1111 class 030000 hdr 00',
    '0000:00:02.0': '8086:10d3 class 020000 hdr 00',
    '0000:00:04.0': '1b36:000c class 060400 hdr 01',
    '0000:00:1f.0': '8086:2918 class 060100 hdr 80',
    '0000:00:1f.2': '8086:2922 class 010601 hdr 80',
    '0000:00:1f.3': '8086:2930 class 0c0500 hdr 80',
    '0000:01:00.0': '1234:11e8 class 00ff00 hdr 00',
  });
  const m = q35({ eduBus: 'pcie.0' });
  assert.equal(layout(m)[EDU_ROOT], '1234:11e8 class 00ff00 hdr 00', "eduBus 'pcie.0': edu itself at 00:04.0");
  assert.equal(m.findFunction(EDU_RP), undefined, 'and no root port, no bus 1');
});

test('qemu-q35 IOMMU groups come out as in the QEMU guest: added in bus order (bus 0 by devfn, then bus 1), 00:1f.x share one group (multi-function, no ACS), edu behind the ACS root port is group 5', () => {
  const groups = (m: Machine): Record<string, number> => Object.fromEntries(m.pciFunctions().map((f) => [f.name, f.iommuGroup]));
  assert.deepEqual(groups(q35()), {
    '0000:00:00.0': 0,
    '0000:00:01.0': 1,
    '0000:00:02.0': 2,
    '0000:00:04.0': 3,
    '0000:00:1f.0': 4,
    '0000:00:1f.2': 4,
    '0000:00:1f.3': 4,
    '0000:01:00.0': 5,
  });
  assert.equal(q35({ eduBus: 'pcie.0' }).fn(EDU_ROOT).iommuGroup, 3, 'edu on the root bus at 00:04.0: group 3');
  assert.equal(q35({ eduBus: 'pcie.0' }).groups().length, 5);
});

test('qemu-q35: only edu is bound to vfio-pci; the other functions keep their guest drivers (bochs-drm, e1000e, lpc_ich, ahci, i801_smbus), so their groups have no /dev/vfio node', () => {
  const sys = new System({ machine: qemuQ35MachineSpec() });
  const drv = (name: string): string | null => sys.vfio.driverOf(sys.hw.fn(name));
  assert.equal(drv(EDU_RP), 'vfio-pci');
  assert.deepEqual(['0000:00:01.0', '0000:00:02.0', '0000:00:1f.0', '0000:00:1f.2', '0000:00:1f.3'].map(drv), ['bochs-drm', 'e1000e', 'lpc_ich', 'ahci', 'i801_smbus']);
  assert.equal(sys.vfio.groupByNumber(4), null, 'no VFIO group for the ICH9 functions');
  assert.ok(sys.vfio.groupByNumber(5) !== null);
  assert.equal(sys.vfioDevice(EDU_RP)?.name, EDU_RP);
});

test('qemu-q35 intel-iommu address width 39: VFIO_IOMMU_GET_INFO IOVA ranges end at 0x7fffffffff (default machine: 2^48-1)', () => {
  const { c } = openDevice(EDU_RP, { machine: qemuQ35MachineSpec() });
  assert.deepEqual(unwrap(c.iommuInfo()).iovaRanges, [
    { start: 0n, end: 0xfedfffffn },
    { start: 0xfef00000n, end: 0x7fffffffffn },
  ]);
  const dflt = openDevice(EDU_RP);
  assert.equal(unwrap(dflt.c.iommuInfo()).iovaRanges.at(-1)?.end, (1n << 48n) - 1n);
});

test('qemu-q35: MAP_DMA ending at 0x7fffffffff succeeds; past it (or straddling it) vfio_iommu_iova_dma_valid fails and MAP_DMA is -EINVAL', () => {
  const { p, c } = openDevice(EDU_RP, { machine: qemuQ35MachineSpec() });
  const buf = p.mmap(0, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert.ok(buf > 0);
  assert.deepEqual(c.mapDma({ vaddr: BigInt(buf), size: 4096n, iova: 0x80_0000_0000n }), { ok: false, errno: EINVAL });
  assert.deepEqual(c.mapDma({ vaddr: BigInt(buf), size: 8192n, iova: 0x7f_ffff_f000n }), { ok: false, errno: EINVAL });
  assert.ok(c.mapDma({ vaddr: BigInt(buf), size: 4096n, iova: 0x7f_ffff_f000n }).ok, 'the last page of the aperture');
  const dflt = openDevice(EDU_RP);
  const b2 = dflt.p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert.ok(dflt.c.mapDma({ vaddr: BigInt(b2), size: 4096n, iova: 0x80_0000_0000n }).ok, 'the default machine (48-bit) takes it');
});

test("unassigned 'zeros' (QEMU): a CPU read nothing decodes returns 0 and a write is dropped; 'ones' (default, hardware) reads all-ones; the Unsupported Request is counted either way", () => {
  for (const [unassigned, mem, io] of [['zeros', 0n, 0], ['ones', 0xffffffffn, 0xffff]] as const) {
    const m = createMachine({ ...qemuQ35MachineSpec(), unassigned }, new EventStream());
    const hole = 0xfe00_0000; // in the 32-bit MMIO window, no BAR there
    assert.equal(m.memRead(hole, 4), mem, unassigned);
    m.memWrite(hole, 4, 0x1234n);
    assert.equal(m.memRead(hole, 4), mem, `${unassigned}: the write went nowhere`);
    assert.equal(m.ioRead(0x5000, 2), io, `${unassigned}: an I/O port nothing decodes`);
    assert.equal(m.platform.urCount, 4, `${unassigned}: 3 memory + 1 I/O Unsupported Requests`);
    assert.equal(m.events.count('platform.error'), 4);
  }
  assert.equal(q35().platform.unassigned, 'zeros', 'the preset answers like QEMU');
  assert.equal(createMachine(defaultMachineSpec()).platform.unassigned, 'ones', 'the default machine like hardware');
});

test("qemu-q35 on 5.7 (no blocking): a load through the BAR mapping after MEM is cleared reads 0 (QEMU's unassigned access), all-ones with unassigned 'ones'; one Unsupported Request each", () => {
  for (const [unassigned, want] of [['zeros', 0n], ['ones', 0xffffffffn]] as const) {
    const { sys, p, d } = openDevice(EDU_RP, { machine: { ...qemuQ35MachineSpec(), unassigned }, variant: '5.7' });
    const bar = unwrap(d.mmapRegion(0, { length: 0x1000, prot: 3 }));
    assert.deepEqual(p.load(bar, 4), { ok: true, value: 0x010000edn }, 'edu identification while MEM is set');
    setMem(d, false);
    const seq = sys.events.lastSeq;
    assert.deepEqual(p.load(bar, 4), { ok: true, value: want }, unassigned);
    assert.equal(countSince(sys, seq, 'platform.error', (e) => e.error === 'unsupported-request' && e.target === EDU_RP), 1, `${unassigned}: the device still got an access it does not decode`);
  }
});

test('qemu-q35 edu option ROM (romfile=): the vfio ROM region is 2 KiB and pread returns the image: 0x55 0xAA, a PCIR structure for 1234:11e8', () => {
  const { d } = openDevice(EDU_RP, { machine: qemuQ35MachineSpec() });
  assert.equal(unwrap(d.getRegionInfo(VFIO_PCI_ROM_REGION_INDEX)).size, 2048n);
  assert.deepEqual(unwrap(d.readRegion(VFIO_PCI_ROM_REGION_INDEX, 0, 2)), new Uint8Array([0x55, 0xaa]));
  const pcir = unwrap(d.readRegion(VFIO_PCI_ROM_REGION_INDEX, 0x1c, 8));
  assert.deepEqual([...pcir], [0x50, 0x43, 0x49, 0x52, 0x34, 0x12, 0xe8, 0x11], '"PCIR", vendor 0x1234, device 0x11e8');
  // the default machine's edu has no romfile: no ROM region
  assert.equal(unwrap(openDevice(EDU_RP).d.getRegionInfo(VFIO_PCI_ROM_REGION_INDEX)).size, 0n);
});

test('claim 13 on qemu-q35 edu (5.8.0): pread of the ROM region while MEM is clear is EIO, no ROM access; with MEM set again it reads 0x55 0xAA', () => {
  const { sys, d } = openDevice(EDU_RP, { machine: qemuQ35MachineSpec(), variant: '5.8' });
  setMem(d, false);
  const seq = sys.events.lastSeq;
  assert.deepEqual(d.readRegion(VFIO_PCI_ROM_REGION_INDEX, 0, 2), { ok: false, errno: EIO });
  assert.equal(countSince(sys, seq, 'rom.read'), 0);
  setMem(d, true);
  assert.deepEqual(unwrap(d.readRegion(VFIO_PCI_ROM_REGION_INDEX, 0, 2)), new Uint8Array([0x55, 0xaa]));
});

test('eduWithRom: ROM BAR sizes are powers of two from 2 KiB to 16 MiB; past the 2 KiB image the ROM reads 0; one definition per size', () => {
  assert.throws(() => eduWithRom(1024), /ROM size/);
  assert.throws(() => eduWithRom(3000), /ROM size/);
  assert.throws(() => eduWithRom(32 * 1024 * 1024), /ROM size/);
  assert.equal(eduWithRom(4096), eduWithRom(4096));
  assert.equal(eduWithRom(4096).spec.behavior, EDU_DEVICE.spec.behavior, 'edu otherwise');
  const { d } = openDevice(EDU_RP, { machine: qemuQ35MachineSpec({ eduRom: 8192 }) });
  assert.equal(unwrap(d.getRegionInfo(VFIO_PCI_ROM_REGION_INDEX)).size, 8192n);
  const m = q35({ eduRom: 8192 });
  const rom = m.fn(EDU_RP).resource(6);
  assert.ok(rom !== null && rom.size === 8192);
  m.fn(EDU_RP).cfgWrite(R.PCI_ROM_ADDRESS, 4, rom.start | R.PCI_ROM_ADDRESS_ENABLE);
  assert.equal(m.memRead(rom.start, 2), 0xaa55n, 'the image at the start');
  assert.equal(m.memRead(rom.start + 0x800, 8), 0n, 'zeros past it');
  assert.equal(m.memRead(rom.start + 0x1ff8, 8), 0n);
  assert.equal(EDU_ROM_IMAGE_SIZE, 2048);
});

test('the library exports the preset: qemuQ35MachineSpec from the package entry point', () => {
  assert.equal(lib.qemuQ35MachineSpec, qemuQ35MachineSpec);
  assert.equal(lib.qemuQ35MachineSpec().iommuAddressWidth, 39);
});

test('MachineSpec.iommuAddressWidth: an integer from 32 to 52 bits, else a clear error; the IOMMU reports it (default 48)', () => {
  assert.throws(() => createMachine({ ...qemuQ35MachineSpec(), iommuAddressWidth: 64 }), /iommuAddressWidth must be an integer from 32 to 52/);
  assert.throws(() => createMachine({ ...qemuQ35MachineSpec(), iommuAddressWidth: 39.5 }), /iommuAddressWidth/);
  assert.equal(q35().iommu.addressWidth, 39);
  assert.equal(createMachine(defaultMachineSpec()).iommu.addressWidth, 48);
});

test("qemu-q35 edu ROM pread while MEM is clear on 5.9: pci_map_rom's header reads are undecoded and read 0 (QEMU), so the info line says 'got 0x0000' (hardware: 0xffff); -ENOMEM, the Unsupported Requests counted", () => {
  for (const [unassigned, got] of [['zeros', '0x0000'], ['ones', '0xffff']] as const) {
    const { sys, d } = openDevice(EDU_RP, { machine: { ...qemuQ35MachineSpec(), unassigned }, variant: '5.9' });
    setMem(d, false);
    const seq = sys.events.lastSeq;
    assert.deepEqual(d.readRegion(VFIO_PCI_ROM_REGION_INDEX, 0, 2), { ok: false, errno: 12 }, 'ENOMEM');
    const lines = sys.events.since(seq).flatMap((e) => (e.kind === 'printk' ? [e.line] : []));
    assert.deepEqual(lines, [`vfio-pci ${EDU_RP}: Invalid PCI ROM header signature: expecting 0xaa55, got ${got}`], unassigned);
    assert.ok(countSince(sys, seq, 'platform.error', (e) => e.error === 'unsupported-request' && e.target === EDU_RP) >= 1, unassigned);
  }
});
