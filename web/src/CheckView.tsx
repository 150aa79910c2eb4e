// The variant × property table of `vfio-sim check`, filled in as cells finish (server-sent
// events), with progress; hover shows the scenario and the finding, a click opens the
// counterexample in the trace viewer. Preemption bound and knob overrides can be changed.
// Under the table, as check prints them, the suite's defects: where each was found against
// where its scenario declares it, each finding opening its counterexample.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { CheckCellJson, CheckDoneJson, DefectJson, TraceSource } from './api';

interface Hit {
  readonly file: string;
  readonly fileId: string | null;
  readonly token: string;
  readonly message: string;
  readonly forced: readonly string[];
}

interface Start {
  readonly planned: number;
  readonly variants: readonly string[];
  readonly properties: readonly string[];
}

/** The defect table: a row per defect scenario, a column per variant (● found, · not, ! against the declaration). */
function DefectTable({ done, onOpen }: { done: CheckDoneJson; onOpen: (src: TraceSource) => void }) {
  if (done.defects.length === 0) return null;
  const declaredText = (d: DefectJson): string => (d.declared.length === 0 ? 'in no variant checked' : `in ${d.declared.join(', ')}`);
  return (
    <section data-testid="defects">
      <h3>Defects: where the explorer finds each one (● found, · not found, ! not where the scenario declares it)</h3>
      <table class="defects">
        <thead>
          <tr>
            <th>defect</th>
            {done.variants.map((v) => (
              <th key={v}>{v}</th>
            ))}
            <th>property</th>
            <th>declared present</th>
            <th>scenario</th>
          </tr>
        </thead>
        <tbody>
          {done.defects.map((d) => (
            <tr key={d.id} data-defect={d.id} data-ok={d.ok ? 'yes' : 'no'}>
              <th>{d.id}</th>
              {done.variants.map((v) => {
                const f = d.found.find((x) => x.variant === v);
                const want = d.declared.includes(v);
                const mark = (f !== undefined ? '●' : '·') + ((f !== undefined) !== want ? '!' : '');
                const cls = (f !== undefined) !== want ? 'differs' : f !== undefined ? 'found' : 'absent';
                return (
                  <td key={v} class={cls} data-variant={v} data-found={f !== undefined ? 'yes' : 'no'} data-declared={want ? 'yes' : 'no'}>
                    {f !== undefined && d.fileId !== null ? (
                      <button class="finding" title={`${d.id} under ${v}: ${f.message} — click to open`} onClick={() => onOpen({ id: d.fileId ?? '', token: f.token })}>
                        {mark}
                      </button>
                    ) : (
                      mark
                    )}
                  </td>
                );
              })}
              <td class="small">
                {d.property}
                {d.forced.length > 0 ? <span class="muted"> (with {d.forced.join(', ')})</span> : null}
              </td>
              <td class="small" data-testid="declared">
                {declaredText(d)}
                {d.ok ? '' : ' — found elsewhere'}
              </td>
              <td class="small">{d.file}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function CheckView({ onOpen }: { onOpen: (src: TraceSource) => void }) {
  const [bound, setBound] = useState('2');
  const [suite, setSuite] = useState('builtin');
  const [variants, setVariants] = useState('');
  const [knobs, setKnobs] = useState('');
  const [start, setStart] = useState<Start | null>(null);
  const [cells, setCells] = useState(0);
  const [hits, setHits] = useState<Record<string, Record<string, Hit>>>({});
  const [done, setDone] = useState<CheckDoneJson | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [running, setRunning] = useState(false);
  const [hover, setHover] = useState<string | null>(null);
  const source = useRef<EventSource | null>(null);

  useEffect(() => () => source.current?.close(), []);

  const run = (): void => {
    source.current?.close();
    setStart(null);
    setCells(0);
    setHits({});
    setDone(null);
    setError(null);
    const q = new URLSearchParams({ suite, bound });
    if (variants.trim() !== '') q.set('variants', variants.replace(/\s+/g, ''));
    for (const line of knobs.split(/[\n,]/)) if (line.trim() !== '') q.append('knob', line.trim());
    const es = new EventSource(`/api/check?${q.toString()}`);
    source.current = es;
    setRunning(true);
    let started = false;
    es.addEventListener('start', (e) => {
      started = true;
      setStart(JSON.parse((e as MessageEvent<string>).data) as Start);
    });
    es.addEventListener('cell', (e) => {
      const c = JSON.parse((e as MessageEvent<string>).data) as CheckCellJson;
      setCells((n) => n + 1);
      if (c.counterexamples.length === 0) return;
      setHits((h) => {
        const row = { ...(h[c.variant] ?? {}) };
        for (const x of c.counterexamples) if (row[x.property] === undefined) row[x.property] = { file: c.file, fileId: c.fileId, token: x.token, message: x.message, forced: [] };
        return { ...h, [c.variant]: row };
      });
    });
    es.addEventListener('done', (e) => {
      const d = JSON.parse((e as MessageEvent<string>).data) as CheckDoneJson;
      setDone(d);
      setHits(d.table as Record<string, Record<string, Hit>>);
      setRunning(false);
      es.close();
    });
    es.addEventListener('failed', (e) => {
      setError((JSON.parse((e as MessageEvent<string>).data) as { message: string }).message);
      setRunning(false);
      es.close();
    });
    es.onerror = () => {
      // the connection dropped, or the server refused the request (a bad knob: 400)
      if (source.current !== es) return;
      es.close();
      setRunning(false);
      // refused before it started: ask again for the reason (a refused check does not run)
      if (!started) fetch(`/api/check?${q.toString()}`).then((x) => x.json()).then((j: { error?: string }) => setError(j.error ?? 'the check was refused'), () => setError('the server cannot be reached'));
      else setError((x) => x ?? 'the connection to the server dropped');
    };
  };

  const variantsShown = done?.variants ?? start?.variants ?? [];
  const props = done?.properties ?? start?.properties ?? [];
  const hoverHit = hover === null ? null : (() => {
    const [v, p] = hover.split('\u0000');
    return v === undefined || p === undefined ? null : { v, p, hit: hits[v]?.[p] };
  })();
  return (
    <div class="check" data-testid="check-view">
      <div class="controls">
        <label>
          suite{' '}
          <select value={suite} onChange={(e) => setSuite((e.target as HTMLSelectElement).value)}>
            <option value="builtin">built-in (examples)</option>
            <option value="given">the files given to vfio-sim ui</option>
          </select>
        </label>
        <label>
          preemption bound <input type="number" min={0} max={20} value={bound} data-testid="bound" onInput={(e) => setBound((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          variants <input placeholder="all (or 5.7,5.8,...)" value={variants} data-testid="variants" onInput={(e) => setVariants((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          knob overrides <input placeholder="NAME=VALUE, ..." value={knobs} data-testid="knobs" onInput={(e) => setKnobs((e.target as HTMLInputElement).value)} />
        </label>
        <button data-testid="run-check" onClick={run} disabled={running}>
          {done !== null || error !== null ? 'Rerun check' : 'Run check'}
        </button>
        {start !== null ? (
          <span data-testid="progress">
            {' '}
            cells {cells}/{start.planned}
            {done !== null ? (done.ok ? ' — done, every defect where declared' : ' — done, a defect not where declared') : ''}
          </span>
        ) : null}
      </div>
      {start !== null ? <progress max={start.planned} value={cells} /> : null}
      {error !== null ? <pre class="error" data-testid="check-error">{error}</pre> : null}
      {variantsShown.length > 0 ? (
        <table class="checktable" data-testid="check-table">
          <thead>
            <tr>
              <th>variant</th>
              {props.map((p) => (
                <th key={p} class="prop">
                  <span>{p}</span>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {variantsShown.map((v) => (
              <tr key={v}>
                <th>{v}</th>
                {props.map((p) => {
                  const h = hits[v]?.[p];
                  return (
                    <td
                      key={p}
                      class={h !== undefined ? 'broken' : done !== null ? 'holds' : 'pending'}
                      data-variant={v}
                      data-property={p}
                      title={h !== undefined ? `${h.file}\n${h.message}` : ''}
                      onMouseEnter={() => setHover(`${v}\u0000${p}`)}
                      onClick={() => {
                        if (h !== undefined && h.fileId !== null) onOpen({ id: h.fileId, token: h.token });
                      }}
                    >
                      {h !== undefined ? (h.forced.length > 0 ? '✗*' : '✗') : done !== null ? '·' : ''}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <div class="hover" data-testid="check-hover">
        {hoverHit !== null && hoverHit.hit !== undefined ? (
          <span>
            <b>{hoverHit.v}</b> breaks <b>{hoverHit.p}</b> in {hoverHit.hit.file}: {hoverHit.hit.message}
            {hoverHit.hit.forced.length > 0 ? ` (with ${hoverHit.hit.forced.join(', ')})` : ''} — click to open
          </span>
        ) : hoverHit !== null ? (
          <span>
            {hoverHit.v} / {hoverHit.p}: {done !== null ? 'holds' : 'not found yet'}
          </span>
        ) : (
          <span class="muted">hover a cell for its scenario and finding; click a ✗ to open the counterexample</span>
        )}
      </div>
      {done !== null ? <DefectTable done={done} onOpen={onOpen} /> : null}
    </div>
  );
}
