/**
 * The lock validator (kernel/locking/lockdep.c, with the read/write dependency kinds and
 * strong-path search of 5.10+, Documentation/locking/lockdep-design.rst). It sees every
 * acquisition and release through the LockValidator hooks of the lock primitives and
 * proves — from the order in which locks were ever taken, not from a deadlock actually
 * happening — that no schedule can deadlock:
 *
 * - locks are grouped into classes (the class name given at creation, e.g.
 *   '&vdev->memory_lock'); the dependency graph is between classes, so an order seen on
 *   one device's locks is checked against the order seen on another's;
 * - each thread has a held-lock stack; a new acquisition adds `held -> new` dependencies
 *   (from the top of the stack down through consecutive trylocks to the first
 *   non-trylock), each tagged with its kind (ER, EN, SR, SN);
 * - a dependency that would close a strong cycle (no -(xR)-> followed by -(Sx)->) is
 *   reported as a possible circular locking dependency; taking a class already held is
 *   reported as possible recursive locking, unless the new acquisition is a recursive
 *   read under a read (down_read is a non-recursive read: a queued writer blocks it);
 * - a trylock is pushed on the held stack but adds no dependency into itself;
 * - the held sequence of (class, read mode) is the chain key; a chain already in the
 *   cache (a trie of sequences, standing in for the kernel's chain-key hash) is not
 *   validated again;
 * - releasing a lock that is not on top re-acquires the ones above it (new chains are
 *   validated), and downgrade_write re-acquires the held entry as a read;
 * - the first report turns the validator off (debug_locks_off), as in the kernel.
 *
 * Reports are kept in `reports` and emitted as 'lockdep' events.
 *
 * Not modelled: irq-safe/irq-unsafe usage checks (nothing runs in interrupt context),
 * subclasses and nest_lock annotations (down_read_nested, mutex_lock_nest_lock), the
 * "bad unlock balance" report (the lock primitives BUG() first), lock pinning, and
 * check_redundant (CONFIG_LOCKDEP_SMALL only).
 */
import type { EventStream } from '../../events/stream.js';
import type { LockKind, LockSlot, LockValidator } from '../locking/lock-ctx.js';
import type { KThread } from '../sched/thread.js';
import { circularReport, type ChainEntry, recursiveReport, type ReportThread } from './report.js';
import {
  DEP_EN_MASK,
  DEP_KINDS,
  DEP_SN_MASK,
  DEP_SR_MASK,
  type DependencyInfo,
  type DepKind,
  type HeldLockEntry,
  LockChain,
  LockClass,
  type LockDependency,
  type LockdepReport,
  type LockdepReportKind,
  type LockdepStats,
  type LockRead,
  type LockSite,
} from './types.js';

export interface LockdepOptions {
  /** The kernel release printed in report headers (print_kernel_ident), e.g. '5.8.0-vfio-sim'. */
  readonly release?: string;
}

/** How many held-lock entries a lock keeps for reuse (see acquire). */
const ENTRY_CACHE = 6;

/** A thread's lockdep state (task_struct::held_locks, lockdep_depth, curr_chain_key). */
interface ThreadLocks {
  readonly held: HeldLockEntry[];
  chain: LockChain;
}

/** A node of the strong-path search: a class reached through `edge` from `parent` (lock_list in __bfs). */
interface BfsNode {
  readonly cls: LockClass;
  readonly parent: BfsNode | null;
  readonly edge: LockDependency | null;
  /** lock_list::only_xr: every dependency kind left on the path into this node ends in a recursive read. */
  onlyXr: boolean;
  readonly depth: number;
}

/** The primitive that performs an acquisition, by lock kind (for the report's trace). */
function acquireOp(kind: LockKind | null, read: LockRead, trylock: boolean): string {
  switch (kind) {
    case 'mutex':
      return trylock ? 'mutex_trylock' : 'mutex_lock';
    case 'rwsem':
      if (read !== 0) return trylock ? 'down_read_trylock' : 'down_read';
      return trylock ? 'down_write_trylock' : 'down_write';
    case 'rwlock':
      if (read !== 0) return trylock ? 'read_trylock' : 'read_lock';
      return trylock ? 'write_trylock' : 'write_lock';
    case null:
      return 'lock_acquire';
  }
}

/** calc_dep (kernel/locking/lockdep.c, 5.15): the kind of `prev -> next`. */
function calcDep(prev: HeldLockEntry, next: HeldLockEntry): number {
  return 1 << ((prev.read === 0 ? 1 : 0) + (next.read !== 2 ? 2 : 0));
}

