/**
 * A development-only in-memory adapter for oidc-provider, used when a deployment configures no `adapter`.
 *
 * Why the plugin has its own: it wraps the `Client` model of whatever adapter the deployment uses, so it always
 * hands oidc-provider an adapter, and oidc-provider's own default (and its start-up warning) never comes into
 * play. Its default lives in an internal file (`lib/adapters/memory_adapter.js`, present only from 9.11.2) that
 * is no public API. This one implements the public `Adapter` interface with the same semantics: one store for
 * every model, expiry at `expiresIn + clockTolerance`, indexes for `findByUid` / `findByUserCode`, and a grant
 * index so `revokeByGrantId` removes every token of a grant. It is bounded (an LRU), so a flood of
 * authorization requests cannot grow it without limit; what falls out is forgotten, as after a restart.
 */

import { LRUCache } from 'lru-cache';
import type { Adapter, AdapterFactory, AdapterPayload } from 'oidc-provider';

export interface MemoryAdapterOptions {
  /** Seconds added to every `expiresIn`, as oidc-provider's `clockTolerance`. Default 0. */
  clockTolerance?: number;
  /** Entries kept, all models and indexes together. Default 10,000. */
  maxEntries?: number;
  /** Clock in epoch milliseconds, for tests. Default `Date.now`. */
  now?: () => number;
}

/** The text printed when the plugin falls back to this adapter (the substance of oidc-provider's own warning). */
export const DEVELOPMENT_ADAPTER_WARNING =
  'oidc-provider-cimd WARNING: a quick start development-only in-memory adapter is used, you MUST configure ' +
  'an adapter (configuration.adapter) in production in order to not lose all stateful provider data upon ' +
  'restart and to be able to share these between processes';

// Models whose records belong to a grant and go when it is revoked (oidc-provider's grantable models).
const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

type Entry =
  | { kind: 'record'; payload: AdapterPayload }
  | { kind: 'index'; id: string }
  // record key -> its expiry (epoch ms; Infinity when it has none)
  | { kind: 'grant'; members: Map<string, number> };

const grantKey = (grantId: string) => `grant:${grantId}`;
const uidKey = (uid: string) => `sessionUid:${uid}`;
const userCodeKey = (userCode: string) => `userCode:${userCode}`;

/**
 * A factory for `configuration.adapter`: every model shares one bounded store. Not for production: nothing
 * survives a restart and nothing is shared between processes.
 */
