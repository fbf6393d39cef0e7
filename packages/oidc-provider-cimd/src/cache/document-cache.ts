/**
 * Two-tier cache of validated documents: a bounded in-process LRU in front of a Keyv store that may be
 * shared between provider instances (Redis). The shared tier is best effort: every operation on it has a
 * deadline, and a slow or dead store reads as a miss.
 */
import type Keyv from 'keyv';
import { LRUCache } from 'lru-cache';
import type { ClientMetadata } from '../rules/document.js';
import { isGrantWithoutUser } from '../rules/document.js';
import type { SharedGuard } from './shared-guard.js';

export interface CacheEntry {
  /**
   * Format version of the stored value. 2: grants in which no user takes part are dropped at validation unless
   * the trust policy grants them (draft-03 era rules). Version-1 entries predate that rule, and are read with
   * those grants removed (see `upgrade`).
   */
  v: 2;
  cid: string;
  metadata: ClientMetadata;
  loopbackOnly: boolean;
  fetchedAt: number;
  freshUntil: number;
  /** Until when the entry may stand in for a failed refresh (equals freshUntil without stale-if-error). */
  staleIfErrorUntil: number;
  etag?: string;
  lastModified?: string;
  /** Pinned entries are kept until an operator unpins them and are never refetched. */
  pinned?: boolean;
  /**
   * The client completed an authorization (a user approved it). Only such clients keep their document in the
   * shared store past its freshness lifetime (stale-if-error, the transport fallback, the revalidation grace):
   * documents of ids that never completed an authorization are the ones an attacker can mint without limit, and
   * they leave the store when they go stale (bounded shared-store growth).
   */
  used?: boolean;
}

export type CacheLookup = { entry: CacheEntry; tier: 'memory' | 'shared' };

export interface DocumentCacheOptions {
  shared: Keyv;
  maxEntries: number;
  /** Deadline (and circuit breaker) for every shared-store operation. */
  guard: SharedGuard;
  /** After the fresh (or stale-if-error) window, keep an entry that has validators this much longer, for a conditional refetch. */
  revalidationGraceMs: number;
  /** The transport fallback window past freshness (0: off); a client in use is kept at least this long. */
  transportFallbackMs?: number;
  now: () => number;
}

/**
 * The longest the shared store keeps the document of a client that never completed an authorization: long
 * enough for a sign-in in progress and the herd of its requests, whatever freshness lifetime the response asks
 * for. Documents are what anyone can mint without limit; this makes the store's worst case
 * `rate × UNUSED_RETENTION_MS × entry size` (docs/trust-and-budgets.md).
 */
export const UNUSED_RETENTION_MS = 5 * 60 * 1000;

/** Key of a document in the shared store (the store may add its own namespace). */
export const DOCUMENT_KEY_PREFIX = 'cimd:doc:';

/**
 * A stored entry written by an earlier version (format 1) may name grants in which no user takes part
 * (`client_credentials`, CIBA …), which a self-asserted document must never get unless the trust policy grants
 * them (draft-ietf-oauth-client-id-metadata-document-02 §4, RFC 7591 §2). It is read with those grants removed; the next refetch applies the current rules in full.
 */
function upgrade(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || (value as { v?: unknown }).v !== 1) return value;
  const entry = value as { metadata?: { grant_types?: unknown } };
  const grants = entry.metadata?.grant_types;
  const metadata =
    entry.metadata && Array.isArray(grants)
      ? { ...entry.metadata, grant_types: grants.filter((g) => typeof g === 'string' && !isGrantWithoutUser(g)) }
      : entry.metadata;
  return { ...entry, metadata, v: 2 };
}

function isEntry(value: unknown): value is CacheEntry {
  if (value === null || typeof value !== 'object') return false;
  const entry = value as Partial<CacheEntry>;
  return (
    entry.v === 2 &&
    typeof entry.cid === 'string' &&
    typeof entry.fetchedAt === 'number' &&
    typeof entry.freshUntil === 'number' &&
    typeof entry.staleIfErrorUntil === 'number' &&
    typeof entry.loopbackOnly === 'boolean' &&
    entry.metadata !== null &&
    typeof entry.metadata === 'object'
  );
}

/**
 * Cost model (what the benchmarks hold us to): a warm lookup is `peek()` — a Map lookup, no I/O, no Redis
 * command. A shared-tier hit is one `get()` on the store (one Redis `GET`). Writes are one `SET ... PX`.
 *
 * Reach: `delete()` clears the shared store and this process' tier. Other processes' in-process copies are
 * dropped by the invalidation messages the plugin publishes when the store is Redis (see fetch-lock.ts); an
 * instance that misses a message keeps its copy until that copy's own freshness ends.
 */
export class DocumentCache {
  readonly #memory: LRUCache<string, CacheEntry>;
  readonly #shared: Keyv;
  readonly #guard: SharedGuard;
  readonly #graceMs: number;
  readonly #fallbackMs: number;
  readonly #now: () => number;

