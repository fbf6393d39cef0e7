/**
 * Turns a client_id into a validated client: URL rules → trust policy → cache → (single flight) → load. This
 * file only orchestrates: loading is `Loader`, the cluster-wide wait is `cluster/lock-wait.ts`, back-off and
 * generations have their own modules, and the operator API is `OperatorApi` (operator.ts).
 *
 * Every caller gets exactly one resolution event (README "Errors and events"),
 * emitted here from the result the caller received; callers that joined another caller's flight carry
 * `joined: true`.
 */
import type { CacheEntry, DocumentCache } from '../cache/document-cache.js';
import type { FetchLock, InvalidationBus } from '../cluster/fetch-lock.js';
import { fetchOnceInCluster } from '../cluster/lock-wait.js';
import type { FetchBudget } from '../fetch/budget.js';
import type { Fetcher } from '../fetch/fetcher.js';
import type { KnownClientsView } from '../known/record.js';
import { CimdError, Reason } from '../observe/errors.js';
import type { Emit } from '../observe/events.js';
import type { UrlVerdict } from '../rules/client-id-url.js';
import type { DocumentRuleOptions, ProviderCapabilities } from '../rules/document.js';
import type { LifetimeBounds } from '../rules/http-cache.js';
import { redirectUriMatches } from '../rules/redirect-uris.js';
import type { PolicyVerdict } from '../rules/trust.js';
import { Backoff } from './backoff.js';
import { Generations } from './generations.js';
import { answered, Loader, type LoadMode, type Result } from './load.js';
import { OperatorApi } from './operator.js';
import { SingleFlight } from './single-flight.js';

export type { CacheInspection } from './operator.js';

export interface ResolverOptions {
  urlRules: (cid: string) => UrlVerdict;
  /** Trust policy, consulted before the cache and before any fetch. */
  policy: (cid: string, url: URL) => PolicyVerdict | Promise<PolicyVerdict>;
  /** Fetch budgets; cluster-wide too when a shared counter is attached (Redis stores). */
  budget: FetchBudget;
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
  /** Transport fallback window past freshness, ms; 0 (the default) turns it off. */
  transportFallbackMs?: number;
  /** `refresh()` of one CID at most once per this many ms. Default 0 (no cooldown). */
  refreshCooldownMs?: number;
  now: () => number;
  /** Cluster-wide single fetch (Redis stores only); without it, one fetch per process. */
  lock?: FetchLock | undefined;
  /** Longest a lookup waits for another instance's fetch before fetching itself, ms. */
  lockWaitMs?: number;
  /** Tells other instances to drop their in-process copy after purge/refresh/revocation. */
  invalidation?: InvalidationBus | undefined;
  /** Which clients are known-good for the fetch budgets (known/record.ts). */
  known?: KnownClientsView | undefined;
}

export interface ResolveHints {
  /** The redirect_uri of the request being served, when there is one. */
  redirectUri?: string;
}

export class Resolver {
  readonly #o: ResolverOptions;
  readonly #flights = new SingleFlight<Result>();
  readonly #backoff: Backoff;
  readonly #generations = new Generations();
  readonly #loader: Loader;
  readonly operator: OperatorApi;

