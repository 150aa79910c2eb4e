/**
 * Value schemas shared by scenario operations: integers written as YAML numbers or
 * quoted hex strings, access sizes, references to named results (`dev`, `map0+0x10`,
 * `dev.group`), devices, regions, protections. Every schema carries an error message
 * that says what was expected.
 */
import * as z from 'zod';
import * as E from '../kernel/errno.js';

/** What a named result (`as: name`) holds (kvm/vm/vcpu: fds of /dev/kvm, a VM, a vCPU). */
export type BindKind = 'device' | 'container' | 'group' | 'eventfd' | 'fd' | 'kvm' | 'vm' | 'vcpu' | 'mapping';

/** Every fd-like kind. */
export const ANY_FD: readonly BindKind[] = ['device', 'container', 'group', 'eventfd', 'fd', 'kvm', 'vm', 'vcpu'];

/** A reference to a named result, optionally a part of it (`dev.group`) or plus an offset (`map0+0x10`). */
export class NameRef {
  constructor(
    readonly name: string,
    /** `.group` / `.container` of a device opened with open_device. */
    readonly sub: 'group' | 'container' | null,
    readonly offset: number,
    /** Kinds of named result this place accepts. */
    readonly accept: readonly BindKind[],
    /** As written. */
    readonly text: string,
  ) {}
}

/** A device of the scenario's machine, by name (edu0) or PCI address (0000:01:00.0). */
export class DeviceRef {
  constructor(readonly name: string) {}
}

/** A VFIO region of a device fd and an offset inside it. */
export interface RegionAt {
  readonly index: number;
  readonly name: string;
  readonly offset: number;
}

export const REGION_NAMES: Readonly<Record<string, number>> = { bar0: 0, bar1: 1, bar2: 2, bar3: 3, bar4: 4, bar5: 5, rom: 6, config: 7, vga: 8 };

const INT_RE = /^\s*-?(0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+|[0-9_]+)\s*$/;

function parseIntText(s: string): bigint {
  const t = s.trim().replace(/_/g, '');
  const neg = t.startsWith('-');
  const body = neg ? t.slice(1) : t;
  const v = BigInt(body);
  return neg ? -v : v;
}

const INT_MSG = 'expected an integer (e.g. 16 or 0x10; quote values above 2^53 as strings: "0xffffffffffffffff")';

/** Factories return one shared instance per argument (so the JSON Schema can refer to it once). */
function memo<A extends unknown[], R>(f: (...a: A) => R): (...a: A) => R {
  const cache = new Map<string, R>();
  return (...a: A) => {
    const k = JSON.stringify(a);
    let r = cache.get(k);
    if (r === undefined) {
      r = f(...a);
      cache.set(k, r);
    }
    return r;
  };
}

/** An integer as a JS number (safe range). */
export const int = memo((what: string = INT_MSG): z.ZodType<number, unknown> =>
  z
    .union([
      z.number({ error: what }).int({ error: what }),
      z
        .string({ error: what })
        .regex(INT_RE, { error: what })
        .transform((s, ctx) => {
          const v = parseIntText(s);
          if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
            ctx.issues.push({ code: 'custom', message: `${s.trim()} is too large here (at most 2^53-1)`, input: s });
            return z.NEVER;
          }
          return Number(v);
        }),
    ], { error: what }));

/** A non-negative integer of at most `max`. */
export const uint = memo((max: number = Number.MAX_SAFE_INTEGER, what?: string): z.ZodType<number, unknown> => {
  const msg = what ?? `expected a non-negative integer${max < Number.MAX_SAFE_INTEGER ? ` of at most 0x${max.toString(16)}` : ''} (e.g. 16 or 0x10)`;
  return int(msg).refine((v) => v >= 0 && v <= max, { message: msg });
});

/** A 64-bit value (numbers, or strings for values above 2^53); negative values wrap like a C cast. */
export const u64 = memo((what: string = INT_MSG): z.ZodType<bigint, unknown> =>
  z.union([
    z.number({ error: what }).int({ error: what }).transform((n) => BigInt.asUintN(64, BigInt(n))),
    z.string({ error: what }).regex(INT_RE, { error: what }).transform((s) => BigInt.asUintN(64, parseIntText(s))),
  ], { error: what }));

/** A CPU or MMIO access size. */
export const accessSize = z.union([z.literal(1), z.literal(2), z.literal(4), z.literal(8)], { error: 'expected an access size: 1, 2, 4 or 8' });
/** A config access size. */
export const cfgSize = z.union([z.literal(1), z.literal(2), z.literal(4)], { error: 'expected a config access size: 1, 2 or 4' });

