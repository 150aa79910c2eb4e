/**
 * Loading a scenario file: YAML → data → schema validation → operation arguments →
 * references (names bound by earlier `as:`, devices of the machine) → a Scenario.
 * Every problem is a ScenarioError at file:line:col; nothing throws for bad input.
 */
import * as z from 'zod';
import type { OpDef } from './op-def.js';
import { FORK_OP, OP_BY_NAME, OPS } from './ops.js';
import { describeValue, issuesToErrors, valueAt } from './issues.js';
import { type MachinePlan, machineSchema, planMachine } from './machine.js';
import { type DataPath, escapeControls, type ScenarioError, YamlSource } from './source.js';
import { hardwareThreadNames, parseSchedule, ScenarioInputError, type ScheduleSpec } from './schedule.js';
import { checkVariant, DEFAULT_VARIANT, type VariantChoice, variantNames, variantSchema } from './variant.js';
import { BUILTIN_PROPERTIES, type BuiltinProperty } from '../check/property.js';
import { EVENT_KINDS, STATE_OBSERVABLES, type StateObservable, stepKey } from './property-names.js';
import { IOCTL_BY_NAME } from './ioctls.js';
import { type BindKind, DeviceRef, type Expectation, expectation, ident, NameRef, obj, suggest, uint } from './values.js';
import { pushAll } from '../util/array.js';

/** One step of a thread, validated. */
export interface StepDecl {
  /** 1-based position in its thread (or setup). */
  readonly index: number;
  readonly op: OpDef<unknown> | null;
  /** The op's arguments as produced by its schema (null for fork). */
  readonly args: unknown;
  readonly as: string | null;
  readonly expect: Expectation | null;
  /** Short description ("pread dev bar0+0x0/4"). */
  readonly text: string;
  readonly line: number;
  readonly col: number;
  /** For fork: the child's threads and the dup_mmap order override (undefined: the variant's, knob forkOpenBeforeCopy). */
  readonly fork: { readonly threads: readonly ThreadDecl[]; readonly openBeforeCopy: boolean | undefined } | null;
}

export interface ThreadDecl {
  readonly name: string;
  readonly steps: readonly StepDecl[];
}

export interface ProcessDecl {
  readonly name: string;
  readonly setup: readonly StepDecl[];
  readonly threads: readonly ThreadDecl[];
}

/** Expectations on the whole run. */
export interface RunExpect {
  readonly deadlock?: boolean;
  readonly bug?: boolean;
  readonly halted?: boolean;
  readonly platform_errors?: number;
  readonly lockdep?: number;
  readonly warnings?: number;
}

/** A validated scenario. */
export interface Scenario {
  readonly file: string;
  readonly name: string | null;
  readonly description: string | null;
  /**
   * Hash of what decides the scenario's executions (16 hex digits; see executionHash);
   * replay tokens carry it.
   */
  readonly hash: string;
  readonly variant: VariantChoice;
  readonly machine: MachinePlan;
  readonly processes: readonly ProcessDecl[];
  readonly expect: RunExpect;
  readonly maxSteps: number;
  /** The scenario's own schedule (command-line options override it); null: round-robin. */
  readonly schedule: ScheduleSpec | null;
  /**
   * The defect this scenario demonstrates, if it says so: its id (e.g. 'H3') and the presets
   * under which every expectation holds (the defect is present); under every other preset
   * some expectation must fail (absent). `vfio-sim run --all-variants` and the tests check it.
   */
  readonly defect: {
    readonly id: string;
    readonly presentIn: readonly string[];
    /** The property the explorer finds broken when the defect is there. */
    readonly property: BuiltinProperty | null;
    /**
     * The variants where the explorer finds `property` broken in this scenario (default:
     * presentIn); wider when another defect breaks the same property here (5.7 never zaps).
     */
    readonly foundIn: readonly string[];
  } | null;
  /** The scenario's own properties, checked by the explorer on every execution. */
  readonly properties: readonly PropertyDecl[];
}

export type LoadResult = { readonly ok: true; readonly scenario: Scenario } | { readonly ok: false; readonly errors: readonly ScenarioError[] };

export const META_KEYS = ['as', 'expect'] as const;
export const DEFAULT_MAX_STEPS = 200_000;
/**
 * The largest scenario text loaded (4 MiB): loading takes about 200 bytes of memory and
 * 4 µs per byte of YAML (a 3.5 MB file of 250 000 steps: 730 MB, 13 s).
 */
export const MAX_SCENARIO_BYTES = 4 * 1024 * 1024;

const runExpectSchema = obj(
  {
    deadlock: z.boolean({ error: 'expected true or false' }).optional(),
    bug: z.boolean({ error: 'expected true or false' }).optional(),
    halted: z.boolean({ error: 'expected true or false' }).optional(),
    platform_errors: uint().optional(),
    lockdep: uint().optional(),
    warnings: uint().optional(),
  },
  'the run expectations',
);

/** The scenario's structure, with `step` as the schema of one step. */
const eventKinds = Object.keys(EVENT_KINDS) as [string, ...string[]];

