/**
 * The system calls a user process makes (fs/open.c, fs/read_write.c, fs/ioctl.c,
 * arch/x86/kernel/sys_x86_64.c, mm/mmap.c, fs/eventfd.c, kernel/fork.c; 5.8). Each is a
 * task `(k, proc, ...args) => Task<number>` returning a value or -errno, and emits one
 * `syscall` event.
 */
import { EBADF, EFAULT, EINVAL, ENOENT, ENOTDIR, ENOTTY } from './errno.js';
import { devfs } from './fs/devfs.js';
import { isSysfsPath, O_DIRECTORY, sysfsDirents, sysfsOpen, sysfsReadlink } from './fs/sysfs.js';
import { storeUser } from './vfio/uaccess.js';
import { LINUX_DIRENT64, LINUX_DIRENT64_NAME_OFFSET } from '../uapi/dirent.js';
import { eventfdFileCreate, O_CLOEXEC, O_NONBLOCK } from './fs/eventfd.js';
import { type FilePos, fput, getFile, type KFile, taskWorkPending, taskWorkRun } from './fs/file.js';
import type { Kernel } from './kernel.js';
import { doMmap, doMunmap, fileCanRead, fileCanWrite } from './mm/mmap.js';
import { PAGE_SIZE, TASK_SIZE } from './mm/mm.js';
import { MAP_ANONYMOUS } from './mm/types.js';
import { forkProcess, type KProcessImpl } from './process.js';
import type { Task } from './sched/task.js';

export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_ACCMODE = 3;
export { O_NONBLOCK, O_CLOEXEC };
/** -ENOIOCTLCMD (include/linux/errno.h): a driver's "not mine", turned into -ENOTTY. */
export const ENOIOCTLCMD = 515;
/** MAX_RW_COUNT (include/linux/fs.h): INT_MAX rounded down to a page. */
export const MAX_RW_COUNT = 0x7ffff000;

function hex(n: number): string {
  return n < 0 ? String(n) : `0x${n.toString(16)}`;
}

function emit(k: Kernel, proc: KProcessImpl, name: string, args: string, ret: number): number {
  k.events.emit({ kind: 'syscall', pid: proc.pid, name, args, ret });
  return ret;
}

/**
 * The `syscall` event of a call whose arguments are `a, hex(b), c` (read/write) or
 * `a, hex(b), c, hex(d)` (pread64/pwrite64; `d` given) or `a, hex(b), hex(c)` (ioctl;
 * `hexC`). The argument string is only built when someone can observe the event.
 */
function emitNum(k: Kernel, proc: KProcessImpl, name: string, a: number, b: number, c: number, hexC: boolean, d: number | null, ret: number): number {
  const ev = k.events;
  if (!ev.active) {
    ev.skipCounted(ev.hot.syscall);
    return ret;
  }
  let args = `${a}, ${hex(b)}, ${hexC ? hex(c) : String(c)}`;
  if (d !== null) args += `, ${hex(d)}`;
  ev.emit({ kind: 'syscall', pid: proc.pid, name, args, ret });
  return ret;
}

/**
 * exit_to_user_mode (kernel/entry/common.c, 5.8-6.12; arch/x86 prepare_exit_to_usermode
 * before 5.8): a system call's return to user space runs the task's queued task_work
 * first (task_work_run: the deferred __fput of files whose last reference the call
 * dropped), after the call itself has finished and dropped its locks. `ret` is the
 * call's result.
 */
function* exitToUserMode(ret: number): Task<number> {
  if (taskWorkPending()) yield* taskWorkRun();
  return ret;
}

/** fdget (include/linux/file.h, 5.8): the file behind `fd` with a reference for the duration of the call, or null. */
function fdget(proc: KProcessImpl, fd: number): KFile | null {
  const f = proc.files.get(fd);
  return f === undefined ? null : getFile(f);
}

/**
 * do_sys_open (fs/open.c, 5.8) for a device node (devfs lookup → the driver's open) or a
 * /sys path (kernfs_fop_open); fd or -errno.
 */
export function* sysOpen(k: Kernel, proc: KProcessImpl, path: string, flags: number): Task<number> {
  let r: KFile | number;
  if (isSysfsPath(path)) r = sysfsOpen(k, path, flags);
  else if ((flags & O_DIRECTORY) !== 0) r = devfs(k).lookup(path) === undefined ? -ENOENT : -ENOTDIR; // a device node is no directory
  else r = yield* devfs(k).open(k, path, flags);
  let ret: number;
  if (typeof r === 'number') {
    ret = r;
  } else {
    ret = proc.files.install(r);
    if (ret < 0) yield* fput(r);
  }
  return yield* exitToUserMode(emit(k, proc, 'open', `"${path}", ${hex(flags)}`, ret));
}

