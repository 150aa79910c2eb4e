/**
 * `gpu`: a small GPU-like PCIe endpoint with one large BAR, modelled with the public
 * defineDevice API. It exists for what edu (1 MiB BAR) and nic (128 KiB) cannot show:
 * the huge pfnmap faults of Linux 6.12 (a PMD leaf maps 2 MiB, a PUD leaf 1 GiB, and
 * both need a BAR at least that large and naturally aligned, which firmware gives every
 * BAR here).
 *
 * BARs: BAR0 32-bit memory 16 KiB (registers); BAR2 64-bit prefetchable memory, the
 * "VRAM": 16 MiB for GPU_DEVICE, any power of two from 64 KiB to 1 GiB with
 * gpuDevice(size). Class 0x030200 (3D controller: not VGA-compatible, so no legacy VGA
 * ranges).
 *
 * BAR0 registers (32-bit accesses; other sizes read all-ones and ignore writes):
 * - 0x00 ID        RO  0x01101b36 (device id << 16 | vendor id)
 * - 0x04 VRAM_SIZE RO  BAR2 size in KiB
 * - 0x08 SCRATCH   RW  (0 after FLR, bus reset and power-on reset)
 * Unlisted offsets read 0 and ignore writes.
 *
 * BAR2 is plain memory: any access of 1, 2, 4 or 8 bytes reads what was last written
 * there, and bytes never written read 0. It is stored sparsely (a 4 KiB page is
 * allocated on its first write) and keeps its contents across resets (nothing clears
 * a real board's VRAM on a function reset).
 */
import { defineDevice, type DeviceBehavior, type DeviceDefinition } from '../device.js';

export const GPU_VENDOR_ID = 0x1b36;
export const GPU_DEVICE_ID = 0x0110;
export const GPU_BAR0_SIZE = 16 * 1024;
export const GPU_VRAM_SIZE = 16 * 1024 * 1024;
/** Smallest and largest VRAM BAR gpuDevice accepts. */
export const GPU_VRAM_MIN = 64 * 1024;
export const GPU_VRAM_MAX = 1024 * 1024 * 1024;

export const GPU_REG_ID = 0x00;
export const GPU_REG_VRAM_SIZE = 0x04;
export const GPU_REG_SCRATCH = 0x08;
export const GPU_ID_VALUE = ((GPU_DEVICE_ID << 16) | GPU_VENDOR_ID) >>> 0;

const ONES64 = 0xffff_ffff_ffff_ffffn;
const VRAM_PAGE = 4096;

/** The gpu device state (exposed for tests and diagnostics). */
export class GpuState implements DeviceBehavior {
  scratch = 0;
  /** VRAM pages written so far, by page index. */
  readonly vram = new Map<number, Uint8Array>();

  constructor(readonly vramSize: number) {}

  mmioRead(bar: number, off: number, size: number): bigint {
    if (bar === 2) return this.vramRead(off, size);
    if (size !== 4) return ONES64;
    switch (off) {
      case GPU_REG_ID:
        return BigInt(GPU_ID_VALUE);
      case GPU_REG_VRAM_SIZE:
        return BigInt(this.vramSize / 1024);
      case GPU_REG_SCRATCH:
        return BigInt(this.scratch);
      default:
        return 0n;
    }
  }

  mmioWrite(bar: number, off: number, size: number, value: bigint): void {
    if (bar === 2) {
      this.vramWrite(off, size, value);
      return;
    }
    if (size === 4 && off === GPU_REG_SCRATCH) this.scratch = Number(value & 0xffff_ffffn);
  }

  private vramRead(off: number, size: number): bigint {
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) {
      const a = off + i;
      const page = this.vram.get(Math.floor(a / VRAM_PAGE));
      v = (v << 8n) | BigInt(page === undefined ? 0 : (page[a % VRAM_PAGE] ?? 0));
    }
    return v;
  }

  private vramWrite(off: number, size: number, value: bigint): void {
    let x = value;
    for (let i = 0; i < size; i++) {
      const a = off + i;
      const idx = Math.floor(a / VRAM_PAGE);
      let page = this.vram.get(idx);
      if (page === undefined) {
        page = new Uint8Array(VRAM_PAGE);
        this.vram.set(idx, page);
      }
      page[a % VRAM_PAGE] = Number(x & 0xffn);
      x >>= 8n;
    }
  }

  /** Registers reset; VRAM keeps its contents. */
  reset(): void {
    this.scratch = 0;
  }
}

/** Whether `size` is a VRAM size gpuDevice accepts: a power of two from 64 KiB to 1 GiB. */
export function isGpuVramSize(size: number): boolean {
  return Number.isSafeInteger(size) && size >= GPU_VRAM_MIN && size <= GPU_VRAM_MAX && (size & (size - 1)) === 0;
}

/** A gpu with a VRAM BAR (BAR2) of `vramSize` bytes; throws for a size isGpuVramSize rejects. */
export function gpuDevice(vramSize: number = GPU_VRAM_SIZE): DeviceDefinition {
  if (!isGpuVramSize(vramSize)) throw new Error(`gpu: VRAM size 0x${vramSize.toString(16)} is not a power of two from 64 KiB to 1 GiB`);
  return defineDevice({
    model: 'gpu',
    vendorId: GPU_VENDOR_ID,
    deviceId: GPU_DEVICE_ID,
    revision: 0x01,
    classCode: 0x030200,
    interruptPin: 1,
    bars: [
      { index: 0, kind: 'mem', size: GPU_BAR0_SIZE },
      { index: 2, kind: 'mem', size: vramSize, mem64: true, prefetch: true },
    ],
    caps: { pm: { noSoftReset: true }, msi: { vectors: 1, addr64: true }, pcie: { flr: true } },
    behavior: () => new GpuState(vramSize),
  });
}

/** The gpu device definition with 16 MiB of VRAM. */
export const GPU_DEVICE: DeviceDefinition = gpuDevice();
