/**
 * The logo proxy (SPEC.domainTrust, MCP authorization): the server fetches a client's `logo_uri` itself, through the guarded fetcher, and
 * serves it from its own origin, so the user's browser never contacts the client's host (no tracking pixel, no
 * SVG with script, no content that changes between the check and the page).
 *
 * Rules: https only (the fetcher), no redirects (the fetcher), PNG, JPEG, GIF or WebP only, checked on the
 * declared content type AND on the magic bytes (which must agree), a size cap, SVG never. A logo that breaks
 * any rule is not shown, and the failure is remembered for a while so a broken logo is not refetched on every
 * page. A good one is kept for the document's lifetime: in an in-process LRU and, best effort, in the shared
 * store (base64).
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Keyv from 'keyv';
import { LRUCache } from 'lru-cache';
import { isCimdError } from '../core/errors.js';
import type { SharedGuard } from '../core/shared-guard.js';
import type { Fetcher } from '../fetch/fetcher.js';

export type LogoType = 'image/png' | 'image/jpeg' | 'image/gif' | 'image/webp';

const LOGO_TYPES: ReadonlySet<string> = new Set<LogoType>(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

export const LOGO_RECORD_PREFIX = 'cimd:logo:';

/** The image type the bytes themselves say, or `undefined` for anything but PNG, JPEG, GIF and WebP. */
export function sniffImageType(bytes: Uint8Array): LogoType | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length >= 8 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    return 'image/png';
  }
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 6 && (b.toString('latin1', 0, 6) === 'GIF87a' || b.toString('latin1', 0, 6) === 'GIF89a')) {
    return 'image/gif';
  }
  if (b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') {
    return 'image/webp';
  }
  return undefined;
}

export interface LogoOptions {
  /** Largest logo accepted, bytes. Default 65536 (64 KiB). */
  maxBytes?: number;
  /** Path prefix of the logo route on the authorization server's origin. Default `/cimd/logo/`. */
  path?: string;
  /** Logos kept in process. Default 200. */
  memoryEntries?: number;
  /** How long the consent view model waits for a logo before rendering without it, ms. Default 2000. */
  waitMs?: number;
  /** How long a logo that broke a rule is not fetched again, ms (at most the document's lifetime). Default 300000. */
  failureTtlMs?: number;
}

/** Why a logo is not shown (stable strings, for logs and tests). */
export type LogoFailure =
  | 'url'
  | 'address'
  | 'network'
  | 'timeout'
  | 'status'
  | 'content_type'
  | 'encoding'
  | 'size'
  | 'magic_bytes'
  | 'type_mismatch'
  /** The fetch budget of the logo's host or domain had nothing left: the documents' budget (SPEC.ssrf). */
  | 'rate_limited';

export type LogoOutcome = { ok: true; key: string; url: string; type: LogoType } | { ok: false; reason: LogoFailure };

export interface LogoResponse {
  status: number;
  headers: Record<string, string>;
  /** `undefined` for HEAD and errors. */
  body: Buffer | undefined;
}

interface StoredLogo {
  cid: string;
  logoUri: string;
  type: LogoType;
  body: Buffer;
  expiresAt: number;
}

interface FailedLogo {
  failed: LogoFailure;
  until: number;
}

interface SharedLogo {
  v: 1;
  cid: string;
  logoUri: string;
  type: LogoType;
  data: string;
  expiresAt: number;
}

/** A served logo stays valid this long after its document's lifetime, for a page rendered just before. */
const SERVE_GRACE_MS = 60_000;
/** Shortest time a logo is kept, whatever the document's lifetime. */
const MIN_LIFETIME_MS = 60_000;
const KEY_PATTERN = /^[A-Za-z0-9_-]{43}$/;

