/**
 * Runtime power management of an opened vfio-pci device (6.0/6.1, Abhishek Sahu's
 * runtime-PM series; spec §2.2 last row, §5 Variant D): the VFIO_DEVICE_FEATURE ioctl
 * with the LOW_POWER_ENTRY / LOW_POWER_ENTRY_WITH_WAKEUP / LOW_POWER_EXIT features, the
 * runtime suspend/resume callbacks, and the runtime-PM brackets around every device
 * ioctl (vfio_device_fops_unl_ioctl) and read/write (vfio_pci_rw).
 *
 * What the kernel code gives a user (read in vfio_pci_core.c and vfio_main.c, 6.1–6.x):
 * - Entry zaps every BAR mapping and holds memory_lock for write while it sets
 *   pm_runtime_engaged and drops the open-time runtime-PM usage count
 *   (pm_runtime_put_noidle). When the ioctl returns, the ioctl bracket's pm_runtime_put
 *   lets the device runtime-suspend: vfio_pci_core_runtime_suspend puts it in D0 under the
 *   write lock (undoing a user D3hot), then the PCI core saves its state and moves it to
 *   the deepest state it supports (D3hot with a PM capability; a function without one
 *   stays in D0).
 * - While engaged, the mmap fault handler refuses to map (SIGBUS): faults do not resume
 *   the device. read/write and every ioctl do: pm_runtime_resume_and_get brings the device
 *   back to D0 and restores its config state, the access runs, and pm_runtime_put lets it
 *   suspend again — pm_runtime_engaged itself does not block them.
 * - With a wake-up eventfd (ENTRY_WITH_WAKEUP), a runtime resume signals the eventfd and
 *   leaves low power (pm_runtime_engaged cleared); the device then stays active.
 * - Exit clears pm_runtime_engaged under the write lock and takes back the usage count;
 *   the device is active (the ioctl bracket resumed it). Nothing is remapped: the next
 *   touch refaults.
 * - The last close leaves low power and resumes the device first (vfio_pci_core_disable).
 *
 * Model simplifications: the PM core's asynchronous idle/suspend (rpm_idle queued after
 * the last pm_runtime_put) runs synchronously in the thread that drops the last
 * reference; autosuspend delays, D3cold and INTx masking across suspend are not modelled.
 */
import {
  decodeDeviceFeature, decodeLowPowerEntryWithWakeup, SIZEOF_VFIO_DEVICE_LOW_POWER_ENTRY_WITH_WAKEUP,
  VFIO_DEVICE_FEATURE_GET, VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY, VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP,
  VFIO_DEVICE_FEATURE_LOW_POWER_EXIT, VFIO_DEVICE_FEATURE_MASK, VFIO_DEVICE_FEATURE_MINSZ, VFIO_DEVICE_FEATURE_PROBE,
  VFIO_DEVICE_FEATURE_SET,
} from '../../../uapi/vfio.js';
import { EINVAL, ENOTTY } from '../../errno.js';
import { type EventfdCtx, eventfdCtxFdget, eventfdCtxPut, eventfdSignal } from '../../fs/eventfd.js';
import type { Kernel } from '../../kernel.js';
import { WaitGate } from '../../locking/gate.js';
import { pciSetPowerState } from '../../pci/power.js';
import { pciRestoreState, pciSaveState } from '../../pci/state.js';
import { threadProcess } from '../../proc.js';
import type { Task } from '../../sched/task.js';
import { fetchUser } from '../uaccess.js';
import { vfioPciZapAndDownWriteMemoryLock } from './memory-lock.js';
import type { VfioPciDevice } from './vfio-pci-device.js';
import { SideTable } from '../../../util/side-table.js';

/**
 * The part of struct dev_pm_info the model needs, per device: references held by
 * in-flight ioctls and reads/writes, whether the device is runtime-suspended, the gate
 * that serializes suspend/resume (rpm status RPM_SUSPENDING/RPM_RESUMING: others wait),
 * and vdev->pm_wake_eventfd_ctx.
 */
interface RuntimePm {
  inflight: number;
  suspended: boolean;
  readonly gate: WaitGate;
  wake: EventfdCtx | null;
}

const rpmOf = new SideTable<VfioPciDevice, RuntimePm>('rpmOf');

function rpm(k: Kernel, vdev: VfioPciDevice): RuntimePm {
  let st = rpmOf.get(vdev);
  if (st === undefined) {
    st = { inflight: 0, suspended: false, gate: new WaitGate(k, `rpm:${vdev.name}`), wake: null };
    rpmOf.set(vdev, st);
  }
  return st;
}

