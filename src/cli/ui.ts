/**
 * `vfio-sim ui [--port N] [scenario files or folders...]`: serve the web UI on 127.0.0.1
 * and print its URL; runs until Ctrl-C.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import picocolors from 'picocolors';
import { EXAMPLES_DIR } from './explore.js';
import type { Terminal } from './terminal.js';
import { PLAIN } from './terminal.js';
import { escapeControls } from '../scenario/source.js';
import { FileRefused } from '../ui/file-registry.js';
import { startUiServer, type UiServer } from '../ui/server.js';
import { parseArgs } from 'node:util';

export const UI_USAGE = `usage: vfio-sim ui [--port N] [scenario files or folders...]

Serves the web UI on http://127.0.0.1:PORT/ (never another interface) and prints its URL:
the check table filled in live, counterexamples stepped through the model's state (locks,
lockdep graph, memory, device), and a scenario editor. Files given by name can be saved
from the editor; files found in a given folder and the shipped examples are read-only.

options:
  --port N             the port (default 0: any free port)
  -h, --help           show this help`;

/** The prebuilt app (dist/web), three directories above dist/src/cli/. */
export const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));

/**
 * `vfio-sim ui`. Resolves once the server has stopped (`signal.interrupted`, Ctrl-C); the
 * started server is handed to `onStart` (tests).
 */
export async function uiCommand(argv: readonly string[], out: (s: string) => void, err: (s: string) => void, term: Terminal = PLAIN, signal?: { interrupted: boolean }, onStart?: (s: UiServer) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, options: { port: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (e) {
    err(`vfio-sim ui: ${escapeControls((e as Error).message)}\n${UI_USAGE}`);
    return 2;
  }
  if (parsed.values.help === true) {
    out(UI_USAGE);
    return 0;
  }
  const portText = parsed.values.port ?? '0';
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    err(`vfio-sim ui: --port expects a port number 0-65535, got '${escapeControls(portText)}'`);
    return 2;
  }
  if (!existsSync(`${WEB_DIR}index.html`)) {
    err(`vfio-sim ui: the web app is not built (no ${WEB_DIR}index.html): run 'npm run build'`);
    return 3;
  }
  let server: UiServer;
  try {
    server = await startUiServer({ port, assetsDir: WEB_DIR, examplesDir: EXAMPLES_DIR, paths: parsed.positionals });
  } catch (e) {
    if (e instanceof FileRefused) {
      err(`vfio-sim ui: ${escapeControls(e.message)}`);
      return 2;
    }
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      err(`vfio-sim ui: cannot listen on 127.0.0.1:${port}: ${code === 'EADDRINUSE' ? 'the port is in use' : 'permission denied'}`);
      return 2;
    }
    throw e;
  }
  const pc = picocolors.createColors(term.color);
  out(`vfio-sim ui: serving on ${pc.bold(pc.cyan(server.url))} (Ctrl-C stops)`);
  onStart?.(server);
  const stop = signal ?? { interrupted: false };
  await new Promise<void>((resolve) => {
    const t = setInterval(() => {
      if (!stop.interrupted) return;
      clearInterval(t);
      resolve();
    }, 100);
  });
  await server.close();
  return 0;
}