function failureOf(error: unknown): LogoFailure {
  if (!isCimdError(error)) return 'network';
  switch (error.code) {
    case 'rejected:url':
      return 'url';
    case 'rejected:address':
      return 'address';
    case 'rejected:timeout':
      return 'timeout';
    case 'rejected:status':
      return 'status';
    case 'rejected:content_type':
      return 'content_type';
    case 'rejected:encoding':
      return 'encoding';
    case 'rejected:size':
      return 'size';
    case 'rate_limited':
      return 'rate_limited';
    default:
      return 'network';
  }
}

export interface LogoProxyOptions extends LogoOptions {
  fetcher: Fetcher;
  store: Keyv;
  guard: SharedGuard;
  now: () => number;
}

export class LogoProxy {
  readonly path: string;
  readonly waitMs: number;
  readonly #fetcher: Fetcher;
  readonly #store: Keyv;
  readonly #guard: SharedGuard;
  readonly #now: () => number;
  readonly #maxBytes: number;
  readonly #failureTtlMs: number;
  readonly #memory: LRUCache<string, StoredLogo | FailedLogo>;
  readonly #inflight = new Map<string, Promise<LogoOutcome>>();

  constructor(options: LogoProxyOptions) {
    const path = options.path ?? '/cimd/logo/';
    if (!path.startsWith('/') || !path.endsWith('/')) {
      throw new TypeError(
        `oidc-provider-cimd: consent.logo.path must start and end with "/", got ${JSON.stringify(path)}`,
      );
    }
    this.path = path;
    this.waitMs = options.waitMs ?? 2000;
    this.#fetcher = options.fetcher;
    this.#store = options.store;
    this.#guard = options.guard;
    this.#now = options.now;
    this.#maxBytes = options.maxBytes ?? 64 * 1024;
    this.#failureTtlMs = options.failureTtlMs ?? 5 * 60_000;
    this.#memory = new LRUCache({ max: options.memoryEntries ?? 200 });
  }

  /** The opaque route key of a client's logo: a hash of the client id and the logo URI (a new logo, a new key). */
  keyFor(cid: string, logoUri: string): string {
    return createHash('sha256').update(`${cid}\n${logoUri}`).digest('base64url');
  }

  urlFor(key: string): string {
    return `${this.path}${key}`;
  }

