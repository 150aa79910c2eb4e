/** Command-line pieces shared by run, explore and check: their flags, reading a scenario file, --knob flags. */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
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

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends OptionsConfig> = ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: boolean; strict: true; options: O }>>;

/**
 * A subcommand's flags (`options` must declare `help`): the parsed values and positionals,
 * with `bad(msg)` to report a bad argument (exit code 2) — or the exit code already decided:
 * 2 for an unknown or malformed flag (told on `err`), 0 after printing `usage` for --help.
 */
export function parseCommand<O extends OptionsConfig>(
  command: string,
  argv: readonly string[],
  options: O,
  allowPositionals: boolean,
  usage: string,
  out: (s: string) => void,
  err: (s: string) => void,
): number | { values: Parsed<O>['values']; positionals: string[]; bad: (msg: string) => number } {
  let parsed: Parsed<O>;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals, strict: true, options });
  } catch (e) {
    err(`vfio-sim ${command}: ${(e as Error).message.replace(/\. To specify a positional argument.*$/s, '')} (see 'vfio-sim ${command} --help')`);
    return 2;
  }
  if ((parsed.values as { help?: boolean }).help === true) {
    out(usage);
    return 0;
  }
  const bad = (msg: string): number => {
    err(`vfio-sim ${command}: ${msg}`);
    return 2;
  };
  return { values: parsed.values, positionals: parsed.positionals, bad };
}
