// The editor's completion words: the keys the scenario JSON Schema allows at the caret's
// YAML path (top-level keys at the top, operations and a step's own keys in a step, an
// operation's arguments in its mapping), each with its description when it has one.

export interface Completion {
  readonly key: string;
  readonly description: string;
}

/** The word being typed at `caret` where a key may stand (after indentation, '- ', '{' or ','), or null. */
export function keyPrefix(text: string, caret: number): string | null {
  const lineStart = text.lastIndexOf('\n', caret - 1) + 1;
  const before = text.slice(lineStart, caret);
  const m = /(^\s*(?:-\s+)?|[{,]\s*)([a-z_][a-z0-9_]*)$/.exec(before);
  return m === null ? null : (m[2] ?? null);
}

/** A step of a YAML path: a mapping key, or '[]' for an item of a sequence. */
export type PathStep = string;

/** Columns of the '- ' markers and of the first key on a line (key null: none). */
function lineShape(line: string): { dashes: number[]; key: { col: number; name: string } | null } {
  const dashes: number[] = [];
  let i = 0;
  for (;;) {
    while (line[i] === ' ') i++;
    if (line[i] === '-' && (line[i + 1] === ' ' || i + 1 === line.length)) {
      dashes.push(i);
      i++;
      continue;
    }
    break;
  }
  const m = /^([A-Za-z_][A-Za-z0-9_]*|'[^']*'|"[^"]*")\s*:(\s|$)/.exec(line.slice(i));
  return { dashes, key: m === null ? null : { col: i, name: (m[1] ?? '').replace(/^['"]|['"]$/g, '') } };
}

/**
 * The YAML path of the mapping whose key is being typed at `caret` (block style by
 * indentation, and one flow mapping `key: { ...` on the caret's line): e.g.
 * ['processes', '[]', 'threads', '[]', 'steps', '[]', 'pread'].
 */
export function yamlPathAt(text: string, caret: number): PathStep[] {
  const lineStart = text.lastIndexOf('\n', caret - 1) + 1;
  const cur = text.slice(lineStart, caret);
  const out: PathStep[] = [];
  // a flow mapping opened on this line and not closed: its key
  const flow: PathStep[] = [];
  const fm = /([A-Za-z_][A-Za-z0-9_]*)\s*:\s*\{[^{}]*$/.exec(cur);
  if (fm !== null) flow.push(fm[1] ?? '');
  // the column of the key being typed (block style), and the current line's own '- ' markers
  const shape = lineShape(cur);
  let limit = shape.key !== null && fm !== null ? shape.key.col : cur.length - cur.trimStart().replace(/^(-\s+)+/, '').length;
  for (let k = shape.dashes.length - 1; k >= 0; k--) {
    const d = shape.dashes[k] ?? 0;
    if (d < limit) {
      out.push('[]');
      limit = d;
    }
  }
  const lines = text.slice(0, Math.max(0, lineStart - 1)).split('\n');
  for (let n = lines.length - 1; n >= 0 && limit > 0; n--) {
    const line = (lines[n] ?? '').replace(/\s+#.*$/, '');
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const s = lineShape(line);
    if (s.key !== null && s.key.col < limit) {
      out.push(s.key.name);
      limit = s.key.col;
    }
    for (let k = s.dashes.length - 1; k >= 0; k--) {
      const d = s.dashes[k] ?? 0;
      if (d < limit) {
        out.push('[]');
        limit = d;
      }
    }
  }
  return [...out.reverse(), ...flow];
}

/** The schemas `s` stands for: $ref followed, anyOf/oneOf/allOf taken apart. */
function alternatives(root: unknown, s: unknown, seen = 0): unknown[] {
  if (typeof s !== 'object' || s === null || seen > 32) return [];
  const o = s as Record<string, unknown>;
  const out: unknown[] = [];
  if (typeof o.$ref === 'string' && o.$ref.startsWith('#/')) {
    let t: unknown = root;
    for (const part of o.$ref.slice(2).split('/')) t = typeof t === 'object' && t !== null ? (t as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
    out.push(...alternatives(root, t, seen + 1));
  }
  for (const k of ['anyOf', 'oneOf', 'allOf']) {
    const v = o[k];
    if (Array.isArray(v)) for (const x of v) out.push(...alternatives(root, x, seen + 1));
  }
  if (o.$ref === undefined) out.push(o);
  return out;
}

/** The keys the JSON Schema allows in the mapping at `path` (none when the path leaves the schema). */
export function keysAt(schema: unknown, path: readonly PathStep[]): Completion[] {
  let cur = alternatives(schema, schema);
  for (const step of path) {
    const next: unknown[] = [];
    for (const c of cur) {
      const o = c as Record<string, unknown>;
      if (step === '[]') {
        if (o.items !== undefined) next.push(...alternatives(schema, o.items));
        continue;
      }
      const props = o.properties as Record<string, unknown> | undefined;
      if (props !== undefined && typeof props === 'object' && props !== null && props[step] !== undefined) next.push(...alternatives(schema, props[step]));
    }
    cur = next;
  }
  const found = new Map<string, string>();
  for (const c of cur) {
    const props = (c as { properties?: unknown }).properties;
    if (typeof props !== 'object' || props === null || Array.isArray(props)) continue;
    for (const [k, v] of Object.entries(props as Record<string, unknown>)) {
      const d = alternatives(schema, v).map((x) => (x as { description?: unknown }).description).find((x): x is string => typeof x === 'string') ?? '';
      if (!found.has(k) || (found.get(k) === '' && d !== '')) found.set(k, d);
    }
  }
  return [...found].map(([key, description]) => ({ key, description })).sort((a, b) => (a.key < b.key ? -1 : 1));
}
