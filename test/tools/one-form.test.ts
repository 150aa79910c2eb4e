/**
 * One hand-written form for every kernel path (issue #14, docs/ARCHITECTURE.md "Threads and
 * scheduling points"): in src/kernel a kernel path is a generator function; the build's
 * lowering makes the state machine. Nothing in src/kernel may hand-write what the lowering
 * does or what a lock's own fast path does: no class implementing Task (but the lowering's
 * runtime, sched/frame.ts), no `extends StepTask`, no hand-written `next()` iterator, no
 * `*Passed` twin of an operation and no `*Fast` value-or-task function.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { repoRoot } from '../../tools/kernel-index.js';

/** The lowering's runtime: the one place a class implements Task by hand. */
const ALLOWED = new Set(['src/kernel/sched/frame.ts']);

/** What in `text` (a TypeScript file named `file`) is a second form of a kernel path, as `file:line what`. */
function offences(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const out: string[] = [];
  const at = (n: ts.Node, what: string): void => {
    out.push(`${file}:${sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1} ${what}`);
  };
  const nameOf = (n: ts.PropertyName | ts.BindingName | undefined): string | null =>
    n !== undefined && (ts.isIdentifier(n) || ts.isStringLiteral(n) || ts.isPrivateIdentifier(n)) ? n.text : null;
  const twin = (n: ts.Node, name: string | null): void => {
    if (name === null) return;
    if (/Passed$/.test(name)) at(n, `${name}: a *Passed twin (a lock's or an access's fast path belongs inside its one generator)`);
    else if (/Fast$/.test(name)) at(n, `${name}: a *Fast function (write one generator; the lowering makes it fast)`);
  };
  const visit = (n: ts.Node): void => {
    if (ts.isClassDeclaration(n) || ts.isClassExpression(n)) {
      const cls = n.name?.text ?? '(anonymous class)';
      for (const h of n.heritageClauses ?? []) {
        for (const t of h.types) {
          const base = t.expression.getText(sf);
          if (h.token === ts.SyntaxKind.ImplementsKeyword && base === 'Task') at(n, `${cls} implements Task by hand`);
          if (h.token === ts.SyntaxKind.ExtendsKeyword && (base === 'StepTask' || base === 'Frame' || base === 'TryFrame')) at(n, `${cls} extends ${base} by hand`);
        }
      }
    }
    const fnValued = ts.isMethodDeclaration(n) || (ts.isPropertyAssignment(n) && (ts.isArrowFunction(n.initializer) || ts.isFunctionExpression(n.initializer)));
    if (fnValued && nameOf(n.name) === 'next') at(n, 'a hand-written next() iterator');
    if (ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n)) twin(n, nameOf(n.name));
    if (ts.isVariableDeclaration(n) && n.initializer !== undefined && (ts.isArrowFunction(n.initializer) || ts.isFunctionExpression(n.initializer))) twin(n, nameOf(n.name));
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (e.endsWith('.ts') && !e.endsWith('.d.ts')) out.push(p);
  }
  return out.sort();
}

test('src/kernel has one form of a kernel path: no hand-written task class or next() iterator, no *Passed twin, no *Fast function', () => {
  const root = repoRoot();
  const files = tsFiles(join(root, 'src', 'kernel'));
  assert.ok(files.length > 50, `found ${files.length} files under src/kernel`);
  const found: string[] = [];
  for (const f of files) {
    const rel = relative(root, f).split('\\').join('/');
    if (ALLOWED.has(rel)) continue;
    found.push(...offences(rel, readFileSync(f, 'utf8')));
  }
  assert.deepEqual(found, []);
});

test('the one-form check finds each second form it forbids (StepTask, implements Task, next(), *Passed, *Fast)', () => {
  const src = [
    'class ZapAndVmaLock extends StepTask<boolean> { protected run() { return this.finish(true); } }',
    'class CfgReadTask implements Task<number> { next() { return { value: 0, done: true }; } }',
    'export class Mutex { lockPassed(fn: string): boolean { return false; } *lock(fn: string): Task<void> {} }',
    'export function copyToUserFast(k: Kernel, addr: number, data: Uint8Array): number | Task<number> { return 0; }',
    'const cfgGatePassed = (dev: PciDev): boolean => true;',
    'const it = { next: () => ({ value: 0, done: true }) };',
    'const ids = { next: 1 }; encode({ id, version, next: 0 });',
    '/** mutex_lock (kernel/locking/mutex.c, 5.8) */ export function* mutexLock(): Task<void> { if (!passPoint()) yield point; }',
  ].join('\n');
  assert.deepEqual(
    offences('x.ts', src).map((o) => o.slice(0, o.indexOf(' '))),
    ['x.ts:1', 'x.ts:2', 'x.ts:2', 'x.ts:3', 'x.ts:4', 'x.ts:5', 'x.ts:6'], // a `next` field (line 7) is not an iterator
  );
  assert.match(offences('x.ts', src)[0] ?? '', /ZapAndVmaLock extends StepTask/);
  assert.match(offences('x.ts', src)[4] ?? '', /copyToUserFast: a \*Fast function/);
  // the generator itself, with its own fast path inside, is the one form
  assert.deepEqual(offences('y.ts', src.split('\n').slice(7).join('\n')), []);
});
