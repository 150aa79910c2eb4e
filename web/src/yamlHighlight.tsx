// A light YAML highlighter for the editor's overlay: comments, keys, strings, numbers,
// list dashes; a line with a loader error is marked.
import type { JSX } from 'preact';

const TOKEN = /(#.*$)|("(?:[^"\\]|\\.)*"|'(?:[^']|'')*')|(^\s*-\s)|((?:^|\s|\{|,)\s*[A-Za-z_][\w.-]*\s*:(?=\s|$))|(\b0x[0-9a-fA-F]+\b|\b\d+\b)/g;

function line(text: string): (string | JSX.Element)[] {
  const out: (string | JSX.Element)[] = [];
  let last = 0;
  let k = 0;
  for (const m of text.matchAll(TOKEN)) {
    const i = m.index ?? 0;
    if (i > last) out.push(text.slice(last, i));
    const cls = m[1] !== undefined ? 'y-comment' : m[2] !== undefined ? 'y-string' : m[3] !== undefined ? 'y-dash' : m[4] !== undefined ? 'y-key' : 'y-number';
    out.push(
      <span key={k++} class={cls}>
        {m[0]}
      </span>,
    );
    last = i + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

export function highlightYaml(text: string, errorLines: ReadonlySet<number>): JSX.Element[] {
  return text.split('\n').map((l, i) => (
    <div key={i} class={errorLines.has(i + 1) ? 'y-line y-error' : 'y-line'}>
      {line(l)}
      {'\n'}
    </div>
  ));
}
