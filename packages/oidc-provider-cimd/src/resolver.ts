/**
 * Turns a client_id into a validated client: URL rules → cache → guarded fetch → document rules → cache.
 * Every outcome emits exactly one event.
 */
import type { ProviderCapabilities } from './capabilities.js';
import type { CacheEntry, DocumentCache } from './document-cache.js';
import { type DocumentRuleOptions, validateDocument } from './document-rules.js';
import { CimdError, isCimdError, Reason } from './errors.js';
import type { CacheTier, Emit } from './events.js';
import type { Fetcher, FetchResult } from './fetcher.js';
import { cachePolicy, type LifetimeBounds } from './http-cache.js';
import { redirectUriMatches } from './redirect-uris.js';
import type { UrlVerdict } from './url-rules.js';

export interface ResolverOptions {
  urlRules: (cid: string) => UrlVerdict;
  fetcher: Fetcher;
  capabilities: ProviderCapabilities;
  documentRules: DocumentRuleOptions;
  cache: DocumentCache;
  emit: Emit;
  lifetime: LifetimeBounds;
  /** After a failed fetch, the same CID is not fetched again for this long (ms). */
  failureBackoffMs: number;
  /** A cached document at least this old is refetched once when a request's redirect_uri is not in it (ms). */
  redirectRefetchAfterMs: number;
  now: () => number;
}

export interface ResolveHints {
  /** The redirect_uri of the request being served, when there is one. */
  redirectUri?: string;
}

/** What `inspect()` reports about a cached client. */
export interface CacheInspection {
  entry: CacheEntry;
  tier: 'memory' | 'shared';
  fresh: boolean;
  ageMs: number;
  expiresInMs: number;
}

const isFresh = (entry: CacheEntry, now: number) => entry.pinned === true || entry.freshUntil > now;

export class Resolver {
  readonly #o: ResolverOptions;
  readonly #inflight = new Map<string, Promise<CacheEntry>>();
  readonly #backoff = new Map<string, number>();

  constructor(options: ResolverOptions) {
    this.#o = options;
  }

