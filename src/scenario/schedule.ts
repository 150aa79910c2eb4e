/**
 * Schedules for scenario runs and replay tokens.
 *
 * A schedule decides, at every scheduling point where more than one thread is runnable
 * (a "choice"), which thread takes the next step: round-robin, a seeded pseudo-random
 * choice, or an explicit list of thread names. Every run records its choices as
 * indexes into the runnable list (threads in spawn order); a replay token carries them
 * with the variant and the scenario's hash, so a run can be reproduced exactly.
 */
import { mulberry32 } from '../check/prng.js';
import { plural } from '../plural.js';
import type { Chooser } from '../kernel/sched/scheduler.js';
import type { KThread } from '../kernel/sched/thread.js';
import type { KnobValue } from './variant.js';

export type ScheduleSpec =
  | { readonly kind: 'rr' }
  | { readonly kind: 'random'; readonly seed: number }
  | { readonly kind: 'list'; readonly entries: readonly { readonly thread: string; readonly count: number }[] }
  | { readonly kind: 'replay'; readonly choices: readonly number[] }
  /** Chosen by a program (the explorer): `pick` returns an index into the runnable threads. */
  | { readonly kind: 'custom'; readonly pick: (runnable: readonly KThread[]) => number; readonly description: string };

/** Bad schedule text, a bad token: the user's input, not the model. */
export class ScenarioInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScenarioInputError';
  }
}

/**
 * `rr`, `random` (with `seed`, default 1) or a list `main,vcpu*3,main`: at each choice
 * the named thread runs (`*n`: for n choices); after the list, round-robin.
 */
export function parseSchedule(s: string | readonly string[], seed?: number): ScheduleSpec {
  if (typeof s === 'string' && s.trim() === 'rr') return { kind: 'rr' };
  if (typeof s === 'string' && s.trim() === 'random') return { kind: 'random', seed: seed ?? 1 };
  const items = typeof s === 'string' ? s.split(',') : s;
  const entries: { thread: string; count: number }[] = [];
  for (const raw of items) {
    const it = raw.trim();
    if (it === '') continue;
    const m = /^([A-Za-z_][A-Za-z0-9_-]*)(?:\*(\d+))?$/.exec(it);
    if (m === null) throw new ScenarioInputError(`bad schedule entry '${it}': expected rr, random, or a list of thread names like main,vcpu*3,main`);
    const count = m[2] === undefined ? 1 : Number(m[2]);
    if (count < 1) throw new ScenarioInputError(`bad schedule entry '${it}': the count must be at least 1`);
    entries.push({ thread: m[1] ?? '', count });
  }
  if (entries.length === 0) throw new ScenarioInputError('empty schedule: expected rr, random, or a list of thread names like main,vcpu*3,main');
  return { kind: 'list', entries };
}

export function describeSchedule(s: ScheduleSpec): string {
  switch (s.kind) {
    case 'rr': return 'round-robin';
    case 'random': return `random (seed ${s.seed})`;
    case 'list': return `list ${s.entries.map((e) => (e.count > 1 ? `${e.thread}*${e.count}` : e.thread)).join(',')} then round-robin`;
    case 'replay': return `replay (${plural(s.choices.length, 'choice')})`;
    case 'custom': return s.description;
  }
}

export { mulberry32 };

/** A chooser that follows a schedule and records every choice it makes. */
export class RecordingChooser {
  readonly choices: number[] = [];
  readonly warnings: string[] = [];
  private lastTid = 0;
  private readonly rand: (() => number) | null;
  private entry = 0;
  private used = 0;
  private replayPos = 0;
  private diverged = false;

  constructor(
    private readonly spec: ScheduleSpec,
    /** Display name of a thread (the scenario's thread names). */
    private readonly nameOf: (t: KThread) => string,
  ) {
    this.rand = spec.kind === 'random' ? mulberry32(spec.seed) : null;
  }

  readonly choose: Chooser = (runnable) => {
    const i = this.pick(runnable);
    const t = runnable[i] ?? runnable[0];
    if (t === undefined) throw new Error('chooser called with no runnable thread');
    this.choices.push(i);
    this.lastTid = t.tid;
    return t;
  };

  private rr(runnable: readonly KThread[]): number {
    const i = runnable.findIndex((t) => t.tid > this.lastTid);
    return i < 0 ? 0 : i;
  }

