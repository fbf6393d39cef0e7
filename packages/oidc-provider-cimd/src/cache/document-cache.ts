/**
 * Two-tier cache of validated documents: a bounded in-process LRU in front of a shared store (Redis, or any Keyv
 * store). It is the one owner of client state (docs/caching.md): every change of a client's entry goes
 * through `commit()`, a versioned commit against the revision the writer read (cache/commit-store.ts), and the
 * in-process tier only ever follows what the shared store confirmed.
 *
 * The shared tier is best effort for lookups: every operation on it has a deadline, and a slow or dead store
 * reads as "skipped" (the caller fetches, and says so in its event). Its state changes (down, back) are reported
 * once each through `onStoreState`.
 */
import type Keyv from 'keyv';
import { LRUCache } from 'lru-cache';
import type { RedisHandle } from '../cluster/redis.js';
import type { CacheEntry, CacheRead } from '../core/entry.js';
import type { SharedGuard } from '../core/shared-guard.js';
import { type Change, type CommitAnswer, type CommitStore, keyvCommitStore, redisCommitStore } from './commit-store.js';
import { type RetentionOptions, retentionMs } from './retention.js';

export type { CacheEntry, CacheRead } from '../core/entry.js';
export { DOCUMENT_KEY_PREFIX } from '../core/entry.js';
export type { CommitAnswer, CommitStatus } from './commit-store.js';

export type CacheLookup = { entry: CacheEntry; tier: 'memory' | 'shared' };

export type StoreState = 'down' | 'up';

export interface DocumentCacheOptions {
  shared: Keyv;
  /** The Redis behind `shared` (commits then run as server-side scripts); undefined for any other store. */
  redis?: RedisHandle | undefined;
  maxEntries: number;
  /** Deadline (and circuit breaker) for every shared-store operation. */
  guard: SharedGuard;
  /** After the fresh (or stale-if-error) window, keep an entry that has validators this much longer, for a conditional refetch. */
  revalidationGraceMs: number;
  /** The transport fallback window past freshness (0: off); a client in use is kept at least this long. */
  transportFallbackMs?: number;
  /** How long a deletion's tombstone keeps the revision, ms: longer than any lookup can take. Default 10 min. */
  tombstoneMs?: number;
  /** Told once when the shared store stops answering, and once when it answers again. */
  onStoreState?: (state: StoreState) => void;
  now: () => number;
}

const TOMBSTONE_MS = 10 * 60 * 1000;

/**
 * What this process holds of one client: its entry, the revision it was committed or read at, and a slot for
 * the resolver. Every change of the entry replaces the whole record (`#remember`, `forgetLocal`), so what the
 * resolver keeps in `served` never outlives the entry it was worked out for: the warm path reads one record,
 * not one structure per fact (see resolve/resolver.ts, "warm record").
 */
export interface WarmRecord {
  readonly entry: CacheEntry;
  readonly rev: number;
  /** The resolver's own: set and read by it only, dropped with the record. */
  served?: unknown;
}

/**
 * Cost model (what the benchmarks hold us to): a warm lookup is `peek()`, a Map lookup, no I/O, no Redis
 * command. A shared-tier hit is one read (one Redis `GET`). A commit is one round trip (one `EVAL`).
 *
 * Reach: a deletion clears the shared store and this process' tier. Other processes' in-process copies are
 * dropped by the invalidation messages the resolver publishes when the store is Redis (see fetch-lock.ts),
 * stamped with the revision, so that a shared read already under way cannot bring back what they dropped.
 */
export class DocumentCache {
  readonly #memory: LRUCache<string, WarmRecord>;
  /** Invalidation stamps: an in-process copy older than this revision is never remembered again. */
  readonly #floors: LRUCache<string, number>;
  readonly #store: CommitStore;
  readonly #retention: RetentionOptions;
  readonly #tombstoneMs: number;
  readonly #onStoreState: ((state: StoreState) => void) | undefined;
  #storeDown = false;
  readonly #now: () => number;