const IDENT_SRC = '[A-Za-z_][A-Za-z0-9_-]*';
/** A name given with `as:` or to a thread/process/device. */
export const ident = z.string({ error: 'expected a name (letters, digits, _ and -, starting with a letter)' }).regex(new RegExp(`^${IDENT_SRC}$`), {
  error: 'expected a name (letters, digits, _ and -, starting with a letter)',
});

const FD_RE = new RegExp(`^(${IDENT_SRC})(?:\\.(group|container))?$`);

/** An fd: a named result of one of `accept` kinds (`dev`, `dev.group`), or a number. */
export const fdRef = memo((accept: readonly BindKind[] = ANY_FD): z.ZodType<NameRef | number, unknown> => {
  const what = `expected a file descriptor: a name from an earlier step's 'as:' (e.g. dev, dev.group, dev.container) or a number`;
  return z.union([
    z.number({ error: what }).int({ error: what }),
    z.string({ error: what }).regex(FD_RE, { error: what }).transform((s) => {
      const m = FD_RE.exec(s);
      const sub = (m?.[2] ?? null) as 'group' | 'container' | null;
      return new NameRef(m?.[1] ?? s, sub, 0, accept, s);
    }),
  ], { error: what });
});

const ADDR_RE = new RegExp(`^\\s*(${IDENT_SRC})\\s*(?:\\+\\s*(0x[0-9a-fA-F_]+|[0-9_]+))?\\s*$`);

/** A user address: `map0`, `map0+0x10` (a named mapping plus an offset), or a number. */
export const addr = memo((accept: readonly BindKind[] = ['mapping']): z.ZodType<NameRef | number, unknown> => {
  const what = 'expected an address: a mapping name from an earlier `as:` plus an optional offset (e.g. map0+0x10), or a number';
  return z.union([
    z.number({ error: what }).int({ error: what }).nonnegative({ error: what }),
    z.string({ error: what }).regex(ADDR_RE, { error: what }).transform((s) => {
      const m = ADDR_RE.exec(s);
      const off = m?.[2] === undefined ? 0 : Number(parseIntText(m[2]));
      return new NameRef(m?.[1] ?? s, null, off, accept, s.trim());
    }),
  ], { error: what });
});

/** A device of the machine. */
export const device = z
  .string({ error: 'expected a device: its name in the machine (e.g. edu0) or its PCI address (e.g. 0000:01:00.0)' })
  .min(1)
  .transform((s) => new DeviceRef(s.trim()));

const REGION_RE = /^\s*(bar[0-5]|rom|config|vga)\s*(?:\+\s*(0x[0-9a-fA-F_]+|[0-9_]+))?\s*$/;

/** A region of a device fd: `bar0`..`bar5`, `rom`, `config`, `vga`, optionally `+offset`; or an index. */
const REGION_MSG = 'expected a region: bar0..bar5, rom, config or vga, optionally plus an offset (bar0+0x10), or a region index';
export const region: z.ZodType<RegionAt, unknown> = z.union([
  z.number({ error: REGION_MSG }).int({ error: REGION_MSG }).nonnegative({ error: REGION_MSG }).transform((index) => ({ index, name: `region${index}`, offset: 0 })),
  z.string({ error: REGION_MSG }).regex(REGION_RE, { error: REGION_MSG }).transform((s) => {
    const m = REGION_RE.exec(s);
    const name = m?.[1] ?? 'bar0';
    return { index: REGION_NAMES[name] ?? 0, name, offset: m?.[2] === undefined ? 0 : Number(parseIntText(m[2])) };
  }),
], { error: REGION_MSG });

/** mmap protection. */
export const prot = z
  .enum(['none', 'r', 'w', 'rw', 'read', 'write', 'read-write'], { error: 'expected a protection: none, r, w or rw' })
  .transform((p) => (p === 'none' ? 0 : p === 'r' || p === 'read' ? 1 : p === 'w' || p === 'write' ? 2 : 3));

/** Byte data: a hex string ("de ad be ef" / "deadbeef") or a list of byte values. */
const BYTES_MSG = 'expected bytes: a hex string ("de ad be ef") or a list of byte values';
export const bytes: z.ZodType<Uint8Array, unknown> = z.union([
  z.string({ error: BYTES_MSG }).regex(/^\s*(?:[0-9a-fA-F]{2}\s*)+$/, { error: BYTES_MSG }).transform((s) => Uint8Array.from((s.replace(/\s+/g, '').match(/../g) ?? []).map((h) => parseInt(h, 16)))),
  z.array(z.number({ error: BYTES_MSG }).int({ error: BYTES_MSG }).min(0, { error: BYTES_MSG }).max(255, { error: BYTES_MSG }), { error: BYTES_MSG }).min(1, { error: BYTES_MSG }).transform((a) => Uint8Array.from(a)),
], { error: BYTES_MSG });

// ---- errno and signals -------------------------------------------------------------

