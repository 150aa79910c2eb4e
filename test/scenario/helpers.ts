/** Loading scenarios in tests: inline YAML and the shipped examples, failing the test on a load error. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { formatScenarioError, loadScenario, type Scenario } from '../../src/scenario/index.js';

/** The examples/ directory (from the compiled test under dist/test/...). */
export const EXAMPLES_DIR = new URL('../../../examples/', import.meta.url);

/**
 * The start of a scenario after its `name:` line: one process (qemu) that opens edu0 as
 * `dev` and maps its BAR0 as `bar` in setup, then its `threads:` (append the threads).
 */
export const ONE_DEVICE_SETUP = `processes:
  - name: qemu
    setup:
      - open_device: edu0
        as: dev
      - mmap: { fd: dev, region: bar0 }
        as: bar
    threads:
`;

/**
 * The start of a scenario's `processes:`: one process (qemu) with one thread (main) whose
 * first step opens edu0 as `dev`; append main's further steps (indented 10 spaces).
 */
export const MAIN_OPENS_EDU0 = `processes:
  - name: qemu
    threads:
      - name: main
        steps:
          - open_device: edu0
            as: dev
`;

/** A scenario from YAML text; the test fails with the positioned errors if it does not load. */
export function load(text: string, file = 'inline.yaml'): Scenario {
  const r = loadScenario(text, file);
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatScenarioError).join('\n'));
  return r.scenario;
}

/** One of the shipped examples, by file name. */
export function example(f: string): Scenario {
  return load(readFileSync(new URL(f, EXAMPLES_DIR), 'utf8'), f);
}
