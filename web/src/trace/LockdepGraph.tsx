// lockdep's dependency graph (class -> class, as recorded so far), laid out by dagre, with
// the reported cycle's classes and edges highlighted.
import { useMemo } from 'preact/hooks';
import { Graph, layout } from '@dagrejs/dagre';
import type { MachineStateJson } from '../api';

const CHAR_W = 6.6;

interface Laid {
  readonly width: number;
  readonly height: number;
  readonly nodes: { name: string; x: number; y: number; w: number; h: number }[];
  readonly edges: { from: string; to: string; points: { x: number; y: number }[] }[];
}

/** The graph's edges, and the cycle's closing dependency (the one lockdep refused, never recorded). */
function withClosing(edges: MachineStateJson['lockdep'], cycle: readonly string[] | null): MachineStateJson['lockdep'] {
  if (cycle === null || cycle.length < 2) return edges;
  const from = cycle[cycle.length - 1] as string;
  const to = cycle[0] as string;
  return edges.some((e) => e.from === from && e.to === to) ? edges : [...edges, { from, to }];
}

function lay(edges: MachineStateJson['lockdep']): Laid {
  const g = new Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 14, ranksep: 40, marginx: 6, marginy: 6 });
  g.setDefaultEdgeLabel(() => ({}));
  const names = new Set<string>();
  for (const e of edges) {
    names.add(e.from);
    names.add(e.to);
  }
  for (const n of names) g.setNode(n, { width: n.length * CHAR_W + 16, height: 22 });
  for (const e of edges) g.setEdge(e.from, e.to);
  layout(g);
  const gl = g.graph();
  return {
    width: (gl.width ?? 0) + 12,
    height: (gl.height ?? 0) + 12,
    nodes: [...names].map((name) => {
      const n = g.node(name);
      return { name, x: n.x, y: n.y, w: n.width, h: n.height };
    }),
    edges: edges.map((e) => ({ from: e.from, to: e.to, points: g.edge(e.from, e.to)?.points ?? [] })),
  };
}

export function LockdepGraph({ edges, cycle }: { edges: MachineStateJson['lockdep']; cycle: readonly string[] | null }) {
  const shown = cycle;
  const all = withClosing(edges, shown);
  const key = all.map((e) => `${e.from}>${e.to}`).join('|');
  const laid = useMemo(() => lay(all), [key]);
  const inCycle = new Set(shown ?? []);
  /** The report's chain: acquired lock -> ... -> held lock, closed by held -> acquired. */
  const cycleEdge = (a: string, b: string): boolean => {
    if (shown === null) return false;
    for (let i = 0; i < shown.length; i++) if (shown[i] === a && shown[(i + 1) % shown.length] === b) return true;
    return false;
  };
  const closing = (a: string, b: string): boolean => !edges.some((e) => e.from === a && e.to === b);
  if (edges.length === 0) return <p class="muted">no dependency recorded yet</p>;
  return (
    <svg class="lockdep" width={laid.width} height={laid.height} viewBox={`0 0 ${laid.width} ${laid.height}`} data-testid="lockdep-graph">
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M 0 0 L 10 5 L 0 10 z" fill="#667" />
        </marker>
        <marker id="arrow-hot" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M 0 0 L 10 5 L 0 10 z" fill="#d22" />
        </marker>
      </defs>
      {laid.edges.map((e) => {
        const hot = cycleEdge(e.from, e.to);
        return (
          <polyline
            key={`${e.from}>${e.to}`}
            class={`${hot ? 'edge hot' : 'edge'}${closing(e.from, e.to) ? ' closing' : ''}`}
            data-cycle={hot ? 'yes' : 'no'}
            points={e.points.map((p) => `${p.x},${p.y}`).join(' ')}
            marker-end={hot ? 'url(#arrow-hot)' : 'url(#arrow)'}
          />
        );
      })}
      {laid.nodes.map((n) => (
        <g key={n.name} class={inCycle.has(n.name) ? 'node hot' : 'node'} data-class={n.name} data-cycle={inCycle.has(n.name) ? 'yes' : 'no'}>
          <rect x={n.x - n.w / 2} y={n.y - n.h / 2} width={n.w} height={n.h} rx={4} />
          <text x={n.x} y={n.y + 4} text-anchor="middle">
            {n.name}
          </text>
        </g>
      ))}
    </svg>
  );
}
