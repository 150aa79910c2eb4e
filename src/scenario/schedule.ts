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
import { plural } from '../util/plural.js';
import type { Chooser } from '../kernel/sched/scheduler.js';
import type { KThread } from '../kernel/sched/thread.js';
import type { KnobValue } from './variant.js';
import { pushAll } from '../util/array.js';
import type { EventStream } from '../events/stream.js';
import { formatEvent } from '../events/format.js';
import { COUNTABLE_EVENTS } from './observe-ops.js';

/** The event kinds an `until` entry may wait for (those an `events` step counts). */
const UNTIL_KINDS: readonly string[] = COUNTABLE_EVENTS;

export type ScheduleSpec =
  | { readonly kind: 'rr' }
  | { readonly kind: 'random'; readonly seed: number }
  | { readonly kind: 'list'; readonly entries: readonly ScheduleEntry[] }
  | { readonly kind: 'replay'; readonly choices: readonly number[] }
  /** Chosen by a program (the explorer): `pick` returns an index into the runnable threads. */
  | { readonly kind: 'custom'; readonly pick: (runnable: readonly KThread[]) => number; readonly description: string };

/**
 * One entry of a schedule list: the thread runs at `count` choices (`main*3`), or — when
 * `until` is set — at every choice until it has emitted `until.n` events of kind
 * `until.kind` whose text contains `until.text` since the entry began (`main until
 * lock.contended`, `vcpu until 2 fault`, `main until reset:01:00.0`), or until it is not
 * runnable (`main until blocked`). An `until` entry does not depend on how many
 * scheduling points the kernel paths have, so a new one does not break the schedule.
 */
export interface ScheduleEntry {
  readonly thread: string;
  readonly count: number;
  readonly until?: { readonly kind: string; readonly n: number; readonly text: string | null };
}

/** Bad schedule text, a bad token: the user's input, not the model. */
export class ScenarioInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScenarioInputError';
  }
}

/** The largest `*n` of a schedule entry: a run makes at most max_steps (at most 100 000 000) choices. */
export const MAX_SCHEDULE_COUNT = 100_000_000;

/**
 * The hardware threads a machine's devices run (Scheduler.deviceClock), by device model:
 * edu's DMA timer is `dma@<bdf>`. A schedule list may name them like threads.
 */
export function hardwareThreadNames(devices: readonly { readonly model: string; readonly bdf: string }[]): string[] {
  return devices.filter((d) => d.model === 'edu').map((d) => `dma@${d.bdf}`);
}

/**
 * `rr`, `random` (with `seed`, default 1) or a list `main,vcpu*3,main`: at each choice
 * the named thread runs (`*n`: for n choices; a device's hardware thread is named
 * `dma@0000:01:00.0`); after the list, round-robin.
 */
export function parseSchedule(s: string | readonly string[], seed?: number): ScheduleSpec {
  if (typeof s === 'string' && s.trim() === 'rr') return { kind: 'rr' };
  if (typeof s === 'string' && s.trim() === 'random') return { kind: 'random', seed: seed ?? 1 };
  const items = typeof s === 'string' ? s.split(',') : s;
  const entries: ScheduleEntry[] = [];
  const THREAD = '[A-Za-z_][A-Za-z0-9_-]*(?:@[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7])?';
  for (const raw of items) {
    const it = raw.trim();
    if (it === '') continue;
    const u = new RegExp(`^(${THREAD})\\s+until\\s+(?:(\\d+)\\s+)?([a-z][a-z0-9.-]*)(?::(.+))?$`).exec(it);
    if (u !== null) {
      const n = u[2] === undefined ? 1 : Number(u[2]);
      const kind = u[3] ?? '';
      if (n < 1 || n > MAX_SCHEDULE_COUNT) throw new ScenarioInputError(`bad schedule entry '${it}': the number of events must be from 1 to ${MAX_SCHEDULE_COUNT}`);
      if (kind !== 'blocked' && !(UNTIL_KINDS as readonly string[]).includes(kind)) throw new ScenarioInputError(`bad schedule entry '${it}': '${kind}' is no event kind (until: blocked, ${UNTIL_KINDS.join(', ')})`);
      if (kind === 'blocked' && (u[2] !== undefined || u[4] !== undefined)) throw new ScenarioInputError(`bad schedule entry '${it}': 'until blocked' takes no number or text`);
      entries.push({ thread: u[1] ?? '', count: 1, until: { kind, n, text: u[4]?.trim() ?? null } });
      continue;
    }
    const m = new RegExp(`^(${THREAD})(?:\\*(\\d+))?$`).exec(it);
    if (m === null) throw new ScenarioInputError(`bad schedule entry '${it}': expected rr, random, or a list of thread names like main,vcpu*3,main until lock.contended`);
    const count = m[2] === undefined ? 1 : Number(m[2]);
    if (count < 1) throw new ScenarioInputError(`bad schedule entry '${it}': the count must be at least 1`);
    if (count > MAX_SCHEDULE_COUNT) throw new ScenarioInputError(`bad schedule entry '${it}': the count must be at most ${MAX_SCHEDULE_COUNT} (the largest max_steps)`);
    entries.push({ thread: m[1] ?? '', count });
  }
  if (entries.length === 0) throw new ScenarioInputError('empty schedule: expected rr, random, or a list of thread names like main,vcpu*3,main');
  return { kind: 'list', entries };
}

