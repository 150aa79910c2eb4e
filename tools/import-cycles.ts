/**
 * Import cycles in src/: the module graph of the package (a file imports another when it has
 * an `import ... from`, `export ... from` or `import()` of it), its strongly connected
 * components, and one cycle of each component with more than one file (or a file importing
 * itself).
 *
 * Type-only imports are ignored: `import type`, `export type ... from`, and an
 * `import { type A, type B }` whose every name is type-only. They are erased by the compiler,
 * so they make no load-order dependency, and a layer may name a type from above it as
 * docs/ARCHITECTURE.md tolerates (`check/property.ts` reads `System`).
 *
 * A development tool on the TypeScript compiler API (a devDependency), outside src/ like
 * tools/kernel-index.ts. `node dist/tools/import-cycles.js` prints the cycles and exits 1 when
 * there is one; test/tools/import-cycles.test.ts fails on any.
 */
import ts from 'typescript';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

function walk(dir: string, out: string[]): void {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
}

/** The imports of one source text (module specifiers as written): value imports only, or with `types` type-only ones too. */
export function imports(fileName: string, text: string, types = false): string[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const c = node.importClause;
      const typeOnly =
        c !== undefined &&
        (c.isTypeOnly ||
          (c.name === undefined && c.namedBindings !== undefined && ts.isNamedImports(c.namedBindings) && c.namedBindings.elements.length > 0 && c.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (types || !typeOnly) out.push(node.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
      const c = node.exportClause;
      const typeOnly = node.isTypeOnly || (c !== undefined && ts.isNamedExports(c) && c.elements.length > 0 && c.elements.every((e) => e.isTypeOnly));
      if (types || !typeOnly) out.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const a = node.arguments[0];
      if (a !== undefined && ts.isStringLiteral(a)) out.push(a.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/**
 * The module graph of `dir`: repository-relative file → the files of `dir` it imports (as
 * values; with `types`, type-only imports too).
 */
export function moduleGraph(root: string, dir = 'src', types = false): Map<string, string[]> {
  const files: string[] = [];
  walk(join(root, dir), files);
  const rel = (p: string): string => relative(root, p).split(sep).join('/');
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const deps: string[] = [];
    for (const spec of imports(f, readFileSync(f, 'utf8'), types)) {
      if (!spec.startsWith('.')) continue;
      const target = resolve(dirname(f), spec.replace(/\.js$/, '.ts'));
      const ts2 = existsSync(target) ? target : existsSync(join(target, 'index.ts')) ? join(target, 'index.ts') : null;
      if (ts2 !== null && !deps.includes(rel(ts2))) deps.push(rel(ts2));
    }
    graph.set(rel(f), deps);
  }
  return graph;
}

/** One cycle (first file repeated at the end) per strongly connected component that has one (Tarjan). */
export function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const sccs: string[][] = [];
  const strong = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      for (;;) {
        const w = stack.pop() as string;
        onStack.delete(w);
        scc.push(w);
        if (w === v) break;
      }
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) sccs.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) strong(v);
  // a shortest cycle through the component's first file (breadth-first inside the component)
  return sccs.map((scc) => {
    const inScc = new Set(scc);
    const start = scc[0] as string;
    const from = new Map<string, string>();
    const queue = [start];
    while (queue.length > 0) {
      const v = queue.shift() as string;
      for (const w of graph.get(v) ?? []) {
        if (!inScc.has(w)) continue;
        if (w === start) {
          const path = [v];
          while (path[0] !== start) path.unshift(from.get(path[0] as string) as string);
          return [...path, start];
        }
        if (!from.has(w)) {
          from.set(w, v);
          queue.push(w);
        }
      }
    }
    return [...scc, start];
  });
}

export function repoRoot(): string {
  return fileURLToPath(new URL('../../', import.meta.url));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const cycles = importCycles(moduleGraph(repoRoot()));
  for (const c of cycles) console.log(c.join(' -> '));
  if (cycles.length > 0) process.exitCode = 1;
  else console.log('no import cycles in src/');
}
