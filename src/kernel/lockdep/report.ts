/**
 * Report text in the layout of kernel/locking/lockdep.c (print_circular_bug,
 * print_deadlock_bug, print_lock, lockdep_print_held_locks). Where the kernel prints a
 * saved stack trace the model prints the locking primitive, the kernel function that
 * called it and the thread's scenario step; where it prints a lock's address it prints
 * the lock instance id.
 */
import type { HeldLockEntry, LockClass, LockSite } from './types.js';
import { pushAll } from '../../util/array.js';

/** What a report says about the reporting thread. */
export interface ReportThread {
  readonly comm: string;
  readonly pid: number;
  readonly held: readonly HeldLockEntry[];
}

/** One "-> #N" entry of the existing dependency chain. */
export interface ChainEntry {
  readonly depth: number;
  readonly cls: LockClass;
  readonly site: LockSite;
}

/**
 * get_usage_chars (kernel/locking/lockdep.c, 5.8) and the wait types: `{WRWR}` for hardirq write/read and softirq
 * write/read usage — '+' when the class was taken with interrupts enabled (every
 * non-trylock acquisition in the model: no lock is ever taken in interrupt context),
 * '.' otherwise — then `-{outer:inner}` wait types (3 = sleeping lock, 2 = spinning).
 */
export function usageString(c: LockClass): string {
  const w = c.usedWrite ? '+' : '.';
  const r = c.usedRead ? '+' : '.';
  const wt = c.kind === 'rwlock' ? 2 : 3;
  return `{${w}${r}${w}${r}}-{${wt}:${wt}}`;
}

/** print_lock_name (kernel/locking/lockdep.c, 5.8): ` (name){usage}`. */
function lockName(c: LockClass): string {
  return `(${c.name})${usageString(c)}`;
}

/** print_lock (kernel/locking/lockdep.c, 5.8): `<instance> (class){usage}, at: <function>`. */
export function lockLine(h: HeldLockEntry): string {
  return `${h.lockId} ${lockName(h.cls)}, at: ${h.fn}`;
}

/** print_kernel_ident (kernel/locking/lockdep.c, 5.8): release, build number, taint. */
function ident(release: string): string {
  return `${release} #1 Not tainted`;
}

/** print_lock_trace (kernel/locking/lockdep.c, 5.8) with 6 spaces: the model's trace of a site. */
function traceLines(s: LockSite): string[] {
  return [`       ${s.op}`, `       ${s.fn}`, `       step "${s.step}" (${s.comm}/${s.pid})`];
}

/** lockdep_print_held_locks (kernel/locking/lockdep.c, 5.8). */
function heldLines(t: ReportThread): string[] {
  const n = t.held.length;
  if (n === 0) return [`no locks held by ${t.comm}/${t.pid}.`];
  const out = [`${n} lock${n > 1 ? 's' : ''} held by ${t.comm}/${t.pid}:`];
  t.held.forEach((h, i) => out.push(` #${i}: ${lockLine(h)}`));
  return out;
}

/** dump_stack (lib/dump_stack.c, 5.8): the current thread, its step and the acquisition being validated. */
function backtraceLines(release: string, s: LockSite): string[] {
  return ['stack backtrace:', `PID: ${s.pid} Comm: ${s.comm} ${ident(release)}`, `Step: "${s.step}"`, 'Call Trace:', ` ${s.op}`, ` ${s.fn}`];
}

/**
 * print_circular_bug (kernel/locking/lockdep.c, 5.8, with print_circular_bug_header and
 * print_circular_lock_scenario; `rlock(` for read-held locks as in later kernels):
 * `src` is the lock being acquired, `tgt` the held lock the new dependency comes from,
 * `chain` the existing path src -> ... -> tgt in reverse order (tgt first, src last as #0),
 * `parent` the class just before tgt on that path.
 */
export function circularReport(
  release: string,
  t: ReportThread,
  src: HeldLockEntry,
  tgt: HeldLockEntry,
  chain: readonly ChainEntry[],
  parent: LockClass,
  current: LockSite,
): string {
  const L: string[] = [
    '======================================================',
    'WARNING: possible circular locking dependency detected',
    ident(release),
    '------------------------------------------------------',
    `${t.comm}/${t.pid} is trying to acquire lock:`,
    lockLine(src),
    '',
    'but task is already holding lock:',
    lockLine(tgt),
    '',
    'which lock already depends on the new lock.',
    '',
    '',
    'the existing dependency chain (in reverse order) is:',
  ];
  for (const e of chain) {
    L.push('', `-> #${e.depth} ${lockName(e.cls)}:`);
    pushAll(L, traceLines(e.site));
  }
  L.push('', 'other info that might help us debug this:', '');
  const source = src.cls.name;
  const target = tgt.cls.name;
  if (parent !== src.cls) L.push('Chain exists of:', `  ${source} --> ${parent.name} --> ${target}`, '');
  L.push(
    ' Possible unsafe locking scenario:',
    '',
    '       CPU0                    CPU1',
    '       ----                    ----',
    `  ${tgt.read !== 0 ? 'rlock' : 'lock'}(${target});`,
    `                               lock(${parent.name});`,
    `                               lock(${target});`,
    `  ${src.read !== 0 ? 'rlock' : 'lock'}(${source});`,
    '',
    ' *** DEADLOCK ***',
    '',
  );
  pushAll(L, heldLines(t));
  L.push('');
  pushAll(L, backtraceLines(release, current));
  return L.join('\n') + '\n';
}

/**
 * print_deadlock_bug (kernel/locking/lockdep.c, 5.8) with print_deadlock_scenario: `next` is printed as the lock being
 * acquired, `prev` as the one already held (same class).
 */
export function recursiveReport(release: string, t: ReportThread, prev: HeldLockEntry, next: HeldLockEntry, current: LockSite): string {
  const L: string[] = [
    '============================================',
    'WARNING: possible recursive locking detected',
    ident(release),
    '--------------------------------------------',
    `${t.comm}/${t.pid} is trying to acquire lock:`,
    lockLine(next),
    '',
    'but task is already holding lock:',
    lockLine(prev),
    '',
    'other info that might help us debug this:',
    ' Possible unsafe locking scenario:',
    '',
    '       CPU0',
    '       ----',
    `  lock(${prev.cls.name});`,
    `  lock(${next.cls.name});`,
    '',
    ' *** DEADLOCK ***',
    '',
    ' May be due to missing lock nesting notation',
    '',
  ];
  pushAll(L, heldLines(t));
  L.push('');
  pushAll(L, backtraceLines(release, current));
  return L.join('\n') + '\n';
}
