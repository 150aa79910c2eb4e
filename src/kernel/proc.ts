import type { FdTable } from './fs/file.js';
import type { MmStructRef } from './mm/types.js';
import type { KThread } from './sched/thread.js';

/** The kernel side of a process (task_struct's shared parts: mm and files). */
export interface KProcess {
  readonly pid: number;
  readonly name: string;
  readonly mm: MmStructRef;
  readonly files: FdTable;
  readonly threads: KThread[];
}

/** `current` as a process; null for kernel threads. */
export function threadProcess(t: KThread | null): KProcess | null {
  if (t === null) return null;
  return (t.owner as KProcess | null) ?? null;
}
