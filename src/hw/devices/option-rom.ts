/**
 * A PCI expansion ROM image (PCI Firmware Specification 3.0, §5.1): the 0x55 0xAA header
 * with its initialization size, a pointer at 0x18 to the "PCIR" data structure (vendor and
 * device ID, class code, image length in 512-byte units, the last-image indicator), and an
 * optional ASCII text after the headers. One image, x86 code type, an entry point that is a
 * bare `retf`. This is the shape `pci_get_rom_size` walks.
 */
export interface OptionRomImageSpec {
  readonly vendorId: number;
  readonly deviceId: number;
  /** 24-bit class code: (base << 16) | (sub << 8) | prog-if. */
  readonly classCode: number;
  /** Image size in bytes: a multiple of 512, at least 512. */
  readonly size: number;
  /** ASCII text placed at offset 0x40 (a name a reader can recognise). */
  readonly text?: string;
}

/** Offset of the PCI data structure in images built by optionRomImage. */
export const OPTION_ROM_PCIR_OFFSET = 0x1c;

/** Build a one-image option ROM (see OptionRomImageSpec). */
export function optionRomImage(spec: OptionRomImageSpec): Uint8Array {
  if (!Number.isInteger(spec.size) || spec.size < 512 || spec.size % 512 !== 0 || spec.size / 512 > 0xff) {
    throw new Error(`option ROM image size 0x${spec.size.toString(16)}: expected a multiple of 512 up to 0x1fe00`);
  }
  const img = new Uint8Array(spec.size);
  const dv = new DataView(img.buffer);
  img[0] = 0x55;
  img[1] = 0xaa;
  img[2] = spec.size / 512; // initialization size
  img[3] = 0xcb; // entry point: retf
  const pcir = OPTION_ROM_PCIR_OFFSET;
  dv.setUint16(0x18, pcir, true);
  img.set([0x50, 0x43, 0x49, 0x52], pcir); // "PCIR"
  dv.setUint16(pcir + 0x04, spec.vendorId, true);
  dv.setUint16(pcir + 0x06, spec.deviceId, true);
  dv.setUint16(pcir + 0x08, 0, true); // device list pointer
  dv.setUint16(pcir + 0x0a, 0x18, true); // structure length
  img[pcir + 0x0c] = 0; // structure revision
  img[pcir + 0x0d] = spec.classCode & 0xff;
  img[pcir + 0x0e] = (spec.classCode >>> 8) & 0xff;
  img[pcir + 0x0f] = (spec.classCode >>> 16) & 0xff;
  dv.setUint16(pcir + 0x10, spec.size / 512, true); // image length (512-byte units)
  dv.setUint16(pcir + 0x12, 0x0001, true); // code revision
  img[pcir + 0x14] = 0x00; // code type: x86
  img[pcir + 0x15] = 0x80; // indicator: last image
  const text = spec.text ?? '';
  for (let i = 0; i < text.length && 0x40 + i < spec.size; i++) img[0x40 + i] = text.charCodeAt(i) & 0x7f;
  return img;
}
