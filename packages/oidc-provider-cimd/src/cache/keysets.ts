/**
 * Key sets of CIMD clients (`jwks_uri`), cached in both tiers like documents but apart from them (README "Trust
 * policy and fetch budgets", docs/trust-and-budgets.md "Key sets"). oidc-provider keeps a client's keys in its
 * own in-memory key store and asks its `fetch` hook for the `jwks_uri` whenever that store is stale (at least
 * 60 s after the last answer) or a new client object is built (a new instance, a changed document): the plugin
 * answers those requests from here (plugin/provider-fetch.ts), so a second instance, a restart or a document
 * change does not cost a fetch, and oidc-provider's own verification semantics stay as they are.
 *
 * - **Lifetime**: the response's HTTP caching headers, clamped like documents' (rules/http-cache.ts); `no-store`
 *   is honoured (never stored).
 * - **Last good key set**: an entry is kept {@link KEYSET_STALE_MS} past its freshness; when a refetch fails in
 *   that time, it is served instead (event `jwks_stale`), and never after it (`jwks_fetch_failed`).
 * - **Refetch window**: an entry is refetched from its origin at most once per client per
 *   {@link KEYSET_REFETCH_WINDOW_MS}, whatever triggered it (an unknown `kid`, staleness), on every instance
 *   sharing the store: a marker in the shared tier next to the entry. Two instances that read the marker at
 *   the same moment may both refetch once; never one per token request.
 * - **Bounded growth**: a key set is fetched before the assertion's signature is checked, so anyone can make the
 *   plugin fetch one. The shared tier keeps the key set of a client that never completed an authorization for
 *   its freshness, at most {@link UNUSED_RETENTION_MS}, like its document (cache/retention.ts); a known-good
 *   client's for the whole stale window.
 *
 * Entries live under `cimd:jwks:<cid>`, never in the document entry (cache/entry.ts) nor through its commits:
 * a key set is not client state that an operator command changes, and a lost write costs one fetch.
 */
import type Keyv from 'keyv';
import { LRUCache } from 'lru-cache';
import type { SharedGuard } from '../core/shared-guard.js';
import { UNUSED_RETENTION_MS } from './retention.js';

/** How long past its freshness the last good key set stands in for failed refetches. */
export const KEYSET_STALE_MS = 24 * 60 * 60 * 1000;
/** At most one refetch of a client's key set from its origin per this window (unknown `kid`, staleness). */
export const KEYSET_REFETCH_WINDOW_MS = 30 * 1000;
/** Shared-store key prefix of key-set entries. */
export const KEYSET_KEY_PREFIX = 'cimd:jwks:';
/** Shared-store key prefix of the refetch-window markers. */
export const KEYSET_REFETCH_KEY_PREFIX = 'cimd:jwks-refetch:';

export interface KeySetEntry {
  v: 1;
  /** The `jwks_uri` it was fetched from: an entry for another URL is not this client's key set any more. */
  uri: string;
  /** The JSON Web Key Set as the origin sent it. */
  body: string;
  /** The `kid`s of its keys, to tell an unknown `kid` without parsing the body. */
  kids: string[];
  fetchedAt: number;
  freshUntil: number;
  /** Served in place of a failed refetch until then (freshUntil + KEYSET_STALE_MS), never after. */
  staleUntil: number;
}

export interface KeySetCacheOptions {
  shared: Keyv;
  guard: SharedGuard;
  /** Key sets kept in process at most. */
  maxEntries: number;
  now: () => number;
}

function isEntry(value: unknown, uri: string): value is KeySetEntry {
  const entry = value as Partial<KeySetEntry> | null | undefined;
  return (
    entry !== null &&
    typeof entry === 'object' &&
    entry.v === 1 &&
    entry.uri === uri &&
    typeof entry.body === 'string' &&
    Array.isArray(entry.kids) &&
    typeof entry.freshUntil === 'number' &&
    typeof entry.staleUntil === 'number'
  );
}

/**
 * The `kid`s of a JSON Web Key Set body, or `undefined` when the body is not one (RFC 7517 §5: an object with a
 * `keys` array of objects). oidc-provider validates the keys themselves when it reads the answer.
 */
export function keySetKids(body: string): string[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !Array.isArray(keys)) return undefined;
  if (!keys.every((key) => typeof key === 'object' && key !== null && !Array.isArray(key))) return undefined;
  return keys.map((key: { kid?: unknown }) => key.kid).filter((kid): kid is string => typeof kid === 'string');
}

export class KeySetCache {
  readonly #shared: Keyv;
  readonly #guard: SharedGuard;
  readonly #now: () => number;
  readonly #memory: LRUCache<string, KeySetEntry>;
  /** When this process last refetched a client's key set (the shared marker tells the other instances). */
  readonly #refetched: LRUCache<string, number>;

  constructor(options: KeySetCacheOptions) {
    this.#shared = options.shared;
    this.#guard = options.guard;
    this.#now = options.now;
    this.#memory = new LRUCache({
      max: Math.max(1, options.maxEntries),
      maxSize: 16 * 1024 * 1024,
      sizeCalculation: (entry) => Math.max(1, entry.body.length),
    });
    this.#refetched = new LRUCache({ max: Math.max(1, options.maxEntries) });
  }

  /** The client's key set for `uri`, in process first, then the shared tier; nothing past its stale bound. */
  async read(cid: string, uri: string): Promise<KeySetEntry | undefined> {
    const now = this.#now();
    const local = this.#memory.get(cid);
    if (local && local.uri === uri && now < local.staleUntil) return local;
    const answer = await this.#guard.run(() => this.#shared.get(KEYSET_KEY_PREFIX + cid));
    const found = answer?.value;
    if (!isEntry(found, uri) || now >= found.staleUntil) return undefined;
    this.#memory.set(cid, found);
    return found;
  }

  /**
   * Whether the client's key set may be refetched from its origin now, and if so, takes the window: at most one
   * refetch per client per {@link KEYSET_REFETCH_WINDOW_MS} in this process, and across instances through the
   * shared marker.
   */
  async takeRefetch(cid: string): Promise<boolean> {
    const now = this.#now();
    const last = this.#refetched.get(cid);
    if (last !== undefined && now - last < KEYSET_REFETCH_WINDOW_MS) return false;
    const marker = await this.#guard.run(() => this.#shared.get(KEYSET_REFETCH_KEY_PREFIX + cid));
    const at = marker?.value;
    if (typeof at === 'number' && now - at < KEYSET_REFETCH_WINDOW_MS && now >= at) {
      this.#refetched.set(cid, at);
      return false;
    }
    this.#refetched.set(cid, now);
    await this.#guard.run(() =>
      this.#shared.set(KEYSET_REFETCH_KEY_PREFIX + cid, now as never, KEYSET_REFETCH_WINDOW_MS),
    );
    return true;
  }

  /** Stores a key set fetched now. `inUse`: the client is known-good, so the shared tier keeps the stale window too. */
  async write(cid: string, entry: KeySetEntry, inUse: boolean): Promise<void> {
    this.#memory.set(cid, entry);
    const now = this.#now();
    const ttl = inUse ? entry.staleUntil - now : Math.min(entry.freshUntil - now, UNUSED_RETENTION_MS);
    await this.#guard.run(() => this.#shared.set(KEYSET_KEY_PREFIX + cid, entry as never, Math.max(1, ttl)));
  }
}
