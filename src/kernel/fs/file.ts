import { runningScheduler } from '../sched/scheduler.js';
import type { Task } from '../sched/task.js';
import type { Vma } from '../mm/types.js';

/** A file position passed by pointer (loff_t *ppos). */
export interface FilePos {
  value: number;
}

/** struct file_operations: the subset vfio needs. Return values are syscall-style (>= 0 or -errno). */
export interface FileOperations {
  read?(file: KFile, buf: number, count: number, pos: FilePos): Task<number>;
  write?(file: KFile, buf: number, count: number, pos: FilePos): Task<number>;
  unlockedIoctl?(file: KFile, cmd: number, arg: number): Task<number>;
  mmap?(file: KFile, vma: Vma): Task<number>;
  /** Called when the last reference goes away. */
  release?(file: KFile): Task<void>;
}

/** Ids of files created outside any kernel thread (unit tests building files by hand). */
let nextUnownedFileId = 1;

/**
 * A new file id: per kernel (files are created by kernel code running on one of its
 * threads), so two machines in one Node process number their files alike.
 */
function allocFileId(): number {
  const s = runningScheduler();
  return s === null ? nextUnownedFileId++ : s.allocId('file');
}

/** struct file: reference counted; vmas hold a reference (get_file in mmap). */
export class KFile {
  readonly id = allocFileId();
  refs = 1;
  pos = 0;
  privateData: unknown = null;
  constructor(
    /** Human-readable name, e.g. '/dev/vfio/vfio', 'vfio-device:0000:01:00.0'. */
    readonly name: string,
    readonly fops: FileOperations,
    /** O_* flags the file was opened with. */
    readonly flags: number,
  ) {}
}

/** get_file */
export function getFile(f: KFile): KFile {
  f.refs++;
  return f;
}

/**
 * fput (fs/file_table.c, 5.8-6.12): drop a reference. The last reference dropped by a
 * user task does not release the file there: fput queues ____fput on the task
 * (task_work_add, TWA_RESUME), and __fput (->release) runs when the task returns to
 * user space (taskWorkRun at syscall exit) or exits (exit_task_work) — never under
 * the locks the caller holds (munmap's mmap_lock in remove_vma). With no user task
 * running (a kernel thread: the kernel's delayed_fput workqueue; or code outside any
 * thread) the model releases at once: no kernel thread of the model drops a last file
 * reference.
 */
export function* fput(f: KFile): Task<void> {
  f.refs--;
  if (f.refs !== 0) return;
  const t = runningScheduler()?.current ?? null;
  if (t !== null && t.owner !== null) {
    t.taskWorks.push(f);
    return;
  }
  yield* fputNow(f);
}

/** __fput (fs/file_table.c, 5.8-6.12): the file's ->release. */
function* fputNow(f: KFile): Task<void> {
  if (f.fops.release !== undefined) yield* f.fops.release(f);
}

/**
 * task_work_run (kernel/task_work.c, 5.8-6.12) for the current task: run its queued
 * works — here the deferred __fput of files whose last reference it dropped — until none
 * is left (a work may queue more). task_work_add pushes on the head of a singly linked
 * list and task_work_run walks it from the head: the work queued last runs first.
 * Called on return to user space (exit_to_user_mode_loop; the model's syscall exit)
 * and by exit_task_work in do_exit.
 */
export function* taskWorkRun(): Task<void> {
  const t = runningScheduler()?.current ?? null;
  if (t === null) return;
  for (let f = t.taskWorks.pop(); f !== undefined; f = t.taskWorks.pop()) yield* fputNow(f);
}

/** Whether the current task has task_work queued (the common syscall exit has none: no generator). */
export function taskWorkPending(): boolean {
  const t = runningScheduler()?.current ?? null;
  return t !== null && t.taskWorks.length > 0;
}

/** struct files_struct: a process's fd table (lowest free fd first, as the kernel allocates). */
export class FdTable {
  readonly fds = new Map<number, KFile>();
  /** RLIMIT_NOFILE */
  readonly max = 1024;

  install(f: KFile): number {
    for (let fd = 0; fd < this.max; fd++) {
      if (!this.fds.has(fd)) {
        this.fds.set(fd, f);
        return fd;
      }
    }
    return -24; // -EMFILE
  }

  get(fd: number): KFile | undefined {
    return this.fds.get(fd);
  }

  remove(fd: number): KFile | undefined {
    const f = this.fds.get(fd);
    this.fds.delete(fd);
    return f;
  }
}
