/**
 * A scenario file's YAML text with source positions: parse it, turn it into plain data,
 * and map a data path (['processes', 0, 'threads', 1, 'steps', 2, 'load', 'size']) back to
 * `line:col` for error messages.
 */
import { type CST, isAlias, isMap, isPair, isScalar, isSeq, LineCounter, Parser, parseDocument, visit, type Document, type Node } from 'yaml';

/** A path into the scenario's data: map keys and sequence indexes. */
export type DataPath = readonly (string | number)[];

/** One validation problem, at a 1-based line and column of the file. */
export interface ScenarioError {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly message: string;
}

/** `file:line:col: message`, with control characters of the file name and message escaped. */
export function formatScenarioError(e: ScenarioError): string {
  return `${escapeControls(e.file)}:${e.line}:${e.col}: ${escapeControls(e.message)}`;
}

/**
 * `s` safe to print on a terminal: control characters (C0 but tab, DEL, C1, so escape
 * sequences and NUL) and Unicode line and paragraph separators as `\xNN` / `\u{NNNN}`.
 * Newlines are escaped too: a scenario string is shown on one line.
 */
export function escapeControls(s: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]/.test(s)) return s;
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]/g, (ch) => {
    const c = ch.charCodeAt(0);
    return c <= 0xff ? `\\x${c.toString(16).padStart(2, '0')}` : `\\u{${c.toString(16)}}`;
  });
}

/**
 * How deep collections (mappings, lists) may nest in a scenario file. The YAML library
 * composes documents recursively and runs out of stack at about 800 levels; a scenario
 * needs about 15 (a machine's bridges two per level).
 */
export const MAX_NESTING = 100;

/** The first collection nested deeper than MAX_NESTING (its offset), walking the CST without recursion. */
function tooDeep(text: string): number | null {
  const stack: { t: CST.Token; depth: number }[] = [];
  for (const tok of new Parser().parse(text)) stack.push({ t: tok, depth: 0 });
  while (stack.length > 0) {
    const top = stack.pop();
    if (top === undefined) break;
    const { t, depth } = top;
    switch (t.type) {
      case 'document':
        if (t.value !== undefined) stack.push({ t: t.value, depth });
        break;
      case 'block-map':
      case 'block-seq':
      case 'flow-collection': {
        const d = depth + 1;
        if (d > MAX_NESTING) return t.type === 'flow-collection' ? t.start.offset : t.offset;
        for (const it of t.items) {
          if ('key' in it && it.key !== undefined && it.key !== null) stack.push({ t: it.key, depth: d });
          if (it.value !== undefined) stack.push({ t: it.value, depth: d });
        }
        break;
      }
      default:
        break;
    }
  }
  return null;
}

/** Where a path points in the file: the value's node, or the nearest node that exists. */
interface Located {
  /** The node the whole path resolved to, or null. */
  readonly node: Node | null;
  /** The key node of the last map step, when the path ends at a map entry. */
  readonly key: Node | null;
  /** The deepest node on the path that exists (the whole document if none). */
  readonly nearest: Node | null;
  /** Whether every step of the path exists. */
  readonly found: boolean;
}

/** A parsed YAML source with position lookup. */
export class YamlSource {
  readonly data: unknown;
  /** YAML syntax errors (the data is unusable when there are any). */
  readonly syntaxErrors: ScenarioError[] = [];
  private readonly lines = new LineCounter();
  private readonly doc: Document.Parsed;

