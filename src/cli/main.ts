#!/usr/bin/env node
/** The `vfio-sim` command line. */
import { parseArgs } from 'node:util';
import { VARIANTS } from '../kernel/variant/knobs.js';
import { renderVariants } from './variants.js';
import { runDemo } from './demo.js';
import { runCommand } from './run.js';
import { detectTerminal, PLAIN, type Terminal } from './terminal.js';

const USAGE = `usage: vfio-sim <command> [options]

commands:
  demo [--variant V]   narrated demonstration on the default machine (default variant 5.8)
  variants [--knobs]   list the design variants, what each changed and why
                       (--knobs: every knob's value in every variant, as a table)
  run <scenario.yaml>  run a scenario file under a schedule ('vfio-sim run --help')

options:
  -h, --help           show this help`;

/** Exit codes: 0 ok, 1 scenario expectations failed (run), 2 bad input (usage), 3 internal error. */
export function main(argv: readonly string[], out: (s: string) => void, err: (s: string) => void, term: Terminal = PLAIN): number {
  if (argv[0] === 'run') return runCommand(argv.slice(1), out, err, term);
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, options: { variant: { type: 'string' }, knobs: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  } catch (e) {
    err(`vfio-sim: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const [cmd, ...rest] = parsed.positionals;
  if (parsed.values.help === true || cmd === undefined) {
    (cmd === undefined && parsed.values.help !== true ? err : out)(USAGE);
    return cmd === undefined && parsed.values.help !== true ? 2 : 0;
  }
  if (rest.length > 0) {
    err(`vfio-sim: unexpected argument '${rest[0] ?? ''}'\n${USAGE}`);
    return 2;
  }
  switch (cmd) {
    case 'demo': {
      const v = parsed.values.variant ?? '5.8';
      if (!VARIANTS.some((x) => x.name === v)) {
        err(`vfio-sim: unknown variant '${v}' (known: ${VARIANTS.map((x) => x.name).join(', ')})`);
        return 2;
      }
      runDemo(out, v, term.color);
      return 0;
    }
    case 'variants':
      for (const line of renderVariants(parsed.values.knobs === true, term.color)) out(line);
      return 0;
    default:
      err(`vfio-sim: unknown command '${cmd}'\n${USAGE}`);
      return 2;
  }
}

const isMain = process.argv[1] !== undefined && /main\.js$/.test(process.argv[1]);
if (isMain) {
  try {
    process.exitCode = main(process.argv.slice(2), (s) => console.log(s), (s) => console.error(s), detectTerminal(process.env, process.stdout));
  } catch (e) {
    console.error(`vfio-sim: internal error: ${(e as Error).stack ?? String(e)}`);
    process.exitCode = 3;
  }
}
