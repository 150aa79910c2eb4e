/**
 * uAPI structs as data: one declarative layout table per C struct (field, offset, size,
 * type), from which encoding and decoding are derived. Every struct the model passes
 * through user memory (include/uapi/linux/vfio.h, the KVM ones used) is declared once
 * with `defineStruct` in src/uapi/vfio.ts or src/uapi/kvm.ts; the kernel handlers, the
 * typed client, the C-shaped layer (src/user/libc.ts) and the scenario ioctls all read
 * and write struct bytes through these tables.
 *
 * Layouts are x86-64: little-endian, natural alignment. `defineStruct` checks every row
 * against that rule (an offset that is not aligned, overlaps the previous field or runs
 * past `sizeof` throws when the module loads), so a typo in a table cannot go unnoticed.
 *
 * Decoding never throws: a field beyond the end of a short buffer reads as 0 (the kernel
 * copies exactly `minsz` bytes, so callers pass buffers of at least that size). Encoding
 * writes only the fields that fit.
 */
import { LeView, type U64In } from './ioctl.js';

/** A C field type: __u8, __u16, __u32, __s32, __u64, __s64. */
export type FieldType = 'u8' | 'u16' | 'u32' | 's32' | 'u64' | 's64';

/** Bytes of each field type (also its alignment on x86-64). */
export const FIELD_SIZE: Readonly<Record<FieldType, number>> = { u8: 1, u16: 2, u32: 4, s32: 4, u64: 8, s64: 8 };

/**
 * One row of a layout table: [js name, C name, offset, type]. The field's size is the
 * type's size; the js name is the camelCase the decoded object uses.
 */
export type FieldRow = readonly [name: string, cName: string, offset: number, type: FieldType];

/** A field as the table states it, with its size. */
export interface FieldSpec {
  readonly name: string;
  readonly cName: string;
  readonly offset: number;
  readonly size: number;
  readonly type: FieldType;
}

/** The JS value of a field type when decoded: u64/s64 as bigint, the rest as number. */
type Decoded<T extends FieldType> = T extends 'u64' | 's64' ? bigint : number;
/** The value accepted for a field type when encoding. */
type Encoded<T extends FieldType> = T extends 'u64' | 's64' ? U64In : number;

/** The decoded object of a table: one property per row. */
export type StructValue<R extends readonly FieldRow[]> = { -readonly [K in R[number] as K[0]]: Decoded<K[3]> };
/** What `encode` takes: any subset of the fields (absent ones are 0). */
export type StructInput<R extends readonly FieldRow[]> = { readonly [K in R[number] as K[0]]?: Encoded<K[3]> };

/** A C struct's layout: its fields, `sizeof`, and the encoder/decoder derived from them. */
export class StructLayout<R extends readonly FieldRow[] = readonly FieldRow[]> {
  readonly fields: readonly FieldSpec[];
  private readonly byName: ReadonlyMap<string, FieldSpec>;

  constructor(
    /** The C name, e.g. 'vfio_region_info'. */
    readonly cName: string,
    /** sizeof(struct ...) (trailing padding included; a flexible array member adds nothing). */
    readonly size: number,
    rows: R,
    /** The flexible array member after the fixed part, if any (e.g. 'data[]'); documentation only. */
    readonly tail: string | null = null,
  ) {
    this.fields = rows.map(([name, c, offset, type]) => ({ name, cName: c, offset, size: FIELD_SIZE[type], type }));
    this.byName = new Map(this.fields.map((f) => [f.name, f]));
    this.check();
  }

  /** Natural alignment, no overlap, everything inside sizeof, sizeof a multiple of the alignment. */
  private check(): void {
    let end = 0;
    let align = 1;
    for (const f of this.fields) {
      if (f.offset % f.size !== 0) throw new Error(`struct ${this.cName}: ${f.cName} at ${f.offset} is not ${f.size}-byte aligned`);
      if (f.offset < end) throw new Error(`struct ${this.cName}: ${f.cName} at ${f.offset} overlaps the field before it`);
      end = f.offset + f.size;
      align = Math.max(align, f.size);
    }
    if (end > this.size) throw new Error(`struct ${this.cName}: fields end at ${end}, past sizeof ${this.size}`);
    if (this.size % align !== 0) throw new Error(`struct ${this.cName}: sizeof ${this.size} is not a multiple of its alignment ${align}`);
  }

