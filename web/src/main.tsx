// The vfio-sim web UI: the check table, the trace viewer and the scenario editor.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './style.css';
import { ApiError, fetchFiles, fetchTrace, type FileJson, type TraceJson, type TraceSource } from './api';
import { CheckView } from './CheckView';
import { EditorView } from './EditorView';
import { TraceViewer } from './trace/TraceViewer';
import { VariantsView } from './VariantsView';

type Tab = 'check' | 'trace' | 'editor' | 'variants';

/** The share URL's part after '#': a file, a variant and a replay token (`#trace?id=examples%2Fh2-fault-races-disable.yaml&token=...` for an example, `id=f3` for a given file). */
function shareHash(src: TraceSource): string | null {
  if (src.id === undefined) return null;
  const q = new URLSearchParams({ id: src.id });
  if (src.token !== undefined) q.set('token', src.token);
  if (src.variant !== undefined) q.set('variant', src.variant);
  return `#trace?${q.toString()}`;
}

function sourceOfHash(hash: string): TraceSource | null {
  if (!hash.startsWith('#trace?')) return null;
  const q = new URLSearchParams(hash.slice('#trace?'.length));
  const id = q.get('id');
  if (id === null) return null;
  const token = q.get('token');
  const variant = q.get('variant');
  return { id, ...(token !== null ? { token } : {}), ...(variant !== null ? { variant } : {}) };
}

function App() {
  const [tab, setTab] = useState<Tab>('check');
  const [files, setFiles] = useState<FileJson[]>([]);
  const [trace, setTrace] = useState<TraceJson | null>(null);
  const [traceError, setTraceError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  /** The file (or edited text) the trace was run from: the ITF export replays it. */
  const [source, setSource] = useState<TraceSource | null>(null);
  /** How many traces were opened: the viewer of each is a new one (data-load). */
  const [loads, setLoads] = useState(0);

  const open = (src: TraceSource): void => {
    setTab('trace');
    setLoading(true);
    setTraceError(null);
    const h = shareHash(src);
    if (h !== null && location.hash !== h) history.replaceState(null, '', h);
    fetchTrace(src).then(
      (t) => {
        setTrace(t);
        setSource(src);
        setLoads((n) => n + 1);
        setLoading(false);
      },
      (e: ApiError) => {
        setTraceError(e.message);
        setLoading(false);
      },
    );
  };
  useEffect(() => {
    fetchFiles().then(setFiles, () => undefined);
    const src = sourceOfHash(location.hash);
    if (src !== null) open(src);
  }, []);

  return (
    <div class="app">
      <nav>
        <span class="brand">vfio-sim</span>
        {(['check', 'trace', 'editor', 'variants'] as const).map((t) => (
          <button key={t} class={tab === t ? 'tab active' : 'tab'} data-testid={`tab-${t}`} onClick={() => setTab(t)}>
            {t === 'check' ? 'Check' : t === 'trace' ? 'Trace viewer' : t === 'editor' ? 'Scenario editor' : 'Variants'}
          </button>
        ))}
        <span class="share small">{tab === 'trace' && trace !== null && location.hash.startsWith('#trace?') ? 'this page\u2019s URL opens the same trace' : ''}</span>
      </nav>
      <main>
        <div hidden={tab !== 'check'}>
          <CheckView onOpen={open} />
        </div>
        <div hidden={tab !== 'trace'}>
          {loading ? <p data-testid="trace-loading">replaying…</p> : null}
          {traceError !== null ? <pre class="error" data-testid="trace-error">{traceError}</pre> : null}
          {trace !== null && !loading ? <TraceViewer key={loads} trace={trace} load={loads} source={source ?? {}} /> : null}
          {trace === null && !loading && traceError === null ? <p class="muted">open a counterexample from the check table, or run a scenario from the editor</p> : null}
        </div>
        <div hidden={tab !== 'editor'}>
          <EditorView files={files} onOpen={open} />
        </div>
        <div hidden={tab !== 'variants'}>
          <VariantsView />
        </div>
      </main>
    </div>
  );
}

const root = document.getElementById('app');
if (root !== null) render(<App />, root);
