/**
 * `vfio-sim serve [model options] --socket PATH` and `vfio-sim exec [model options]
 * [--events FILE] -- PROGRAM ARGS...`: the model server on a Unix socket, and a program
 * run against it under the LD_PRELOAD shim (native/preload.c).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SimEvent } from '../events/event.js';
import { ExecReport } from '../server/exec-report.js';
import { ModelServer } from '../server/server.js';
import { Recorder } from '../server/recorder.js';
import { parseCommand } from './args.js';
import { MODEL_OPTIONS, MODEL_OPTIONS_USAGE, modelOptions } from './model-options.js';

export const SERVE_USAGE = `usage: vfio-sim serve [options] --socket PATH

Runs one model (machine and kernel) and serves programs that connect to the Unix socket
PATH (through the LD_PRELOAD shim: LD_PRELOAD=.../libvfio-sim-preload.so
VFIO_SIM_SOCKET=PATH program). Each connected program is a model process. Stops on
SIGINT or SIGTERM. Protocol: docs/SERVER-PROTOCOL.md.

options:
  --socket PATH        the Unix socket to listen on (must not exist)
${MODEL_OPTIONS_USAGE}
  --clock C            host (model time follows the host's monotonic clock; the default)
                       or model (only the model advances it)
  --record FILE        on exit, write what the programs did as a scenario to FILE
  -h, --help           show this help`;

export const EXEC_USAGE = `usage: vfio-sim exec [options] -- PROGRAM [ARGS...]

Runs PROGRAM (an unmodified, dynamically linked x86-64 Linux program) against the model:
its opens of /dev/vfio/*, ioctls, reads and writes, mmaps of device regions and the loads
and stores to them go to a model server started for the run. Exits with the program's
status (128+N when a signal N ended it) and prints the model's report on stderr: platform
errors, kernel WARNINGs/BUGs, lockdep reports, signals the model raised.

options:
${MODEL_OPTIONS_USAGE}
  --events FILE        write every model event as a JSON line to FILE
  --record FILE        write what the program did as a scenario to FILE (replay it with
                       vfio-sim run, explore it with vfio-sim explore)
  --clock C            host (model time follows the host's monotonic clock, and a model
                       sleep such as a reset's takes that long; the default) or model (only
                       the model advances it: no waiting, and a run is a function of the
                       order of the program's requests)
  -h, --help           show this help

exit codes: the program's; 2 bad input; 127 the program cannot be run or the shim is not built`;

/** Where the shim is: VFIO_SIM_PRELOAD, or native/libvfio-sim-preload.so of this package. */
export function shimPath(env: NodeJS.ProcessEnv = process.env): string {
  return env['VFIO_SIM_PRELOAD'] ?? fileURLToPath(new URL('../../../native/libvfio-sim-preload.so', import.meta.url));
}

