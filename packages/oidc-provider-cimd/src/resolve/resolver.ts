/**
 * Turns a client_id into a validated client: URL rules → cache → guarded fetch → document rules → cache.
 * Every outcome emits exactly one event.
 */

import type { CacheEntry, DocumentCache } from '../cache/document-cache.js';
import type { FetchLock, HeldLock, InvalidationBus, LockOutcome } from '../cluster/fetch-lock.js';
import type { SharedHostBudget } from '../cluster/shared-budget.js';
import type { FetchBudget } from '../fetch/budget.js';
import type { Fetcher, FetchResult } from '../fetch/fetcher.js';
import { CimdError, isCimdError, Reason } from '../observe/errors.js';
import type { CacheTier, Emit } from '../observe/events.js';
import type { ProviderCapabilities } from '../plugin/capabilities.js';
import type { UrlVerdict } from '../rules/client-id-url.js';
import { type DocumentRuleOptions, validateDocument } from '../rules/document.js';
import { cachePolicy, type LifetimeBounds } from '../rules/http-cache.js';
import { redirectUriMatches } from '../rules/redirect-uris.js';
import type { PolicyVerdict } from '../rules/trust.js';

export interface ResolverOptions {
  urlRules: (cid: string) => UrlVerdict;
  /** Trust policy, consulted before the cache and before any fetch. */
  policy: (cid: string, url: URL) => PolicyVerdict | Promise<PolicyVerdict>;
  budget: FetchBudget;
  /** The per-host budget shared across instances (Redis stores only). */
  sharedBudget?: SharedHostBudget | undefined;
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
  /** Cluster-wide single fetch (Redis stores only); without it, one fetch per process. */
  lock?: FetchLock | undefined;
  /** Longest a lookup waits for another instance's fetch before fetching itself, ms. */
  lockWaitMs?: number;
  /** Tells other instances to drop their in-process copy after purge/refresh. */
  invalidation?: InvalidationBus | undefined;
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

/** What a lookup that found the fetch lock taken learned by waiting. */
type WaitResult =
  | { kind: 'entry'; entry: CacheEntry }
  | { kind: 'failed'; error: CimdError }
  /** Fetch directly: the holder could not share its result, Redis stopped answering, or the wait ran out. */
  | { kind: 'fetch' }
  /** The lock was released without an outcome for us (its holder died): try to take it. */
  | { kind: 'retry' };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

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
    return this.lookup(cid, hints);
  }

  /**
   * `resolve()` for the adapter's hot path: a warm hit (a fresh in-process entry, and a trust policy that
   * answered synchronously) comes back as the entry itself, not a promise, which spares the provider a few
   * promise allocations and microtask turns per request. Anything else returns a promise. A rejection may be
   * thrown synchronously.
   */
  lookup(cid: string, hints: ResolveHints = {}): CacheEntry | undefined | Promise<CacheEntry | undefined> {
    const started = performance.now();
    const verdict = this.#o.urlRules(cid);
    if (!verdict.ok) {
      this.#o.emit(Reason.RejectedUrl, cid, started, 'none', { detail: verdict.message, rule: verdict.rule });
      return undefined;
    }
    const trusted = this.#o.policy(cid, verdict.url);
    if (trusted instanceof Promise) {
      return trusted.then((answer) => this.#lookupTrusted(cid, verdict.url, answer, started, hints));
    }
    return this.#lookupTrusted(cid, verdict.url, trusted, started, hints);
  }

  #lookupTrusted(
    cid: string,
    url: URL,
    trusted: PolicyVerdict,
    started: number,
    hints: ResolveHints,
  ): CacheEntry | Promise<CacheEntry> {
    if (!trusted.allowed) {
      this.#o.emit(Reason.RejectedPolicy, cid, started, 'none', { detail: trusted.reason });
      throw new CimdError(Reason.RejectedPolicy, trusted.reason);
    }
    const warm = this.#o.cache.peek(cid);
    if (warm && isFresh(warm, this.#o.now()) && !this.#wantsRedirectRefetch(warm, hints)) {
      this.#o.emit(Reason.CacheHit, cid, started, 'memory', undefined, url.host);
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
      const cached = await this.#o.cache.get(cid, { preferShared: true });
      // A pinned client stays pinned: its document is replaced by the freshly fetched one, if valid.
      if (cached?.entry.pinned) return this.#storePin(await this.#pinnedEntry(cid, undefined));
      const entry = await this.#fetchAndStore(cid, started, cached?.entry, { ignoreBackoff: true, serveStale: false });
      await this.#o.invalidation?.publish(cid);
      return entry;
    });
  }

  /**
   * Pre-registers a client (draft §7.2): validates its document now (fetched from the CID, or the one given)
   * and stores it in both tiers as pinned. A pinned client resolves without any fetch, whatever its host does,
   * until it is unpinned (or purged). Throws CimdError when the CID or the document is rejected, and Error when
   * the shared store does not confirm the write.
   */
  async pin(cid: string, options: { document?: string | Uint8Array } = {}): Promise<CacheEntry> {
    const verdict = this.#o.urlRules(cid);
    if (!verdict.ok) throw new CimdError(Reason.RejectedUrl, verdict.message, { rule: verdict.rule });
    // A lookup already fetching this CID would otherwise store its unpinned result over the pin.
    await this.#inflight.get(cid)?.catch(() => undefined);
    return this.#storePin(await this.#pinnedEntry(cid, options.document));
  }

  /** Removes a pin, and with it the entry (as `purge` does): the next lookup fetches. False when not pinned. */
  async unpin(cid: string): Promise<boolean> {
    const found = await this.#o.cache.get(cid, { preferShared: true });
    if (!found?.entry.pinned) return false;
    await this.purge(cid);
    return true;
  }

  async #pinnedEntry(cid: string, document: string | Uint8Array | undefined): Promise<CacheEntry> {
    const response = document === undefined ? await this.#o.fetcher.fetchDocument(cid) : undefined;
    const validated = validateDocument(
      response?.body ?? (document as string | Uint8Array),
      cid,
      this.#o.capabilities,
      this.#o.documentRules,
    );
    const now = this.#o.now();
    // Validators are kept for the day the client is unpinned; freshness does not apply to a pinned entry.
    const policy = response ? cachePolicy(response.headers, now, this.#o.lifetime) : undefined;
    return {
      v: 1,
      cid,
      metadata: validated.metadata,
      loopbackOnly: validated.loopbackOnly,
      fetchedAt: now,
      freshUntil: now,
      staleIfErrorUntil: now,
      ...(policy?.etag ? { etag: policy.etag } : {}),
      ...(policy?.lastModified ? { lastModified: policy.lastModified } : {}),
      pinned: true,
    };
  }

  async #storePin(entry: CacheEntry): Promise<CacheEntry> {
    if (!(await this.#o.cache.set(entry))) {
      // A pin only this process knows of would be undone by the next restart: report it, and keep nothing.
      this.#o.cache.forgetLocal(entry.cid);
      throw new Error(`oidc-provider-cimd: the shared store did not confirm the pinned entry for ${entry.cid}`);
    }
    this.#backoff.delete(entry.cid);
    await this.#o.invalidation?.publish(entry.cid);
    return entry;
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

  /**
   * Removes the entry from the shared store and this process' tier, and (Redis) asks the other instances to
   * drop their in-process copies; an instance that misses the message keeps its copy until it goes stale.
   */
  async purge(cid: string): Promise<void> {
    this.#backoff.delete(cid);
    await this.#o.cache.delete(cid);
    await this.#o.invalidation?.publish(cid);
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
    const local = this.#o.cache.peek(cid);
    // On a redirect miss, another instance may have refetched already: look at the shared copy first.
    const preferShared =
      local !== undefined && isFresh(local, this.#o.now()) && this.#wantsRedirectRefetch(local, hints);
    const cached = await this.#o.cache.get(cid, { preferShared });
    if (cached && isFresh(cached.entry, this.#o.now())) {
      const refetch = this.#wantsRedirectRefetch(cached.entry, hints) && !this.#inBackoff(cid);
      if (!refetch) {
        this.#o.emit(Reason.CacheHit, cid, started, cached.tier);
        return cached.entry;
      }
    }
    return this.#fetchOnce(cid, started, cached?.entry);
  }

  /** Fetches, or waits for the instance that holds the cluster-wide fetch lock for this CID. */
  async #fetchOnce(cid: string, started: number, previous: CacheEntry | undefined): Promise<CacheEntry> {
    const direct = () => this.#fetchAndStore(cid, started, previous, { ignoreBackoff: false, serveStale: true });
    const lock = this.#o.lock;
    if (!lock || this.#inBackoff(cid)) return direct();
    const deadline = performance.now() + (this.#o.lockWaitMs ?? lock.ttlMs + 500);
    const seen = new Set<string>();
    while (performance.now() < deadline) {
      const acquired = await lock.acquire(cid);
      if (acquired.kind === 'unavailable') break;
      if (acquired.kind === 'held') return this.#fetchAsHolder(cid, started, previous, acquired);
      if (acquired.holder) seen.add(acquired.holder);
      const waited = await this.#waitForHolder(lock, cid, previous, seen, deadline);
      if (waited.kind === 'retry') continue;
      if (waited.kind === 'fetch') break;
      if (waited.kind === 'entry') {
        this.#backoff.delete(cid);
        this.#o.emit(Reason.CacheHit, cid, started, 'shared');
        return waited.entry;
      }
      // The holder's fetch failed: answer exactly as it did (stale-if-error from our own copy, or the error).
      if (previous && this.#o.now() < previous.staleIfErrorUntil) {
        this.#o.emit(Reason.StaleIfError, cid, started, 'memory', { detail: waited.error.message });
        return previous;
      }
      return this.#fail(cid, started, 'shared', waited.error);
    }
    return direct();
  }

  async #fetchAsHolder(
    cid: string,
    started: number,
    previous: CacheEntry | undefined,
    held: HeldLock,
  ): Promise<CacheEntry> {
    let outcome: LockOutcome = { kind: 'unstored' };
    try {
      return await this.#fetchAndStore(
        cid,
        started,
        previous,
        { ignoreBackoff: true, serveStale: true },
        (reported) => {
          outcome = reported;
        },
      );
    } finally {
      await held.release(outcome);
    }
  }

  async #waitForHolder(
    lock: FetchLock,
    cid: string,
    previous: CacheEntry | undefined,
    seen: Set<string>,
    deadline: number,
  ): Promise<WaitResult> {
    let delay = 10;
    while (performance.now() < deadline) {
      await sleep(Math.min(delay, Math.max(1, deadline - performance.now())));
      delay = Math.min(delay * 1.5, 150);
      const poll = await lock.poll(cid);
      if (!poll) return { kind: 'fetch' };
      if (poll.holder) seen.add(poll.holder);
      const outcome = poll.outcome && seen.has(poll.outcome.token) ? poll.outcome : null;
      if (outcome?.kind === 'stored') {
        const entry = await this.#o.cache.getShared(cid);
        const current = entry && isFresh(entry, this.#o.now()) && (!previous || entry.fetchedAt >= previous.fetchedAt);
        return current ? { kind: 'entry', entry } : { kind: 'fetch' };
      }
      if (outcome?.kind === 'failed') {
        return {
          kind: 'failed',
          error: new CimdError(outcome.code, outcome.message, outcome.rule ? { rule: outcome.rule } : {}),
        };
      }
      if (outcome?.kind === 'unstored') return { kind: 'fetch' };
      if (!poll.holder) return { kind: 'retry' };
    }
    return { kind: 'fetch' };
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
    this.#o.emit(error.code, cid, started, tier, {
      detail: error.message,
      ...(error.rule ? { rule: error.rule } : {}),
    });
    throw error;
  }

  async #fetchAndStore(
    cid: string,
    started: number,
    previous: CacheEntry | undefined,
    mode: { ignoreBackoff: boolean; serveStale: boolean },
    report: (outcome: LockOutcome) => void = () => {},
  ): Promise<CacheEntry> {
    if (!mode.ignoreBackoff && this.#inBackoff(cid)) {
      const error = new CimdError(Reason.RateLimited, 'a recent fetch of this client_id failed; backing off');
      this.#o.emit(error.code, cid, started, 'none', { detail: error.message });
      throw error;
    }

    const host = new URL(cid).host;
    const ticket = this.#o.budget.take(host);
    let refusal = ticket.granted ? undefined : ticket.reason;
    if (ticket.granted && (await this.#o.sharedBudget?.take(host)) === false) {
      ticket.release();
      refusal = `cluster-wide fetch budget for ${host} exhausted`;
    }
    if (!ticket.granted || refusal !== undefined) {
      // Over budget is rate limiting, not a failure of this client: no back-off, no stale copy, no fetch.
      const error = new CimdError(Reason.RateLimited, refusal ?? 'over the fetch budget');
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
      report(failedOutcome(error));
      const now = this.#o.now();
      if (mode.serveStale && previous && now < previous.staleIfErrorUntil) {
        this.#o.emit(Reason.StaleIfError, cid, started, 'memory', { detail: error.message });
        return previous;
      }
      return this.#fail(cid, started, 'origin', error);
    } finally {
      ticket.release();
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
      const stored = policy.store ? await this.#o.cache.set(entry) : false;
      report({ kind: stored ? 'stored' : 'unstored' });
      this.#backoff.delete(cid);
      this.#o.emit(Reason.Revalidated, cid, started, 'origin');
      return entry;
    }

    let validated: ReturnType<typeof validateDocument>;
    try {
      validated = validateDocument(response.body, cid, this.#o.capabilities, this.#o.documentRules);
    } catch (cause) {
      const error = isCimdError(cause) ? cause : new CimdError(Reason.RejectedDocument, String(cause), { cause });
      report(failedOutcome(error));
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
    let stored = false;
    if (policy.store) stored = await this.#o.cache.set(entry);
    else if (previous) await this.#o.cache.delete(cid);
    report({ kind: stored ? 'stored' : 'unstored' });
    this.#backoff.delete(cid);
    this.#o.emit(Reason.Fetched, cid, started, 'origin');
    return entry;
  }
}

function failedOutcome(error: CimdError): LockOutcome {
  return { kind: 'failed', code: error.code, message: error.message, ...(error.rule ? { rule: error.rule } : {}) };
}