/** Whether the device is runtime-suspended now (for tests and traces). */
export function vfioPciRuntimeSuspended(vdev: VfioPciDevice): boolean {
  return rpmOf.get(vdev)?.suspended ?? false;
}

/** Whether the device has a wake-up eventfd armed (LOW_POWER_ENTRY_WITH_WAKEUP). */
export function vfioPciPmWakeArmed(vdev: VfioPciDevice): boolean {
  return (rpmOf.get(vdev)?.wake ?? null) !== null;
}

function emitPm(k: Kernel, vdev: VfioPciDevice, op: 'low-power-entry' | 'low-power-exit' | 'runtime-suspend' | 'runtime-resume' | 'wakeup'): void {
  k.events.emit({ kind: 'vfio.pm', dev: vdev.name, op, state: vdev.pdev.currentState });
}

/**
 * __vfio_pci_runtime_pm_exit (drivers/vfio/pci/vfio_pci_core.c, 6.1): clear
 * pm_runtime_engaged, take back the usage count (pm_runtime_get_noresume) and drop the
 * wake-up eventfd. Caller holds memory_lock for write.
 */
function runtimePmExitLocked(k: Kernel, vdev: VfioPciDevice): boolean {
  if (!vdev.pmRuntimeEngaged) return false;
  vdev.pmRuntimeEngaged = false;
  const st = rpm(k, vdev);
  if (st.wake !== null) {
    eventfdCtxPut(st.wake);
    st.wake = null;
  }
  emitPm(k, vdev, 'low-power-exit');
  return true;
}

/**
 * vfio_pci_core_runtime_suspend (drivers/vfio/pci/vfio_pci_core.c, 6.1) then
 * pci_pm_runtime_suspend (drivers/pci/pci-driver.c): D0 under the write lock (the user
 * may have written D3hot to PM_CTRL), then save the config state and enter the target
 * state (pci_finish_runtime_suspend: D3hot with a PM capability, else D0).
 */
function* runtimeSuspend(k: Kernel, vdev: VfioPciDevice): Task<void> {
  const fn = 'vfio_pci_core_runtime_suspend';
  yield* vdev.memoryLock.downWrite(fn);
  yield* pciSetPowerState(k, vdev.pdev, 'D0');
  yield* vdev.memoryLock.upWrite(fn);
  yield* pciSaveState(vdev.pdev);
  yield* pciSetPowerState(k, vdev.pdev, vdev.pdev.pmCap !== 0 ? 'D3hot' : 'D0');
  emitPm(k, vdev, 'runtime-suspend');
}

/**
 * pci_pm_runtime_resume → vfio_pci_core_runtime_resume (drivers/pci/pci-driver.c, 6.1): power up to D0,
 * restore the saved config state, then vfio_pci_core_runtime_resume (drivers/vfio/pci/vfio_pci_core.c,
 * 6.1): with a wake-up eventfd, signal it and leave low power, under the write lock.
 */
function* runtimeResume(k: Kernel, vdev: VfioPciDevice): Task<void> {
  const fn = 'vfio_pci_core_runtime_resume';
  yield* pciSetPowerState(k, vdev.pdev, 'D0');
  yield* pciRestoreState(vdev.pdev);
  emitPm(k, vdev, 'runtime-resume');
  yield* vdev.memoryLock.downWrite(fn);
  const st = rpm(k, vdev);
  if (st.wake !== null) {
    eventfdSignal(st.wake, 1);
    emitPm(k, vdev, 'wakeup');
    runtimePmExitLocked(k, vdev);
  }
  yield* vdev.memoryLock.upWrite(fn);
}

/**
 * pm_runtime_resume_and_get (include/linux/pm_runtime.h, 6.1): take a reference and, if the
 * device is runtime-suspended, resume it now (waiting while another thread suspends or
 * resumes it). The model's resume cannot fail, so this returns 0.
 */
export function* pmRuntimeResumeAndGet(k: Kernel, vdev: VfioPciDevice): Task<number> {
  const st = rpm(k, vdev);
  st.inflight++;
  for (;;) {
    const closer = st.gate.closedBy;
    if (closer !== null && closer !== k.sched.current) {
      yield* st.gate.wait();
      continue;
    }
    if (!st.suspended) return 0;
    if (!(yield* st.gate.tryClose())) continue;
    yield* runtimeResume(k, vdev);
    st.suspended = false;
    yield* st.gate.open();
    return 0;
  }
}

