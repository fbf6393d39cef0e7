/**
 * What a case works with: the server's metadata, the document host, and an HTTP client for the authorization and
 * token endpoints that records every exchange and classifies each answer.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { SsrfLab } from './cases/ssrf.js';
import type { DocHost, Responder, Route } from './doc-host.js';
import type { AuthorizeKind, Exchange, Mode } from './types.js';

export type Metadata = Record<string, unknown> & {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint?: string;
};

/** Where documents are served from: names the kit controls, each with an origin. */
export interface DocOrigins {
  /** The main origin, e.g. `https://localhost:4443` (dev) or `https://docs.cimd-kit.net` (netns). */
  primary: string;
  /** A second origin on another host name or an IP literal, e.g. `https://127.0.0.1:4443`. */
  secondary: string;
}

/**
 * Paces requests that can make the server fetch, and bounds how many are in flight, so that the server's per-host
 * rate limits and per-domain concurrency caps (which a correct server has) never decide a case.
 */
export class Pacer {
  #next = 0;
  #inFlight = 0;
  readonly #queue: (() => void)[] = [];
  constructor(
    readonly intervalMs: number,
    readonly maxInFlight = 2,
  ) {}
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#inFlight >= this.maxInFlight) await new Promise<void>((resolve) => this.#queue.push(resolve));
    this.#inFlight++;
    try {
      const now = Date.now();
      const at = Math.max(now, this.#next);
      this.#next = at + this.intervalMs;
      if (at > now) await new Promise((resolve) => setTimeout(resolve, at - now));
      return await work();
    } finally {
      this.#inFlight--;
      this.#queue.shift()?.();
    }
  }
}

export interface AuthorizeAnswer {
  kind: AuthorizeKind;
  status: number;
  location?: string;
  /** `error` from the redirect or found in the error page (best effort). */
  error?: string;
  body: string;
}

export interface TokenAnswer {
  status: number;
  error?: string;
  json?: Record<string, unknown>;
}

/** Redirect URI used by the default document: never dialled by anyone. */
export const DEFAULT_REDIRECT = 'https://app.example.com/callback';

const SNIPPET = 600;

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > SNIPPET ? `${flat.slice(0, SNIPPET)}…` : flat;
}

const ERROR_CODES = [
  'invalid_client',
  'unauthorized_client',
  'invalid_redirect_uri',
  'invalid_request',
  'invalid_client_metadata',
  'access_denied',
  'server_error',
];

function errorIn(body: string): string | undefined {
  return ERROR_CODES.find((code) => body.includes(code));
}

export interface KitSettings {
  mode: Mode;
  /** The metadata, with `issuer` set to the issuer the kit was given (cases build on it). */
  metadata: Metadata;
  /** The `issuer` the metadata document itself carries. */
  servedIssuer: unknown;
  host: DocHost;
  origins: DocOrigins;
  /** Unique per run: every path starts with it, so a server's cache from an earlier run never answers. */
  runId: string;
  pacer: Pacer;
  /** How long the cache-expiry cases wait between their two phases (ms). */
  expiryWaitMs: number;
  /** Per-request timeout for the server under test (ms). */
  requestTimeoutMs: number;
  /** Namespace mode only: names and victim listeners for the SSRF cases. */
  lab?: SsrfLab;
}

export class CaseContext {
  readonly exchanges: Exchange[] = [];
  readonly routes: Route[] = [];
  /** Extra paths (not registered routes) whose hits belong to this case. */
  readonly watchedPaths: { path: string; hostname?: string }[] = [];

  constructor(
    readonly settings: KitSettings,
    readonly caseId: string,
  ) {}

  get metadata(): Metadata {
    return this.settings.metadata;
  }
  get issuer(): string {
    return this.settings.metadata.issuer;
  }
  get mode(): Mode {
    return this.settings.mode;
  }

