/** `npm run schema`: write schema/scenario.schema.json (or print it when no path is given). */
import { writeFileSync } from 'node:fs';
import { scenarioJsonSchemaText } from './json-schema.js';

const target = process.argv[2];
if (target === undefined) process.stdout.write(scenarioJsonSchemaText());
else writeFileSync(target, scenarioJsonSchemaText());
