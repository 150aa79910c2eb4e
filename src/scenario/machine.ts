/**
 * The `machine:` section of a scenario: the devices (and bridges) to build, the platform
 * error policy, and the names the scenario uses for the devices (edu0, edu1, nic0...).
 * Without it the scenario runs on the default machine (src/hw/machine.ts
 * defaultMachineSpec: edu0 at 0000:01:00.0, edu1 at 0000:02:00.0, nic0 at 0000:03:00.0,
 * each behind its own root port, policy `log`). `preset: qemu-q35` runs it on the machine of a
 * QEMU 7.2 q35 guest instead (src/hw/qemu-q35.ts).
 */
import * as z from 'zod';
import type { UrPolicy } from '../hw/api.js';
import type { DeviceDefinition } from '../hw/device.js';
import { EDU_DEVICE, eduWithRom, isEduRomSize } from '../hw/devices/edu.js';
import { qemuQ35MachineSpec } from '../hw/qemu-q35.js';
import { NIC_DEVICE } from '../hw/devices/nic.js';
import { GPU_DEVICE, gpuDevice, isGpuVramSize } from '../hw/devices/gpu.js';
import { type BridgeFunctionSpec, createMachine, DEFAULT_RAM_SIZE, defaultMachineSpec, type EndpointFunctionSpec, type FunctionSpec, type MachineSpec, MachineSpecError, type SlotSpec } from '../hw/machine.js';
import { ident, obj, uint } from './values.js';
import type { KernelConfig } from '../system.js';

/** Device models a scenario can instantiate, by name. */
export const DEVICE_MODELS: Readonly<Record<string, DeviceDefinition>> = { edu: EDU_DEVICE, nic: NIC_DEVICE, gpu: GPU_DEVICE };

const modelNames = Object.keys(DEVICE_MODELS) as [string, ...string[]];
const model = z.enum(modelNames, { error: `expected a device model: ${modelNames.join(', ')}` });

/**
 * An endpoint as a mapping: the model, its name, `virtfn: true` (an SR-IOV virtual function:
 * command MEM hardwired to 0, its PF not modelled), for the gpu `vram` (BAR2 size) and for
 * edu `rom` (an option ROM of that ROM BAR size, as `-device edu,romfile=`).
 */
const endpointObject = obj(
  {
    model,
    name: ident.optional(),
    virtfn: z.boolean({ error: 'expected true or false' }).optional(),
    vram: uint().refine(isGpuVramSize, { message: 'expected a VRAM size: a power of two from 0x10000 (64 KiB) to 0x40000000 (1 GiB)' }).optional(),
    rom: uint().refine(isEduRomSize, { message: 'expected a ROM size: a power of two from 0x800 (2 KiB) to 0x1000000 (16 MiB)' }).optional(),
  },
  'a device',
)
  .refine((e) => e.vram === undefined || e.model === 'gpu', { message: "'vram' is an option of the gpu model only", path: ['vram'] })
  .refine((e) => e.rom === undefined || e.model === 'edu', { message: "'rom' is an option of the edu model only", path: ['rom'] });

/** An endpoint: a model name, or {model, name, virtfn, vram, rom}. */
const endpointEntry = z.union([model, endpointObject], {
  error: `expected a device: a model name (${modelNames.join(', ')}) or a mapping {model, name, virtfn, vram, rom}`,
});

export type EndpointEntry = z.output<typeof endpointEntry>;
export type DeviceEntry =
  | EndpointEntry
  | { functions: EndpointEntry[] }
  | { bridge: 'root-port' | 'pci-bridge' | 'pcie-pci-bridge'; acs?: boolean | undefined; devices: DeviceEntry[] };

const BRIDGES = ['root-port', 'pci-bridge', 'pcie-pci-bridge'] as const;

/** A device entry (recursive: bridges hold device entries). */
export const deviceEntry: z.ZodType<DeviceEntry, unknown> = z.lazy(() =>
  z.union([
    model,
    endpointObject,
    obj({ functions: z.array(endpointEntry).min(1, { error: 'expected at least one function' }).max(8, { error: 'a slot has at most 8 functions' }) }, 'a multi-function device'),
    obj({ bridge: z.enum(BRIDGES, { error: `expected a bridge kind: ${BRIDGES.join(', ')}` }), acs: z.boolean().optional(), devices: z.array(deviceEntry).min(1, { error: 'expected at least one device behind the bridge' }).max(32) }, 'a bridge'),
  ], { error: `expected a device: a model name (${modelNames.join(', ')}), {model, name, virtfn, vram, rom}, {functions: [...]} or {bridge, devices: [...]}` }),
);

/** Machine presets a scenario can name (`machine: { preset: ... }`). */
export const MACHINE_PRESETS = ['qemu-q35'] as const;
export type MachinePreset = (typeof MACHINE_PRESETS)[number];
/** Where the qemu-q35 preset puts edu (QEMU's `-device edu,bus=...`). */
const EDU_BUSES = ['rp1', 'pcie.0'] as const;