  /** A path unique to this case and run: `/<runId>/<caseId>/<name>`. */
  path(name = 'client'): string {
    return `/${this.settings.runId}/${this.caseId}/${name}`;
  }

  /** A client id on the primary (or secondary) document origin. */
  cid(name = 'client', origin: 'primary' | 'secondary' = 'primary'): string {
    return `${this.settings.origins[origin]}${this.path(name)}`;
  }

  /** Serves `responder` at the path of `url` (a URL on a kit origin, or a path). */
  serve(url: string, responder: Responder): Route {
    const path = url.startsWith('/') ? url : new URL(url).pathname + new URL(url).search;
    const route = this.settings.host.route(path, responder);
    this.routes.push(route);
    return route;
  }

  /** Counts requests on a path that is not a route (a URL the server should never have derived). */
  watch(path: string, hostname?: string): () => number {
    this.watchedPaths.push({ path, ...(hostname === undefined ? {} : { hostname }) });
    return () => this.settings.host.hitsOn(path, hostname);
  }

  /** Every request the document host received on this case's paths. */
  fetches(): number {
    return (
      this.routes.reduce((sum, route) => sum + route.hits, 0) +
      this.watchedPaths.reduce((sum, watched) => sum + this.settings.host.hitsOn(watched.path, watched.hostname), 0)
    );
  }

  /** A valid public-client document for `cid`, with `overrides` merged in (an override of `undefined` deletes). */
  doc(cid: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
    const base: Record<string, unknown> = {
      client_id: cid,
      client_name: `cimd-conformance ${this.caseId}`,
      redirect_uris: [DEFAULT_REDIRECT],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
    for (const [key, value] of Object.entries(overrides)) {
      if (value === undefined) delete base[key];
      else base[key] = value;
    }
    return base;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  async #send(
    label: string,
    url: string,
    init: { method: string; body?: string; headers?: Record<string, string> },
  ): Promise<{ exchange: Exchange; response?: Response; text: string }> {
    return this.settings.pacer.run(() => this.#sendNow(label, url, init));
  }

  async #sendNow(
    label: string,
    url: string,
    init: { method: string; body?: string; headers?: Record<string, string> },
  ): Promise<{ exchange: Exchange; response?: Response; text: string }> {
    const started = Date.now();
    const exchange: Exchange = {
      label,
      request: { method: init.method, url, ...(init.body === undefined ? {} : { body: init.body }) },
      ms: 0,
    };
    this.exchanges.push(exchange);
    try {
      const response = await fetch(url, {
        method: init.method,
        redirect: 'manual',
        headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8', ...init.headers },
        ...(init.body === undefined ? {} : { body: init.body }),
        signal: AbortSignal.timeout(this.settings.requestTimeoutMs),
      });
      const text = await response.text();
      exchange.response = {
        status: response.status,
        ...(response.headers.get('location') ? { location: response.headers.get('location')! } : {}),
        ...(response.headers.get('content-type') ? { contentType: response.headers.get('content-type')! } : {}),
        body: snippet(text),
      };
      exchange.ms = Date.now() - started;
      return { exchange, response, text };
    } catch (error) {
      exchange.error = (error as Error).cause ? String((error as Error).cause) : (error as Error).message;
      exchange.ms = Date.now() - started;
      return { exchange, text: '' };
    }
  }

  /**
   * Sends an authorization request (code flow, PKCE S256) for `clientId` and classifies the answer. Extra
   * parameters override the defaults; `redirect_uri` defaults to the default document's.
   */
  async authorize(clientId: string, extra: Record<string, string> = {}, label = 'authorize'): Promise<AuthorizeAnswer> {
    const verifier = randomBytes(32).toString('base64url');
    const params = new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: DEFAULT_REDIRECT,
      scope: 'openid',
      state: randomBytes(8).toString('hex'),
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      ...extra,
    });
    const url = `${this.metadata.authorization_endpoint}?${params}`;
    const { exchange, response, text } = await this.#send(label, url, { method: 'GET' });
    const answer = classifyAuthorize(
      response,
      text,
      params.get('redirect_uri') ?? '',
      this.metadata.authorization_endpoint,
    );
    exchange.reading = answer.kind + (answer.error ? ` (${answer.error})` : '');
    return answer;
  }

  /** Sends a token request (form-encoded) and reads the OAuth error code, if any. */
  async token(form: Record<string, string>, label = 'token'): Promise<TokenAnswer> {
    const endpoint = this.metadata.token_endpoint;
    if (!endpoint) return { status: 0, error: 'no token_endpoint in metadata' };
    const body = new URLSearchParams(form).toString();
    const { exchange, response, text } = await this.#send(label, endpoint, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    });
    if (!response) return { status: 0, error: exchange.error ?? 'no answer' };
    let json: Record<string, unknown> | undefined;
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      json = undefined;
    }
    const error = typeof json?.error === 'string' ? json.error : undefined;
    exchange.reading = error ?? `status ${response.status}`;
    return { status: response.status, ...(error ? { error } : {}), ...(json ? { json } : {}) };
  }

  /** A GET of any URL, recorded (used for discovery). */
  async get(url: string, label = 'get'): Promise<{ status: number; text: string; contentType: string }> {
    const { response, text } = await this.#send(label, url, { method: 'GET', headers: { accept: 'application/json' } });
    return { status: response?.status ?? 0, text, contentType: response?.headers.get('content-type') ?? '' };
  }
}

