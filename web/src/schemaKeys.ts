// The editor's completion words: every property name the scenario JSON Schema declares
// (top-level keys, operations, their arguments), with its description when it has one.

export interface Completion {
  readonly key: string;
  readonly description: string;
}

export function schemaKeys(schema: unknown): Completion[] {
  const found = new Map<string, string>();
  const walk = (o: unknown): void => {
    if (Array.isArray(o)) {
      for (const v of o) walk(v);
      return;
    }
    if (typeof o !== 'object' || o === null) return;
    const props = (o as { properties?: unknown }).properties;
    if (typeof props === 'object' && props !== null && !Array.isArray(props)) {
      for (const [k, v] of Object.entries(props)) {
        if (!/^[a-z_][a-z0-9_]*$/.test(k)) continue;
        const d = typeof v === 'object' && v !== null && typeof (v as { description?: unknown }).description === 'string' ? (v as { description: string }).description : '';
        if (!found.has(k) || (found.get(k) === '' && d !== '')) found.set(k, d);
      }
    }
    for (const v of Object.values(o)) walk(v);
  };
  walk(schema);
  return [...found].map(([key, description]) => ({ key, description })).sort((a, b) => (a.key < b.key ? -1 : 1));
}

/** The word being typed at `caret` where a key may stand (after indentation, '- ', '{' or ','), or null. */
export function keyPrefix(text: string, caret: number): string | null {
  const lineStart = text.lastIndexOf('\n', caret - 1) + 1;
  const before = text.slice(lineStart, caret);
  const m = /(^\s*(?:-\s+)?|[{,]\s*)([a-z_][a-z0-9_]*)$/.exec(before);
  return m === null ? null : (m[2] ?? null);
}
