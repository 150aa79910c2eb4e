// One column per thread, one row per scheduler step (only the rows near the cursor are
// rendered, so a trace of thousands of steps repaints as fast as a short one).
import { useEffect, useRef } from 'preact/hooks';
import type { TraceJson } from '../api';

const WINDOW = 18;

export function ThreadColumns({ trace, cursor, onMove }: { trace: TraceJson; cursor: number; onMove: (k: number) => void }) {
  const n = trace.steps.length;
  const box = useRef<HTMLDivElement>(null);
  // keep the cursor's row in view
  useEffect(() => {
    const row = box.current?.querySelector<HTMLElement>('tr.current');
    const b = box.current;
    if (row === null || row === undefined || b === null) return;
    const top = row.offsetTop - b.clientHeight / 2 + row.offsetHeight / 2;
    b.scrollTop = Math.max(0, top);
  }, [cursor, trace]);
  const lo = Math.max(0, Math.min(cursor - WINDOW, n - 2 * WINDOW - 1));
  const hi = Math.min(n, lo + 2 * WINDOW + 1);
  const rows = [];
  for (let i = lo; i < hi; i++) {
    const s = trace.steps[i];
    if (s === undefined) continue;
    const cls = ['row', i === cursor ? 'current' : '', s.setup ? 'setup' : '', s.platformError ? 'platform' : '', s.breaks.length > 0 ? 'breaks' : ''].join(' ');
    rows.push(
      <tr key={i} class={cls} data-step={i} onClick={() => onMove(i)}>
        <td class="stepno">{i + 1}</td>
        {trace.threads.map((t) => (
          <td key={t} class="cell">
            {s.thread === t ? (
              <span title={s.events.join('\n')}>
                <b>{s.point}</b>
                {s.events.length > 0 ? <span class="ev1"> {s.events[0]}</span> : null}
              </span>
            ) : null}
          </td>
        ))}
      </tr>,
    );
  }
  return (
    <div class="columns" data-testid="thread-columns" ref={box}>
      <table>
        <thead>
          <tr>
            <th class="stepno">step</th>
            {trace.threads.map((t) => (
              <th key={t}>{t}</th>
            ))}
          </tr>
        </thead>
        <tbody>{rows}</tbody>
      </table>
      <div class="rows-note">
        rows {lo + 1}–{hi} of {n}
      </div>
    </div>
  );
}