/** The dependency kinds of a DEP_* mask. */
export function depKinds(mask: number): DepKind[] {
  return DEP_KINDS.filter((_, bit) => (mask & (1 << bit)) !== 0);
}

export class Lockdep implements LockValidator {
  private on = true;
  /** Every report made (at most one: the first turns lockdep off). */
  readonly reports: LockdepReport[] = [];
  readonly stats: LockdepStats = { acquires: 0, chainLookups: 0, chainHits: 0, validations: 0, dependencies: 0, bfsSearches: 0 };
  /** The kernel release printed in report headers. */
  readonly kernelRelease: string;
  private readonly classes = new Map<string, LockClass>();
  /** The chain-key cache (lock_chains): the empty chain, root of every held-class sequence validated. */
  private readonly chains = new LockChain(0, null);
  /** Per-thread lock state (a Map, not a WeakMap: a copy of the System copies it, see src/check/snapshot.ts). */
  private readonly threads = new Map<KThread, ThreadLocks>();
  /** One-entry cache of `threads` (consecutive lock operations mostly come from one thread). */
  private lastThread: KThread | null = null;
  private lastLocks: ThreadLocks | null = null;
  private gen = 0;

  constructor(
    private readonly events: EventStream,
    opts: LockdepOptions = {},
  ) {
    this.kernelRelease = opts.release ?? 'vfio-sim';
  }

  /** debug_locks: true until the first report (or turnOff) turns the validator off for good. */
  get debugLocks(): boolean {
    return this.on;
  }

  // ---- LockValidator hooks -------------------------------------------------------------

  /** lockdep_init_map (kernel/locking/lockdep.c, 5.15; from mutex_init / init_rwsem): register the class and its kind. */
  lockInit(_lockId: string, cls: string, kind: LockKind): void {
    const c = this.lockClass(cls);
    if (c.kind === null) c.kind = kind;
  }

  /** lock_acquire (kernel/locking/lockdep.c, 5.15) for a mutex or rwsem: write = exclusive, read = non-recursive read (down_read). */
  acquire(t: KThread, lockId: string, cls: string, mode: 'r' | 'w', trylock: boolean, fn: string, slot?: LockSlot): void {
    if (!this.on) return;
    // lockAcquire, with the class kept in the lock's slot after its first acquisition, and
    // the entry of its last acquisition handed out again when it is no longer held and
    // matches (entries are only read while held)
    const read: LockRead = mode === 'w' ? 0 : 1;
    let h: HeldLockEntry | null = null;
    if (slot !== undefined && slot.vowner === this) {
      // the lock's recent entries, one per acquiring function and mode (a few at most)
      const cache = slot.ventry as HeldLockEntry[];
      for (let i = 0; i < cache.length; i++) {
        const e = cache[i] as HeldLockEntry;
        if (!e.held && e.fn === fn && e.read === read && e.trylock === trylock) {
          h = e;
          break;
        }
      }
      if (h === null) {
        h = { lockId, cls: slot.vclass as LockClass, read, trylock, fn, prevChain: this.chains, held: false };
        if (cache.length < ENTRY_CACHE) cache.push(h);
        else cache[this.stats.acquires % ENTRY_CACHE] = h;
      }
    } else {
      h = { lockId, cls: this.lockClass(cls), read, trylock, fn, prevChain: this.chains, held: false };
      if (slot !== undefined) {
        slot.vowner = this;
        slot.vclass = h.cls;
        slot.ventry = [h];
      }
    }
    this.push(t, this.threadLocks(t), h, null, fn);
  }

  /** lock_release (kernel/locking/lockdep.c, 5.15). */
  release(t: KThread, lockId: string, cls: string, mode: 'r' | 'w', fn: string): void {
    if (!this.on) return;
    this.lockRelease(t, lockId, fn, mode);
  }

  /**
   * lock_downgrade (kernel/locking/lockdep.c, 5.15; from downgrade_write): the held write
   * entry becomes a read, and it and the stack above it are re-validated.
   */
  downgrade(t: KThread, lockId: string, _cls: string, fn: string): void {
    if (!this.on) return;
    const st = this.threadLocks(t);
    const i = findHeld(st.held, lockId);
    if (i < 0) return;
    const h = st.held[i] as HeldLockEntry;
    st.chain = h.prevChain;
    const list = st.held.splice(i);
    h.read = 1;
    h.fn = fn;
    // the downgraded lock is now held for read by downgrade_write; the locks above it keep
    // their own acquisitions
    this.reacquire(t, st, list, { op: 'downgrade_write', fn });
  }

