/**
 * The guarded fetcher (SPEC.ssrf): every request the server makes on a client's behalf goes through one undici
 * Agent whose connector enforces the address policy on the exact address dialled.
 */
import dns from 'node:dns';
import net, { type LookupFunction, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import tls from 'node:tls';
import ipaddr from 'ipaddr.js';
import { Agent, buildConnector, Response as UndiciResponse, fetch as undiciFetch } from 'undici';
import { CimdError, isCimdError, Reason } from '../core/errors.js';
import { type AddressPolicy, checkAddress, isIpLiteral } from '../rules/address-policy.js';
import type { FetchBudget, TakeOptions } from './budget.js';
import { createDeadlineLookup } from './dns.js';
import { atStep, bodyTooLarge, FETCH_STEPS, type FetchStepId, type ResponseHead } from './steps.js';

export interface FetcherOptions {
  addressPolicy: AddressPolicy;
  /** DNS + TCP + TLS. Default 3000 ms. */
  connectTimeoutMs?: number;
  /** Whole request, headers and body included. Default 5000 ms. */
  timeoutMs?: number;
  /** Cap for client metadata documents. Default 5120 bytes. */
  maxBodyBytes?: number;
  /** Cap for response bodies returned by {@link Fetcher.fetch}. Default 256 KiB. */
  fetchMaxBodyBytes?: number;
  /** Also accept `text/plain` for documents. Default false. */
  acceptTextPlain?: boolean;
  /**
   * `dns.lookup`-compatible resolver; tests inject hostile answers here. Default: c-ares with a hard deadline
   * (fetch/dns.ts), never libuv's thread pool.
   */
  lookup?: LookupFunction;
  /** Deadline of one name resolution by the default resolver, ms. Default 1500. */
  dnsTimeoutMs?: number;
  /**
   * Budget drawn on by {@link Fetcher.get} and {@link Fetcher.fetch} (`jwks_uri`, `logo_uri`,
   * `sector_identifier_uri`: SPEC.ssrf, "the same budgets"). Documents are charged by their caller, the resolver,
   * which holds the ticket around {@link Fetcher.fetchDocument}.
   */
  budget?: FetchBudget;
  /**
   * The development exception judged per request (SPEC.development, SPEC.ssrf): with
   * `addressPolicy.allowLoopback`, loopback targets are dialled only while this answers true (the provider
   * serving the request has a loopback issuer). Every fetch is judged: documents, `jwks_uri`, `logo_uri`,
   * `sector_identifier_uri`, registered clients' included. Default: always true.
   */
  loopbackAllowed?: () => boolean;
  /** CA(s) trusted in addition to Node's bundled roots, for tests and development. Verification is always on. */
  ca?: string | Buffer | Array<string | Buffer>;
  userAgent?: string;
}

export interface FetchResult {
  /** 200, or 304 when conditional headers were sent. */
  status: number;
  /** Lower-case names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  /** Empty for 304. */
  body: Buffer;
}

export interface GetOptions {
  accept: string;
  maxBytes: number;
  /** Receives the lower-cased media type without parameters. */
  contentType: (mediaType: string) => boolean;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** A fetch for a known-good client: charged to the capacity reserved for them (fetch/budget.ts). */
  known?: boolean;
}

/**
 * What one fetch of {@link Fetcher.fetch} is charged to: the reserve of known-good clients (`known`), and the
 * budget to draw on (`budget`, default the fetcher's own): a CIMD client's key set has a budget of its own that
 * document fetches cannot exhaust (cache/keysets.ts).
 */
export interface FetchCharge extends TakeOptions {
  budget?: FetchBudget | undefined;
}

export interface Fetcher {
  /**
   * GET a client metadata document. 304 is a success only when a conditional header was sent. The caller holds
   * the budget ticket; with `charge`, the fetcher also takes a slot at the resolved address (first-time
   * fairness), and refuses with `rate_limited` when the address has none left.
   */
  fetchDocument(
    url: string,
    conditional?: { etag?: string; lastModified?: string },
    signal?: AbortSignal,
    charge?: TakeOptions,
  ): Promise<FetchResult>;
  /** Guarded GET for other client-supplied https URLs (e.g. `logo_uri`). */
  get(url: string, opts: GetOptions): Promise<FetchResult>;
  /**
   * WHATWG-fetch-compatible function for oidc-provider's `fetch` hook. Always uses this fetcher's dispatcher
   * (any `init.dispatcher` is dropped), never follows redirects, applies the whole-request timeout and caps
   * the response body.
   */
  fetch(input: string | URL, init?: Record<string, unknown>, charge?: FetchCharge): Promise<Response>;
  close(): Promise<void>;
}

/** The cap on bodies of oidc-provider's own requests (`jwks_uri`, `sector_identifier_uri`) through the fetch hook. */
export const DEFAULT_FETCH_MAX_BODY_BYTES = 256 * 1024;

type LookupCallback = Parameters<LookupFunction>[2];

const JSON_MEDIA_TYPE = /^application\/(?:[!#$%&'*.^`|~0-9a-z-]+\+)?json$/;

/** The message names the address (it is for logs); `publicMessage` never does. */
function refusal(reason: string): CimdError {
  return new CimdError(Reason.RejectedAddress, `refusing to connect: ${reason}`, { details: { step: 'connect' } });
}

/**
 * Wraps a resolver so that a name resolves only if every address it has is allowed: a name with one private
 * address among public ones is refused outright rather than filtered, since the whole answer is suspect.
 */
export function createCheckedLookup(policy: AddressPolicy, resolver: LookupFunction = dns.lookup): LookupFunction {
  return (hostname, options, callback) => {
    const opts = typeof options === 'object' && options !== null ? options : {};
    const family = opts.family === 4 || opts.family === 6 ? opts.family : undefined;
    resolver(hostname, { ...opts, all: true }, (err, answer, answerFamily) => {
      if (err) return callback(err, '', 0);
      // Some resolvers ignore `all`; accept both shapes.
      const list = Array.isArray(answer)
        ? answer
        : typeof answer === 'string'
          ? [{ address: answer, family: answerFamily ?? (net.isIPv6(answer) ? 6 : 4) }]
          : [];
      if (list.length === 0) {
        const notFound = Object.assign(new Error(`no addresses for ${hostname}`), { code: 'ENOTFOUND' });
        return callback(notFound, '', 0);
      }
      for (const entry of list) {
        const verdict = checkAddress(entry.address, policy);
        if (!verdict.allowed) return callback(refusal(`${hostname}: ${verdict.reason}`), '', 0);
      }
      const usable = family === undefined ? list : list.filter((entry) => entry.family === family);
      if (usable.length === 0) {
        const notFound = Object.assign(new Error(`no IPv${family} addresses for ${hostname}`), { code: 'ENOTFOUND' });
        return callback(notFound, '', 0);
      }
      if (opts.all) return (callback as LookupCallback)(null, usable);
      const first = usable[0]!;
      return callback(null, first.address, first.family);
    });
  };
}

/**
 * TLS server identity (RFC 9110 §4.3.4, RFC 6125): Node's own check, except for IPv6 literals. Node 22.23's
 * `tls.checkServerIdentity` passes the host through `domainToASCII`, which turns `::1` into an empty string, and
 * then matches no IP address SAN at all (Node 20 and 24 match it). Only the development exception can name an IPv6
 * literal (`https://[::1]:port`); for it the certificate must carry that very address as an IP address SAN.
 */
export function checkServerIdentity(host: string, cert: tls.PeerCertificate): Error | undefined {
  const literal = host.startsWith('[') ? host.slice(1, -1) : host;
  if (!net.isIPv6(literal)) return tls.checkServerIdentity(host, cert);
  const wanted = ipaddr.parse(literal).toNormalizedString();
  const sans = (cert.subjectaltname ?? '').split(', ');
  const matched = sans.some((san) => {
    if (!san.startsWith('IP Address:')) return false;
    const address = san.slice('IP Address:'.length);
    return ipaddr.isValid(address) && ipaddr.parse(address).toNormalizedString() === wanted;
  });
  if (matched) return undefined;
  return Object.assign(
    new Error(`Hostname/IP does not match certificate's altnames: IP: ${literal} is not in the cert's list`),
    {
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
      reason: `IP: ${literal} is not in the cert's list`,
      host,
      cert,
    },
  );
}

function createGuardedConnector(
  options: Required<Pick<FetcherOptions, 'addressPolicy' | 'connectTimeoutMs'>> & Pick<FetcherOptions, 'lookup' | 'ca'>,
): buildConnector.connector {
  const policy = options.addressPolicy;
  const connect = buildConnector({
    timeout: options.connectTimeoutMs,
    maxCachedSessions: 0,
    rejectUnauthorized: true,
    lookup: createCheckedLookup(policy, options.lookup),
    checkServerIdentity,
    // A bare `ca` would replace the public roots; built once, the context adds to them instead.
    ...(options.ca === undefined
      ? {}
      : { secureContext: tls.createSecureContext({ ca: [...tls.rootCertificates, ...[options.ca].flat()] }) }),
  });

  return (opts, callback) => {
    // Proxies upgrade an existing socket; this agent never uses one, so such a call is not ours to make.
    if (opts.httpSocket || opts.socketPath) {
      callback(new CimdError(Reason.RejectedNetwork, 'unexpected connection parameters'), null);
      return;
    }
    // Node does not call `lookup` for IP-literal hosts, so those are checked here, before dialling.
    const host = opts.hostname.startsWith('[') ? opts.hostname.slice(1, -1) : opts.hostname;
    if (net.isIP(host) !== 0 || isIpLiteral(host)) {
      const verdict = checkAddress(host, policy);
      if (!verdict.allowed) {
        callback(refusal(verdict.reason), null);
        return;
      }
    }

    let done = false;
    const finish: buildConnector.Callback = (...args) => {
      if (done) return;
      done = true;
      callback(...args);
    };
    // Defence in depth: whatever the lookup said, the peer we actually reached must be allowed too.
    const verifyPeer = (socket: Socket): CimdError | undefined => {
      const remote = socket.remoteAddress;
      // No address means the peer already hung up: fail closed, but as the network failure it is.
      if (remote === undefined)
        return new CimdError(Reason.RejectedNetwork, 'connection closed before the peer was verified');
      const verdict = checkAddress(remote, policy);
      return verdict.allowed ? undefined : refusal(verdict.reason);
    };

    const socket = connect(opts, (err, connected) => {
      if (err || !connected) return finish(err ?? new Error('connect failed'), null);
      const refused = verifyPeer(connected);
      if (refused) {
        connected.destroy();
        return finish(refused, null);
      }
      return finish(null, connected);
    }) as unknown as Socket | undefined;
    // Check at TCP connect already, so a refused peer is dropped before the TLS handshake completes.
    socket?.once?.('connect', () => {
      const refused = verifyPeer(socket);
      if (refused) socket.destroy(refused);
    });
  };
}

function firstCimdError(err: unknown): CimdError | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current; depth += 1) {
    if (isCimdError(current)) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function errorCodes(err: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current; depth += 1) {
    const { code, name, message } = current as { code?: unknown; name?: unknown; message?: unknown };
    if (typeof code === 'string') codes.push(code);
    if (typeof name === 'string') codes.push(name);
    if (message === 'unexpected redirect') codes.push('redirect');
    current = (current as { cause?: unknown }).cause;
  }
  return codes;
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'TimeoutError',
  'ETIMEDOUT',
]);

/** Every failure leaves the fetcher as a CimdError; anything unclassified is a network failure. */
function classify(err: unknown, timedOut: boolean): CimdError {
  const known = firstCimdError(err);
  if (known) return known;
  const message = err instanceof Error ? err.message : String(err);
  const codes = errorCodes(err);
  if (timedOut || codes.some((code) => TIMEOUT_CODES.has(code))) {
    return new CimdError(Reason.RejectedTimeout, `request timed out: ${message}`, { cause: err });
  }
  if (codes.includes('redirect')) {
    return new CimdError(Reason.RejectedStatus, 'redirects are not followed', { cause: err });
  }
  if (codes.includes('AbortError')) {
    return new CimdError(Reason.RejectedTimeout, `request aborted: ${message}`, { cause: err });
  }
  return new CimdError(Reason.RejectedNetwork, `request failed: ${[message, ...codes].join(' ')}`, { cause: err });
}

function flattenHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** Drops a body without reading it; with keep-alive off there is no connection worth draining for. */
function discard(body: Readable): void {
  body.on('error', () => {});
  body.destroy();
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

function parseHttpsUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CimdError(Reason.RejectedUrl, 'not a URL');
  }
  if (parsed.protocol !== 'https:') throw new CimdError(Reason.RejectedUrl, 'only https URLs are fetched');
  return parsed;
}

