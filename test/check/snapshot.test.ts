/**
 * Snapshots (src/check/snapshot.ts) and the explorer's setup snapshot: the copy keeps
 * classes, sharing, cycles and bytes; it refuses what it cannot copy; a scenario's world
 * after its setup holds no closure over itself; a copied world runs its threads exactly
 * as the original; the explorer searches the same with and without the snapshot.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { auditGraph, deepClone, reachable, Snapshot, SnapshotRefused } from '../../src/check/snapshot.js';
import { SideTable } from '../../src/util/side-table.js';
import type { Scenario } from '../../src/scenario/index.js';
import { type ExploreOptions, type ExploreResult, exploreScenario, scenarioProgram, searchOptions } from '../../src/scenario/explore.js';
import { prepareRun, type RunResult, runScenario, type SetupWorld, snapshotSetup } from '../../src/scenario/run.js';
import { Search } from '../../src/check/search.js';
import { load, example } from '../scenario/helpers.js';

const SRC = new URL('../../../src/', import.meta.url);

class Point {
  constructor(
    public x: number,
    public y: number,
  ) {}

  norm1(): number {
    return Math.abs(this.x) + Math.abs(this.y);
  }
}

class Node2 {
  next: Node2 | null = null;
  constructor(readonly name: string) {}
}

// ---- the cloner ---------------------------------------------------------------------------

test('snapshot copy: class instances keep their prototype (methods, instanceof), their own properties in order, and a SideTable entry (a non-enumerable symbol property)', () => {
  const side = new SideTable<Point, string>('note');
  const p = new Point(3, -4);
  side.set(p, 'hello');
  const c = deepClone(p);
  assert.notEqual(c, p);
  assert.ok(c instanceof Point);
  assert.equal(c.norm1(), 7);
  assert.deepEqual(Object.keys(c), ['x', 'y']);
  assert.equal(side.get(c), 'hello');
  assert.equal(side.has(c), true);
  assert.deepEqual(Object.keys(c), ['x', 'y'], 'the side entry stays invisible to Object.keys');
  side.set(c, 'changed');
  assert.equal(side.get(p), 'hello', 'the original keeps its own entry');
});

test('snapshot copy: shared references stay shared and cycles close on the copy (objects, arrays, Map keys and values, Set elements)', () => {
  const a = new Node2('a');
  const b = new Node2('b');
  a.next = b;
  b.next = a;
  const key = { k: 1 };
  const root = { a, b, list: [a, b, a], byKey: new Map<object, Node2>([[key, a]]), key, set: new Set([b, key]) };
  const c = deepClone(root);
  assert.notEqual(c.a, a);
  assert.equal(c.a.next, c.b);
  assert.equal(c.b.next, c.a);
  assert.equal(c.list[0], c.a);
  assert.equal(c.list[2], c.a);
  assert.equal(c.byKey.get(c.key), c.a);
  assert.equal(c.byKey.get(key), undefined, 'the Map is keyed by the copied key');
  assert.ok(c.set.has(c.b) && c.set.has(c.key));
  assert.deepEqual([...c.set], [c.b, c.key], 'insertion order kept');
});

test('snapshot copy: typed arrays and DataViews get their own bytes; two views of one buffer still share the copied buffer', () => {
  const buf = new ArrayBuffer(16);
  const u8 = new Uint8Array(buf, 4, 8);
  const dv = new DataView(buf);
  const big = new BigUint64Array([1n, 2n]);
  u8[0] = 0xab;
  const c = deepClone({ u8, dv, big });
  assert.ok(c.u8 instanceof Uint8Array && c.dv instanceof DataView && c.big instanceof BigUint64Array);
  assert.equal(c.u8.buffer, c.dv.buffer, 'one copied buffer behind both views');
  assert.notEqual(c.u8.buffer, buf);
  assert.equal(c.u8.byteOffset, 4);
  assert.equal(c.u8.length, 8);
  assert.equal(c.dv.getUint8(4), 0xab);
  c.dv.setUint8(5, 0x77);
  assert.equal(c.u8[1], 0x77, 'a write through one copied view shows through the other');
  assert.equal(u8[1], 0, 'the original bytes are untouched');
  assert.deepEqual([...c.big], [1n, 2n]);
});

test('snapshot copy: primitives are values; functions, declared-shared and deeply frozen objects are kept by identity; a frozen object with a mutable child is copied and stays frozen', () => {
  const sym = Symbol('s');
  const fn = (): number => 1;
  const global = { table: [1, 2, 3] };
  const constant = Object.freeze({ op: 'start', obj: 'thread', nested: Object.freeze([1, 2]) });
  const frozenOuter = Object.freeze({ inner: { n: 1 } });
  const frozenList = Object.freeze([{ n: 2 }]);
  const root = { n: NaN, z: -0, big: 2n ** 70n, u: undefined, nul: null, sym, fn, global, constant, frozenOuter, frozenList };
  const c = deepClone(root, { shared: (o) => o === global });
  assert.ok(Number.isNaN(c.n));
  assert.ok(Object.is(c.z, -0));
  assert.equal(c.big, 2n ** 70n);
  assert.ok('u' in c && c.u === undefined);
  assert.equal(c.nul, null);
  assert.equal(c.sym, sym);
  assert.equal(c.fn, fn);
  assert.equal(c.global, global);
  assert.equal(c.constant, constant);
  assert.notEqual(c.frozenOuter, frozenOuter);
  assert.notEqual(c.frozenOuter.inner, frozenOuter.inner);
  assert.ok(Object.isFrozen(c.frozenOuter));
  assert.notEqual(c.frozenList, frozenList);
  assert.notEqual(c.frozenList[0], frozenList[0]);
  assert.ok(Object.isFrozen(c.frozenList) && Array.isArray(c.frozenList));
});

test('snapshot restore: every restore is an independent copy, and changes to the original after the take never reach a copy', () => {
  const orig = { count: 1, list: [new Point(1, 1)], m: new Map([['k', 1]]), bytes: new Uint8Array([1, 2]) };
  const snap = Snapshot.take(orig);
  assert.equal(snap.objects, 6); // the root, the list, the point, the Map, the view and its buffer
  orig.count = 99;
  (orig.list[0] as Point).x = 99;
  orig.m.set('k', 99);
  (orig.bytes as Uint8Array)[0] = 99;
  const c1 = snap.restore();
  const c2 = snap.restore();
  for (const c of [c1, c2]) {
    assert.equal(c.count, 1);
    assert.equal(c.list[0]?.x, 1);
    assert.equal(c.m.get('k'), 1);
    assert.equal(c.bytes[0], 1);
  }
  (c1.list[0] as Point).x = 5;
  c1.bytes[1] = 5;
  assert.equal(c2.list[0]?.x, 1);
  assert.equal(c2.bytes[1], 2);
});

test('snapshot refuses what a copy cannot reproduce — a suspended generator, a Promise, WeakMap, WeakSet, WeakRef, a Date, an accessor, a sparse array — naming the path', () => {
  function* gen(): Generator<number> {
    yield 1;
  }
  const g = gen();
  g.next();
  const cases: [unknown, RegExp][] = [
    [{ thread: { task: g } }, /\$\.thread\.task: a generator object/],
    [{ p: Promise.resolve(1) }, /\$\.p: a promise/],
    [{ w: new WeakMap() }, /\$\.w: a WeakMap/],
    [{ w: new WeakSet() }, /\$\.w: a WeakSet/],
    [{ w: new WeakRef({}) }, /\$\.w: a WeakRef/],
    [{ d: new Date(0) }, /\$\.d: Date/],
    [{ o: Object.defineProperty({}, 'x', { get: () => 1, enumerable: true }) }, /\$\.o: an accessor property \.x/],
    [{ a: [1, , 3] }, /\$\.a: an array with holes/],
    [{ list: [{ m: new Map([['key', { g }]]) }] }, /\$\.list\[0\]\.m\.get\("key"\)\.g: a generator object/],
  ];
  for (const [root, why] of cases) {
    assert.throws(() => Snapshot.take(root), (e: unknown) => e instanceof SnapshotRefused && why.test(e.message), String(why));
  }
});

test('snapshot allowFunction: a function outside the shared set (a closure over one world) is refused with its path and source head', () => {
  const world = { n: 1 };
  const closure = (): number => world.n;
  assert.throws(
    () => Snapshot.take({ world, hooks: { onStep: closure } }, { allowFunction: () => false }),
    (e: unknown) => e instanceof SnapshotRefused && e.path === '$.hooks.onStep' && /world\.n/.test(e.message),
  );
  // the same function declared shared (global) is kept
  const c = Snapshot.take({ world, hooks: { onStep: closure } }, { allowFunction: () => false, shared: (o) => o === closure }).restore();
  assert.equal(c.hooks.onStep, closure);
});

test('snapshot take again and again: a deeply frozen object is shared on every take, yet a closure inside it is refused on every take, with its path', () => {
  const world = { n: 1 };
  const frozen = Object.freeze({ table: Object.freeze([Object.freeze({ op: 'x', on: (): number => world.n })]) });
  for (let i = 0; i < 3; i++) {
    assert.throws(
      () => Snapshot.take({ world, ops: frozen }, { allowFunction: () => false }),
      (e: unknown) => e instanceof SnapshotRefused && e.path === '$.ops.table["0"].on' && /world\.n/.test(e.message),
      `take ${i}`,
    );
    const c = Snapshot.take({ world, ops: frozen }).restore();
    assert.equal(c.ops, frozen, `take ${i}: kept by identity`);
    assert.notEqual(c.world, world);
  }
});

test('snapshot: frozen objects in a cycle that also reaches a mutable object are copied, whichever of them the walk meets first', () => {
  const mutable = { n: 1 };
  const a: { b?: unknown; m?: unknown } = {};
  const b: { a?: unknown } = { a };
  a.b = b;
  a.m = mutable;
  Object.freeze(a);
  Object.freeze(b);
  for (const root of [{ first: b, second: a }, { first: a, second: b }]) {
    const c = deepClone(root);
    assert.notEqual(c.first, root.first);
    assert.notEqual(c.second, root.second);
    mutable.n++;
    const m = (root.first === a ? c.first : c.second) as { m: { n: number } };
    assert.equal(m.m.n, mutable.n - 1, 'the copy does not see the original change');
  }
});

test('snapshot: instances of one class with different layouts (a property added to some) each get their own properties back, in order', () => {
  const ps: Point[] = [];
  for (let i = 0; i < 6; i++) {
    const p = new Point(i, -i);
    if (i % 2 === 1) (p as Point & { tag?: string }).tag = `t${i}`;
    ps.push(p);
  }
  const snap = Snapshot.take(ps);
  for (let k = 0; k < 2; k++) {
    const c = snap.restore();
    c.forEach((p, i) => {
      assert.ok(p instanceof Point);
      assert.deepEqual(Object.keys(p), i % 2 === 1 ? ['x', 'y', 'tag'] : ['x', 'y']);
      assert.equal(p.norm1(), 2 * i);
    });
  }
});

test('auditGraph lists every function (path and source head) and every refusal without stopping at the first', () => {
  const root = { a: { f: function named(): void {} }, b: [(): number => 2], w: new WeakMap(), m: new Map([['x', new WeakSet()]]) };
  const au = auditGraph(root);
  assert.deepEqual(au.functions.map((f) => f.path).sort(), ['$.a.f', '$.b[0]']);
  assert.match(au.functions.find((f) => f.path === '$.a.f')?.head ?? '', /function named/);
  assert.deepEqual(au.refused.map((r) => r.path).sort(), ['$.m.get("x")', '$.w']);
});

// ---- a scenario's world after its setup ----------------------------------------------------

/** The setup's world, with what a second world built the same way shares with it. */
function afterSetup(s: Scenario, variant: string): { audit: ReturnType<typeof auditGraph> } {
  const a = prepareRun(s, { variant, schedule: 'rr' });
  assert.equal(a.setup().kind, 'done');
  assert.ok(a.unhook());
  const b = prepareRun(s, { variant, schedule: 'rr' });
  b.setup();
  b.unhook();
  const global = reachable(b);
  return { audit: auditGraph(a, { shared: (o) => global.has(o) }) };
}