function entryText(e: ScheduleEntry): string {
  if (e.until !== undefined) return `${e.thread} until ${e.until.n > 1 ? `${e.until.n} ` : ''}${e.until.kind}${e.until.text !== null ? `:${e.until.text}` : ''}`;
  return e.count > 1 ? `${e.thread}*${e.count}` : e.thread;
}

export function describeSchedule(s: ScheduleSpec): string {
  switch (s.kind) {
    case 'rr': return 'round-robin';
    case 'random': return `random (seed ${s.seed})`;
    case 'list': return `list ${s.entries.map(entryText).join(',')} then round-robin`;
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

  /** The event sequence number where the current `until` entry began (null: not begun). */
  private untilFrom: number | null = null;

  constructor(
    private readonly spec: ScheduleSpec,
    /** Display name of a thread (the scenario's thread names). */
    private readonly nameOf: (t: KThread) => string,
    /** The run's events (what `until` entries wait for); without it they run round-robin. */
    private readonly events: EventStream | null = null,
  ) {
    this.rand = spec.kind === 'random' ? mulberry32(spec.seed) : null;
  }

  /** Scenario names of the threads seen at choices, by tid (for `until` entries). */
  private readonly names = new Map<number, string>();

  readonly choose: Chooser = (runnable) => {
    if (this.events !== null) for (const t of runnable) if (!this.names.has(t.tid)) this.names.set(t.tid, this.nameOf(t));
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
        let e = this.spec.entries[this.entry];
        // an `until` entry ends with what it waits for — possibly between two choices, while
        // its thread ran alone: the next entry then starts counting right after that event
        for (let end = this.untilEnd(e, runnable); end !== null; end = this.untilEnd(e, runnable)) {
          this.entry++;
          this.untilFrom = end;
          e = this.spec.entries[this.entry];
        }
        if (e === undefined) return this.rr(runnable);
        if (e.until === undefined && ++this.used >= e.count) {
          this.entry++;
          this.used = 0;
          this.untilFrom = null;
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

  /**
   * Where the `until` entry `e` saw what it waits for: the sequence number of that event
   * (or, for `until blocked`, the latest event when its thread is not runnable at a
   * choice), or null while it waits (and for an entry that is not an `until` entry). Its window starts where the previous `until` entry
   * ended, else at its first choice.
   */
  private untilEnd(e: ScheduleEntry | undefined, runnable: readonly KThread[]): number | null {
    const u = e?.until;
    if (e === undefined || u === undefined) return null;
    if (this.events === null) return 0; // nothing to wait for: the entry is over
    if (this.untilFrom === null) this.untilFrom = this.events.lastSeq;
    if (u.kind === 'blocked') return runnable.some((x) => this.nameOf(x) === e.thread) ? null : this.events.lastSeq;
    let n = 0;
    for (const ev of this.events.since(this.untilFrom)) {
      if (ev.kind !== u.kind || this.threadOfTid(ev.tid) !== e.thread) continue;
      if (u.text !== null && !formatEvent(ev).includes(u.text)) continue;
      if (++n >= u.n) return ev.seq;
    }
    return null;
  }

  /** The scenario name of the thread with `tid` (threads seen at choices so far). */
  private threadOfTid(tid: number): string | undefined {
    return this.names.get(tid);
  }
}

// ---- replay tokens ------------------------------------------------------------------------

/** What a replay token holds. */
export interface ReplayToken {
  /** The preset the run used. */
  readonly variant: string;
  /** Knob overrides on top of the preset (from the scenario and the command line). */
  readonly knobs: Readonly<Record<string, KnobValue>>;
  /** The scenario's execution hash (16 hex digits; see executionHash). */
  readonly hash: string;
  /** Every choice: an index into the runnable threads (spawn order). */
  readonly choices: readonly number[];
  /**
   * Set when the explorer found the run breaking properties (a counterexample's token):
   * their names, in report order. A replay then checks the properties and leads with these.
   */
  readonly finding?: { readonly properties: readonly string[] } | null;
}

const TOKEN_PREFIX = 'vs1.';
/** The layout of a token's bytes (the first byte). 1: before checksums (refused). */
const TOKEN_VERSION = 2;
/**
 * The longest token accepted, in characters: 128 KiB, the longest single argument Linux
 * passes to a program (MAX_ARG_STRLEN), so any token a run printed can be given back.
 */
export const MAX_TOKEN_CHARS = 128 * 1024;
/** The most choices a token may decode to (a caller passes a tighter bound: the scenario's). */
export const MAX_TOKEN_CHOICES = 100_000_000;
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

/** Decode base64url; null unless `s` is exactly what b64urlEncode gives for some bytes (no stray bits). */
function b64urlDecode(s: string): Uint8Array | null {
  if (s.length % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((s.length * 6) / 8));
  let acc = 0;
  let bits = 0;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const v = B64.indexOf(s.charAt(i));
    if (v < 0) return null;
    acc = ((acc << 6) | v) & 0xfff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  // the last character's unused low bits must be zero: otherwise two texts decode alike
  if ((acc & ((1 << bits) - 1)) !== 0) return null;
  return out;
}

const CRC_TABLE = ((): Uint32Array => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE) of `b[0..n)`: it detects every change confined to 32 consecutive bits, so every changed character of a token. */
function crc32(b: Uint8Array, n: number): number {
  let c = 0xffffffff;
  for (let i = 0; i < n; i++) c = (CRC_TABLE[(c ^ (b[i] ?? 0)) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
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
  pushAll(out, b);
}

/**
 * Encode a token: `vs1.` + base64url of: the layout version (2), flags (1: an explorer
 * finding, then its properties), the variant, the knobs (JSON), the hash, the choices
 * (run-length encoded or bit-packed, whichever is shorter) and a CRC-32 of all that.
 */
export function encodeToken(t: ReplayToken): string {
  const out: number[] = [TOKEN_VERSION];
  const finding = t.finding ?? null;
  out.push(finding !== null ? 1 : 0);
  if (finding !== null) {
    putVarint(out, finding.properties.length);
    for (const p of finding.properties) putString(out, p);
  }
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
  if (width <= 8 && packed.length < rle.length) {
    out.push(1);
    pushAll(out, packed);
  } else {
    out.push(0);
    pushAll(out, rle);
  }
  const bytes = new Uint8Array(out.length + 4);
  bytes.set(out);
  const crc = crc32(bytes, out.length);
  bytes[out.length] = crc >>> 24;
  bytes[out.length + 1] = (crc >>> 16) & 0xff;
  bytes[out.length + 2] = (crc >>> 8) & 0xff;
  bytes[out.length + 3] = crc & 0xff;
  return TOKEN_PREFIX + b64urlEncode(bytes);
}

/**
 * Decode a token; throws ScenarioInputError (one line) for anything malformed: not a
 * token, too long, a checksum that does not match (a character changed or lost), a
 * token of an earlier layout, or more than `maxChoices` choices (checked before any
 * choice is decoded).
 */
export function decodeToken(s: string, maxChoices: number = MAX_TOKEN_CHOICES): ReplayToken {
  const bad = (why: string): never => {
    throw new ScenarioInputError(`bad replay token: ${why}`);
  };
  const text = s.trim();
  if (text.length > MAX_TOKEN_CHARS) bad(`${text.length} characters, longer than any token (at most ${MAX_TOKEN_CHARS})`);
  if (!text.startsWith(TOKEN_PREFIX)) bad(`expected a token starting with '${TOKEN_PREFIX}' as printed by a run`);
  const b = b64urlDecode(text.slice(TOKEN_PREFIX.length)) ?? bad('not base64url (a character changed or lost?)');
  if (b.length < 5) bad('truncated');
  const end = b.length - 4;
  const sum = (((b[end] ?? 0) << 24) | ((b[end + 1] ?? 0) << 16) | ((b[end + 2] ?? 0) << 8) | (b[end + 3] ?? 0)) >>> 0;
  if (b[0] === 1) bad('a token of an earlier vfio-sim (no checksum); run the scenario again for a new one');
  if (crc32(b, end) !== sum) bad('checksum mismatch (the token was changed or cut; copy it again as printed)');
  let pos = 0;
  const byte = (): number => {
    if (pos >= end) bad('truncated');
    return b[pos++] ?? 0;
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
    if (pos + n > end) bad('truncated');
    const r = new TextDecoder().decode(b.subarray(pos, pos + n));
    pos += n;
    return r;
  };
  if (byte() !== TOKEN_VERSION) bad('unknown token version');
  const flags = byte();
  if ((flags & ~1) !== 0) bad('unknown flags');
  let finding: { properties: string[] } | null = null;
  if ((flags & 1) !== 0) {
    const n = varint();
    if (n > end - pos) bad('corrupt finding');
    finding = { properties: [] };
    for (let i = 0; i < n; i++) finding.properties.push(str());
  }
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
  if (total > maxChoices) bad(`${total} choices, more than this scenario's runs can make (at most ${maxChoices})`);
  const mode = byte();
  const choices: number[] = [];
  if (mode === 0) {
    const nRuns = varint();
    if (nRuns > total || nRuns * 2 > end - pos) bad('corrupt choices');
    for (let i = 0; i < nRuns; i++) {
      const v = varint();
      const n = varint();
      if (choices.length + n > total) bad('corrupt choices');
      for (let j = 0; j < n; j++) choices.push(v);
    }
  } else if (mode === 1) {
    const width = byte();
    if (width < 1 || width > 8) bad('corrupt choices');
    if (Math.ceil((total * width) / 8) !== end - pos) bad('corrupt choices');
    let cur = total > 0 ? byte() : 0;
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
  if (pos !== end) bad('trailing bytes');
  return finding !== null ? { variant, knobs, hash, choices, finding } : { variant, knobs, hash, choices };
}
