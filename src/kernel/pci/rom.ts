import { PCI_ROM_ADDRESS, PCI_ROM_ADDRESS_ENABLE } from '../../uapi/pci-regs.js';
import { clear32 } from '../../hw/bits32.js';
import type { Kernel } from '../kernel.js';
import type { Task } from '../sched/task.js';
import { ioread, type PciDev, pciReadConfig, pciWriteConfig } from './pci-dev.js';

/** pci_enable_rom (drivers/pci/rom.c, 5.8): set the ROM BAR's enable bit. */
function* pciEnableRom(dev: PciDev): Task<void> {
  const r = dev.resource(6);
  if (r === null) return;
  yield* pciWriteConfig(dev, PCI_ROM_ADDRESS, 4, (clear32(r.start % 2 ** 32, 0x7ff) | PCI_ROM_ADDRESS_ENABLE) >>> 0);
}

/** pci_disable_rom (drivers/pci/rom.c, 5.8): clear the ROM BAR's enable bit. */
function* pciDisableRom(dev: PciDev): Task<void> {
  const v = yield* pciReadConfig(dev, PCI_ROM_ADDRESS, 4);
  yield* pciWriteConfig(dev, PCI_ROM_ADDRESS, 4, clear32(v, PCI_ROM_ADDRESS_ENABLE));
}

/** dev_printk's prefix (drivers/base/core.c, 5.8-6.12): the bound driver's name, then the device's. */
function devPrefix(dev: PciDev): string {
  return `${dev.driver ?? 'pci'} ${dev.name}: `;
}

/** `%#0Nx` as the kernel's vsprintf prints it: 0x and N-2 digits, zero included ("0x0000"). */
function hexPad(v: number, digits: number): string {
  return `0x${v.toString(16).padStart(digits, '0')}`;
}

/**
 * pci_get_rom_size (drivers/pci/rom.c, 5.7-6.12): walk the images (0x55AA signature,
 * "PCIR" data structure, length, last-image bit) through MMIO reads; 0 if the header is
 * bad. A bad signature is logged with pci_info — an info-level line, not a WARNING (the
 * dev_err of 4.x kernels became pci_info before 5.7; the text is the same through 6.12).
 */
function* pciGetRomSize(k: Kernel, dev: PciDev, base: number, size: number): Task<number> {
  let image = 0;
  let last = false;
  do {
    const sig = Number(yield* ioread(k, dev, base + image, 2));
    if (sig !== 0xaa55) {
      const line = `${devPrefix(dev)}Invalid PCI ROM header signature: expecting 0xaa55, got ${hexPad(sig, 4)}`;
      k.events.emit({ kind: 'printk', level: 'info', line, fn: 'pci_get_rom_size' });
      break;
    }
    const pdsOff = Number(yield* ioread(k, dev, base + image + 0x18, 2));
    const pds = image + pdsOff;
    const pcir = Number(yield* ioread(k, dev, base + pds, 4));
    if (pcir !== 0x52494350) {
      const line = `${devPrefix(dev)}Invalid PCI ROM data signature: expecting 0x52494350, got ${hexPad(pcir, 8)}`;
      k.events.emit({ kind: 'printk', level: 'info', line, fn: 'pci_get_rom_size' });
      break;
    }
    last = (Number(yield* ioread(k, dev, base + pds + 21, 1)) & 0x80) !== 0;
    const length = Number(yield* ioread(k, dev, base + pds + 16, 2));
    image += length * 512;
    if (length === 0) break;
  } while (!last && image < size);
  return Math.min(image, size);
}

/** What pci_map_rom returns: the ROM's physical base and image size, or null. */
export interface RomMapping {
  readonly base: number;
  readonly size: number;
}

/**
 * pci_map_rom (drivers/pci/rom.c, 5.8): enable the ROM BAR, size the image by reading
 * its headers through MMIO; on a bad image disable the ROM again and return null.
 */
export function* pciMapRom(k: Kernel, dev: PciDev): Task<RomMapping | null> {
  const r = dev.resource(6);
  if (r === null) return null;
  yield* pciEnableRom(dev);
  const size = yield* pciGetRomSize(k, dev, r.start, r.size);
  if (size === 0) {
    yield* pciDisableRom(dev);
    return null;
  }
  return { base: r.start, size };
}

/** pci_unmap_rom (drivers/pci/rom.c, 5.8): disable the ROM BAR. */
export function* pciUnmapRom(dev: PciDev): Task<void> {
  yield* pciDisableRom(dev);
}
