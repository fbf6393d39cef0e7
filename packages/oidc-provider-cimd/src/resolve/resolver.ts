/**
 * Turns a client_id into a validated client: URL rules → trust policy → cache → (single flight) → load. This
 * file only orchestrates: loading is `Loader`, the cluster-wide wait is `cluster/lock-wait.ts`, the back-off
 * and the judgement under today's rules (judge.ts) have their own modules, every write is a commit through the
 * document cache (the one owner of client state), and the operator API is `OperatorApi` (operator.ts).
 *
 * Every caller gets exactly one resolution event (docs/events.md),
 * emitted here from the result the caller received; callers that joined another caller's flight carry
 * `joined: true`.
 */
import type { CacheEntry, CacheRead, DocumentCache, WarmRecord } from '../cache/document-cache.js';
import type { FetchLock, InvalidationBus } from '../cluster/fetch-lock.js';
import { fetchOnceInCluster } from '../cluster/lock-wait.js';
import { CimdError, Reason } from '../core/errors.js';
import type { FetchBudget } from '../fetch/budget.js';
import type { Fetcher } from '../fetch/fetcher.js';
import type { KnownClientsView } from '../known/record.js';
import type { Emit } from '../observe/events.js';
import type { UrlVerdict } from '../rules/client-id-url.js';
import type { DocumentRuleOptions, GrantWithoutUserRule, ProviderCapabilities } from '../rules/document.js';
import type { LifetimeBounds } from '../rules/http-cache.js';
import { redirectUriMatches } from '../rules/redirect-uris.js';
import type { PolicyVerdict } from '../rules/trust.js';
import { Backoff } from './backoff.js';
import { Judge } from './judge.js';
import { answered, failed, Loader, type LoadMode, type Result } from './load.js';
import { OperatorApi } from './operator.js';
import { reportResult } from './report.js';
import { SingleFlight } from './single-flight.js';

export type { CacheInspection } from './operator.js';

export interface ResolverOptions {
  urlRules: (cid: string) => UrlVerdict;
  /**
   * The identity of the URL rules in force for the request being served (they depend on its provider's issuer),
   * or `undefined` when they refuse every id (the development exception refused, the issuer unknown). An id
   * accepted under the same rules is accepted again: the warm path does not run them twice (see "warm record").
   */
  urlRegime: () => object | undefined;
  /** Trust policy, consulted before the cache and before any fetch. */
  policy: (cid: string, url: URL) => PolicyVerdict | Promise<PolicyVerdict>;
  /** Fetch budgets; cluster-wide too when a shared counter is attached (Redis stores). */
  budget: FetchBudget;
  fetcher: Fetcher;
  capabilities: ProviderCapabilities;
  documentRules: DocumentRuleOptions;
  /**
   * The `grantsWithoutUser` option as given, for the fingerprint of today's rules (resolve/judge.ts). It must be
   * the list `documentRules.allowGrantWithoutUser` was compiled from.
   */
  grantsWithoutUser?: readonly GrantWithoutUserRule[];
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

/**
 * What the resolver keeps on a client's warm record (cache/document-cache.ts `WarmRecord.served`) once it served
 * the entry warm: the URL verdict and the rules it came from, and when the hit was last reported with nobody
 * listening. It goes with the record, so it never outlives the entry.
 */
interface WarmStamp {
  readonly regime: object;
  readonly url: URL;
  readonly host: string;
  reportedAt: number;
}

/**
 * With nobody listening, a warm hit's event feeds only the client registry's sighting (`lastSeen`, kept in
 * seconds): one report per client per second is as good as one per hit, and spares a Map read per request.
 */
const SILENT_SIGHTING_MS = 1000;

export interface ResolveHints {
  /** The redirect_uri of the request being served, when there is one. */
  redirectUri?: string;
}

export class Resolver {
  readonly #o: ResolverOptions;
  readonly #flights = new SingleFlight<Result>();
  readonly #backoff: Backoff;
  readonly #judge: Judge;
  readonly #loader: Loader;
  readonly operator: OperatorApi;

