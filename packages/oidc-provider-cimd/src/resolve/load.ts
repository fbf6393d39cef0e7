/**
 * The loading step of the resolver: budget → guarded fetch → HTTP caching rules → document rules → store. It
 * never emits events and never throws: it returns what happened, and the caller (one per request, joined or
 * not) reports it. That is what makes "one event per caller" hold by construction (README "Errors and events").
 */
import type { CacheEntry, DocumentCache } from '../cache/document-cache.js';
import type { InvalidationBus, LockOutcome } from '../cluster/fetch-lock.js';
import type { FetchBudget } from '../fetch/budget.js';
import type { Fetcher, FetchResult } from '../fetch/fetcher.js';
import type { KnownClientsView } from '../known/record.js';
import { CimdError, isCimdError, Reason, type ReasonCode } from '../observe/errors.js';
import type { CacheTier } from '../observe/events.js';
import { type DocumentRuleOptions, type ProviderCapabilities, validateDocument } from '../rules/document.js';
import { type CachePolicy, cachePolicy, type LifetimeBounds } from '../rules/http-cache.js';
import type { Backoff } from './backoff.js';
import type { Generations } from './generations.js';

/** A lookup that produced a document. */
export interface Answer {
  entry: CacheEntry;
  reason: ReasonCode;
  tier: CacheTier;
  detail?: string;
}

export type Result = { ok: true; answer: Answer } | { ok: false; error: CimdError; tier: CacheTier };

export const answered = (entry: CacheEntry, reason: ReasonCode, tier: CacheTier, detail?: string): Result => ({
  ok: true,
  answer: detail === undefined ? { entry, reason, tier } : { entry, reason, tier, detail },
});
export const failed = (error: CimdError, tier: CacheTier): Result => ({ ok: false, error, tier });

export interface LoaderOptions {
  fetcher: Fetcher;
  capabilities: ProviderCapabilities;
  documentRules: DocumentRuleOptions;
  cache: DocumentCache;
  lifetime: LifetimeBounds;
  /** Per host, per registrable domain and global; cluster-wide too when a shared counter is attached. */
  budget: FetchBudget;
  backoff: Backoff;
  generations: Generations;
  invalidation: () => InvalidationBus | undefined;
  /** Transport fallback window past freshness, ms; 0 turns it off. */
  transportFallbackMs: number;
  now: () => number;
  /** Which clients are known-good (known/record.ts): durable, never cache presence. Absent: none is. */
  known?: KnownClientsView | undefined;
}

export interface LoadMode {
  /** The CID's generation when the caller started: a result is stored only if it is still current. */
  generation: number;
  /** Lookups may answer a failed refresh with a stale copy; operator commands never do. */
  serveStale: boolean;
  /** Operator commands fetch even during a back-off. */
  ignoreBackoff: boolean;
  /** Store the result as a pinned entry (refresh of a pinned client). */
  pinned?: boolean;
}

const isTransportStatus = (status: number) => status >= 500 || status === 429 || (status >= 300 && status < 400);
const isJsonType = (type: string | undefined) =>
  type !== undefined && (type === 'application/json' || /^application\/[^/]+\+json$/.test(type));

/**
 * Transport failures (README "Revocation, stale copies and the transport fallback"): network errors and timeouts, 5xx, 429, a redirect, and a
 * challenge page (403/503 with a non-JSON body). A document that fails validation never is, nor is 404/410.
 */
export function isTransportFailure(error: CimdError): boolean {
  if (error.code === Reason.RejectedNetwork || error.code === Reason.RejectedTimeout) return true;
  const response = error.response;
  if (!response) return false;
  if (isTransportStatus(response.status)) return true;
  return (response.status === 403 || response.status === 503) && !isJsonType(response.mediaType);
}

/** A 404 or 410 from the origin is authoritative (README "Revocation, stale copies and the transport fallback"). */
const isRevocation = (error: CimdError) => error.response?.status === 404 || error.response?.status === 410;

export function failedOutcome(error: CimdError): LockOutcome {
  return { kind: 'failed', code: error.code, message: error.message, ...(error.rule ? { rule: error.rule } : {}) };
}

function entryFrom(
  cid: string,
  validated: Pick<ReturnType<typeof validateDocument>, 'metadata' | 'loopbackOnly'>,
  policy: CachePolicy,
  now: number,
  flags: { pinned: boolean; used: boolean },
): CacheEntry {
  return {
    v: 2,
    cid,
    metadata: validated.metadata,
    loopbackOnly: validated.loopbackOnly,
    fetchedAt: now,
    // A pinned entry is never fresh or stale: it resolves until unpinned. Its validators are kept for the day
    // it is unpinned.
    freshUntil: flags.pinned ? now : now + policy.freshForMs,
    staleIfErrorUntil: flags.pinned ? now : now + policy.freshForMs + policy.staleIfErrorMs,
    ...(policy.etag ? { etag: policy.etag } : {}),
    ...(policy.lastModified ? { lastModified: policy.lastModified } : {}),
    ...(flags.pinned ? { pinned: true } : {}),
    ...(flags.used ? { used: true } : {}),
  };
}