/** One abort signal for a request: the whole-request timer plus the caller's signal. */
function deadline(timeoutMs: number, external: AbortSignal | undefined) {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new CimdError(Reason.RejectedTimeout, `request exceeded ${timeoutMs} ms`));
  }, timeoutMs);
  const onAbort = () => {
    const reason = external?.reason;
    controller.abort(
      isCimdError(reason)
        ? reason
        : new CimdError(Reason.RejectedTimeout, 'request aborted by caller', { cause: reason }),
    );
  };
  if (external?.aborted) onAbort();
  else external?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    dispose: () => {
      clearTimeout(timer);
      external?.removeEventListener('abort', onAbort);
    },
  };
}

/**
 * The address gate resolves a name just before the connector dials it: the connector takes that very answer
 * (once: it is consumed) instead of asking DNS a second time, so both see the same addresses. Every other
 * lookup goes to DNS: each fetch resolves and checks afresh (DNS rebinding). The address policy still checks
 * every answer, and the connector the address actually dialled.
 */
export interface PrimedLookup extends LookupFunction {
  /** Resolves `hostname` (all addresses) and keeps the answer for the next lookup of that name, for a moment. */
  prime(
    hostname: string,
    callback: (err: NodeJS.ErrnoException | null, addresses: { address: string; family: number }[]) => void,
  ): void;
}

