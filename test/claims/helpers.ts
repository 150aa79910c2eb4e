/**
 * Shared set-up for the §7 claim tests: build a System, open a device through the typed
 * VFIO client, and drive two threads through the scheduler step by step.
 */
import assert from 'node:assert/strict';
import { System, type SystemOptions } from '../../src/system.js';
import { unwrap, VfioContainer, VfioGroup, type VfioDeviceHandle } from '../../src/user/vfio-client.js';
import type { Process } from '../../src/user/process.js';
import { VFIO_TYPE1v2_IOMMU } from '../../src/uapi/vfio.js';
import type { Task } from '../../src/kernel/sched/task.js';
import type { KThread } from '../../src/kernel/sched/thread.js';

export const EDU0 = '0000:01:00.0';
export const EDU1 = '0000:02:00.0';
export const NIC = '0000:03:00.0';
export const PROT_RW = 3;
export const PAGE = 4096;

export interface Opened {
  readonly sys: System;
  readonly p: Process;
  readonly c: VfioContainer;
  readonly g: VfioGroup;
  readonly d: VfioDeviceHandle;
}

/** A System with `name` opened by a fresh process (container with type1v2 set). */
export function openDevice(name: string, opts: SystemOptions = {}): Opened {
  const sys = new System(opts);
  const p = sys.spawnProcess('qemu');
  const c = unwrap(VfioContainer.open(p));
  const fn = sys.hw.findFunction(name);
  assert.ok(fn, `function ${name} exists`);
  const g = unwrap(VfioGroup.open(p, fn.iommuGroup));
  unwrap(g.setContainer(c));
  unwrap(c.setIommu(VFIO_TYPE1v2_IOMMU));
  const d = unwrap(g.getDevice(name));
  return { sys, p, c, g, d };
}

/** Clear (or set) the MEM bit of the command register through the config region. */
export function setMem(d: VfioDeviceHandle, on: boolean): void {
  const cmd = unwrap(d.readConfig(4, 2));
  unwrap(d.writeConfig(4, 2, on ? cmd | 2 : cmd & ~2));
}

/** Offset of a standard capability in config space (walks the list through vfio), or 0. */
export function findCap(d: VfioDeviceHandle, id: number): number {
  let pos = unwrap(d.readConfig(0x34, 1)) & 0xfc;
  for (let i = 0; pos !== 0 && i < 48; i++) {
    if (unwrap(d.readConfig(pos, 1)) === id) return pos;
    pos = unwrap(d.readConfig(pos + 1, 1)) & 0xfc;
  }
  return 0;
}

/** Hardware command register of a function. */
export function hwCommand(sys: System, name: string): number {
  const fn = sys.hw.findFunction(name);
  assert.ok(fn);
  return fn.state().command;
}

/** Whether thread `t` holds a lock of class `cls` in `mode`. */
export function holds(t: KThread, cls: string, mode?: 'r' | 'w'): boolean {
  return t.held.some((h) => h.cls === cls && (mode === undefined || h.mode === mode));
}

/** Start `task` on `t` (not run yet). */
export function start(sys: System, t: KThread, task: Task<unknown>, label: string): void {
  sys.kernel.sched.start(t, task, label);
}

/** Step `t` until `pred()` holds or it stops being runnable; returns whether `pred()` held. */
export function stepUntil(sys: System, t: KThread, pred: () => boolean, limit = 100_000): boolean {
  for (let i = 0; i < limit; i++) {
    if (pred()) return true;
    if (t.state !== 'runnable') return pred();
    sys.kernel.sched.step(t);
  }
  return pred();
}

/** Run every runnable thread to completion, lowest tid first; asserts the run ended normally. */
export function runAll(sys: System): void {
  const end = sys.kernel.sched.run((rs) => rs[0] as KThread);
  assert.equal(end.kind, 'done', `scheduled run ended with ${end.kind}`);
}

/** Number of events of `kind` after `seq` satisfying `pred`. */
export function countSince(sys: System, seq: number, kind: string, pred: (e: Record<string, unknown>) => boolean = () => true): number {
  return sys.events.since(seq).filter((e) => e.kind === kind && pred(e as unknown as Record<string, unknown>)).length;
}

export const MEMORY_LOCK = '&vdev->memory_lock';
export const VMA_LOCK = '&vdev->vma_lock';