export class Loader {
  readonly #o: LoaderOptions;

  constructor(options: LoaderOptions) {
    this.#o = options;
  }

  /**
   * A previously valid copy that may stand in for a refresh that did not happen or failed, with the reason code
   * that says why; undefined when none may. Order: the origin's own stale-if-error first, then the operator's
   * transport fallback (transport failures only, and only for clients in use: README "Revocation, stale copies and the transport fallback").
   */
  #staleStandIn(previous: CacheEntry | undefined, error: CimdError | undefined): Answer | undefined {
    if (!previous || previous.pinned) return undefined;
    const now = this.#o.now();
    const detail = error?.message;
    if (now < previous.staleIfErrorUntil) {
      return { entry: previous, reason: Reason.StaleIfError, tier: 'memory', ...(detail ? { detail } : {}) };
    }
    const fallback = this.#o.transportFallbackMs;
    if (
      fallback > 0 &&
      previous.used === true &&
      now < previous.freshUntil + fallback &&
      (error === undefined || isTransportFailure(error))
    ) {
      return { entry: previous, reason: Reason.StaleFallback, tier: 'memory', ...(detail ? { detail } : {}) };
    }
    return undefined;
  }

  /**
   * Over budget, the last valid copy stands in instead of an error, but only within the bounds a failed refresh
   * has (stale-if-error, the transport fallback of a client in use), never past them and never past a
   * revocation (README "Trust policy and fetch budgets", docs/trust-and-budgets.md).
   */
  #overBudgetStandIn(previous: CacheEntry | undefined, reason: string): Answer | undefined {
    const standIn = this.#staleStandIn(previous, undefined);
    return standIn ? { ...standIn, reason: Reason.StaleOverBudget, detail: reason } : undefined;
  }

  /** Whether `cid` is known-good now: a durable fact (known/record.ts), never whether a copy is cached. */
  async #isKnown(cid: string): Promise<boolean> {
    const answer = this.#o.known?.isKnown(cid);
    return answer instanceof Promise ? await answer : answer === true;
  }

  #fail(cid: string, error: CimdError, tier: CacheTier): Result {
    this.#o.backoff.start(cid);
    return failed(error, tier);
  }

  /**
   * After a failed fetch (here, or another instance's: `tier`): answers from a stale copy when one may stand in,
   * and starts the back-off either way, so that serving stale does not refetch on every request (README "Revocation, stale copies and the transport fallback").
   */
  failOrStale(
    cid: string,
    previous: CacheEntry | undefined,
    error: CimdError,
    mode: LoadMode,
    tier: CacheTier = 'origin',
  ): Result {
    const stale = mode.serveStale && error.code !== Reason.Revoked ? this.#staleStandIn(previous, error) : undefined;
    this.#o.backoff.start(cid);
    return stale ? { ok: true, answer: stale } : failed(error, tier);
  }

  async #store(entry: CacheEntry, mode: LoadMode): Promise<{ stored: boolean; entry: CacheEntry }> {
    const { cache, generations } = this.#o;
    // An operator command (pin, refresh, purge) since this load started owns the entry now: drop our result.
    if (generations.current(entry.cid) !== mode.generation) {
      const current = cache.peek(entry.cid);
      return { stored: false, entry: current?.pinned ? current : entry };
    }
    if (entry.pinned) return { stored: await cache.set(entry), entry };
    const written = await cache.setUnlessPinned(entry);
    return typeof written === 'boolean' ? { stored: written, entry } : { stored: false, entry: written };
  }

  async #revoke(cid: string): Promise<void> {
    await this.#o.cache.delete(cid);
    await this.#o.invalidation()?.publish(cid);
  }

  /**
   * Fetches `cid` and stores a valid document. `previous` is the copy the caller holds (for conditional
   * requests, stale stand-ins and revocation). `report` learns the outcome for the cluster-wide lock's waiters.
   */
  async fetchAndStore(
    cid: string,
    previous: CacheEntry | undefined,
    mode: LoadMode,
    report: (outcome: LockOutcome) => void = () => {},
  ): Promise<Result> {
    const o = this.#o;
    if (!mode.ignoreBackoff && o.backoff.active(cid)) {
      const error = new CimdError(Reason.RateLimited, 'a recent fetch of this client_id failed; backing off');
      report(failedOutcome(error));
      const stale = mode.serveStale ? this.#staleStandIn(previous, undefined) : undefined;
      return stale ? { ok: true, answer: stale } : failed(error, 'none');
    }

    // A known-good client (completed an authorization, last refresh did not fail) draws on capacity that
    // first-time ids cannot exhaust (docs/trust-and-budgets.md).
    const known = await this.#isKnown(cid);
    const ticket = await o.budget.acquire(cid, { known });
    if (!ticket.granted) {
      // Over budget is rate limiting, not a failure of this client: no back-off, and no fetch.
      const reason = ticket.reason;
      const error = new CimdError(Reason.RateLimited, reason);
      report(failedOutcome(error));
      const stale = mode.serveStale ? this.#overBudgetStandIn(previous, reason) : undefined;
      return stale ? { ok: true, answer: stale } : failed(error, 'none');
    }

    let response: FetchResult;
    try {
      const conditional =
        previous && (previous.etag || previous.lastModified)
          ? { etag: previous.etag, lastModified: previous.lastModified }
          : undefined;
      response = await o.fetcher.fetchDocument(cid, conditional, undefined, { known });
    } catch (cause) {
      const error = isCimdError(cause) ? cause : new CimdError(Reason.RejectedNetwork, String(cause), { cause });
      if (error.code === Reason.RateLimited) {
        // Refused by a cap the fetcher applies (the resolved address's): rate limiting like the budget above.
        report(failedOutcome(error));
        const stale = mode.serveStale ? this.#overBudgetStandIn(previous, error.message) : undefined;
        return stale ? { ok: true, answer: stale } : failed(error, 'none');
      }
      o.known?.refreshed(cid, false);
      if (previous && !previous.pinned && isRevocation(error)) {
        // Never answered with a stale copy, and removed everywhere at once (README "Revocation, stale copies and the transport fallback").
        await this.#revoke(cid);
        const revoked = new CimdError(Reason.Revoked, `${error.message}: the client's document is gone`, {
          ...(error.response ? { response: error.response } : {}),
        });
        report(failedOutcome(revoked));
        return this.#fail(cid, revoked, 'origin');
      }
      report(failedOutcome(error));
      return this.failOrStale(cid, previous, error, mode);
    } finally {
      ticket.release();
    }

    const now = o.now();
    const policy = cachePolicy(response.headers, now, o.lifetime);
    // A known-good client is in use whether or not a copy of its entry survived (docs/trust-and-budgets.md).
    const flags = { pinned: mode.pinned === true, used: previous?.used === true || known };

    if (response.status === 304 && previous) {
      // A 304 only extends the life of the document we already validated; its body is never looked at.
      const fresh = entryFrom(
        cid,
        { metadata: previous.metadata, loopbackOnly: previous.loopbackOnly },
        policy,
        now,
        flags,
      );
      const entry: CacheEntry = {
        ...fresh,
        ...(fresh.etag || !previous.etag ? {} : { etag: previous.etag }),
        ...(fresh.lastModified || !previous.lastModified ? {} : { lastModified: previous.lastModified }),
      };
      const kept = policy.store ? await this.#store(entry, mode) : { stored: false, entry };
      report({ kind: kept.stored ? 'stored' : 'unstored' });
      o.backoff.clear(cid);
      o.known?.refreshed(cid, true);
      return answered(kept.entry, Reason.Revalidated, 'origin');
    }

    let validated: ReturnType<typeof validateDocument>;
    try {
      validated = validateDocument(response.body, cid, o.capabilities, o.documentRules);
    } catch (cause) {
      const error = isCimdError(cause) ? cause : new CimdError(Reason.RejectedDocument, String(cause), { cause });
      report(failedOutcome(error));
      o.known?.refreshed(cid, false);
      // An invalid document is never a reason for a stale copy, and never overwrites a valid entry.
      return this.#fail(cid, error, 'origin');
    }

    const entry = entryFrom(cid, validated, policy, now, flags);
    let kept = { stored: false, entry };
    if (policy.store || mode.pinned) kept = await this.#store(entry, mode);
    else if (previous && o.generations.current(cid) === mode.generation) {
      // `no-store` (RFC 9111 §5.2.2.5): an entry stored earlier must not outlive this response.
      await o.cache.delete(cid);
    }
    report({ kind: kept.stored ? 'stored' : 'unstored' });
    o.backoff.clear(cid);
    o.known?.refreshed(cid, true);
    return answered(kept.entry, Reason.Fetched, 'origin');
  }

  /** Validates a document an operator supplies for a pin (draft §7.2 pre-registration); nothing is fetched. */
  pinnedFromDocument(cid: string, document: string | Uint8Array): CacheEntry {
    const validated = validateDocument(document, cid, this.#o.capabilities, this.#o.documentRules);
    const now = this.#o.now();
    const policy = cachePolicy({}, now, this.#o.lifetime);
    return entryFrom(cid, validated, { ...policy, etag: undefined, lastModified: undefined }, now, {
      pinned: true,
      used: true,
    });
  }
}
