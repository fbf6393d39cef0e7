/**
 * The operator API: inspect, refresh, pin, unpin, purge. Each command obeys the URL rules and the trust policy
 * (SPEC.domainTrust, README "Operator API": a denied client id is never
 * fetched, not by an operator either), starts a new generation of the
 * CID so that no lookup already in flight can overwrite what it wrote, and emits an audit event (README "Errors and events").
 */
import type { CacheEntry, DocumentCache } from '../cache/document-cache.js';
import type { InvalidationBus, LockOutcome } from '../cluster/fetch-lock.js';
import { CimdError, Reason } from '../observe/errors.js';
import type { Emit } from '../observe/events.js';
import type { Backoff } from './backoff.js';
import type { Generations } from './generations.js';
import type { Loader, Result } from './load.js';
import type { SingleFlight } from './single-flight.js';

/** What `inspect()` reports about a cached client. */
export interface CacheInspection {
  entry: CacheEntry;
  tier: 'memory' | 'shared';
  fresh: boolean;
  ageMs: number;
  expiresInMs: number;
}

export interface OperatorApiOptions {
  /** URL rules and trust policy; throws CimdError (and reports it) when the CID may not be fetched. */
  admit: (cid: string, started: number) => Promise<void>;
  loader: Loader;
  flights: SingleFlight<Result>;
  backoff: Backoff;
  generations: Generations;
  cache: DocumentCache;
  emit: Emit;
  invalidation: () => InvalidationBus | undefined;
  /** `refresh()` of one CID at most once per this many ms; 0: no cooldown. */
  refreshCooldownMs: number;
  now: () => number;
}

export class OperatorApi {
  readonly #o: OperatorApiOptions;
  /** When each CID was last refreshed, for the cooldown; bounded by pruning entries past the cooldown. */
  readonly #refreshedAt = new Map<string, number>();

  constructor(options: OperatorApiOptions) {
    this.#o = options;
  }

  async inspect(cid: string): Promise<CacheInspection | undefined> {
    const found = await this.#o.cache.get(cid);
    if (!found) return undefined;
    const now = this.#o.now();
    const { entry } = found;
    return {
      entry,
      tier: found.tier,
      fresh: entry.pinned === true || entry.freshUntil > now,
      ageMs: now - entry.fetchedAt,
      expiresInMs: entry.pinned ? Number.POSITIVE_INFINITY : entry.freshUntil - now,
    };
  }

  #audit(reason: (typeof Reason)[keyof typeof Reason], cid: string, started: number, detail?: string): void {
    this.#o.emit(reason, cid, started, 'none', detail === undefined ? undefined : { detail });
  }

  #cooldown(cid: string, started: number): void {
    const cooldown = this.#o.refreshCooldownMs;
    if (cooldown <= 0) return;
    const now = this.#o.now();
    const last = this.#refreshedAt.get(cid);
    if (last !== undefined && now - last < cooldown) {
      const error = new CimdError(
        Reason.RateLimited,
        `refreshed ${Math.round((now - last) / 1000)} s ago; the refresh cooldown is ${Math.round(cooldown / 1000)} s`,
      );
      this.#o.emit(error.code, cid, started, 'none', { detail: error.message });
      throw error;
    }
    if (this.#refreshedAt.size > 10_000) {
      for (const [key, at] of this.#refreshedAt) if (now - at >= cooldown) this.#refreshedAt.delete(key);
    }
    this.#refreshedAt.set(cid, now);
  }

  /**
   * Fetches now, whatever the cache holds (README "Operator API"), and replaces the cached
   * entry only with a valid document. A pinned client stays pinned. Concurrent refreshes share one fetch; a
   * lookup never shares a refresh's slot.
   */
  async refresh(cid: string): Promise<CacheEntry> {
    const started = performance.now();
    await this.#o.admit(cid, started);
    const flight = this.#o.flights.run('refresh', cid, async () => {
      this.#cooldown(cid, started);
      const generation = this.#o.generations.next(cid);
      const cached = await this.#o.cache.get(cid, { preferShared: true });
      const result = await this.#o.loader.fetchAndStore(cid, cached?.entry, {
        generation,
        serveStale: false,
        ignoreBackoff: true,
        pinned: cached?.entry.pinned === true,
      });
      if (result.ok) await this.#o.invalidation()?.publish(cid);
      return result;
    });
    const result = await flight.promise;
    const marker = flight.joined ? { joined: true as const } : undefined;
    if (!result.ok) {
      const { error } = result;
      this.#o.emit(error.code, cid, started, result.tier, {
        ...marker,
        detail: error.message,
        ...(error.rule ? { rule: error.rule } : {}),
      });
      throw error;
    }
    this.#o.emit(result.answer.reason, cid, started, result.answer.tier, marker);
    this.#audit(Reason.OperatorRefresh, cid, started, result.answer.reason);
    return result.answer.entry;
  }

  /**
   * Pre-registers a client (SPEC.preRegistration): validates its document now
   * (fetched from the CID, or the one given) and stores it in both tiers as pinned. A pinned client resolves
   * without any fetch, whatever its host does, until it is unpinned (or purged). Throws CimdError when the CID or
   * the document is rejected, and Error when the shared store does not confirm the write.
   */
  async pin(cid: string, options: { document?: string | Uint8Array } = {}): Promise<CacheEntry> {
    const started = performance.now();
    await this.#o.admit(cid, started);
    const generation = this.#o.generations.next(cid);
    let entry: CacheEntry;
    let stored: boolean;
    if (options.document !== undefined) {
      entry = this.#o.loader.pinnedFromDocument(cid, options.document);
      stored = await this.#o.cache.set(entry);
    } else {
      let outcome: LockOutcome = { kind: 'unstored' };
      const result = await this.#o.loader.fetchAndStore(
        cid,
        undefined,
        { generation, serveStale: false, ignoreBackoff: true, pinned: true },
        (reported) => {
          outcome = reported;
        },
      );
      if (!result.ok) {
        this.#o.emit(result.error.code, cid, started, result.tier, { detail: result.error.message });
        throw result.error;
      }
      entry = result.answer.entry;
      stored = (outcome as LockOutcome).kind === 'stored';
    }
    if (!stored) {
      // A pin only this process knows of would be undone by the next restart: report it, and keep nothing.
      this.#o.cache.forgetLocal(cid);
      throw new Error(`oidc-provider-cimd: the shared store did not confirm the pinned entry for ${cid}`);
    }
    this.#o.backoff.clear(cid);
    await this.#o.invalidation()?.publish(cid);
    this.#audit(Reason.OperatorPin, cid, started, options.document !== undefined ? 'document given' : 'fetched');
    return entry;
  }

  /** Removes a pin, and with it the entry (as `purge` does): the next lookup fetches. False when not pinned. */
  async unpin(cid: string): Promise<boolean> {
    const started = performance.now();
    const found = await this.#o.cache.get(cid, { preferShared: true });
    if (!found?.entry.pinned) return false;
    await this.#remove(cid);
    this.#audit(Reason.OperatorUnpin, cid, started);
    return true;
  }

  /**
   * Removes the entry from the shared store and this process' tier, and (Redis) asks the other instances to
   * drop their in-process copies; an instance that misses the message keeps its copy until it goes stale.
   */
  async purge(cid: string): Promise<void> {
    const started = performance.now();
    await this.#remove(cid);
    this.#audit(Reason.OperatorPurge, cid, started);
  }

  async #remove(cid: string): Promise<void> {
    this.#o.generations.next(cid);
    this.#o.backoff.clear(cid);
    await this.#o.cache.delete(cid);
    await this.#o.invalidation()?.publish(cid);
  }
}