  constructor(options: DocumentCacheOptions) {
    this.#memory = new LRUCache({ max: options.maxEntries });
    // A stamp only has to outlive the reads that were under way when it was set; a deletion's tombstone lives
    // as long, so the two expire together.
    this.#floors = new LRUCache({ max: options.maxEntries, ttl: options.tombstoneMs ?? TOMBSTONE_MS });
    this.#store = options.redis
      ? redisCommitStore(options.redis, options.guard, options.now)
      : keyvCommitStore(options.shared, options.guard);
    this.#retention = {
      revalidationGraceMs: options.revalidationGraceMs,
      transportFallbackMs: options.transportFallbackMs ?? 0,
    };
    this.#tombstoneMs = options.tombstoneMs ?? TOMBSTONE_MS;
    this.#onStoreState = options.onStoreState;
    this.#now = options.now;
  }

  /** Whether commits are atomic across processes (Redis scripts) or only inside this process (other stores). */
  get commitScope(): 'cluster' | 'process' {
    return this.#store.kind === 'script' ? 'cluster' : 'process';
  }

  #answered(ok: boolean): void {
    if (ok === !this.#storeDown) return;
    this.#storeDown = !ok;
    try {
      this.#onStoreState?.(ok ? 'up' : 'down');
    } catch {}
  }

  /** Synchronous in-process lookup: the warm path costs no I/O at all. */
  peek(cid: string): CacheEntry | undefined {
    return this.#memory.get(cid)?.entry;
  }

  /** The in-process record of a CID (fresh or not), counted as a use for the LRU bound. */
  warm(cid: string): WarmRecord | undefined {
    return this.#memory.get(cid);
  }

  /**
   * The entry for a CID and the revision a commit must name: the in-process copy while it is fresh, else the
   * shared store's record. `preferShared` consults the shared store even when the local copy is fresh (another
   * instance may hold a newer one). When the shared store does not answer, the in-process copy (fresh or not)
   * comes back with `sharedSkipped` and no revision.
   */
  async read(cid: string, options: { preferShared?: boolean } = {}): Promise<CacheRead> {
    const local = this.#memory.get(cid);
    if (local && !options.preferShared && (local.entry.pinned || local.entry.freshUntil > this.#now())) {
      return { entry: local.entry, rev: local.rev, tier: 'memory' };
    }
    return this.readShared(cid);
  }

  /** The shared store's record only (one store read); a well-formed entry is copied into the in-process tier. */
  async readShared(cid: string): Promise<CacheRead> {
    const record = await this.#store.read(cid);
    this.#answered(record !== undefined);
    const local = this.#memory.get(cid);
    if (!record) return { entry: local?.entry, rev: undefined, tier: 'memory', sharedSkipped: true };
    if (record.entry) {
      this.#remember(record.entry, record.rev);
      return { entry: record.entry, rev: record.rev, tier: 'shared' };
    }
    // Nothing stored (a tombstone, or the key expired). A copy older than the record's revision is gone for
    // good (purged, revoked); an equally recent one outlived the shared key and may still serve as the
    // validators of a conditional refetch or a stale stand-in. Either way a commit names the store's revision.
    if (local && local.rev < record.rev) this.forgetLocal(cid, record.rev);
    const kept = this.#memory.get(cid);
    return { entry: kept?.entry, rev: record.rev, tier: 'memory' };
  }

  /** `read()` in the shape operator tools and consent expect: the entry and its tier, or undefined. */
  async get(cid: string, options: { preferShared?: boolean } = {}): Promise<CacheLookup | undefined> {
    const found = await this.read(cid, options);
    return found.entry ? { entry: found.entry, tier: found.tier } : undefined;
  }

  /**
   * One commit on the shared store (see commit-store.ts); the in-process tier follows what the store
   * confirmed: the committed entry when applied, nothing older than the winner's revision when superseded.
   * `entry: undefined` deletes (leaving a tombstone that keeps the revision).
   */
  async commit(cid: string, change: Omit<Change, 'ttlMs'>): Promise<CommitAnswer> {
    const ttlMs = change.entry ? retentionMs(change.entry, this.#now(), this.#retention) : this.#tombstoneMs;
    const answer = await this.#store.commit(cid, { ...change, ttlMs });
    this.#answered(answer.status !== 'unavailable');
    if (answer.status === 'applied' && answer.rev !== undefined) {
      if (change.entry) this.#remember(change.entry, answer.rev, true);
      else {
        this.#memory.delete(cid);
        this.#floors.set(cid, answer.rev);
      }
    } else if (answer.status === 'superseded' && answer.rev !== undefined) {
      const local = this.#memory.get(cid);
      if (local && local.rev < answer.rev) this.forgetLocal(cid, answer.rev);
    } else if (answer.status === 'unavailable' && change.authority === 'operator') {
      // An operator command the store did not confirm leaves nothing behind here either: a pin or a purge only
      // this process knows of would be undone by the next restart, and mislead this instance meanwhile.
      this.#memory.delete(cid);
    }
    return answer;
  }

  /**
   * Keeps an entry in this process only, at the revision the caller read: for when the shared store did not
   * answer a lookup's commit (the in-process tier then still spares a fetch per request).
   */
  holdLocal(entry: CacheEntry, rev: number): void {
    this.#remember(entry, rev);
  }

  /**
   * `committed`: this process' own commit just applied at `rev`, so it is the newest there is (revisions
   * restart when a store is emptied, so "higher" alone cannot decide). A read's entry is kept unless an
   * invalidation or a commit here has seen a later revision, or the copy held is later and no older.
   */
  #remember(entry: CacheEntry, rev: number, committed = false): void {
    if (committed) {
      this.#floors.set(entry.cid, rev);
      this.#memory.set(entry.cid, { entry, rev });
      return;
    }
    const floor = this.#floors.get(entry.cid);
    if (floor !== undefined && rev < floor) return;
    const local = this.#memory.get(entry.cid);
    if (local && local.rev > rev && local.entry.fetchedAt >= entry.fetchedAt) return;
    // No ttl in the in-process tier, on purpose: lru-cache's ttl bookkeeping (a clock read and a timer on the
    // lookup path) costs more than the lookup itself. Freshness is checked on every read anyway.
    this.#memory.set(entry.cid, { entry, rev });
  }

  /**
   * Drops the in-process copy (another instance changed the entry, or this one deleted it). With a revision
   * (the stamp of an invalidation), a copy at that revision or later is kept, and no read under way can bring
   * back an older one.
   */
  forgetLocal(cid: string, rev?: number): void {
    if (rev === undefined) {
      this.#memory.delete(cid);
      return;
    }
    const floor = this.#floors.get(cid);
    if (floor === undefined || floor < rev) this.#floors.set(cid, rev);
    const local = this.#memory.get(cid);
    if (local && local.rev < rev) this.#memory.delete(cid);
  }

  get size(): number {
    return this.#memory.size;
  }
}