test('a scenario world after its setup holds no closure over itself and nothing a copy must refuse (open_device, mmap, a fork child, KVM, the 6.10 address space) in 5.7 and 6.10', () => {
  for (const f of ['h2-fault-races-disable.yaml', 'h10-fork-stale-mapping.yaml', 'v2-lockdep-cycle.yaml', 'claim-37-address-space-zap-6_10.yaml']) {
    for (const variant of ['5.7', '6.10']) {
      const { audit } = afterSetup(example(f), variant);
      assert.deepEqual(audit.functions, [], `${f} ${variant}: per-world functions`);
      assert.deepEqual(audit.refused, [], `${f} ${variant}: refusals`);
      assert.ok(audit.objects > 100, `${f} ${variant}: ${audit.objects} objects`);
    }
  }
});

test('no module-level WeakMap or WeakSet holds per-world state in the model (such an entry would silently stay behind in every snapshot copy; use SideTable)', () => {
  // keyed by immutable specs (ROM images, device templates, a loaded scenario's text) or local to a function
  const allowed = new Set(['hw/pci-function.ts', 'hw/machine.ts', 'scenario/machine.ts', 'scenario/load.ts']);
  const found: string[] = [];
  const walk = (dir: URL, rel: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(new URL(`${e.name}/`, dir), `${rel}${e.name}/`);
      else if (e.name.endsWith('.ts') && /new Weak(Map|Set|Ref)\b/.test(readFileSync(new URL(e.name, dir), 'utf8')) && !allowed.has(`${rel}${e.name}`)) found.push(`${rel}${e.name}`);
    }
  };
  for (const d of ['hw', 'kernel', 'user', 'events', 'scenario']) walk(new URL(`${d}/`, SRC), `${d}/`);
  assert.deepEqual(found, []);
});