const selectorText = 'a step selector: thread#n, a thread or process name, a name bound with as:, an operation (pread, ioctl...), an ioctl command (MAP_DMA), or any';
const selector = z.string({ error: `expected ${selectorText}` }).min(1, { error: `expected ${selectorText}` });
const deviceName = z.string({ error: 'expected a device name (e.g. edu0) or its address' });
const compare = { is: uint(1_000_000_000).optional(), at_most: uint(1_000_000_000).optional(), at_least: uint(1_000_000_000).optional() };

/** A state predicate's named observables (see STATE_OBSERVABLES in property-decl.ts). */
const stateSchema = obj(
  {
    memory_decode: obj({ device: deviceName, is: z.boolean({ error: 'expected true or false' }) }, 'memory_decode').optional(),
    iommu_maps_of_disabled_bars: z.union([uint(1_000_000_000), obj({ device: deviceName.optional(), ...compare }, 'iommu_maps_of_disabled_bars')], { error: 'expected a count, or a mapping of device, is, at_most, at_least' }).optional(),
    bar_ptes: obj({ device: deviceName, ...compare }, 'bar_ptes').optional(),
    pte_present: obj({ at: z.string({ error: "expected a mapping's name (bound with as:), optionally +offset: bar+0x1000" }), thread: z.string({ error: 'expected a thread or process name' }).optional(), is: z.boolean({ error: 'expected true or false' }) }, 'pte_present').optional(),
    events: obj({ kind: z.enum(eventKinds, { error: `expected an event kind: ${eventKinds.join(', ')}` }), ...compare }, 'events').optional(),
  },
  'a state (named observables)',
);

/**
 * A property of the scenario's own (src/scenario/property-decl.ts): `event` (at most
 * `at_most` events of a kind matching `where`), `never: { step, result }`, `always: { step,
 * result }`, or `always: { after, when, state }`.
 */
const propertySchema = obj(
  {
    name: z.string({ error: 'expected the property name' }).regex(/^[a-z][a-z0-9-]*$/, { error: 'expected a property name of lower-case letters, digits and dashes' }).refine((n) => !(BUILTIN_PROPERTIES as readonly string[]).includes(n), { error: `a built-in property has this name (${BUILTIN_PROPERTIES.join(', ')})` }),
    event: z.enum(eventKinds, { error: `expected an event kind: ${eventKinds.join(', ')}` }).optional(),
    where: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]), { error: 'expected a mapping of event fields to values' }).optional(),
    at_most: uint(1_000_000).optional(),
    never: obj({ step: selector, result: expectation }, 'never').optional(),
    always: obj({ step: selector.optional(), result: expectation.optional(), after: selector.optional(), when: expectation.optional(), state: stateSchema.optional() }, 'always').optional(),
  },
  'a property',
);

/** One observable of a state predicate, with the value asked for. */
export interface StateCheck {
  readonly observable: StateObservable;
  /** The function's address (memory_decode, bar_ptes; iommu_maps_of_disabled_bars: null for every function). */
  readonly device: string | null;
  /** events: the event kind. */
  readonly kind: string | null;
  /** pte_present: the mapping's name, the thread whose binding it is, the offset into it. */
  readonly at: { readonly name: string; readonly thread: string; readonly offset: number } | null;
  readonly is: number | null;
  readonly atMost: number | null;
  readonly atLeast: number | null;
  /** What it reads, as written ("memory_decode of edu1"); also its identity. */
  readonly text: string;
  readonly key: string;
}

/** A scenario property (see propertySchema), as loaded. */
export type PropertyDecl =
  | { readonly kind: 'event'; readonly name: string; readonly event: string; readonly where: Readonly<Record<string, string | number | boolean>>; readonly atMost: number; readonly line: number }
  | { readonly kind: 'result'; readonly name: string; readonly mode: 'never' | 'always'; readonly selector: string; readonly steps: ReadonlySet<string>; readonly result: Expectation; readonly line: number }
  | { readonly kind: 'state'; readonly name: string; readonly selector: string; readonly steps: ReadonlySet<string>; readonly when: Expectation | null; readonly state: readonly StateCheck[]; readonly line: number };

/** Every step of a scenario with its key (`thread#n`; setup steps: the process name). */
function allSteps(processes: readonly ProcessDecl[]): { thread: string; decl: StepDecl }[] {
  const out: { thread: string; decl: StepDecl }[] = [];
  const visit = (thread: string, steps: readonly StepDecl[]): void => {
    for (const st of steps) {
      out.push({ thread, decl: st });
      if (st.fork !== null) for (const t of st.fork.threads) visit(t.name, t.steps);
    }
  };
  for (const p of processes) {
    visit(p.name, p.setup);
    for (const t of p.threads) visit(t.name, t.steps);
  }
  return out;
}

