import { PAGE_SHIFT, PAGE_SIZE } from '../../../hw/api.js';
import { PCI_COMMAND, PCI_COMMAND_MEMORY } from '../../../uapi/pci-regs.js';
import { VFIO_PCI_NUM_REGIONS, VFIO_PCI_OFFSET_SHIFT, VFIO_PCI_ROM_REGION_INDEX } from '../../../uapi/vfio.js';
import { EINVAL } from '../../errno.js';
import type { Kernel } from '../../kernel.js';
import { mmgetNotZero, mmgetStillValid, mmput, remapPfnRange, zapVmaPtes } from '../../mm/index.js';
import {
  FAULT_FLAG_ALLOW_RETRY, FAULT_FLAG_RETRY_NOWAIT, type MmStructRef, type Vma, type VmFault, type VmOperations, VM_DONTDUMP,
  VM_DONTEXPAND, VM_FAULT_NOPAGE, VM_FAULT_RETRY, VM_FAULT_SIGBUS, VM_IO, VM_PFNMAP, VM_SHARED,
} from '../../mm/types.js';
import { pciReadConfig, pciWriteConfig } from '../../pci/pci-dev.js';
import { FINISHED, StepTask, type Task, type Yielded } from '../../sched/task.js';
import { removeAt } from '../../locking/mutex.js';
import { faultMayMap, type VfioPciDevice } from './vfio-pci-device.js';
import { vfioPciMmapAddressSpace, zapBarsAndDownWriteMemoryLock } from './mmap-mapping.js';

/**
 * vfio_pci_zap_and_vma_lock (drivers/vfio/pci/vfio_pci.c, 5.8): zap every tracked vma,
 * honouring mmap_lock → vma_lock. Returns true holding vma_lock with vma_list empty;
 * with `tryOnly`, false on any contention, holding nothing.
 */
export function zapAndVmaLock(k: Kernel, vdev: VfioPciDevice, tryOnly: boolean): Task<boolean> {
  return new ZapAndVmaLock(k, vdev, tryOnly);
}

const ZAP_FN = 'vfio_pci_zap_and_vma_lock';

/** vfio_pci_zap_and_vma_lock (drivers/vfio/pci/vfio_pci.c, 5.8) as a StepTask (no generator on the disable path). */
class ZapAndVmaLock extends StepTask<boolean> {
  private zapped = 0;
  /** The mm whose vmas this round zaps (set from state 2 on). */
  private mm: MmStructRef | null = null;
  /** Index into vma_list of the zap loop. */
  private i = 0;

  constructor(
    private readonly k: Kernel,
    private readonly vdev: VfioPciDevice,
    private readonly tryOnly: boolean,
  ) {
    super();
  }

  /** The round's mm (states 3 and later run after state 2 set it). */
  private roundMm(): MmStructRef {
    const mm = this.mm;
    if (mm === null) throw new Error('vfio_pci_zap_and_vma_lock: no mm');
    return mm;
  }

