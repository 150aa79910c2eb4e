import { PAGE_SHIFT, PAGE_SIZE, type RamHw } from './api.js';

/** The first pfn handed out by allocPage (the low 1 MiB is left to "firmware"). */
export const RAM_FIRST_ALLOC_PFN = 0x100;

/**
 * Physical RAM at [0, size): 4 KiB pages, materialized lazily (zero-filled) on first
 * touch. allocPage hands out pfns deterministically (lowest never-used pfn first, then
 * most recently freed), zeroing recycled pages.
 */
export class Ram implements RamHw {
  readonly pages: number;
  /** Materialized pages by pfn (a Map: a 256 MiB machine has 64 Ki pages, few ever touched). */
  private readonly bytes = new Map<number, Uint8Array>();
  private readonly views = new Map<number, DataView>();
  /** Pfns currently handed out by allocPage (a set: few of the 64 Ki pages ever are). */
  private readonly allocated = new Set<number>();
  private readonly freeList: number[] = [];
  private nextFresh = RAM_FIRST_ALLOC_PFN;
  /** The page `page()` returned last (pages stay in `bytes` once made, so it stays valid). */
  private lastPfn = -1;
  private lastPage: Uint8Array | null = null;

  constructor(readonly size: number) {
    this.pages = Math.floor(size / PAGE_SIZE);
  }

  allocPage(): number {
    let pfn = this.freeList.pop();
    if (pfn === undefined) {
      if (this.nextFresh >= this.pages) return -1;
      pfn = this.nextFresh++;
    } else {
      this.bytes.get(pfn)?.fill(0);
    }
    this.allocated.add(pfn);
    return pfn;
  }

  freePage(pfn: number): void {
    if (!this.isRam(pfn) || !this.allocated.has(pfn)) return;
    this.allocated.delete(pfn);
    this.freeList.push(pfn);
  }

  isRam(pfn: number): boolean {
    return Number.isInteger(pfn) && pfn >= 0 && pfn < this.pages;
  }

  /** Whether the page is currently handed out by allocPage. */
  isAllocated(pfn: number): boolean {
    return this.isRam(pfn) && this.allocated.has(pfn);
  }

  page(pfn: number): Uint8Array {
    // consecutive accesses mostly hit one page (a process's scratch buffer): skip the map then
    if (pfn === this.lastPfn && this.lastPage !== null) return this.lastPage;
    let p = this.bytes.get(pfn);
    if (p === undefined) {
      if (!this.isRam(pfn)) throw new RangeError(`pfn ${pfn} is not RAM`);
      p = new Uint8Array(PAGE_SIZE);
      this.bytes.set(pfn, p);
    }
    this.lastPfn = pfn;
    this.lastPage = p;
    return p;
  }

  view(pfn: number): DataView {
    const v = this.views.get(pfn);
    if (v !== undefined) return v;
    const p = this.page(pfn);
    const nv = new DataView(p.buffer, p.byteOffset, p.byteLength);
    this.views.set(pfn, nv);
    return nv;
  }

  /** Little-endian read at a physical RAM address (may cross a page). */
  read(addr: number, size: number): bigint {
    const pfn = Math.floor(addr / PAGE_SIZE);
    const off = addr - pfn * PAGE_SIZE;
    if (off + size <= PAGE_SIZE) {
      const v = this.view(pfn);
      switch (size) {
        case 1:
          return BigInt(v.getUint8(off));
        case 2:
          return BigInt(v.getUint16(off, true));
        case 4:
          return BigInt(v.getUint32(off, true));
        default:
          return v.getBigUint64(off, true);
      }
    }
    let r = 0n;
    for (let i = size - 1; i >= 0; i--) r = (r << 8n) | BigInt(this.byteAt(addr + i));
    return r;
  }

  write(addr: number, size: number, value: bigint): void {
    const pfn = Math.floor(addr / PAGE_SIZE);
    const off = addr - pfn * PAGE_SIZE;
    if (off + size <= PAGE_SIZE) {
      const v = this.view(pfn);
      switch (size) {
        case 1:
          v.setUint8(off, Number(value & 0xffn));
          return;
        case 2:
          v.setUint16(off, Number(value & 0xffffn), true);
          return;
        case 4:
          v.setUint32(off, Number(value & 0xffffffffn), true);
          return;
        default:
          v.setBigUint64(off, BigInt.asUintN(64, value), true);
          return;
      }
    }
    for (let i = 0; i < size; i++) this.setByte(addr + i, Number((value >> BigInt(8 * i)) & 0xffn));
  }

  byteAt(addr: number): number {
    const pfn = addr >>> 0 === addr ? addr >>> PAGE_SHIFT : Math.floor(addr / PAGE_SIZE);
    return this.page(pfn)[addr - pfn * PAGE_SIZE] ?? 0;
  }

  setByte(addr: number, b: number): void {
    const pfn = Math.floor(addr / PAGE_SIZE);
    this.page(pfn)[addr - pfn * PAGE_SIZE] = b & 0xff;
  }

  /** Copy bytes out of RAM (may cross pages). */
  copyOut(addr: number, len: number, dst: Uint8Array, dstOff: number): void {
    let done = 0;
    while (done < len) {
      const a = addr + done;
      const pfn = Math.floor(a / PAGE_SIZE);
      const off = a - pfn * PAGE_SIZE;
      const n = Math.min(len - done, PAGE_SIZE - off);
      dst.set(this.page(pfn).subarray(off, off + n), dstOff + done);
      done += n;
    }
  }

  /** Copy bytes into RAM (may cross pages). */
  copyIn(addr: number, src: Uint8Array, srcOff: number, len: number): void {
    let done = 0;
    while (done < len) {
      const a = addr + done;
      const pfn = Math.floor(a / PAGE_SIZE);
      const off = a - pfn * PAGE_SIZE;
      const n = Math.min(len - done, PAGE_SIZE - off);
      this.page(pfn).set(src.subarray(srcOff + done, srcOff + done + n), off);
      done += n;
    }
  }
}