  /** The field named `name` (js or C name). */
  field(name: string): FieldSpec {
    const f = this.byName.get(name) ?? this.fields.find((x) => x.cName === name);
    if (f === undefined) throw new RangeError(`struct ${this.cName} has no field '${name}'`);
    return f;
  }

  /** offsetof(struct, field) */
  offsetof(name: string): number {
    return this.field(name).offset;
  }

  /** offsetofend(struct, field): the `minsz` kernel handlers compute. */
  offsetofend(name: string): number {
    const f = this.field(name);
    return f.offset + f.size;
  }

  /**
   * Encode `s` into `into` at `off` (default: a new zeroed buffer of sizeof bytes).
   * Absent fields are left as they are (0 in a new buffer).
   */
  encode(s: StructInput<R>, into?: Uint8Array, off = 0): Uint8Array {
    const b = into ?? new Uint8Array(this.size);
    const v = new LeView(b);
    const src = s as Readonly<Record<string, U64In | undefined>>;
    for (const f of this.fields) {
      const x = src[f.name];
      if (x === undefined) continue;
      writeField(v, off + f.offset, f.type, x);
    }
    return b;
  }

  /** Decode the struct at `off` in `b` (fields past the buffer's end read as 0). */
  decode(b: Uint8Array, off = 0): StructValue<R> {
    const v = new LeView(b);
    const r: Record<string, number | bigint> = {};
    for (const f of this.fields) r[f.name] = readField(v, off + f.offset, f.type);
    return r as StructValue<R>;
  }

  /** One line per field, as the C declaration with offsets (for docs and error messages). */
  describe(): string {
    const rows = this.fields.map((f) => `  /* ${String(f.offset).padStart(3)} */ __${f.type} ${f.cName};`);
    if (this.tail !== null) rows.push(`  /* ${String(this.size).padStart(3)} */ ${this.tail};`);
    return `struct ${this.cName} {\n${rows.join('\n')}\n}; /* sizeof ${this.size} */`;
  }
}

function readField(v: LeView, off: number, t: FieldType): number | bigint {
  switch (t) {
    case 'u8':
      return v.u8(off);
    case 'u16':
      return v.u16(off);
    case 'u32':
      return v.u32(off);
    case 's32':
      return v.s32(off);
    case 'u64':
      return v.u64(off);
    case 's64':
      return BigInt.asIntN(64, v.u64(off));
  }
}

function writeField(v: LeView, off: number, t: FieldType, x: U64In): void {
  switch (t) {
    case 'u8':
      v.setU8(off, Number(x));
      return;
    case 'u16':
      v.setU16(off, Number(x));
      return;
    case 'u32':
      v.setU32(off, Number(x));
      return;
    case 's32':
      v.setS32(off, Number(x));
      return;
    case 'u64':
    case 's64':
      v.setU64(off, x);
      return;
  }
}

/**
 * Declare a struct: `defineStruct('vfio_irq_info', 16, [['argsz', 'argsz', 0, 'u32'], ...])`.
 * The table is checked against x86-64 natural alignment when the module loads.
 */
export function defineStruct<const R extends readonly FieldRow[]>(cName: string, size: number, rows: R, tail: string | null = null): StructLayout<R> {
  return new StructLayout(cName, size, rows, tail);
}

/** Every layout declared in src/uapi (filled by the modules that declare them), by C name. */
export const UAPI_STRUCTS = new Map<string, StructLayout>();

/** defineStruct, and record the layout in UAPI_STRUCTS. */
export function uapiStruct<const R extends readonly FieldRow[]>(cName: string, size: number, rows: R, tail: string | null = null): StructLayout<R> {
  const l = defineStruct(cName, size, rows, tail);
  UAPI_STRUCTS.set(cName, l as unknown as StructLayout);
  return l;
}