const comparable = (r: RunResult): unknown => ({
  events: r.events.map((e) => JSON.stringify(e, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? [...v] : v))),
  steps: r.steps.map((x) => `${x.thread}#${x.index}:${x.status}:${x.result}:${x.verdict}:${x.startSeq}-${x.endSeq}`),
  end: r.end,
  threads: r.threads,
  bugs: r.bugs,
  token: r.token,
  schedulerSteps: r.schedulerSteps,
  ok: r.ok,
});

test('a copied Runner runs its thread phase exactly as the original run (events, step results, threads, token, steps), under round-robin and a random seed; two copies run independently', () => {
  for (const [f, variant] of [['h2-fault-races-disable.yaml', '5.8'], ['h10-fork-stale-mapping.yaml', '6.1'], ['v2-lockdep-cycle.yaml', 'v2']] as const) {
    const s = example(f);
    for (const schedule of [{ kind: 'rr' as const }, { kind: 'random' as const, seed: 3 }]) {
      const want = runScenario(s, { variant, schedule });
      const a = prepareRun(s, { variant, schedule });
      a.setup();
      const snap = snapshotSetup(s, { variant, schedule }, a, null);
      assert.ok(snap instanceof Snapshot, String(snap));
      for (let i = 0; i < 2; i++) {
        const w: SetupWorld<null> = snap.restore();
        w.runner.hookUp({ schedule, observer: null, stepHook: null });
        assert.deepEqual(comparable(w.runner.runThreads()), comparable(want), `${f} ${schedule.kind} copy ${i}`);
      }
    }
  }
});

