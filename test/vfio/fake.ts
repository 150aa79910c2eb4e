/**
 * Test setup for the VFIO core and type1 tests: the real machine, kernel, mm and user
 * process, with a small fake VFIO bus driver standing in for vfio-pci. The fake maps
 * BAR0 like vfio-pci does (5.8: vm_ops fault remapping the whole vma, SIGBUS while
 * `enabled` is false; 5.7: remap at mmap time).
 */
import { createMachine, type Machine, type MachineSpec } from '../../src/hw/index.js';
import { EINVAL, ENOTTY } from '../../src/kernel/errno.js';
import type { FilePos } from '../../src/kernel/fs/file.js';
import { Kernel } from '../../src/kernel/kernel.js';
import { remapPfnRange } from '../../src/kernel/mm/memory.js';
import {
  FAULT_FLAG_ALLOW_RETRY,
  VM_DONTDUMP,
  VM_FAULT_RETRY,
  VM_DONTEXPAND,
  VM_FAULT_NOPAGE,
  VM_FAULT_SIGBUS,
  VM_IO,
  VM_PFNMAP,
  VM_SHARED,
  type Vma,
  type VmFault,
  type VmOperations,
} from '../../src/kernel/mm/types.js';
import type { Task } from '../../src/kernel/sched/task.js';
import { VARIANT_5_8, type Knobs } from '../../src/kernel/variant/knobs.js';
import type { VfioDevice, VfioDeviceOps } from '../../src/kernel/vfio/device.js';
import { VfioIommuType1 } from '../../src/kernel/vfio/type1/type1.js';
import { VfioCore } from '../../src/kernel/vfio/vfio.js';
import { Process } from '../../src/user/process.js';

/** What the fake driver saw and how it behaves. */
export interface FakeState {
  opens: number;
  releases: number;
  ioctls: number[];
  /** When false, the BAR fault handler returns SIGBUS (memory disabled). */
  enabled: boolean;
  /** If non-zero, open() fails with this. */
  openError: number;
  /** If set, mmap maps this pfn (e.g. a RAM page) instead of BAR0. */
  mapPfn: number | null;
  /** If true, the next fault that may retry drops mmap_lock and returns VM_FAULT_RETRY. */
  retryOnce: boolean;
  faults: number;
}

/** A minimal VFIO bus driver: counts open/release, maps BAR0 of its function. */
export function fakeOps(k: Kernel, st: FakeState): VfioDeviceOps {
  const vmOps: VmOperations = {
    name: 'fake_vfio_mmap',
    *fault(vmf: VmFault): Task<number> {
      st.faults++;
      const vma = vmf.vma;
      if (st.retryOnce && (vmf.flags & FAULT_FLAG_ALLOW_RETRY) !== 0) {
        st.retryOnce = false;
        // as a handler that must sleep does: drop mmap_lock and ask for a retry
        yield* vma.mm.mmapLock.upRead('fake_fault');
        return VM_FAULT_RETRY;
      }
      if (!st.enabled) return VM_FAULT_SIGBUS;
      const r = yield* remapPfnRange(k, vma, vma.start, vma.pgoff, vma.end - vma.start, vma.pageProt);
      return r === 0 ? VM_FAULT_NOPAGE : VM_FAULT_SIGBUS;
    },
  };
  return {
    name: 'vfio-pci',
    // eslint-disable-next-line require-yield
    *open(): Task<number> {
      if (st.openError !== 0) return st.openError;
      st.opens++;
      return 0;
    },
    // eslint-disable-next-line require-yield
    *release(): Task<void> {
      st.releases++;
    },
    // eslint-disable-next-line require-yield
    *ioctl(_v: VfioDevice, cmd: number): Task<number> {
      st.ioctls.push(cmd);
      return -ENOTTY;
    },
    // eslint-disable-next-line require-yield
    *read(_v: VfioDevice, _buf: number, count: number, _pos: FilePos): Task<number> {
      return count;
    },
    // eslint-disable-next-line require-yield
    *write(_v: VfioDevice, _buf: number, count: number, _pos: FilePos): Task<number> {
      return count;
    },
    *mmap(vdev: VfioDevice, vma: Vma): Task<number> {
      const bar = vdev.fn.resource(0);
      if (bar === null || (vma.flags & VM_SHARED) === 0) return -EINVAL;
      if (vma.pgoff * 4096 + (vma.end - vma.start) > bar.size) return -EINVAL;
      vma.pgoff = (st.mapPfn ?? bar.start / 4096) + vma.pgoff;
      vma.pageProt = { ...vma.pageProt, uncached: true };
      if (!k.knobs.type1FaultIn) {
        // 5.7: PTEs installed at mmap time
        return yield* remapPfnRange(k, vma, vma.start, vma.pgoff, vma.end - vma.start, vma.pageProt);
      }
      vma.flags |= VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP;
      vma.ops = vmOps;
      return 0;
    },
  };
}

export interface Booted {
  hw: Machine;
  k: Kernel;
  core: VfioCore;
  type1: VfioIommuType1;
  p: Process;
  st: FakeState;
  vdev: VfioDevice;
  /** The IOMMU group number of the device. */
  group: number;
}

/** Boot the default machine with VFIO + type1 and add 0000:01:00.0 (edu) to VFIO with the fake driver. */
export function boot(knobs: Knobs = VARIANT_5_8.knobs, spec?: MachineSpec, devName = '0000:01:00.0'): Booted {
  const hw = createMachine(spec);
  const k = new Kernel(hw, knobs);
  const core = new VfioCore(k);
  const type1 = new VfioIommuType1(k);
  core.registerIommuDriver(type1);
  const st: FakeState = { opens: 0, releases: 0, ioctls: [], enabled: true, openError: 0, mapPfn: null, retryOnce: false, faults: 0 };
  const fn = hw.fn(devName);
  const vdev = core.addGroupDev(fn, fakeOps(k, st), st);
  const p = Process.create(k, 'qemu');
  return { hw, k, core, type1, p, st, vdev, group: fn.iommuGroup };
}
