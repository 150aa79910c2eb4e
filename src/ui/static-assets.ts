/**
 * The web app's prebuilt files (dist/web, built by Vite): a request path is mapped to a
 * file under that folder or refused — a path that decodes to `..`, a backslash, a NUL, or
 * that resolves (through a symlink) outside the folder is never served.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { extname, join, sep } from 'node:path';
import { isInside } from './file-registry.js';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.ico': 'image/x-icon',
};

/** A file to send, or why not (404 for a path that names nothing, 400 for a malformed one). */
export type AssetLookup = { readonly ok: true; readonly body: Buffer; readonly type: string } | { readonly ok: false; readonly status: 400 | 404; readonly why: string };

export class StaticAssets {
  private readonly root: string;

  constructor(dir: string) {
    this.root = realpathSync(dir);
  }

  /** The asset at URL path `urlPath` ('/' is index.html). */
  lookup(urlPath: string): AssetLookup {
    let decoded: string;
    try {
      decoded = decodeURIComponent(urlPath);
    } catch {
      return { ok: false, status: 400, why: 'malformed path' };
    }
    if (decoded.includes('\0') || decoded.includes('\\')) return { ok: false, status: 400, why: 'malformed path' };
    const parts = decoded.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.some((p) => p === '..')) return { ok: false, status: 404, why: 'no such file' };
    const rel = parts.length === 0 ? 'index.html' : parts.join(sep);
    const p = join(this.root, rel);
    let real: string;
    try {
      real = realpathSync(p);
      if (!statSync(real).isFile()) return { ok: false, status: 404, why: 'no such file' };
    } catch {
      return { ok: false, status: 404, why: 'no such file' };
    }
    if (!isInside(this.root, real)) return { ok: false, status: 404, why: 'no such file' };
    return { ok: true, body: readFileSync(real), type: TYPES[extname(real)] ?? 'application/octet-stream' };
  }
}
