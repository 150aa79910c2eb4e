/**
 * The `vfio-sim ui` server (node:http, no framework): binds 127.0.0.1 only, refuses
 * requests not addressed to itself (security.ts), serves the prebuilt app (static-assets.ts)
 * and a JSON API over the model:
 *
 *   GET  /api/files                    the scenario files it may show (file-registry.ts)
 *   GET  /api/file?id=ID               one file's text
 *   POST /api/validate {text}          the loader's positioned errors
 *   POST /api/trace {id|text, token?, variant?, schedule?}
 *                                      a run replayed with the model's state at every step
 *   POST /api/itf {id|text, token}    the run of a replay token as an ITF trace (as
 *                                      `explore --json` gives each counterexample)
 *   POST /api/explore {id|text, variant?, maxPreemptions?}
 *                                      the counterexamples (property, message, token)
 *   POST /api/save {id, text}          only files given on the command line by name
 *   GET  /api/check?suite=&bound=&variants=&knob=NAME=VALUE
 *                                      check, as server-sent events: `cell` per finished
 *                                      cell, `done` with the table, `failed`
 *   GET  /api/variants                 the presets and knobs
 *   GET  /api/schema                   the scenario JSON Schema (the editor's completion)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exploreScenario, itf, loadScenario, ScenarioInputError, scenarioJsonSchema, type Scenario } from '../scenario/index.js';
import { replayFinding } from '../scenario/explore.js';
import { KNOB_VALUES, VARIANTS } from '../kernel/variant/knobs.js';
import { BUILTIN_PROPERTIES } from '../check/property.js';
import { FileRegistry } from './file-registry.js';
import { SECURITY_HEADERS, refuseReason } from './security.js';
import { StaticAssets } from './static-assets.js';
import { recordTrace, type TraceRequest } from './trace-recorder.js';
import { loadSuite, parseKnob, runCheckJob } from './check-job.js';
import type { ScenarioErrorJson } from './protocol.js';

/** The largest request body accepted (a scenario is at most 4 MiB). */
const MAX_BODY = 5 * 1024 * 1024;
/** The preemption bound of check unless told (as `vfio-sim check`). */
const DEFAULT_BOUND = 2;

export interface UiServerOptions {
  /** 0: any free port. */
  readonly port: number;
  /** The prebuilt app (dist/web). */
  readonly assetsDir: string;
  /** The package's examples folder (read-only, the built-in suite). */
  readonly examplesDir: string;
  /** Scenario files and folders from the command line. */
  readonly paths: readonly string[];
}

export interface UiServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Cache-Control': 'no-store', ...extra });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, v: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(v));
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('application/json')) throw new HttpError(415, 'expected Content-Type application/json');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    const b = c as Buffer;
    size += b.length;
    if (size > MAX_BODY) throw new HttpError(413, `request body larger than ${MAX_BODY} bytes`);
    chunks.push(b);
  }
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'the body is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HttpError(400, 'expected a JSON object');
  return v as Record<string, unknown>;
}

function str(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new HttpError(400, `'${key}' must be a string`);
  return v;
}

function num(body: Record<string, unknown>, key: string, lo: number, hi: number): number | undefined {
  const v = body[key];
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < lo || n > hi) throw new HttpError(400, `'${key}' must be an integer in [${lo}, ${hi}]`);
  return n;
}

function knobsOf(list: readonly string[]): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of list) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new HttpError(400, `a knob override is NAME=VALUE, got '${kv}'`);
    const k = parseKnob(kv.slice(0, i), kv.slice(i + 1));
    if ('error' in k) throw new HttpError(400, k.error);
    out[kv.slice(0, i)] = k.value;
  }
  return out;
}