  constructor(
    readonly text: string,
    readonly file: string,
  ) {
    const deep = tooDeep(text);
    if (deep !== null) {
      // the document is not composed at all (the library would recurse past the stack)
      this.doc = parseDocument('', { lineCounter: this.lines });
      const before = text.slice(0, deep);
      const line = before.split('\n').length;
      const col = deep - (before.lastIndexOf('\n') + 1) + 1;
      this.syntaxErrors.push({ file, line, col, message: `YAML nested too deeply: at most ${MAX_NESTING} levels of mappings and lists` });
      this.data = null;
      return;
    }
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true, merge: false });
    // later syntax errors are usually consequences of the first one: report that one
    const e = this.doc.errors[0];
    if (e !== undefined) {
      const { line, col } = this.lines.linePos(e.pos[0]);
      this.syntaxErrors.push({ file, line, col, message: `YAML syntax error: ${yamlMessage(e.code, e.message)}` });
    }
    let data: unknown = null;
    if (this.syntaxErrors.length === 0) {
      try {
        data = this.doc.toJS({ maxAliasCount: 1000 });
      } catch (err) {
        // an alias with no anchor before it, or an alias explosion: the yaml library throws
        this.syntaxErrors.push(this.aliasError(err));
      }
    }
    this.data = data;
  }

  /** The error for an alias toJS could not resolve (or too many aliases), at the alias. */
  private aliasError(err: unknown): ScenarioError {
    let bad: { name: string; off: number } | null = null;
    visit(this.doc, {
      Alias: (_key, node) => {
        if (bad === null && node.resolve(this.doc) === undefined) {
          bad = { name: node.source, off: node.range?.[0] ?? 0 };
          return visit.BREAK;
        }
        return undefined;
      },
    });
    const found = bad as { name: string; off: number } | null;
    if (found !== null) {
      const { line, col } = this.lines.linePos(found.off);
      return { file: this.file, line, col, message: `YAML error: the alias '*${found.name}' refers to no anchor defined before it (a YAML alias needs '&${found.name}' earlier in the file; quote the value if '*' was meant literally)` };
    }
    const msg = err instanceof Error ? err.message : String(err);
    return { file: this.file, line: 1, col: 1, message: `YAML error: ${/alias/i.test(msg) ? 'too many aliases (at most 1000 expansions)' : msg}` };
  }

  /** 1-based line and column of a character offset. */
  posOf(offset: number): { line: number; col: number } {
    return this.lines.linePos(offset);
  }

  /** An error at `path` (the value there, its key, or the nearest existing parent). */
  errorAt(path: DataPath, message: string, at: 'value' | 'key' = 'value'): ScenarioError {
    const loc = this.locate(path);
    const node = at === 'key' ? (loc.key ?? loc.node ?? loc.nearest) : (loc.node ?? loc.key ?? loc.nearest);
    const off = node?.range?.[0] ?? 0;
    const { line, col } = this.lines.linePos(off);
    return { file: this.file, line, col, message };
  }

  /** Whether `path` exists in the document. */
  has(path: DataPath): boolean {
    return this.locate(path).found;
  }

  /** The source text of the scalar at `path` (e.g. `5.10` as written, not the number 5.1), or null. */
  rawScalar(path: DataPath): string | null {
    const n = this.locate(path).node;
    if (n === null || !isScalar(n) || n.range === undefined || n.range === null) return null;
    return this.text.slice(n.range[0], n.range[1]).trim();
  }

  private locate(path: DataPath): Located {
    let node: Node | null = this.doc.contents;
    let key: Node | null = null;
    let nearest: Node | null = node;
    for (const seg of path) {
      if (node !== null && isAlias(node)) node = (node.resolve(this.doc) as Node | undefined) ?? null;
      if (node === null) return { node: null, key: null, nearest, found: false };
      nearest = node;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && scalarKey(p.key) === String(seg));
        if (pair === undefined) return { node: null, key: null, nearest, found: false };
        key = isNode(pair.key) ? pair.key : null;
        node = isNode(pair.value) ? pair.value : null;
        if (node === null) return { node: null, key, nearest: key ?? nearest, found: true };
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        if (!isNode(item)) return { node: null, key: null, nearest, found: false };
        key = null;
        node = item;
      } else {
        return { node: null, key: null, nearest, found: false };
      }
    }
    return { node, key, nearest: node ?? nearest, found: true };
  }
}

function isNode(x: unknown): x is Node {
  return typeof x === 'object' && x !== null && 'range' in x;
}

function scalarKey(k: unknown): string | null {
  if (isScalar(k)) return String(k.value);
  return null;
}

/** The parser's message, with the most common mistakes explained. */
function yamlMessage(code: string, message: string): string {
  const first = message.split('\n')[0] ?? message;
  switch (code) {
    case 'DUPLICATE_KEY':
      return `${first} (each key may appear once in a mapping)`;
    case 'BAD_INDENT':
    case 'MISSING_CHAR':
      return `${first} (check the indentation and the ':' after each key)`;
    case 'MULTIPLE_DOCS':
      return 'a scenario file holds one YAML document (found a second one after ---)';
    default:
      return first;
  }
}
