/**
 * ioctl number encoding (include/uapi/asm-generic/ioctl.h, x86-64 values) and small
 * helpers for little-endian struct layouts shared by the kernel model and the user side.
 */

export const IOC_NRBITS = 8;
export const IOC_TYPEBITS = 8;
export const IOC_SIZEBITS = 14;
export const IOC_NRSHIFT = 0;
export const IOC_TYPESHIFT = IOC_NRSHIFT + IOC_NRBITS;
export const IOC_SIZESHIFT = IOC_TYPESHIFT + IOC_TYPEBITS;
export const IOC_DIRSHIFT = IOC_SIZESHIFT + IOC_SIZEBITS;
export const IOC_NONE = 0;
export const IOC_WRITE = 1;
export const IOC_READ = 2;

/** _IOC(dir, type, nr, size) */
export function _IOC(dir: number, type: number, nr: number, size: number): number {
  return ((dir << IOC_DIRSHIFT) | (type << IOC_TYPESHIFT) | (nr << IOC_NRSHIFT) | (size << IOC_SIZESHIFT)) >>> 0;
}

/** _IO(type, nr): no data direction, no size (all VFIO ioctls use it). */
export function _IO(type: number, nr: number): number {
  return _IOC(IOC_NONE, type, nr, 0);
}

/** The ioctl's type character and number, for traces. */
export function iocDecode(cmd: number): { dir: number; type: number; nr: number; size: number } {
  return {
    dir: (cmd >>> IOC_DIRSHIFT) & 0x3,
    type: (cmd >>> IOC_TYPESHIFT) & 0xff,
    nr: (cmd >>> IOC_NRSHIFT) & 0xff,
    size: (cmd >>> IOC_SIZESHIFT) & 0x3fff,
  };
}

/** A u64 field as given by a caller: a number (must be a safe integer) or a bigint. */
export type U64In = number | bigint;

/** Normalise a u64 input to a bigint in [0, 2^64) (two's complement wrap, like a C cast). */
export function u64(v: U64In): bigint {
  return BigInt.asUintN(64, typeof v === 'bigint' ? v : BigInt(Math.trunc(v)));
}

/** A little-endian view on a byte buffer (struct field access with natural alignment done by the caller's offsets). */
export class LeView {
  private readonly dv: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  /** True if [off, off+len) lies inside the buffer. */
  has(off: number, len: number): boolean {
    return off >= 0 && off + len <= this.bytes.byteLength;
  }
  u8(off: number): number {
    return this.has(off, 1) ? this.dv.getUint8(off) : 0;
  }
  u16(off: number): number {
    return this.has(off, 2) ? this.dv.getUint16(off, true) : 0;
  }
  u32(off: number): number {
    return this.has(off, 4) ? this.dv.getUint32(off, true) : 0;
  }
  s32(off: number): number {
    return this.has(off, 4) ? this.dv.getInt32(off, true) : 0;
  }
  u64(off: number): bigint {
    return this.has(off, 8) ? this.dv.getBigUint64(off, true) : 0n;
  }
  setU8(off: number, v: number): void {
    if (this.has(off, 1)) this.dv.setUint8(off, v & 0xff);
  }
  setU16(off: number, v: number): void {
    if (this.has(off, 2)) this.dv.setUint16(off, v & 0xffff, true);
  }
  setU32(off: number, v: number): void {
    if (this.has(off, 4)) this.dv.setUint32(off, v >>> 0, true);
  }
  setS32(off: number, v: number): void {
    if (this.has(off, 4)) this.dv.setInt32(off, v | 0, true);
  }
  setU64(off: number, v: U64In): void {
    if (this.has(off, 8)) this.dv.setBigUint64(off, u64(v), true);
  }
}
