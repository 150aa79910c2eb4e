/**
 * `nic`: a small, fully documented PCIe network-card-like endpoint, modelled with the
 * public defineDevice API. It exists to exercise what edu lacks: PCIe FLR, PM with
 * No_Soft_Reset=1, MSI-X with the table in a 64-bit prefetchable BAR, an I/O BAR and
 * an expansion ROM.
 *
 * BARs: BAR0 32-bit memory 128 KiB (registers); BAR2 I/O 32 bytes (IOADDR/IODATA
 * window, like e1000); BAR3 64-bit prefetchable memory 16 KiB (MSI-X table at 0x0,
 * PBA at 0x2000; other offsets read 0). ROM 64 KiB holding a 16 KiB image.
 *
 * BAR0 registers (32-bit; narrower accesses address bytes of a register, 8-byte
 * accesses two consecutive registers):
 * - 0x00 CTRL   RW  bit 0 RX_EN (receive enabled); bit 31 RST (self-clearing: device reset)
 * - 0x04 STATUS RO  bit 0 LINK_UP (always 1); bit 1 RX_EN mirror
 * - 0x08 SCRATCH RW
 * - 0x10 MAC_LO RW  MAC bytes 0..3 (reset: 52:54:00:12)
 * - 0x14 MAC_HI RW  MAC bytes 4..5 in bits 15:0 (reset: 34:56)
 * - 0x20 RX_ADDR_LO, 0x24 RX_ADDR_HI RW  bus address the next packet is written to
 * - 0x28 RX_LEN RO  length of the last received packet
 * - 0x2C RX_COUNT RO packets received
 * - 0x30 RX_DOORBELL WO  a write means "a packet arrived": if RX_EN, DMA the
 *        deterministic packet (see nicPacket) to RX_ADDR, set ICR.RX, raise vector 0
 * - 0x38 ICR    RW1C interrupt causes (bit 0 RX, bit 1 RX DMA error)
 * Unlisted offsets read 0 and ignore writes.
 *
 * BAR2 (I/O): 0x00 IOADDR (RW, 32-bit), 0x04 IODATA (32-bit: reads/writes the BAR0
 * register at IOADDR). Other sizes/offsets read all-ones and ignore writes.
 *
 * Reset: FLR, bus reset and power-on reset all registers (MAC reloaded); a D3hot→D0
 * transition keeps state (No_Soft_Reset=1).
 */
import { defineDevice, type DeviceBehavior, type DeviceContext, type DeviceDefinition } from '../device.js';

export const NIC_VENDOR_ID = 0x1b36;
export const NIC_DEVICE_ID = 0x0100;
export const NIC_BAR0_SIZE = 128 * 1024;
export const NIC_BAR2_SIZE = 32;
export const NIC_BAR3_SIZE = 16 * 1024;
export const NIC_ROM_SIZE = 64 * 1024;
export const NIC_ROM_IMAGE_SIZE = 16 * 1024;
export const NIC_MSIX_VECTORS = 4;
export const NIC_MSIX_TABLE_OFFSET = 0x0;
export const NIC_MSIX_PBA_OFFSET = 0x2000;
/** Value of ROM bytes past the image (a pattern, so reads past the image are recognisable). */
export const NIC_ROM_FILL = 0xa5;

export const NIC_REG_CTRL = 0x00;
export const NIC_REG_STATUS = 0x04;
export const NIC_REG_SCRATCH = 0x08;
export const NIC_REG_MAC_LO = 0x10;
export const NIC_REG_MAC_HI = 0x14;
export const NIC_REG_RX_ADDR_LO = 0x20;
export const NIC_REG_RX_ADDR_HI = 0x24;
export const NIC_REG_RX_LEN = 0x28;
export const NIC_REG_RX_COUNT = 0x2c;
export const NIC_REG_RX_DOORBELL = 0x30;
export const NIC_REG_ICR = 0x38;
export const NIC_CTRL_RX_EN = 0x1;
export const NIC_CTRL_RST = 0x8000_0000;
export const NIC_STATUS_LINK_UP = 0x1;
export const NIC_STATUS_RX_EN = 0x2;
export const NIC_ICR_RX = 0x1;
export const NIC_ICR_RX_DMA_ERR = 0x2;
export const NIC_IO_ADDR = 0x00;
export const NIC_IO_DATA = 0x04;
export const NIC_DEFAULT_MAC: readonly number[] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
export const NIC_PACKET_LEN = 64;

/**
 * The packet the doorbell delivers: Ethernet header (dst = the programmed MAC,
 * src 02:00:00:00:00:01, EtherType 0x88B5), a 4-byte little-endian sequence number
 * (the RX count before this packet), then bytes (i + seq) & 0xff.
 */