/** The keys of the steps a selector picks, or why it picks none. */
function resolveSelector(sel: string, steps: readonly { thread: string; decl: StepDecl }[]): Set<string> | string {
  const s = sel.trim();
  const key = (x: { thread: string; decl: StepDecl }): string => stepKey(x.thread, x.decl.index);
  const threads = [...new Set(steps.map((x) => x.thread))];
  const m = /^(.+)#(\d+)$/.exec(s);
  if (m !== null) {
    const [, t = '', n = ''] = m;
    const picked = steps.filter((x) => x.thread === t && x.decl.index === Number(n));
    if (picked.length > 0) return new Set(picked.map(key));
    const count = steps.filter((x) => x.thread === t).length;
    return count === 0 ? `no thread or process '${t}'${suggest(t, threads)} (known: ${threads.join(', ')})` : `${t} has ${count} step${count === 1 ? '' : 's'}, no step ${n}`;
  }
  const ioctlName = (c: string): string | undefined => IOCTL_BY_NAME.get(c)?.name;
  const wantIoctl = ioctlName(s);
  const picked = steps.filter((x) =>
    s === 'any' ||
    x.thread === s ||
    x.decl.as === s ||
    (x.decl.fork !== null && s === FORK_OP) ||
    x.decl.op?.name === s ||
    (wantIoctl !== undefined && x.decl.op?.name === 'ioctl' && ioctlName((x.decl.args as { cmd: string }).cmd) === wantIoctl),
  );
  if (picked.length > 0) return new Set(picked.map(key));
  const names = [...threads, ...steps.flatMap((x) => (x.decl.as === null ? [] : [x.decl.as])), ...new Set(steps.map((x) => x.decl.op?.name ?? FORK_OP))];
  return `'${s}' picks no step${suggest(s, names)} (expected ${selectorText}; threads: ${threads.join(', ')})`;
}

export function scenarioSchema(step: z.ZodType) {
  const thread = obj({ name: ident, steps: z.array(step, { error: 'expected a list of steps' }).min(1, { error: 'expected at least one step' }) }, 'a thread');
  const process = obj({ name: ident, setup: z.array(step, { error: 'expected a list of steps' }).optional(), threads: z.array(thread, { error: 'expected a list of threads' }).optional() }, 'a process');
  return obj(
    {
      name: z.string({ error: 'expected a title' }).optional(),
      description: z.string({ error: 'expected a description' }).optional(),
      variant: variantSchema.optional(),
      machine: machineSchema.optional(),
      max_steps: uint(100_000_000).optional(),
      schedule: z.string({ error: 'expected a schedule: rr, random, or a list of thread names like main,vcpu*3,main' }).optional(),
      seed: uint(0xffffffff).optional(),
      expect: runExpectSchema.optional(),
      defect: obj(
        {
          id: z.string({ error: "expected the defect's id, e.g. 'H3'" }),
          present_in: z.array(z.string({ error: "expected a variant name (quote versions: '5.10')" }), { error: 'expected a list of variant names' }),
          found_in: z.array(z.string({ error: "expected a variant name (quote versions: '5.10')" }), { error: 'expected a list of variant names' }).optional(),
          property: z.enum(BUILTIN_PROPERTIES, { error: `expected the property the explorer finds broken: ${BUILTIN_PROPERTIES.join(', ')}` }).optional(),
        },
        'defect',
      ).optional(),
      properties: z.array(propertySchema, { error: 'expected a list of properties' }).optional(),
      processes: z.array(process, { error: 'expected a list of processes' }).min(1, { error: 'expected at least one process' }),
    },
    'a scenario',
  );
}

/** The structure with steps left unchecked (they are checked one by one, with better errors). */
const topSchema = scenarioSchema(z.unknown());
/** The fork arguments with the child's steps left unchecked. */
const forkArgs = obj(
  {
    threads: z.array(obj({ name: ident, steps: z.array(z.unknown()).min(1, { error: 'expected at least one step' }) }, 'a thread')).min(1, { error: 'expected at least one thread' }),
    open_before_copy: z.boolean().optional(),
  },
  'fork',
);

type Scope = Map<string, BindKind | 'unknown'>;

class Loader {
  readonly errors: ScenarioError[] = [];
  private readonly threadNames = new Map<string, DataPath>();
  private readonly procNames = new Map<string, DataPath>();
  private deviceNames: Set<string> | null = null;
  private deviceList = '';

  constructor(private readonly src: YamlSource) {}

  err(path: DataPath, message: string, at: 'value' | 'key' = 'value'): void {
    this.errors.push(this.src.errorAt(path, message, at));
  }

  setMachine(plan: MachinePlan | null): void {
    if (plan === null) return;
    this.deviceNames = new Set(plan.devices.flatMap((d) => [d.name, d.bdf]));
    this.deviceList = plan.devices.map((d) => `${d.name} (${d.bdf})`).join(', ');
  }

  /** Validate the steps of one thread (or a setup list), binding names into `scope`. */
  steps(raw: unknown, path: DataPath, scope: Scope): StepDecl[] {
    if (!Array.isArray(raw)) return [];
    const out: StepDecl[] = [];
    raw.forEach((s, i) => {
      const d = this.step(s, [...path, i], i + 1, scope, i === raw.length - 1);
      if (d !== null) out.push(d);
    });
    return out;
  }

  /** Every thread name declared so far (incl. fork children). */
  knownThreads(): string[] {
    return [...this.threadNames.keys()];
  }

