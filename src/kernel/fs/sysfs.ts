/**
 * A small sysfs (fs/sysfs, fs/kernfs; Linux 5.8 layout): a tree of directories, text
 * attributes, binary attributes and symlinks, built on demand from kernel state, reached
 * through open/read/pread/pwrite/getdents64/readlink like any other file. The PCI part
 * (drivers/pci/pci-sysfs.c, drivers/iommu/iommu.c) lives in src/kernel/pci/pci-sysfs.ts
 * and registers its top-level directories here.
 */
import { EACCES, EINVAL, ENAMETOOLONG, ENODEV, EISDIR, ELOOP, ENOENT, ENOTDIR } from '../errno.js';
import type { Kernel } from '../kernel.js';
import type { Task } from '../sched/task.js';
import { SideTable } from '../../util/side-table.js';
import { fetchUser, storeUser } from '../vfio/uaccess.js';
import { type FilePos, KFile } from './file.js';
import { spliceAll } from '../../util/array.js';

/** A directory: its entry names (in the order getdents64 returns them) and a lookup. */
export interface SysfsDir {
  readonly kind: 'dir';
  list(): string[];
  child(name: string): SysfsNode | null;
}

/**
 * An attribute file. A text attribute has `show` (kernfs seq_show: the whole content,
 * rendered at each read from offset 0); a binary attribute has `read`/`write` at a
 * position (kernfs bin_attribute). A file without `write`/`store` cannot be opened for
 * writing (kernfs_fop_open: -EACCES).
 */
export interface SysfsAttr {
  readonly kind: 'attr';
  show?(k: Kernel): string;
  /** Binary read of `count` bytes at `pos` into a kernel buffer: the bytes read. */
  read?(k: Kernel, pos: number, count: number): Task<Uint8Array>;
  /** Binary write of `data` at `pos`: bytes written or -errno. */
  write?(k: Kernel, pos: number, data: Uint8Array): Task<number>;
  /** Size shown by stat (bin_attribute.size); text attributes are 4096. */
  readonly size?: number;
}

/** A symlink: its target as readlink(2) returns it (relative to the link's directory). */
export interface SysfsLink {
  readonly kind: 'link';
  readonly target: string;
}

export type SysfsNode = SysfsDir | SysfsAttr | SysfsLink;

/** A directory of fixed entries (each made when looked up). */
export function sysfsDir(entries: () => ReadonlyArray<readonly [string, () => SysfsNode | null]>): SysfsDir {
  return {
    kind: 'dir',
    list: () => entries().map(([n]) => n),
    child: (name) => {
      const e = entries().find(([n]) => n === name);
      return e === undefined ? null : e[1]();
    },
  };
}

/**
 * A top-level directory's maker: a module-level function and its argument (the subsystem
 * state it reads), so that nothing per kernel is a closure and a copy of the whole
 * System (src/check/snapshot.ts) makes its own nodes. Nodes are made at each lookup
 * and never kept.
 */
interface RootMaker {
  readonly make: (arg: unknown) => SysfsNode;
  readonly arg: unknown;
}

/** The top-level directories of /sys of one kernel (bus, devices, kernel, ...). */
const roots = new SideTable<Kernel, Map<string, RootMaker>>('sysfsRoots');

/** Register a top-level /sys directory (a later registration of the same name replaces it). */
export function sysfsRegisterRoot<A>(k: Kernel, name: string, make: (arg: A) => SysfsNode, arg: A): void {
  let m = roots.get(k);
  if (m === undefined) {
    m = new Map();
    roots.set(k, m);
  }
  m.set(name, { make: make as (arg: unknown) => SysfsNode, arg });
}

/** The /sys directory of kernel `k`. */
function sysRoot(k: Kernel): SysfsDir {
  const m = roots.get(k) ?? new Map<string, RootMaker>();
  const names = [...m.keys()].sort();
  const make = (n: string): SysfsNode => {
    const r = m.get(n) as RootMaker; // n is one of m's keys
    return r.make(r.arg);
  };
  return sysfsDir(() => names.map((n) => [n, () => make(n)] as const));
}

