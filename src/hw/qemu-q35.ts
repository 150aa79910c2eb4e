/**
 * The `qemu-q35` machine preset: what a guest of
 *
 * ```
 * qemu-system-x86_64 -M q35 -nographic \
 *   -device intel-iommu,intremap=on,caching-mode=on \
 *   -device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x4 \
 *   -device edu,bus=rp1,addr=0x0,romfile=edu.rom
 * ```
 *
 * (QEMU 7.2, as Debian 12 ships it) sees, for comparing the model with a real QEMU guest:
 *
 * - 00:00.0 host bridge (Q35 MCH, 8086:29c0)
 * - 00:01.0 VGA (the default std VGA, 1234:1111, class 0x030000; bochs-drm)
 * - 00:02.0 the default NIC (e1000e on q35, 8086:10d3; e1000e)
 * - 00:04.0 the root port rp1 (pcie-root-port, 1b36:000c, ACS) with edu (1234:11e8, a 2 KiB
 *   option ROM from `romfile=`) at 01:00.0 — or, with `eduBus: 'pcie.0'` (`-device
 *   edu,bus=pcie.0,addr=0x4`), edu itself at 00:04.0 and no root port
 * - 00:1f.0 ICH9 LPC (8086:2918; lpc_ich), 00:1f.2 ICH9 AHCI (8086:2922; ahci), 00:1f.3
 *   ICH9 SMBus (8086:2930; i801_smbus): one multi-function device without ACS
 *
 * Linux assigns IOMMU groups in the order devices are added (bus 0 in devfn order, then the
 * buses below), so the groups come out as in that guest: 0 host bridge, 1 VGA, 2 NIC, 3 the
 * root port (edu there: 3), 4 the 00:1f.x functions together, 5 edu behind the root port.
 *
 * intel-iommu's default address width in QEMU 7.2 is 39 bits (`aw-bits=39`), so type1's IOVA
 * ranges end at 0x7fffffffff. QEMU answers an access nothing decodes with 0 (reads) and drops
 * writes (`unassigned: 'zeros'`), where PCIe hardware completes reads with all-ones.
 *
 * The functions other than edu are config space and BARs only (their registers read 0 and
 * ignore writes) and stay bound to their guest drivers (DeviceSpec.hostDriver), not vfio-pci.
 */
import { defineDevice, type DeviceBehavior, type DeviceDefinition } from './device.js';
import { EDU_DEVICE, EDU_ROM_IMAGE_SIZE, eduWithRom } from './devices/edu.js';
import { DEFAULT_RAM_SIZE, endpoint, rootPort, type MachineSpec, type SlotSpec } from './machine.js';

/** Registers nobody models: reads return 0, writes are ignored (no state, nothing to reset). */
const INERT: DeviceBehavior = {
  mmioRead: () => 0n,
  mmioWrite: () => undefined,
  ioRead: () => 0,
  ioWrite: () => undefined,
  reset: () => undefined,
};

/** QEMU's PCI subsystem IDs for devices that set none (hw/pci/pci.c: 1af4:1100). */
const QEMU_SUBSYS = { subsystemVendorId: 0x1af4, subsystemId: 0x1100 } as const;

/** The std VGA (`-device VGA`, q35's default display): 16 MiB VRAM (BAR0, prefetchable), 4 KiB MMIO (BAR2). */
export const Q35_VGA_DEVICE: DeviceDefinition = defineDevice({
  model: 'vga',
  vendorId: 0x1234,
  deviceId: 0x1111,
  revision: 0x02,
  classCode: 0x030000,
  ...QEMU_SUBSYS,
  interruptPin: 0,
  bars: [
    { index: 0, kind: 'mem', size: 16 * 1024 * 1024, prefetch: true },
    { index: 2, kind: 'mem', size: 4096 },
  ],
  hostDriver: 'bochs-drm',
  behavior: () => INERT,
});

/** e1000e (q35's default NIC): BAR0 128 KiB, BAR1 128 KiB flash, BAR2 32 I/O ports, BAR3 16 KiB MSI-X; PM, MSI, PCIe, MSI-X. */
export const Q35_E1000E_DEVICE: DeviceDefinition = defineDevice({
  model: 'e1000e',
  vendorId: 0x8086,
  deviceId: 0x10d3,
  revision: 0x00,
  classCode: 0x020000,
  subsystemVendorId: 0x8086,
  subsystemId: 0x0000,
  interruptPin: 1,
  bars: [
    { index: 0, kind: 'mem', size: 128 * 1024 },
    { index: 1, kind: 'mem', size: 128 * 1024 },
    { index: 2, kind: 'io', size: 32 },
    { index: 3, kind: 'mem', size: 16 * 1024 },
  ],
  caps: {
    pm: { noSoftReset: false },
    msi: { vectors: 1, addr64: true },
    pcie: { flr: false },
    msix: { vectors: 5, tableBar: 3, tableOffset: 0, pbaBar: 3, pbaOffset: 0x2000 },
  },
  hostDriver: 'e1000e',
  behavior: () => INERT,
});