export function createPrimedLookup(base: LookupFunction, ttlMs = 2000, max = 1000): PrimedLookup {
  type Addresses = { address: string; family: number }[];
  const primed = new Map<string, { at: number; addresses: Addresses }>();
  const deliver = (callback: LookupCallback, opts: { all?: boolean; family?: unknown }, addresses: Addresses) => {
    const family = opts.family === 4 || opts.family === 6 ? opts.family : undefined;
    const usable = family === undefined ? addresses : addresses.filter((a) => a.family === family);
    if (usable.length === 0) {
      callback(Object.assign(new Error('no addresses'), { code: 'ENOTFOUND' }), '', 0);
      return;
    }
    if (opts.all) (callback as (err: null, list: Addresses) => void)(null, usable);
    else callback(null, usable[0]!.address, usable[0]!.family);
  };
  const lookup = ((hostname: string, options: unknown, cb?: unknown) => {
    const callback = (typeof options === 'function' ? options : cb) as LookupCallback;
    const opts = (typeof options === 'object' && options !== null ? options : {}) as {
      all?: boolean;
      family?: unknown;
    };
    const key = hostname.toLowerCase();
    const answer = primed.get(key);
    if (answer) {
      primed.delete(key);
      if (Date.now() - answer.at < ttlMs) return deliver(callback, opts, answer.addresses);
    }
    return base(hostname, options as dns.LookupOptions, callback);
  }) as PrimedLookup;
  lookup.prime = (hostname, callback) => {
    base(hostname, { all: true }, (err, addresses, family) => {
      if (err) return callback(err, []);
      const list: Addresses = Array.isArray(addresses)
        ? addresses.map((a) => ({ address: a.address, family: a.family }))
        : typeof addresses === 'string' && addresses !== ''
          ? [{ address: addresses, family: family ?? (net.isIPv6(addresses) ? 6 : 4) }]
          : [];
      const key = hostname.toLowerCase();
      primed.delete(key);
      if (primed.size >= max) primed.delete(primed.keys().next().value!);
      primed.set(key, { at: Date.now(), addresses: list });
      callback(null, list);
    });
  };
  return lookup;
}