/** close(2) (fs/open.c, 5.8): -EBADF for an unused fd. */
export function* sysClose(k: Kernel, proc: KProcessImpl, fd: number): Task<number> {
  const f = proc.files.remove(fd);
  if (f === undefined) return yield* exitToUserMode(emit(k, proc, 'close', `${fd}`, -EBADF));
  yield* fput(f);
  return yield* exitToUserMode(emit(k, proc, 'close', `${fd}`, 0));
}

/** rw_verify_area (fs/read_write.c, 5.8) + access_ok for a read/write of `count` bytes at `buf`, position `pos`. */
function verifyArea(buf: number, count: number, pos: number): number {
  if (pos < 0) return -EINVAL;
  if (count < 0 || buf < 0 || buf + Math.min(count, MAX_RW_COUNT) > TASK_SIZE) return -EFAULT;
  return 0;
}

/** vfs_read (fs/read_write.c, 5.8): the mode and area checks, then the driver's read at `pos`. */
function* vfsRead(f: KFile, buf: number, count: number, pos: FilePos): Task<number> {
  if (!fileCanRead(f)) return -EBADF;
  const op = f.fops.read;
  if (op === undefined) return -EINVAL;
  const err = verifyArea(buf, count, pos.value);
  if (err !== 0) return err;
  return yield* op(f, buf, Math.min(count, MAX_RW_COUNT), pos);
}

/** vfs_write (fs/read_write.c, 5.8): the mode and area checks, then the driver's write at `pos`. */
function* vfsWrite(f: KFile, buf: number, count: number, pos: FilePos): Task<number> {
  if (!fileCanWrite(f)) return -EBADF;
  const op = f.fops.write;
  if (op === undefined) return -EINVAL;
  const err = verifyArea(buf, count, pos.value);
  if (err !== 0) return err;
  return yield* op(f, buf, Math.min(count, MAX_RW_COUNT), pos);
}

/** ksys_read (fs/read_write.c, 5.8): read(2); uses and advances the file position. */
export function* sysRead(k: Kernel, proc: KProcessImpl, fd: number, buf: number, count: number): Task<number> {
  const f = fdget(proc, fd);
  if (f === null) return yield* exitToUserMode(emitNum(k, proc, 'read', fd, buf, count, false, null, -EBADF));
  const pos: FilePos = { value: f.pos };
  const ret = yield* vfsRead(f, buf, count, pos);
  if (ret >= 0) f.pos = pos.value;
  yield* fput(f);
  return yield* exitToUserMode(emitNum(k, proc, 'read', fd, buf, count, false, null, ret));
}

/** ksys_write (fs/read_write.c, 5.8): write(2); uses and advances the file position. */
export function* sysWrite(k: Kernel, proc: KProcessImpl, fd: number, buf: number, count: number): Task<number> {
  const f = fdget(proc, fd);
  if (f === null) return yield* exitToUserMode(emitNum(k, proc, 'write', fd, buf, count, false, null, -EBADF));
  const pos: FilePos = { value: f.pos };
  const ret = yield* vfsWrite(f, buf, count, pos);
  if (ret >= 0) f.pos = pos.value;
  yield* fput(f);
  return yield* exitToUserMode(emitNum(k, proc, 'write', fd, buf, count, false, null, ret));
}

/** ksys_pread64 (fs/read_write.c, 5.8): pread64(2); -EINVAL for a negative offset, -EBADF for a bad fd. */
export function* sysPread(k: Kernel, proc: KProcessImpl, fd: number, buf: number, count: number, offset: number): Task<number> {
  if (offset < 0) return yield* exitToUserMode(emitNum(k, proc, 'pread64', fd, buf, count, false, offset, -EINVAL));
  const f = fdget(proc, fd);
  if (f === null) return yield* exitToUserMode(emitNum(k, proc, 'pread64', fd, buf, count, false, offset, -EBADF));
  const pos: FilePos = { value: offset };
  const ret = yield* vfsRead(f, buf, count, pos);
  yield* fput(f);
  return yield* exitToUserMode(emitNum(k, proc, 'pread64', fd, buf, count, false, offset, ret));
}