  protected run(): IteratorResult<Yielded, boolean> {
    const { k, vdev, tryOnly } = this;
    const fn = ZAP_FN;
    for (;;) {
      switch (this.pc) {
        case 0: {
          // a round: vma_lock, then the first vma whose mm is still alive
          this.mm = null;
          if (tryOnly) {
            const s = this.call(vdev.vmaLock.trylock(fn), 1);
            if (s !== null) return s;
            continue;
          }
          this.pc = 2;
          {
            const s = this.call(vdev.vmaLock.lock(fn), 2);
            if (s !== null) return s;
          }
          continue;
        }
        case 1:
          if (!(this.got as boolean)) return this.finish(false);
          this.pc = 2;
          continue;
        case 2: {
          let mm: MmStructRef | null = null;
          while (vdev.vmaList.length > 0) {
            const vma = vdev.vmaList[0] as Vma;
            mm = vma.mm;
            if (mmgetNotZero(mm)) break;
            vdev.vmaList.shift();
            k.events.emit({ kind: 'vfio.vma-track', dev: vdev.name, op: 'del', mm: mm.id, start: vma.start, end: vma.end });
            mm = null;
          }
          if (mm === null) {
            if (this.zapped > 0 || !tryOnly) {
              if (k.events.active) k.events.emit({ kind: 'vfio.zap', dev: vdev.name, vmas: this.zapped, fn });
              else k.events.skipCounted(k.events.hot.vfioZap);
            }
            return this.finish(true);
          }
          this.mm = mm;
          this.pc = 3;
          {
            const s = this.call(vdev.vmaLock.unlock(fn), 3);
            if (s !== null) return s;
          }
          continue;
        }
        case 3: {
          const mm = this.roundMm();
          if (tryOnly) {
            const s = this.call(mm.mmapLock.downReadTrylock(fn), 4);
            if (s !== null) return s;
            continue;
          }
          this.pc = 6;
          {
            const s = this.call(mm.mmapLock.downRead(fn), 6);
            if (s !== null) return s;
          }
          continue;
        }
        case 4: {
          if (this.got as boolean) {
            this.pc = 6;
            continue;
          }
          const s = this.call(mmput(k, this.roundMm()), 5);
          if (s !== null) return s;
          continue;
        }
        case 5:
          return this.finish(false);
        case 6: {
          const mm = this.roundMm();
          if (!mmgetStillValid(mm)) {
            this.pc = 12;
            continue;
          }
          if (tryOnly) {
            const s = this.call(vdev.vmaLock.trylock(fn), 7);
            if (s !== null) return s;
            continue;
          }
          this.pc = 10;
          {
            const s = this.call(vdev.vmaLock.lock(fn), 10);
            if (s !== null) return s;
          }
          continue;
        }
        case 7: {
          if (this.got as boolean) {
            this.pc = 10;
            continue;
          }
          const mm = this.roundMm();
          this.pc = 8;
          {
            const s = this.call(mm.mmapLock.upRead(fn), 8);
            if (s !== null) return s;
          }
          continue;
        }
        case 8: {
          const s = this.call(mmput(k, this.roundMm()), 9);
          if (s !== null) return s;
          continue;
        }
        case 9:
          return this.finish(false);
        case 10:
          this.i = 0;
          this.pc = 11;
          continue;
        case 11: {
          // zap and untrack every vma of this mm (vma_list may change while a zap sleeps)
          const mm = this.roundMm();
          const list = vdev.vmaList;
          while (this.i < list.length) {
            const vma = list[this.i] as Vma;
            if (vma.mm !== mm) {
              this.i++;
              continue;
            }
            removeAt(list, this.i);
            if (k.events.active) k.events.emit({ kind: 'vfio.vma-track', dev: vdev.name, op: 'del', mm: mm.id, start: vma.start, end: vma.end });
            else k.events.skipCounted(k.events.hot.vmaTrack);
            const s = this.call(zapVmaPtes(k, vma, vma.start, vma.end - vma.start), 13);
            if (s !== null) return s;
            this.zapped++;
          }
          this.pc = 12;
          {
            const s = this.call(vdev.vmaLock.unlock(fn), 12);
            if (s !== null) return s;
          }
          continue;
        }
        case 13:
          // a zap that slept has finished
          this.zapped++;
          this.pc = 11;
          continue;
        case 12: {
          // (reached from the zap loop's unlock, or directly when mmget_still_valid failed)
          const mm = this.roundMm();
          this.pc = 14;
          {
            const s = this.call(mm.mmapLock.upRead(fn), 14);
            if (s !== null) return s;
          }
          continue;
        }
        case 14: {
          const m = mmput(k, this.roundMm());
          this.pc = 0;
          if (m !== FINISHED) {
            // the last reference: exit_mmap
            const s = this.call(m, 0);
            if (s !== null) return s;
          }
          continue;
        }
        default:
          throw new Error(`ZapAndVmaLock: bad state ${this.pc}`);
      }
    }
  }
}

/**
 * vfio_pci_zap_and_down_write_memory_lock (drivers/vfio/pci/vfio_pci.c, 5.8; knob
 * zapOrder 'vma-lock-first'): zap, then take memory_lock for write while vma_list is
 * empty, then drop vma_lock. With zapOrder 'memory-lock-first' (patch series v1, spec
 * §3.3): down_write(memory_lock) first, then the mmap_lock → vma_lock zap walk, then
 * drop vma_lock — memory_lock → mmap_lock, the ABBA against the fault path that v1's
 * fault breaks with a trylock.
 */
