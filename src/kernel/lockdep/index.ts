/** The lock validator (lockdep). */
export { Lockdep, type LockdepOptions, depKinds } from './lockdep.js';
export { usageString } from './report.js';
export type {
  DependencyInfo,
  DepKind,
  HeldLockEntry,
  LockdepReport,
  LockdepReportKind,
  LockdepStats,
  LockRead,
  LockSite,
} from './types.js';
