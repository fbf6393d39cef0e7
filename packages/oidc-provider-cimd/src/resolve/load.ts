/**
 * The loading step of the resolver: budget → guarded fetch → HTTP caching rules → document rules → commit. It
 * never emits events and never throws: it returns what happened, and the caller (one per request, joined or
 * not) reports it. That is what makes "one event per caller" hold by construction (docs/events.md).
 *
 * Every write is a commit through the document cache (the one owner of client state) against the revision the
 * caller read (`LoadMode.rev`): a lookup that started before an operator command, or before another instance
 * stored a newer entry, is superseded and writes nothing; it keeps its answer for its own request.
 */
import type { CacheEntry, CommitAnswer, CommitStatus, DocumentCache } from '../cache/document-cache.js';
import type { InvalidationBus, LockOutcome } from '../cluster/fetch-lock.js';
import { CimdError, type FailureClass, isCimdError, Reason, type ReasonCode } from '../core/errors.js';
import type { FetchBudget } from '../fetch/budget.js';
import type { Fetcher, FetchResult } from '../fetch/fetcher.js';
import type { KnownClientsView } from '../known/record.js';
import type { CacheTier } from '../observe/events.js';
import { validateDocument } from '../rules/document.js';
import { type CachePolicy, cachePolicy, type LifetimeBounds } from '../rules/http-cache.js';
import type { Backoff } from './backoff.js';
import { failureClass, mayServeStale } from './failure.js';
import type { Judge } from './judge.js';

/** A lookup that produced a document. */
export interface Answer {
  entry: CacheEntry;
  reason: ReasonCode;
  tier: CacheTier;
  detail?: string;
  /** The commit of this answer's change did not apply (it is reported in the event). */
  commit?: Exclude<CommitStatus, 'applied'>;
  /** The shared store did not answer the read, so this instance went without it. */
  sharedSkipped?: true;
}

export interface Failure {
  ok: false;
  error: CimdError;
  tier: CacheTier;
  failure: FailureClass;
  /** A revocation's deletion that did not apply. */
  commit?: Exclude<CommitStatus, 'applied'>;
  sharedSkipped?: true;
}

export type Result = { ok: true; answer: Answer } | Failure;

export const answered = (entry: CacheEntry, reason: ReasonCode, tier: CacheTier, detail?: string): Result => ({
  ok: true,
  answer: detail === undefined ? { entry, reason, tier } : { entry, reason, tier, detail },
});
export const failed = (error: CimdError, tier: CacheTier, failure: FailureClass): Failure => ({
  ok: false,
  error,
  tier,
  failure,
});

export interface LoaderOptions {
  fetcher: Fetcher;
  judge: Judge;
  cache: DocumentCache;
  lifetime: LifetimeBounds;
  /** Per host, per registrable domain and global; cluster-wide too when a shared counter is attached. */
  budget: FetchBudget;
  backoff: Backoff;
  invalidation: () => InvalidationBus | undefined;
  /** Transport fallback window past freshness, ms; 0 turns it off. */
  transportFallbackMs: number;
  now: () => number;
  /** Which clients are known-good (known/record.ts): durable, never cache presence. Absent: none is. */
  known?: KnownClientsView | undefined;
}

export interface LoadMode {
  /**
   * The revision of the entry the caller read; its commit applies only while that revision is current.
   * `undefined`: the shared store did not answer the read (a lookup then commits only where nothing is stored),
   * or an operator command that overrides whatever is there (pin).
   */
  rev: number | undefined;
  /** Lookups never replace or remove a pinned entry; operator commands may. */
  authority: 'lookup' | 'operator';
  /** Lookups may answer a failed refresh with a stale copy; operator commands never do. */
  serveStale: boolean;
  /** Operator commands fetch even during a back-off. */
  ignoreBackoff: boolean;
  /** Store the result as a pinned entry (pin, or refresh of a pinned client). */
  pinned?: boolean;
  /** An operator refresh: the entry records when it was last refreshed (the refresh cooldown counts from it). */
  refresh?: boolean;
}

