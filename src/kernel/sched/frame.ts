/**
 * [model] The runtime of lowered kernel paths: what the build's generator lowering
 * (tools/lower/, docs/ARCHITECTURE.md "The lowering") turns every `Task` generator into.
 *
 * A kernel path is written once, as a generator function that reads like the C. The build
 * compiles each one into a class extending `Frame`: the generator's parameters and the
 * locals that live across a scheduling point become plain fields, its resume point is
 * `$pc`, and `run()` is the body cut at every `yield` into the cases of a switch. A thread
 * in the middle of a kernel path is then a chain of plain objects (each frame's `$sub` is
 * the frame it delegates to with `yield*`), which the explorer's snapshots copy with the
 * world and which can be compared field by field — what a generator object cannot be.
 *
 * Nobody writes a subclass by hand: the lowering emits them, and its differential test
 * (test/lower/) checks that a lowered path yields the same points, emits the same events
 * and returns the same value as the generator it came from.
 *
 * This module imports nothing at run time, so it is evaluated before every module whose
 * frames extend it, whatever the import cycles between those modules.
 */
import type { Task, Yielded } from './task.js';

/** A finished frame's further `next()` calls answer this, as a finished generator does. */
export const FRAME_DONE: IteratorResult<Yielded, never> = Object.freeze({ value: undefined as never, done: true }) as IteratorResult<
  Yielded,
  never
>;

/** Completion of a `finally` block entered normally (the try block ended). */
export const CMP_NORMAL = 0;
/** Completion of a `finally` block entered by an exception (`$exc`). */
export const CMP_THROW = 1;
/** Completion of a `finally` block entered by a `return` (the value in the try's field). */
export const CMP_RETURN = 2;
/** Completion of a `finally` block entered by a `break`/`continue` past it. */
export const CMP_JUMP = 3;

/**
 * [model] A lowered generator: `next()` drives the `yield*` delegation in `$sub` and runs
 * the body from `$pc` otherwise (-1 once finished).
 */
export abstract class Frame<T> implements Task<T> {
  // Assigned in the constructor rather than as class fields: a field initializer of a base
  // class runs with define semantics on the objects of every subclass (slow); plain stores are not.
  /** Where run() goes on; -1 once finished. */
  declare $pc: number;
  /** The task being delegated to (`yield*`), or null. */
  declare $sub: Task<unknown> | null;
  /** The value the last delegated task returned. */
  declare $got: unknown;

  constructor() {
    this.$pc = 0;
    this.$sub = null;
    this.$got = undefined;
  }

  next(): IteratorResult<Yielded, T> {
    return this.$next();
  }

  /**
   * Resume the delegated task, or run the body from `$pc`. The lowering writes this out in
   * every frame class (as `next`, or as `$next` under TryFrame's handler loop), so that its
   * field reads see one class; this generic body is the definition they copy.
   */
  protected $next(): IteratorResult<Yielded, T> {
    const s = this.$sub;
    if (s !== null) {
      const r = s.next();
      if (r.done !== true) return r;
      this.$sub = null;
      this.$got = r.value;
    } else if (this.$pc < 0) {
      return FRAME_DONE;
    }
    return this.run();
  }

  /** The body: runs from `$pc` to the next suspension or to the end. */
  protected abstract run(): IteratorResult<Yielded, T>;

  /**
   * A generator's `return()`: nobody abandons a kernel path half-way (the scheduler runs
   * every task to its end), so this only finishes a frame that holds no pending `finally`.
   */
  return(value: T): IteratorResult<Yielded, T> {
    if (this.$pc > 0 && this.pendingFinally()) throw new Error('[model] a lowered task cannot be abandoned inside try/finally');
    this.$pc = -1;
    this.$sub = null;
    return { value, done: true };
  }

  /** Whether a `finally` block is pending (TryFrame). */
  protected pendingFinally(): boolean {
    return false;
  }

  throw(e: unknown): IteratorResult<Yielded, T> {
    this.$pc = -1;
    this.$sub = null;
    throw e;
  }

  [Symbol.iterator](): this {
    return this;
  }
}

/**
 * [model] A lowered generator with a `try` statement around a scheduling point: a stack of
 * active handlers (`$hs`: `pc << 1` for a catch block, `pc << 1 | 1` for a finally
 * block, innermost last). An exception thrown by the body or by the delegated task pops
 * the innermost handler and continues there; with none left, the frame finishes and the
 * exception propagates to its caller, as out of a generator.
 */
export abstract class TryFrame<T> extends Frame<T> {
  declare $hs: number[];
  /** The exception being handled (read by the catch or finally block it entered). */
  declare $exc: unknown;

  constructor() {
    super();
    this.$hs = [];
    this.$exc = undefined;
  }

  override next(): IteratorResult<Yielded, T> {
    for (;;) {
      try {
        return this.$next();
      } catch (e) {
        const hs = this.$hs;
        this.$sub = null;
        if (hs.length === 0) {
          this.$pc = -1;
          throw e;
        }
        const h = hs.pop() as number; // non-empty: checked above
        this.$exc = e;
        this.$pc = h >> 1;
      }
    }
  }

  protected override pendingFinally(): boolean {
    return this.$hs.some((h) => (h & 1) === 1);
  }
}
