import type { KThread } from './thread.js';

/** A wait-for edge: `waiter` sleeps on `on`, which `holders` hold. */
export interface WaitEdge {
  readonly waiter: string;
  readonly on: string;
  readonly holders: readonly string[];
}

/**
 * The simulated kernel stopped making progress: a thread sleeps on a lock that can
 * never be released (no runnable thread remains). Thrown by the synchronous API; the
 * scheduled runner reports it as an outcome instead.
 */
export class KernelDeadlock extends Error {
  constructor(readonly edges: readonly WaitEdge[]) {
    super(`deadlock: ${edges.map((e) => `${e.waiter} waits for ${e.on} held by ${e.holders.join(',') || 'nobody'}`).join('; ')}`);
    this.name = 'KernelDeadlock';
  }
}

/**
 * A kernel BUG(): the thread that hit it is killed (oops) with its locks still held,
 * as on Linux. Thrown inside kernel code; the scheduler turns it into a dead thread.
 */
export class KernelBug extends Error {
  constructor(message: string, readonly fn: string) {
    super(message);
    this.name = 'KernelBug';
  }
}

/** The synchronous API's view of a thread that died in the kernel. */
export class ThreadKilled extends Error {
  constructor(readonly thread: KThread, readonly reason: string) {
    super(`thread ${thread.name} killed: ${reason}`);
    this.name = 'ThreadKilled';
  }
}

/** The machine halted (fatal platform error under the `fatal` policy); nothing runs any more. */
export class MachineHalted extends Error {
  constructor(readonly reason: string) {
    super(`machine halted: ${reason}`);
    this.name = 'MachineHalted';
  }
}
