// The trace viewer: a step cursor (click, ←/→, Home/End, scrubber) over a recorded run;
// at the cursor the panes show the model's state after that step (sent by the server).
import { useEffect, useState } from 'preact/hooks';
import { post, type TraceJson, type TraceSource } from '../api';
import { resolveState } from '../../../src/ui/protocol';
import { Timeline } from './Timeline';
import { ThreadColumns } from './ThreadColumns';
import { LocksPane } from './LocksPane';
import { LockdepGraph } from './LockdepGraph';
import { MemoryPane } from './MemoryPane';
import { DevicePane } from './DevicePane';
import { download, traceSvg } from './exportSvg';

/** Where the cursor starts: the first step of the threads (after the setup). */
export function firstThreadStep(t: TraceJson): number {
  const i = t.steps.findIndex((s) => !s.setup);
  return i < 0 ? 0 : i;
}

/** The run of `trace` as an ITF trace (the server replays its token), downloaded. */
async function exportItf(trace: TraceJson, source: TraceSource): Promise<void> {
  const body = { ...(source.id !== undefined ? { id: source.id } : { text: source.text ?? '', name: source.name ?? 'scenario.yaml' }), token: trace.token };
  const v = await post<unknown>('/api/itf', body);
  download('trace.itf.json', 'application/json', JSON.stringify(v, null, 1));
}

export function TraceViewer({ trace, load, source }: { trace: TraceJson; load: number; source: TraceSource }) {
  const [exportError, setExportError] = useState<string | null>(null);
  const n = trace.steps.length;
  const [cursor, setCursor] = useState(() => firstThreadStep(trace));
  const clamp = (k: number): number => Math.max(0, Math.min(n - 1, k));
  const move = (k: number): void => setCursor(clamp(k));
  useEffect(() => setCursor(firstThreadStep(trace)), [trace]);
  useEffect(() => {
    // from the cursor as it is when the key is handled (keys pressed faster than repaints all count)
    const onKey = (e: KeyboardEvent): void => {
      const el = e.target as HTMLElement | null;
      if (el !== null && (el.tagName === 'TEXTAREA' || (el.tagName === 'INPUT' && (el as HTMLInputElement).type !== 'range') || el.tagName === 'SELECT')) return;
      const to = e.key === 'ArrowRight' ? (c: number) => c + 1 : e.key === 'ArrowLeft' ? (c: number) => c - 1 : e.key === 'Home' ? () => 0 : e.key === 'End' ? () => n - 1 : null;
      if (to === null) return;
      e.preventDefault();
      setCursor((c) => clamp(to(c)));
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [n]);
  if (n === 0) return <p class="muted">the run took no scheduler step</p>;
  const step = trace.steps[cursor] ?? trace.steps[0];
  if (step === undefined) return null;
  const ref = trace.states[step.state] ?? trace.states[trace.initial];
  const state = ref === undefined ? undefined : resolveState(trace.pools, ref);
  // the reported cycle, from the step lockdep printed it on
  const reportStep = trace.steps.findIndex((s) => s.lockdepCycle !== null);
  const cycle = reportStep >= 0 && cursor >= reportStep ? trace.lockdepCycle : null;
  if (state === undefined) return null;
  return (
    <div class="trace" data-testid="trace-viewer" data-load={load}>
      <header class="trace-head">
        <div>
          <b data-testid="trace-scenario">{trace.scenario}</b> · variant <b data-testid="trace-variant">{trace.variant}</b> · ended {trace.end}
          {trace.finding !== null ? <span> · finding: {trace.finding.join(', ')}</span> : null}
        </div>
        <div class="small muted">
          token <code data-testid="trace-token">{trace.token}</code>{' '}
          <button data-testid="export-svg" onClick={() => download('trace.svg', 'image/svg+xml', traceSvg(trace))}>
            export SVG
          </button>{' '}
          <button data-testid="export-json" onClick={() => download('trace.json', 'application/json', JSON.stringify(trace))}>
            export JSON
          </button>{' '}
          <button
            data-testid="export-itf"
            title="the run as an ITF trace (Apalache/Quint), one state per event, as explore --json gives it"
            onClick={() => {
              setExportError(null);
              exportItf(trace, source).catch((e: Error) => setExportError(e.message));
            }}
          >
            export ITF
          </button>
          {exportError !== null ? <span class="error" data-testid="export-error"> {exportError}</span> : null}
        </div>
        <ul class="violations" data-testid="violations">
          {trace.violations.map((v) => (
            <li key={v.property}>
              <button data-testid={`break-${v.property}`} onClick={() => move(v.step < 0 ? n - 1 : v.step)}>
                {v.property}
              </button>{' '}
              breaks {v.step < 0 ? 'at the end of the run' : `at step ${v.step + 1}`}: {v.message}
            </li>
          ))}
        </ul>
      </header>
      <div class="cursorbar">
        <button onClick={() => move(0)} title="first step (Home)">
          « first
        </button>
        <button onClick={() => move(cursor - 1)} title="previous step (←)">
          ‹ prev
        </button>
        <span data-testid="cursor">
          step {cursor + 1} / {n}
        </span>
        <button onClick={() => move(cursor + 1)} title="next step (→)">
          next ›
        </button>
        <button onClick={() => move(n - 1)} title="last step (End)">
          last »
        </button>
        <span class="muted small">
          {' '}
          {step.thread}: {step.label}
          {step.setup ? ' (setup)' : ''}
        </span>
      </div>
      <Timeline trace={trace} cursor={cursor} onMove={move} />
      <div class="trace-body">
        <ThreadColumns trace={trace} cursor={cursor} onMove={move} />
        <section class="pane events" data-testid="events-pane">
          <h3>
            Step {cursor + 1}: {step.thread} at <code>{step.point}</code>
          </h3>
          {step.events.length === 0 ? <p class="muted">no event</p> : null}
          <ul>
            {step.events.map((e, i) => (
              <li key={i} class={e.startsWith('PLATFORM ERROR') ? 'platform' : ''}>
                {e}
              </li>
            ))}
          </ul>
          {step.breaks.map((b) => (
            <p key={b.property} class="break" data-testid="step-break">
              ✗ {b.property}: {b.message}
            </p>
          ))}
        </section>
      </div>
      <div class="panes">
        <LocksPane state={state} />
        <section class="pane" data-testid="lockdep-pane">
          <h3>lockdep dependencies{cycle !== null ? ' (reported cycle in red; dashed: the dependency lockdep refused)' : ''}</h3>
          {trace.lockdepCycle !== null ? (
            <div class="small">
              {cycle !== null ? (
                <span data-testid="lockdep-cycle">cycle: {[...cycle, cycle[0]].join(' → ')}</span>
              ) : (
                <button data-testid="goto-lockdep" onClick={() => move(reportStep)}>
                  lockdep reports a cycle at step {reportStep + 1}
                </button>
              )}
            </div>
          ) : null}
          <LockdepGraph edges={state.lockdep} cycle={cycle} />
        </section>
        <MemoryPane state={state} />
        <DevicePane state={state} />
      </div>
    </div>
  );
}