export function failedOutcome(error: CimdError, failure: FailureClass): LockOutcome {
  return {
    kind: 'failed',
    code: error.code,
    message: error.message,
    failure,
    ...(error.rule ? { rule: error.rule } : {}),
  };
}

function entryFrom(
  cid: string,
  validated: Pick<ReturnType<typeof validateDocument>, 'metadata' | 'loopbackOnly'>,
  policy: CachePolicy,
  now: number,
  flags: { pinned: boolean; used: boolean; rules: string; document?: string | undefined; refreshedAt?: number },
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
    rules: flags.rules,
    ...(flags.document !== undefined ? { document: flags.document } : {}),
    ...(flags.refreshedAt !== undefined ? { refreshedAt: flags.refreshedAt } : {}),
  };
}

/** The raw document kept with the entry, for judging it again without fetching. */
const rawDocument = (body: string | Uint8Array): string =>
  typeof body === 'string' ? body : Buffer.from(body).toString('utf8');

export class Loader {
  readonly #o: LoaderOptions;

  constructor(options: LoaderOptions) {
    this.#o = options;
  }

  /**
   * A previously valid copy that may stand in for a refresh that did not happen or failed, with the reason code
   * that says why; undefined when none may. Order: the origin's own stale-if-error first, then the operator's
   * transport fallback (transport failures only, and only for clients in use: docs/caching.md "Revocation, stale copies
   * and the transport fallback"). An invalid document or a revocation never gets one (failure.ts).
   */
  #staleStandIn(previous: CacheEntry | undefined, error: CimdError, failure: FailureClass): Answer | undefined {
    if (!previous || previous.pinned || !this.#o.judge.isCurrent(previous)) return undefined;
    const now = this.#o.now();
    const detail = error.message;
    if (now < previous.staleIfErrorUntil && mayServeStale(failure, 'stale_if_error')) {
      return { entry: previous, reason: Reason.StaleIfError, tier: 'memory', detail };
    }
    const fallback = this.#o.transportFallbackMs;
    if (
      fallback > 0 &&
      previous.used === true &&
      now < previous.freshUntil + fallback &&
      mayServeStale(failure, 'fallback')
    ) {
      return { entry: previous, reason: Reason.StaleFallback, tier: 'memory', detail };
    }
    return undefined;
  }

