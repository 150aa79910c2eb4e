/**
 * IRQ bypass manager (virt/lib/irqbypass.c, 5.8): producers (vfio MSI vectors) and
 * consumers (KVM irqfds) that share a token (the eventfd context) are connected under one
 * global mutex — the static `lock` of irqbypass.c, which lockdep calls "lock#N" — and
 * connecting calls into the consumer (KVM). That call under the global mutex is the edge
 * irqbypass → kvm->lock of Qian Cai's v2 report (spec §3.4).
 */
import { EBUSY } from '../errno.js';
import type { Kernel } from '../kernel.js';
import type { Mutex } from '../locking/mutex.js';
import type { Task } from '../sched/task.js';
import { SideTable } from '../../util/side-table.js';

/** struct irq_bypass_producer */
export interface IrqBypassProducer {
  readonly token: object;
  readonly irq: number;
  readonly name: string;
}

/** struct irq_bypass_consumer */
export interface IrqBypassConsumer {
  readonly token: object;
  readonly name: string;
  addProducer(prod: IrqBypassProducer): Task<number>;
  delProducer(prod: IrqBypassProducer): Task<void>;
}

/** The manager's state: the two lists and their mutex. */
export class IrqBypass {
  readonly lock: Mutex;
  readonly producers: IrqBypassProducer[] = [];
  readonly consumers: IrqBypassConsumer[] = [];
  /** Producer/consumer pairs currently connected. */
  connections = 0;

  constructor(k: Kernel) {
    this.lock = k.mutex('lock', 'irqbypass:lock');
  }

  /** __connect (virt/lib/irqbypass.c, 5.8): the consumer's add_producer (no producer callbacks in vfio). */
  private *connect(prod: IrqBypassProducer, cons: IrqBypassConsumer): Task<number> {
    const ret = yield* cons.addProducer(prod);
    if (ret === 0) this.connections++;
    return ret;
  }

  /** __disconnect (virt/lib/irqbypass.c, 5.8) */
  private *disconnect(prod: IrqBypassProducer, cons: IrqBypassConsumer): Task<void> {
    yield* cons.delProducer(prod);
    this.connections--;
  }

  /** irq_bypass_register_producer (virt/lib/irqbypass.c, 5.8): -EBUSY for a duplicate token. */
  *registerProducer(prod: IrqBypassProducer): Task<number> {
    const fn = 'irq_bypass_register_producer';
    yield* this.lock.lock(fn);
    let ret = 0;
    if (this.producers.some((p) => p.token === prod.token)) ret = -EBUSY;
    else {
      const cons = this.consumers.find((c) => c.token === prod.token);
      if (cons !== undefined) ret = yield* this.connect(prod, cons);
      if (ret === 0) this.producers.push(prod);
    }
    yield* this.lock.unlock(fn);
    return ret;
  }

  /** irq_bypass_unregister_producer (virt/lib/irqbypass.c, 5.8) */
  *unregisterProducer(prod: IrqBypassProducer): Task<void> {
    const fn = 'irq_bypass_unregister_producer';
    yield* this.lock.lock(fn);
    const i = this.producers.indexOf(prod);
    if (i >= 0) {
      const cons = this.consumers.find((c) => c.token === prod.token);
      if (cons !== undefined) yield* this.disconnect(prod, cons);
      this.producers.splice(i, 1);
    }
    yield* this.lock.unlock(fn);
  }

  /** irq_bypass_register_consumer (virt/lib/irqbypass.c, 5.8): -EBUSY for a duplicate token. */
  *registerConsumer(cons: IrqBypassConsumer): Task<number> {
    const fn = 'irq_bypass_register_consumer';
    yield* this.lock.lock(fn);
    let ret = 0;
    if (this.consumers.some((c) => c.token === cons.token)) ret = -EBUSY;
    else {
      const prod = this.producers.find((p) => p.token === cons.token);
      if (prod !== undefined) ret = yield* this.connect(prod, cons);
      if (ret === 0) this.consumers.push(cons);
    }
    yield* this.lock.unlock(fn);
    return ret;
  }

  /** irq_bypass_unregister_consumer (virt/lib/irqbypass.c, 5.8) */
  *unregisterConsumer(cons: IrqBypassConsumer): Task<void> {
    const fn = 'irq_bypass_unregister_consumer';
    yield* this.lock.lock(fn);
    const i = this.consumers.indexOf(cons);
    if (i >= 0) {
      const prod = this.producers.find((p) => p.token === cons.token);
      if (prod !== undefined) yield* this.disconnect(prod, cons);
      this.consumers.splice(i, 1);
    }
    yield* this.lock.unlock(fn);
  }
}

const managers = new SideTable<Kernel, IrqBypass>('managers');

/** The irqbypass manager of kernel `k` (one per kernel, like the module's globals). */
export function irqBypass(k: Kernel): IrqBypass {
  let m = managers.get(k);
  if (m === undefined) {
    m = new IrqBypass(k);
    managers.set(k, m);
  }
  return m;
}