export const machineSchema = obj(
  {
    preset: z
      .enum(MACHINE_PRESETS, {
        error: (iss) => `${typeof iss.input === 'string' ? `unknown machine preset '${iss.input}'` : 'expected a machine preset'} (known: ${MACHINE_PRESETS.join(', ')})`,
      })
      .optional(),
    edu_bus: z.enum(EDU_BUSES, { error: "expected where qemu-q35 puts edu: 'rp1' (behind the root port 00:04.0, at 01:00.0; the default) or 'pcie.0' (on the root bus at 00:04.0)" }).optional(),
    unassigned: z.enum(['ones', 'zeros'], { error: "expected what a read nothing decodes returns: 'ones' (all-ones, as PCIe hardware; the default) or 'zeros' (as QEMU; the qemu-q35 default)" }).optional(),
    policy: z.enum(['log', 'fatal'], { error: "expected a platform error policy: 'log' (Unsupported Requests are logged) or 'fatal' (the machine halts)" }).optional(),
    ram: uint().refine((v) => v > 0 && v % 4096 === 0 && v <= 0x8000_0000, { message: 'expected a RAM size: a multiple of 4096 up to 2 GiB' }).optional(),
    devices: z.array(deviceEntry).min(1, { error: 'expected at least one device' }).max(31).optional(),
    kernel_config: z.enum(['debug', 'distro'], { error: "expected a kernel config: 'debug' (lockdep on, the default) or 'distro' (no lockdep, as distributions ship)" }).optional(),
  },
  'machine',
);
export type MachineSection = z.output<typeof machineSchema>;

/** A device of the planned machine. */
export interface PlannedDevice {
  readonly name: string;
  readonly bdf: string;
  readonly model: string;
  /** Path of its entry in the scenario data (for error positions). */
  readonly path: readonly (string | number)[];
}

export interface MachinePlan {
  readonly spec: MachineSpec;
  readonly devices: readonly PlannedDevice[];
  readonly policy: UrPolicy;
  /** How the kernel was built (SystemOptions.kernelConfig). */
  readonly kernelConfig: KernelConfig;
}

interface TreeEndpoint {
  kind: 'endpoint';
  def: DeviceDefinition;
  model: string;
  name: string | null;
  virtfn: boolean;
  path: (string | number)[];
}
interface TreeBridge {
  kind: 'bridge';
  bridge: (typeof BRIDGES)[number];
  acs: boolean;
  slots: TreeSlot[];
  /** Its entry (a top-level device's root port: the device's entry). */
  path: (string | number)[];
}
interface TreeSlot {
  dev: number;
  functions: (TreeEndpoint | TreeBridge)[];
}

const bdf = (bus: number, dev: number, fn: number): string => `0000:${bus.toString(16).padStart(2, '0')}:${dev.toString(16).padStart(2, '0')}.${fn}`;

function endpointNode(e: EndpointEntry, path: (string | number)[]): TreeEndpoint {
  if (typeof e === 'string') return { kind: 'endpoint', def: DEVICE_MODELS[e] ?? EDU_DEVICE, model: e, name: null, virtfn: false, path };
  const def = e.vram !== undefined ? gpuDevice(e.vram) : e.rom !== undefined ? eduWithRom(e.rom) : (DEVICE_MODELS[e.model] ?? EDU_DEVICE);
  return { kind: 'endpoint', def, model: e.model, name: e.name ?? null, virtfn: e.virtfn === true, path };
}

function slotOf(e: DeviceEntry, dev: number, path: (string | number)[], top: boolean): TreeSlot {
  if (typeof e === 'string' || 'model' in e) {
    const ep = endpointNode(e, path);
    // a top-level device sits behind its own root port, as in the default machine
    return top ? { dev, functions: [{ kind: 'bridge', bridge: 'root-port', acs: true, slots: [{ dev: 0, functions: [ep] }], path }] } : { dev, functions: [ep] };
  }
  if ('functions' in e) {
    const fns = e.functions.map((f, i) => endpointNode(f, [...path, 'functions', i]));
    return top ? { dev, functions: [{ kind: 'bridge', bridge: 'root-port', acs: true, slots: [{ dev: 0, functions: fns }], path }] } : { dev, functions: fns };
  }
  return {
    dev,
    functions: [{ kind: 'bridge', bridge: e.bridge, acs: e.acs !== false, slots: e.devices.map((d, i) => slotOf(d, i, [...path, 'devices', i], false)), path }],
  };
}

/** Extra facts about an endpoint spec built from a scenario entry. */
interface EndpointMeta {
  readonly name: string | null;
  readonly path: (string | number)[];
}

function toSpec(slots: readonly TreeSlot[], meta: WeakMap<object, EndpointMeta>): SlotSpec[] {
  return slots.map((s) => ({
    dev: s.dev,
    functions: s.functions.map((f, fn): FunctionSpec => {
      if (f.kind === 'bridge') {
        const b: BridgeFunctionSpec = { fn, bridge: f.bridge, acs: f.acs, slots: toSpec(f.slots, meta) };
        meta.set(b, { name: null, path: f.path });
        return b;
      }
      const e: EndpointFunctionSpec = f.virtfn ? { fn, device: f.def, virtfn: true } : { fn, device: f.def };
      meta.set(e, { name: f.name, path: f.path });
      return e;
    }),
  }));
}

