/**
 * `vfio-sim check` for the UI: explore a suite under the chosen variants with the chosen
 * preemption bound and knob overrides, telling each cell as it finishes and then the
 * table, as `check` computes them (checkSuiteAsync).
 */
import { checkSuiteAsync, loadScenario, type CheckResult, type Scenario } from '../scenario/index.js';
import { KNOB_VALUES } from '../kernel/variant/knobs.js';
import type { FileRegistry } from './file-registry.js';
import type { CheckCellJson, CheckDoneJson, DefectJson } from './protocol.js';

/** A knob override's value from its text ('true', 'false', a number or a name), or an error. */
export function parseKnob(name: string, text: string): { value: string | number | boolean } | { error: string } {
  const values = (KNOB_VALUES as Readonly<Record<string, readonly unknown[]>>)[name];
  if (values === undefined) return { error: `unknown knob '${name}' (known: ${Object.keys(KNOB_VALUES).join(', ')})` };
  const v = values.find((x) => String(x) === text);
  if (v === undefined || (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')) return { error: `knob ${name} takes one of ${values.map(String).join(', ')}, got '${text}'` };
  return { value: v };
}

/** The suite: the registered files of `ids` whose scenario declares a defect property. */
export function loadSuite(reg: FileRegistry, ids: readonly string[]): { suite: Scenario[] } | { error: string } {
  const suite: Scenario[] = [];
  for (const id of ids) {
    const text = reg.read(id);
    const path = reg.pathOf(id);
    if (text === null || path === null) return { error: `unknown file '${id}'` };
    const l = loadScenario(text, path);
    if (!l.ok) return { error: l.errors.map((e) => `${reg.nameOf(id) ?? id}:${e.line}:${e.col}: ${e.message}`).join('\n') };
    if (l.scenario.defect?.property !== null && l.scenario.defect?.property !== undefined) suite.push(l.scenario);
  }
  if (suite.length === 0) return { error: 'no scenario of the suite declares defect: {id, present_in, property}' };
  return { suite };
}

export interface CheckJobOptions {
  readonly variants?: readonly string[];
  readonly maxPreemptions: number;
  readonly knobs: Readonly<Record<string, string | number | boolean>>;
  readonly maxExecutions?: number;
}

/** Run the check; `cell` is told each cell, `stopped` polled between executions. */
export async function runCheckJob(reg: FileRegistry, suite: readonly Scenario[], o: CheckJobOptions, cell: (c: CheckCellJson) => void, stopped: () => boolean): Promise<CheckDoneJson> {
  // knob overrides on top of each scenario's own (as check keeps a scenario's knobs on every preset)
  const withKnobs = Object.keys(o.knobs).length === 0 ? suite : suite.map((s) => ({ ...s, variant: { ...s.variant, knobs: { ...s.variant.knobs, ...o.knobs } } }));
  const r: CheckResult = await checkSuiteAsync(withKnobs, {
    maxPreemptions: o.maxPreemptions,
    workers: 1,
    interrupted: stopped,
    ...(o.variants !== undefined ? { variants: o.variants } : {}),
    ...(o.maxExecutions !== undefined ? { maxExecutions: o.maxExecutions } : {}),
    onCell: (c) => {
      cell({
        file: reg.nameOf(reg.idOfPath(c.file) ?? '') ?? c.file,
        fileId: reg.idOfPath(c.file),
        variant: c.variant,
        executions: c.executions,
        complete: c.complete,
        note: c.note,
        counterexamples: (c.counterexamples ?? []).map((x) => ({ property: x.property, message: x.message, token: x.token, steps: x.steps, preemptions: x.preemptions })),
      });
    },
  }, () => new Promise((res) => setImmediate(res)));
  const table: Record<string, Record<string, CheckDoneJson['table'][string][string]>> = {};
  for (const [v, row] of r.table) {
    const out: Record<string, CheckDoneJson['table'][string][string]> = {};
    for (const [p, hit] of row) out[p] = { file: reg.nameOf(reg.idOfPath(hit.file) ?? '') ?? hit.file, fileId: reg.idOfPath(hit.file), token: hit.cx.token, message: hit.cx.message, forced: hit.forced };
    table[v] = out;
  }
  // each defect with the counterexample of its property in its own scenario under each variant found
  const defects: DefectJson[] = r.defects.map((d) => {
    const found = d.found.flatMap((v) => {
      const cx = r.cells.find((c) => c.file === d.file && c.variant === v)?.counterexamples?.find((x) => x.property === d.property);
      return cx === undefined ? [] : [{ variant: v, token: cx.token, message: cx.message }];
    });
    const forced = [...new Set(r.variants.flatMap((v) => [...(r.table.get(v)?.values() ?? [])].filter((h) => h.file === d.file).flatMap((h) => h.forced)))];
    return { id: d.id, file: reg.nameOf(reg.idOfPath(d.file) ?? '') ?? d.file, fileId: reg.idOfPath(d.file), property: d.property, declared: d.declared, found, ok: d.ok, forced };
  });
  return { variants: r.variants, properties: r.properties, table, defects, complete: r.complete, ok: r.ok };
}