  /** Process names share the thread namespace (they name the setup thread). */
  processName(name: unknown, path: DataPath): void {
    if (typeof name !== 'string') return;
    const prev = this.threadNames.get(name);
    if (prev !== undefined) {
      const p = this.src.errorAt(prev, '');
      this.err(path, `the name '${name}' is already used by a thread or process (line ${p.line})`);
    } else this.procNames.set(name, path);
  }

  /** Set when a thread has no usable name (its own error is reported; name checks are skipped). */
  unnamedThread = false;

  threadName(name: unknown, path: DataPath): void {
    if (typeof name !== 'string') {
      this.unnamedThread = true;
      return;
    }
    const prevProc = this.procNames.get(name);
    if (prevProc !== undefined) {
      const p = this.src.errorAt(prevProc, '');
      this.err(path, `the name '${name}' is already used by a process (line ${p.line}); thread and process names must differ`);
      return;
    }
    const prev = this.threadNames.get(name);
    if (prev !== undefined) {
      const p = this.src.errorAt(prev, '');
      this.err(path, `duplicate thread name '${name}' (first used at line ${p.line})`);
    } else this.threadNames.set(name, path);
  }

  private step(raw: unknown, path: DataPath, index: number, scope: Scope, isLast: boolean): StepDecl | null {
    const opNames = [...OPS.map((o) => o.name), FORK_OP];
    let stepObj: Record<string, unknown>;
    if (typeof raw === 'string') {
      const op = OP_BY_NAME.get(raw.trim());
      if (op === undefined) {
        this.err(path, `unknown operation '${raw.trim()}'${suggest(raw.trim(), opNames)} (expected one of: ${opNames.join(', ')})`);
        return null;
      }
      if (op.bare !== true) {
        this.err(path, `'${op.name}' needs arguments (write '${op.name}: ...')`);
        return null;
      }
      stepObj = { [op.name]: null };
    } else if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      this.err(path, `expected a step: a mapping with one operation (e.g. '- load: map0') plus optional 'as' and 'expect'; got ${describeValue(raw)}`);
      return null;
    } else stepObj = raw as Record<string, unknown>;

    const keys = Object.keys(stepObj);
    const opKeys = keys.filter((k) => !(META_KEYS as readonly string[]).includes(k));
    const known = opKeys.filter((k) => OP_BY_NAME.has(k) || k === FORK_OP);
    const asName = typeof stepObj['as'] === 'string' ? stepObj['as'] : null;
    const bindUnknown = (): null => {
      if (asName !== null) scope.set(asName, 'unknown');
      return null;
    };
    if (known.length === 0) {
      const k = opKeys[0];
      if (k === undefined) this.err(path, `a step needs an operation (one of: ${opNames.join(', ')})`);
      else this.err([...path, k], `unknown operation '${k}'${suggest(k, opNames)} (expected one of: ${opNames.join(', ')})`, 'key');
      return bindUnknown();
    }
    if (known.length > 1) {
      this.err([...path, known[1] ?? ''], `a step has exactly one operation; found '${known[0] ?? ''}' and '${known[1] ?? ''}' (put each on its own step)`, 'key');
      return bindUnknown();
    }
    const opName = known[0] ?? '';
    const stray = opKeys.find((k) => k !== opName);
    if (stray !== undefined) {
      this.err([...path, stray], `unknown field '${stray}' in a step${suggest(stray, [...META_KEYS])} (a step has one operation plus optional 'as' and 'expect')`, 'key');
      return bindUnknown();
    }
    const pos = this.src.errorAt([...path, opName], '', 'key');
    const argPath = [...path, opName];
    const before = this.errors.length;

    // expectation and name
    let exp: Expectation | null = null;
    if (stepObj['expect'] !== undefined) {
      const r = expectation.safeParse(stepObj['expect']);
      if (r.success) exp = r.data;
      else pushAll(this.errors, issuesToErrors(this.src, [...path, 'expect'], r.error.issues));
    }
    if (stepObj['as'] !== undefined) {
      const r = ident.safeParse(stepObj['as']);
      if (!r.success) pushAll(this.errors, issuesToErrors(this.src, [...path, 'as'], r.error.issues));
    }

    if (opName === FORK_OP) return this.fork(stepObj[FORK_OP], argPath, path, index, scope, exp, asName, pos, before);

