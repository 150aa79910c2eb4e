/**
 * Test doubles for the mm tests: a tiny HwMachine (RAM pages + one MMIO window that
 * records every access) and a vfio-pci-like driver file whose mmap either remaps at
 * mmap time (5.7) or installs vm_ops whose fault remaps the whole vma (5.8).
 */
import { EventStream } from '../../src/events/stream.js';
import type { AccessSize, ClockHw, HwMachine, IommuHw, PciFunctionHw, PlatformHw, RamHw } from '../../src/hw/api.js';
import { EINVAL } from '../../src/kernel/errno.js';
import { KFile } from '../../src/kernel/fs/file.js';
import { Kernel } from '../../src/kernel/kernel.js';
import { remapPfnRange, zapVmaPtes } from '../../src/kernel/mm/memory.js';
import {
  type Vma,
  type VmFault,
  type VmOperations,
  VM_DONTDUMP,
  VM_DONTEXPAND,
  VM_FAULT_NOPAGE,
  VM_FAULT_SIGBUS,
  VM_IO,
  VM_PFNMAP,
  VM_SHARED,
} from '../../src/kernel/mm/types.js';
import type { Task } from '../../src/kernel/sched/task.js';
import { VARIANT_5_8 } from '../../src/kernel/variant/knobs.js';

export const MMIO_BASE = 0xfe000000;
export const MMIO_PAGES = 16;
export const MMIO_PFN = MMIO_BASE / 4096;

export interface MmioAccess {
  readonly addr: number;
  readonly size: number;
  readonly dir: 'r' | 'w';
  readonly value: bigint;
}

class FakeRam implements RamHw {
  readonly pages = new Map<number, Uint8Array>();
  private next = 0x100;
  /** Pages that may still be allocated (to test OOM). */
  limit = Infinity;
  allocPage(): number {
    if (this.pages.size >= this.limit) return -1;
    const pfn = this.next++;
    this.pages.set(pfn, new Uint8Array(4096));
    return pfn;
  }
  freePage(pfn: number): void {
    this.pages.delete(pfn);
  }
  isRam(pfn: number): boolean {
    return this.pages.has(pfn);
  }
  page(pfn: number): Uint8Array {
    const p = this.pages.get(pfn);
    if (p === undefined) throw new Error(`no RAM page ${pfn}`);
    return p;
  }
}

export class FakeHw implements HwMachine {
  readonly events = new EventStream();
  readonly ram = new FakeRam();
  readonly mmio = new Uint8Array(MMIO_PAGES * 4096);
  readonly accesses: MmioAccess[] = [];
  readonly iommu: IommuHw = {
    superpageBitmap: 0n,
    addressWidth: 48,
    createDomain: () => 1,
    destroyDomain: () => undefined,
    attachGroup: () => undefined,
    detachGroup: () => undefined,
    map: () => true,
    unmap: () => 0,
    lookup: () => null,
  };
  private ns = 0;
  readonly clock: ClockHw = {
    get nowNs(): number {
      return 0;
    },
    advance: (ns: number) => {
      this.ns += ns;
    },
    deviceTimersInline: true,
    dueDeviceTimers: () => [],
    nextDeviceDeadline: () => -1,
    fireDevice: () => undefined,
  };
  readonly platform: PlatformHw = { urPolicy: 'log', unassigned: 'ones', haltReason: null, urCount: 0 };
  functions(): readonly PciFunctionHw[] {
    return [];
  }
  findFunction(): PciFunctionHw | undefined {
    return undefined;
  }
  private inWindow(addr: number, size: number): boolean {
    return addr >= MMIO_BASE && addr + size <= MMIO_BASE + this.mmio.length;
  }
  memRead(addr: number, size: AccessSize): bigint {
    let v = 0n;
    if (this.inWindow(addr, size)) {
      for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.mmio[addr - MMIO_BASE + i] as number);
    } else {
      v = (1n << BigInt(size * 8)) - 1n;
    }
    this.accesses.push({ addr, size, dir: 'r', value: v });
    return v;
  }
  memWrite(addr: number, size: AccessSize, value: bigint): void {
    this.accesses.push({ addr, size, dir: 'w', value });
    if (!this.inWindow(addr, size)) return;
    for (let i = 0; i < size; i++) this.mmio[addr - MMIO_BASE + i] = Number((value >> BigInt(8 * i)) & 0xffn);
  }
  ioRead(): number {
    return 0xffffffff;
  }
  ioWrite(): void {}
  setMsiHandler(): void {}
}

