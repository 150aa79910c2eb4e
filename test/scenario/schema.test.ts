/** The published JSON Schema (schema/scenario.schema.json) matches the zod schemas it is generated from. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { OPS } from '../../src/scenario/index.js';
import { scenarioJsonSchemaText } from '../../src/scenario/json-schema.js';

const FILE = new URL('../../../schema/scenario.schema.json', import.meta.url);

test('schema/scenario.schema.json is current (regenerate with `npm run schema`)', () => {
  assert.equal(readFileSync(FILE, 'utf8'), scenarioJsonSchemaText(), 'run `npm run schema` and commit the result');
});

test('the JSON Schema is a draft 2020-12 object schema that knows every operation and requires processes', () => {
  const s = JSON.parse(scenarioJsonSchemaText()) as { $schema: string; type: string; required: string[] };
  assert.equal(s.$schema, 'https://json-schema.org/draft/2020-12/schema');
  assert.equal(s.type, 'object');
  assert.deepEqual(s.required, ['processes']);
  const text = scenarioJsonSchemaText();
  for (const op of [...OPS.map((o) => o.name), 'fork']) assert.ok(text.includes(`"${op}"`), `operation ${op} in the schema`);
  assert.ok(text.includes('"VFIO_DEVICE_SET_IRQS"'), 'ioctl names in the schema');
});
