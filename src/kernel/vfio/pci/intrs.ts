import {
  VFIO_IRQ_SET_ACTION_MASK, VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_ACTION_TYPE_MASK, VFIO_IRQ_SET_ACTION_UNMASK,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_PCI_ERR_IRQ_INDEX, VFIO_PCI_INTX_IRQ_INDEX, VFIO_PCI_MSI_IRQ_INDEX, VFIO_PCI_MSIX_IRQ_INDEX,
  VFIO_PCI_NUM_IRQS, VFIO_PCI_REQ_IRQ_INDEX,
} from '../../../uapi/vfio.js';
import { EINVAL, ENOTTY } from '../../errno.js';
import { type EventfdCtx, eventfdCtxFdget, eventfdCtxPut, eventfdSignal } from '../../fs/eventfd.js';
import { irqBypass, type IrqBypassProducer } from '../../irqbypass/irqbypass.js';
import type { IrqTable } from '../../irq/irq.js';
import type { Kernel } from '../../kernel.js';
import { pciAllocIrqVectors, pciFreeIrqVectors, pciWriteMsiMsg, freeMsiIrq, requestMsiIrq } from '../../pci/msi.js';
import { threadProcess } from '../../proc.js';
import type { Task } from '../../sched/task.js';
import { vfioPciMemoryLockAndEnable, vfioPciMemoryUnlockAndRestore } from './memory-lock.js';
import type { VfioPciDevice } from './vfio-pci-device.js';

/** vfio_pci_memory_lock_and_enable / vfio_pci_memory_unlock_and_restore (drivers/vfio/pci/vfio_pci.c, 5.8): run `body` between them when the variant wraps each MSI callout (v3). */
function* lockedCallout<T>(k: Kernel, vdev: VfioPciDevice, body: () => Task<T>): Task<T> {
  if (k.knobs.msiMemoryLock !== 'callouts') return yield* body();
  const cmd = yield* vfioPciMemoryLockAndEnable(vdev);
  const r = yield* body();
  yield* vfioPciMemoryUnlockAndRestore(vdev, cmd);
  return r;
}

/** vfio_msihandler (drivers/vfio/pci/vfio_pci_intrs.c, 5.8): the MSI/MSI-X interrupt signals the vector's trigger eventfd. */
function vfioMsihandler(_irq: number, trigger: EventfdCtx): void {
  eventfdSignal(trigger, 1);
}

/** vfio_msi_enable (drivers/vfio/pci/vfio_pci_intrs.c, 5.8) */
function* msiEnable(k: Kernel, irqs: IrqTable, vdev: VfioPciDevice, nvec: number, msix: boolean): Task<number> {
  if (vdev.irqType !== VFIO_PCI_NUM_IRQS || vdev.ctx.length > 0) return -EINVAL;
  vdev.ctx = Array.from({ length: nvec }, () => ({ trigger: null, name: '', producer: null }));
  const ret = yield* lockedCallout(k, vdev, function* () {
    const r = yield* pciAllocIrqVectors(k, irqs, vdev.pdev, 1, nvec, msix);
    if (r < nvec && r > 0) yield* pciFreeIrqVectors(k, irqs, vdev.pdev);
    return r;
  });
  if (ret < nvec) {
    vdev.ctx = [];
    return ret < 0 ? ret : -ENOTTY;
  }
  vdev.numCtx = nvec;
  vdev.irqType = msix ? VFIO_PCI_MSIX_IRQ_INDEX : VFIO_PCI_MSI_IRQ_INDEX;
  if (!msix) vdev.msiQmax = Math.ceil(Math.log2(nvec));
  return 0;
}

