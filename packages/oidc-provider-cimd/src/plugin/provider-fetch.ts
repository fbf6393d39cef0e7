/**
 * oidc-provider's own outbound requests (its `fetch` configuration hook: `jwks_uri`, `sector_identifier_uri`,
 * back-channel calls) go through the guarded fetcher and its budgets (SPEC.ssrf). When such a fetch fails on
 * behalf of a CIMD client, the token request that needed it fails with `invalid_client` and oidc-provider logs
 * nothing a deployment could act on; the plugin reports it as an event instead (`client_fetch_failed`, with the
 * client id and the member whose URL failed; `jwks_fetch_failed` for a key set).
 *
 * A CIMD client's key set (its `jwks_uri`) is answered from the key-set cache (cache/keysets.ts) with a
 * synthesized response, so oidc-provider's own key store and verification stay as they are: a fresh cached key
 * set that holds the assertion's `kid` costs no fetch; an unknown `kid` or a stale entry is refetched at most once
 * per client per window, on a budget of its own; a failed refetch serves the last good key set within its bound.
 */
import { Provider } from 'oidc-provider';
import { KEYSET_STALE_MS, type KeySetCache, type KeySetEntry, keySetKids } from '../cache/keysets.js';
import { Reason } from '../core/errors.js';
import type { FetchBudget } from '../fetch/budget.js';
import type { Fetcher } from '../fetch/fetcher.js';
import type { KnownClientsView } from '../known/record.js';
import type { Emit } from '../observe/events.js';
import { cachePolicy, type LifetimeBounds } from '../rules/http-cache.js';

type ProviderFetch = (url: string | URL, init?: Record<string, unknown>) => Promise<Response>;

/** What answers CIMD clients' key-set requests (built by the composition root, plugin/pipeline.ts). */
export interface KeySetService {
  cache: KeySetCache;
  /** The key sets' own budget: document fetches and refresh grants cannot exhaust it. */
  budget: FetchBudget;
  lifetime: LifetimeBounds;
  now: () => number;
}

/** Which of the client's members named this URL. */
function memberOf(client: Record<string, unknown>, url: string): string {
  if (client.jwksUri === url) return 'jwks_uri';
  if (client.sectorIdentifierUri === url) return 'sector_identifier_uri';
  return 'url';
}

/**
 * The `kid` of the JWT the request is verifying (a client assertion, or a request object), read from its
 * protected header without verifying anything; `undefined` when there is none.
 */
function requestedKid(): string | undefined {
  const params = Provider.ctx?.oidc?.params as Record<string, unknown> | undefined;
  const jwt = params?.client_assertion ?? params?.request;
  if (typeof jwt !== 'string') return undefined;
  const end = jwt.indexOf('.');
  if (end <= 0 || end > 4096) return undefined;
  try {
    const header = JSON.parse(Buffer.from(jwt.slice(0, end), 'base64url').toString('utf8')) as { kid?: unknown };
    return typeof header?.kid === 'string' ? header.kid : undefined;
  } catch {
    return undefined;
  }
}

/** A 200 carrying a cached key set; oidc-provider keeps it for what is left of its freshness (at least 60 s). */
function answer(entry: KeySetEntry, now: number): Response {
  const maxAge = Math.max(0, Math.ceil((entry.freshUntil - now) / 1000));
  return new Response(entry.body, {
    status: 200,
    headers: { 'content-type': 'application/json', 'cache-control': `max-age=${maxAge}` },
  });
}

/**
 * `known`: a known-good client's key set (and other fetches) is charged to the capacity reserved for known
 * clients, so junk ids on its host cannot fail its token requests (docs/trust-and-budgets.md).
 */
