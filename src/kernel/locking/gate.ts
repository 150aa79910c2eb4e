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

  /** pci_cfg_access_trylock (drivers/pci/access.c, 5.8): close the gate if open; false if already closed. */
  *tryClose(): Task<boolean> {
    yield this.p;
    if (this.closedBy !== null) return false;
    this.closedBy = this.ctx.sched.current;
    return true;
  }

  /** pci_cfg_access_unlock (drivers/pci/access.c, 5.8): open the gate and wake every waiter. */
  *open(): Task<void> {
    yield this.p;
    this.closedBy = null;
    for (const w of this.waiters.splice(0)) this.ctx.sched.wake(w, this);
  }

  /** pci_wait_cfg (drivers/pci/access.c, 5.8): sleep while the gate is closed by another thread. */
  *wait(): Task<void> {
    if (!this.ctx.sched.passPoint()) yield this.pWait;
    const t = this.ctx.sched.current;
    while (this.closedBy !== null && this.closedBy !== t && t !== null) {
      this.waiters.push(t);
      yield { block: true, on: this };
    }
  }
}
