/**
 * Two-tier cache of validated documents: a bounded in-process LRU in front of a Keyv store that may be
 * shared between provider instances (Redis). The shared tier is best effort: every operation on it has a
 * deadline, and a slow or dead store reads as a miss.
 */
import type Keyv from 'keyv';
import { LRUCache } from 'lru-cache';
import type { ClientMetadata } from './document-rules.js';

export interface CacheEntry {
  /** Format version of the stored value. */
  v: 1;
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
}

export type CacheLookup = { entry: CacheEntry; tier: 'memory' | 'shared' };

export interface DocumentCacheOptions {
  shared: Keyv;
  maxEntries: number;
  /** Deadline for any shared-store operation, ms. */
  sharedTimeoutMs: number;
  /** After the fresh (or stale-if-error) window, keep an entry that has validators this much longer, for a conditional refetch. */
  revalidationGraceMs: number;
  now: () => number;
}

const KEY_PREFIX = 'cimd:doc:';
const TIMED_OUT = Symbol('timed out');

function isEntry(value: unknown): value is CacheEntry {
  if (value === null || typeof value !== 'object') return false;
  const entry = value as Partial<CacheEntry>;
  return (
    entry.v === 1 &&
    typeof entry.cid === 'string' &&
    typeof entry.freshUntil === 'number' &&
    typeof entry.staleIfErrorUntil === 'number' &&
    entry.metadata !== null &&
    typeof entry.metadata === 'object'
  );
}

export class DocumentCache {
  readonly #memory: LRUCache<string, CacheEntry>;
  readonly #shared: Keyv;
  readonly #timeoutMs: number;
  readonly #graceMs: number;
  readonly #now: () => number;

  constructor(options: DocumentCacheOptions) {
    this.#memory = new LRUCache({ max: options.maxEntries });
    this.#shared = options.shared;
    this.#timeoutMs = options.sharedTimeoutMs;
    this.#graceMs = options.revalidationGraceMs;
    this.#now = options.now;
  }

  /** Synchronous in-process lookup: the warm path costs no I/O at all. */
  peek(cid: string): CacheEntry | undefined {
    return this.#memory.get(cid);
  }

  async get(cid: string): Promise<CacheLookup | undefined> {
    const local = this.#memory.get(cid);
    if (local && local.freshUntil > this.#now()) return { entry: local, tier: 'memory' };
    const remote = await this.#sharedCall((store) => store.get(KEY_PREFIX + cid));
    // The shared store may hold anything (another version, a tampered value): only a well-formed entry for
    // this very CID counts.
    if (isEntry(remote) && remote.cid === cid && (!local || remote.fetchedAt >= local.fetchedAt)) {
      this.#memory.set(cid, remote);
      return { entry: remote, tier: 'shared' };
    }
    return local ? { entry: local, tier: 'memory' } : undefined;
  }

  /** How long the store keeps an entry: long enough to serve stale-if-error and to revalidate cheaply. */
  #retentionMs(entry: CacheEntry): number {
    if (entry.pinned) return 0; // no expiry
    const base = Math.max(entry.freshUntil, entry.staleIfErrorUntil) - this.#now();
    const grace = entry.etag || entry.lastModified ? this.#graceMs : 0;
    return Math.max(1, base + grace);
  }

  async set(entry: CacheEntry): Promise<boolean> {
    const ttl = this.#retentionMs(entry);
    this.#memory.set(entry.cid, entry, entry.pinned ? {} : { ttl });
    const ok = await this.#sharedCall((store) => store.set(KEY_PREFIX + entry.cid, entry, entry.pinned ? undefined : ttl));
    return ok === true;
  }

  async delete(cid: string): Promise<void> {
    this.#memory.delete(cid);
    await this.#sharedCall((store) => store.delete(KEY_PREFIX + cid));
  }

  /** Drops the in-process copy only (used when another instance may hold a newer one). */
  forgetLocal(cid: string): void {
    this.#memory.delete(cid);
  }

  get size(): number {
    return this.#memory.size;
  }

  async #sharedCall<T>(op: (store: Keyv) => Promise<T>): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        op(this.#shared),
        new Promise<typeof TIMED_OUT>((resolve) => {
          timer = setTimeout(resolve, this.#timeoutMs, TIMED_OUT);
          timer.unref();
        }),
      ]);
      return result === TIMED_OUT ? undefined : (result as T);
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }
}
