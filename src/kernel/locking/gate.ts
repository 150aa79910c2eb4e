import type { SchedPoint, Task, Waitable } from '../sched/task.js';
import type { KThread } from '../sched/thread.js';
import type { LockCtx } from './lock-ctx.js';

/**
 * A closed/open gate with a wait queue: the PCI core's block_cfg_access flag and
 * pci_cfg_wait queue (drivers/pci/access.c). Not a lock: lockdep does not track it.
 */
export class WaitGate implements Waitable {
  closedBy: KThread | null = null;
  private readonly waiters: KThread[] = [];
  // the scheduling points (closing/opening, waiting), made on first use
  private p_: SchedPoint | null = null;
  private pWait_: SchedPoint | null = null;

  constructor(
    private readonly ctx: LockCtx,
    readonly id: string,
  ) {}

  private get p(): SchedPoint {
    if (this.p_ === null) this.p_ = { op: 'gate', obj: this.id, access: 'w' };
    return this.p_;
  }

  private get pWait(): SchedPoint {
    if (this.pWait_ === null) this.pWait_ = { op: 'gate', obj: this.id, access: 'r' };
    return this.pWait_;
  }

  holders(): readonly KThread[] {
    return this.closedBy === null ? [] : [this.closedBy];
  }

  /** Close the gate if open (pci_cfg_access_trylock); false if already closed. */
  *tryClose(): Task<boolean> {
    yield this.p;
    if (this.closedBy !== null) return false;
    this.closedBy = this.ctx.sched.current;
    return true;
  }

  /** Open it and wake every waiter (pci_cfg_access_unlock). */
  *open(): Task<void> {
    yield this.p;
    this.closedBy = null;
    for (const w of this.waiters.splice(0)) this.ctx.sched.wake(w, this);
  }

  /** Sleep while the gate is closed by another thread (pci_wait_cfg). */
  *wait(): Task<void> {
    yield this.pWait;
    const t = this.ctx.sched.current;
    while (this.closedBy !== null && this.closedBy !== t && t !== null) {
      this.waiters.push(t);
      yield { block: true, on: this };
    }
  }
}