  /** __might_fault (mm/memory.c, 5.8) → might_lock_read(&current->mm->mmap_lock): acquire for read and release at once. */
  mightFault(t: KThread, lockId: string, cls: string, fn: string, slot?: LockSlot): void {
    if (!this.on) return;
    // Fast path: this chain plus a read of the class is validated already, so the
    // acquire-release pair would change nothing (a chain-cache hit, push and pop).
    const c = slot !== undefined && slot.vowner === this ? (slot.vclass as LockClass) : this.classes.get(cls);
    if (c !== undefined && c.usedRead) {
      const next = this.threadLocks(t).chain.next?.get(c.ids[1]);
      if (next !== undefined && next.validated) {
        this.stats.acquires++;
        this.stats.chainLookups++;
        this.stats.chainHits++;
        return;
      }
    }
    this.lockAcquire(t, lockId, cls, 1, false, fn, '__might_fault');
    this.lockRelease(t, lockId, fn, 'r');
  }

  // ---- the validator ---------------------------------------------------------------------

  /**
   * lock_acquire (kernel/locking/lockdep.c, 5.15): `read` 0 exclusive, 1 non-recursive
   * read, 2 recursive read. `op` names the primitive in reports (default: from the kind).
   */
  lockAcquire(t: KThread, lockId: string, cls: string, read: LockRead, trylock: boolean, fn: string, op?: string): void {
    if (!this.on) return;
    const c = this.lockClass(cls);
    const h: HeldLockEntry = { lockId, cls: c, read, trylock, fn, prevChain: this.chains, held: false };
    this.push(t, this.threadLocks(t), h, op ?? null, fn);
  }

  /**
   * lock_release (__lock_release, kernel/locking/lockdep.c, 5.15): drop the topmost entry
   * of `lockId`; entries above it are re-acquired (reacquire_held_locks, which passes each
   * entry's own acquire_ip to __lock_acquire), validating the new chains they form. A
   * dependency made then is attributed to the re-acquired lock's own acquisition (its
   * primitive — down_read, mutex_lock... — in the function that took it), as the report's
   * `-> #n (lock)` frames show where that lock was acquired, not the unlock that
   * re-validated it.
   */
  lockRelease(t: KThread, lockId: string, _fn: string, _mode: 'r' | 'w' = 'w'): void {
    if (!this.on) return;
    const st = this.threadLocks(t);
    const i = findHeld(st.held, lockId);
    if (i < 0) return; // bad unlock balance: not modelled (the lock primitives BUG() first)
    const h = st.held[i] as HeldLockEntry;
    st.chain = h.prevChain;
    if (i === st.held.length - 1) {
      st.held.pop();
      h.held = false;
      return;
    }
    if (i === st.held.length - 2) {
      // one lock above (the common out-of-order release): re-acquire it without a list
      const top = st.held.pop() as HeldLockEntry;
      st.held.pop();
      h.held = false;
      this.push(t, st, top, null, top.fn);
      return;
    }
    const above = st.held.splice(i + 1);
    st.held.pop();
    h.held = false;
    this.reacquire(t, st, above, null);
  }

  /** debug_locks_off (lib/debug_locks.c, 5.8): stop validating (no report). */
  turnOff(): void {
    this.on = false;
  }

  // ---- queries -------------------------------------------------------------------------------

  /** lockdep's held-lock stack of `t` (trylocked and might_fault entries included while held). */
  heldLocks(t: KThread): readonly HeldLockEntry[] {
    return this.threads.get(t)?.held ?? [];
  }

  /** Names of the classes seen so far, in the order they were first seen. */
  classNames(): string[] {
    return [...this.classes.keys()];
  }

  /** Every recorded dependency, in the order made. */
  dependencies(): DependencyInfo[] {
    const out: DependencyInfo[] = [];
    for (const c of this.classes.values()) {
      for (const d of c.after) out.push({ from: c.name, to: d.to.name, kinds: depKinds(d.dep), distance: d.distance, site: d.site });
    }
    return out;
  }

  /** The kinds recorded for `from -> to` (empty if there is no such dependency). */
  dependencyKinds(from: string, to: string): DepKind[] {
    const a = this.classes.get(from);
    const b = this.classes.get(to);
    if (a === undefined || b === undefined) return [];
    const d = a.afterByClass?.get(b);
    return d === undefined ? [] : depKinds(d.dep);
  }

  /** Whether a dependency `from -> to` has been recorded. */
  hasDependency(from: string, to: string): boolean {
    return this.dependencyKinds(from, to).length > 0;
  }

