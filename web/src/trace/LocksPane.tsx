// Who holds which lock (read/write) and who waits for which, at the cursor.
import type { MachineStateJson } from '../api';

export function LocksPane({ state }: { state: MachineStateJson }) {
  const busy = state.threads.filter((t) => t.held.length > 0 || t.waitsFor !== null);
  return (
    <section class="pane" data-testid="locks-pane">
      <h3>Locks</h3>
      {state.locks.length === 0 ? <p class="muted">no lock held or waited for</p> : null}
      <table class="grid">
        <tbody>
          {state.locks.map((l) => (
            <tr key={l.lock} data-lock={l.lock}>
              <td>
                <code>{l.lock}</code>
                <div class="muted small">{l.cls}</div>
              </td>
              <td data-testid="holders">
                {l.holders.map((h) => (
                  <span key={h.thread} class={`chip hold-${h.mode}`}>
                    {h.thread} ({h.mode === 'r' ? 'read' : 'write'})
                  </span>
                ))}
              </td>
              <td data-testid="waiters">
                {l.waiters.map((w) => (
                  <span key={w.thread} class="chip wait">
                    {w.thread} waits{w.mode === null ? '' : ` (${w.mode === 'r' ? 'read' : 'write'})`}
                  </span>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {busy.length > 0 ? (
        <ul class="held">
          {busy.map((t) => (
            <li key={t.name} data-thread={t.name}>
              <b>{t.name}</b> [{t.state}] holds {t.held.length === 0 ? 'nothing' : t.held.map((h) => `${h.lock} (${h.mode}, ${h.fn})`).join(', ')}
              {t.waitsFor !== null ? `; waits for ${t.waitsFor.lock}` : ''}
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
