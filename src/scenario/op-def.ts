/**
 * The shape of a scenario operation and helpers shared by the operation tables
 * (ops.ts, ioctls.ts): result formatting, little-endian values, short forms.
 */
import * as z from 'zod';
import { errnoName } from '../kernel/errno.js';
import type { Task } from '../kernel/sched/task.js';
import type { Outcome, StepCtx } from './context.js';
import type { DataPath } from './source.js';
import { type BindKind, DeviceRef, NameRef } from './values.js';

/** One scenario operation. */
export interface OpDef<A = unknown> {
  readonly name: string;
  /** One line for the JSON Schema and the README. */
  readonly doc: string;
  /** The argument schema (the value under the op's key). */
  readonly args: z.ZodType<A, unknown>;
  /** What `as:` names when the op succeeds (null: nothing to name). */
  readonly binds: BindKind | null | ((a: A) => BindKind | null);
  /** Whether the op may be written as a bare word (`- exit`). */
  readonly bare?: boolean;
  /** Static checks beyond the schema: a path under the op's key and a message. */
  check?(a: A): { path: DataPath; message: string } | null;
  /** Short description for traces and the thread label: "pread dev bar0+0x0/4". */
  describe(a: A): string;
  run(ctx: StepCtx, a: A): Task<Outcome>;
  /** Result text (default: formatOutcome). */
  format?(a: A, o: Outcome): string;
}

/** Type-erase an op definition for the table (the args were produced by its own schema). */
export function defineOp<A>(d: OpDef<A>): OpDef<unknown> {
  return d as unknown as OpDef<unknown>;
}

// ---- helpers ----------------------------------------------------------------------------

export const hex = (v: number | bigint): string => (typeof v === 'bigint' && v < 0n) || (typeof v === 'number' && v < 0) ? `-0x${(-BigInt(v)).toString(16)}` : `0x${v.toString(16)}`;

/** Text of a reference as written. */
export function refText(r: NameRef | number | DeviceRef): string {
  if (typeof r === 'number') return String(r);
  if (r instanceof DeviceRef) return r.name;
  return r.text;
}

/** Little-endian integer of up to 8 bytes. */
export function leValue(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = Math.min(b.length, 8) - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i] ?? 0);
  return v;
}

export function leBytes(v: bigint, size: number): Uint8Array {
  const b = new Uint8Array(size);
  let x = BigInt.asUintN(64, v);
  for (let i = 0; i < size; i++) {
    b[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return b;
}

export function bytesHex(b: Uint8Array, max = 16): string {
  const parts = [...b.subarray(0, max)].map((x) => x.toString(16).padStart(2, '0'));
  return parts.join(' ') + (b.length > max ? ` … (${b.length} bytes)` : '');
}

/** A syscall return as an outcome. */
export function sys(ret: number, extra: Partial<Outcome> = {}): Outcome {
  return ret < 0 ? { errno: -ret, ...(extra.where !== undefined ? { where: extra.where } : {}) } : { ret, ...extra };
}

/** Default result text. */
export function formatOutcome(o: Outcome): string {
  if (o.failure !== undefined) return `failed: ${o.failure}`;
  if (o.signal !== undefined) return `${o.signal.sig} (${o.signal.code}) at ${hex(o.signal.addr)}`;
  if (o.errno !== undefined) return `-${errnoName(o.errno)}${o.where !== undefined ? ` in ${o.where}` : ''}`;
  const parts: string[] = [];
  if (o.value !== undefined) parts.push(hex(o.value));
  else if (o.data !== undefined && o.data.length > 0) parts.push(bytesHex(o.data));
  else if (o.bind?.kind === 'mapping') parts.push(hex(o.bind.addr));
  else if (o.ret !== undefined) parts.push(o.bind !== undefined ? `fd ${o.ret}` : String(o.ret));
  if (o.fields !== undefined) parts.push(Object.entries(o.fields).map(([k, v]) => `${k}=${typeof v === 'bigint' ? hex(v) : String(v)}`).join(' '));
  if (o.note !== undefined) parts.push(o.note);
  return parts.join(' ') || 'ok';
}

/** Bare-word or short form: `close: dev` means `close: { fd: dev }`. */
export function short<K extends string, V, O>(key: K, value: z.ZodType<V, unknown>, full: z.ZodType<O, unknown>, what: string): z.ZodType<O, unknown> {
  return z.union([value.transform((v) => ({ [key]: v }) as unknown as O), full], { error: what });
}

