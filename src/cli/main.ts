#!/usr/bin/env node
/** The `vfio-sim` command line. */
import { parseArgs } from 'node:util';
import { VARIANTS } from '../kernel/variant/knobs.js';
import { renderVariants } from './variants.js';
import { runDemo } from './demo.js';
import { runCommand } from './run.js';
import { checkCommand, exploreCommand } from './explore.js';
import { detectTerminal, PLAIN, type Terminal } from './terminal.js';
import { escapeControls } from '../scenario/source.js';

const USAGE = `usage: vfio-sim <command> [options]

commands:
  demo [--variant V]   narrated demonstration on the default machine (default variant 5.8)
  variants [--knobs]   list the design variants, what each changed and why
                       (--knobs: every knob's value in every variant, as a table)
  run <scenario.yaml>  run a scenario file under a schedule ('vfio-sim run --help')
  explore <scenario.yaml>
                       search its interleavings for broken properties ('vfio-sim explore --help')
  check                explore the built-in suite under every variant: the variant ×
                       property table and where each defect is ('vfio-sim check --help')
  replay <scenario.yaml> <TOKEN>
                       reproduce a run or a counterexample bit for bit (run --replay)

options:
  -h, --help           show this help`;

/**
 * Exit codes: 0 ok, 1 scenario expectations failed (run) or a property broken (explore,
 * check), 2 bad input (usage), 3 internal error. explore and check are asynchronous (they
 * yield to the event loop for progress lines and Ctrl-C); the other commands are not.
 */
export function main(argv: readonly string[], out: (s: string) => void, err: (s: string) => void, term: Terminal = PLAIN, signal?: { interrupted: boolean }): number | Promise<number> {
  if (argv[0] === 'run') return runCommand(argv.slice(1), out, err, term);
  if (argv[0] === 'explore') return exploreCommand(argv.slice(1), out, err, term, signal);
  if (argv[0] === 'check') return checkCommand(argv.slice(1), out, err, term, signal);
  if (argv[0] === 'replay') {
    const [, file, token, ...rest] = argv;
    if (file === '--help' || file === '-h') {
      out('usage: vfio-sim replay <scenario.yaml> <TOKEN> [run options: --trace, --json]\n\nSame as vfio-sim run <scenario.yaml> --replay TOKEN.');
      return 0;
    }
    if (file === undefined || token === undefined || token.startsWith('-')) {
      err("vfio-sim replay: expected a scenario file and a replay token (usage: vfio-sim replay <scenario.yaml> <TOKEN>)");
      return 2;
    }
    return runCommand([file, '--replay', token, ...rest], out, err, term);
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, options: { variant: { type: 'string' }, knobs: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  } catch (e) {
    err(`vfio-sim: ${escapeControls((e as Error).message)}\n${USAGE}`);
    return 2;
  }
  const [cmd, ...rest] = parsed.positionals;
  if (parsed.values.help === true || cmd === undefined) {
    (cmd === undefined && parsed.values.help !== true ? err : out)(USAGE);
    return cmd === undefined && parsed.values.help !== true ? 2 : 0;
  }
  if (rest.length > 0) {
    err(`vfio-sim: unexpected argument '${escapeControls(rest[0] ?? '')}'\n${USAGE}`);
    return 2;
  }
  switch (cmd) {
    case 'demo': {
      const v = parsed.values.variant ?? '5.8';
      if (!VARIANTS.some((x) => x.name === v)) {
        err(`vfio-sim: unknown variant '${escapeControls(v)}' (known: ${VARIANTS.map((x) => x.name).join(', ')})`);
        return 2;
      }
      runDemo(out, v, term.color);
      return 0;
    }
    case 'variants':
      for (const line of renderVariants(parsed.values.knobs === true, term.color)) out(line);
      return 0;
    default:
      err(`vfio-sim: unknown command '${escapeControls(cmd)}'\n${USAGE}`);
      return 2;
  }
}

const isMain = process.argv[1] !== undefined && /main\.js$/.test(process.argv[1]);
if (isMain) {
  const internal = (e: unknown): void => {
    console.error(`vfio-sim: internal error: ${(e as Error).stack ?? String(e)}`);
    process.exitCode = 3;
  };
  // Ctrl-C stops a search between executions; the summary then covers what was explored
  const signal = { interrupted: false };
  process.on('SIGINT', () => {
    if (signal.interrupted) process.exit(130);
    signal.interrupted = true;
  });
  try {
    const r = main(process.argv.slice(2), (s) => console.log(s), (s) => console.error(s), detectTerminal(process.env, process.stdout, process.stderr), signal);
    if (typeof r === 'number') process.exitCode = r;
    else r.then((code) => { process.exitCode = code; }, internal);
  } catch (e) {
    internal(e);
  }
}