/** Start the server; resolves once it listens. */
export async function startUiServer(o: UiServerOptions): Promise<UiServer> {
  const reg = new FileRegistry();
  reg.addExamples(o.examplesDir);
  for (const p of o.paths) reg.add(p);
  const assets = new StaticAssets(o.assetsDir);
  let port = o.port;

  /** The scenario a request names: a registered file (`id`) or a text from the editor. */
  const scenarioOf = (body: Record<string, unknown>): { scenario: Scenario } | { errors: ScenarioErrorJson[] } => {
    const id = str(body, 'id');
    const text = id === undefined ? str(body, 'text') : reg.read(id);
    if (text === undefined) throw new HttpError(400, "expected 'id' or 'text'");
    if (text === null) throw new HttpError(404, `unknown file '${id ?? ''}'`);
    const l = loadScenario(text, id === undefined ? (str(body, 'name') ?? 'scenario.yaml') : (reg.pathOf(id) ?? 'scenario.yaml'));
    if (!l.ok) return { errors: l.errors.map((e) => ({ line: e.line, col: e.col, message: e.message })) };
    return { scenario: l.scenario };
  };

  const api = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const route = `${req.method ?? 'GET'} ${url.pathname}`;
    switch (route) {
      case 'GET /api/files':
        return sendJson(res, 200, reg.list());
      case 'GET /api/file': {
        const id = url.searchParams.get('id') ?? '';
        const text = reg.read(id);
        if (text === null) throw new HttpError(404, `unknown file '${id}'`);
        return sendJson(res, 200, { id, name: reg.nameOf(id), text });
      }
      case 'GET /api/schema':
        return sendJson(res, 200, scenarioJsonSchema());
      case 'GET /api/variants':
        return sendJson(res, 200, { variants: VARIANTS.map((v) => ({ name: v.name, title: v.title, description: v.description, from: v.from, knobs: v.knobs })), knobs: KNOB_VALUES });
      case 'POST /api/validate': {
        const body = await readBody(req);
        const l = loadScenario(str(body, 'text') ?? '', str(body, 'name') ?? 'scenario.yaml');
        return sendJson(res, 200, { errors: l.ok ? [] : l.errors.map((e) => ({ line: e.line, col: e.col, message: e.message })) });
      }
      case 'POST /api/trace': {
        const body = await readBody(req);
        const s = scenarioOf(body);
        if ('errors' in s) return sendJson(res, 422, s);
        const knobs = Array.isArray(body.knobs) ? knobsOf(body.knobs.map(String)) : undefined;
        const token = str(body, 'token');
        // a replay token fixes the variant, knobs and every choice: the rest is not asked for
        const tr: TraceRequest = token !== undefined ? { token } : {
          ...(str(body, 'variant') !== undefined ? { variant: str(body, 'variant') } : {}),
          ...(str(body, 'schedule') !== undefined ? { schedule: str(body, 'schedule') } : {}),
          ...(num(body, 'seed', 0, 2 ** 32 - 1) !== undefined ? { seed: num(body, 'seed', 0, 2 ** 32 - 1) } : {}),
          ...(knobs !== undefined ? { knobs } : {}),
        };
        return sendJson(res, 200, recordTrace(s.scenario, tr));
      }
      case 'POST /api/itf': {
        const body = await readBody(req);
        const s = scenarioOf(body);
        if ('errors' in s) return sendJson(res, 422, s);
        const token = str(body, 'token');
        if (token === undefined) throw new HttpError(400, "expected 'token' (the replay token of the run to export)");
        // replayed with the explorer's properties watching, as explore --json replays a counterexample
        const { run, violations } = replayFinding(s.scenario, token);
        const description = violations.size === 0 ? 'no property broken' : [...violations].map(([p, m]) => `${p}: ${m}`).join('; ');
        return sendJson(res, 200, itf(run, description));
      }
      case 'POST /api/explore': {
        const body = await readBody(req);
        const s = scenarioOf(body);
        if ('errors' in s) return sendJson(res, 422, s);
        const variant = str(body, 'variant');
        const r = exploreScenario(s.scenario, {
          maxPreemptions: num(body, 'maxPreemptions', 0, 20) ?? DEFAULT_BOUND,
          maxExecutions: num(body, 'maxExecutions', 1, 100000) ?? 20000,
          noReplays: true,
          ...(variant !== undefined ? { variant } : {}),
        });
        return sendJson(res, 200, {
          complete: r.search.complete,
          executions: r.search.stats.executions,
          counterexamples: r.search.counterexamples.map((x) => ({ property: x.property, message: x.message, token: x.token, steps: x.steps, preemptions: x.preemptions })),
        });
      }
      case 'POST /api/save': {
        const body = await readBody(req);
        const id = str(body, 'id') ?? '';
        const why = reg.save(id, str(body, 'text') ?? '');
        if (why !== null) throw new HttpError(403, why);
        return sendJson(res, 200, { saved: reg.nameOf(id) });
      }
      case 'GET /api/check':
        return check(req, res, url);
      default:
        throw new HttpError(404, `no such endpoint: ${route}`);
    }
  };

  /** check as server-sent events. */
  const check = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const q = url.searchParams;
    const suiteKind = q.get('suite') ?? 'builtin';
    const ids = suiteKind === 'given' ? reg.given().map((f) => f.id) : reg.list().filter((f) => f.example).map((f) => f.id);
    const bound = num({ b: q.get('bound') ?? undefined }, 'b', 0, 20) ?? DEFAULT_BOUND;
    const maxExecutions = num({ m: q.get('maxExecutions') ?? undefined }, 'm', 1, 1e7);
    const variants = q.get('variants')?.split(',').filter((v) => v !== '');
    const knobs = knobsOf(q.getAll('knob'));
    for (const v of variants ?? []) if (!VARIANTS.some((x) => x.name === v)) throw new HttpError(400, `unknown variant '${v}'`);
    const suite = loadSuite(reg, ids);
    if ('error' in suite) throw new HttpError(400, suite.error);
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    let closed = false;
    req.on('close', () => {
      closed = true;
    });
    const event = (name: string, data: unknown): void => {
      if (!closed) res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const planned = suite.suite.length * (variants?.length ?? VARIANTS.length);
    const properties: string[] = [...BUILTIN_PROPERTIES];
    for (const sc of suite.suite) for (const p of sc.properties) if (!properties.includes(p.name)) properties.push(p.name);
    event('start', { planned, scenarios: suite.suite.length, variants: variants ?? VARIANTS.map((v) => v.name), properties });
    try {
      const done = await runCheckJob(reg, suite.suite, { maxPreemptions: bound, knobs, ...(variants !== undefined ? { variants } : {}), ...(maxExecutions !== undefined ? { maxExecutions } : {}) }, (c) => event('cell', c), () => closed);
      event('done', done);
    } catch (e) {
      event('failed', { message: e instanceof ScenarioInputError ? e.message : `internal error: ${(e as Error).message}` });
    }
    res.end();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const why = refuseReason(req, port);
    if (why !== null) return send(res, 403, 'text/plain; charset=utf-8', `refused: ${why}\n`);
    let url: URL;
    try {
      url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    } catch {
      return send(res, 400, 'text/plain; charset=utf-8', 'malformed URL\n');
    }
    if (url.pathname.startsWith('/api/')) {
      try {
        await api(req, res, url);
      } catch (e) {
        if (e instanceof HttpError) return sendJson(res, e.status, { error: e.message });
        if (e instanceof ScenarioInputError) return sendJson(res, 400, { error: e.message });
        if (!res.headersSent) sendJson(res, 500, { error: `internal error: ${(e as Error).message}` });
        else res.end();
      }
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { Allow: 'GET, HEAD' });
    // the raw path, so that an encoded '/' (%2f) is decoded once, here, and checked
    const raw = (req.url ?? '/').split('?')[0] ?? '/';
    const a = assets.lookup(raw);
    if (!a.ok) return send(res, a.status, 'text/plain; charset=utf-8', `${a.why}\n`);
    send(res, 200, a.type, req.method === 'HEAD' ? '' : a.body, { 'Cache-Control': 'no-cache' });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