export function createFetcher(options: FetcherOptions): Fetcher {
  const connectTimeoutMs = options.connectTimeoutMs ?? 3000;
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxBodyBytes = options.maxBodyBytes ?? 5120;
  const fetchMaxBodyBytes = options.fetchMaxBodyBytes ?? DEFAULT_FETCH_MAX_BODY_BYTES;
  const userAgent = options.userAgent ?? 'oidc-provider-cimd';

  const lookup = createPrimedLookup(
    options.lookup ??
      createDeadlineLookup({
        timeoutMs: options.dnsTimeoutMs ?? 1500,
        allowLoopback: options.addressPolicy.allowLoopback,
      }),
  );
  const makeAgent = (addressPolicy: AddressPolicy) =>
    new Agent({
      connect: createGuardedConnector({ addressPolicy, connectTimeoutMs, lookup, ca: options.ca }),
      // No keep-alive: every request resolves and checks afresh, and an aborted body never poisons a pool.
      pipelining: 0,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      allowH2: false,
    });
  const relaxed = { agent: makeAgent(options.addressPolicy), policy: options.addressPolicy };
  // Without the development exception in force, loopback is refused like any other non-public address.
  const strictPolicy: AddressPolicy = { ...options.addressPolicy, allowLoopback: false };
  let strict: typeof relaxed | undefined;
  const guard = (): typeof relaxed => {
    if (!options.addressPolicy.allowLoopback || !options.loopbackAllowed || options.loopbackAllowed()) return relaxed;
    strict ??= { agent: makeAgent(strictPolicy), policy: strictPolicy };
    return strict;
  };

  /** A budget ticket's release function, or a `rate_limited` CimdError when the budget refuses. */
  async function takeBudget(url: string, charge: FetchCharge): Promise<() => void> {
    const budget = charge.budget ?? options.budget;
    if (!budget) return () => {};
    const ticket = await budget.acquire(url, { known: charge.known === true });
    if (!ticket.granted)
      throw new CimdError(Reason.RateLimited, `over the fetch budget (${ticket.code}): ${ticket.reason}`);
    return ticket.release;
  }

  /**
   * First-time fairness per resolved address (fetch/budget.ts): resolves the name (the connector reuses the
   * answer) and takes a slot at the address it will dial. A name that does not resolve, or resolves to a
   * refused address, fails here as it would have at connect.
   */
  async function takeAddress(target: URL, charge: FetchCharge | undefined, policy: AddressPolicy): Promise<() => void> {
    const budget = charge?.budget ?? options.budget;
    if (!budget || !charge) return () => {};
    const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
    let address = host;
    if (net.isIP(host) === 0) {
      const list = await new Promise<{ address: string }[]>((resolve, reject) =>
        lookup.prime(host, (err, addresses) => (err ? reject(err) : resolve(addresses))),
      );
      // The whole answer is checked as the connector will check it: a refused address fails before taking a slot.
      for (const entry of list) {
        const verdict = checkAddress(entry.address, policy);
        if (!verdict.allowed) throw refusal(`${host}: ${verdict.reason}`);
      }
      const first = list[0]?.address;
      if (!first) throw Object.assign(new Error(`no addresses for ${host}`), { code: 'ENOTFOUND' });
      address = ipaddr.isValid(first) ? ipaddr.parse(first).toNormalizedString() : first;
    }
    const ticket = budget.takeAddress(address, { known: charge.known === true });
    if (!ticket.granted)
      throw new CimdError(Reason.RateLimited, `over the fetch budget (${ticket.code}): ${ticket.reason}`);
    return ticket.release;
  }

  async function guardedGet(
    url: string,
    opts: GetOptions & { conditional: boolean; charge?: TakeOptions | undefined },
  ): Promise<FetchResult> {
    const target = parseHttpsUrl(url);
    const limit = deadline(timeoutMs, opts.signal);
    // Where a failure without a step of its own (a timeout, a reset) happened: before the response, or while
    // the body streams.
    let phase: FetchStepId = 'connect';
    let releaseAddress = () => {};
    const { agent, policy } = guard();
    try {
      releaseAddress = await takeAddress(target, opts.charge, policy);
      const response = await agent.request({
        origin: target.origin,
        path: `${target.pathname}${target.search}`,
        method: 'GET',
        headers: { ...opts.headers, accept: opts.accept, 'accept-encoding': 'identity', 'user-agent': userAgent },
        signal: limit.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const { statusCode, body } = response;
      const headers = flattenHeaders(response.headers);

      if (statusCode === 304 && opts.conditional) {
        discard(body);
        return { status: 304, headers, body: Buffer.alloc(0) };
      }
      // The response steps, in the one order that `cimd check` reports too (fetch/steps.ts).
      const head: ResponseHead = {
        status: statusCode,
        headers,
        mediaType: mediaType(headers['content-type']),
        acceptsMediaType: opts.contentType,
        maxBytes: opts.maxBytes,
      };
      for (const step of FETCH_STEPS) {
        const failed = step.check?.(head);
        if (failed) {
          discard(body);
          throw failed;
        }
      }

      phase = 'size';
      const chunks: Buffer[] = [];
      let received = 0;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        received += chunk.length;
        if (received > opts.maxBytes) {
          discard(body);
          throw bodyTooLarge(opts.maxBytes);
        }
        chunks.push(chunk);
      }
      return { status: 200, headers, body: Buffer.concat(chunks, received) };
    } catch (err) {
      throw atStep(classify(err, limit.timedOut()), phase);
    } finally {
      releaseAddress();
      limit.dispose();
    }
  }

  const acceptDocumentType = (type: string) =>
    JSON_MEDIA_TYPE.test(type) || (options.acceptTextPlain === true && type === 'text/plain');

  return {
    fetchDocument(url, conditional, signal, charge) {
      const headers: Record<string, string> = {};
      if (conditional?.etag) headers['if-none-match'] = conditional.etag;
      if (conditional?.lastModified) headers['if-modified-since'] = conditional.lastModified;
      return guardedGet(url, {
        accept: 'application/json',
        maxBytes: maxBodyBytes,
        contentType: acceptDocumentType,
        headers,
        signal,
        conditional: Object.keys(headers).length > 0,
        charge,
      });
    },

    async get(url, opts) {
      parseHttpsUrl(url);
      const charge = { known: opts.known === true };
      const release = await takeBudget(url, charge);
      try {
        return await guardedGet(url, { ...opts, conditional: false, charge });
      } finally {
        release();
      }
    },

    async fetch(input, init = {}, charge = {}) {
      const { dispatcher: _ignored, signal: callerSignal, redirect: _redirect, ...rest } = init;
      const releaseBudget = await takeBudget(String(input), charge);
      let releaseAddress: () => void;
      const { agent, policy } = guard();
      try {
        const target = URL.parse(String(input));
        releaseAddress = target ? await takeAddress(target, charge, policy) : () => {};
      } catch (err) {
        releaseBudget();
        throw classify(err, false);
      }
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        releaseAddress();
        releaseBudget();
      };
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = callerSignal instanceof AbortSignal ? AbortSignal.any([timeout, callerSignal]) : timeout;
      // The slot is held until the body is read, cancelled or failed, and at most for the whole-request timeout.
      signal.addEventListener('abort', release, { once: true });
      let response: UndiciResponse;
      try {
        response = await undiciFetch(input, {
          ...(rest as Parameters<typeof undiciFetch>[1]),
          redirect: 'error',
          signal,
          dispatcher: agent,
        });
      } catch (err) {
        release();
        throw classify(err, timeout.aborted);
      }
      try {
        return capResponse(response, fetchMaxBodyBytes, release) as unknown as Response;
      } catch (err) {
        release();
        throw err;
      }
    },

    async close() {
      await Promise.all([relaxed.agent.destroy(), strict?.agent.destroy()]);
    },
  };
}

/** oidc-provider reads `jwks_uri` bodies without a limit by default; a hostile endless body must not fill memory. */
function capResponse(response: UndiciResponse, maxBytes: number, done: () => void = () => {}): UndiciResponse {
  const declared = response.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) {
    response.body?.cancel().catch(() => {});
    throw new CimdError(Reason.RejectedSize, `content-length ${declared} exceeds ${maxBytes} bytes`);
  }
  if (response.body === null) {
    done();
    return response;
  }
  let received = 0;
  const capped = response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        received += chunk.byteLength;
        if (received > maxBytes) {
          done();
          controller.error(new CimdError(Reason.RejectedSize, `body exceeds ${maxBytes} bytes`));
        } else controller.enqueue(chunk);
      },
      // A body that is cancelled instead is released by the whole-request timeout's abort.
      flush() {
        done();
      },
    }),
  );
  return new UndiciResponse(capped, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}
