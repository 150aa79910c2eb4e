/**
 * What an operation sees while it runs on a scenario thread, and what it returns.
 * Operations are Tasks on the thread's Process (src/user/process.ts `p.ops`), so the
 * scheduler interleaves them with the other threads at every kernel scheduling point.
 */
import type { PciFunctionHw } from '../hw/api.js';
import type { Task } from '../kernel/sched/task.js';
import type { System } from '../system.js';
import type { Process } from '../user/process.js';
import type { BindKind, DeviceRef, NameRef } from './values.js';

/** A named result, as bound at run time by `as:`. */
export type Binding =
  | { readonly kind: 'device'; readonly fd: number; readonly dev: string; readonly groupFd: number | null; readonly containerFd: number | null }
  | { readonly kind: 'container'; readonly fd: number; readonly iommuSet: boolean }
  | { readonly kind: 'group'; readonly fd: number; readonly group: number }
  | { readonly kind: 'eventfd' | 'fd' | 'kvm' | 'vm' | 'vcpu'; readonly fd: number }
  | { readonly kind: 'mapping'; readonly addr: number; readonly length: number; readonly dev: string | null; readonly region: number | null };

/** The result of one operation. */
export interface Outcome {
  /** The syscall's non-negative return (bytes, fd, 0...). */
  readonly ret?: number;
  /** The value produced (a load, a pread's bytes as a little-endian integer, a config read...). */
  readonly value?: bigint;
  /** Positive errno when the (last) syscall failed. */
  readonly errno?: number;
  /** The signal a CPU access raised. */
  readonly signal?: { readonly sig: 'SIGBUS' | 'SIGSEGV'; readonly code: string; readonly addr: number };
  /** Decoded struct fields (ioctls that return data). */
  readonly fields?: Readonly<Record<string, bigint | string | boolean>>;
  /** Bytes read. */
  readonly data?: Uint8Array;
  /** A failure that is not an errno or a signal (e.g. "no PCI Express capability"). */
  readonly failure?: string;
  /** What `as:` names, when the operation succeeded. */
  readonly bind?: Binding;
  /** Which sub-step failed, for multi-syscall operations ("VFIO_GROUP_SET_CONTAINER"). */
  readonly where?: string;
  /** Extra text for the trace. */
  readonly note?: string;
}

/** Thrown by the context when a reference cannot be resolved at run time; the step is skipped. */
export class Unavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Unavailable';
  }
}

/** The run-time context of one step. */
export interface StepCtx {
  readonly sys: System;
  /** The thread's view of its process (runs operations on the thread's KThread). */
  readonly p: Process;
  /** The scenario thread's name. */
  readonly thread: string;
  /** The fd a reference names (or the number itself). */
  fd(ref: NameRef | number): number;
  /** The binding behind a reference (must be of one of `kinds`). */
  binding(ref: NameRef, kinds: readonly BindKind[]): Binding;
  /** The user address an address expression names. */
  addr(ref: NameRef | number): number;
  /** The PCI address of the device behind a device-fd reference, or null (a plain fd number). */
  deviceOfFd(ref: NameRef | number): string | null;
  /** A machine function by scenario device name or PCI address. */
  device(ref: DeviceRef): PciFunctionHw;
  /** An open group fd of this process for IOMMU group `group`, if one is bound. */
  findGroupFd(group: number): number | null;
  /** A scratch buffer of at least `n` bytes in the thread's process memory (address or -errno). */
  scratch(n: number): Task<number>;
  /** Copy `bytes` to scratch memory, ioctl(fd, cmd, &scratch), read the bytes back. */
  ioctlStruct(fd: number, cmd: number, bytes: Uint8Array): Task<{ ret: number; bytes: Uint8Array }>;
}