/**
 * Every endpoint of a machine spec with its PCI address, the way firmware enumerates
 * it (src/hw/machine.ts: every function of a bus first, then each bridge's secondary
 * bus depth-first in (dev, fn) order), in address order.
 */
export function enumerateEndpoints(spec: MachineSpec): { fn: EndpointFunctionSpec; bdf: string }[] {
  const out: { fn: EndpointFunctionSpec; bdf: string; bus: number; devfn: number }[] = [];
  let busCounter = 0;
  const place = (bus: number, slots: readonly SlotSpec[]): void => {
    const all: { dev: number; fn: number; f: FunctionSpec }[] = [];
    for (const s of slots) s.functions.forEach((f, i) => all.push({ dev: s.dev, fn: f.fn ?? i, f }));
    all.sort((a, b) => a.dev - b.dev || a.fn - b.fn);
    const bridges: BridgeFunctionSpec[] = [];
    for (const e of all) {
      if ('bridge' in e.f) bridges.push(e.f);
      else out.push({ fn: e.f, bdf: bdf(bus, e.dev, e.fn), bus, devfn: (e.dev << 3) | e.fn });
    }
    for (const b of bridges) place(++busCounter, b.slots);
  };
  place(0, spec.slots);
  out.sort((a, b) => a.bus - b.bus || a.devfn - b.devfn);
  return out.map(({ fn, bdf: a }) => ({ fn, bdf: a }));
}

/** The machine a scenario runs on, with its device names; errors (duplicate names) as [path, message]. */
export function planMachine(m: MachineSection | undefined, basePath: readonly (string | number)[]): { plan: MachinePlan; errors: { path: (string | number)[]; message: string }[] } {
  const meta = new WeakMap<object, EndpointMeta>();
  const errors: { path: (string | number)[]; message: string }[] = [];
  let spec: MachineSpec;
  const unassigned = m?.unassigned === undefined ? {} : { unassigned: m.unassigned };
  if (m?.preset === 'qemu-q35') {
    if (m.devices !== undefined) errors.push({ path: [...basePath, 'devices'], message: "the qemu-q35 preset has its own devices: drop 'devices' (or the preset)" });
    const d = qemuQ35MachineSpec({ eduBus: m.edu_bus ?? 'rp1', ramSize: m.ram ?? DEFAULT_RAM_SIZE });
    spec = { ...d, urPolicy: m.policy ?? d.urPolicy ?? 'log', ...unassigned };
  } else if (m?.devices === undefined) {
    const d = defaultMachineSpec();
    spec = { ...d, urPolicy: m?.policy ?? d.urPolicy ?? 'log', ramSize: m?.ram ?? d.ramSize ?? DEFAULT_RAM_SIZE, ...unassigned };
  } else {
    // the host bridge is 00:00.0; top-level entries take root-bus slots 1, 2, ...
    const root = m.devices.map((e, i) => slotOf(e, i + 1, [...basePath, 'devices', i], true));
    spec = { ramSize: m.ram ?? DEFAULT_RAM_SIZE, urPolicy: m.policy ?? 'log', ...unassigned, slots: toSpec(root, meta) };
  }
  if (m?.edu_bus !== undefined && m.preset === undefined) errors.push({ path: [...basePath, 'edu_bus'], message: "'edu_bus' is an option of the qemu-q35 preset (machine: { preset: qemu-q35, edu_bus: ... })" });
  // build it once: what the hardware cannot hold (buses, address windows) is the scenario's error
  try {
    createMachine(spec);
  } catch (e) {
    if (!(e instanceof MachineSpecError)) throw e;
    errors.push({ path: (e.at !== null ? meta.get(e.at)?.path : undefined) ?? [...basePath], message: `the machine cannot be built: ${e.message}` });
    return { plan: { spec, devices: [], policy: spec.urPolicy ?? 'log', kernelConfig: m?.kernel_config ?? 'debug' }, errors };
  }
  const placed = enumerateEndpoints(spec);
  const perModel = new Map<string, number>();
  const explicit = new Set<string>();
  for (const { fn } of placed) {
    const n = meta.get(fn)?.name;
    if (n !== undefined && n !== null) explicit.add(n);
  }
  const seen = new Set<string>();
  const devices: PlannedDevice[] = [];
  for (const { fn, bdf: addr } of placed) {
    const mt = meta.get(fn);
    const modelName = fn.device.spec.model;
    let name = mt?.name ?? null;
    if (name === null) {
      let i = perModel.get(modelName) ?? 0;
      while (explicit.has(`${modelName}${i}`)) i++;
      name = `${modelName}${i}`;
      perModel.set(modelName, i + 1);
    } else if (seen.has(name)) {
      errors.push({ path: [...(mt?.path ?? [...basePath]), 'name'], message: `duplicate device name '${name}'` });
    }
    seen.add(name);
    devices.push({ name, bdf: addr, model: modelName, path: mt?.path ?? [...basePath] });
  }
  return { plan: { spec, devices, policy: spec.urPolicy ?? 'log', kernelConfig: m?.kernel_config ?? 'debug' }, errors };
}
