/** Scenario files: load (YAML + validation), run under a schedule, report. */
export { loadScenario, scenarioText, type LoadResult, type Scenario, type ProcessDecl, type ThreadDecl, type StepDecl, type RunExpect } from './load.js';
export { formatScenarioError, type ScenarioError } from './source.js';
export { runScenario, waitCycle, type RunOptions, type RunResult, type StepResult, type StepStatus, type RunVerdict } from './run.js';
export { ScenarioInputError, parseSchedule, encodeToken, decodeToken, mulberry32, type ScheduleSpec, type ReplayToken } from './schedule.js';
export { renderTrace, renderSummary, renderHeader, runToJson, renderMatrix, matrixToJson, type TextOptions } from './report.js';
export { scenarioJsonSchema } from './json-schema.js';
export { runMatrix, outcomeSummary, type MatrixResult, type MatrixRow } from './matrix.js';
export { OPS } from './ops.js';
export { IOCTLS } from './ioctls.js';
export { defineOp, type OpDef } from './op-def.js';
export type { StepCtx, Outcome, Binding } from './context.js';
export type { VariantChoice, KnobValue } from './variant.js';
export { exploreScenario, ScenarioExploration, scenarioProgram, type ExploreOptions, type ExploreResult, type UserProperty } from './explore.js';
export { checkSuite, checkSuiteAsync, forcedKnobs, type CheckOptions, type CheckResult, type CheckCell, type CheckHit, type DefectRow } from './check-suite.js';
export { ParallelSearch, WorkerPool, type CellResult } from '../check/parallel/index.js';
export { workerOptions } from './explore.js';
export { runCells, type WorkerExploreOptions, type CellOptions, type ScenarioSource } from './worker-program.js';
export { renderExplore, exploreToJson, renderCheck, checkToJson } from './explore-report.js';