  /**
   * Over budget, the last valid copy stands in instead of an error, but only within the bounds a failed refresh
   * has (stale-if-error, the transport fallback of a client in use: no fetch reached the origin, as with a
   * transport failure), never past them and never past a revocation (docs/trust-and-budgets.md).
   */
  #overBudgetStandIn(previous: CacheEntry | undefined, reason: string): Answer | undefined {
    const standIn = this.#staleStandIn(previous, new CimdError(Reason.RateLimited, reason), 'transport');
    return standIn ? { ...standIn, reason: Reason.StaleOverBudget, detail: reason } : undefined;
  }

  /** Whether `cid` is known-good now: a durable fact (known/record.ts), never whether a copy is cached. */
  async #isKnown(cid: string): Promise<boolean> {
    const answer = this.#o.known?.isKnown(cid);
    return answer instanceof Promise ? await answer : answer === true;
  }

  /**
   * After a failed fetch (here, or another instance's: `tier`), with the failure's class decided where it
   * happened: answers from a stale copy when the class allows one, and starts the back-off either way, so that
   * serving stale does not refetch on every request.
   */
  failOrStale(
    cid: string,
    previous: CacheEntry | undefined,
    error: CimdError,
    failure: FailureClass,
    mode: LoadMode,
    tier: CacheTier = 'origin',
  ): Result {
    let stale: Answer | undefined;
    if (mode.serveStale) {
      stale =
        failure === 'limited'
          ? this.#overBudgetStandIn(previous, error.message)
          : this.#staleStandIn(previous, error, failure);
    }
    if (failure !== 'limited') this.#o.backoff.start(cid, failure);
    return stale ? { ok: true, answer: stale } : failed(error, tier, failure);
  }

  /**
   * Commits a lookup's (or an operator's) entry, or its deletion (`entry: undefined`). A refresh that a lookup
   * overtook (a newer revision that is still an entry, pinned as before) commits on top of it: the refresh
   * fetched later. A deletion or a pin change in between is an operator's, and the refresh is superseded.
   */
  async commit(cid: string, entry: CacheEntry | undefined, mode: LoadMode): Promise<CommitAnswer> {
    const cache = this.#o.cache;
    let expected = mode.rev ?? (mode.authority === 'lookup' ? 0 : undefined);
    for (let attempt = 0; ; attempt++) {
      const answer = await cache.commit(cid, { authority: mode.authority, expected, entry });
      if (answer.status === 'unavailable' && mode.authority === 'lookup' && entry) {
        // The store is down: this process still serves what it validated (docs/caching.md).
        cache.holdLocal(entry, mode.rev ?? 0);
      }
      if (answer.status !== 'superseded' || !mode.refresh || attempt >= 2) return answer;
      const now = await cache.readShared(cid);
      if (!now.entry || now.rev === undefined || now.entry.pinned !== entry?.pinned) return answer;
      expected = now.rev;
    }
  }

  /** Tells the other instances to drop their older in-process copies, stamped with the committed revision. */
  async publish(cid: string, answer: CommitAnswer): Promise<void> {
    if (answer.status !== 'applied') return;
    await this.#o.invalidation()?.publish(cid, answer.rev);
  }

  /**
   * Fetches `cid` and commits a valid document. `previous` is the copy the caller holds (for conditional
   * requests, stale stand-ins and revocation). `report` learns the outcome for the cluster-wide lock's waiters.
   */
  async fetchAndStore(
    cid: string,
    previous: CacheEntry | undefined,
    mode: LoadMode,
    report: (outcome: LockOutcome) => void = () => {},
  ): Promise<Result> {
    const o = this.#o;
    const backedOff = mode.ignoreBackoff ? undefined : o.backoff.active(cid);
    if (backedOff !== undefined) {
      const error = new CimdError(Reason.RateLimited, 'a recent fetch of this client_id failed; backing off');
      // The back-off answers with the class of the failure that started it: after an invalid document or a
      // revocation, never a stale copy.
      report(failedOutcome(error, backedOff));
      const stale = mode.serveStale ? this.#staleStandIn(previous, error, backedOff) : undefined;
      return stale ? { ok: true, answer: stale } : failed(error, 'none', backedOff);
    }

    // A known-good client (completed an authorization, last refresh did not fail) draws on capacity that
    // first-time ids cannot exhaust (docs/trust-and-budgets.md).
    const known = await this.#isKnown(cid);
    const ticket = await o.budget.acquire(cid, { known });
    if (!ticket.granted) {
      // Over budget is rate limiting, not a failure of this client: no back-off, and no fetch.
      const reason = ticket.reason;
      const error = new CimdError(Reason.RateLimited, reason);
      report(failedOutcome(error, 'limited'));
      const stale = mode.serveStale ? this.#overBudgetStandIn(previous, reason) : undefined;
      return stale ? { ok: true, answer: stale } : failed(error, 'none', 'limited');
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
      const failure = failureClass(error);
      // Refused by a cap the fetcher applies (the resolved address's) is rate limiting, not this client's failure.
      if (failure !== 'limited') o.known?.refreshed(cid, false);
      if (previous && !previous.pinned && failure === 'revoked') {
        // Never answered with a stale copy, and removed everywhere at once (docs/caching.md "Revocation, stale copies
        // and the transport fallback"); a pin is never removed by a lookup (the commit refuses it).
        const committed = await this.commit(cid, undefined, mode);
        await this.publish(cid, committed);
        const status = committed.status;
        const revoked = new CimdError(Reason.Revoked, `${error.message}: the client's document is gone`, {
          ...(error.response ? { response: error.response } : {}),
        });
        report(failedOutcome(revoked, 'revoked'));
        o.backoff.start(cid, 'revoked');
        return { ...failed(revoked, 'origin', 'revoked'), ...(status !== 'applied' ? { commit: status } : {}) };
      }
      report(failedOutcome(error, failure));
      return this.failOrStale(cid, previous, error, failure, mode);
    } finally {
      ticket.release();
    }

    const now = o.now();
    const policy = cachePolicy(response.headers, now, o.lifetime);
    const flags = {
      pinned: mode.pinned === true,
      // A known-good client is in use whether or not a copy of its entry survived (docs/trust-and-budgets.md).
      used: previous?.used === true || known,
      rules: o.judge.fingerprint,
      ...(mode.refresh ? { refreshedAt: now } : {}),
    };

    if (response.status === 304 && previous) {
      // A 304 only extends the life of the document we already hold; its body is never looked at. The document
      // is judged again under today's rules (it may have been judged under other rules).
      const judged = o.judge.judge(previous);
      o.known?.refreshed(cid, judged.ok);
      if (!judged.ok) {
        report(failedOutcome(judged.error, 'invalid'));
        o.backoff.start(cid, 'invalid');
        return failed(judged.error, 'origin', 'invalid');
      }
      const kept = judged.entry;
      const fresh = entryFrom(cid, kept, policy, now, { ...flags, document: kept.document });
      const entry: CacheEntry = {
        ...fresh,
        ...(fresh.etag || !kept.etag ? {} : { etag: kept.etag }),
        ...(fresh.lastModified || !kept.lastModified ? {} : { lastModified: kept.lastModified }),
      };
      return this.#committed(
        cid,
        entry,
        policy.store || mode.pinned === true,
        previous,
        mode,
        report,
        Reason.Revalidated,
      );
    }

    let validated: ReturnType<typeof validateDocument>;
    try {
      validated = validateDocument(response.body, cid, o.judge.inputs.capabilities, o.judge.inputs.documentRules);
    } catch (cause) {
      const error = isCimdError(cause) ? cause : new CimdError(Reason.RejectedDocument, String(cause), { cause });
      report(failedOutcome(error, 'invalid'));
      o.known?.refreshed(cid, false);
      // An invalid document is never a reason for a stale copy, and never overwrites a valid entry.
      o.backoff.start(cid, 'invalid');
      return failed(error, 'origin', 'invalid');
    }

    o.known?.refreshed(cid, true);
    const entry = entryFrom(cid, validated, policy, now, { ...flags, document: rawDocument(response.body) });
    return this.#committed(
      cid,
      entry,
      policy.store || mode.pinned === true,
      previous,
      mode,
      report,
      Reason.Fetched,
      validated.authMethod,
    );
  }

  async #committed(
    cid: string,
    entry: CacheEntry,
    store: boolean,
    previous: CacheEntry | undefined,
    mode: LoadMode,
    report: (outcome: LockOutcome) => void,
    reason: ReasonCode,
    detail?: string,
  ): Promise<Result> {
    let committed: CommitAnswer | undefined;
    if (store) {
      committed = await this.commit(cid, entry, mode);
      if (mode.authority === 'operator') await this.publish(cid, committed);
    } else if (previous || mode.authority === 'operator') {
      // `no-store` (RFC 9111 §5.2.2.5): an entry stored earlier must not outlive this response.
      committed = await this.commit(cid, undefined, mode);
      await this.publish(cid, committed);
    }
    const status = committed?.status;
    report({ kind: store && status === 'applied' ? 'stored' : 'unstored' });
    this.#o.backoff.clear(cid);
    const answer: Answer = { entry, reason, tier: 'origin' };
    if (detail !== undefined) answer.detail = detail;
    if (status !== undefined && status !== 'applied') answer.commit = status;
    return { ok: true, answer };
  }

  /** Validates a document an operator supplies for a pin (SPEC.preRegistration); nothing is fetched. */
  pinnedFromDocument(cid: string, document: string | Uint8Array): CacheEntry {
    const { capabilities, documentRules } = this.#o.judge.inputs;
    const validated = validateDocument(document, cid, capabilities, documentRules);
    const now = this.#o.now();
    const policy = cachePolicy({}, now, this.#o.lifetime);
    return entryFrom(cid, validated, { ...policy, etag: undefined, lastModified: undefined }, now, {
      pinned: true,
      used: true,
      rules: this.#o.judge.fingerprint,
      document: rawDocument(document),
    });
  }
}