  constructor(options: ResolverOptions) {
    this.#o = options;
    this.#backoff = new Backoff(options.failureBackoffMs, options.now);
    this.#judge = new Judge({
      capabilities: options.capabilities,
      documentRules: options.documentRules,
      grantsWithoutUser: options.grantsWithoutUser ?? [],
    });
    this.#loader = new Loader({
      fetcher: options.fetcher,
      judge: this.#judge,
      cache: options.cache,
      lifetime: options.lifetime,
      budget: options.budget,
      backoff: this.#backoff,
      invalidation: () => this.#o.invalidation,
      transportFallbackMs: options.transportFallbackMs ?? 0,
      now: options.now,
      known: options.known,
    });
    this.operator = new OperatorApi({
      admit: (cid, started) => this.#admit(cid, started),
      loader: this.#loader,
      judge: this.#judge,
      backoff: this.#backoff,
      cache: options.cache,
      emit: options.emit,
      refreshCooldownMs: options.refreshCooldownMs ?? 0,
      now: options.now,
    });
  }

  #isFresh(entry: CacheEntry, now = this.#o.now()): boolean {
    return entry.pinned === true || entry.freshUntil > now;
  }

  /** The fingerprint of the rules this instance judges documents by (resolve/judge.ts). */
  get rulesFingerprint(): string {
    return this.#judge.fingerprint;
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
    const started = this.#o.emit.start();
    // The warm record: one read gives the entry and, once it was served warm, the URL verdict it was admitted
    // with. Measured inside `/auth`, every further structure a warm lookup reads costs more than its own code
    // (docs/benchmarks.md, "The warm path in context").
    const record = this.#o.cache.warm(cid);
    let stamp = record?.served as WarmStamp | undefined;
    let url: URL;
    let host: string;
    if (stamp !== undefined && stamp.regime === this.#o.urlRegime()) {
      url = stamp.url;
      host = stamp.host;
    } else {
      stamp = undefined;
      const verdict = this.#o.urlRules(cid);
      if (!verdict.ok) {
        this.#o.emit(Reason.RejectedUrl, cid, started, 'none', { detail: verdict.message, rule: verdict.rule });
        return undefined;
      }
      url = verdict.url;
      host = verdict.host;
    }
    // The trust policy answers on every lookup, warm ones included: its lists or hook may change meanwhile.
    const trusted = this.#o.policy(cid, url);
    if (trusted instanceof Promise) {
      // The record may have changed meanwhile: read again, and stamped again if served warm.
      return trusted.then((answer) =>
        this.#lookupTrusted(cid, url, host, answer, started, hints, this.#o.cache.warm(cid), undefined),
      );
    }
    return this.#lookupTrusted(cid, url, host, trusted, started, hints, record, stamp);
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
    host: string,
    trusted: PolicyVerdict,
    started: number,
    hints: ResolveHints,
    record: WarmRecord | undefined,
    /** The record's stamp when it holds for the URL rules in force, else undefined (the record is stamped anew). */
    stamp: WarmStamp | undefined,
  ): CacheEntry | Promise<CacheEntry> {
    this.#applyVerdict(cid, trusted, started, host);
    if (record === undefined) return this.#lookupCold(cid, started, hints);
    const warm = record.entry;
    // Served warm only when judged under today's rules here (a string comparison); otherwise judged again below.
    // One clock read serves both time checks of the warm path.
    const now = this.#o.now();
    if (
      warm.rules !== this.#judge.fingerprint ||
      !this.#isFresh(warm, now) ||
      this.#wantsRedirectRefetch(warm, hints, now)
    ) {
      return this.#lookupCold(cid, started, hints);
    }
    // Somebody listening (started !== 0) gets one event per lookup (docs/events.md); with nobody listening, see
    // SILENT_SIGHTING_MS.
    if (started !== 0 || stamp === undefined || now - stamp.reportedAt >= SILENT_SIGHTING_MS) {
      this.#o.emit(Reason.CacheHit, cid, started, 'memory', undefined, host, now);
      if (stamp !== undefined) stamp.reportedAt = now;
    }
    if (stamp === undefined) {
      const regime = this.#o.urlRegime();
      if (regime !== undefined) record.served = { regime, url, host, reportedAt: now } satisfies WarmStamp;
    }
    return warm;
  }

  async #lookupCold(cid: string, started: number, hints: ResolveHints): Promise<CacheEntry> {
    const flight = this.#flights.run('lookup', cid, () => this.#load(cid));
    let result = await flight.promise;
    let joined = flight.joined;
    // The flight answered without regard to this caller's redirect_uri; a caller whose redirect_uri is missing
    // from a document older than `redirectRefetchAfterMs` gets the one refetch it is owed, whoever
    // started the flight it joined.
    if (
      result.ok &&
      this.#wantsRedirectRefetch(result.answer.entry, hints) &&
      this.#backoff.active(cid) === undefined
    ) {
      const entry = result.answer.entry;
      const refetch = this.#flights.run('redirect_refetch', cid, () => this.#redirectRefetch(cid, entry));
      result = await refetch.promise;
      joined = refetch.joined;
    }
    return this.#settle(cid, started, result, joined);
  }

  /** Reports one caller's outcome (one event per caller) and returns its entry or throws its error. */
  #settle(cid: string, started: number, result: Result, joined: boolean): CacheEntry {
    reportResult(this.#o.emit, cid, started, result, joined);
    if (result.ok) return result.answer.entry;
    throw result.error;
  }

  #wantsRedirectRefetch(entry: CacheEntry, hints: ResolveHints, now = this.#o.now()): boolean {
    const requested = hints.redirectUri;
    if (requested === undefined || entry.pinned) return false;
    if (now - entry.fetchedAt < this.#o.redirectRefetchAfterMs) return false;
    const registered = entry.metadata.redirect_uris ?? [];
    return !redirectUriMatches(registered, requested, entry.metadata.application_type === 'native');
  }

  /**
   * An entry read from the cache, as today's rules make it (resolve/judge.ts): judged again from its stored
   * document when it was judged under other rules, and the result committed against the revision read. An entry
   * that fails today's rules is never served: it reads as absent (the lookup fetches), except a pinned one,
   * which only an operator may replace, and which then fails the lookup with the rule it breaks.
   */
  async #judged(cid: string, read: CacheRead): Promise<{ entry: CacheEntry | undefined; refused?: Result }> {
    const entry = read.entry;
    if (!entry) return { entry: undefined };
    const judged = this.#judge.judge(entry);
    if (!judged.ok) {
      if (entry.pinned) return { entry: undefined, refused: failed(judged.error, read.tier, 'invalid') };
      return { entry: undefined };
    }
    if (!judged.changed) return { entry };
    if (judged.entry.pinned || read.rev === undefined) {
      // A lookup never writes a pinned entry; this process keeps its own judgement of it.
      this.#o.cache.holdLocal(judged.entry, read.rev ?? 0);
    } else {
      await this.#loader.commit(cid, judged.entry, this.#lookupMode(read.rev));
    }
    return { entry: judged.entry };
  }

  #lookupMode(rev: number | undefined): LoadMode {
    return { rev, authority: 'lookup', serveStale: true, ignoreBackoff: false };
  }

  /** A lookup's flight: a fresh cached copy, or one fetch (per cluster where there is a lock). */
  async #load(cid: string): Promise<Result> {
    const read = await this.#o.cache.read(cid);
    const { entry, refused } = await this.#judged(cid, read);
    let result: Result;
    if (refused) result = refused;
    else if (entry && this.#isFresh(entry)) result = answered(entry, Reason.CacheHit, read.tier);
    else result = await this.#fetchOnce(cid, entry, read.rev);
    return read.sharedSkipped ? markSkipped(result) : result;
  }

  /** A redirect refetch's flight: another instance may have refetched already, so the shared copy comes first. */
  async #redirectRefetch(cid: string, stale: CacheEntry): Promise<Result> {
    const read = await this.#o.cache.readShared(cid);
    const { entry: shared } = await this.#judged(cid, read);
    if (shared && shared.fetchedAt > stale.fetchedAt && this.#isFresh(shared)) {
      if (this.#o.now() - shared.fetchedAt < this.#o.redirectRefetchAfterMs) {
        return answered(shared, Reason.CacheHit, 'shared');
      }
    }
    const result = await this.#fetchOnce(cid, shared && shared.fetchedAt > stale.fetchedAt ? shared : stale, read.rev);
    return read.sharedSkipped ? markSkipped(result) : result;
  }

  async #fetchOnce(cid: string, previous: CacheEntry | undefined, rev: number | undefined): Promise<Result> {
    const mode = this.#lookupMode(rev);
    const lock = this.#o.lock;
    if (!lock || this.#backoff.active(cid) !== undefined) return this.#loader.fetchAndStore(cid, previous, mode);
    const outcome = await fetchOnceInCluster({
      lock,
      cid,
      previous,
      waitMs: this.#o.lockWaitMs ?? lock.ttlMs + 500,
      isFresh: (entry) => this.#isFresh(entry),
      readShared: (key) => this.#o.cache.readShared(key),
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
      case 'entry': {
        // The holder judged it under its own rules; this instance serves it only under its own.
        const { entry, refused } = await this.#judged(cid, { entry: outcome.entry, rev: outcome.rev, tier: 'shared' });
        if (refused) return refused;
        if (!entry) {
          const judged = this.#judge.judge(outcome.entry);
          const error = judged.ok
            ? new CimdError(Reason.RejectedDocument, "invalid under this server's rules")
            : judged.error;
          this.#backoff.start(cid, 'invalid');
          return failed(error, 'shared', 'invalid');
        }
        this.#backoff.clear(cid);
        return answered(entry, Reason.CacheHit, 'shared');
      }
      case 'failed':
        // Answer exactly as the holder did: same error, same failure class (a stale copy of our own only where
        // the class allows one).
        return this.#loader.failOrStale(cid, previous, outcome.error, outcome.failure, mode, 'shared');
      case 'direct':
        return this.#loader.fetchAndStore(cid, previous, mode);
    }
  }

  /**
   * A client completed an authorization: its document is now kept past its freshness lifetime in the shared
   * store (stale-if-error, the transport fallback, the revalidation grace). Until then it is kept no longer than
   * its freshness lifetime (docs/caching.md "Revocation, stale copies and the transport fallback"). Never rejects.
   */
  async markUsed(cid: string): Promise<void> {
    const local = this.#o.cache.peek(cid);
    if (local?.used || local?.pinned) return;
    const read = await this.#o.cache.read(cid);
    const found = read.entry;
    if (!found || found.used || found.pinned || !this.#judge.isCurrent(found)) return;
    // A commit against the revision read: it never overwrites a pin or an entry another writer changed since.
    await this.#loader.commit(cid, { ...found, used: true }, this.#lookupMode(read.rev));
  }
}

function markSkipped(result: Result): Result {
  if (result.ok) return { ok: true, answer: { ...result.answer, sharedSkipped: true } };
  return { ...result, sharedSkipped: true };
}
