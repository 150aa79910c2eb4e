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

  /**
   * A zeroed space with its own masks; or, given `shared`, a space whose bytes are a copy
   * of `shared`'s and whose write masks are `shared`'s own arrays (see `instance`).
   */
  constructor(
    readonly size: 256 | 4096,
    shared?: ConfigSpace,
    into?: Uint8Array,
  ) {
    if (shared === undefined) {
      // one buffer for the three arrays: one allocation instead of three
      const buf = new ArrayBuffer(3 * size);
      this.data = new Uint8Array(buf, 0, size);
      this.wmask = new Uint8Array(buf, size, size);
      this.w1c = new Uint8Array(buf, 2 * size, size);
    } else {
      if (into === undefined) {
        this.data = shared.data.slice();
      } else {
        into.set(shared.data);
        this.data = into;
      }
      this.wmask = shared.wmask;
      this.w1c = shared.w1c;
    }
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

  /**
   * A live copy for one function: its own bytes (a copy of these), the write masks
   * shared with this space. The masks of a template never change once it is built
   * (only the template builders call setWmask/setW1c), so functions built from one
   * template can share them; a function's config writes only change its bytes. `into`
   * (exactly `size` bytes, e.g. a slice of a machine-wide buffer) holds the bytes;
   * without it they get a buffer of their own.
   */
  instance(into?: Uint8Array): ConfigSpace {
    if (into !== undefined && into.length !== this.size) throw new RangeError(`config space instance needs ${this.size} bytes, got ${into.length}`);
    return new ConfigSpace(this.size, this, into);
  }

  clone(): ConfigSpace {
    const c = new ConfigSpace(this.size);
    c.data.set(this.data);
    c.wmask.set(this.wmask);
    c.w1c.set(this.w1c);
    return c;
  }
}