export function createMemoryAdapter(options: MemoryAdapterOptions = {}): AdapterFactory {
  const clockTolerance = options.clockTolerance ?? 0;
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  if (!Number.isFinite(clockTolerance) || clockTolerance < 0) {
    throw new TypeError(`oidc-provider-cimd: clockTolerance must be a number >= 0, got ${String(clockTolerance)}`);
  }
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new TypeError(`oidc-provider-cimd: maxEntries must be an integer >= 1, got ${String(maxEntries)}`);
  }

  const store: LRUCache<string, Entry> = new LRUCache<string, Entry>({
    max: maxEntries,
    // Expiry runs on the same clock as the grant index and `consumed` (checked on every read when injected).
    perf: { now },
    ...(options.now ? { ttlResolution: 0 } : {}),
    // A grant index pushed out by the bound would leave its tokens unrevocable: fail closed and drop them too.
    disposeAfter: (entry, _key, reason) => {
      if (reason !== 'evict' || entry.kind !== 'grant') return;
      for (const member of entry.members.keys()) store.delete(member);
    },
  });

  const ttlOf = (expiresIn: number | undefined) =>
    typeof expiresIn === 'number' ? Math.max(1, (expiresIn + clockTolerance) * 1000) : undefined;
  const setEntry = (key: string, entry: Entry, ttl: number | undefined) =>
    ttl === undefined ? store.set(key, entry) : store.set(key, entry, { ttl });

  const record = (key: string): AdapterPayload | undefined => {
    const entry = store.get(key);
    return entry?.kind === 'record' ? entry.payload : undefined;
  };
  const indexed = (key: string): string | undefined => {
    const entry = store.get(key);
    return entry?.kind === 'index' ? entry.id : undefined;
  };

  const removeSecondaryIndexes = (id: string, payload: AdapterPayload) => {
    if (typeof payload.uid === 'string' && indexed(uidKey(payload.uid)) === id) store.delete(uidKey(payload.uid));
    if (typeof payload.userCode === 'string' && indexed(userCodeKey(payload.userCode)) === id) {
      store.delete(userCodeKey(payload.userCode));
    }
  };

  const saveGrant = (grantId: string, members: Map<string, number>) => {
    const at = now();
    for (const [member, expiresAt] of members) if (expiresAt <= at) members.delete(member);
    if (members.size === 0) {
      store.delete(grantKey(grantId));
      return;
    }
    const last = Math.max(...members.values());
    setEntry(grantKey(grantId), { kind: 'grant', members }, Number.isFinite(last) ? last - at : undefined);
  };
  const grantMembers = (grantId: string): Map<string, number> => {
    const entry = store.get(grantKey(grantId));
    return entry?.kind === 'grant' ? entry.members : new Map();
  };

  class MemoryAdapter implements Adapter {
    readonly #model: string;

    constructor(model: string) {
      this.#model = model;
    }

    #key(id: string) {
      return `${this.#model}:${id}`;
    }

    #removeIndexes(id: string, key: string, payload: AdapterPayload) {
      removeSecondaryIndexes(id, payload);
      if (GRANTABLE.has(this.#model) && typeof payload.grantId === 'string') {
        const members = grantMembers(payload.grantId);
        members.delete(key);
        saveGrant(payload.grantId, members);
      }
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const key = this.#key(id);
      const ttl = ttlOf(expiresIn);
      const previous = record(key);
      if (previous) this.#removeIndexes(id, key, previous);

      // A copy, as a database would keep: later changes to the caller's object do not leak into the store.
      const stored = structuredClone(payload);
      if (this.#model === 'Session' && typeof stored.uid === 'string') {
        setEntry(uidKey(stored.uid), { kind: 'index', id }, ttl);
      }
      if (typeof stored.userCode === 'string') setEntry(userCodeKey(stored.userCode), { kind: 'index', id }, ttl);
      setEntry(key, { kind: 'record', payload: stored }, ttl);
      // The grant index last, so it is the most recently used entry: the bound cannot push it out (and with it,
      // this record) while this record is being written.
      if (GRANTABLE.has(this.#model) && typeof stored.grantId === 'string') {
        const members = grantMembers(stored.grantId);
        members.set(key, ttl === undefined ? Number.POSITIVE_INFINITY : now() + ttl);
        saveGrant(stored.grantId, members);
      }
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      const payload = record(this.#key(id));
      return payload === undefined ? undefined : structuredClone(payload);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const id = indexed(uidKey(uid));
      return id === undefined ? undefined : this.find(id);
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const id = indexed(userCodeKey(userCode));
      return id === undefined ? undefined : this.find(id);
    }

    async consume(id: string): Promise<void> {
      // Epoch seconds, as oidc-provider compares it; a record that is gone stays gone.
      const payload = record(this.#key(id));
      if (payload) payload.consumed = Math.floor(now() / 1000);
    }

    async destroy(id: string): Promise<void> {
      const key = this.#key(id);
      const payload = record(key);
      store.delete(key);
      if (payload) this.#removeIndexes(id, key, payload);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      const members = grantMembers(grantId);
      store.delete(grantKey(grantId));
      for (const member of members.keys()) {
        const payload = record(member);
        store.delete(member);
        if (payload) removeSecondaryIndexes(member.slice(member.indexOf(':') + 1), payload);
      }
    }
  }

  return (model: string) => new MemoryAdapter(model);
}

/**
 * The adapter `configure()` falls back to when the configuration names none, with the warning oidc-provider
 * itself would have printed: the plugin always hands oidc-provider an adapter (its Client wrapper), which
 * silences oidc-provider's own.
 */
export function developmentAdapter(clockTolerance: number | undefined): AdapterFactory {
  console.warn(DEVELOPMENT_ADAPTER_WARNING);
  return createMemoryAdapter({ clockTolerance: clockTolerance ?? 15 });
}