/** PATH_MAX (include/uapi/linux/limits.h), the terminating NUL included. */
const PATH_MAX = 4096;

/** SYMLOOP_MAX / MAXSYMLINKS (include/linux/namei.h). */
const MAXSYMLINKS = 40;

/** Whether `path` names something under /sys (the only mount the model has besides /dev). */
export function isSysfsPath(path: string): boolean {
  return path === '/sys' || path.startsWith('/sys/');
}

/**
 * path_lookupat for a /sys path (fs/namei.c, 5.8): walk the components from /, following
 * symlinks in the middle of the path (and at the end when `follow`), `.` and `..` as the
 * kernel does. The node and its canonical path, or -ENOENT / -ENOTDIR / -ELOOP /
 * -ENAMETOOLONG (a path of PATH_MAX bytes or more, as getname refuses it).
 */
export function sysfsLookup(k: Kernel, path: string, follow = true): { node: SysfsNode; path: string } | number {
  if (path.length >= PATH_MAX) return -ENAMETOOLONG;
  if (!path.startsWith('/')) return -ENOENT;
  const pending = path.split('/').filter((c) => c !== '' && c !== '.');
  let cur: string[] = [];
  let links = 0;
  const trailingSlash = path.endsWith('/');
  while (pending.length > 0) {
    const name = pending.shift() as string; // length checked above
    if (name === '..') {
      cur.pop();
      continue;
    }
    const dir = nodeAt(k, cur);
    if (dir === null) return -ENOENT;
    if (dir.kind !== 'dir') return -ENOTDIR;
    const node = dir.child(name);
    if (node === null) return -ENOENT;
    const last = pending.length === 0;
    if (node.kind === 'link' && (!last || follow || trailingSlash)) {
      if (++links > MAXSYMLINKS) return -ELOOP;
      const t = node.target.split('/').filter((c) => c !== '' && c !== '.');
      if (node.target.startsWith('/')) cur = [];
      spliceAll(pending, 0, 0, t);
      continue;
    }
    cur.push(name);
  }
  const node = nodeAt(k, cur);
  if (node === null) return -ENOENT;
  if (trailingSlash && node.kind !== 'dir') return -ENOTDIR;
  return { node, path: `/${cur.join('/')}` };
}

/** The node at the canonical components `c` (no links among them), or null. */
function nodeAt(k: Kernel, c: readonly string[]): SysfsNode | null {
  // '/' as far as the model has it: only its 'sys' entry (devices nodes are in devfs)
  let n: SysfsNode | null = sysfsDir(() => [['sys', () => sysRoot(k)]]);
  for (let i = 0; i < c.length && n !== null; i++) n = n.kind === 'dir' ? n.child(c[i] as string) : null;
  return n;
}

/** O_DIRECTORY (include/uapi/asm-generic/fcntl.h, x86-64) */
export const O_DIRECTORY = 0o200000;
/** O_ACCMODE */
const O_ACCMODE = 3;

/**
 * A sysfs file's private data: the kernel and the node's canonical path (kernfs keeps
 * the kernfs_node; the model looks the node up again at each operation, so a file holds
 * no closure).
 */
interface SysfsFile {
  readonly k: Kernel;
  readonly path: string;
}

/** The node an open sysfs file stands for, or null if it went away (a device removed). */
function fileNode(f: KFile): SysfsNode | null {
  const { k, path } = f.privateData as SysfsFile;
  const r = sysfsLookup(k, path, false);
  return typeof r === 'number' ? null : r.node;
}

/**
 * kernfs_fop_open / kernfs_dir_fop for a /sys path: a new file, or -errno
 * (-ENOENT, -ENOTDIR for O_DIRECTORY on a file, -EISDIR for writing a directory,
 * -EACCES for writing an attribute without a store/write method).
 */