    const op = OP_BY_NAME.get(opName);
    if (op === undefined) return bindUnknown();
    const r = op.args.safeParse(stepObj[opName] === undefined ? null : stepObj[opName]);
    if (!r.success) {
      pushAll(this.errors, issuesToErrors(this.src, argPath, r.error.issues));
      return bindUnknown();
    }
    const args = r.data;
    const extra = op.check?.(args) ?? null;
    if (extra !== null) {
      this.err([...argPath, ...extra.path], extra.message);
      return bindUnknown();
    }
    this.refs(args, argPath, scope);
    const binds = typeof op.binds === 'function' ? op.binds(args) : op.binds;
    if (asName !== null) {
      if (binds === null) this.err([...path, 'as'], `'as' names a result, but ${op.name} has none to name`);
      scope.set(asName, this.errors.length > before || binds === null ? 'unknown' : binds);
    }
    if (op.name === 'exit' && !isLast) this.err([...path, opName], 'exit must be the last step of its thread', 'key');
    if (this.errors.length > before) return null;
    return { index, op, args, as: asName, expect: exp, text: escapeControls(op.describe(args)), line: pos.line, col: pos.col, fork: null };
  }

  private fork(raw: unknown, argPath: DataPath, path: DataPath, index: number, scope: Scope, exp: Expectation | null, asName: string | null, pos: { line: number; col: number }, before: number): StepDecl | null {
    if (asName !== null) this.err([...path, 'as'], "'as' names a result, but fork has none to name (the child's threads are declared under it)");
    const r = forkArgs.safeParse(raw);
    if (!r.success) {
      pushAll(this.errors, issuesToErrors(this.src, argPath, r.error.issues));
      return null;
    }
    const threads: ThreadDecl[] = r.data.threads.map((t, i) => {
      const tp = [...argPath, 'threads', i];
      this.threadName(t.name, [...tp, 'name']);
      return { name: t.name, steps: this.steps(t.steps, [...tp, 'steps'], new Map(scope)) };
    });
    if (this.errors.length > before) return null;
    return {
      index,
      op: null,
      args: null,
      as: null,
      expect: exp,
      text: `fork (child threads: ${threads.map((t) => t.name).join(', ')})`,
      line: pos.line,
      col: pos.col,
      fork: { threads, openBeforeCopy: r.data.open_before_copy },
    };
  }

  /** Check every reference in an op's parsed arguments against the names bound so far and the machine. */
  private refs(args: unknown, argPath: DataPath, scope: Scope): void {
    const walk = (v: unknown, p: (string | number)[]): void => {
      if (v instanceof NameRef) {
        this.nameRef(v, [...argPath, ...p], scope);
        return;
      }
      if (v instanceof DeviceRef) {
        if (this.deviceNames !== null && !this.deviceNames.has(v.name)) {
          this.err([...argPath, ...p], `unknown device '${v.name}'${suggest(v.name, [...this.deviceNames])} (the machine has: ${this.deviceList})`);
        }
        return;
      }
      if (v instanceof Uint8Array) return;
      if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...p, i]));
      else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
    };
    walk(args, []);
  }

  private nameRef(r: NameRef, path: DataPath, scope: Scope): void {
    // a short form (`close: dev`) has no sub-path in the file: fall back to the op's value
    const at = this.src.has(path) ? path : path.slice(0, -1);
    const kind = scope.get(r.name);
    if (kind === undefined) {
      const names = [...scope.keys()];
      this.err(at, `unknown name '${r.name}'${suggest(r.name, names)} (${names.length > 0 ? `names bound before this step: ${names.join(', ')}` : "no name is bound before this step; give a step's result a name with 'as:'"})`);
      return;
    }
    if (kind === 'unknown') return;
    if (r.sub !== null) {
      if (kind !== 'device') this.err(at, `'${r.text}': ${r.name} is ${article(kind)}, not a device opened with open_device`);
      else if (!r.accept.includes(r.sub)) this.err(at, `'${r.text}' is a ${r.sub} fd; expected ${kinds(r.accept)} here`);
      return;
    }
    if (!r.accept.includes(kind)) this.err(at, `'${r.name}' is ${article(kind)}; expected ${kinds(r.accept)} here`);
  }
}

/** "a device fd", "a mapping"... for a list of accepted kinds ('fd' is implied when others are listed). */
function kinds(ks: readonly BindKind[]): string {
  const shown = ks.length > 1 ? ks.filter((k) => k !== 'fd') : ks;
  return shown.map(article).join(' or ');
}

function article(k: string): string {
  const words: Record<string, string> = { device: 'a device fd', container: 'a container fd', group: 'a group fd', eventfd: 'an eventfd', fd: 'an fd', kvm: 'a /dev/kvm fd', vm: 'a VM fd', vcpu: 'a vCPU fd', mapping: 'a mapping' };
  return words[k] ?? k;
}

