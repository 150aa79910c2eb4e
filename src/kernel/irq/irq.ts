import type { PciFunctionHw } from '../../hw/api.js';
import { inMsiWindow } from '../../hw/bits32.js';
import type { Kernel } from '../kernel.js';

/**
 * An interrupt handler (irq_handler_t): a module-level function, called with the irq and
 * the `dev_id` given to request_irq (the handler's state lives in that object, never in a
 * closure: a snapshot of the world copies objects, not closures); runs synchronously when
 * the interrupt arrives.
 */
export type IrqHandler = (irq: number, devId: never) => void;

interface IrqDesc {
  handler: IrqHandler | null;
  devId: unknown;
  name: string;
  dev: string;
  vector: number;
}

/** MSI address the model's interrupt controller decodes (x86 APIC window). */
export const MSI_ADDR_BASE = 0xfee00000;

/**
 * Linux irq descriptors for MSI/MSI-X vectors (kernel/irq/, the x86 MSI irq domain,
 * 5.8, much reduced): irq numbers are allocated per vector; a message's data field is
 * the irq number, so an MSI write is dispatched to that irq's handler.
 */
export class IrqTable {
  private readonly descs = new Map<number, IrqDesc>();
  private next = 32;

  constructor(private readonly k: Kernel) {
    k.hw.setMsiHandler(this);
  }

  /** irq_domain_alloc_irqs: `n` consecutive irqs, base aligned to a power of two >= n. */
  alloc(dev: string, n: number): number[] {
    let align = 1;
    while (align < n) align *= 2;
    const base = Math.ceil(this.next / align) * align;
    this.next = base + n;
    const irqs: number[] = [];
    for (let i = 0; i < n; i++) {
      this.descs.set(base + i, { handler: null, devId: null, name: '', dev, vector: i });
      irqs.push(base + i);
    }
    return irqs;
  }

  free(irqs: readonly number[]): void {
    for (const i of irqs) this.descs.delete(i);
  }

  /** request_irq (kernel/irq/manage.c, 5.8): install a handler; -EBUSY if one is present. */
  request<D>(irq: number, handler: (irq: number, devId: D) => void, name: string, devId: D): number {
    const d = this.descs.get(irq);
    if (d === undefined) return -22;
    if (d.handler !== null) return -16;
    d.handler = handler as IrqHandler;
    d.devId = devId;
    d.name = name;
    return 0;
  }

  /** free_irq (kernel/irq/manage.c, 5.8) */
  freeIrq(irq: number): void {
    const d = this.descs.get(irq);
    if (d !== undefined) {
      d.handler = null;
      d.devId = null;
    }
  }

  hasHandler(irq: number): boolean {
    return this.descs.get(irq)?.handler != null;
  }

  /** The MSI sink (MsiSink): an MSI write reached the interrupt controller. */
  deliverMsi(addr: number, data: number, source: PciFunctionHw): void {
    if (!inMsiWindow(addr)) return;
    const d = this.descs.get(data);
    this.k.events.emit({ kind: 'irq', irq: data, dev: source.name, vector: d?.vector ?? -1, eventfd: null });
    if (d !== undefined && d.handler !== null) d.handler(data, d.devId as never);
  }
}