export function sysfsOpen(k: Kernel, path: string, flags: number): KFile | number {
  const r = sysfsLookup(k, path);
  if (typeof r === 'number') return r;
  const { node } = r;
  const acc = flags & O_ACCMODE;
  if (node.kind === 'dir') {
    if (acc !== 0) return -EISDIR;
    const f = new KFile(r.path, DIR_FOPS, flags);
    f.privateData = { k, path: r.path } satisfies SysfsFile;
    return f;
  }
  if ((flags & O_DIRECTORY) !== 0) return -ENOTDIR;
  if (node.kind === 'link') return -ENOENT; // a dangling link (followed above otherwise)
  if (acc !== 0 && node.write === undefined) return -EACCES;
  const f = new KFile(r.path, ATTR_FOPS, flags);
  f.privateData = { k, path: r.path } satisfies SysfsFile;
  return f;
}

/** generic_read_dir (fs/libfs.c): reading a directory is -EISDIR. */
const DIR_FOPS = {
  /** generic_read_dir (fs/libfs.c, 5.8) */
  *read(): Task<number> {
    return -EISDIR;
  },
};

/** kernfs_file_fops: show/read at the file position, write through the binary attribute. */
const ATTR_FOPS = {
  /** kernfs_fop_read (fs/kernfs/file.c, 5.8): show, or the binary attribute's read, from the file position. */
  *read(file: KFile, buf: number, count: number, pos: FilePos): Task<number> {
    const { k } = file.privateData as SysfsFile;
    const a = fileNode(file);
    if (a === null || a.kind !== 'attr') return -ENODEV;
    let data: Uint8Array;
    if (a.read !== undefined) {
      data = yield* a.read(k, pos.value, count);
    } else {
      // kernfs_seq_show: the whole text, served from the position
      const text = new TextEncoder().encode(a.show === undefined ? '' : a.show(k));
      data = text.subarray(Math.min(pos.value, text.length), Math.min(pos.value + count, text.length));
    }
    if (data.length === 0) return 0;
    const r = yield* storeUser(k, buf, data);
    if (r !== 0) return r;
    pos.value += data.length;
    return data.length;
  },
  /** kernfs_fop_write (fs/kernfs/file.c, 5.8): through the binary attribute's write. */
  *write(file: KFile, buf: number, count: number, pos: FilePos): Task<number> {
    const { k } = file.privateData as SysfsFile;
    const a = fileNode(file);
    if (a === null || a.kind !== 'attr') return -ENODEV;
    if (a.write === undefined) return -EINVAL;
    const data = yield* fetchUser(k, buf, count);
    if (typeof data === 'number') return data;
    const r = yield* a.write(k, pos.value, data);
    if (r > 0) pos.value += r;
    return r;
  },
};

/** d_type values (include/linux/fs_types.h). */
export const DT_DIR = 4;
export const DT_REG = 8;
export const DT_LNK = 10;

/** One directory entry as getdents64 reports it. */
export interface SysfsDirent {
  readonly name: string;
  readonly type: number;
  readonly ino: number;
}

/**
 * The entries of an open directory file, '.' and '..' first (dir_emit_dots), then the
 * directory's own; null if `f` is not a sysfs directory. Inode numbers are the entry's
 * position plus one (stable for one listing, which is all the model promises).
 */
export function sysfsDirents(f: KFile): SysfsDirent[] | null {
  if (f.fops !== DIR_FOPS) return null;
  const d = fileNode(f);
  if (d === null || d.kind !== 'dir') return [];
  const out: SysfsDirent[] = [
    { name: '.', type: DT_DIR, ino: 1 },
    { name: '..', type: DT_DIR, ino: 2 },
  ];
  for (const name of d.list()) {
    const n = d.child(name);
    if (n === null) continue;
    out.push({ name, type: n.kind === 'dir' ? DT_DIR : n.kind === 'link' ? DT_LNK : DT_REG, ino: out.length + 1 });
  }
  return out;
}

/** readlink of a /sys path (do_readlinkat, fs/stat.c): the target, -EINVAL if not a link, -ENOENT. */
export function sysfsReadlink(k: Kernel, path: string): string | number {
  const r = sysfsLookup(k, path, false);
  if (typeof r === 'number') return r;
  return r.node.kind === 'link' ? r.node.target : -EINVAL;
}

