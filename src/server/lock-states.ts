/**
 * [model] Who holds which kernel lock, as the model's lock events tell it: what the
 * server's LOCK_STATE request answers (a test program waits, through the model, until
 * another thread's reset holds memory_lock before it touches the mapping).
 */
import type { SimEvent } from '../events/event.js';

/** A LOCK_STATE answer: not held. */
export const LOCK_FREE = 0;
/** Held for read (by one reader or more). */
export const LOCK_READ = 1;
/** Held for write (a mutex, or an rwsem taken for write). */
export const LOCK_WRITE = 2;

interface Holders {
  readers: number;
  writer: boolean;
}

export class LockStates {
  private readonly locks = new Map<string, Holders>();

  /** The event listener (an arrow property: `events.on(states.onEvent)`). */
  readonly onEvent = (ev: SimEvent): void => {
    if (ev.kind !== 'lock.acquire' && ev.kind !== 'lock.release' && ev.kind !== 'lock.downgrade') return;
    let h = this.locks.get(ev.lock);
    if (h === undefined) {
      h = { readers: 0, writer: false };
      this.locks.set(ev.lock, h);
    }
    if (ev.kind === 'lock.downgrade') {
      h.writer = false;
      h.readers++;
    } else if (ev.kind === 'lock.acquire') {
      if (ev.mode === 'w') h.writer = true;
      else h.readers++;
    } else if (ev.mode === 'w') h.writer = false;
    else h.readers = Math.max(0, h.readers - 1);
  };

  /**
   * The state of the lock named `id` (its name in the events, e.g. `memory_lock:0000:01:00.0`):
   * LOCK_WRITE, LOCK_READ, LOCK_FREE; null for a lock never taken.
   */
  state(id: string): number | null {
    const h = this.locks.get(id);
    if (h === undefined) return null;
    return h.writer ? LOCK_WRITE : h.readers > 0 ? LOCK_READ : LOCK_FREE;
  }
}