/** ksys_pwrite64 (fs/read_write.c, 5.8): pwrite64(2); -EINVAL for a negative offset, -EBADF for a bad fd. */
export function* sysPwrite(k: Kernel, proc: KProcessImpl, fd: number, buf: number, count: number, offset: number): Task<number> {
  if (offset < 0) return yield* exitToUserMode(emitNum(k, proc, 'pwrite64', fd, buf, count, false, offset, -EINVAL));
  const f = fdget(proc, fd);
  if (f === null) return yield* exitToUserMode(emitNum(k, proc, 'pwrite64', fd, buf, count, false, offset, -EBADF));
  const pos: FilePos = { value: offset };
  const ret = yield* vfsWrite(f, buf, count, pos);
  yield* fput(f);
  return yield* exitToUserMode(emitNum(k, proc, 'pwrite64', fd, buf, count, false, offset, ret));
}

/** ksys_ioctl → vfs_ioctl (fs/ioctl.c, 5.8): ioctl(2); -ENOTTY without unlocked_ioctl or for -ENOIOCTLCMD. */
export function* sysIoctl(k: Kernel, proc: KProcessImpl, fd: number, cmd: number, arg: number): Task<number> {
  const f = fdget(proc, fd);
  if (f === null) return yield* exitToUserMode(emitNum(k, proc, 'ioctl', fd, cmd, arg, true, null, -EBADF));
  const op = f.fops.unlockedIoctl;
  let ret = op === undefined ? -ENOTTY : yield* op(f, cmd, arg);
  if (ret === -ENOIOCTLCMD) ret = -ENOTTY;
  yield* fput(f);
  return yield* exitToUserMode(emitNum(k, proc, 'ioctl', fd, cmd, arg, true, null, ret));
}

/**
 * ksys_mmap_pgoff (mm/mmap.c, 5.8): mmap(2) via arch/x86/kernel/sys_x86_64.c; -EINVAL for an
 * offset that is not page aligned; the fd is used unless MAP_ANONYMOUS (-EBADF if bad).
 * Returns the address or -errno.
 */
export function* sysMmap(
  k: Kernel,
  proc: KProcessImpl,
  addr: number,
  len: number,
  prot: number,
  flags: number,
  fd: number,
  offset: number,
): Task<number> {
  const args = `${hex(addr)}, ${hex(len)}, ${prot}, ${hex(flags)}, ${fd}, ${hex(offset)}`;
  if (offset % PAGE_SIZE !== 0) return yield* exitToUserMode(emit(k, proc, 'mmap', args, -EINVAL));
  let file: KFile | null = null;
  if ((flags & MAP_ANONYMOUS) === 0) {
    file = fdget(proc, fd);
    if (file === null) return yield* exitToUserMode(emit(k, proc, 'mmap', args, -EBADF));
  }
  const ret = yield* doMmap(k, proc, addr, len, prot, flags, file, Math.floor(offset / PAGE_SIZE));
  if (file !== null) yield* fput(file);
  return yield* exitToUserMode(emit(k, proc, 'mmap', args, ret));
}

/** __vm_munmap (mm/mmap.c, 5.8): munmap(2). */
export function* sysMunmap(k: Kernel, proc: KProcessImpl, addr: number, len: number): Task<number> {
  const ret = yield* doMunmap(k, proc, addr, len);
  return yield* exitToUserMode(emit(k, proc, 'munmap', `${hex(addr)}, ${hex(len)}`, ret));
}

/** eventfd2(2) (fs/eventfd.c, 5.8): a new eventfd's fd, -EINVAL for unknown flags. */
export function* sysEventfd(k: Kernel, proc: KProcessImpl, initval: number, flags: number): Task<number> {
  const f = eventfdFileCreate(k, initval, flags);
  let ret: number;
  if (typeof f === 'number') {
    ret = f;
  } else {
    ret = proc.files.install(f);
    if (ret < 0) yield* fput(f);
  }
  return yield* exitToUserMode(emit(k, proc, 'eventfd2', `${initval}, ${hex(flags)}`, ret));
}

/**
 * fork(2) (kernel/fork.c, 5.8): the child's pid or -errno. `openBeforeCopy` selects the
 * dup_mmap order of commit 35e351780fa9 (vm_ops->open before copy_page_range); when it
 * is not given the kernel's own order is used (knob forkOpenBeforeCopy).
 * `sysForkProcess` returns the child itself.
 */