/**
 * pm_runtime_put (include/linux/pm_runtime.h, 6.1): drop a reference; when none is left and
 * the user's low-power entry gave up the open-time one (pm_runtime_engaged), the device
 * runtime-suspends (in the model: now, in this thread).
 */
export function* pmRuntimePut(k: Kernel, vdev: VfioPciDevice): Task<void> {
  const st = rpm(k, vdev);
  if (st.inflight > 0) st.inflight--;
  if (st.inflight !== 0 || !vdev.pmRuntimeEngaged || st.suspended || st.gate.closedBy !== null) return;
  if (!(yield* st.gate.tryClose())) return;
  // Re-check after the point: a reference or an exit may have come meanwhile.
  if (st.inflight === 0 && vdev.pmRuntimeEngaged && !st.suspended) {
    yield* runtimeSuspend(k, vdev);
    st.suspended = true;
  }
  yield* st.gate.open();
}

/**
 * vfio_device_pm_runtime_get / vfio_device_pm_runtime_put (drivers/vfio/vfio_main.c, 6.1): the runtime-PM
 * bracket of vfio_device_fops_unl_ioctl and of vfio_pci_rw (drivers/vfio/pci/vfio_pci_core.c,
 * 6.1): resume and hold the device across `body` (created only once it is active), then
 * let it suspend again.
 */
export function* vfioPciPmRuntimeBracket(k: Kernel, vdev: VfioPciDevice, body: () => Task<number>): Task<number> {
  const r = yield* pmRuntimeResumeAndGet(k, vdev);
  if (r !== 0) return r;
  const ret = yield* body();
  yield* pmRuntimePut(k, vdev);
  return ret;
}

/**
 * vfio_check_feature (include/linux/vfio.h, 6.1): 1 to go on, 0 for a successful PROBE,
 * or -EINVAL (an unsupported GET/SET, neither given, or `argsz` below `minsz`).
 */
export function vfioCheckFeature(flags: number, argsz: number, supported: number, minsz: number): number {
  if ((flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET) & ~supported) !== 0) return -EINVAL;
  if ((flags & VFIO_DEVICE_FEATURE_PROBE) !== 0) return 0;
  if ((flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET)) === 0) return -EINVAL;
  if (argsz < minsz) return -EINVAL;
  return 1;
}

/**
 * vfio_pci_runtime_pm_entry (drivers/vfio/pci/vfio_pci_core.c, 6.1): zap and write-lock
 * memory_lock; -EINVAL if already engaged (the zap has happened anyway); else set
 * pm_runtime_engaged and the wake-up eventfd and give up the open-time usage count.
 */
function* runtimePmEntry(k: Kernel, vdev: VfioPciDevice, wake: EventfdCtx | null): Task<number> {
  yield* vfioPciZapAndDownWriteMemoryLock(k, vdev);
  if (vdev.pmRuntimeEngaged) {
    yield* vdev.memoryLock.upWrite('vfio_pci_runtime_pm_entry');
    return -EINVAL;
  }
  vdev.pmRuntimeEngaged = true;
  rpm(k, vdev).wake = wake;
  emitPm(k, vdev, 'low-power-entry');
  yield* vdev.memoryLock.upWrite('vfio_pci_runtime_pm_entry');
  return 0;
}

/** vfio_pci_core_pm_entry (drivers/vfio/pci/vfio_pci_core.c, 6.1): SET only, no data. */
function* corePmEntry(k: Kernel, vdev: VfioPciDevice, flags: number, argsz: number): Task<number> {
  const ret = vfioCheckFeature(flags, argsz, VFIO_DEVICE_FEATURE_SET, 0);
  if (ret !== 1) return ret;
  return yield* runtimePmEntry(k, vdev, null);
}

/**
 * vfio_pci_core_pm_entry_with_wakeup (drivers/vfio/pci/vfio_pci_core.c, 6.1): SET with a
 * struct vfio_device_low_power_entry_with_wakeup; a negative eventfd is -EINVAL, a bad
 * one -EBADF / -EINVAL (eventfd_ctx_fdget).
 */