  /**
   * Resolves a CID. `undefined` means "not a CIMD client id at all" (the caller falls through to "client
   * not found"); a rejected CIMD client throws a CimdError.
   */
  async resolve(cid: string, hints: ResolveHints = {}): Promise<CacheEntry | undefined> {
    const started = performance.now();
    const verdict = this.#o.urlRules(cid);
    if (!verdict.ok) {
      this.#o.emit(Reason.RejectedUrl, cid, started, 'none', { detail: verdict.message, rule: verdict.rule });
      return undefined;
    }

    const warm = this.#o.cache.peek(cid);
    if (warm && isFresh(warm, this.#o.now()) && !this.#wantsRedirectRefetch(warm, hints)) {
      this.#o.emit(Reason.CacheHit, cid, started, 'memory');
      return warm;
    }
    return this.#singleFlight(cid, () => this.#load(cid, started, hints));
  }

  /** Fetches now, bypassing freshness; replaces the cached entry only with a valid document. */
  async refresh(cid: string): Promise<CacheEntry> {
    const started = performance.now();
    const verdict = this.#o.urlRules(cid);
    if (!verdict.ok) {
      this.#o.emit(Reason.RejectedUrl, cid, started, 'none', { detail: verdict.message, rule: verdict.rule });
      throw new CimdError(Reason.RejectedUrl, verdict.message, { rule: verdict.rule });
    }
    return this.#singleFlight(cid, async () => {
      const cached = await this.#o.cache.get(cid);
      return this.#fetchAndStore(cid, started, cached?.entry, { ignoreBackoff: true, serveStale: false });
    });
  }

  async inspect(cid: string): Promise<CacheInspection | undefined> {
    const found = await this.#o.cache.get(cid);
    if (!found) return undefined;
    const now = this.#o.now();
    return {
      entry: found.entry,
      tier: found.tier,
      fresh: isFresh(found.entry, now),
      ageMs: now - found.entry.fetchedAt,
      expiresInMs: found.entry.pinned ? Number.POSITIVE_INFINITY : found.entry.freshUntil - now,
    };
  }

  async purge(cid: string): Promise<void> {
    this.#backoff.delete(cid);
    await this.#o.cache.delete(cid);
  }

  #wantsRedirectRefetch(entry: CacheEntry, hints: ResolveHints): boolean {
    const requested = hints.redirectUri;
    if (requested === undefined || entry.pinned) return false;
    if (this.#o.now() - entry.fetchedAt < this.#o.redirectRefetchAfterMs) return false;
    const registered = entry.metadata.redirect_uris ?? [];
    return !redirectUriMatches(registered, requested, entry.metadata.application_type === 'native');
  }

  #singleFlight(cid: string, work: () => Promise<CacheEntry>): Promise<CacheEntry> {
    let pending = this.#inflight.get(cid);
    if (!pending) {
      pending = work().finally(() => this.#inflight.delete(cid));
      this.#inflight.set(cid, pending);
    }
    return pending;
  }

  async #load(cid: string, started: number, hints: ResolveHints): Promise<CacheEntry> {
    const cached = await this.#o.cache.get(cid);
    if (cached && isFresh(cached.entry, this.#o.now())) {
      const refetch = this.#wantsRedirectRefetch(cached.entry, hints) && !this.#inBackoff(cid);
      if (!refetch) {
        this.#o.emit(Reason.CacheHit, cid, started, cached.tier);
        return cached.entry;
      }
    }
    return this.#fetchAndStore(cid, started, cached?.entry, { ignoreBackoff: false, serveStale: true });
  }

  #inBackoff(cid: string): boolean {
    const until = this.#backoff.get(cid);
    if (until === undefined) return false;
    if (until > this.#o.now()) return true;
    this.#backoff.delete(cid);
    return false;
  }

  #fail(cid: string, started: number, tier: CacheTier, error: CimdError): never {
    if (this.#o.failureBackoffMs > 0) {
      // The map only ever holds CIDs that failed recently; prune lazily so a flood of bad ids cannot grow it.
      if (this.#backoff.size > 10_000) {
        const now = this.#o.now();
        for (const [key, until] of this.#backoff) if (until <= now) this.#backoff.delete(key);
      }
      this.#backoff.set(cid, this.#o.now() + this.#o.failureBackoffMs);
    }
    this.#o.emit(error.code, cid, started, tier, { detail: error.message, ...(error.rule ? { rule: error.rule } : {}) });
    throw error;
  }

  async #fetchAndStore(
    cid: string,
    started: number,
    previous: CacheEntry | undefined,
    mode: { ignoreBackoff: boolean; serveStale: boolean },
  ): Promise<CacheEntry> {
    if (!mode.ignoreBackoff && this.#inBackoff(cid)) {
      const error = new CimdError(Reason.RateLimited, 'a recent fetch of this client_id failed; backing off');
      this.#o.emit(error.code, cid, started, 'none', { detail: error.message });
      throw error;
    }

    let response: FetchResult;
    try {
      const conditional =
        previous && (previous.etag || previous.lastModified)
          ? { etag: previous.etag, lastModified: previous.lastModified }
          : undefined;
      response = await this.#o.fetcher.fetchDocument(cid, conditional);
    } catch (cause) {
      const error = isCimdError(cause) ? cause : new CimdError(Reason.RejectedNetwork, String(cause), { cause });
      const now = this.#o.now();
      if (mode.serveStale && previous && now < previous.staleIfErrorUntil) {
        this.#o.emit(Reason.StaleIfError, cid, started, 'memory', { detail: error.message });
        return previous;
      }
      return this.#fail(cid, started, 'origin', error);
    }

    const now = this.#o.now();
    const policy = cachePolicy(response.headers, now, this.#o.lifetime);
    const lifetime = {
      fetchedAt: now,
      freshUntil: now + policy.freshForMs,
      staleIfErrorUntil: now + policy.freshForMs + policy.staleIfErrorMs,
    };

    if (response.status === 304 && previous) {
      // A 304 only extends the life of the document we already validated; its body is never looked at.
      const entry: CacheEntry = {
        ...previous,
        ...lifetime,
        etag: policy.etag ?? previous.etag,
        lastModified: policy.lastModified ?? previous.lastModified,
      };
      if (policy.store) await this.#o.cache.set(entry);
      this.#backoff.delete(cid);
      this.#o.emit(Reason.Revalidated, cid, started, 'origin');
      return entry;
    }

    let validated: ReturnType<typeof validateDocument>;
    try {
      validated = validateDocument(response.body, cid, this.#o.capabilities, this.#o.documentRules);
    } catch (cause) {
      const error = isCimdError(cause) ? cause : new CimdError(Reason.RejectedDocument, String(cause), { cause });
      return this.#fail(cid, started, 'origin', error);
    }

    const entry: CacheEntry = {
      v: 1,
      cid,
      metadata: validated.metadata,
      loopbackOnly: validated.loopbackOnly,
      ...lifetime,
      ...(policy.etag ? { etag: policy.etag } : {}),
      ...(policy.lastModified ? { lastModified: policy.lastModified } : {}),
    };
    if (policy.store) await this.#o.cache.set(entry);
    else if (previous) await this.#o.cache.delete(cid);
    this.#backoff.delete(cid);
    this.#o.emit(Reason.Fetched, cid, started, 'origin');
    return entry;
  }
}
