// The scenario editor: open an example or a given file, edit it (a textarea over a
// highlighted copy of its text), see the real loader's positioned errors as you type, run
// or explore it under a chosen variant and open the results in the trace viewer. Saving
// writes only files given to `vfio-sim ui` by name; anything can be downloaded.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, get, post, type FileJson, type ScenarioErrorJson, type TraceSource } from './api';
import { highlightYaml } from './yamlHighlight';
import { download } from './trace/exportSvg';
import { keyPrefix, keysAt, yamlPathAt, type Completion } from './schemaKeys';

interface Cx {
  readonly property: string;
  readonly message: string;
  readonly token: string;
  readonly steps: number;
}

export function EditorView({ files, onOpen }: { files: readonly FileJson[]; onOpen: (src: TraceSource) => void }) {
  const [fileId, setFileId] = useState<string>('');
  const [text, setText] = useState('');
  /** The text as opened: while unchanged, runs name the file (and the share URL can carry it). */
  const [loaded, setLoaded] = useState<string | null>(null);
  const [errors, setErrors] = useState<ScenarioErrorJson[]>([]);
  const [variant, setVariant] = useState('');
  const [schedule, setSchedule] = useState('');
  const [variants, setVariants] = useState<string[]>([]);
  const [status, setStatus] = useState('');
  const [found, setFound] = useState<Cx[] | null>(null);
  const over = useRef<HTMLPreElement>(null);
  const area = useRef<HTMLTextAreaElement>(null);
  const [schema, setSchema] = useState<unknown>(null);
  /** The keys the schema allows at the caret's YAML path. */
  const [words, setWords] = useState<Completion[]>([]);
  const [prefix, setPrefix] = useState<string | null>(null);
  const file = files.find((f) => f.id === fileId) ?? null;
  const name = file?.name ?? 'scenario.yaml';

  useEffect(() => {
    get<{ variants: { name: string }[] }>('/api/variants').then((v) => setVariants(v.variants.map((x) => x.name)), () => undefined);
    get<unknown>('/api/schema').then((s) => setSchema(s), () => undefined);
  }, []);
  const suggestions = prefix === null ? [] : words.filter((w) => w.key.startsWith(prefix) && w.key !== prefix).slice(0, 8);
  const caretMoved = (): void => {
    const t = area.current;
    if (t === null) return;
    const p = t.selectionStart === t.selectionEnd ? keyPrefix(t.value, t.selectionStart) : null;
    setPrefix(p);
    if (p !== null && schema !== null) setWords(keysAt(schema, yamlPathAt(t.value, t.selectionStart)));
  };
  /** Replace the word being typed with `key: `. */
  const complete = (key: string): void => {
    const t = area.current;
    if (t === null || prefix === null) return;
    const at = t.selectionStart;
    const next = `${t.value.slice(0, at - prefix.length)}${key}: ${t.value.slice(at)}`;
    const caret = at - prefix.length + key.length + 2;
    setText(next);
    setPrefix(null);
    requestAnimationFrame(() => {
      t.focus();
      t.setSelectionRange(caret, caret);
    });
  };
  const open = (id: string): void => {
    setFileId(id);
    setFound(null);
    get<{ text: string }>(`/api/file?id=${encodeURIComponent(id)}`).then((f) => {
      setText(f.text);
      setLoaded(f.text);
    }, (e: Error) => setStatus(e.message));
  };
  // the loader's errors, shortly after each edit
  const latest = useRef(0);
  useEffect(() => {
    const t = setTimeout(() => {
      // an answer to an older text than the one being edited is dropped
      const seq = ++latest.current;
      post<{ errors: ScenarioErrorJson[] }>('/api/validate', { text, name }).then((r) => {
        if (seq === latest.current) setErrors(r.errors);
      }, () => undefined);
    }, 250);
    return () => clearTimeout(t);
  }, [text, name]);

  const source = (): TraceSource => ({ ...(fileId !== '' && text === loaded ? { id: fileId } : { text, name }), ...(variant !== '' ? { variant } : {}) });
  const run = (): void => {
    setStatus('running…');
    onOpen({ ...source(), ...(schedule.trim() !== '' ? { schedule: schedule.trim() } : {}) });
  };
  const explore = (): void => {
    setStatus('exploring…');
    setFound(null);
    post<{ counterexamples: Cx[]; executions: number; complete: boolean }>('/api/explore', source()).then(
      (r) => {
        setFound(r.counterexamples);
        setStatus(`${r.executions} executions${r.complete ? ' (complete within the bound)' : ''}: ${r.counterexamples.length === 0 ? 'no property broken' : `${r.counterexamples.length} propert${r.counterexamples.length === 1 ? 'y' : 'ies'} broken`}`);
      },
      (e: ApiError) => setStatus(e.message),
    );
  };
  const save = (): void => {
    post<{ saved: string }>('/api/save', { id: fileId, text }).then((r) => setStatus(`saved ${r.saved}`), (e: ApiError) => setStatus(e.message));
  };
  const downloadCopy = (): void => download(name.split('/').pop() ?? 'scenario.yaml', 'application/yaml', text);
  const errorLines = new Set(errors.map((e) => e.line));
  return (
    <div class="editor-view" data-testid="editor-view">
      <div class="controls">
        <select value={fileId} data-testid="editor-file" onChange={(e) => open((e.target as HTMLSelectElement).value)}>
          <option value="">open a scenario…</option>
          {files.map((f) => (
            <option key={f.id} value={f.id}>
              {f.name}
              {f.writable ? '' : ' (read-only)'}
            </option>
          ))}
        </select>
        <select value={variant} data-testid="editor-variant" onChange={(e) => setVariant((e.target as HTMLSelectElement).value)}>
          <option value="">scenario's variant</option>
          {variants.map((v) => (
            <option key={v} value={v}>
              {v}
            </option>
          ))}
        </select>
        <input placeholder="schedule (default: the scenario's)" value={schedule} onInput={(e) => setSchedule((e.target as HTMLInputElement).value)} />
        <button data-testid="editor-run" onClick={run} disabled={errors.length > 0}>
          Run → trace
        </button>
        <button data-testid="editor-explore" onClick={explore} disabled={errors.length > 0}>
          Explore
        </button>
        <button data-testid="editor-save" onClick={save} disabled={file === null || !file.writable} title={file !== null && !file.writable ? 'read-only: only files given by name can be saved' : ''}>
          Save
        </button>
        <button onClick={downloadCopy}>Download</button>
        <span class="small" data-testid="editor-status">
          {status}
        </span>
      </div>
      <div class="editor">
        <pre class="overlay" ref={over} aria-hidden="true">
          {highlightYaml(text, errorLines)}
        </pre>
        <textarea
          ref={area}
          spellcheck={false}
          data-testid="editor-text"
          value={text}
          onInput={(e) => {
            setText((e.target as HTMLTextAreaElement).value);
            caretMoved();
          }}
          onClick={caretMoved}
          onKeyUp={(e) => {
            if (e.key.startsWith('Arrow') || e.key === 'Home' || e.key === 'End') caretMoved();
          }}
          onKeyDown={(e) => {
            // Tab takes the first completion
            const first = suggestions[0];
            if (e.key === 'Tab' && first !== undefined) {
              e.preventDefault();
              complete(first.key);
            }
          }}
          onScroll={(e) => {
            const t = e.target as HTMLTextAreaElement;
            if (over.current !== null) {
              over.current.scrollTop = t.scrollTop;
              over.current.scrollLeft = t.scrollLeft;
            }
          }}
        />
      </div>
      <div class="completions small" data-testid="editor-completions">
        {suggestions.length > 0 ? 'Tab: ' : ''}
        {suggestions.map((w) => (
          <button key={w.key} class="chip" title={w.description} onMouseDown={(e) => e.preventDefault()} onClick={() => complete(w.key)}>
            {w.key}
          </button>
        ))}
      </div>
      <ul class="errors" data-testid="editor-errors">
        {errors.map((e, i) => (
          <li key={i}>
            {name}:{e.line}:{e.col}: {e.message}
          </li>
        ))}
      </ul>
      {found !== null ? (
        <ul class="found" data-testid="editor-found">
          {found.map((c) => (
            <li key={c.property}>
              <button onClick={() => onOpen({ ...source(), token: c.token })}>{c.property}</button> {c.message} ({c.steps} steps)
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
