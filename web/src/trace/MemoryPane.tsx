// Each process's vmas over a vfio device, their present pages and the BAR pfns they map;
// each device's vma_list (or address space, 6.10+); type1's IOMMU mappings.
import type { MachineStateJson } from '../api';
import { hex } from '../format';

export function MemoryPane({ state }: { state: MachineStateJson }) {
  const procs = state.processes.filter((p) => p.vmas.length > 0);
  const opened = state.devices.filter((d) => d.vconfigCommand !== null || d.vmaList.length > 0);
  return (
    <section class="pane" data-testid="memory-pane">
      <h3>Memory</h3>
      {procs.length === 0 ? <p class="muted">no process maps a device</p> : null}
      {procs.map((p) => (
        <div key={p.pid} class="proc">
          <div>
            <b>{p.name}</b> <span class="muted">pid {p.pid}, mm{p.mm}</span>
          </div>
          <table class="grid">
            <tbody>
              {p.vmas.map((v) => {
                const present = v.present.reduce((a, r) => a + r.pages, 0);
                return (
                  <tr key={v.id} class="vma" data-vma={hex(v.start)} data-tracked={v.tracked ? 'yes' : 'no'} data-present={present}>
                    <td>
                      <code>
                        {hex(v.start)}-{hex(v.end)}
                      </code>
                      <div class="muted small">
                        {v.device} · {v.pages} pages{v.live ? '' : ' · unmapped'}
                      </div>
                    </td>
                    <td data-testid="present">
                      {present === 0 ? (
                        <span class="muted">no page present</span>
                      ) : (
                        v.present.map((r) => (
                          <div key={r.addr} class={state.devices.some((d) => d.name === v.device && d.bars.some((b) => b.index === r.bar && !b.decode)) ? 'pte stale' : 'pte'}>
                            {r.pages} present: {hex(r.addr)} → pfn {hex(r.pfn)}
                            {r.bar !== null ? ` (BAR${r.bar})` : ''}
                          </div>
                        ))
                      )}
                    </td>
                    <td data-testid="tracked">{v.tracked ? <span class="chip ok">tracked</span> : <span class="chip bad">untracked</span>}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ))}
      {opened.map((d) => (
        <div key={d.name} class="vmalist" data-device={d.name}>
          <b>{d.name}</b> vma_list:{' '}
          <span data-testid="vma-list">{d.vmaList.length === 0 ? 'empty' : d.vmaList.map((v) => `mm${v.mm} ${hex(v.start)}-${hex(v.end)}${v.live ? '' : ' (stale)'}`).join(', ')}</span>
          {d.addressSpace !== null ? (
            <div>
              address space: {d.addressSpace.length === 0 ? 'empty' : d.addressSpace.map((v) => `mm${v.mm} ${hex(v.start)}-${hex(v.end)}`).join(', ')}
            </div>
          ) : null}
        </div>
      ))}
      <div class="iommu">
        <b>type1 IOMMU mappings:</b>{' '}
        {state.iommu.length === 0
          ? 'none'
          : state.iommu.map((m) => (
              <div key={`${m.container}-${m.iova}`}>
                container {m.container}: iova {hex(m.iova)} ← vaddr {hex(m.vaddr)}, {hex(m.size)} bytes{m.mapped ? '' : ' (not mapped)'}
              </div>
            ))}
      </div>
    </section>
  );
}