/** FNV-1a 64 of a string, as 16 hex digits. */
export function fnv1a64(s: string): string {
  let h = 0xcbf29ce484222325n;
  const bytes = new TextEncoder().encode(s);
  for (const b of bytes) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

/** JSON with sorted keys (so a hash does not depend on key order or comments). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * The hash a replay token is tied to: of what decides how the scenario executes under a
 * given variant and sequence of choices (the token carries those), and nothing else. In:
 * `machine`, `max_steps` and `processes` with every step as written (operation, arguments,
 * `as`), thread and process names included (a schedule and a trace name them). Out:
 * comments and layout, `name`, `description`, `defect`, `properties`, the run's `expect`
 * and each step's `expect` (verdicts on an execution, not part of it), `variant`,
 * `schedule` and `seed` (the token fixes the variant and every choice). Keys are sorted
 * (canonicalJson), so their order does not matter either.
 */
export function executionHash(data: unknown): string {
  const steps = (v: unknown): unknown => (Array.isArray(v) ? v.map(step) : v);
  const threads = (v: unknown): unknown => (Array.isArray(v) ? v.map((t: unknown) => (isRecord(t) ? { ...t, steps: steps(t['steps']) } : t)) : v);
  const step = (st: unknown): unknown => {
    if (!isRecord(st)) return st;
    const { expect: _e, ...rest } = st;
    const fork = rest[FORK_OP];
    if (isRecord(fork)) rest[FORK_OP] = { ...fork, threads: threads(fork['threads']) };
    return rest;
  };
  const d = isRecord(data) ? data : {};
  const procs = Array.isArray(d['processes']) ? d['processes'].map((p: unknown) => (isRecord(p) ? { ...p, setup: steps(p['setup']), threads: threads(p['threads']) } : p)) : null;
  return fnv1a64(canonicalJson({ machine: d['machine'] ?? null, max_steps: d['max_steps'] ?? null, processes: procs }));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parse and validate a scenario file's text. */
export function loadScenario(text: string, fileName = 'scenario.yaml'): LoadResult {
  if (text.length > MAX_SCENARIO_BYTES) {
    return { ok: false, errors: [{ file: fileName, line: 1, col: 1, message: `the scenario is larger than ${MAX_SCENARIO_BYTES / (1024 * 1024)} MiB (${text.length} characters); split it` }] };
  }
  const src = new YamlSource(text, fileName);
  if (src.syntaxErrors.length > 0) return { ok: false, errors: src.syntaxErrors };
  const data = src.data;
  if (data === null || data === undefined) {
    return { ok: false, errors: [src.errorAt([], "the file is empty: expected a scenario mapping with 'processes'")] };
  }
  // a version written as a YAML number (variant: 5.10) keeps its spelling
  if (typeof data === 'object' && !Array.isArray(data)) {
    const d = data as Record<string, unknown>;
    for (const p of [['variant'], ['variant', 'base']] as const) {
      if (typeof valueAt(d, p) === 'number') {
        const raw = src.rawScalar(p);
        if (raw !== null) {
          if (p.length === 1) d['variant'] = raw;
          else (d['variant'] as Record<string, unknown>)['base'] = raw;
        }
      }
    }
    for (const key of ['present_in', 'found_in'] as const) {
      const list = valueAt(d, ['defect', key]);
      if (!Array.isArray(list)) continue;
      list.forEach((v: unknown, i: number) => {
        if (typeof v === 'number') list[i] = src.rawScalar(['defect', key, i]) ?? String(v);
      });
    }
  }
  const L = new Loader(src);
  const top = topSchema.safeParse(data);
  if (!top.success) pushAll(L.errors, issuesToErrors(src, [], top.error.issues));

  // machine
  let plan: MachinePlan | null = null;
  const mr = machineSchema.optional().safeParse(valueAt(data, ['machine']));
  if (mr.success) {
    const pm = planMachine(mr.data, ['machine']);
    for (const e of pm.errors) L.err(e.path, e.message);
    plan = pm.plan;
    L.setMachine(pm.errors.length === 0 ? plan : null);
  }

  // variant
  let variant: VariantChoice = { base: DEFAULT_VARIANT, knobs: {} };
  const vr = variantSchema.optional().safeParse(valueAt(data, ['variant']));
  if (vr.success && vr.data !== undefined) {
    variant = typeof vr.data === 'string' ? { base: vr.data, knobs: {} } : { base: vr.data.base ?? DEFAULT_VARIANT, knobs: vr.data.knobs ?? {} };
    for (const e of checkVariant(variant)) {
      if (e.knob === null) L.err(typeof vr.data === 'string' ? ['variant'] : ['variant', 'base'], e.message);
      else L.err(['variant', 'knobs', e.knob], e.message, 'key');
    }
  }

  // the defect's variant list
  for (const key of ['present_in', 'found_in'] as const) {
    const raw = valueAt(data, ['defect', key]);
    if (!Array.isArray(raw)) continue;
    const known = variantNames();
    raw.forEach((v: unknown, i: number) => {
      if (typeof v === 'string' && !known.includes(v)) L.err(['defect', key, i], `unknown variant '${v}'${suggest(v, known)} (known: ${known.join(', ')})`);
    });
  }

  // processes, threads, steps
  const processes: ProcessDecl[] = [];
  const rawProcs = valueAt(data, ['processes']);
  const procNames = new Set<string>();
  if (Array.isArray(rawProcs)) {
    rawProcs.forEach((rp: unknown, pi: number) => {
      const pp = ['processes', pi];
      const name = valueAt(rp, ['name']);
      if (typeof name === 'string') {
        if (procNames.has(name)) L.err([...pp, 'name'], `duplicate process name '${name}'`);
        else L.processName(name, [...pp, 'name']);
        procNames.add(name);
      }
      const scope: Scope = new Map();
      const setup = L.steps(valueAt(rp, ['setup']), [...pp, 'setup'], scope);
      const threads: ThreadDecl[] = [];
      const rawThreads = valueAt(rp, ['threads']);
      if (Array.isArray(rawThreads)) {
        rawThreads.forEach((rt: unknown, ti: number) => {
          const tp = [...pp, 'threads', ti];
          const tn = valueAt(rt, ['name']);
          L.threadName(tn, [...tp, 'name']);
          threads.push({ name: typeof tn === 'string' ? tn : `t${ti + 1}`, steps: L.steps(valueAt(rt, ['steps']), [...tp, 'steps'], new Map(scope)) });
        });
      }
      if (valueAt(rp, ['setup']) === undefined && (!Array.isArray(rawThreads) || rawThreads.length === 0) && typeof rp === 'object' && rp !== null) {
        L.err(pp, "a process needs 'setup' steps or 'threads'");
      }
      processes.push({ name: typeof name === 'string' ? name : `p${pi + 1}`, setup, threads });
    });
  }

  // the scenario's own schedule
  let schedule: ScheduleSpec | null = null;
  const rawSched = valueAt(data, ['schedule']);
  const rawSeed = valueAt(data, ['seed']);
  if (typeof rawSched === 'string') {
    try {
      schedule = parseSchedule(rawSched, typeof rawSeed === 'number' ? rawSeed : undefined);
      if (schedule.kind === 'list' && !L.unnamedThread) {
        const known = [...L.knownThreads(), ...(plan === null ? [] : hardwareThreadNames(plan.devices))];
        const badEntry = schedule.entries.find((e) => !known.includes(e.thread));
        if (badEntry !== undefined) L.err(['schedule'], `the schedule names an unknown thread '${badEntry.thread}'${suggest(badEntry.thread, known)} (threads: ${known.join(', ')})`);
      }
    } catch (e) {
      if (!(e instanceof ScenarioInputError)) throw e;
      L.err(['schedule'], e.message);
    }
  }
  if (rawSeed !== undefined && schedule?.kind !== 'random' && !(rawSched === undefined && typeof rawSeed === 'number')) {
    L.err(['seed'], "a seed only applies to 'schedule: random'");
  }
  if (schedule === null && typeof rawSeed === 'number') schedule = { kind: 'random', seed: rawSeed };

  // the scenario's properties: one form each, selectors that pick steps, devices of the machine
  const properties: PropertyDecl[] = [];
  if (top.success && plan !== null) {
    const steps = allSteps(processes);
    const devs = plan.devices;
    (top.data.properties ?? []).forEach((p, i) => {
      const pp = ['properties', i];
      const line = src.errorAt(pp, '').line;
      const forms = (['event', 'never', 'always'] as const).filter((k) => p[k] !== undefined);
      if (forms.length !== 1) {
        L.err(forms.length === 0 ? pp : [...pp, forms[1] ?? ''], forms.length === 0 ? "a property needs one of 'event' (a count of events), 'never' or 'always' (a step's result, or the state after a step)" : `a property has one form; found '${forms[0] ?? ''}' and '${forms[1] ?? ''}' (declare two properties)`, forms.length === 0 ? 'value' : 'key');
        return;
      }
      if (p.event === undefined) {
        for (const k of ['where', 'at_most'] as const) if (p[k] !== undefined) L.err([...pp, k], `'${k}' belongs to an 'event' property`, 'key');
      }
      const pick = (sel: string, at: DataPath): Set<string> | null => {
        const r = resolveSelector(sel, steps);
        if (typeof r === 'string') {
          L.err(at, r);
          return null;
        }
        return r;
      };
      if (p.event !== undefined) {
        properties.push({ kind: 'event', name: p.name, event: p.event, where: p.where ?? {}, atMost: p.at_most ?? 0, line });
      } else if (p.never !== undefined) {
        const picked = pick(p.never.step, [...pp, 'never', 'step']);
        if (picked !== null) properties.push({ kind: 'result', name: p.name, mode: 'never', selector: p.never.step, steps: picked, result: p.never.result, line });
      } else if (p.always !== undefined) {
        const a = p.always;
        const ap = [...pp, 'always'];
        if (a.state !== undefined || a.after !== undefined || a.when !== undefined) {
          for (const k of ['step', 'result'] as const) if (a[k] !== undefined) L.err([...ap, k], `'${k}' belongs to a result predicate ('always: { step, result }'); a state predicate is 'always: { after, when, state }'`, 'key');
          if (a.after === undefined) return L.err(ap, "a state predicate needs 'after': the steps at whose end the state is checked");
          if (a.state === undefined || Object.keys(a.state).length === 0) return L.err(ap, `a state predicate needs 'state': one or more of ${Object.keys(STATE_OBSERVABLES).join(', ')}`);
          const picked = pick(a.after, [...ap, 'after']);
          const checks: StateCheck[] = [];
          const dev = (name: string | undefined, at: DataPath): string | null => {
            if (name === undefined) return null;
            const d = devs.find((x) => x.name === name || x.bdf === name);
            if (d === undefined) {
              L.err(at, `unknown device '${name}'${suggest(name, devs.map((x) => x.name))} (the machine has: ${devs.map((x) => `${x.name} (${x.bdf})`).join(', ')})`);
              return null;
            }
            return d.bdf;
          };
          const sp = [...ap, 'state'];
          const st = a.state;
          const add = (observable: StateObservable, o: { device?: string | undefined; kind?: string; is?: number | boolean | undefined; at_most?: number | undefined; at_least?: number | undefined }, path: DataPath, at: StateCheck['at'] = null): void => {
            const device = dev(o.device, [...path, 'device']);
            const is = o.is === undefined ? null : typeof o.is === 'boolean' ? (o.is ? 1 : 0) : o.is;
            if (is === null && o.at_most === undefined && o.at_least === undefined) return L.err(path, `${observable}: say what it must be ('is', 'at_most' or 'at_least')`);
            const of = o.kind !== undefined ? ` ${o.kind}` : o.device !== undefined ? ` of ${o.device}` : at !== null ? ` at ${at.name}${at.offset === 0 ? '' : `+0x${at.offset.toString(16)}`} (${at.thread})` : '';
            const what = at !== null ? `${at.thread}:${at.name}+${at.offset}` : (device ?? o.kind ?? '*');
            checks.push({ observable, device, kind: o.kind ?? null, at, is, atMost: o.at_most ?? null, atLeast: o.at_least ?? null, text: `${observable}${of}`, key: `${observable}:${what}` });
          };
          /** A pte_present's `at`: a mapping name bound by one thread's mmap (or the one `thread` names), plus an offset. */
          const mappingAt = (o: { at: string; thread?: string | undefined }, path: DataPath): StateCheck['at'] => {
            const m = /^([A-Za-z][A-Za-z0-9_-]*)(?:\s*\+\s*(0x[0-9a-fA-F]+|\d+))?$/.exec(o.at.trim());
            if (m === null) {
              L.err([...path, 'at'], `expected a mapping's name (bound with as:), optionally +offset (bar+0x1000), got '${o.at}'`);
              return null;
            }
            const [, name = '', off] = m;
            const binders = [...new Set(steps.filter((x) => x.decl.as === name && x.decl.op?.name === 'mmap').map((x) => x.thread))];
            if (binders.length === 0) {
              L.err([...path, 'at'], `no mmap step binds '${name}' with as:`);
              return null;
            }
            const thread = o.thread ?? (binders.length === 1 ? binders[0] : undefined);
            if (thread === undefined) {
              L.err([...path, 'at'], `'${name}' is bound by several threads (${binders.join(', ')}): say whose with 'thread:'`);
              return null;
            }
            if (!steps.some((x) => x.thread === thread)) {
              L.err([...path, 'thread'], `no thread or process '${thread}' (known: ${[...new Set(steps.map((x) => x.thread))].join(', ')})`);
              return null;
            }
            return { name, thread, offset: off === undefined ? 0 : Number(off) };
          };
          if (st.memory_decode !== undefined) add('memory_decode', st.memory_decode, [...sp, 'memory_decode']);
          if (st.iommu_maps_of_disabled_bars !== undefined) add('iommu_maps_of_disabled_bars', typeof st.iommu_maps_of_disabled_bars === 'number' ? { is: st.iommu_maps_of_disabled_bars } : st.iommu_maps_of_disabled_bars, [...sp, 'iommu_maps_of_disabled_bars']);
          if (st.bar_ptes !== undefined) add('bar_ptes', st.bar_ptes, [...sp, 'bar_ptes']);
          if (st.pte_present !== undefined) {
            const at = mappingAt(st.pte_present, [...sp, 'pte_present']);
            if (at !== null) add('pte_present', { is: st.pte_present.is }, [...sp, 'pte_present'], at);
          }
          if (st.events !== undefined) add('events', st.events, [...sp, 'events']);
          if (picked !== null) properties.push({ kind: 'state', name: p.name, selector: a.after, steps: picked, when: a.when ?? null, state: checks, line });
        } else {
          if (a.step === undefined || a.result === undefined) return L.err(ap, "expected 'always: { step, result }' (a result every selected step ends with) or 'always: { after, when, state }' (the state after a step)");
          const picked = pick(a.step, [...ap, 'step']);
          if (picked !== null) properties.push({ kind: 'result', name: p.name, mode: 'always', selector: a.step, steps: picked, result: a.result, line });
        }
      }
    });
    const seen = new Set<string>();
    (top.data.properties ?? []).forEach((p, i) => {
      if (seen.has(p.name)) L.err(['properties', i, 'name'], `duplicate property name '${p.name}'`);
      seen.add(p.name);
    });
  }

  if (L.errors.length > 0 || !top.success || plan === null) {
    const errs = [...L.errors].sort((a, b) => a.line - b.line || a.col - b.col);
    return { ok: false, errors: errs.length > 0 ? errs : [src.errorAt([], 'invalid scenario')] };
  }
  const t = top.data;
  const scenario: Scenario = {
    file: fileName,
    name: t.name ?? null,
    description: t.description ?? null,
    hash: executionHash(data),
    variant,
    machine: plan,
    processes,
    expect: t.expect ?? {},
    maxSteps: t.max_steps ?? DEFAULT_MAX_STEPS,
    schedule,
    defect: t.defect === undefined ? null : { id: t.defect.id, presentIn: t.defect.present_in, property: t.defect.property ?? null, foundIn: t.defect.found_in ?? t.defect.present_in },
    properties,
  };
  SOURCES.set(scenario, text);
  return { ok: true, scenario };
}

/** The text each loaded scenario came from (worker threads reload a scenario from it). */
const SOURCES = new WeakMap<Scenario, string>();

/** The text `s` was loaded from (undefined: not made by loadScenario). */
export function scenarioText(s: Scenario): string | undefined {
  return SOURCES.get(s);
}