export function makeKernel(): { k: Kernel; hw: FakeHw } {
  const hw = new FakeHw();
  return { k: new Kernel(hw, VARIANT_5_8.knobs), hw };
}

/** What the fake driver saw. */
export interface DriverLog {
  opens: { vma: Vma; ptesAtOpen: number }[];
  closes: Vma[];
  faults: number;
  /** mmap_lock read-held by the closer when close ran. */
  closeUnderRead: boolean[];
}

export interface FakeDevice {
  file: KFile;
  log: DriverLog;
  /** When false the fault handler returns SIGBUS (memory disabled). */
  enabled: boolean;
  /** 'fault': 5.8 vm_ops; 'mmap': 5.7 remap at mmap time. */
  mode: 'fault' | 'mmap';
  /** If set, mmap returns this error. */
  mmapError: number;
  /** Set the VM_IO|... flags at mmap time (as vfio-pci 5.8 does). */
  setFlagsAtMmap: boolean;
}

/** A vfio-pci-like device file mapping the MMIO window. */
export function makeDevice(k: Kernel, flags = 2): FakeDevice {
  const log: DriverLog = { opens: [], closes: [], faults: 0, closeUnderRead: [] };
  const dev: FakeDevice = {
    file: new KFile('fake-dev', {}, flags),
    log,
    enabled: true,
    mode: 'fault',
    mmapError: 0,
    setFlagsAtMmap: true,
  };
  const ptes = (vma: Vma): number => {
    const mm = vma.mm as unknown as { presentPtes(s: number, e: number): number };
    return mm.presentPtes(vma.start, vma.end);
  };
  const ops: VmOperations = {
    name: 'fake_mmap_fault',
    *open(vma: Vma): Task<void> {
      log.opens.push({ vma, ptesAtOpen: ptes(vma) });
      yield* zapVmaPtes(k, vma, vma.start, vma.end - vma.start);
    },
    // eslint-disable-next-line require-yield
    *close(vma: Vma): Task<void> {
      const t = k.sched.current;
      log.closes.push(vma);
      log.closeUnderRead.push(t !== null && vma.mm.mmapLock.readers.includes(t));
    },
    *fault(vmf: VmFault): Task<number> {
      log.faults++;
      if (!dev.enabled) return VM_FAULT_SIGBUS;
      const vma = vmf.vma;
      const r = yield* remapPfnRange(k, vma, vma.start, vma.pgoff, vma.end - vma.start, vma.pageProt);
      return r === 0 ? VM_FAULT_NOPAGE : VM_FAULT_SIGBUS;
    },
  };
  (dev.file.fops as { mmap?: (f: KFile, v: Vma) => Task<number> }).mmap = function* (_f: KFile, vma: Vma): Task<number> {
    if (dev.mmapError !== 0) return dev.mmapError;
    if ((vma.flags & VM_SHARED) === 0) return -EINVAL;
    if (vma.pgoff + (vma.end - vma.start) / 4096 > MMIO_PAGES) return -EINVAL;
    vma.privateData = dev;
    vma.pageProt = { ...vma.pageProt, uncached: true };
    vma.pgoff = MMIO_PFN + vma.pgoff;
    if (dev.mode === 'mmap') {
      return yield* remapPfnRange(k, vma, vma.start, vma.pgoff, vma.end - vma.start, vma.pageProt);
    }
    if (dev.setFlagsAtMmap) vma.flags |= VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP;
    vma.ops = ops;
    return 0;
  };
  return dev;
}