  private pick(runnable: readonly KThread[]): number {
    switch (this.spec.kind) {
      case 'rr':
        return this.rr(runnable);
      case 'custom':
        return this.spec.pick(runnable);
      case 'random':
        return Math.floor((this.rand?.() ?? 0) * runnable.length) % runnable.length;
      case 'replay': {
        const n = this.replayPos++;
        const c = this.spec.choices[n];
        if (c === undefined || c >= runnable.length) {
          if (!this.diverged) this.warnings.push(`replay diverged at choice ${n + 1}: ${c === undefined ? 'the token has no more choices' : `the recorded thread (#${c}) is not runnable`}; continuing round-robin`);
          this.diverged = true;
          return this.rr(runnable);
        }
        return c;
      }
      case 'list': {
        const e = this.spec.entries[this.entry];
        if (e === undefined) return this.rr(runnable);
        if (++this.used >= e.count) {
          this.entry++;
          this.used = 0;
        }
        const i = runnable.findIndex((t) => this.nameOf(t) === e.thread);
        if (i < 0) {
          this.warnings.push(`schedule entry '${e.thread}' at choice ${this.choices.length + 1}: ${e.thread} is not runnable (runnable: ${runnable.map(this.nameOf).join(', ')}); ran ${this.nameOf(runnable[this.rr(runnable)] ?? runnable[0] as KThread)}`);
          return this.rr(runnable);
        }
        return i;
      }
    }
  }
}

// ---- replay tokens ------------------------------------------------------------------------

/** What a replay token holds. */
export interface ReplayToken {
  /** The preset the run used. */
  readonly variant: string;
  /** Knob overrides on top of the preset (from the scenario and the command line). */
  readonly knobs: Readonly<Record<string, KnobValue>>;
  /** The scenario's hash (16 hex digits). */
  readonly hash: string;
  /** Every choice: an index into the runnable threads (spawn order). */
  readonly choices: readonly number[];
}

const TOKEN_PREFIX = 'vs1.';
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function b64urlEncode(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 3) {
    const n = ((b[i] ?? 0) << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    const chars = i + 2 < b.length ? 4 : i + 1 < b.length ? 3 : 2;
    for (let j = 0; j < chars; j++) s += B64[(n >> (18 - 6 * j)) & 63];
  }
  return s;
}

function b64urlDecode(s: string): Uint8Array | null {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const ch of s) {
    const v = B64.indexOf(ch);
    if (v < 0) return null;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return Uint8Array.from(out);
}

function putVarint(out: number[], v: number): void {
  let x = v;
  while (x >= 0x80) {
    out.push((x & 0x7f) | 0x80);
    x = Math.floor(x / 128);
  }
  out.push(x);
}

function putString(out: number[], s: string): void {
  const b = new TextEncoder().encode(s);
  putVarint(out, b.length);
  out.push(...b);
}

/** Encode a token: `vs1.` + base64url(version, variant, knobs, hash, run-length-encoded choices). */
export function encodeToken(t: ReplayToken): string {
  const out: number[] = [1];
  putString(out, t.variant);
  const keys = Object.keys(t.knobs).sort();
  putString(out, keys.length === 0 ? '' : JSON.stringify(Object.fromEntries(keys.map((k) => [k, t.knobs[k]]))));
  for (let i = 0; i < 16; i += 2) out.push(parseInt(t.hash.slice(i, i + 2), 16) || 0);
  putVarint(out, t.choices.length);
  // choices: run-length pairs (mode 0) or packed at the width of the largest choice (mode 1), whichever is shorter
  const rle: number[] = [];
  const runs: [number, number][] = [];
  for (const c of t.choices) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last[0] === c) last[1]++;
    else runs.push([c, 1]);
  }
  putVarint(rle, runs.length);
  for (const [v, n] of runs) {
    putVarint(rle, v);
    putVarint(rle, n);
  }
  const max = t.choices.reduce((m, c) => Math.max(m, c), 0);
  const width = Math.max(1, Math.ceil(Math.log2(max + 1)));
  const packed: number[] = [width];
  let acc = 0;
  let bits = 0;
  for (const c of t.choices) {
    for (let i = width - 1; i >= 0; i--) {
      acc = (acc << 1) | ((c >> i) & 1);
      if (++bits === 8) {
        packed.push(acc);
        acc = 0;
        bits = 0;
      }
    }
  }
  if (bits > 0) packed.push(acc << (8 - bits));
  if (width <= 8 && packed.length < rle.length) out.push(1, ...packed);
  else out.push(0, ...rle);
  return TOKEN_PREFIX + b64urlEncode(Uint8Array.from(out));
}

/** Decode a token; throws ScenarioInputError for anything malformed. */
export function decodeToken(s: string): ReplayToken {
  const bad = (why: string): never => {
    throw new ScenarioInputError(`bad replay token: ${why}`);
  };
  const text = s.trim();
  if (!text.startsWith(TOKEN_PREFIX)) bad(`expected a token starting with '${TOKEN_PREFIX}' as printed by a run`);
  const b = b64urlDecode(text.slice(TOKEN_PREFIX.length)) ?? bad('not base64url');
  let pos = 0;
  const byte = (): number => {
    const v = b[pos++];
    return v === undefined ? bad('truncated') : v;
  };
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const x = byte();
      v += (x & 0x7f) * mul;
      if ((x & 0x80) === 0) return v;
      mul *= 128;
    }
    return bad('corrupt number');
  };
  const str = (): string => {
    const n = varint();
    if (pos + n > b.length) bad('truncated');
    const r = new TextDecoder().decode(b.subarray(pos, pos + n));
    pos += n;
    return r;
  };
  if (byte() !== 1) bad('unknown token version');
  const variant = str();
  const kj = str();
  let knobs: Record<string, KnobValue> = {};
  if (kj !== '') {
    try {
      const parsed: unknown = JSON.parse(kj);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) bad('corrupt knobs');
      knobs = parsed as Record<string, KnobValue>;
    } catch {
      bad('corrupt knobs');
    }
  }
  let hash = '';
  for (let i = 0; i < 8; i++) hash += byte().toString(16).padStart(2, '0');
  const total = varint();
  if (total > 100_000_000) bad('too many choices');
  const mode = byte();
  const choices: number[] = [];
  if (mode === 0) {
    const nRuns = varint();
    for (let i = 0; i < nRuns; i++) {
      const v = varint();
      const n = varint();
      if (choices.length + n > total) bad('corrupt choices');
      for (let j = 0; j < n; j++) choices.push(v);
    }
  } else if (mode === 1) {
    const width = byte();
    if (width < 1 || width > 8) bad('corrupt choices');
    let cur = byte();
    let bit = 7;
    for (let i = 0; i < total; i++) {
      let v = 0;
      for (let j = 0; j < width; j++) {
        if (bit < 0) {
          cur = byte();
          bit = 7;
        }
        v = (v << 1) | ((cur >> bit) & 1);
        bit--;
      }
      choices.push(v);
    }
  } else bad('corrupt choices');
  if (choices.length !== total) bad('corrupt choices');
  if (pos !== b.length) bad('trailing bytes');
  return { variant, knobs, hash, choices };
}