function* corePmEntryWithWakeup(k: Kernel, vdev: VfioPciDevice, flags: number, data: number, argsz: number): Task<number> {
  const ret = vfioCheckFeature(flags, argsz, VFIO_DEVICE_FEATURE_SET, SIZEOF_VFIO_DEVICE_LOW_POWER_ENTRY_WITH_WAKEUP);
  if (ret !== 1) return ret;
  const b = yield* fetchUser(k, data, SIZEOF_VFIO_DEVICE_LOW_POWER_ENTRY_WITH_WAKEUP);
  if (typeof b === 'number') return b;
  const entry = decodeLowPowerEntryWithWakeup(b);
  if (entry.wakeupEventfd < 0) return -EINVAL;
  const proc = threadProcess(k.sched.current);
  if (proc === null) return -EINVAL;
  const ctx = eventfdCtxFdget(proc, entry.wakeupEventfd);
  if (typeof ctx === 'number') return ctx;
  const r = yield* runtimePmEntry(k, vdev, ctx);
  if (r !== 0) eventfdCtxPut(ctx);
  return r;
}

/**
 * vfio_pci_core_pm_exit (drivers/vfio/pci/vfio_pci_core.c, 6.1): SET only; the device is
 * active here (the ioctl bracket resumed it — which may already have left low power for a
 * wake-up eventfd); clear pm_runtime_engaged under the write lock. 0 even if not engaged.
 */
function* corePmExit(k: Kernel, vdev: VfioPciDevice, flags: number, argsz: number): Task<number> {
  const ret = vfioCheckFeature(flags, argsz, VFIO_DEVICE_FEATURE_SET, 0);
  if (ret !== 1) return ret;
  yield* vdev.memoryLock.downWrite('vfio_pci_runtime_pm_exit');
  runtimePmExitLocked(k, vdev);
  yield* vdev.memoryLock.upWrite('vfio_pci_runtime_pm_exit');
  return 0;
}

/**
 * vfio_ioctl_device_feature (drivers/vfio/vfio_main.c, 6.1): VFIO_DEVICE_FEATURE on a vfio-pci
 * device fd, → vfio_pci_core_ioctl_feature; in 5.7–5.19 the same header checks sat in
 * vfio_pci_ioctl. argsz below the header, unknown flag bits, or GET and SET together without PROBE
 * are -EINVAL; a feature this device or kernel does not have is -ENOTTY — the low-power features
 * without the lowPowerEntry knob, the migration features (no migration driver), and the VF token
 * (no SR-IOV PF with a vf_token is modelled).
 */
export function* vfioPciIoctlFeature(k: Kernel, vdev: VfioPciDevice, arg: number): Task<number> {
  const minsz = VFIO_DEVICE_FEATURE_MINSZ;
  const b = yield* fetchUser(k, arg, minsz);
  if (typeof b === 'number') return b;
  const feature = decodeDeviceFeature(b);
  if (feature.argsz < minsz) return -EINVAL;
  const flags = feature.flags;
  const known = VFIO_DEVICE_FEATURE_MASK | VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_PROBE;
  if ((flags & ~known) !== 0) return -EINVAL;
  // GET & SET are mutually exclusive except with PROBE
  if ((flags & VFIO_DEVICE_FEATURE_PROBE) === 0 && (flags & VFIO_DEVICE_FEATURE_SET) !== 0 && (flags & VFIO_DEVICE_FEATURE_GET) !== 0) return -EINVAL;
  const argsz = feature.argsz - minsz;
  if (!k.knobs.lowPowerEntry) return -ENOTTY;
  switch (flags & VFIO_DEVICE_FEATURE_MASK) {
    case VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY: return yield* corePmEntry(k, vdev, flags, argsz);
    case VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP: return yield* corePmEntryWithWakeup(k, vdev, flags, arg + minsz, argsz);
    case VFIO_DEVICE_FEATURE_LOW_POWER_EXIT: return yield* corePmExit(k, vdev, flags, argsz);
    default: return -ENOTTY;
  }
}

/**
 * vfio_pci_core_disable (drivers/vfio/pci/vfio_pci_core.c, 6.1): its runtime-PM part,
 * on the last close: leave low power (vfio_pci_runtime_pm_exit) and resume the device
 * (pm_runtime_resume) before it is torn down.
 */
export function* vfioPciPmDisable(k: Kernel, vdev: VfioPciDevice): Task<void> {
  const st = rpmOf.get(vdev);
  if (st === undefined) return;
  yield* vdev.memoryLock.downWrite('vfio_pci_runtime_pm_exit');
  runtimePmExitLocked(k, vdev);
  yield* vdev.memoryLock.upWrite('vfio_pci_runtime_pm_exit');
  yield* pmRuntimeResumeAndGet(k, vdev);
  st.inflight = 0;
}