export function nicPacket(mac: readonly number[], seq: number): Uint8Array {
  const p = new Uint8Array(NIC_PACKET_LEN);
  for (let i = 0; i < 6; i++) p[i] = mac[i] ?? 0;
  p.set([0x02, 0x00, 0x00, 0x00, 0x00, 0x01], 6);
  p[12] = 0x88;
  p[13] = 0xb5;
  new DataView(p.buffer).setUint32(14, seq >>> 0, true);
  for (let i = 18; i < NIC_PACKET_LEN; i++) p[i] = (i + seq) & 0xff;
  return p;
}

/** The nic's option-ROM image: header 0x55 0xAA, PCIR data structure, checksum 0. */
export function nicRomImage(): Uint8Array {
  const img = new Uint8Array(NIC_ROM_IMAGE_SIZE);
  img[0] = 0x55;
  img[1] = 0xaa;
  img[2] = NIC_ROM_IMAGE_SIZE / 512; // legacy initialization size
  img[3] = 0xcb; // entry point: retf
  const pcir = 0x1c;
  img[0x18] = pcir & 0xff;
  img[0x19] = pcir >> 8;
  const dv = new DataView(img.buffer);
  img.set([0x50, 0x43, 0x49, 0x52], pcir); // "PCIR"
  dv.setUint16(pcir + 0x04, NIC_VENDOR_ID, true);
  dv.setUint16(pcir + 0x06, NIC_DEVICE_ID, true);
  dv.setUint16(pcir + 0x08, 0, true); // device list pointer
  dv.setUint16(pcir + 0x0a, 0x18, true); // structure length
  img[pcir + 0x0c] = 0; // structure revision
  img[pcir + 0x0d] = 0x00; // class code: prog-if
  img[pcir + 0x0e] = 0x00; // sub-class: Ethernet
  img[pcir + 0x0f] = 0x02; // base class: network
  dv.setUint16(pcir + 0x10, NIC_ROM_IMAGE_SIZE / 512, true); // image length (512-byte units)
  dv.setUint16(pcir + 0x12, 0x0001, true); // code revision
  img[pcir + 0x14] = 0x00; // code type: x86
  img[pcir + 0x15] = 0x80; // indicator: last image
  const text = 'vfio-sim nic option ROM';
  for (let i = 0; i < text.length; i++) img[0x40 + i] = text.charCodeAt(i);
  let sum = 0;
  for (let i = 0; i < img.length - 1; i++) sum = (sum + (img[i] ?? 0)) & 0xff;
  img[img.length - 1] = (0x100 - sum) & 0xff;
  return img;
}

/** The nic's device state (exposed for tests and diagnostics). */
export class NicState implements DeviceBehavior {
  ctrl = 0;
  scratch = 0;
  macLo = 0;
  macHi = 0;
  rxAddrLo = 0;
  rxAddrHi = 0;
  rxLen = 0;
  rxCount = 0;
  icr = 0;
  ioAddr = 0;

  constructor(private readonly ctx: DeviceContext) {
    this.reset();
  }

  get mac(): number[] {
    return [this.macLo & 0xff, (this.macLo >>> 8) & 0xff, (this.macLo >>> 16) & 0xff, this.macLo >>> 24, this.macHi & 0xff, (this.macHi >>> 8) & 0xff];
  }

  readReg(off: number): number {
    switch (off) {
      case NIC_REG_CTRL:
        return this.ctrl;
      case NIC_REG_STATUS:
        return NIC_STATUS_LINK_UP | ((this.ctrl & NIC_CTRL_RX_EN) !== 0 ? NIC_STATUS_RX_EN : 0);
      case NIC_REG_SCRATCH:
        return this.scratch;
      case NIC_REG_MAC_LO:
        return this.macLo;
      case NIC_REG_MAC_HI:
        return this.macHi;
      case NIC_REG_RX_ADDR_LO:
        return this.rxAddrLo;
      case NIC_REG_RX_ADDR_HI:
        return this.rxAddrHi;
      case NIC_REG_RX_LEN:
        return this.rxLen;
      case NIC_REG_RX_COUNT:
        return this.rxCount;
      case NIC_REG_ICR:
        return this.icr;
      default:
        return 0;
    }
  }