export function zapAndDownWriteMemoryLock(k: Kernel, vdev: VfioPciDevice): Task<void> {
  return new ZapAndDownWriteMemoryLock(k, vdev);
}

const ZAP_DOWN_FN = 'vfio_pci_zap_and_down_write_memory_lock';

/** vfio_pci_zap_and_down_write_memory_lock (drivers/vfio/pci/vfio_pci.c, 5.8) as a StepTask. */
class ZapAndDownWriteMemoryLock extends StepTask<void> {
  constructor(
    private readonly k: Kernel,
    private readonly vdev: VfioPciDevice,
  ) {
    super();
  }

  protected run(): IteratorResult<Yielded, void> {
    const { k, vdev } = this;
    const fn = ZAP_DOWN_FN;
    for (;;) {
      switch (this.pc) {
        case 0: {
          if (k.knobs.zapMethod === 'address-space') {
            const s = this.call(zapBarsAndDownWriteMemoryLock(k, vdev), 9); // 6.10
            if (s !== null) return s;
            continue;
          }
          if (k.knobs.zapOrder === 'memory-lock-first') {
            this.pc = 1;
            {
              const s = this.call(vdev.memoryLock.downWrite(fn), 1);
              if (s !== null) return s;
            }
            continue;
          }
          const s = this.call(new ZapAndVmaLock(k, vdev, false), 4);
          if (s !== null) return s;
          continue;
        }
        case 1: {
          // memory-lock-first: the zap under memory_lock
          const s = this.call(new ZapAndVmaLock(k, vdev, false), 5);
          if (s !== null) return s;
          continue;
        }
        case 4: {
          // vma-lock-first: memory_lock while vma_list is empty
          this.pc = 5;
          {
            const s = this.call(vdev.memoryLock.downWrite(fn), 5);
            if (s !== null) return s;
          }
          continue;
        }
        case 5: {
          this.pc = 9;
          {
            const s = this.call(vdev.vmaLock.unlock(fn), 9);
            if (s !== null) return s;
          }
          continue;
        }
        case 9:
          return this.finish(undefined);
        default:
          throw new Error(`ZapAndDownWriteMemoryLock: bad state ${this.pc}`);
      }
    }
  }
}

/**
 * vfio_pci_memory_lock_and_enable (drivers/vfio/pci/vfio_pci.c, 5.8): write-lock
 * memory_lock and turn the hardware MEM bit on; returns the original command.
 */
export function* memoryLockAndEnable(vdev: VfioPciDevice): Task<number> {
  yield* vdev.memoryLock.downWrite('vfio_pci_memory_lock_and_enable');
  const cmd = yield* pciReadConfig(vdev.pdev, PCI_COMMAND, 2);
  if ((cmd & PCI_COMMAND_MEMORY) === 0) yield* pciWriteConfig(vdev.pdev, PCI_COMMAND, 2, cmd | PCI_COMMAND_MEMORY);
  return cmd;
}

/** vfio_pci_memory_unlock_and_restore (drivers/vfio/pci/vfio_pci.c, 5.8). */
export function* memoryUnlockAndRestore(vdev: VfioPciDevice, cmd: number): Task<void> {
  yield* pciWriteConfig(vdev.pdev, PCI_COMMAND, 2, cmd);
  yield* vdev.memoryLock.upWrite('vfio_pci_memory_unlock_and_restore');
}

/** vfio_pci_mmap_open (drivers/vfio/pci/vfio_pci.c, 5.8): zap the copy so it faults and gets tracked. */
function* mmapOpen(k: Kernel, vma: Vma): Task<void> {
  yield* zapVmaPtes(k, vma, vma.start, vma.end - vma.start);
}

/** vfio_pci_mmap_close (drivers/vfio/pci/vfio_pci.c, 5.8): drop the first tracking node of this vma. */
function* mmapClose(k: Kernel, vma: Vma): Task<void> {
  const vdev = vma.privateData as VfioPciDevice;
  yield* vdev.vmaLock.lock('vfio_pci_mmap_close');
  const i = vdev.vmaList.indexOf(vma);
  if (i >= 0) {
    vdev.vmaList.splice(i, 1);
    k.events.emit({ kind: 'vfio.vma-track', dev: vdev.name, op: 'del', mm: vma.mm.id, start: vma.start, end: vma.end });
  }
  yield* vdev.vmaLock.unlock('vfio_pci_mmap_close');
}

