/**
 * A minimal device filesystem: paths like '/dev/vfio/vfio' bound to the open routine of
 * the driver that registered them (the model's chrdev_open + misc/cdev lookup). One
 * registry per kernel.
 */
import { ENOENT } from '../errno.js';
import type { Kernel } from '../kernel.js';
import type { Task } from '../sched/task.js';
import type { KFile } from './file.js';
import { SideTable } from '../../util/side-table.js';

/**
 * A driver's open: the new file (with one reference) or -errno. `arg` is the value the
 * driver registered with it (its device: a driver passes its state this way rather than
 * in a closure, so that a copy of the whole System, src/check/snapshot.ts, opens its own).
 */
export type DevOpen<A = undefined> = (k: Kernel, flags: number, arg: A) => Task<KFile | number>;

/** A registered node: the driver's open routine and its argument. */
interface DevNode {
  readonly open: DevOpen<unknown>;
  readonly arg: unknown;
}

/** The device-node registry of one kernel. */
export class Devfs {
  private readonly nodes = new Map<string, DevNode>();

  /** Bind `path` to a driver's open routine (a later registration of the same path replaces it). */
  register(path: string, open: DevOpen): void;
  register<A>(path: string, open: DevOpen<A>, arg: A): void;
  register<A>(path: string, open: DevOpen<A>, arg?: A): void {
    this.nodes.set(path, { open: open as unknown as DevOpen<unknown>, arg });
  }

  /** Remove a node (device unbound / module unloaded). */
  unregister(path: string): void {
    this.nodes.delete(path);
  }

  /** The open routine bound to `path` (with its argument), if any. */
  lookup(path: string): ((k: Kernel, flags: number) => Task<KFile | number>) | undefined {
    const n = this.nodes.get(path);
    return n === undefined ? undefined : (k, flags) => n.open(k, flags, n.arg);
  }

  /** Every registered path, sorted. */
  paths(): string[] {
    return [...this.nodes.keys()].sort();
  }

  /** do_filp_open (fs/namei.c, 5.8): for a device node, the driver's file, or -ENOENT for an unknown path. */
  *open(k: Kernel, path: string, flags: number): Task<KFile | number> {
    const n = this.nodes.get(path);
    if (n === undefined) return -ENOENT;
    return yield* n.open(k, flags, n.arg);
  }
}

const registries = new SideTable<Kernel, Devfs>('registries');

/** The device-node registry of kernel `k`. */
export function devfs(k: Kernel): Devfs {
  let d = registries.get(k);
  if (d === undefined) {
    d = new Devfs();
    registries.set(k, d);
  }
  return d;
}

/** Shorthand for `devfs(k).register(path, open, arg)`. */
export function registerDevice(k: Kernel, path: string, open: DevOpen): void;
export function registerDevice<A>(k: Kernel, path: string, open: DevOpen<A>, arg: A): void;
export function registerDevice<A>(k: Kernel, path: string, open: DevOpen<A>, arg?: A): void {
  devfs(k).register(path, open, arg as A);
}
