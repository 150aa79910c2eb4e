/**
 * Data of the lock validator (kernel/locking/lockdep.c, lockdep_internals.h): lock
 * classes, the dependencies between them, held-lock entries and reports.
 */
import type { LockKind } from '../locking/lock-ctx.js';

/**
 * lock_acquire's `read` argument: 0 exclusive (writer), 1 shared non-recursive reader
 * (down_read: blocked by a queued writer), 2 recursive reader (blocked only by a writer
 * that holds the lock).
 */
export type LockRead = 0 | 1 | 2;

/**
 * The four dependency kinds of lockdep-design.rst ("Dependency types and strong
 * dependency paths"): for `A -> B`, whether A was held shared (S) or exclusive (E), and
 * whether B was acquired as a recursive reader (R) or a non-recursive locker (N).
 */
export type DepKind = 'SR' | 'ER' | 'SN' | 'EN';

/** DEP_*_BIT of lockdep.c: bit0 = earlier lock held exclusive, bit1 = later lock non-recursive. */
export const DEP_SR_MASK = 1 << 0;
export const DEP_ER_MASK = 1 << 1;
export const DEP_SN_MASK = 1 << 2;
export const DEP_EN_MASK = 1 << 3;
export const DEP_KINDS: readonly DepKind[] = ['SR', 'ER', 'SN', 'EN'];

/**
 * Where something happened — the model's stand-in for a saved stack trace: the locking
 * primitive, the kernel function that called it, and the thread with its current
 * user-level step (KThread.label).
 */
export interface LockSite {
  /** The primitive: 'mutex_lock', 'down_read', '__might_fault', or an unlock that re-validated held locks. */
  readonly op: string;
  /** The kernel function that took the lock (the `fn` argument of the lock call). */
  readonly fn: string;
  /** The thread (comm) and its id (pid). */
  readonly comm: string;
  readonly pid: number;
  /** The scenario step the thread was performing (KThread.label). */
  readonly step: string;
}

/** lock_class: one node of the dependency graph, shared by every lock created with the same class name. */
export class LockClass {
  /** lock_class::dep_gen_id: the BFS generation that last expanded this class. */
  gen = 0;
  /** LOCK_ENABLED_*IRQ usage: acquired (not by trylock) for write / for read, ever. */
  usedWrite = false;
  usedRead = false;
  /** locks_after: dependencies this class -> later class, in the order they were first made. */
  readonly after: LockDependency[] = [];
  /** `after` by target class; made with the first dependency (most classes never get one). */
  afterByClass: Map<LockClass, LockDependency> | null = null;
  /** hlock_id per read level: class index and read mode, the unit a chain key is built from. */
  readonly ids: readonly [number, number, number];

  constructor(
    readonly idx: number,
    readonly name: string,
    public kind: LockKind | null,
  ) {
    this.ids = [idx * 4, idx * 4 + 1, idx * 4 + 2];
  }
}

/** lock_list: a recorded dependency `from -> to` with its kinds and where it was first made. */
export interface LockDependency {
  readonly from: LockClass;
  readonly to: LockClass;
  /** DEP_*_MASK bits of every kind this pair has been seen with. */
  dep: number;
  /** Held-lock stack distance when first seen (1 = directly nested). */
  distance: number;
  /** Where the dependency was first made (lock_list::trace). */
  readonly site: LockSite;
}

/** held_lock: one entry of a thread's held-lock stack as lockdep sees it. */
export interface HeldLockEntry {
  readonly lockId: string;
  readonly cls: LockClass;
  read: LockRead;
  readonly trylock: boolean;
  /** The function that acquired it (acquire_ip). */
  fn: string;
  /** The chain before this lock was pushed (held_lock::prev_chain_key). */
  prevChain: LockChain;
  /**
   * On a thread's held stack now (set when pushed, cleared when released): an entry that is
   * not may be handed out again for the next acquisition of its lock in the same mode.
   */
  held: boolean;
}

/**
 * lock_chain: a held-class sequence (each element a class and read mode). The cache is a
 * trie: a chain's extensions by one more lock hang off it, so the chain key of a thread
 * is the node its held stack has reached, and looking a chain up is one map lookup per
 * acquisition. A node is created on first sight — that is the cache miss that validates.
 */
export class LockChain {
  /** Extensions by hlock id; made with the first one (most chains are never extended). */
  next: Map<number, LockChain> | null = null;
  /** Validated once (trylock pushes create nodes but do not validate them). */
  validated = false;
  constructor(
    readonly depth: number,
    readonly parent: LockChain | null,
  ) {}
}

/** The kinds of report lockdep produces. */
export type LockdepReportKind = 'circular' | 'recursive';

/** One report, as text in the kernel's layout and in structured form. */
export interface LockdepReport {
  readonly kind: LockdepReportKind;
  /** The banner's text after "WARNING: ", e.g. 'possible circular locking dependency detected'. */
  readonly title: string;
  /**
   * circular: the cycle's classes — the lock being acquired, then the existing chain of
   * dependencies to the held lock (the new edge held -> acquired closes it).
   * recursive: the class acquired twice.
   */
  readonly classes: readonly string[];
  /** The thread that triggered it and its step. */
  readonly comm: string;
  readonly pid: number;
  readonly step: string;
  /** The report text, lines joined with '\n', ending with a newline. */
  readonly text: string;
}

/** A recorded dependency in plain form (for tests and tools). */
export interface DependencyInfo {
  readonly from: string;
  readonly to: string;
  readonly kinds: readonly DepKind[];
  readonly distance: number;
  readonly site: LockSite;
}

/** Counters of the validator's work (lockdep_stats). */
export interface LockdepStats {
  /** lock_acquire calls while enabled (re-acquisitions after out-of-order release included). */
  acquires: number;
  /** chain-cache lookups (non-trylock acquisitions) and how many hit. */
  chainLookups: number;
  chainHits: number;
  /** chains validated (chain-cache misses): the O(depth) checks and dependency updates ran. */
  validations: number;
  /** dependencies (graph edges) created. */
  dependencies: number;
  /** strong-path searches (check_noncircular BFS runs). */
  bfsSearches: number;
}
