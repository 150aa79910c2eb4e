/**
 * The kernel index (docs/KERNEL-INDEX.md), generated from the doc comments of the kernel
 * model: kernel function → TypeScript symbol, file:line → version(s) → knobs it reads.
 *
 * A development tool, not part of the package: it reads the sources with the TypeScript
 * compiler API (a devDependency), so it lives outside src/ and the CLI never imports it.
 * Regenerate with `npm run index`; test/tools/kernel-index.test.ts fails when the checked-in
 * file is stale or when a kernel path lacks its kernel name and version.
 *
 * The convention (docs/ARCHITECTURE.md, "Names"): the doc comment of every kernel path starts
 * with either
 *
 *   kernel_fn (path/to/file.c, VERSION[, VERSION...])         e.g. vfio_pci_mmap_fault (drivers/vfio/pci/vfio_pci.c, 5.8)
 *   kernel_fn → callee (path/to/file.c, VERSION)              a model of a call chain, indexed under the first name
 *   [model]                                                   the model's own helper: no kernel function counterpart
 *
 * where VERSION is a release (5.8, 6.10, 6.1.y), a range (5.8-6.9) or a patch-series
 * revision (v1, v2). A "kernel path" is every generator function, every function or method
 * whose declared return type is Task<...>, and every class implementing Task (only the
 * lowering's runtime, Frame, since issue #14), in src/kernel/** — the code a thread runs between
 * scheduling points.
 */
import ts from 'typescript';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** One kernel path found in the sources. */
export interface KernelPath {
  /** TypeScript symbol: `fn`, `Class.method`, `Class`. */
  readonly symbol: string;
  /** Repository-relative file with forward slashes. */
  readonly file: string;
  /** 1-based line of the declaration. */
  readonly line: number;
  /** The parsed doc comment, or null when it does not follow the convention. */
  readonly doc: KernelDoc | null;
  /** The first line of the doc comment as written ('' when there is none), for the failure message. */
  readonly docText: string;
  /** Knobs read in the body (`knobs.X`, `k.knobs.X`, `const { X } = k.knobs`), sorted, unique. */
  readonly knobs: readonly string[];
  /**
   * True for a synchronous function or method (no scheduling point, so not a kernel path)
   * whose doc comment follows the convention: indexed, not required.
   */
  readonly sync: boolean;
}

/** What a convention-following doc comment says. */
export type KernelDoc =
  | {
      readonly kind: 'kernel';
      /** Every kernel function named (a call chain `a → b`, or siblings `a / b`). */
      readonly names: readonly string[];
      /** The names as written, spacing normalized: `a → b`, `a / b`. */
      readonly title: string;
      readonly file: string;
      readonly versions: readonly string[];
    }
  | { readonly kind: 'model' };

const NAME = String.raw`[A-Za-z_][A-Za-z0-9_]*(?:\(\d\))?`;
const VERSION = String.raw`(?:\d+\.\d+(?:\.\d+|\.y)?\+?|v\d+)`;
const VERSIONS = String.raw`${VERSION}(?:-${VERSION})?`;
/** `name[ → name | / name]... (file.c, VERSION[, VERSION | / VERSION]...[; or space, free text])` */
const KERNEL_DOC = new RegExp(
  String.raw`^(${NAME}(?:\s*(?:→|/)\s*${NAME})*)\s+\(([\w.-]+(?:/[\w.-]+)+\.[chS]),\s*(${VERSIONS}(?:\s*[,/]\s*${VERSIONS})*)(?:[;\s][^)]*)?\)`,
);