/** vfio_msi_set_vector_signal (drivers/vfio/pci/vfio_pci_intrs.c, 5.8) */
function* msiSetVectorSignal(k: Kernel, irqs: IrqTable, vdev: VfioPciDevice, vector: number, fd: number, msix: boolean): Task<number> {
  if (vector < 0 || vector >= vdev.numCtx) return -EINVAL;
  const c = vdev.ctx[vector];
  if (c === undefined) return -EINVAL;
  if (c.trigger !== null) {
    if (c.producer !== null) yield* irqBypass(k).unregisterProducer(c.producer);
    c.producer = null;
    yield* lockedCallout(k, vdev, () => freeMsiIrq(k, irqs, vdev.pdev, vector));
    eventfdCtxPut(c.trigger);
    c.trigger = null;
  }
  if (fd < 0) return 0;
  const proc = threadProcess(k.sched.current);
  if (proc === null) return -EINVAL;
  const trigger = eventfdCtxFdget(proc, fd);
  if (typeof trigger === 'number') return trigger;
  c.name = `vfio-msi${msix ? 'x' : ''}[${vector}](${vdev.name})`;
  const ret = yield* lockedCallout(k, vdev, function* () {
    if (msix) yield* pciWriteMsiMsg(k, vdev.pdev, vector); // restore the cached message (backdoor resets)
    return yield* requestMsiIrq(k, irqs, vdev.pdev, vector, vfioMsihandler, c.name, trigger);
  });
  if (ret !== 0) {
    eventfdCtxPut(trigger);
    return ret;
  }
  // irq_bypass_register_producer: after memory_lock is released in v3 (the fix for v2's
  // cycle); under 'whole-ioctl' the caller still holds it. A failure is only logged.
  const producer: IrqBypassProducer = { token: trigger, irq: vdev.pdev.irqs[vector] ?? -1, name: c.name };
  if ((yield* irqBypass(k).registerProducer(producer)) === 0) c.producer = producer;
  c.trigger = trigger;
  return 0;
}

/** vfio_msi_set_block (drivers/vfio/pci/vfio_pci_intrs.c, 5.8) */
function* msiSetBlock(k: Kernel, irqs: IrqTable, vdev: VfioPciDevice, start: number, fds: readonly number[], msix: boolean): Task<number> {
  if (start >= vdev.numCtx || start + fds.length > vdev.numCtx) return -EINVAL;
  let ret = 0;
  let i = 0;
  for (; i < fds.length && ret === 0; i++) ret = yield* msiSetVectorSignal(k, irqs, vdev, start + i, fds[i] ?? -1, msix);
  if (ret !== 0) for (let j = start; j < start + i - 1; j++) yield* msiSetVectorSignal(k, irqs, vdev, j, -1, msix);
  return ret;
}

/** vfio_msi_disable (drivers/vfio/pci/vfio_pci_intrs.c, 5.8) */
export function* msiDisable(k: Kernel, irqs: IrqTable, vdev: VfioPciDevice, msix: boolean): Task<void> {
  for (let i = 0; i < vdev.numCtx; i++) yield* msiSetVectorSignal(k, irqs, vdev, i, -1, msix);
  yield* lockedCallout(k, vdev, () => pciFreeIrqVectors(k, irqs, vdev.pdev));
  vdev.irqType = VFIO_PCI_NUM_IRQS;
  vdev.numCtx = 0;
  vdev.ctx = [];
}

/** The payload of SET_IRQS after the header: eventfds (s32) or bools (u8). */
export type IrqSetData = { kind: 'none' } | { kind: 'bool'; values: readonly boolean[] } | { kind: 'eventfd'; fds: readonly number[] };

/** vfio_pci_set_msi_trigger (drivers/vfio/pci/vfio_pci_intrs.c, 5.8) */
function* setMsiTrigger(k: Kernel, irqs: IrqTable, vdev: VfioPciDevice, index: number, start: number, count: number, flags: number, data: IrqSetData): Task<number> {
  const msix = index === VFIO_PCI_MSIX_IRQ_INDEX;
  if (vdev.irqType === index && count === 0 && (flags & VFIO_IRQ_SET_DATA_NONE) !== 0) {
    yield* msiDisable(k, irqs, vdev, msix);
    return 0;
  }
  if (!(vdev.irqType === index || vdev.irqType === VFIO_PCI_NUM_IRQS)) return -EINVAL;
  if (data.kind === 'eventfd') {
    if (vdev.irqType === index) return yield* msiSetBlock(k, irqs, vdev, start, data.fds, msix);
    let ret = yield* msiEnable(k, irqs, vdev, start + count, msix);
    if (ret !== 0) return ret;
    ret = yield* msiSetBlock(k, irqs, vdev, start, data.fds, msix);
    if (ret !== 0) yield* msiDisable(k, irqs, vdev, msix);
    return ret;
  }
  if (vdev.irqType !== index || start + count > vdev.numCtx) return -EINVAL;
  for (let i = start; i < start + count; i++) {
    const t = vdev.ctx[i]?.trigger ?? null;
    if (t === null) continue;
    if (data.kind === 'none' || (data.kind === 'bool' && data.values[i - start] === true)) eventfdSignal(t, 1);
  }
  return 0;
}