/** errno name → value, from src/kernel/errno.ts. */
export const ERRNO_BY_NAME: ReadonlyMap<string, number> = new Map(
  Object.entries(E as Record<string, unknown>).filter((e): e is [string, number] => /^E[A-Z0-9]+$/.test(e[0]) && typeof e[1] === 'number'),
);

export const SIGNALS = ['SIGBUS', 'SIGSEGV'] as const;
export type SignalName = (typeof SIGNALS)[number];

const errnoNames = [...ERRNO_BY_NAME.keys()];
/** An errno by name (EIO or -EIO). */
export const errnoName = z
  .string({ error: `expected an errno name (${errnoNames.slice(0, 8).join(', ')}, ...)` })
  .transform((s) => s.trim().replace(/^-/, ''))
  .refine((s) => ERRNO_BY_NAME.has(s), { message: `expected an errno name: ${errnoNames.join(', ')}` });

// ---- expectations --------------------------------------------------------------------

/** What a step is expected to produce. */
export interface Expectation {
  readonly ok?: boolean;
  readonly value?: bigint;
  readonly ret?: number;
  readonly errno?: string;
  readonly signal?: SignalName;
  readonly fields?: Readonly<Record<string, bigint | string | boolean>>;
  readonly data?: Uint8Array;
  readonly bug?: boolean;
}

const EXPECT_KEYS = ['ok', 'value', 'ret', 'errno', 'signal', 'fields', 'data', 'bug'];

const expectObject = z.strictObject(
  {
    ok: z.boolean({ error: 'expected true or false' }).optional(),
    value: u64().optional(),
    ret: int().optional(),
    errno: errnoName.optional(),
    signal: z.enum(SIGNALS, { error: 'expected a signal: SIGBUS or SIGSEGV' }).optional(),
    fields: z.record(z.string(), z.union([u64(), z.string(), z.boolean()], { error: 'expected a field value: an integer, a string or a boolean' })).optional(),
    data: bytes.optional(),
    bug: z.boolean({ error: 'expected true or false' }).optional(),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown expectation ${quoteKeys(iss.keys)} (expected one of: ${EXPECT_KEYS.join(', ')})` : undefined) },
);

/**
 * A step's expectation: an object, or a shorthand — `ok`, an errno name (`EIO`),
 * a signal (`SIGBUS`), `bug`, or an integer (the value).
 */
export const expectation: z.ZodType<Expectation, unknown> = z.union([
  expectObject,
  z.number().int().transform((n) => ({ value: BigInt.asUintN(64, BigInt(n)) })),
  z.string().transform((s, ctx): Expectation => {
    const t = s.trim();
    if (t === 'ok') return { ok: true };
    if (t === 'bug') return { bug: true };
    if ((SIGNALS as readonly string[]).includes(t)) return { signal: t as SignalName };
    const e = t.replace(/^-/, '');
    if (ERRNO_BY_NAME.has(e)) return { errno: e };
    if (INT_RE.test(t)) return { value: BigInt.asUintN(64, parseIntText(t)) };
    ctx.issues.push({ code: 'custom', input: s, message: `expected an expectation: ok, bug, an errno name (EIO), a signal (SIGBUS), a value, or a mapping of ${EXPECT_KEYS.join('/')}; got '${t}'` });
    return z.NEVER;
  }),
], { error: `expected an expectation: ok, bug, an errno name (EIO), a signal (SIGBUS), a value, or a mapping of ${EXPECT_KEYS.join('/')}` });

/** `'a'` or `'a', 'b'` for messages. */
export function quoteKeys(keys: readonly PropertyKey[]): string {
  return keys.map((k) => `'${String(k)}'`).join(', ');
}

/**
 * A strict object whose unknown keys produce "unknown field 'x' (expected one of: ...)"
 * and whose missing required fields say which field and what it holds.
 */
export function obj<S extends z.core.$ZodShape>(shape: S, what: string): z.ZodObject<S, z.core.$strict> {
  const keys = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code === 'unrecognized_keys') {
        const k = String(iss.keys[0] ?? '');
        return `unknown field '${k}' in ${what}${suggest(k, keys)} (expected one of: ${keys.join(', ')})`;
      }
      if (iss.code === 'invalid_type' && iss.path === undefined) return `expected ${what} (a mapping of ${keys.join(', ')})`;
      return undefined;
    },
  });
}

/** " (did you mean 'x'?)" when a close candidate exists. */
export function suggest(word: string, candidates: readonly string[]): string {
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best === null) return '';
  const limit = Math.max(1, Math.floor(Math.max(word.length, best.length) / 3));
  return bestD <= limit ? ` (did you mean '${best}'?)` : '';
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] ?? 0;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      prev[j] = Math.min(up + 1, (prev[j - 1] ?? 0) + 1, diag + cost);
      diag = up;
    }
  }
  return prev[b.length] ?? 0;
}