export function providerFetch(
  fetcher: Fetcher,
  emit: Emit,
  known?: KnownClientsView,
  keySets?: KeySetService,
): ProviderFetch {
  const isKnownClient = async (cid: string | undefined): Promise<boolean> => {
    if (cid === undefined) return false;
    const verdict = known?.isKnown(cid);
    return (verdict instanceof Promise ? await verdict : verdict) === true;
  };

  return async (url, init) => {
    const started = emit.start();
    const client = Provider.ctx?.oidc?.client as unknown as Record<string, unknown> | undefined;
    const cid =
      typeof client?.clientId === 'string' && client.clientId.startsWith('https://') ? client.clientId : undefined;
    const member = client === undefined ? 'url' : memberOf(client, String(url));
    const method = typeof init?.method === 'string' ? init.method.toUpperCase() : 'GET';
    if (keySets && cid !== undefined && member === 'jwks_uri' && method === 'GET') {
      return keySet(keySets, cid, String(url), init, started);
    }
    const report = (detail: string) => {
      if (cid === undefined) return;
      emit(Reason.ClientFetchFailed, cid, started, 'origin', {
        detail: `${member} ${String(url)}: ${detail}`,
        rule: member,
      });
    };
    let response: Response;
    try {
      response = await fetcher.fetch(url, init, { known: await isKnownClient(cid) });
    } catch (error) {
      report(error instanceof Error ? error.message : String(error));
      throw error;
    }
    if (!response.ok) report(`status ${response.status}`);
    return response;
  };

  async function keySet(
    service: KeySetService,
    cid: string,
    uri: string,
    init: Record<string, unknown> | undefined,
    started: number,
  ): Promise<Response> {
    const entry = await service.cache.read(cid, uri);
    const kid = requestedKid();
    const now = service.now();
    const fresh = entry !== undefined && now < entry.freshUntil;
    if (fresh && (kid === undefined || entry.kids.includes(kid))) return answer(entry, now);
    if (entry !== undefined && !(await service.cache.takeRefetch(cid))) {
      // Refetched moments ago (here or on another instance): the key set is what it is. A fresh one without the
      // `kid` fails the signature check (`invalid_client`); a stale one is the last good key set, within its bound.
      if (!fresh) {
        emit(Reason.JwksStale, cid, started, 'memory', {
          detail: `jwks_uri ${uri}: refetched less than a window ago; last good key set served`,
          rule: 'jwks_uri',
        });
      }
      return answer(entry, now);
    }

    const failed = (detail: string, error?: unknown): Response => {
      if (entry !== undefined) {
        // The last good key set, within KEYSET_STALE_MS past its freshness (cache/keysets.ts read() enforces it).
        emit(Reason.JwksStale, cid, started, 'origin', {
          detail: `jwks_uri ${uri}: ${detail}; last good key set served (until ${new Date(entry.staleUntil).toISOString()})`,
          rule: 'jwks_uri',
        });
        return answer(entry, now);
      }
      emit(Reason.JwksFetchFailed, cid, started, 'origin', { detail: `jwks_uri ${uri}: ${detail}`, rule: 'jwks_uri' });
      if (error !== undefined) throw error;
      return new Response(null, { status: 502 });
    };

    const inUse = await isKnownClient(cid);
    let response: Response;
    let body: string;
    try {
      response = await fetcher.fetch(uri, init, { known: inUse, budget: service.budget });
      if (!response.ok) {
        await response.body?.cancel().catch(() => {});
        return failed(`status ${response.status}`, undefined);
      }
      body = await response.text();
    } catch (error) {
      return failed(error instanceof Error ? error.message : String(error), error);
    }
    const kids = keySetKids(body);
    if (kids === undefined) return failed('not a JSON Web Key Set (RFC 7517 §5)', undefined);

    const at = service.now();
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const policy = cachePolicy(headers, at, service.lifetime);
    const fetched: KeySetEntry = {
      v: 1,
      uri,
      body,
      kids,
      fetchedAt: at,
      freshUntil: at + policy.freshForMs,
      staleUntil: at + policy.freshForMs + KEYSET_STALE_MS,
    };
    if (policy.store) await service.cache.write(cid, fetched, inUse);
    return answer(fetched, at);
  }
}
