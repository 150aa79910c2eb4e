/**
 * A minimal device filesystem: paths like '/dev/vfio/vfio' bound to the open routine of
 * the driver that registered them (the model's chrdev_open + misc/cdev lookup). One
 * registry per kernel.
 */
import { ENOENT } from '../errno.js';
import type { Kernel } from '../kernel.js';
import { done, type Task } from '../sched/task.js';
import type { KFile } from './file.js';

/** A driver's open: the new file (with one reference) or -errno. */
export type DevOpen = (k: Kernel, flags: number) => Task<KFile | number>;

/** The device-node registry of one kernel. */
export class Devfs {
  private readonly nodes = new Map<string, DevOpen>();

  /** Bind `path` to a driver's open routine (a later registration of the same path replaces it). */
  register(path: string, open: DevOpen): void {
    this.nodes.set(path, open);
  }

  /** Remove a node (device unbound / module unloaded). */
  unregister(path: string): void {
    this.nodes.delete(path);
  }

  /** The open routine bound to `path`, if any. */
  lookup(path: string): DevOpen | undefined {
    return this.nodes.get(path);
  }

  /** Every registered path, sorted. */
  paths(): string[] {
    return [...this.nodes.keys()].sort();
  }

  /**
   * do_filp_open for a device node: the driver's file, or -ENOENT for an unknown path.
   * The lookup runs when it is called (callers `yield*` the result at once) and the
   * driver's open task is handed back as is.
   */
  open(k: Kernel, path: string, flags: number): Task<KFile | number> {
    const op = this.nodes.get(path);
    if (op === undefined) return done(-ENOENT);
    return op(k, flags);
  }
}

const registries = new WeakMap<Kernel, Devfs>();

/** The device-node registry of kernel `k`. */
export function devfs(k: Kernel): Devfs {
  let d = registries.get(k);
  if (d === undefined) {
    d = new Devfs();
    registries.set(k, d);
  }
  return d;
}

/** Shorthand for `devfs(k).register(path, open)`. */
export function registerDevice(k: Kernel, path: string, open: DevOpen): void {
  devfs(k).register(path, open);
}