  // ---- internals ------------------------------------------------------------------------------

  private lockClass(name: string): LockClass {
    let c = this.classes.get(name);
    if (c === undefined) {
      c = new LockClass(this.classes.size + 1, name, null);
      this.classes.set(name, c);
    }
    return c;
  }

  private threadLocks(t: KThread): ThreadLocks {
    if (t === this.lastThread && this.lastLocks !== null) return this.lastLocks;
    let st = this.threads.get(t);
    if (st === undefined) {
      st = { held: [], chain: this.chains };
      this.threads.set(t, st);
    }
    this.lastThread = t;
    this.lastLocks = st;
    return st;
  }

  /**
   * reacquire_held_locks (kernel/locking/lockdep.c, 5.15): push `list` again in order,
   * validating each new chain; each entry is attributed to its own acquisition (`first`
   * overrides it for the list's first entry: a downgraded lock).
   */
  private reacquire(t: KThread, st: ThreadLocks, list: readonly HeldLockEntry[], first: { op: string; fn: string } | null): void {
    for (let i = 0; i < list.length; i++) {
      const h = list[i] as HeldLockEntry;
      const ok = i === 0 && first !== null ? this.push(t, st, h, first.op, first.fn) : this.push(t, st, h, null, h.fn);
      if (!ok) return;
    }
  }

  /**
   * __lock_acquire (kernel/locking/lockdep.c, 5.15): mark usage, extend the chain key, validate the chain (unless a
   * trylock), push. `op`/`fn` describe where dependencies made now are attributed.
   * False when a report turned lockdep off.
   */
  private push(t: KThread, st: ThreadLocks, h: HeldLockEntry, op: string | null, fn: string): boolean {
    this.stats.acquires++;
    const prev = st.chain;
    h.prevChain = prev;
    if (!h.trylock) {
      if (h.read === 0) h.cls.usedWrite = true;
      else h.cls.usedRead = true;
    }
    // iterate_chain_key: the chain extended by this lock (found or created in the cache).
    const id = h.cls.ids[h.read];
    let chain = prev.next?.get(id);
    if (chain === undefined) {
      chain = new LockChain(prev.depth + 1, prev);
      if (prev.next === null) prev.next = new Map();
      prev.next.set(id, chain);
    }
    if (!h.trylock && !this.validateChain(t, st, h, prev === this.chains, chain, op, fn)) return false;
    st.held.push(h);
    h.held = true;
    st.chain = chain;
    return true;
  }

  /**
   * validate_chain (kernel/locking/lockdep.c, 5.15): on a chain-cache miss, check_deadlock (same class already held), then
   * check_prevs_add for every relevant held lock (top of stack down to the first
   * non-trylock). False when a report was made.
   */
  private validateChain(t: KThread, st: ThreadLocks, h: HeldLockEntry, chainHead: boolean, chain: LockChain, op: string | null, fn: string): boolean {
    this.stats.chainLookups++;
    if (chain.validated) {
      this.stats.chainHits++;
      return true;
    }
    chain.validated = true;
    this.stats.validations++;
    const site: LockSite = { op: op ?? acquireOp(h.cls.kind, h.read, h.trylock), fn, comm: t.name, pid: t.tid, step: t.label };
    // check_deadlock: read-after-read of one class is allowed only for a recursive reader.
    for (const prev of st.held) {
      if (prev.cls !== h.cls) continue;
      if (h.read === 2 && prev.read !== 0) continue;
      this.reportRecursive(t, st, prev, h, site);
      return false;
    }
    if (chainHead) return true;
    // check_prevs_add
    for (let i = st.held.length - 1; i >= 0; i--) {
      const prev = st.held[i] as HeldLockEntry;
      if (!this.checkPrevAdd(t, st, prev, h, st.held.length - i, site)) return false;
      if (!prev.trylock) break;
    }
    return true;
  }

