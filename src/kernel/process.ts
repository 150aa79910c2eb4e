/**
 * Processes: task_struct's shared parts (mm, files) and their life cycle
 * (kernel/fork.c, kernel/exit.c, 5.8).
 */
import { FdTable, fput, getFile, taskWorkRun } from './fs/file.js';
import type { Kernel } from './kernel.js';
import { dupMmap, mmput } from './mm/mmap.js';
import { kernelIds, MmStruct } from './mm/mm.js';
import type { KProcess } from './proc.js';
import type { Task } from './sched/task.js';
import type { KThread } from './sched/thread.js';

/** A process: pid, name (comm), address space, fd table, threads. */
export class KProcessImpl implements KProcess {
  readonly pid: number;
  readonly files = new FdTable();
  readonly threads: KThread[] = [];
  /** Set once exitProcess has run. */
  exited = false;

  constructor(
    k: Kernel,
    readonly name: string,
    readonly mm: MmStruct,
  ) {
    this.pid = kernelIds(k).pid++;
  }

  /** The first thread (the thread group leader). */
  get mainThread(): KThread {
    const t = this.threads[0];
    if (t === undefined) throw new Error(`process ${this.pid} has no thread`);
    return t;
  }
}

/** A new process with an empty address space and fd table and one (idle) thread named `name`. */
export function createProcess(k: Kernel, name: string): KProcessImpl {
  const p = new KProcessImpl(k, name, new MmStruct(k));
  spawnThread(k, p, name);
  return p;
}

/** copy_process with CLONE_VM|CLONE_FILES|CLONE_THREAD (kernel/fork.c, 5.8): another thread of `proc`. */
export function spawnThread(k: Kernel, proc: KProcessImpl, name: string): KThread {
  const t = k.sched.spawn(name, proc);
  proc.threads.push(t);
  k.events.emit({ kind: 'thread.start', name });
  return t;
}

/**
 * copy_process (kernel/fork.c, 5.8): fork; copy the fd table (each file gets a
 * reference), then the address space (dup_mmap). The child has one idle thread.
 * Returns the child, or -errno if dup_mmap failed.
 */
export function* forkProcess(k: Kernel, parent: KProcessImpl, openBeforeCopy: boolean): Task<KProcessImpl | number> {
  const child = new KProcessImpl(k, parent.name, new MmStruct(k));
  // copy_files: dup_fd
  for (const [fd, f] of parent.files.fds) child.files.fds.set(fd, getFile(f));
  // copy_mm: dup_mm → dup_mmap
  const err = yield* dupMmap(k, parent.mm, child.mm, openBeforeCopy);
  if (err < 0) {
    yield* mmput(k, child.mm);
    yield* closeFiles(child);
    return err;
  }
  spawnThread(k, child, `${parent.name}/${child.pid}`);
  k.events.emit({ kind: 'fork', parentPid: parent.pid, childPid: child.pid });
  return child;
}

/** exit_files → close_files (fs/file.c, 5.8): fput every open file, lowest fd first. */
function* closeFiles(proc: KProcessImpl): Task<void> {
  const fds = [...proc.files.fds.keys()].sort((a, b) => a - b);
  for (const fd of fds) {
    const f = proc.files.remove(fd);
    if (f !== undefined) yield* fput(f);
  }
}

/**
 * do_exit (kernel/exit.c, 5.8-6.12), in its order: exit_mm (mmput; the last mm user
 * runs exit_mmap, which closes every vma), exit_files, then exit_task_work: the files
 * whose last reference exit_mmap and exit_files dropped are released there (fput
 * deferred their __fput to task_work), after mmap_lock is no longer held.
 */
export function* exitProcess(k: Kernel, proc: KProcessImpl): Task<void> {
  if (proc.exited) return;
  proc.exited = true;
  yield* mmput(k, proc.mm);
  yield* closeFiles(proc);
  yield* taskWorkRun(); // exit_task_work (include/linux/task_work.h)
  for (const t of proc.threads) k.events.emit({ kind: 'thread.exit', name: t.name });
}
