/** Shared pieces of the UI tests: a server on a free port, raw HTTP requests with any headers. */
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { startUiServer, type UiServer } from '../../src/ui/server.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));
export const EXAMPLES = `${ROOT}examples`;

export function startServer(paths: readonly string[] = []): Promise<UiServer> {
  return startUiServer({ port: 0, assetsDir: WEB_DIR, examplesDir: EXAMPLES, paths });
}

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/**
 * A request sent as written: the path is not normalized (so `..%2f` and `/../` reach the
 * server as they are), and Host/Origin are whatever the test says.
 */
export function raw(port: number, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ agent: false, host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: { Host: `127.0.0.1:${port}`, ...opts.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/** A JSON POST from the server's own page (its Origin). */
export function postJson(port: number, path: string, body: unknown): Promise<Reply> {
  return raw(port, path, { method: 'POST', headers: { Origin: `http://127.0.0.1:${port}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
}