/** ICH9 LPC bridge (00:1f.0): ISA bridge class, no BARs, no interrupt pin. */
export const Q35_ICH9_LPC_DEVICE: DeviceDefinition = defineDevice({
  model: 'ich9-lpc',
  vendorId: 0x8086,
  deviceId: 0x2918,
  revision: 0x02,
  classCode: 0x060100,
  ...QEMU_SUBSYS,
  interruptPin: 0,
  bars: [],
  hostDriver: 'lpc_ich',
  behavior: () => INERT,
});

/** ICH9 AHCI (00:1f.2): SATA AHCI class, BAR4 32 I/O ports, BAR5 4 KiB ABAR, MSI. */
export const Q35_ICH9_AHCI_DEVICE: DeviceDefinition = defineDevice({
  model: 'ich9-ahci',
  vendorId: 0x8086,
  deviceId: 0x2922,
  revision: 0x02,
  classCode: 0x010601,
  ...QEMU_SUBSYS,
  interruptPin: 1,
  bars: [
    { index: 4, kind: 'io', size: 32 },
    { index: 5, kind: 'mem', size: 4096 },
  ],
  caps: { msi: { vectors: 1, addr64: true } },
  hostDriver: 'ahci',
  behavior: () => INERT,
});

/** ICH9 SMBus (00:1f.3): SMBus class, BAR4 64 I/O ports. */
export const Q35_ICH9_SMBUS_DEVICE: DeviceDefinition = defineDevice({
  model: 'ich9-smbus',
  vendorId: 0x8086,
  deviceId: 0x2930,
  revision: 0x02,
  classCode: 0x0c0500,
  ...QEMU_SUBSYS,
  interruptPin: 1,
  bars: [{ index: 4, kind: 'io', size: 64 }],
  hostDriver: 'i801_smbus',
  behavior: () => INERT,
});

/** QEMU 7.2's intel-iommu default address width (`aw-bits`). */
export const QEMU_INTEL_IOMMU_AW_BITS = 39;

export interface QemuQ35Options {
  /**
   * Where edu sits: 'rp1' (default: behind the root port 00:04.0, at 01:00.0) or 'pcie.0'
   * (`-device edu,bus=pcie.0,addr=0x4`: edu at 00:04.0 on the root bus, no root port).
   */
  readonly eduBus?: 'rp1' | 'pcie.0';
  /** edu's ROM BAR size (default 2048, the 2 KiB `romfile=` image); null: no `romfile=`, no ROM. */
  readonly eduRom?: number | null;
  /** RAM size (default DEFAULT_RAM_SIZE). */
  readonly ramSize?: number;
}

/** The qemu-q35 preset's machine (see the module comment). */
export function qemuQ35MachineSpec(opts: QemuQ35Options = {}): MachineSpec {
  const rom = opts.eduRom === undefined ? EDU_ROM_IMAGE_SIZE : opts.eduRom;
  const edu = rom === null ? EDU_DEVICE : eduWithRom(rom);
  const ich9: SlotSpec = {
    dev: 0x1f,
    functions: [
      { fn: 0, device: Q35_ICH9_LPC_DEVICE },
      { fn: 2, device: Q35_ICH9_AHCI_DEVICE },
      { fn: 3, device: Q35_ICH9_SMBUS_DEVICE },
    ],
  };
  return {
    ramSize: opts.ramSize ?? DEFAULT_RAM_SIZE,
    urPolicy: 'log',
    unassigned: 'zeros',
    iommuAddressWidth: QEMU_INTEL_IOMMU_AW_BITS,
    firmware: 'seabios',
    slots: [
      endpoint(1, Q35_VGA_DEVICE),
      endpoint(2, Q35_E1000E_DEVICE),
      (opts.eduBus ?? 'rp1') === 'pcie.0' ? endpoint(4, edu) : rootPort(4, [endpoint(0, edu)]),
      ich9,
    ],
  };
}
