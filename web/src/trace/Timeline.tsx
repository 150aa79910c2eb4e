// The step scrubber, with platform errors, lockdep reports and broken properties marked.
import type { TraceJson } from '../api';

export function Timeline({ trace, cursor, onMove }: { trace: TraceJson; cursor: number; onMove: (k: number) => void }) {
  const n = trace.steps.length;
  const pos = (i: number): string => `${n <= 1 ? 0 : (i / (n - 1)) * 100}%`;
  const marks: { i: number; kind: string; title: string }[] = [];
  trace.steps.forEach((s, i) => {
    if (s.platformError) marks.push({ i, kind: 'platform', title: `step ${i + 1}: platform error` });
    if (s.lockdepCycle !== null) marks.push({ i, kind: 'lockdep', title: `step ${i + 1}: lockdep report` });
    for (const b of s.breaks) marks.push({ i, kind: 'break', title: `step ${i + 1}: ${b.property} breaks` });
  });
  const firstThread = trace.steps.findIndex((s) => !s.setup);
  return (
    <div class="timeline">
      <div class="marks">
        {firstThread > 0 && <div class="setup-span" style={{ width: pos(firstThread) }} title="setup" />}
        {marks.map((m) => (
          <button key={`${m.kind}${m.i}`} class={`mark mark-${m.kind}`} style={{ left: pos(m.i) }} title={m.title} data-testid={`mark-${m.kind}`} onClick={() => onMove(m.i)} />
        ))}
      </div>
      <input type="range" class="scrubber" data-testid="scrubber" min={0} max={Math.max(0, n - 1)} value={cursor} onInput={(e) => onMove(Number((e.target as HTMLInputElement).value))} aria-label="step" />
    </div>
  );
}