/**
 * vfio_pci_mmap_fault (drivers/vfio/pci/vfio_pci.c, 5.8 as merged; knob faultLocking
 * 'drop-before-remap'): vma_lock, then memory_lock for read; SIGBUS if memory is
 * disabled; otherwise push a tracking node (no duplicate check), drop vma_lock, and
 * remap the whole vma (defects H1/H2 live in that window). A StepTask (the refault of
 * every disable/enable cycle).
 */
class MmapFault extends StepTask<number> {
  private ret = 0;

  constructor(
    private readonly k: Kernel,
    private readonly vmf: VmFault,
  ) {
    super();
  }

  protected run(): IteratorResult<Yielded, number> {
    const fn = 'vfio_pci_mmap_fault';
    const vma = this.vmf.vma;
    const vdev = vma.privateData as VfioPciDevice;
    for (;;) {
      switch (this.pc) {
        case 0: {
          this.pc = 1;
          {
            const s = this.call(vdev.vmaLock.lock(fn), 1);
            if (s !== null) return s;
          }
          continue;
        }
        case 1: {
          this.pc = 2;
          {
            const s = this.call(vdev.memoryLock.downRead(fn), 2);
            if (s !== null) return s;
          }
          continue;
        }
        case 2: {
          const s = this.call(new CheckTrackRemap(this.k, vdev, vma, fn), 3);
          if (s !== null) return s;
          continue;
        }
        case 3: {
          this.ret = this.got as number;
          this.pc = 4;
          {
            const s = this.call(vdev.memoryLock.upRead(fn), 4);
            if (s !== null) return s;
          }
          continue;
        }
        case 4:
          return this.finish(this.ret);
        default:
          throw new Error(`MmapFault: bad state ${this.pc}`);
      }
    }
  }
}

/**
 * vfio_pci_mmap_fault (drivers/vfio/pci/vfio_pci.c, 5.8): its middle, entered with
 * vma_lock and memory_lock (read) held and leaving with only memory_lock: SIGBUS if the
 * device may not be mapped; otherwise push a tracking node (no duplicate check), drop
 * vma_lock, and remap the whole vma. A StepTask.
 */
class CheckTrackRemap extends StepTask<number> {
  constructor(
    private readonly k: Kernel,
    private readonly vdev: VfioPciDevice,
    private readonly vma: Vma,
    private readonly fn: string,
  ) {
    super();
  }

  protected run(): IteratorResult<Yielded, number> {
    const { k, vdev, vma, fn } = this;
    for (;;) {
      switch (this.pc) {
        case 0: {
          if (!faultMayMap(k, vdev)) {
            this.pc = 1;
            {
              const s = this.call(vdev.vmaLock.unlock(fn), 1);
              if (s !== null) return s;
            }
            continue;
          }
          addVma(k, vdev, vma);
          this.pc = 2;
          {
            const s = this.call(vdev.vmaLock.unlock(fn), 2);
            if (s !== null) return s;
          }
          continue;
        }
        case 1:
          k.events.emit({ kind: 'vfio.blocked', dev: vdev.name, path: 'fault', errno: 0, ...(vdev.pmRuntimeEngaged ? { lowPower: true as const } : {}) });
          return this.finish(VM_FAULT_SIGBUS);
        case 2: {
          const s = this.call(remapPfnRange(k, vma, vma.start, vma.pgoff, vma.end - vma.start, vma.pageProt, fn), 3);
          if (s !== null) return s;
          continue;
        }
        case 3:
          return this.finish((this.got as number) !== 0 ? VM_FAULT_SIGBUS : VM_FAULT_NOPAGE);
        default:
          throw new Error(`CheckTrackRemap: bad state ${this.pc}`);
      }
    }
  }
}

/** __vfio_pci_add_vma (drivers/vfio/pci/vfio_pci.c, 5.8): push a tracking node at the head of vma_list. Caller holds vma_lock. */
function addVma(k: Kernel, vdev: VfioPciDevice, vma: Vma): void {
  vdev.vmaList.unshift(vma);
  if (k.events.active) k.events.emit({ kind: 'vfio.vma-track', dev: vdev.name, op: 'add', mm: vma.mm.id, start: vma.start, end: vma.end });
  else k.events.skipCounted(k.events.hot.vmaTrack);
}

