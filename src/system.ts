/**
 * A whole simulated system: the machine (hw/), the booted kernel with the PCI core,
 * IRQs, the VFIO core, type1 and the vfio-pci driver bound to the chosen devices, and
 * user processes. This is the library's front door.
 */
import { EventStream } from './events/stream.js';
import { createMachine, defaultMachineSpec, type Machine, type MachineSpec } from './hw/index.js';
import { IrqTable } from './kernel/irq/irq.js';
import { Kernel, type KernelConfig } from './kernel/kernel.js';
import type { Lockdep, LockdepOptions } from './kernel/lockdep/lockdep.js';
import { PciCore } from './kernel/pci/core.js';
import { pciResetFunctionLocked } from './kernel/pci/reset.js';
import { VfioIommuType1 } from './kernel/vfio/type1/type1.js';
import { VfioCore } from './kernel/vfio/vfio.js';
import { VfioPciDriver } from './kernel/vfio/pci/vfio-pci.js';
import { kvmInit, type KvmModule } from './kernel/kvm/kvm.js';
import type { VfioPciDevice } from './kernel/vfio/pci/vfio-pci-device.js';
import { findVariant, knobConflicts, type Knobs, type VariantPreset, VARIANT_5_8, VARIANTS } from './kernel/variant/knobs.js';
import { Process } from './user/process.js';

export interface SystemOptions {
  /** The machine to build (default: defaultMachineSpec(): two edu devices and a NIC behind root ports). */
  readonly machine?: MachineSpec;
  /** A variant name ('5.8', '5.7'), a preset, or raw knobs (default '5.8'). */
  readonly variant?: string | VariantPreset | Knobs;
  /** Functions to bind to vfio-pci (default: every endpoint but the host bridge whose device names no guest driver, DeviceSpec.hostDriver). */
  readonly bind?: (name: string) => boolean;
  /** Keep at most this many events in memory (default: all). */
  readonly eventCapacity?: number;
  /**
   * Run the lock validator (lockdep): true/false, or its options. Default: on (LOCKDEP_DEFAULT).
   * Reports go to `sys.lockdep.reports` and the event stream ('lockdep' events).
   */
  readonly lockdep?: boolean | LockdepOptions;
  /**
   * How the kernel was built: 'debug' (CONFIG_LOCKDEP and the debug checks on; the default)
   * or 'distro' (as distributions ship it, e.g. Debian: no lockdep, so no lockdep reports
   * and no lockdep-only assertions). 'distro' with `lockdep` on is refused.
   */
  readonly kernelConfig?: KernelConfig;
}

export { KERNEL_CONFIGS, type KernelConfig } from './kernel/kernel.js';

/** Whether a System runs lockdep when SystemOptions.lockdep is not given. */
export const LOCKDEP_DEFAULT = true;

/** The release string lockdep reports print: the variant's version when known. */
function kernelRelease(v: SystemOptions['variant']): string {
  const name = v === undefined ? VARIANT_5_8.name : typeof v === 'string' ? v : 'knobs' in v ? v.name : null;
  return name === null ? 'vfio-sim' : `${/^\d+\.\d+$/.test(name) ? `${name}.0` : name}-vfio-sim`;
}

function resolveKnobs(v: SystemOptions['variant']): Knobs {
  if (v === undefined) return VARIANT_5_8.knobs;
  if (typeof v === 'string') {
    const p = findVariant(v);
    if (p === undefined) throw new RangeError(`unknown variant '${v}' (known: ${VARIANTS.map((x) => x.name).join(', ')})`);
    return p.knobs;
  }
  const knobs = 'knobs' in v ? v.knobs : v;
  const conflicts = knobConflicts(knobs);
  if (conflicts.length > 0) throw new RangeError(`inconsistent knobs: ${conflicts.join('; ')}`);
  return knobs;
}

export class System {
  readonly events: EventStream;
  readonly hw: Machine;
  readonly kernel: Kernel;
  readonly pci: PciCore;
  readonly irqs: IrqTable;
  readonly vfio: VfioCore;
  readonly type1: VfioIommuType1;
  readonly vfioPci: VfioPciDriver;
  /** KVM's sliver (/dev/kvm): VMs, vcpus, irqfds, KVM devices. */
  readonly kvm: KvmModule;
  private readonly bootProc: Process;

  constructor(opts: SystemOptions = {}) {
    this.events = new EventStream(opts.eventCapacity ?? Infinity);
    this.hw = createMachine(opts.machine ?? defaultMachineSpec(), this.events);
    if (opts.kernelConfig === 'distro' && opts.lockdep !== undefined && opts.lockdep !== false) {
      throw new RangeError("lockdep needs kernelConfig 'debug' (a 'distro' kernel is built without CONFIG_LOCKDEP)");
    }
    const ld = opts.kernelConfig === 'distro' ? false : (opts.lockdep ?? LOCKDEP_DEFAULT);
    this.kernel = new Kernel(this.hw, resolveKnobs(opts.variant), {
      config: opts.kernelConfig ?? 'debug',
      lockdep: ld === false ? false : { release: kernelRelease(opts.variant), ...(ld === true ? {} : ld) },
    });
    const k = this.kernel;
    this.pci = new PciCore(k);
    this.irqs = new IrqTable(k);
    this.vfio = new VfioCore(k);
    this.type1 = new VfioIommuType1(k);
    this.vfio.registerIommuDriver(this.type1);
    this.vfioPci = new VfioPciDriver(k, this.pci, this.vfio, this.irqs);
    this.kvm = kvmInit(k);
    // boot: probe reset methods (pci_probe_reset_function), bind endpoints to vfio-pci
    this.bootProc = Process.create(k, 'kworker/boot');
    // a function whose device names a guest driver (DeviceSpec.hostDriver) stays with it unless `bind` says otherwise
    const hostDriverOf = (name: string): string | null => this.hw.findFunction(name)?.tpl.hostDriver ?? null;
    // the host bridge (class 0x0600) keeps no driver: nobody binds it to vfio-pci on a real host
    const isHostBridge = (name: string): boolean => this.hw.findFunction(name)?.tpl.model === 'host-bridge';
    const bind = opts.bind ?? ((name: string) => hostDriverOf(name) === null && !isHostBridge(name));
    for (const d of this.pci.devs) {
      d.resetFn = k.sched.runSync(this.bootProc.kthread, pciResetFunctionLocked(k, this.pci, d, true)) === 0;
    }
    for (const d of this.pci.devs) {
      if (d.fn.isBridge) continue;
      if (bind(d.name)) this.vfioPci.probe(d);
      else {
        const drv = hostDriverOf(d.name);
        if (drv !== null) {
          d.driver = drv;
          this.vfio.setDriver(d.fn, drv);
        }
      }
    }
  }

  /** A new user process with one thread. */
  spawnProcess(name: string): Process {
    return Process.create(this.kernel, name);
  }

  /** The vfio-pci driver state of a bound device (for inspection in tests and tools). */
  vfioDevice(name: string): VfioPciDevice | undefined {
    return this.vfioPci.devices.find((d) => d.name === name);
  }

  /** The lock validator, or null when the System was built with `lockdep: false`. */
  get lockdep(): Lockdep | null {
    return this.kernel.lockdep;
  }

  /** Unsupported Requests so far. */
  get platformErrors(): number {
    return this.hw.platform.urCount;
  }
}
