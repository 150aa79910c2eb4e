// Each opened device: the command register as vfio-pci's virtual copy and as the hardware
// holds it, decode per BAR, power state, reset in progress.
import type { MachineStateJson } from '../api';
import { commandBits, hex } from '../format';

export function DevicePane({ state }: { state: MachineStateJson }) {
  const opened = state.devices.filter((d) => d.vconfigCommand !== null);
  return (
    <section class="pane" data-testid="device-pane">
      <h3>Device</h3>
      {opened.length === 0 ? <p class="muted">no device open</p> : null}
      {opened.map((d) => (
        <div key={d.name} class="device" data-device={d.name}>
          <b>{d.name}</b>
          <table class="grid">
            <tbody>
              <tr>
                <td>command (vfio-pci vconfig)</td>
                <td data-testid="vconfig">
                  <code>{hex(d.vconfigCommand ?? 0)}</code> {commandBits(d.vconfigCommand ?? 0)}
                </td>
              </tr>
              <tr>
                <td>command (hardware)</td>
                <td data-testid="hwcommand">
                  <code>{hex(d.hwCommand)}</code> {commandBits(d.hwCommand)}
                </td>
              </tr>
              <tr>
                <td>power</td>
                <td>
                  {d.powerState} (current_state {d.currentState})
                </td>
              </tr>
              <tr>
                <td>reset</td>
                <td data-testid="reset">{d.inReset ? 'in progress' : d.cfgBlockedBy !== null ? `config access blocked by ${d.cfgBlockedBy}` : 'no'}</td>
              </tr>
              {d.bars.map((b) => (
                <tr key={b.index}>
                  <td>
                    BAR{b.index} ({b.kind})
                  </td>
                  <td data-testid={`bar${b.index}`}>
                    {hex(b.start)} +{hex(b.size)}: <span class={b.decode ? 'chip ok' : 'chip bad'}>{b.decode ? 'decode on' : 'decode off'}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
      <div class="muted small">platform errors so far: {state.platformErrors}</div>
    </section>
  );
}