/**
 * vfio_pci_mmap_fault (drivers/vfio/pci/vfio_pci.c, 5.14; after 6a45ece4c9af "vfio/pci: Handle
 * concurrent vma faults", v5.14-rc1 and stable; vfio_pci_core.c in 5.15; knob faultLocking
 * 'hold-across-remap'): vma_lock then memory_lock (read) are held to the end. SIGBUS while
 * disabled; a vma already on vma_list was mapped by a concurrent fault: VM_FAULT_NOPAGE without a
 * second remap (closes H1); the whole vma is remapped (io_remap_pfn_range, the same as
 * remap_pfn_range here) and zapped again on failure; the tracking node is added only after a
 * successful map, still under vma_lock, so a zapper can never see the node before the PTEs exist
 * (closes H2). (The GFP_KERNEL node allocation cannot fail in the model, so its VM_FAULT_OOM branch
 * is absent.)
 */
function* mmapFaultHoldAcrossRemap(k: Kernel, vmf: VmFault): Task<number> {
  const fn = 'vfio_pci_mmap_fault';
  const vma = vmf.vma;
  const vdev = vma.privateData as VfioPciDevice;
  let ret = VM_FAULT_NOPAGE;
  yield* vdev.vmaLock.lock(fn);
  yield* vdev.memoryLock.downRead(fn);
  if (!faultMayMap(k, vdev)) {
    ret = VM_FAULT_SIGBUS;
    k.events.emit({ kind: 'vfio.blocked', dev: vdev.name, path: 'fault', errno: 0, ...(vdev.pmRuntimeEngaged ? { lowPower: true as const } : {}) });
  } else if (!vdev.vmaList.includes(vma)) {
    const r = yield* remapPfnRange(k, vma, vma.start, vma.pgoff, vma.end - vma.start, vma.pageProt, fn);
    if (r !== 0) {
      ret = VM_FAULT_SIGBUS;
      yield* zapVmaPtes(k, vma, vma.start, vma.end - vma.start);
    } else {
      addVma(k, vdev, vma);
    }
  }
  yield* vdev.memoryLock.upRead(fn);
  yield* vdev.vmaLock.unlock(fn);
  return ret;
}

/**
 * vfio_pci_mmap_fault (drivers/vfio/pci/vfio_pci.c, v1): of patch series v1 ("[PATCH 3/3] vfio-pci:
 * Invalidate mmaps and block MMIO access on disabled memory", 2020-05-01, as quoted in Jason
 * Gunthorpe's reply 20200501234849.GQ26002@ziepe.ca; spec §3.3; knob faultLocking 'trylock-retry').
 * Zappers hold memory_lock for write while they take mmap_lock, so the fault, which runs under
 * mmap_lock, may only try memory_lock:
 * - on contention, without FAULT_FLAG_ALLOW_RETRY: VM_FAULT_SIGBUS (the defect: a
 *   caller that cannot retry gets SIGBUS although memory is enabled);
 * - with FAULT_FLAG_RETRY_NOWAIT: VM_FAULT_RETRY at once, mmap_lock still held;
 * - otherwise: drop mmap_lock, wait for memory_lock by taking and releasing it (read;
 *   the killable variant is the same here, the model has no fatal signals) and return
 *   VM_FAULT_RETRY with mmap_lock released, as the fault-retry contract requires.
 * With memory_lock held the rest is 5.8's body (vma_lock, check, node pushed without a
 * duplicate check, vma_lock dropped, whole-vma remap) [inferred: the quoted part of v1
 * 3/3 ends at the trylock block].
 */
function* mmapFaultTrylockRetry(k: Kernel, vmf: VmFault): Task<number> {
  const fn = 'vfio_pci_mmap_fault';
  const vma = vmf.vma;
  const vdev = vma.privateData as VfioPciDevice;
  const sem = vdev.memoryLock;
  if (!(yield* sem.downReadTrylock(fn))) {
    // Not 'vfio.blocked': memory may well be enabled; the trace shows the failed trylock.
    if ((vmf.flags & FAULT_FLAG_ALLOW_RETRY) === 0) return VM_FAULT_SIGBUS;
    if ((vmf.flags & FAULT_FLAG_RETRY_NOWAIT) !== 0) return VM_FAULT_RETRY;
    yield* vma.mm.mmapLock.upRead(fn);
    yield* sem.downRead(fn);
    yield* sem.upRead(fn);
    return VM_FAULT_RETRY;
  }
  yield* vdev.vmaLock.lock(fn);
  const ret = yield* new CheckTrackRemap(k, vdev, vma, fn);
  yield* sem.upRead(fn);
  return ret;
}

