/** Public API of vfio-sim. */
export { System, type SystemOptions, LOCKDEP_DEFAULT, KERNEL_CONFIGS, type KernelConfig } from './system.js';
export * from './hw/index.js';
export { EventStream } from './events/stream.js';
export type { SimEvent, EventBody, EventKind, EventOf } from './events/event.js';
export { formatEvent, describe } from './events/format.js';
export { Process } from './user/process.js';
export * from './user/vfio-client.js';
/** The C-shaped layer (open/ioctl/mmap/... returning -1 and setting errno; PROT_*, MAP_*, O_*, E* constants). */
export * from './user/libc.js';
export { PciSysfs } from './user/sysfs.js';
export { StructLayout, defineStruct, UAPI_STRUCTS, FIELD_SIZE, type FieldRow, type FieldSpec, type FieldType, type StructInput, type StructValue } from './uapi/layout.js';
export * from './uapi/vfio.js';
export { Kernel, type KernelOptions } from './kernel/kernel.js';
export {
  Lockdep,
  type LockdepOptions,
  type LockdepReport,
  type LockdepReportKind,
  type LockdepStats,
  type DependencyInfo,
  type DepKind,
  type LockSite,
  type LockRead,
} from './kernel/lockdep/index.js';
export {
  VARIANTS, VARIANT_5_7, VARIANT_V1, VARIANT_V2, VARIANT_5_8, VARIANT_5_9, VARIANT_5_13, VARIANT_5_19, VARIANT_6_1, VARIANT_6_1_Y, VARIANT_6_6, VARIANT_6_10, VARIANT_6_12,
  KNOB_VALUES, knobConflicts, findVariant, type Knobs, type VariantPreset,
} from './kernel/variant/knobs.js';
export { KernelDeadlock, KernelBug, ThreadKilled, MachineHalted } from './kernel/sched/errors.js';
export { errnoName } from './kernel/errno.js';
export { runDemo } from './cli/demo.js';
export {
  loadScenario,
  runScenario,
  formatScenarioError,
  ScenarioInputError,
  parseSchedule,
  encodeToken,
  decodeToken,
  renderTrace,
  renderSummary,
  runToJson,
  scenarioJsonSchema,
  OPS,
  IOCTLS,
  defineOp,
  type Scenario,
  type LoadResult,
  type ScenarioError,
  type RunOptions,
  type RunResult,
  type StepResult,
  type ScheduleSpec,
  type ReplayToken,
  type OpDef,
  type StepCtx,
  type Outcome,
} from './scenario/index.js';

/** The interleaving explorer (issue #4): strategies, properties, scenario exploration and the suite check. */
export { runSearch, Search, STRATEGIES, DEFAULT_PREEMPTION_BOUND, type Strategy, type SearchOptions, type SearchResult, type SearchStats, type Counterexample, type Program, type ExecControl, type ExecReport } from './check/search.js';
export { BUILTIN_PROPERTIES, PROPERTY_TEXT, builtinMonitors, type Monitor, type Violation } from './check/property.js';
export { shrink, shrinkCounterexample, replayChoices, DEFAULT_SHRINK_ATTEMPTS, type ShrinkOptions, type ShrinkResult } from './check/shrink.js';
export { Snapshot, SnapshotRefused, deepClone, auditGraph } from './check/snapshot.js';
export { planUnits, UnitSchedule, MIN_UNITS, MAX_SPLIT_DEPTH, unitSamples, type WorkUnit, type UnitSplit, type UnitResult, type UnitPlan } from './check/units.js';
export { exploreScenario, ScenarioExploration, checkSuite, checkSuiteAsync, renderExplore, renderCheck, exploreToJson, checkToJson, itf, type ExploreOptions, type ExploreResult, type UserProperty, type CheckResult } from './scenario/index.js';
export { ParallelSearch, scenarioText, forcedKnobs, type CheckOptions, type CheckHit } from './scenario/index.js';
/** The model server behind `vfio-sim serve` / `exec` (docs/SERVER-PROTOCOL.md). */
export { ModelServer, type ServerOptions, type ServerStats } from './server/server.js';
export { Op as ServerOp, HelloKind, IoctlArg } from './server/protocol.js';

/** The web UI's server (`vfio-sim ui`, issue #17): 127.0.0.1 only; the model's state at every step of a replayed trace. */
export { startUiServer, type UiServer, type UiServerOptions } from './ui/server.js';
export { recordTrace, type TraceRequest } from './ui/trace-recorder.js';
export type { TraceJson, TraceStepJson, MachineStateJson } from './ui/protocol.js';