  constructor(options: ResolverOptions) {
    this.#o = options;
    this.#backoff = new Backoff(options.failureBackoffMs, options.now);
    this.#loader = new Loader({
      fetcher: options.fetcher,
      capabilities: options.capabilities,
      documentRules: options.documentRules,
      cache: options.cache,
      lifetime: options.lifetime,
      budget: options.budget,
      backoff: this.#backoff,
      generations: this.#generations,
      invalidation: () => this.#o.invalidation,
      transportFallbackMs: options.transportFallbackMs ?? 0,
      now: options.now,
      known: options.known,
    });
    this.operator = new OperatorApi({
      admit: (cid, started) => this.#admit(cid, started),
      loader: this.#loader,
      flights: this.#flights,
      backoff: this.#backoff,
      generations: this.#generations,
      cache: options.cache,
      emit: options.emit,
      invalidation: () => this.#o.invalidation,
      refreshCooldownMs: options.refreshCooldownMs ?? 0,
      now: options.now,
    });
  }

  #isFresh(entry: CacheEntry): boolean {
    return entry.pinned === true || entry.freshUntil > this.#o.now();
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

  /** Applies a trust verdict: throws on refusal; in `report` mode, reports the would-be refusal and goes on. */
  #applyVerdict(cid: string, trusted: PolicyVerdict, started: number, host?: string): void {
    if (!trusted.allowed) {
      this.#o.emit(Reason.RejectedPolicy, cid, started, 'none', { detail: trusted.reason }, host);
      throw new CimdError(Reason.RejectedPolicy, trusted.reason);
    }
    if (trusted.wouldDeny !== undefined) {
      this.#o.emit(Reason.WouldDeny, cid, started, 'none', { detail: trusted.wouldDeny }, host);
    }
  }

  /** URL rules and trust policy for the operator API: denied CIDs are never fetched, operator commands included. */
  async #admit(cid: string, started: number): Promise<void> {
    const verdict = this.#o.urlRules(cid);
    if (!verdict.ok) {
      this.#o.emit(Reason.RejectedUrl, cid, started, 'none', { detail: verdict.message, rule: verdict.rule });
      throw new CimdError(Reason.RejectedUrl, verdict.message, { rule: verdict.rule });
    }
    this.#applyVerdict(cid, await this.#o.policy(cid, verdict.url), started);
  }

  #lookupTrusted(
    cid: string,
    url: URL,
    trusted: PolicyVerdict,
    started: number,
    hints: ResolveHints,
  ): CacheEntry | Promise<CacheEntry> {
    this.#applyVerdict(cid, trusted, started, url.host);
    const warm = this.#o.cache.peek(cid);
    if (warm && this.#isFresh(warm) && !this.#wantsRedirectRefetch(warm, hints)) {
      this.#o.emit(Reason.CacheHit, cid, started, 'memory', undefined, url.host);
      return warm;
    }
    return this.#lookupCold(cid, started, hints);
  }

  async #lookupCold(cid: string, started: number, hints: ResolveHints): Promise<CacheEntry> {
    const flight = this.#flights.run('lookup', cid, () => this.#load(cid));
    let result = await flight.promise;
    let joined = flight.joined;
    // The flight answered without regard to this caller's redirect_uri; a caller whose redirect_uri is missing
    // from a document older than `redirectRefetchAfterMs` gets the one refetch it is owed, whoever
    // started the flight it joined.
    if (result.ok && this.#wantsRedirectRefetch(result.answer.entry, hints) && !this.#backoff.active(cid)) {
      const entry = result.answer.entry;
      const refetch = this.#flights.run('redirect_refetch', cid, () => this.#redirectRefetch(cid, entry));
      result = await refetch.promise;
      joined = refetch.joined;
    }
    return this.#settle(cid, started, result, joined);
  }

  /** Reports one caller's outcome (one event per caller) and returns its entry or throws its error. */
  #settle(cid: string, started: number, result: Result, joined: boolean): CacheEntry {
    const marker = joined ? { joined: true as const } : undefined;
    if (result.ok) {
      const { entry, reason, tier, detail } = result.answer;
      this.#o.emit(reason, cid, started, tier, detail === undefined ? marker : { ...marker, detail });
      return entry;
    }
    const { error, tier } = result;
    this.#o.emit(error.code, cid, started, tier, {
      ...marker,
      detail: error.message,
      ...(error.rule ? { rule: error.rule } : {}),
    });
    throw error;
  }

  #wantsRedirectRefetch(entry: CacheEntry, hints: ResolveHints): boolean {
    const requested = hints.redirectUri;
    if (requested === undefined || entry.pinned) return false;
    if (this.#o.now() - entry.fetchedAt < this.#o.redirectRefetchAfterMs) return false;
    const registered = entry.metadata.redirect_uris ?? [];
    return !redirectUriMatches(registered, requested, entry.metadata.application_type === 'native');
  }

  /** A lookup's flight: a fresh cached copy, or one fetch (per cluster where there is a lock). */
  async #load(cid: string): Promise<Result> {
    const generation = this.#generations.current(cid);
    const cached = await this.#o.cache.get(cid);
    if (cached && this.#isFresh(cached.entry)) return answered(cached.entry, Reason.CacheHit, cached.tier);
    return this.#fetchOnce(cid, cached?.entry, generation);
  }

  /** A redirect refetch's flight: another instance may have refetched already, so the shared copy comes first. */
  async #redirectRefetch(cid: string, stale: CacheEntry): Promise<Result> {
    const generation = this.#generations.current(cid);
    const shared = await this.#o.cache.getShared(cid);
    if (shared && shared.fetchedAt > stale.fetchedAt && this.#isFresh(shared)) {
      if (this.#o.now() - shared.fetchedAt < this.#o.redirectRefetchAfterMs) {
        return answered(shared, Reason.CacheHit, 'shared');
      }
    }
    return this.#fetchOnce(cid, shared && shared.fetchedAt > stale.fetchedAt ? shared : stale, generation);
  }

  async #fetchOnce(cid: string, previous: CacheEntry | undefined, generation: number): Promise<Result> {
    const mode: LoadMode = { generation, serveStale: true, ignoreBackoff: false };
    const lock = this.#o.lock;
    if (!lock || this.#backoff.active(cid)) return this.#loader.fetchAndStore(cid, previous, mode);
    const outcome = await fetchOnceInCluster({
      lock,
      cid,
      previous,
      waitMs: this.#o.lockWaitMs ?? lock.ttlMs + 500,
      isFresh: (entry) => this.#isFresh(entry),
      readShared: (key) => this.#o.cache.getShared(key),
      fetchAsHolder: async (held) => {
        let reported: Parameters<typeof held.release>[0] = { kind: 'unstored' };
        try {
          return await this.#loader.fetchAndStore(cid, previous, { ...mode, ignoreBackoff: true }, (outcome) => {
            reported = outcome;
          });
        } finally {
          await held.release(reported);
        }
      },
    });
    switch (outcome.kind) {
      case 'fetched':
        return outcome.result;
      case 'entry':
        this.#backoff.clear(cid);
        return answered(outcome.entry, Reason.CacheHit, 'shared');
      case 'failed':
        // Answer exactly as the holder did: a stale copy of our own where one may stand in, or its error.
        return this.#loader.failOrStale(cid, previous, outcome.error, mode, 'shared');
      case 'direct':
        return this.#loader.fetchAndStore(cid, previous, mode);
    }
  }

  /**
   * A client completed an authorization: its document is now kept past its freshness lifetime in the shared
   * store (stale-if-error, the transport fallback, the revalidation grace). Until then it is kept no longer than
   * its freshness lifetime (README "Revocation, stale copies and the transport fallback"). Never rejects.
   */
  async markUsed(cid: string): Promise<void> {
    const local = this.#o.cache.peek(cid);
    if (local?.used || local?.pinned) return;
    const found = local ?? (await this.#o.cache.get(cid))?.entry;
    if (!found || found.used || found.pinned) return;
    await this.#o.cache.set({ ...found, used: true });
  }
}
