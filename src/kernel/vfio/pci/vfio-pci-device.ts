import type { VfioDevice } from '../device.js';
import type { Kernel } from '../../kernel.js';
import type { Mutex } from '../../locking/mutex.js';
import type { RwSemaphore } from '../../locking/rwsem.js';
import type { Vma } from '../../mm/types.js';
import type { PciDev, PciSavedState } from '../../pci/pci-dev.js';
import type { EventfdCtx } from '../../fs/eventfd.js';
import type { IrqBypassProducer } from '../../irqbypass/irqbypass.js';
import type { VfioPciIoeventfd } from './ioeventfd.js';
import { PCI_COMMAND, PCI_COMMAND_MEMORY } from '../../../uapi/pci-regs.js';
import { VFIO_PCI_NUM_IRQS } from '../../../uapi/vfio.js';

/** One interrupt context (struct vfio_pci_irq_ctx). */
export interface VfioPciIrqCtx {
  trigger: EventfdCtx | null;
  name: string;
  /** The irqbypass producer registered for this vector (token = trigger). */
  producer: IrqBypassProducer | null;
}

/** struct vfio_pci_device (drivers/vfio/pci/vfio_pci_private.h, 5.8). */
export class VfioPciDevice {
  vdev: VfioDevice | null = null;
  /** Readers: user MMIO paths. Writers: anything that changes or perturbs memory decode. */
  readonly memoryLock: RwSemaphore;
  /** Protects vmaList; nested under mmap_lock. */
  readonly vmaLock: Mutex;
  /** vma_list: tracking nodes (one per fault in 5.8: duplicates possible), head first. */
  readonly vmaList: Vma[] = [];
  /** Interrupt configuration lock. */
  readonly igate: Mutex;
  /** ioeventfds_lock: protects `ioeventfds`. */
  readonly ioeventfdsLock: Mutex;
  /** ioeventfds_list (newest first); its length is ioeventfds_nr. */
  readonly ioeventfds: VfioPciIoeventfd[] = [];
  refcnt = 0;
  resetWorks = false;
  needsReset = false;
  readonly barmap: boolean[] = [false, false, false, false, false, false, false];
  readonly barMmapSupported: boolean[] = [false, false, false, false, false, false];
  msixBar = 0xff;
  msixOffset = 0;
  msixSize = 0;
  /** Virtual config space (vconfig), null while closed. */
  vconfig: Uint8Array | null = null;
  /** Which capability each config byte belongs to (pci_config_map). */
  configMap: Uint8Array | null = null;
  /** BAR register values at open (rbar), for backdoor-reset detection. */
  rbar: number[] = [0, 0, 0, 0, 0, 0];
  bardirty = true;
  pciSavedState: PciSavedState | null = null;
  irqType = VFIO_PCI_NUM_IRQS;
  ctx: VfioPciIrqCtx[] = [];
  numCtx = 0;
  errTrigger: EventfdCtx | null = null;
  reqTrigger: EventfdCtx | null = null;
  virqDisabled = false;
  msiQmax = 0;
  pmSave: Uint8Array | null = null;
  /**
   * pm_runtime_engaged (6.0+, VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY): the user asked for
   * runtime low power; fault handlers treat the device as disabled while it is set.
   */
  pmRuntimeEngaged = false;
  readonly needsPmRestore: boolean;

  constructor(
    k: Kernel,
    readonly pdev: PciDev,
    /** Shared by the devices of one slot/bus (struct vfio_pci_reflck). */
    readonly reflck: Mutex,
  ) {
    this.memoryLock = k.rwsem('&vdev->memory_lock', `memory_lock:${pdev.name}`);
    this.vmaLock = k.mutex('&vdev->vma_lock', `vma_lock:${pdev.name}`);
    this.igate = k.mutex('&vdev->igate', `igate:${pdev.name}`);
    this.ioeventfdsLock = k.mutex('&vdev->ioeventfds_lock', `ioeventfds_lock:${pdev.name}`);
    this.needsPmRestore = false;
  }

  get name(): string {
    return this.pdev.name;
  }

  /** The virtual command register (what the user last wrote, plus virtualized bits). */
  get vconfigCommand(): number {
    const v = this.vconfig;
    if (v === null) return 0;
    return (v[PCI_COMMAND] ?? 0) | ((v[PCI_COMMAND + 1] ?? 0) << 8);
  }
}

/**
 * __vfio_pci_memory_enabled (drivers/vfio/pci/vfio_pci_config.c, 5.8 with
 * ebfa440ce38b; 5.19 adds the D3hot test): the virtual command register's MEM bit, or
 * always true for a VF.
 * Caller holds memory_lock.
 */
export function memoryEnabled(k: Kernel, vdev: VfioPciDevice): boolean {
  // 2b2c651baf1c (5.19): memory cannot be accessed in D3hot
  if (k.knobs.d3hotBlocks && vdev.pdev.currentState === 'D3hot') return false;
  if (vdev.pdev.noCommandMemory) return true;
  return (vdev.vconfigCommand & PCI_COMMAND_MEMORY) !== 0;
}

/**
 * What the fault handlers test under memory_lock (vfio_pci_mmap_fault, 6.0+ adds
 * pm_runtime_engaged): memory is enabled and the user has not put the device into
 * runtime low power.
 */
export function faultMayMap(k: Kernel, vdev: VfioPciDevice): boolean {
  return !vdev.pmRuntimeEngaged && memoryEnabled(k, vdev);
}