  #ok(key: string, type: LogoType): LogoOutcome {
    return { ok: true, key, url: this.urlFor(key), type };
  }

  /**
   * Makes sure the logo is fetched and checked (or known to be bad). `expiresAt` is the end of the document's
   * lifetime (ms since the epoch). Never rejects.
   */
  ensure(cid: string, logoUri: string, expiresAt: number): Promise<LogoOutcome> {
    const key = this.keyFor(cid, logoUri);
    const now = this.#now();
    const known = this.#memory.get(key);
    if (known && 'failed' in known && known.until > now) return Promise.resolve({ ok: false, reason: known.failed });
    if (known && !('failed' in known) && known.expiresAt > now) return Promise.resolve(this.#ok(key, known.type));
    const running = this.#inflight.get(key);
    if (running) return running;
    const lifetimeEnd = Math.max(expiresAt, now + MIN_LIFETIME_MS);
    const work = this.#load(key, cid, logoUri, lifetimeEnd).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, work);
    return work;
  }

  async #load(key: string, cid: string, logoUri: string, expiresAt: number): Promise<LogoOutcome> {
    const shared = await this.#readShared(key);
    if (shared && shared.cid === cid && shared.logoUri === logoUri) return this.#ok(key, shared.type);
    const fetched = await this.#fetch(logoUri);
    if (!fetched.ok) {
      const until = this.#now() + Math.min(this.#failureTtlMs, expiresAt - this.#now());
      this.#memory.set(key, { failed: fetched.reason, until });
      return fetched;
    }
    const stored: StoredLogo = { cid, logoUri, type: fetched.type, body: fetched.body, expiresAt };
    this.#memory.set(key, stored);
    const record: SharedLogo = {
      v: 1,
      cid,
      logoUri,
      type: stored.type,
      data: stored.body.toString('base64'),
      expiresAt,
    };
    await this.#guard.run(() =>
      this.#store.set(LOGO_RECORD_PREFIX + key, record, Math.max(1, expiresAt - this.#now())),
    );
    return this.#ok(key, stored.type);
  }

  async #fetch(
    logoUri: string,
  ): Promise<{ ok: true; type: LogoType; body: Buffer } | { ok: false; reason: LogoFailure }> {
    let declared = '';
    try {
      const response = await this.#fetcher.get(logoUri, {
        accept: 'image/png, image/jpeg, image/gif, image/webp',
        maxBytes: this.#maxBytes,
        contentType: (type) => {
          declared = type;
          return LOGO_TYPES.has(type);
        },
      });
      const sniffed = sniffImageType(response.body);
      if (!sniffed) return { ok: false, reason: 'magic_bytes' };
      if (sniffed !== declared) return { ok: false, reason: 'type_mismatch' };
      return { ok: true, type: sniffed, body: response.body };
    } catch (error) {
      return { ok: false, reason: failureOf(error) };
    }
  }

  /** The shared store's copy, checked again (it may hold anything), remembered in process. */
  async #readShared(key: string): Promise<StoredLogo | undefined> {
    const answer = await this.#guard.run(() => this.#store.get(LOGO_RECORD_PREFIX + key));
    const record = answer?.value as Partial<SharedLogo> | undefined;
    if (
      !record ||
      typeof record !== 'object' ||
      record.v !== 1 ||
      typeof record.data !== 'string' ||
      typeof record.cid !== 'string' ||
      typeof record.logoUri !== 'string' ||
      typeof record.expiresAt !== 'number' ||
      record.expiresAt <= this.#now() ||
      this.keyFor(record.cid, record.logoUri) !== key
    ) {
      return undefined;
    }
    const body = Buffer.from(record.data, 'base64');
    const type = sniffImageType(body);
    if (!type || type !== record.type || body.length > this.#maxBytes) return undefined;
    const stored: StoredLogo = { cid: record.cid, logoUri: record.logoUri, type, body, expiresAt: record.expiresAt };
    this.#memory.set(key, stored);
    return stored;
  }

  async #find(key: string): Promise<StoredLogo | undefined> {
    const known = this.#memory.get(key);
    if (known && !('failed' in known) && known.expiresAt + SERVE_GRACE_MS > this.#now()) return known;
    if (known && 'failed' in known) return undefined;
    return this.#readShared(key);
  }

  /**
   * The response for a request to the logo route, or `undefined` when `path` is not under it (the caller
   * passes the request on). Framework-agnostic: a Koa or Express middleware copies status, headers and body.
   */
  async response(method: string, path: string): Promise<LogoResponse | undefined> {
    if (!path.startsWith(this.path)) return undefined;
    const notFound: LogoResponse = {
      status: 404,
      headers: { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' },
      body: undefined,
    };
    if (method !== 'GET' && method !== 'HEAD') {
      return { status: 405, headers: { allow: 'GET, HEAD', 'cache-control': 'no-store' }, body: undefined };
    }
    const key = path.slice(this.path.length);
    if (!KEY_PATTERN.test(key)) return notFound;
    const logo = await this.#find(key);
    if (!logo) return notFound;
    const maxAge = Math.max(0, Math.floor((logo.expiresAt - this.#now()) / 1000));
    return {
      status: 200,
      headers: {
        // From the verified magic bytes, never from what the client's host said.
        'content-type': logo.type,
        'content-length': String(logo.body.length),
        'x-content-type-options': 'nosniff',
        'cache-control': `private, max-age=${maxAge}`,
        'content-security-policy': "default-src 'none'; sandbox",
        'cross-origin-resource-policy': 'same-origin',
      },
      body: method === 'HEAD' ? undefined : logo.body,
    };
  }

  /**
   * Node `http` handler for the logo route: answers and resolves `true` for requests under the route's path,
   * resolves `false` (touching nothing) for any other request.
   */
  async serve(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const response = await this.response(req.method ?? 'GET', path);
    if (!response) return false;
    res.writeHead(response.status, response.headers);
    res.end(response.body);
    return true;
  }
}
