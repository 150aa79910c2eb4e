/**
 * The JSON Schema of scenario files, generated from the same zod schemas the loader
 * uses (z.toJSONSchema), so editors can complete and check scenario files. The
 * checked-in copy is schema/scenario.schema.json (`npm run schema` regenerates it).
 */
import * as z from 'zod';
import { scenarioSchema } from './load.js';
import { FORK_DOC, FORK_OP, OPS } from './ops.js';
import { expectation, ident, obj } from './values.js';

/** The schema of one step: one operation key plus optional `as` and `expect`. */
function stepSchema(): z.ZodType {
  const step: z.ZodType = z.lazy(() => z.union(branches));
  const meta = { as: ident.describe('Name the result for later steps (e.g. dev, map0).').optional(), expect: expectation.describe('What the step must produce: ok, an errno name (EIO), a signal (SIGBUS), bug, a value, or {value, ret, errno, signal, fields, data, ok, bug}.').optional() };
  const thread = obj({ name: ident, steps: z.array(step).min(1) }, 'a thread');
  const branches: z.ZodType[] = [
    ...OPS.flatMap((op) => {
      const full = obj({ [op.name]: op.args.describe(op.doc), ...meta }, `a ${op.name} step`).describe(op.doc);
      return op.bare === true ? [full, z.literal(op.name).describe(op.doc)] : [full];
    }),
    obj({ [FORK_OP]: obj({ threads: z.array(thread).min(1), open_before_copy: z.boolean().optional() }, 'fork').describe(FORK_DOC), expect: meta.expect }, 'a fork step').describe(FORK_DOC),
  ];
  return step;
}

/** The JSON Schema (draft 2020-12) of a scenario file. */
export function scenarioJsonSchema(): Record<string, unknown> {
  const s = scenarioSchema(stepSchema()).describe('A vfio-sim scenario: the machine, the design variant, processes and their threads of user operations, with expectations.');
  const js = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12', reused: 'ref' }) as Record<string, unknown>;
  return { ...js, title: 'vfio-sim scenario' };
}

/** The schema file's text. */
export function scenarioJsonSchemaText(): string {
  return `${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`;
}
