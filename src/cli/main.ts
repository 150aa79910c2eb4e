#!/usr/bin/env node
/**
 * The `vfio-sim` command line: `main` (no side effects on import), and `runCli`, which the
 * bin entry (bin.ts) and `node dist/src/cli/main.js` run.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { VARIANTS } from '../kernel/variant/knobs.js';
import { renderVariants } from './variants.js';
import { runDemo } from './demo.js';
import { runCommand } from './run.js';
import { checkCommand, exploreCommand } from './explore.js';
import { execCommand, serveCommand } from './exec.js';
import { uiCommand } from './ui.js';
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
  exec [options] -- PROGRAM [ARGS...]
                       run an unmodified C VFIO program against the model through the
                       LD_PRELOAD shim, with the model's report ('vfio-sim exec --help')
  serve --socket PATH  serve the model on a Unix socket to programs under the shim
  ui [--port N] [scenario files or folders...]
                       serve the web UI on 127.0.0.1 (check table, trace viewer,
                       scenario editor; 'vfio-sim ui --help')

options:
  -h, --help           show this help ('vfio-sim <command> --help': the command's own)
  --version            print the package version`;

export const DEMO_USAGE = `usage: vfio-sim demo [--variant V]

The narrated demonstration: a VMM-like process opens an edu device through VFIO, mmaps
BAR0, clears Memory Space Enable and gets SIGBUS and -EIO, resets the device and DMA-maps a
second device's BAR for peer-to-peer. Indented '|' lines are kernel and hardware events.

options:
  --variant V          design variant preset (default 5.8; 'vfio-sim variants' lists them)
  -h, --help           show this help`;

export const VARIANTS_USAGE = `usage: vfio-sim variants [--knobs]

Lists the design variants in history order, each with the knobs it changed from its base
and why.

options:
  --knobs              every knob's value in every variant, as one grid
  -h, --help           show this help`;

/** The package's version, from its package.json (three directories above dist/src/cli/). */
export function packageVersion(): string {
  const pkg: unknown = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
  const v = typeof pkg === 'object' && pkg !== null && 'version' in pkg ? pkg.version : undefined;
  return typeof v === 'string' ? v : 'unknown';
}

/**
 * Exit codes: 0 ok, 1 scenario expectations failed (run) or a property broken (explore,
 * check), 2 bad input (usage), 3 internal error. explore and check are asynchronous (they
 * yield to the event loop for progress lines and Ctrl-C); the other commands are not.
 */
export function main(argv: readonly string[], out: (s: string) => void, err: (s: string) => void, term: Terminal = PLAIN, signal?: { interrupted: boolean }): number | Promise<number> {
  if (argv[0] === 'run') return runCommand(argv.slice(1), out, err, term);
  if (argv[0] === 'explore') return exploreCommand(argv.slice(1), out, err, term, signal);
  if (argv[0] === 'exec') return execCommand(argv.slice(1), out, err);
  if (argv[0] === 'serve') return serveCommand(argv.slice(1), out, err);
  if (argv[0] === 'check') return checkCommand(argv.slice(1), out, err, term, signal);
  if (argv[0] === 'ui') return uiCommand(argv.slice(1), out, err, term, signal);
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
    return runCommand([file, '--replay', token, ...rest], out, err, term, 'replay');
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, options: { variant: { type: 'string' }, knobs: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } } });
  } catch (e) {
    err(`vfio-sim: ${escapeControls((e as Error).message)}\n${USAGE}`);
    return 2;
  }
  const [cmd, ...rest] = parsed.positionals;
  if (parsed.values.version === true && cmd === undefined) {
    out(packageVersion());
    return 0;
  }
  if (parsed.values.help === true && cmd === 'demo') {
    out(DEMO_USAGE);
    return 0;
  }
  if (parsed.values.help === true && cmd === 'variants') {
    out(VARIANTS_USAGE);
    return 0;
  }
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

/**
 * Run the command line on this process's arguments and set its exit code: what the bin
 * entry does. Ctrl-C stops a search between executions (a second one exits at once).
 */
export function runCli(): void {
  const internal = (e: unknown): void => {
    console.error(`vfio-sim: internal error: ${(e as Error).stack ?? String(e)}`);
    process.exitCode = 3;
  };
  // a reader that goes away (`| head`) ends the output, not with a stack trace
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      else internal(e);
    });
  }
  // Ctrl-C stops a search between executions; the summary then covers what was explored
  const signal = { interrupted: false };
  process.on('SIGINT', () => {
    if (signal.interrupted) process.exit(130);
    signal.interrupted = true;
  });
  try {
    const term = { ...detectTerminal(process.env, process.stdout, process.stderr), writeErr: (s: string): void => void process.stderr.write(s) };
    const r = main(process.argv.slice(2), (s) => console.log(s), (s) => console.error(s), term, signal);
    if (typeof r === 'number') process.exitCode = r;
    else r.then((code) => { process.exitCode = code; }, internal);
  } catch (e) {
    internal(e);
  }
}

/**
 * Whether the module at `moduleUrl` is the script node was started with, through any
 * symlink (npm's bin link, `npx`): both paths resolved to the real file.
 */
export function isEntryPoint(moduleUrl: string, argv1: string | undefined = process.argv[1]): boolean {
  if (argv1 === undefined) return false;
  const self = fileURLToPath(moduleUrl);
  // node also starts `dist/src/cli/main` (no extension) as main.js
  return [argv1, `${argv1}.js`].some((p) => {
    try {
      return realpathSync(p) === realpathSync(self);
    } catch {
      return false;
    }
  });
}

if (isEntryPoint(import.meta.url)) runCli();
