// The knob grid of `vfio-sim variants --knobs`: every variant's value of every knob, with
// what each variant changed (against the preset it is described from) and why; pick two
// variants to see only the knobs where they differ.
import { useEffect, useState } from 'preact/hooks';
import { get } from './api';

interface Variant {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly from: string | null;
  readonly knobs: Readonly<Record<string, unknown>>;
}

export function VariantsView() {
  const [variants, setVariants] = useState<Variant[]>([]);
  const [a, setA] = useState('');
  const [b, setB] = useState('');
  useEffect(() => {
    get<{ variants: Variant[] }>('/api/variants').then((r) => setVariants(r.variants), () => undefined);
  }, []);
  const knobs = Object.keys(variants[0]?.knobs ?? {});
  const va = variants.find((v) => v.name === a);
  const vb = variants.find((v) => v.name === b);
  const shown = va !== undefined && vb !== undefined ? variants.filter((v) => v === va || v === vb) : variants;
  const rows = va !== undefined && vb !== undefined ? knobs.filter((k) => String(va.knobs[k]) !== String(vb.knobs[k])) : knobs;
  const changed = (v: Variant, k: string): boolean => {
    const base = variants.find((x) => x.name === v.from);
    return base !== undefined && String(base.knobs[k]) !== String(v.knobs[k]);
  };
  return (
    <div class="variants" data-testid="variants-view">
      <div class="controls">
        compare{' '}
        {[
          [a, setA],
          [b, setB],
        ].map(([val, set], i) => (
          <select key={i} value={val as string} data-testid={`compare-${i}`} onChange={(e) => (set as (s: string) => void)((e.target as HTMLSelectElement).value)}>
            <option value="">all variants</option>
            {variants.map((v) => (
              <option key={v.name} value={v.name}>
                {v.name}
              </option>
            ))}
          </select>
        ))}
        {va !== undefined && vb !== undefined ? <span data-testid="diff-count">{rows.length === 0 ? 'no knob differs' : `${rows.length} knob${rows.length === 1 ? '' : 's'} differ`}</span> : null}
      </div>
      <table class="checktable knobgrid">
        <thead>
          <tr>
            <th>knob</th>
            {shown.map((v) => (
              <th key={v.name} title={`${v.title}: ${v.description}`}>
                {v.name}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((k) => (
            <tr key={k} data-knob={k}>
              <th class="knob">{k}</th>
              {shown.map((v) => (
                <td key={v.name} class={changed(v, k) ? 'changed' : ''} title={changed(v, k) ? `${v.name} changed it from ${v.from ?? ''}: ${v.description}` : ''}>
                  {String(v.knobs[k])}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      <ul class="why">
        {shown.map((v) => (
          <li key={v.name}>
            <b>{v.name}</b> ({v.title}{v.from !== null ? `, from ${v.from}` : ''}): {v.description}
          </li>
        ))}
      </ul>
    </div>
  );
}
