/**
 * The generator lowering as a compiler (tools/lower/lower.ts): one test per construct it
 * takes apart — each snippet is compiled twice, as written (a generator) and lowered (a
 * Frame), and both are driven to the end: the same points yielded in the same order, the
 * same value returned or the same exception thrown — plus the constructs it refuses, with
 * their file:line:col, and the property it exists for: a task in flight is plain data that
 * the snapshots copy.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { deepClone } from '../../src/check/snapshot.js';
import { Frame } from '../../src/kernel/sched/frame.js';
import type { Task, Yielded } from '../../src/kernel/sched/task.js';
import { LowerError, lowerTransformer } from '../../tools/lower/lower.js';

const root = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const frameJs = pathToFileURL(join(root, 'dist', 'src', 'kernel', 'sched', 'frame.js')).href;
const tmp = mkdtempSync(join(tmpdir(), 'vfio-sim-lower-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const PRELUDE = `import type { Task, SchedPoint } from '../../src/kernel/sched/task.js';
const p = (op: string): SchedPoint => ({ op, obj: 'o', access: 'r' });
`;

/** Compile `body` (after the prelude) into a module, lowered or as written; returns its exports. */
let counter = 0;
async function compile(body: string, lower: boolean): Promise<Record<string, unknown>> {
  const fileName = join(root, 'test', 'lower', `__snippet${counter++}__.ts`).split('\\').join('/');
  const text = PRELUDE + body;
  const options: ts.CompilerOptions = { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, types: [], lib: ['lib.es2022.d.ts'], skipLibCheck: true, noEmitOnError: false };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, onError) => (name === fileName ? ts.createSourceFile(name, text, lang) : getSourceFile(name, lang, onError));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === fileName || fileExists(name);
  const program = ts.createProgram([fileName], options, host);
  const errs = ts.getPreEmitDiagnostics(program, program.getSourceFile(fileName)).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errs.length > 0) throw new Error(ts.formatDiagnostics(errs, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' }));
  let js = '';
  const sf = program.getSourceFile(fileName);
  const frameModule = join(root, 'src', 'kernel', 'sched', 'frame.ts').split('\\').join('/');
  const transformers = lower ? { before: [lowerTransformer(program, { frameModule })] } : undefined;
  program.emit(sf, (name, data) => {
    if (name.endsWith('.js')) js = data;
  }, undefined, false, transformers);
  js = js.replace(/from "[^"]*sched\/frame\.js"/, `from ${JSON.stringify(frameJs)}`);
  const out = join(tmp, `m${counter}-${lower ? 'l' : 'p'}.mjs`);
  writeFileSync(out, js);
  return (await import(pathToFileURL(out).href)) as Record<string, unknown>;
}

interface Trace {
  readonly points: string[];
  readonly end: string;
}

/** Drive a task to its end: the ops it yields and how it ended. */
function drive(t: Task<unknown>): Trace {
  const points: string[] = [];
  try {
    for (let i = 0; i < 10_000; i++) {
      const r = t.next();
      if (r.done === true) return { points, end: `return ${JSON.stringify(r.value)}` };
      const y: Yielded = r.value;
      points.push(y.block === true ? 'block' : y.op);
    }
    return { points, end: 'runaway' };
  } catch (e) {
    return { points, end: `throw ${e instanceof Error ? e.message : String(e)}` };
  }
}

type Maker = (...args: never[]) => Task<unknown>;

/**
 * Compile `body` both ways; for each [export, args] call both forms and compare their
 * traces; returns the lowered traces for further assertions.
 */
async function same(body: string, calls: readonly (readonly [string, ...unknown[]])[]): Promise<Trace[]> {
  const plainM = await compile(body, false);
  const lowM = await compile(body, true);
  const traces: Trace[] = [];
  for (const [name, ...args] of calls) {
    const pf = plainM[name] as Maker;
    const lf = lowM[name] as Maker;
    const pt = pf(...(args as never[]));
    const lt = lf(...(args as never[]));
    assert.equal(Object.prototype.toString.call(pt), '[object Generator]', `${name}: the plain form is a generator`);
    assert.ok(lt instanceof Frame, `${name}: the lowered form is a Frame`);
    const a = drive(pt);
    const b = drive(lt);
    assert.deepEqual(b, a, `${name}(${args.map((x) => JSON.stringify(x)).join(', ')}): lowered differs from the generator`);
    traces.push(b);
  }
  return traces;
}

const SUB = `
function* sub(v: number, n: number): Task<number> {
  for (let i = 0; i < n; i++) yield p('sub' + i);
  return v;
}
function* boom(msg: string, n: number): Task<number> {
  for (let i = 0; i < n; i++) yield p('boom' + i);
  throw new Error(msg);
}
`;

test('lowering: locals live across scheduling points; parameters and a sub-task that never yields', async () => {
  const [t] = await same(
    SUB +
      `export function* f(a: number): Task<number> {
  let x = a * 2;
  yield p('one');
  const y = x + 1;
  x = yield* sub(y, 0);
  yield p('two:' + x);
  return x + (yield* sub(10, 2));
}`,
    [['f', 3]],
  );
  assert.deepEqual(t?.points, ['one', 'two:7', 'sub0', 'sub1']);
  assert.equal(t?.end, 'return 17');
});

test('lowering: a local used only within one step stays a JavaScript local (not a frame field), in loops, bound to a yield* result, and with the same name in two blocks', async () => {
  const body =
    SUB +
    `export function* f(n: number): Task<number> {
  let total = 0;
  for (let i = 0; i < n; i++) {
    const got = yield* sub(i, 1);
    const doubled = got * 2;
    total += doubled;
    yield p('t' + total);
  }
  if (n > 1) {
    const tmp = total + 1;
    total = tmp;
    yield p('a' + total);
  } else {
    const tmp = total - 1;
    total = tmp;
    yield p('b' + total);
  }
  const across = total * 10;
  yield p('c');
  return across;
}`;
  const [t] = await same(body, [['f', 3], ['f', 1]]);
  assert.deepEqual(t?.points, ['sub0', 't0', 'sub0', 't2', 'sub0', 't6', 'a7', 'c']);
  const m = await compile(body, true);
  const frame = (m.f as Maker)(...([3] as never[]));
  const fields = Object.keys(frame);
  for (const live of ['n', 'total', 'i', 'across']) assert.ok(fields.includes(live), `${live} lives across a scheduling point: a field (fields: ${fields.join(', ')})`);
  for (const local of ['got', 'doubled', 'tmp']) assert.ok(!fields.some((f) => f === local || f.startsWith(`${local}$`)), `${local} is used within one step: not a field (fields: ${fields.join(', ')})`);
});

test('lowering: if/else with a yield in the condition and in the branches', async () => {
  await same(
    SUB +
      `export function* f(a: number): Task<string> {
  if ((yield* sub(a, 1)) > 2) { yield p('big'); } else if (a === 1) { yield p('one'); return 'early'; } else yield p('small');
  if (!(yield* sub(0, 0))) yield p('falsy');
  return 'end';
}`,
    [['f', 3], ['f', 1], ['f', 0]],
  );
});

test('lowering: while, do-while and for loops with break, continue and labels across scheduling points', async () => {
  await same(
    `export function* f(n: number): Task<number> {
  let s = 0;
  outer: for (let i = 0; i < n; i++) {
    let j = 0;
    while (true) {
      j++;
      yield p('w' + i + ':' + j);
      if (j > i) break;
      if (j === 2) continue outer;
      if (i === 4) break outer;
    }
    do { s += j; yield p('d' + s); } while (s % 3 !== 0 && s < 50);
    if (i === 1) continue;
    yield p('i' + i);
  }
  return s;
}`,
    [['f', 0], ['f', 3], ['f', 6]],
  );
});

test('lowering: for...of over an array around a scheduling point sees elements pushed during the loop, as the array iterator does', async () => {
  await same(
    `export function* f(xs: number[]): Task<number> {
  let s = 0;
  for (const x of xs) {
    yield p('x' + x);
    if (x === 2) xs.push(9);
    if (x === 9) break;
    s += x;
  }
  for (const [a, b] of [[1, 2], [3, 4]] as [number, number][]) { yield p('ab' + a + b); s += a * b; }
  return s;
}`,
    [['f', [1, 2, 3]], ['f', []]],
  );
});

test('lowering: switch with fall-through, default in the middle and a yield in a case', async () => {
  await same(
    `export function* f(k: number): Task<string> {
  let out = '';
  switch (k) {
    case 1: out += 'a'; yield p('one');
    case 2: out += 'b'; break;
    default: yield p('def'); out += 'd';
    case 3: out += 'c'; yield p('three');
  }
  return out;
}`,
    [['f', 1], ['f', 2], ['f', 3], ['f', 7]],
  );
});

test('lowering: try/finally runs the finally block on normal exit, on return, on break and on an exception from a sub-task', async () => {
  await same(
    SUB +
      `export function* f(mode: number): Task<string> {
  let log = '';
  for (let i = 0; i < 3; i++) {
    try {
      yield p('try' + i);
      if (mode === 1 && i === 1) return 'ret' + i;
      if (mode === 2 && i === 1) break;
      if (mode === 3 && i === 1) continue;
      if (mode === 4 && i === 1) yield* boom('bang', 1);
      log += 't' + i;
    } finally {
      yield p('fin' + i);
      log += 'f' + i;
    }
  }
  return log;
}`,
    [['f', 0], ['f', 1], ['f', 2], ['f', 3], ['f', 4]],
  );
});

test('lowering: try/catch catches an exception thrown by a delegated task after it suspended, and a catch block may yield', async () => {
  await same(
    SUB +
      `export function* f(n: number): Task<string> {
  try {
    yield p('before');
    const v = yield* boom('e' + n, n);
    return 'not reached ' + v;
  } catch (e) {
    yield p('caught');
    return 'caught ' + (e as Error).message;
  }
}
export function* g(): Task<string> {
  try { yield p('a'); throw new Error('x'); } catch { yield p('c'); } finally { yield p('f'); }
  try { try { yield* boom('inner', 1); } finally { yield p('f1'); } } catch (e) { return 'outer caught ' + (e as Error).message; }
  return 'no';
}`,
    [['f', 0], ['f', 2], ['g']],
  );
});

test('lowering: a return through two finally blocks runs both, innermost first; an exception escaping the frame propagates to the caller', async () => {
  await same(
    SUB +
      `export function* f(): Task<number> {
  try {
    try { yield p('in'); return 1; } finally { yield p('f-inner'); }
  } finally { yield p('f-outer'); }
}
export function* g(): Task<number> {
  try { yield p('in'); yield* boom('escapes', 2); return 0; } finally { yield p('cleanup'); }
}
export function* h(): Task<number> {
  try { yield p('in'); return 1; } finally { yield p('f'); throw new Error('from finally'); }
}`,
    [['f'], ['g'], ['h']],
  );
});

test('lowering: operands evaluated before a yield keep their values (spilled), and &&, ||, ??, ?: keep their short circuits', async () => {
  await same(
    SUB +
      `let glob = 1;
function* bump(): Task<number> { yield p('bump'); glob += 10; return glob; }
export function* f(a: number | null): Task<string> {
  glob = 1;
  const s1 = glob + (yield* bump());
  const arr = [glob, yield* bump(), glob];
  let acc = 5;
  acc += yield* sub(2, 1);
  const o = { x: glob, y: yield* sub(7, 0) };
  const t = \`\${glob}-\${yield* sub(3, 1)}\`;
  const c = a === null ? yield* sub(-1, 1) : a > 0 && (yield* sub(a, 1)) > 1 ? 'big' : a || (yield* sub(0, 1));
  const n = a ?? (yield* sub(42, 1));
  return JSON.stringify([s1, arr, acc, o, t, c, n, Math.max(glob, yield* sub(99, 0))]);
}`,
    [['f', null], ['f', 0], ['f', 2], ['f', 1]],
  );
});

test('lowering: a shorthand property before a yield in an object literal reads the local it names (a frame field)', async () => {
  await same(
    SUB +
      `export function* f(a: number): Task<string> {
  const ret = yield* sub(a, 1);
  yield p('between');
  return JSON.stringify({ ret, data: yield* sub(a + 1, 1) });
}`,
    [['f', 3]],
  );
});

test('lowering: callbacks over frame locals run during the step, and a helper closure is made again where it is used after a scheduling point', async () => {
  await same(
    `export function* f(k: number): Task<number[]> {
  const xs = [1, 2, 3];
  let count = 0;
  const bumpBy = (d: number): number => { count += d; return count * k; };
  yield p('a');
  const ys = xs.map((x) => x * k).filter((y) => y > k);
  yield p('b' + bumpBy(2));
  return [...ys, bumpBy(1), count];
}`,
    [['f', 2]],
  );
});

test("lowering: a method's this, and an object literal's generator method that captures its enclosing function's const", async () => {
  await same(
    `class Dev { constructor(readonly name: string) {}
  *probe(n: number): Task<string> { yield p(this.name + n); return this.name; } }
function ops(prefix: string) { return { *run(n: number): Task<string> { yield p(prefix + n); return prefix; } }; }
export function probe(n: number): Task<string> { return new Dev('dev').probe(n); }
export function op(n: number): Task<string> { return ops('op').run(n); }`,
    [['probe', 1], ['op', 2]],
  );
});

test('lowering: a task in flight is plain data: a copy taken at a scheduling point goes on exactly as the original', async () => {
  const m = await compile(
    SUB +
      `export function* f(n: number): Task<number> {
  let s = 0;
  for (let i = 0; i < n; i++) { s += yield* sub(i, 2); yield p('s' + s); }
  try { yield p('t'); } finally { yield p('f'); }
  return s;
}`,
    true,
  );
  const t = (m.f as Maker)(...([3] as never[]));
  for (let i = 0; i < 4; i++) t.next();
  const copy = deepClone(t);
  assert.notEqual(copy, t);
  assert.deepEqual(drive(copy), drive(t));
});

for (const [what, body, re] of [
  ['for...of over a Set around a scheduling point (an iterator cannot be copied)', `export function* f(s: Set<number>): Task<void> { for (const x of s) yield p('x' + x); }`, /for\.\.\.of over Set<number>.*Array\.from/],
  ['a closure over the frame that may outlive the step', `export function* f(k: number): Task<() => number> { yield p('a'); const o = { get: () => k }; return o.get; }`, /closure over the frame/],
  ['var', `export function* f(): Task<void> { var x = 1; yield p('v' + x); }`, /`var`/],
  ['a destructured parameter', `export function* f({ a }: { a: number }): Task<void> { yield p('a' + a); }`, /destructured parameter/],
  ['a nested function that uses a frame local', `export function* f(k: number): Task<void> { yield p('a'); const g = function () { return k; }; yield p('b' + g()); }`, /nested function uses `k`/],
  ['a capture its enclosing function reassigns', `export function make() { let n = 0; n++; return function* (): Task<number> { yield p('a'); return n; }; }`, /reassigns/],
  ['a yield in a spread', `function* sub(): Task<number[]> { return [1]; }\nexport function* f(): Task<number[]> { return [0, ...(yield* sub())]; }`, /spread/],
] as const) {
  test(`lowering refuses ${what}, at file:line:col`, async () => {
    let err: unknown = null;
    try {
      await compile(body, true);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof LowerError, `expected a LowerError, got ${String(err)}`);
    assert.match(err.message, re);
    assert.match(err.message, /__snippet\d+__\.ts:\d+:\d+: cannot lower this Task generator: /);
    assert.ok(err.line >= 3, 'the line is inside the snippet, after the prelude');
  });
}