// ---- the explorer with and without the snapshot -------------------------------------------

const searchOf = (r: ExploreResult): unknown => ({ ...r.search, stats: { ...r.search.stats, elapsedMs: 0 }, firstFoundMs: {} });

test('the explorer searches the same with and without the setup snapshot (stats but time, outcomes, counterexamples and tokens) on H2 under 5.7, 5.8, 5.13 and 6.10, H10 (a fork in the setup) under 5.8 and 6.10, v2 (KVM) under v2', () => {
  for (const [f, variants] of [['h2-fault-races-disable.yaml', ['5.7', '5.8', '5.13', '6.10']], ['h10-fork-stale-mapping.yaml', ['5.8', '6.10']], ['v2-lockdep-cycle.yaml', ['v2']]] as const) {
    const s = example(f);
    for (const variant of variants) {
      const o: ExploreOptions = { variant, maxPreemptions: 2, maxExecutions: 15, noReplays: true };
      const on = exploreScenario(s, { ...o, snapshot: true });
      const off = exploreScenario(s, { ...o, snapshot: false });
      assert.deepEqual(searchOf(on), searchOf(off), `${f} ${variant}`);
    }
  }
});

test('explorer: H2 under 5.8 runs every execution from the setup snapshot, and its counterexample tokens replay the violation in a plain run', () => {
  const s = example('h2-fault-races-disable.yaml');
  const o: ExploreOptions = { variant: '5.8', maxPreemptions: 2, noReplays: true };
  const program = scenarioProgram(s, o);
  assert.equal(program.snapshotStatus(), 'pending');
  const search = new Search(program, searchOptions(o));
  search.step();
  assert.equal(program.snapshotStatus(), 'snapshot');
  const ur = search.result().counterexamples.find((c) => c.property === 'unsupported-request');
  assert.ok(ur !== undefined);
  assert.equal(runScenario(s, { replay: ur.token }).platformErrors.length, 1);
});