  constructor(options: DocumentCacheOptions) {
    this.#memory = new LRUCache({ max: options.maxEntries });
    this.#shared = options.shared;
    this.#guard = options.guard;
    this.#graceMs = options.revalidationGraceMs;
    this.#fallbackMs = options.transportFallbackMs ?? 0;
    this.#now = options.now;
  }

  /** Synchronous in-process lookup: the warm path costs no I/O at all. */
  peek(cid: string): CacheEntry | undefined {
    return this.#memory.get(cid);
  }

  /**
   * The entry for a CID: the in-process copy while it is fresh, else the shared store's (when it is at least as
   * recent), else the stale in-process copy. `preferShared` consults the shared store even when the local copy
   * is fresh (another instance may hold a newer one).
   */
  async get(cid: string, options: { preferShared?: boolean } = {}): Promise<CacheLookup | undefined> {
    const local = this.#memory.get(cid);
    if (local && !options.preferShared && (local.pinned || local.freshUntil > this.#now())) {
      return { entry: local, tier: 'memory' };
    }
    const remote = await this.getShared(cid);
    if (remote && (!local || remote.fetchedAt >= local.fetchedAt)) return { entry: remote, tier: 'shared' };
    return local ? { entry: local, tier: 'memory' } : undefined;
  }

  /** The shared store's entry only (one store read); a well-formed one is copied into the in-process tier. */
  async getShared(cid: string): Promise<CacheEntry | undefined> {
    const remote = await this.#readShared(cid);
    if (!remote) return undefined;
    const local = this.#memory.get(cid);
    if (!local || remote.fetchedAt >= local.fetchedAt) this.#remember(remote);
    return remote;
  }

  /** One store read. The shared store may hold anything (another version, a tampered value): only a
   * well-formed entry for this very CID counts. */
  async #readShared(cid: string): Promise<CacheEntry | undefined> {
    const answer = await this.#guard.run(() => this.#shared.get(DOCUMENT_KEY_PREFIX + cid));
    const remote = upgrade(answer?.value);
    return isEntry(remote) && remote.cid === cid ? remote : undefined;
  }

  /**
   * How long the shared store keeps an entry. A client in use: long enough to serve stale-if-error or the
   * transport fallback, and to revalidate cheaply. Any other client: its freshness lifetime, no more.
   */
  #retentionMs(entry: CacheEntry): number {
    // A hard bound whatever the response's max-age (bounded shared-store growth, docs/trust-and-budgets.md).
    if (!entry.used) return Math.max(1, Math.min(entry.freshUntil - this.#now(), UNUSED_RETENTION_MS));
    const base = Math.max(entry.staleIfErrorUntil, entry.freshUntil + this.#fallbackMs) - this.#now();
    const grace = entry.etag || entry.lastModified ? this.#graceMs : 0;
    return Math.max(1, base + grace);
  }

  #remember(entry: CacheEntry): void {
    // No ttl in the in-process tier, on purpose: lru-cache's ttl bookkeeping (a clock read and a timer on the
    // lookup path) costs more than the lookup itself. Freshness is checked on every read anyway; an entry past
    // its retention only ever serves as the validators of a conditional refetch (stale-if-error has its own
    // deadline in the entry), and it leaves with the least recently used ones.
    this.#memory.set(entry.cid, entry);
  }

  /** Stores in both tiers. Resolves to whether the shared store confirmed the write (never rejects). */
  async set(entry: CacheEntry): Promise<boolean> {
    this.#remember(entry);
    const ttl = entry.pinned ? undefined : this.#retentionMs(entry);
    const answer = await this.#guard.run(() => this.#shared.set(DOCUMENT_KEY_PREFIX + entry.cid, entry, ttl));
    return answer?.value === true;
  }

  /**
   * Stores a fetched (unpinned) entry unless the shared store holds a pin for the CID, which another instance
   * may have written while this one was fetching: a pin is never overwritten by a lookup (README "Operator API"). Resolves
   * to the pinned entry found instead, or to whether the write was confirmed.
   */
  async setUnlessPinned(entry: CacheEntry): Promise<boolean | CacheEntry> {
    const local = this.#memory.get(entry.cid);
    if (local?.pinned) return local;
    const remote = await this.#readShared(entry.cid);
    if (remote?.pinned) {
      this.#remember(remote);
      return remote;
    }
    return this.set(entry);
  }

  async delete(cid: string): Promise<void> {
    this.#memory.delete(cid);
    await this.#guard.run(() => this.#shared.delete(DOCUMENT_KEY_PREFIX + cid));
  }

  /** Drops the in-process copy only (another instance refreshed or purged the entry). */
  forgetLocal(cid: string): void {
    this.#memory.delete(cid);
  }

  get size(): number {
    return this.#memory.size;
  }
}