/**
 * vfio_pci_mmap_ops (drivers/vfio/pci/vfio_pci.c, 5.8) of one kernel: an object over its
 * kernel rather than closures, so that a copy of the whole System (the explorer's
 * snapshots, src/check/snapshot.ts) faults in its own.
 */
class VfioPciMmapOps implements VmOperations {
  readonly name = 'vfio_pci_mmap_ops';

  constructor(private readonly k: Kernel) {}

  /** vfio_pci_mmap_open (drivers/vfio/pci/vfio_pci.c, 5.8): the vm_operations_struct entry. */
  open(vma: Vma): Task<void> {
    return mmapOpen(this.k, vma);
  }

  /** vfio_pci_mmap_close (drivers/vfio/pci/vfio_pci.c, 5.8): the vm_operations_struct entry. */
  close(vma: Vma): Task<void> {
    return mmapClose(this.k, vma);
  }

  /** vfio_pci_mmap_fault (drivers/vfio/pci/vfio_pci.c, 5.8, 5.14, v1): the vm_operations_struct entry; the version by the faultLocking knob. */
  fault(vmf: VmFault): Task<number> {
    const k = this.k;
    switch (k.knobs.faultLocking) {
      case 'hold-across-remap':
        return mmapFaultHoldAcrossRemap(k, vmf);
      case 'trylock-retry':
        return mmapFaultTrylockRetry(k, vmf);
      case 'drop-before-remap':
        return new MmapFault(k, vmf);
    }
  }
}

/** vfio_pci_mmap_ops (drivers/vfio/pci/vfio_pci.c, 5.8) for kernel `k`. */
export function vfioPciMmapOps(k: Kernel): VmOperations {
  return new VfioPciMmapOps(k);
}

/**
 * vfio_pci_mmap (drivers/vfio/pci/vfio_pci.c, 5.8; 5.7 with the 'remap-at-mmap'
 * knob): validate, rewrite vm_pgoff to the BAR's pfn, and either install vm_ops for
 * fault-time population (5.8) or remap the whole range now (5.7).
 */
export function* vfioPciMmap(k: Kernel, vdev: VfioPciDevice, vma: Vma, ops: VmOperations): Task<number> {
  if (k.knobs.zapMethod === 'address-space') return yield* vfioPciMmapAddressSpace(k, vdev, vma); // 6.10+
  const indexShift = VFIO_PCI_OFFSET_SHIFT - PAGE_SHIFT;
  const index = Math.floor(vma.pgoff / 2 ** indexShift);
  if (vma.end < vma.start) return -EINVAL;
  if ((vma.flags & VM_SHARED) === 0) return -EINVAL;
  if (index >= VFIO_PCI_NUM_REGIONS) return -EINVAL; // no device-specific regions with mmap here
  if (index >= VFIO_PCI_ROM_REGION_INDEX) return -EINVAL;
  if (!vdev.barMmapSupported[index]) return -EINVAL;
  const res = vdev.pdev.resource(index);
  if (res === null) return -EINVAL;
  const physLen = Math.ceil(res.size / PAGE_SIZE) * PAGE_SIZE;
  const reqLen = vma.end - vma.start;
  const pgoff = vma.pgoff % 2 ** indexShift;
  const reqStart = pgoff * PAGE_SIZE;
  if (reqStart + reqLen > physLen) return -EINVAL;
  vdev.barmap[index] = true; // pci_request_selected_regions + pci_iomap
  vma.privateData = vdev;
  vma.pageProt = { prot: vma.pageProt.prot, uncached: true };
  vma.pgoff = Math.floor(res.start / PAGE_SIZE) + pgoff;
  if (k.knobs.mmapPopulate === 'remap-at-mmap') {
    return yield* remapPfnRange(k, vma, vma.start, vma.pgoff, reqLen, vma.pageProt, 'vfio_pci_mmap');
  }
  vma.flags |= VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP;
  vma.ops = ops;
  return 0;
}