export function* sysFork(k: Kernel, proc: KProcessImpl, openBeforeCopy?: boolean): Task<number> {
  const r = yield* sysForkProcess(k, proc, openBeforeCopy);
  return typeof r === 'number' ? r : r.pid;
}

/** _do_fork (kernel/fork.c, 5.8): fork(2), returning the child process itself (or -errno); emits the `syscall` event. */
export function* sysForkProcess(k: Kernel, proc: KProcessImpl, openBeforeCopy?: boolean): Task<KProcessImpl | number> {
  const r = yield* forkProcess(k, proc, openBeforeCopy ?? k.knobs.forkOpenBeforeCopy);
  emit(k, proc, 'fork', '', typeof r === 'number' ? r : r.pid);
  if (taskWorkPending()) yield* taskWorkRun(); // exit_to_user_mode: a failed fork's child files
  return r;
}

/**
 * do_readlinkat (fs/stat.c, 5.8): readlink(2) of a /sys path; copies at most `bufsiz`
 * bytes of the target (no NUL) to `buf`; the count, or -EINVAL (not a link, bufsiz <= 0),
 * -ENOENT, -EFAULT.
 */
export function* sysReadlink(k: Kernel, proc: KProcessImpl, path: string, buf: number, bufsiz: number): Task<number> {
  const args = `"${path}", ${hex(buf)}, ${bufsiz}`;
  if (bufsiz <= 0) return emit(k, proc, 'readlink', args, -EINVAL);
  const t = isSysfsPath(path) ? sysfsReadlink(k, path) : devfs(k).lookup(path) !== undefined ? -EINVAL : -ENOENT;
  if (typeof t === 'number') return emit(k, proc, 'readlink', args, t);
  const bytes = new TextEncoder().encode(t).subarray(0, bufsiz);
  const r = yield* storeUser(k, buf, bytes);
  return emit(k, proc, 'readlink', args, r !== 0 ? r : bytes.length);
}

/**
 * getdents64(2) (fs/readdir.c, 5.8; filldir64): as many struct linux_dirent64 records of
 * the directory, from the file position on, as fit in `count` bytes; bytes written, 0
 * at the end, -ENOTDIR for a file that is not a directory, -EINVAL when not even one
 * record fits, -EFAULT.
 */
export function* sysGetdents64(k: Kernel, proc: KProcessImpl, fd: number, dirp: number, count: number): Task<number> {
  const args = `${fd}, ${hex(dirp)}, ${count}`;
  const f = fdget(proc, fd);
  if (f === null) return emit(k, proc, 'getdents64', args, -EBADF);
  const ents = sysfsDirents(f);
  let ret: number;
  if (ents === null) ret = -ENOTDIR;
  else {
    const out: Uint8Array[] = [];
    let used = 0;
    let pos = f.pos;
    for (; pos < ents.length; pos++) {
      const e = ents[pos] as (typeof ents)[number]; // pos < length
      const name = new TextEncoder().encode(e.name);
      const reclen = Math.ceil((LINUX_DIRENT64_NAME_OFFSET + name.length + 1) / 8) * 8;
      if (used + reclen > count) break;
      const rec = new Uint8Array(reclen);
      LINUX_DIRENT64.encode({ ino: e.ino, off: pos + 1, reclen, type: e.type }, rec);
      rec.set(name, LINUX_DIRENT64_NAME_OFFSET);
      out.push(rec);
      used += reclen;
    }
    if (out.length === 0 && pos < ents.length) ret = -EINVAL;
    else {
      const all = new Uint8Array(used);
      let o = 0;
      for (const r of out) {
        all.set(r, o);
        o += r.length;
      }
      const w = yield* storeUser(k, dirp, all);
      if (w !== 0) ret = w;
      else {
        f.pos = pos;
        ret = used;
      }
    }
  }
  yield* fput(f);
  return emit(k, proc, 'getdents64', args, ret);
}

/** Every system call by its name, for table-driven callers: `syscalls.pread(k, proc, fd, buf, n, off)`. */
export const syscalls = {
  open: sysOpen,
  close: sysClose,
  read: sysRead,
  write: sysWrite,
  pread: sysPread,
  pwrite: sysPwrite,
  ioctl: sysIoctl,
  mmap: sysMmap,
  munmap: sysMunmap,
  eventfd: sysEventfd,
  fork: sysFork,
  readlink: sysReadlink,
  getdents64: sysGetdents64,
} as const;
