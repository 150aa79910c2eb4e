// The UI server's JSON API (src/ui/server.ts), typed by src/ui/protocol.ts.
import type { FileJson, ScenarioErrorJson, TraceJson } from '../../src/ui/protocol';

export type { CheckCellJson, CheckDoneJson, DefectJson, FileJson, MachineStateJson, ScenarioErrorJson, TraceJson, TraceStepJson } from '../../src/ui/protocol';

/** An answer the server refused, with its message. */
export class ApiError extends Error {}

async function answer<T>(r: Response): Promise<T> {
  const v: unknown = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) {
    const o = v as { error?: string; errors?: ScenarioErrorJson[] };
    if (o.errors !== undefined) throw new ApiError(o.errors.map((e) => `${e.line}:${e.col}: ${e.message}`).join('\n'));
    throw new ApiError(o.error ?? `HTTP ${r.status}`);
  }
  return v as T;
}

export async function get<T>(path: string): Promise<T> {
  return answer<T>(await fetch(path));
}

export async function post<T>(path: string, body: unknown): Promise<T> {
  return answer<T>(await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }));
}

/** What the trace viewer opens: a file (or an edited text) and how to run it. */
export interface TraceSource {
  readonly id?: string;
  readonly text?: string;
  readonly name?: string;
  readonly token?: string;
  readonly variant?: string;
  readonly schedule?: string;
}

export const fetchTrace = (src: TraceSource): Promise<TraceJson> => post<TraceJson>('/api/trace', src);
export const fetchFiles = (): Promise<FileJson[]> => get<FileJson[]>('/api/files');
