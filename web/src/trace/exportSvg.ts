// A trace as a self-contained SVG sequence diagram: one lifeline per thread, one row per
// step of the threads (the setup left out), each naming the object the step touched; platform
// errors in red, a property's breaking step in orange, a lockdep report in purple.
import type { TraceJson } from '../api';

const COL = 300;
const ROW = 18;
const TOP = 60;

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function traceSvg(t: TraceJson): string {
  const steps = t.steps.map((s, i) => ({ s, i })).filter(({ s }) => !s.setup);
  const width = 60 + t.threads.length * COL;
  const height = TOP + steps.length * ROW + 20;
  const x = (thread: string): number => 60 + Math.max(0, t.threads.indexOf(thread)) * COL + COL / 2;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="monospace" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  out.push(`<text x="8" y="16" font-size="13" font-weight="bold">${esc(t.scenario)} — variant ${esc(t.variant)}</text>`);
  out.push(`<text x="8" y="30" fill="#666">token ${esc(t.token)}</text>`);
  for (const th of t.threads) {
    out.push(`<text x="${x(th)}" y="${TOP - 10}" text-anchor="middle" font-weight="bold">${esc(th)}</text>`);
    out.push(`<line x1="${x(th)}" y1="${TOP - 4}" x2="${x(th)}" y2="${height - 10}" stroke="#ccc"/>`);
  }
  steps.forEach(({ s, i }, row) => {
    const y = TOP + row * ROW;
    const color = s.platformError ? '#d22' : s.breaks.length > 0 ? '#f80' : s.lockdepCycle !== null ? '#a0c' : '#eef1f8';
    out.push(`<text x="8" y="${y + 12}" fill="#999">${i + 1}</text>`);
    out.push(`<rect x="${x(s.thread) - COL / 2 + 6}" y="${y + 1}" width="${COL - 12}" height="${ROW - 3}" rx="3" fill="${color}" stroke="#99a"/>`);
    const point = s.point.length > 40 ? `${s.point.slice(0, 39)}…` : s.point;
    const label = `${point}${s.breaks.length > 0 ? ` ✗ ${s.breaks.map((b) => b.property).join(', ')}` : ''}`;
    out.push(`<text x="${x(s.thread)}" y="${y + 12}" text-anchor="middle"><title>${esc(s.events.join('\n'))}</title>${esc(label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Save `text` as a file the browser downloads. */
export function download(name: string, type: string, text: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
