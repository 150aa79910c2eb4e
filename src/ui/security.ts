/**
 * The UI server's request guard: it answers only requests addressed to itself
 * (DNS rebinding: a page of another site whose name resolves to 127.0.0.1 sends its own
 * Host), never a cross-site page's requests (Origin), and sends every response with a
 * content security policy that allows nothing but its own assets.
 */
import type { IncomingMessage } from 'node:http';

/** The content security policy of every response: the app's own scripts, styles and API only. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers sent with every response. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

/** The Host values the server answers to, for a server on 127.0.0.1:`port`. */
export function allowedHosts(port: number): string[] {
  return [`127.0.0.1:${port}`, `localhost:${port}`];
}

/**
 * Why a request must be refused, or null to serve it: its Host is not the server's own
 * address, or it carries an Origin that is not the server's, or it changes something
 * (any method but GET/HEAD) without saying it comes from the server's own page.
 */
export function refuseReason(req: IncomingMessage, port: number): string | null {
  const hosts = allowedHosts(port);
  const host = req.headers.host;
  if (host === undefined || !hosts.includes(host.toLowerCase())) return `Host '${host ?? ''}' is not this server (expected ${hosts.join(' or ')})`;
  const origin = req.headers.origin;
  const method = req.method ?? 'GET';
  if (origin !== undefined && !hosts.some((h) => origin.toLowerCase() === `http://${h}`)) return `Origin '${origin}' is not this server`;
  if (method !== 'GET' && method !== 'HEAD' && origin === undefined) return `a ${method} request must carry this server's Origin`;
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return `Sec-Fetch-Site '${site}' is not same-origin`;
  return null;
}