/** Buffered JSON-lines writer of events. */
class EventsFile {
  private readonly fd: number;
  private buf: string[] = [];
  private size = 0;
  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }
  write(ev: SimEvent): void {
    const line = JSON.stringify(ev, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));
    this.buf.push(line);
    this.size += line.length + 1;
    if (this.size > 1 << 16) this.flush();
  }
  flush(): void {
    if (this.buf.length > 0) writeSync(this.fd, `${this.buf.join('\n')}\n`);
    this.buf = [];
    this.size = 0;
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

export async function serveCommand(argv: readonly string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const cmd = parseCommand('serve', argv, { ...MODEL_OPTIONS, socket: { type: 'string' }, clock: { type: 'string' }, record: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, false, SERVE_USAGE, out, err);
  if (typeof cmd === 'number') return cmd;
  const { values: v, bad } = cmd;
  if (v.socket === undefined) return bad('missing --socket PATH');
  const clock = v.clock ?? 'host';
  if (clock !== 'host' && clock !== 'model') return bad(`--clock expects host or model, got '${clock}'`);
  const m = modelOptions(v);
  if ('errors' in m) {
    for (const e of m.errors) err(`vfio-sim serve: ${e}`);
    return 2;
  }
  const recorder = v.record === undefined ? undefined : new Recorder();
  const server = new ModelServer({ ...m.options, clock, eventCapacity: 10_000, ...(recorder !== undefined ? { recorder } : {}) });
  try {
    await server.listen(v.socket);
  } catch (e) {
    return bad(`cannot listen on '${v.socket}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  out(`vfio-sim serve: ${m.label}; listening on ${v.socket}`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  if (recorder !== undefined && v.record !== undefined) {
    try {
      writeFileSync(v.record, recorder.yaml(v.variant ?? '5.8', 'programs served'));
    } catch (e) {
      err(`vfio-sim serve: cannot write '${v.record}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return 1;
    }
  }
  return 0;
}

export async function execCommand(argv: readonly string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const cmd = parseCommand('exec', argv, { ...MODEL_OPTIONS, events: { type: 'string' }, record: { type: 'string' }, clock: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, true, EXEC_USAGE, out, err);
  if (typeof cmd === 'number') return cmd;
  const { values: v, positionals, bad } = cmd;
  const clock = v.clock ?? 'host';
  if (clock !== 'host' && clock !== 'model') return bad(`--clock expects host or model, got '${clock}'`);
  const [program, ...args] = positionals;
  if (program === undefined) return bad("missing the program (usage: vfio-sim exec [options] -- PROGRAM [ARGS...])");
  const m = modelOptions(v);
  if ('errors' in m) {
    for (const e of m.errors) err(`vfio-sim exec: ${e}`);
    return 2;
  }
  const shim = shimPath();
  if (!existsSync(shim)) {
    err(`vfio-sim exec: the LD_PRELOAD shim is not built (${shim} is missing). It is built at install with the system C compiler; install one (e.g. 'apt-get install gcc') and run 'npm run build:native'.`);
    return 127;
  }
  const report = new ExecReport();
  let events: EventsFile | null = null;
  try {
    events = v.events === undefined ? null : new EventsFile(v.events);
  } catch (e) {
    return bad(`cannot write '${v.events ?? ''}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const ev = events;
  const recorder = v.record === undefined ? undefined : new Recorder();
  const dir = mkdtempSync(join(tmpdir(), 'vfio-sim-'));
  const sock = join(dir, 'model.sock');
  const server = new ModelServer({
    ...m.options,
    clock,
    eventCapacity: 10_000,
    ...(recorder !== undefined ? { recorder } : {}),
    onEvent: (e) => {
      report.onEvent(e);
      ev?.write(e);
    },
  });
  try {
    await server.listen(sock);
    const preload = [shim, process.env['LD_PRELOAD']].filter((x) => x !== undefined && x !== '').join(':');
    const status = await new Promise<{ code: number; text: string }>((resolve) => {
      const child = spawn(program, args, { stdio: 'inherit', env: { ...process.env, LD_PRELOAD: preload, VFIO_SIM_SOCKET: sock } });
      child.on('error', (e: NodeJS.ErrnoException) => resolve({ code: 127, text: `could not be run (${e.code ?? e.message})` }));
      child.on('exit', (code, signal) => {
        if (signal !== null) {
          const n = osConstants.signals[signal];
          resolve({ code: 128 + n, text: `was killed by ${signal}` });
        } else resolve({ code: code ?? 0, text: `exited with status ${code ?? 0}` });
      });
    });
    // the program's connections close as it exits: let the server release its processes
    for (let i = 0; i < 200 && server.liveProcesses > 0; i++) await new Promise((r) => setTimeout(r, 5));
    events?.close();
    if (recorder !== undefined && v.record !== undefined) {
      try {
        writeFileSync(v.record, recorder.yaml(v.variant ?? '5.8', program));
        err(`vfio-sim exec: the run recorded as a scenario in ${v.record}`);
      } catch (e) {
        err(`vfio-sim exec: cannot write '${v.record}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    for (const line of report.render({ program, status: status.text, label: m.label, stats: server.stats, clock, modelMs: Math.round(server.sys.hw.clock.nowNs / 1e6), eventsFile: v.events ?? null })) err(line);
    return status.code;
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
