/**
 * A function's configuration space: the bytes plus per-byte write masks.
 * A bit is either read-only (both masks 0), writable (`wmask`) or
 * write-1-to-clear (`w1c`). Hardware-side updates (status bits, reset) use the
 * raw setters, which ignore the masks.
 */
export class ConfigSpace {
  readonly data: Uint8Array;
  readonly wmask: Uint8Array;
  readonly w1c: Uint8Array;

  constructor(readonly size: 256 | 4096) {
    this.data = new Uint8Array(size);
    this.wmask = new Uint8Array(size);
    this.w1c = new Uint8Array(size);
  }

  /** Little-endian read of 1, 2 or 4 bytes (raw). */
  read(off: number, size: number): number {
    const d = this.data;
    if (size === 1) return d[off] ?? 0;
    if (size === 2) return (d[off] ?? 0) | ((d[off + 1] ?? 0) << 8);
    return ((d[off] ?? 0) | ((d[off + 1] ?? 0) << 8) | ((d[off + 2] ?? 0) << 16) | ((d[off + 3] ?? 0) << 24)) >>> 0;
  }

  r8(off: number): number {
    return this.read(off, 1);
  }
  r16(off: number): number {
    return this.read(off, 2);
  }
  r32(off: number): number {
    return this.read(off, 4);
  }

  /** A config-cycle write: applies the writable and write-1-to-clear masks per byte. */
  write(off: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) {
      const o = off + i;
      if (o >= this.size) break;
      const b = (value >>> (8 * i)) & 0xff;
      const wm = this.wmask[o] ?? 0;
      const cm = this.w1c[o] ?? 0;
      let cur = this.data[o] ?? 0;
      cur = (cur & ~wm) | (b & wm);
      cur &= ~(b & cm);
      this.data[o] = cur & 0xff;
    }
  }

  /** Raw store (hardware side / firmware), ignoring masks. */
  set(off: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) this.data[off + i] = (value >>> (8 * i)) & 0xff;
  }
  set8(off: number, v: number): void {
    this.set(off, 1, v);
  }
  set16(off: number, v: number): void {
    this.set(off, 2, v);
  }
  set32(off: number, v: number): void {
    this.set(off, 4, v);
  }

  /** Set writable bits for `size` bytes at `off`. */
  setWmask(off: number, size: number, mask: number): void {
    for (let i = 0; i < size; i++) this.wmask[off + i] = (mask >>> (8 * i)) & 0xff;
  }

  /** Set write-1-to-clear bits for `size` bytes at `off`. */
  setW1c(off: number, size: number, mask: number): void {
    for (let i = 0; i < size; i++) this.w1c[off + i] = (mask >>> (8 * i)) & 0xff;
  }

  /** Copy the bytes (not the masks) of `other` into this space. */
  loadFrom(other: ConfigSpace): void {
    this.data.set(other.data);
  }

  clone(): ConfigSpace {
    const c = new ConfigSpace(this.size);
    c.data.set(this.data);
    c.wmask.set(this.wmask);
    c.w1c.set(this.w1c);
    return c;
  }
}