  /**
   * check_prev_add (kernel/locking/lockdep.c, 5.15): prove `prev -> next` closes no strong cycle (check_noncircular: a
   * strong path next -> ... -> prev that, with the new edge, has no -(xR)-> -(Sx)->
   * pair), then record the dependency or merge its kind into the existing one.
   */
  private checkPrevAdd(t: KThread, st: ThreadLocks, prev: HeldLockEntry, next: HeldLockEntry, distance: number, site: LockSite): boolean {
    this.stats.bfsSearches++;
    // hlock_conflict: found prev's class, and either prev -> next is -(E*)-> or the path ends -(*N)->.
    const hit = this.bfs(next.cls, next.read === 2, (n) => n.cls === prev.cls && (prev.read === 0 || !n.onlyXr));
    if (hit !== null) {
      // check_noncircular calls print_deadlock_bug(current, src, target) for one class: the
      // acquired lock is printed as held and the held one as being acquired, as there.
      if (next.cls === prev.cls || hit.parent === null) this.reportRecursive(t, st, next, prev, site);
      else this.reportCircular(t, st, next, prev, hit, hit.parent, site);
      return false;
    }
    const dep = calcDep(prev, next);
    const e = prev.cls.afterByClass?.get(next.cls);
    if (e !== undefined) {
      if (distance === 1) e.distance = 1;
      e.dep |= dep;
      return true;
    }
    const d: LockDependency = { from: prev.cls, to: next.cls, dep, distance, site };
    prev.cls.after.push(d);
    if (prev.cls.afterByClass === null) prev.cls.afterByClass = new Map();
    prev.cls.afterByClass.set(next.cls, d);
    this.stats.dependencies++;
    return true;
  }

  /**
   * __bfs forwards (kernel/locking/lockdep.c, 5.15): breadth-first over locks_after from `root`, each class expanded once
   * per search (the first arrival marks it), following only strong paths: after a
   * dependency that can only be -(*R)->, dependencies -(S*)-> are masked out.
   */
  private bfs(root: LockClass, rootOnlyXr: boolean, match: (n: BfsNode) => boolean): BfsNode | null {
    const gen = ++this.gen;
    const queue: BfsNode[] = [{ cls: root, parent: null, edge: null, onlyXr: rootOnlyXr, depth: 0 }];
    for (let i = 0; i < queue.length; i++) {
      const n = queue[i] as BfsNode;
      if (n.cls.gen === gen) continue;
      n.cls.gen = gen;
      if (n.parent !== null && n.edge !== null) {
        let dep = n.edge.dep;
        if (n.parent.onlyXr) dep &= ~(DEP_SR_MASK | DEP_SN_MASK);
        if (dep === 0) continue;
        n.onlyXr = (dep & (DEP_SN_MASK | DEP_EN_MASK)) === 0;
      }
      if (match(n)) return n;
      for (const e of n.cls.after) queue.push({ cls: e.to, parent: n, edge: e, onlyXr: false, depth: n.depth + 1 });
    }
    return null;
  }

  private reportThread(t: KThread, st: ThreadLocks): ReportThread {
    return { comm: t.name, pid: t.tid, held: st.held };
  }

  /** print_deadlock_bug (kernel/locking/lockdep.c, 5.8). */
  private reportRecursive(t: KThread, st: ThreadLocks, prev: HeldLockEntry, next: HeldLockEntry, site: LockSite): void {
    const text = recursiveReport(this.kernelRelease, this.reportThread(t, st), prev, next, site);
    this.report('recursive', 'possible recursive locking detected', [next.cls.name], t, text);
  }

  /** print_circular_bug (kernel/locking/lockdep.c, 5.8): the chain is printed from the held lock's class (deepest) back to the acquired one (#0). */
  private reportCircular(t: KThread, st: ThreadLocks, src: HeldLockEntry, tgt: HeldLockEntry, hit: BfsNode, parent: BfsNode, site: LockSite): void {
    const chain: ChainEntry[] = [];
    for (let n: BfsNode | null = hit; n !== null; n = n.parent) chain.push({ depth: n.depth, cls: n.cls, site: n.edge === null ? site : n.edge.site });
    const text = circularReport(this.kernelRelease, this.reportThread(t, st), src, tgt, chain, parent.cls, site);
    const classes = chain.map((e) => e.cls.name).reverse();
    this.report('circular', 'possible circular locking dependency detected', classes, t, text);
  }

  /** debug_locks_off, then keep and emit the report. */
  private report(kind: LockdepReportKind, title: string, classes: string[], t: KThread, text: string): void {
    this.on = false;
    this.reports.push({ kind, title, classes, comm: t.name, pid: t.tid, step: t.label, text });
    this.events.emit({ kind: 'lockdep', report: kind, title, classes, text, debugLocksOff: true });
  }
}

/** find_held_lock (kernel/locking/lockdep.c, 5.15): the topmost entry of `lockId`, or -1. */
function findHeld(held: readonly HeldLockEntry[], lockId: string): number {
  for (let i = held.length - 1; i >= 0; i--) if ((held[i] as HeldLockEntry).lockId === lockId) return i;
  return -1;
}
