/**
 * Shared pieces of the cache tests: a document server whose per-path hit counter is the witness of every
 * caching claim, a client document, a fake clock for freshness, and small timing helpers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type CimdEvent, type CimdOptions, createCimd } from 'oidc-provider-cimd';
import { getTestCertificate } from '../helpers/certs.js';
import { startHttpsServer, type TestHttpsServer } from '../helpers/https-server.js';

export interface DocRoute {
  status?: number;
  headers?: Headers;
  /** A JSON value (serialised) or a raw string. */
  body?: unknown;
  /** Holds the response this long, ms (to make concurrent lookups overlap for sure). */
  delayMs?: number;
}

export type DocHandler = (req: IncomingMessage) => DocRoute;

export type Headers = Record<string, string | undefined>;

export interface DocServer {
  readonly url: string;
  /** The CID of a path on this server. */
  cid(path: string): string;
  /** Serves `route` (or the route computed per request) at `path`. */
  route(path: string, route: DocRoute | DocHandler): string;
  /** Requests received for `path` so far. */
  hits(path: string): number;
  /** The request headers of every request for `path`, in order. */
  headers(path: string): IncomingMessage['headers'][];
  close(): Promise<void>;
}

export async function startDocServer(): Promise<DocServer> {
  const routes = new Map<string, DocRoute | DocHandler>();
  const seen = new Map<string, IncomingMessage['headers'][]>();
  let server: TestHttpsServer | undefined;
  server = await startHttpsServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    const log = seen.get(path) ?? [];
    log.push(req.headers);
    seen.set(path, log);
    const found = routes.get(path);
    const route = typeof found === 'function' ? found(req) : found;
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    const send = () => {
      const status = route.status ?? 200;
      const body =
        route.body === undefined || typeof route.body === 'string' ? (route.body ?? '') : JSON.stringify(route.body);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      for (const [name, value] of Object.entries(route.headers ?? {})) if (value !== undefined) headers[name] = value;
      res.writeHead(status, headers);
      res.end(status === 304 ? undefined : body);
    };
    if (route.delayMs) setTimeout(send, route.delayMs);
    else send();
  });
  const url = server.url;
  return {
    url,
    cid: (path) => `${url}${path}`,
    route(path, route) {
      routes.set(path, route);
      return `${url}${path}`;
    },
    hits: (path) => seen.get(path)?.length ?? 0,
    headers: (path) => seen.get(path) ?? [],
    close: () => server!.close(),
  };
}

/** A valid client metadata document for `cid`. */
export function clientDoc(cid: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    client_id: cid,
    client_name: 'Cache Test',
    redirect_uris: ['https://app.example.com/cb'],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    ...extra,
  };
}

export interface FakeClock {
  now: () => number;
  advance(ms: number): void;
}

/** Starts at the real time (so that `Date` / `Expires` headers line up) and moves only when told to. */
export function fakeClock(start = Date.now()): FakeClock {
  let t = start;
  return {
    now: () => t,
    advance(ms) {
      t += ms;
    },
  };
}

/** A plugin ready for `resolve()` (configured, loopback documents allowed), with its events collected. */
export async function configuredCimd(options: CimdOptions = {}) {
  const { cert } = await getTestCertificate();
  const events: CimdEvent[] = [];
  const cimd = createCimd({
    issuer: 'http://localhost:9',
    allowLoopback: true,
    ca: cert,
    failureBackoffMs: 0,
    ...options,
    onEvent: (event) => {
      events.push(event);
      options.onEvent?.(event);
    },
  });
  // The configuration is returned too: its adapter is what saves grants (a client in use).
  const config = cimd.configure({});
  return {
    cimd,
    config,
    events,
    reasons: (cid: string) => events.filter((e) => e.cid === cid).map((e) => e.reason),
  };
}

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;

export async function eventually(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Runs `fn` and returns its result with the time it took, ms. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - started };
}
