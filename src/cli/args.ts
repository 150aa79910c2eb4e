/** Command-line pieces shared by run, explore and check: their flags, reading a scenario file, --knob flags. */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MAX_SCENARIO_BYTES } from '../scenario/load.js';
import { escapeControls } from '../scenario/source.js';
import { parseKnobAssignment, type KnobValue } from '../scenario/variant.js';

/**
 * A scenario file's text, or why it cannot be read ("cannot read 'x': no such file").
 * Only a regular file is read, and at most MAX_SCENARIO_BYTES of it: a device
 * (/dev/zero), a FIFO or a socket is refused without reading (it is opened non-blocking,
 * so a FIFO nobody writes to does not block), as is a larger file.
 */
export function readText(file: string): { text: string } | { error: string } {
  const name = escapeControls(file);
  const cap = `${MAX_SCENARIO_BYTES / (1024 * 1024)} MiB`;
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { error: `cannot read '${name}': ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : escapeControls((e as Error).message)}` };
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) return { error: `cannot read '${name}': it is a directory` };
    if (!st.isFile()) return { error: `cannot read '${name}': not a regular file (a scenario is read from a file, not a device, FIFO or socket)` };
    if (st.size > MAX_SCENARIO_BYTES) return { error: `cannot read '${name}': ${st.size} bytes, larger than the ${cap} a scenario file may hold` };
    // read at most one byte past the cap (the file may have grown since fstat)
    const buf = Buffer.alloc(MAX_SCENARIO_BYTES + 1);
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n > MAX_SCENARIO_BYTES) return { error: `cannot read '${name}': larger than the ${cap} a scenario file may hold` };
    }
    return { text: buf.toString('utf8', 0, n) };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { error: `cannot read '${name}': ${code === 'EISDIR' ? 'it is a directory' : escapeControls((e as Error).message)}` };
  } finally {
    closeSync(fd);
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
    err(`vfio-sim ${command}: ${escapeControls((e as Error).message.replace(/\. To specify a positional argument.*$/s, ''))} (see 'vfio-sim ${command} --help')`);
    return 2;
  }
  if ((parsed.values as { help?: boolean }).help === true) {
    out(usage);
    return 0;
  }
  const bad = (msg: string): number => {
    // the message may quote the command line or the scenario: no raw control characters
    err(`vfio-sim ${command}: ${escapeControls(msg)}`);
    return 2;
  };
  return { values: parsed.values, positionals: parsed.positionals, bad };
}