  writeReg(off: number, v: number): void {
    v >>>= 0;
    switch (off) {
      case NIC_REG_CTRL:
        if ((v & NIC_CTRL_RST) !== 0) {
          this.reset();
          return;
        }
        this.ctrl = v & NIC_CTRL_RX_EN;
        return;
      case NIC_REG_SCRATCH:
        this.scratch = v;
        return;
      case NIC_REG_MAC_LO:
        this.macLo = v;
        return;
      case NIC_REG_MAC_HI:
        this.macHi = v & 0xffff;
        return;
      case NIC_REG_RX_ADDR_LO:
        this.rxAddrLo = v;
        return;
      case NIC_REG_RX_ADDR_HI:
        this.rxAddrHi = v;
        return;
      case NIC_REG_RX_DOORBELL:
        this.receive();
        return;
      case NIC_REG_ICR:
        this.icr = (this.icr & ~v) >>> 0;
        return;
      default:
        return;
    }
  }

  private receive(): void {
    if ((this.ctrl & NIC_CTRL_RX_EN) === 0) return;
    const pkt = nicPacket(this.mac, this.rxCount);
    const ok = this.ctx.dmaWrite(this.rxAddrHi * 2 ** 32 + this.rxAddrLo, pkt);
    if (ok) {
      this.rxLen = pkt.length;
      this.rxCount++;
      this.icr |= NIC_ICR_RX;
    } else {
      this.icr |= NIC_ICR_RX_DMA_ERR;
    }
    this.ctx.raiseIrq(0);
  }

  mmioRead(bar: number, off: number, size: number): bigint {
    if (bar !== 0) return 0n;
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) {
      const o = off + i;
      const reg = this.readReg(o & ~3);
      v = (v << 8n) | BigInt((reg >>> (8 * (o & 3))) & 0xff);
    }
    return v;
  }

  mmioWrite(bar: number, off: number, size: number, value: bigint): void {
    if (bar !== 0) return;
    // Split into registers; partial registers are read-modify-write.
    let o = off;
    const end = off + size;
    while (o < end) {
      const base = o & ~3;
      let cur = base === NIC_REG_RX_DOORBELL || base === NIC_REG_ICR ? 0 : this.readReg(base);
      for (let b = o & 3; b < 4 && o < end; b++, o++) {
        const byte = Number((value >> BigInt(8 * (o - off))) & 0xffn);
        cur = (cur & ~(0xff << (8 * b))) | (byte << (8 * b));
      }
      this.writeReg(base, cur >>> 0);
    }
  }

  ioRead(_bar: number, off: number, size: number): number {
    if (size !== 4) return size === 2 ? 0xffff : 0xff;
    if (off === NIC_IO_ADDR) return this.ioAddr;
    if (off === NIC_IO_DATA) return this.readReg(this.ioAddr & 0x1fffc);
    return 0xffffffff;
  }

  ioWrite(_bar: number, off: number, size: number, value: number): void {
    if (size !== 4) return;
    if (off === NIC_IO_ADDR) this.ioAddr = value >>> 0;
    else if (off === NIC_IO_DATA) this.writeReg(this.ioAddr & 0x1fffc, value);
  }

  reset(): void {
    this.ctrl = 0;
    this.scratch = 0;
    const m = NIC_DEFAULT_MAC;
    this.macLo = ((m[0] ?? 0) | ((m[1] ?? 0) << 8) | ((m[2] ?? 0) << 16) | ((m[3] ?? 0) << 24)) >>> 0;
    this.macHi = (m[4] ?? 0) | ((m[5] ?? 0) << 8);
    this.rxAddrLo = 0;
    this.rxAddrHi = 0;
    this.rxLen = 0;
    this.rxCount = 0;
    this.icr = 0;
    this.ioAddr = 0;
  }
}

/** The nic device definition. */
export const NIC_DEVICE: DeviceDefinition = defineDevice({
  model: 'nic',
  vendorId: NIC_VENDOR_ID,
  deviceId: NIC_DEVICE_ID,
  revision: 0x01,
  classCode: 0x020000,
  interruptPin: 1,
  bars: [
    { index: 0, kind: 'mem', size: NIC_BAR0_SIZE },
    { index: 2, kind: 'io', size: NIC_BAR2_SIZE },
    { index: 3, kind: 'mem', size: NIC_BAR3_SIZE, mem64: true, prefetch: true },
  ],
  rom: { size: NIC_ROM_SIZE, image: nicRomImage(), fill: NIC_ROM_FILL },
  caps: {
    pm: { noSoftReset: true },
    msix: { vectors: NIC_MSIX_VECTORS, tableBar: 3, tableOffset: NIC_MSIX_TABLE_OFFSET, pbaBar: 3, pbaOffset: NIC_MSIX_PBA_OFFSET },
    pcie: { flr: true },
  },
  behavior: (ctx) => new NicState(ctx),
});
