/**
 * The model options `serve` and `exec` share: `--machine FILE|preset`, `--variant V`,
 * `--knob NAME=VALUE`. A machine file is the `machine:` section of a scenario as its own
 * YAML document (a whole scenario file is accepted too: its `machine:` is used), checked
 * with the scenario's schema and reported at file:line:col.
 */
import { findVariant, VARIANTS } from '../kernel/variant/knobs.js';
import { MACHINE_PRESETS, machineSchema, planMachine, type MachineSection } from '../scenario/machine.js';
import { formatScenarioError, YamlSource } from '../scenario/source.js';
import { checkVariant, resolveKnobs } from '../scenario/variant.js';
import type { SystemOptions } from '../system.js';
import { parseKnobFlags, readText } from './args.js';

export const MODEL_OPTIONS_USAGE = `  --machine M          a machine preset (${MACHINE_PRESETS.join(', ')}) or a machine file: the 'machine:'
                       section of a scenario as its own YAML document (default: two edu
                       devices and a NIC behind root ports, all bound to vfio-pci)
  --variant V          design variant preset (default 5.8; 'vfio-sim variants' lists them)
  --knob NAME=VALUE    override one knob on top of the variant (repeatable)`;

/** The option declarations for parseCommand. */
export const MODEL_OPTIONS = {
  machine: { type: 'string' },
  variant: { type: 'string' },
  knob: { type: 'string', multiple: true },
} as const;

/** The System options the flags describe, a one-line label ('5.8, default machine'), or the error messages. */
export function modelOptions(v: { machine?: string | undefined; variant?: string | undefined; knob?: string[] | undefined }): { options: SystemOptions; label: string } | { errors: string[] } {
  const base = v.variant ?? '5.8';
  const preset = findVariant(base);
  if (preset === undefined) return { errors: [`unknown variant '${base}' (known: ${VARIANTS.map((x) => x.name).join(', ')})`] };
  const kf = parseKnobFlags(v.knob);
  if ('error' in kf) return { errors: [kf.error] };
  const choice = { base, knobs: kf.knobs ?? {} };
  const bad = checkVariant(choice);
  if (bad.length > 0) return { errors: bad.map((b) => b.message) };
  let section: MachineSection | undefined;
  let machineLabel = 'default machine';
  const m = v.machine;
  if (m !== undefined) {
    if ((MACHINE_PRESETS as readonly string[]).includes(m)) {
      section = { preset: m as (typeof MACHINE_PRESETS)[number] };
      machineLabel = `machine ${m}`;
    } else {
      const read = readText(m);
      if ('error' in read) return { errors: [`--machine: ${read.error} (expected a machine preset: ${MACHINE_PRESETS.join(', ')}, or a machine file)`] };
      const src = new YamlSource(read.text, m);
      if (src.syntaxErrors.length > 0) return { errors: src.syntaxErrors.map(formatScenarioError) };
      const whole = typeof src.data === 'object' && src.data !== null && 'machine' in src.data;
      const base: (string | number)[] = whole ? ['machine'] : [];
      const data = whole ? (src.data as { machine: unknown }).machine : src.data;
      const parsed = machineSchema.safeParse(data ?? {});
      if (!parsed.success) return { errors: parsed.error.issues.map((i) => formatScenarioError(src.errorAt([...base, ...(i.path as (string | number)[])], i.message))) };
      section = parsed.data;
      machineLabel = `machine ${m}`;
    }
  }
  const { plan, errors } = planMachine(section, []);
  if (errors.length > 0) return { errors: errors.map((e) => `--machine: ${e.path.join('.')}: ${e.message}`) };
  const knobsNamed: string = Object.keys(choice.knobs).length > 0 ? ` + ${Object.entries(choice.knobs).map(([k, x]) => `${k}=${String(x)}`).join(', ')}` : '';
  return {
    options: { machine: plan.spec, variant: knobsNamed === '' ? base : { ...preset, knobs: resolveKnobs(choice) }, kernelConfig: plan.kernelConfig },
    label: `${base}${knobsNamed}, ${machineLabel}`,
  };
}
