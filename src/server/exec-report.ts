/**
 * [model] What `vfio-sim exec` reports when the program ends: the model's platform errors
 * (Unsupported Requests, with the access), kernel WARNINGs and BUGs, lockdep splats and the
 * signals the model raised for the program's accesses — collected from the event stream
 * as the server runs (so a bounded in-memory stream loses none of them).
 */
import type { SimEvent } from '../events/event.js';
import { describe } from '../events/format.js';
import type { ServerStats } from './server.js';

/** The kinds the report lists, and their heading. */
const SECTIONS = [
  ['platform.error', 'platform errors'],
  ['machine.halt', 'machine halted'],
  ['bug', 'kernel BUGs'],
  ['warn', 'kernel WARNINGs'],
  ['lockdep', 'lockdep reports'],
  ['signal', 'signals raised by the model'],
] as const;

/** At most this many events of one kind are kept for the report (the count stays exact). */
const KEEP = 20;

export class ExecReport {
  private readonly kept = new Map<string, SimEvent[]>();
  private readonly counts = new Map<string, number>();
  events = 0;

  /** An event listener (pass to the server's onEvent). */
  readonly onEvent = (ev: SimEvent): void => {
    this.events++;
    if (!SECTIONS.some(([k]) => k === ev.kind)) return;
    this.counts.set(ev.kind, (this.counts.get(ev.kind) ?? 0) + 1);
    const l = this.kept.get(ev.kind) ?? [];
    if (l.length < KEEP) l.push(ev);
    this.kept.set(ev.kind, l);
  };

  /** How many events of `kind` the run produced. */
  count(kind: string): number {
    return this.counts.get(kind) ?? 0;
  }

  /** The report's lines. */
  render(o: { program: string; status: string; label: string; stats: ServerStats; clock: 'host' | 'model'; modelMs: number; eventsFile: string | null }): string[] {
    const out: string[] = [];
    out.push(`vfio-sim exec: ${o.program} ${o.status} (model: ${o.label})`);
    const req = [...o.stats.requests].filter(([k]) => k !== 'hello').map(([k, n]) => `${k} ${n}`).join(', ');
    out.push(`  requests served: ${req === '' ? 'none' : req}; processes: ${o.stats.processes}`);
    out.push(o.clock === 'host' ? `  model time at the end: ${o.modelMs} ms since boot (it followed the host's monotonic clock while the program ran)` : `  model time at the end: ${o.modelMs} ms since boot (advanced by the model only)`);
    if (o.stats.stopped !== null) out.push(`  the model stopped: ${o.stats.stopped} (later requests got EIO)`);
    for (const l of o.stats.lost) out.push(`  lost thread (its connection got EIO): ${l}`);
    if (o.stats.abandoned > 0) out.push(`  connections closed mid-request: ${o.stats.abandoned}`);
    for (const [kind, title] of SECTIONS) {
      const n = this.count(kind);
      if (n === 0) {
        out.push(`  ${title}: none`);
        continue;
      }
      out.push(`  ${title}: ${n}`);
      for (const ev of this.kept.get(kind) ?? []) out.push(`    ${describe(ev)}`);
      if (n > KEEP) out.push(`    ... and ${n - KEEP} more`);
    }
    out.push(o.eventsFile === null ? `  ${this.events} events (--events FILE writes them as JSON lines)` : `  ${this.events} events written to ${o.eventsFile}`);
    return out;
  }
}
