import { runningScheduler } from '../sched/scheduler.js';
import { FINISHED, type Task } from '../sched/task.js';
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
 * fput: drop a reference; the last one calls release. Used as `yield* fput(f)`: the
 * reference is dropped when it is called and the returned task is release (or an
 * already finished task), so the common case creates no generator.
 */
export function fput(f: KFile): Task<void> {
  f.refs--;
  if (f.refs === 0 && f.fops.release !== undefined) return f.fops.release(f);
  return FINISHED;
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