/** Reads an authorization endpoint answer (see AuthorizeKind). */
export function classifyAuthorize(
  response: Response | undefined,
  text: string,
  redirectUri: string,
  endpoint: string,
): AuthorizeAnswer {
  if (!response) return { kind: 'no-answer', status: 0, body: '' };
  let status = response.status;
  const body = snippet(text);
  let location = response.headers.get('location') ?? undefined;
  // Some servers (better-auth) answer a browser navigation with 200 JSON {"redirect": true, "url": …}: read it
  // as the redirect it stands for.
  if (status === 200 && /json/i.test(response.headers.get('content-type') ?? '')) {
    try {
      const json = JSON.parse(text) as { redirect?: unknown; url?: unknown; error?: unknown };
      if (json.redirect === true && typeof json.url === 'string') {
        status = 302;
        location = json.url;
      } else if (typeof json.error === 'string') {
        return { kind: 'refused', status, body, error: json.error };
      }
    } catch {
      // Not JSON after all: read as a page below.
    }
  }
  if (status >= 300 && status < 400 && location) {
    const target = URL.parse(location, endpoint);
    const client = URL.parse(redirectUri);
    const toClient =
      target !== null &&
      client !== null &&
      target.origin === client.origin &&
      target.pathname === client.pathname &&
      redirectUri !== '';
    if (toClient) {
      const error = target.searchParams.get('error') ?? undefined;
      if (error) return { kind: 'redirect-error', status, location, error, body };
      return { kind: 'redirect-code', status, location, body };
    }
    // A redirect to the server's own error page (some servers answer errors this way) is a refusal.
    const error = target?.searchParams.get('error') ?? undefined;
    if (error) return { kind: 'refused', status, location, error, body };
    return { kind: 'accepted', status, location, body };
  }
  if (status >= 500) return { kind: 'server-error', status, body, ...(errorIn(text) ? { error: errorIn(text)! } : {}) };
  if (status >= 400) return { kind: 'refused', status, body, ...(errorIn(text) ? { error: errorIn(text)! } : {}) };
  // A 200 page: the login or consent page (an error rendered with 200 is read from its text).
  const error = errorIn(text);
  if (status === 200 && error && /error/i.test(text) && !/<form/i.test(text)) {
    return { kind: 'refused', status, body, error };
  }
  return { kind: 'accepted', status, ...(location ? { location } : {}), body };
}
