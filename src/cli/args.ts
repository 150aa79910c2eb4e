/** Command-line pieces shared by run, explore and check: reading a scenario file, --knob flags. */
import { readFileSync } from 'node:fs';
import { parseKnobAssignment, type KnobValue } from '../scenario/variant.js';

/** A file's text, or why it cannot be read ("cannot read 'x': no such file"). */
export function readText(file: string): { text: string } | { error: string } {
  try {
    return { text: readFileSync(file, 'utf8') };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { error: `cannot read '${file}': ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (e as Error).message}` };
  }
}

/** `--knob NAME=VALUE` flags as overrides (undefined when none), or the first bad one's message. */
export function parseKnobFlags(flags: readonly string[] | undefined): { knobs: Record<string, KnobValue> | undefined } | { error: string } {
  let knobs: Record<string, KnobValue> | undefined;
  for (const k of flags ?? []) {
    const a = parseKnobAssignment(k);
    if (a === null) return { error: `--knob expects NAME=VALUE, got '${k}'` };
    knobs = { ...(knobs ?? {}), [a.key]: a.value };
  }
  return { knobs };
}