/** vfio_pci_set_ctx_trigger_single (drivers/vfio/pci/vfio_pci_intrs.c, 5.8): ERR and REQ triggers. */
function* setCtxTriggerSingle(k: Kernel, vdev: VfioPciDevice, which: 'err' | 'req', count: number, flags: number, data: IrqSetData): Task<number> {
  yield { op: 'irq', obj: `igate-data:${vdev.name}`, access: 'w' };
  const get = (): EventfdCtx | null => (which === 'err' ? vdev.errTrigger : vdev.reqTrigger);
  const set = (v: EventfdCtx | null): void => {
    if (which === 'err') vdev.errTrigger = v;
    else vdev.reqTrigger = v;
  };
  if (count === 0 && (flags & VFIO_IRQ_SET_DATA_NONE) !== 0) {
    set(null);
    return 0;
  }
  if (data.kind === 'none') {
    const t = get();
    if (t !== null) eventfdSignal(t, 1);
    return 0;
  }
  if (data.kind === 'bool') {
    const t = get();
    if (t !== null && data.values[0] === true) eventfdSignal(t, 1);
    return 0;
  }
  const fd = data.fds[0] ?? -1;
  if (fd === -1) {
    set(null);
    return 0;
  }
  const proc = threadProcess(k.sched.current);
  if (proc === null) return -EINVAL;
  const ctx = eventfdCtxFdget(proc, fd);
  if (typeof ctx === 'number') return ctx;
  set(ctx);
  return 0;
}

/**
 * vfio_pci_set_irqs_ioctl (drivers/vfio/pci/vfio_pci_intrs.c, 5.8), called with igate
 * held. INTx is not modelled (returns -ENOTTY, documented).
 */
export function* vfioPciSetIrqsIoctl(k: Kernel, irqs: IrqTable, vdev: VfioPciDevice, flags: number, index: number, start: number, count: number, data: IrqSetData): Task<number> {
  const action = flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
  switch (index) {
    case VFIO_PCI_MSI_IRQ_INDEX:
    case VFIO_PCI_MSIX_IRQ_INDEX:
      if (action === VFIO_IRQ_SET_ACTION_TRIGGER) {
        if (k.knobs.msiMemoryLock !== 'whole-ioctl') return yield* setMsiTrigger(k, irqs, vdev, index, start, count, flags, data);
        // patch v2: memory_lock (write, MEM enabled) across the whole MSI/MSI-X trigger path
        const cmd = yield* vfioPciMemoryLockAndEnable(vdev);
        const r = yield* setMsiTrigger(k, irqs, vdev, index, start, count, flags, data);
        yield* vfioPciMemoryUnlockAndRestore(vdev, cmd);
        return r;
      }
      if (action === VFIO_IRQ_SET_ACTION_MASK || action === VFIO_IRQ_SET_ACTION_UNMASK) return -ENOTTY;
      return -ENOTTY;
    case VFIO_PCI_ERR_IRQ_INDEX:
      if (action === VFIO_IRQ_SET_ACTION_TRIGGER && vdev.pdev.isPcie) return yield* setCtxTriggerSingle(k, vdev, 'err', count, flags, data);
      return -ENOTTY;
    case VFIO_PCI_REQ_IRQ_INDEX:
      if (action === VFIO_IRQ_SET_ACTION_TRIGGER) return yield* setCtxTriggerSingle(k, vdev, 'req', count, flags, data);
      return -ENOTTY;
    case VFIO_PCI_INTX_IRQ_INDEX:
    default:
      return -ENOTTY;
  }
}
