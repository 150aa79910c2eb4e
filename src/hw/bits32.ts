/**
 * Unsigned 32-bit register arithmetic. JavaScript's bitwise operators (`&`, `|`, `~`,
 * `<<`, `>>`) work on *signed* 32-bit integers: `0xfee00000 & 0xfff00000` is
 * -1048576, not 0xfee00000, and `~x` of a size above 4 GiB silently drops the high
 * bits. Every register or address helper that masks with a constant >= 0x80000000 (or
 * takes `~` of a register or size) goes through these, so its result is the u32 the
 * C code computes (tested over random 32-bit values in test/hw/bits32.test.ts).
 */

/** The u32 the C expression `v & m` gives (both operands taken as u32). */
export function and32(v: number, m: number): number {
  return (v & m) >>> 0;
}

/** `v & ~m` as a u32: clear the bits of `m`. */
export function clear32(v: number, m: number): number {
  return (v & ~m) >>> 0;
}

/** `(v & ~m) | (n & m)` as a u32: replace the bits of `m` with those of `n`. */
export function merge32(v: number, n: number, m: number): number {
  return ((v & ~m) | (n & m)) >>> 0;
}

/**
 * Whether a bus address (up to 64 bits, as a JS number) is in the x86 interrupt window
 * 0xfee00000-0xfeefffff (arch/x86/include/asm/msidef.h MSI_ADDR_BASE_HI 0, base
 * 0xfee00000): compared as a number, never through a signed 32-bit mask, and an address
 * with high bits set is not in the window.
 */
export function inMsiWindow(addr: number): boolean {
  return addr >= 0xfee0_0000 && addr <= 0xfeef_ffff;
}

/**
 * The low dword's size mask of a BAR of `size` bytes (a power of two): the address
 * bits a sizing write can set, `~(size - 1)` limited to 32 bits and to `addrMask` (the
 * dword's address field: 0xfffffff0 for memory, 0xfffffffc for I/O); 0 when the BAR is
 * 4 GiB or larger (its low dword holds no address bits then).
 */
export function barLowMask(size: number, addrMask: number): number {
  if (size >= 2 ** 32) return 0;
  return (~(size - 1) & addrMask) >>> 0;
}

/**
 * The high dword's size mask of a 64-bit BAR of `size` bytes: all ones up to 4 GiB,
 * `~(size / 2^32 - 1)` above (computed on the high half, where `~(size - 1)` on the
 * whole size would lose the upper bits to ToInt32).
 */
export function barHighMask(size: number): number {
  if (size <= 2 ** 32) return 0xffff_ffff;
  return ~(size / 2 ** 32 - 1) >>> 0;
}