/** Parse the start of a doc comment's text against the convention; null when it does not follow it. */
export function parseKernelDoc(text: string): KernelDoc | null {
  const t = text.trim();
  if (t.startsWith('[model]')) return { kind: 'model' };
  const m = KERNEL_DOC.exec(t);
  if (m === null) return null;
  const [, names = '', file = '', versions = ''] = m;
  return {
    kind: 'kernel',
    names: names.split(/→|\//).map((s) => s.trim()),
    title: names.replace(/\s*(→|\/)\s*/g, ' $1 '),
    file,
    versions: versions.split(/[,/]/).map((s) => s.trim()),
  };
}

function walk(dir: string, out: string[]): void {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
}

function returnsTask(node: ts.SignatureDeclaration): boolean {
  const t = node.type;
  if (t === undefined) return false;
  const root = ts.isUnionTypeNode(t) ? t.types : [t];
  return root.some((x) => ts.isTypeReferenceNode(x) && x.typeName.getText() === 'Task');
}

function isGenerator(node: ts.Node): boolean {
  return (ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isFunctionExpression(node)) && node.asteriskToken !== undefined;
}

/**
 * Whether a class is a hand-written task: it implements Task, or extends a class of the same
 * file that is one (`taskClasses`).
 */
function isTaskClass(node: ts.ClassDeclaration, taskClasses: ReadonlySet<string>): boolean {
  return (node.heritageClauses ?? []).some((h) =>
    h.types.some((x) => {
      const name = x.expression.getText();
      return h.token === ts.SyntaxKind.ImplementsKeyword ? name === 'Task' : taskClasses.has(name);
    }),
  );
}

/** The text of the JSDoc comment attached to `node` (the last one), whitespace-collapsed. */
function docOf(node: ts.Node, sf: ts.SourceFile): string {
  const full = sf.getFullText();
  const ranges = ts.getLeadingCommentRanges(full, node.getFullStart()) ?? [];
  for (let i = ranges.length - 1; i >= 0; i--) {
    const r = ranges[i];
    if (r === undefined) continue;
    const c = full.slice(r.pos, r.end);
    if (!c.startsWith('/**')) continue;
    return c
      .slice(3, -2)
      .split('\n')
      .map((l) => l.replace(/^\s*\*\s?/, ''))
      .join(' ')
      .replace(/\s+/g, ' ')
      .trim();
  }
  return '';
}

function knobsRead(body: ts.Node | undefined): string[] {
  const found = new Set<string>();
  const isKnobs = (e: ts.Expression): boolean =>
    (ts.isIdentifier(e) && e.text === 'knobs') || (ts.isPropertyAccessExpression(e) && e.name.text === 'knobs');
  const visit = (n: ts.Node): void => {
    if (ts.isPropertyAccessExpression(n) && isKnobs(n.expression)) found.add(n.name.text);
    if (ts.isVariableDeclaration(n) && ts.isObjectBindingPattern(n.name) && n.initializer !== undefined && isKnobs(n.initializer)) {
      for (const el of n.name.elements) found.add((el.propertyName ?? el.name).getText());
    }
    ts.forEachChild(n, visit);
  };
  if (body !== undefined) visit(body);
  return [...found].sort();
}

/** Every kernel path under `root`/src/kernel, in file order. */
export function collectKernelPaths(root: string): KernelPath[] {
  const files: string[] = [];
  walk(join(root, 'src', 'kernel'), files);
  return files.flatMap((path) => pathsInSource(relative(root, path).split(sep).join('/'), readFileSync(path, 'utf8')));
}

/** The kernel paths of one source file (`file`: the repository-relative name to report). */
export function pathsInSource(file: string, text: string): KernelPath[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const out: KernelPath[] = [];
  const taskClasses = new Set<string>();
  const add = (symbol: string, declNode: ts.Node, docNode: ts.Node, body: ts.Node | undefined, sync = false): void => {
    const docText = docOf(docNode, sf);
    const doc = parseKernelDoc(docText);
    if (sync && doc?.kind !== 'kernel') return;
    out.push({
      symbol,
      file,
      line: sf.getLineAndCharacterOfPosition(declNode.getStart(sf)).line + 1,
      doc,
      docText,
      knobs: knobsRead(body),
      sync,
    });
  };
  const visit = (n: ts.Node, owner: string | null): void => {
    if (ts.isClassDeclaration(n)) {
      const cname = n.name?.text ?? '(anonymous class)';
      if (isTaskClass(n, taskClasses)) {
        taskClasses.add(cname);
        add(cname, n, n, n);
      }
      for (const m of n.members) visit(m, cname);
      return;
    }
    if (ts.isFunctionDeclaration(n) && n.name !== undefined) {
      add(n.name.text, n, n, n.body, !(isGenerator(n) || returnsTask(n)));
      return; // nested helpers belong to the path that contains them
    }
    if (ts.isMethodDeclaration(n) && owner !== null) {
      add(`${owner}.${n.name.getText(sf)}`, n, n, n.body, !(isGenerator(n) || returnsTask(n)));
      return;
    }
    if (ts.isVariableStatement(n)) {
      for (const d of n.declarationList.declarations) {
        const init = d.initializer;
        if (init === undefined || !ts.isIdentifier(d.name)) continue;
        if (ts.isFunctionExpression(init) || ts.isArrowFunction(init)) {
          add(d.name.text, d, n, init.body, !(isGenerator(init) || returnsTask(init)));
        } else {
          visit(init, owner === null ? d.name.text : `${owner}.${d.name.text}`); // e.g. a file_operations table
        }
      }
      return;
    }
    if ((ts.isPropertyDeclaration(n) || ts.isPropertyAssignment(n)) && n.initializer !== undefined && owner !== null) {
      const init = n.initializer;
      const name = `${owner}.${n.name.getText(sf)}`;
      if (ts.isFunctionExpression(init) || ts.isArrowFunction(init)) {
        add(name, n, n, init.body, !(isGenerator(init) || returnsTask(init)));
      } else {
        visit(init, name);
      }
      return;
    }
    ts.forEachChild(n, (c) => visit(c, owner));
  };
  visit(sf, null);
  return out;
}

/** The kernel paths whose doc comment does not follow the convention. */
export function undocumented(paths: readonly KernelPath[]): KernelPath[] {
  return paths.filter((p) => !p.sync && p.doc === null);
}

/**
 * Order of kernel versions: releases by number (6.1 < 6.1.y < 6.10); the patch series
 * revisions v1, v2, v3 after 5.7 and before 5.8 (the series merged in 5.8); a range by its start.
 */
export function compareVersions(a: string, b: string): number {
  const key = (v: string): number[] => {
    const start = v.split('-')[0] ?? '';
    const series = /^v(\d+)$/.exec(start);
    if (series !== null) return [5, 7, 3, Number(series[1])];
    const [major = '0', minor = '0', patch = '0'] = start.replace(/\+$/, '').split('.');
    return [Number(major), Number(minor), 2, patch === 'y' ? 1e6 : Number(patch)];
  };
  const ka = key(a);
  const kb = key(b);
  for (let i = 0; i < 4; i++) {
    const d = (ka[i] ?? 0) - (kb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** docs/KERNEL-INDEX.md for `paths`. */
export function kernelIndexMarkdown(paths: readonly KernelPath[]): string {
  const kernel = paths.flatMap((p) => (p.doc?.kind === 'kernel' ? [{ p, doc: p.doc }] : []));
  const model = paths.filter((p) => p.doc?.kind === 'model');
  const sync = kernel.filter(({ p }) => p.sync).length;
  const missing = undocumented(paths);
  const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  kernel.sort(
    (a, b) =>
      byName(a.doc.title, b.doc.title) ||
      compareVersions(a.doc.versions[0] ?? '', b.doc.versions[0] ?? '') ||
      byName(a.p.file, b.p.file) ||
      a.p.line - b.p.line,
  );
  const lines = [
    '# Kernel index',
    '',
    '<!-- Generated from the doc comments in src/kernel by tools/kernel-index.ts. Do not edit: run `npm run index`. -->',
    '',
    'Every kernel path of the model (a generator function, a function or method returning',
    '`Task`, or a hand-written task class in `src/kernel/`) and the kernel function it models,',
    'from the first words of its doc comment — `kernel_fn (path/file.c, VERSION)` or `[model]` —',
    'as described in [ARCHITECTURE.md, "Names"](ARCHITECTURE.md#names). Knobs are the `knobs.X`',
    'the body reads directly (a knob read by a callee is listed at the callee). Regenerate with',
    '`npm run index`.',
    '',
    'Synchronous functions (no scheduling point, so not kernel paths) are listed too when their',
    'doc comment follows the convention, marked *sync*; for them it is not required.',
    '',
    `${kernel.length - sync} kernel paths model a kernel function, ${model.length} are the model's own helpers` +
      (missing.length > 0 ? `, ${missing.length} do not follow the convention yet` : '') +
      `; ${sync} synchronous functions name theirs.`,
    '',
    '## Kernel functions',
    '',
    '| Kernel function | Kernel file | Version(s) | TypeScript | Knobs |',
    '|---|---|---|---|---|',
  ];
  for (const { p, doc } of kernel) {
    lines.push(
      `| \`${cell(doc.title)}\` | ${doc.file} | ${doc.versions.join(', ')} | \`${p.symbol}\` ${p.file}:${p.line}${p.sync ? ' *sync*' : ''} | ${p.knobs.map((k) => `\`${k}\``).join(', ')} |`,
    );
  }
  lines.push('', "## The model's own helpers (`[model]`)", '', '| TypeScript | Knobs |', '|---|---|');
  for (const p of model) lines.push(`| \`${p.symbol}\` ${p.file}:${p.line} | ${p.knobs.map((k) => `\`${k}\``).join(', ')} |`);
  if (missing.length > 0) {
    lines.push('', '## Not following the convention yet', '', '| TypeScript | Doc comment starts |', '|---|---|');
    for (const p of missing) lines.push(`| \`${p.symbol}\` ${p.file}:${p.line} | ${cell(p.docText.slice(0, 80))} |`);
  }
  lines.push('');
  return lines.join('\n');
}

/** The repository root, from this module's compiled location (dist/tools/kernel-index.js). */
export function repoRoot(): string {
  return fileURLToPath(new URL('../../', import.meta.url));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const root = repoRoot();
  const paths = collectKernelPaths(root);
  const out = process.argv[2];
  const text = kernelIndexMarkdown(paths);
  if (out === undefined) process.stdout.write(text);
  else writeFileSync(out, text);
  const missing = undocumented(paths).length;
  const required = paths.filter((p) => !p.sync).length;
  process.stderr.write(`kernel index: ${required} kernel paths, ${required - missing} follow the convention\n`);
}