test('a setup the snapshot cannot copy (an ioeventfd registered in the setup: its handler closes over the device) falls back to running the setup again, with the same search', () => {
  const s = load(`name: ioeventfd in the setup
processes:
  - name: qemu
    setup:
      - open_device: edu0
        as: dev
      - eventfd:
        as: efd
      - ioctl: { fd: dev, cmd: IOEVENTFD, region: bar0, offset: 0x4, size: 4, data: 0x1234, eventfd: efd }
    threads:
      - name: main
        steps:
          - clear_mem: dev
      - name: kick
        steps:
          - eventfd_write: efd
`);
  const o: ExploreOptions = { variant: '5.8', maxPreemptions: 1, noReplays: true };
  const program = scenarioProgram(s, o);
  const search = new Search(program, searchOptions(o));
  search.step();
  assert.match(program.snapshotStatus(), /cannot snapshot .*a function that may capture per-world state/);
  const on = search.result();
  const off = exploreScenario(s, { ...o, snapshot: false });
  assert.deepEqual({ ...on, stats: { ...on.stats, elapsedMs: 0 }, firstFoundMs: {} }, searchOf(off));
  assert.ok(on.counterexamples.some((c) => c.property === 'unsupported-request'), 'the ioeventfd write after the disable is found');
});

test('the explorer searches the same with and without the setup snapshot on every example, under its own variant (stats but time, outcomes, counterexamples and tokens)', () => {
  const files = readdirSync(new URL('../../../examples/', import.meta.url)).filter((f) => f.endsWith('.yaml')).sort();
  assert.ok(files.length > 40, `${files.length} examples`);
  for (const f of files) {
    const s = example(f);
    const o: ExploreOptions = { maxPreemptions: 1, maxExecutions: 4, noReplays: true, noShrink: true };
    const on = exploreScenario(s, { ...o, snapshot: true });
    const off = exploreScenario(s, { ...o, snapshot: false });
    assert.deepEqual(searchOf(on), searchOf(off), f);
  }
});
