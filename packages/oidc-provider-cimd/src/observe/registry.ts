/**
 * The client registry: which CIMD clients this deployment has seen, when first and last, with what outcome, and
 * by how many users. Operators list it with `cimd.clients()` or `cimd clients`.
 *
 * Fed from two places: the plugin's resolution events (first seen, last seen, last outcome) and successful
 * authorizations (the adapter sees each `Grant` saved, with its account id), counted as hashes only: a raw
 * account id is never stored. Kept in the plugin's Keyv store, so every instance sharing a Redis writes one
 * registry, and the command line reads the same one.
 *
 * Writes are batched: events update an in-process table, and a timer merges it into the store every
 * `flushIntervalMs`. So a busy client costs a store write per interval, not per request, and a flood of junk ids
 * costs at most one batch per interval. The registry is bounded (`maxClients`); when it is full, the clients to
 * go first are those no user ever authorized whose last outcome was a rejection, then those without users, each
 * group oldest first, so a flood of junk ids cannot push out the clients in use. Merges across instances are
 * read-modify-write, not atomic: two instances flushing the same client at the same moment may lose one of
 * the two updates of that moment (a last-seen time, one user), never a client (the next flush adds it back).
 */
import { createHash } from 'node:crypto';
import type Keyv from 'keyv';
import { readEach } from '../cache/shared-store.js';
import type { ReasonCode } from '../core/errors.js';
import type { CimdEvent } from './events.js';

export const REGISTRY_INDEX_KEY = 'cimd:registry:index';
export const REGISTRY_CLIENT_PREFIX = 'cimd:registry:client:';

export interface RegistryOptions {
  /** Clients kept. Default 1000. */
  maxClients?: number;
  /** Distinct users counted per client; more show as this number with `usersCapped`. Default 1000. */
  maxUsersPerClient?: number;
  /** How often the in-process table is merged into the store, ms. Default 10,000. */
  flushIntervalMs?: number;
  /** A client not seen for this long is dropped from the store, ms. Default 90 days. */
  retentionMs?: number;
}

/** One client as listed. */
export interface RegisteredClient {
  clientId: string;
  /** ms since the epoch. */
  firstSeen: number;
  lastSeen: number;
  /** The reason code of the client's last resolution (e.g. `fetched`, `cache_hit`, `rejected:status`). */
  lastOutcome: ReasonCode | undefined;
  lastOutcomeAt: number | undefined;
  /**
   * When a lookup of the client last emitted `would_deny` (admission mode `report`: `allowlist` would refuse it).
   * The lookup's own outcome follows in `lastOutcome`, so this is kept apart.
   */
  lastWouldDenyAt: number | undefined;
  /** Distinct users who authorized the client (counted by hash). */
  users: number;
  /** True when `users` reached `maxUsersPerClient` and later users are no longer counted. */
  usersCapped: boolean;
}

interface StoredClient {
  v: 1;
  cid: string;
  firstSeen: number;
  lastSeen: number;
  lastOutcome?: ReasonCode;
  lastOutcomeAt?: number;
  lastWouldDenyAt?: number;
  /** Truncated SHA-256 of (client id, account id). */
  users: string[];
  usersCapped: boolean;
}

interface StoredIndex {
  v: 1;
  /** hash of the client id → [last seen, has users (1/0), last outcome was a rejection (1/0)]. */
  clients: Record<string, [number, number, number]>;
}

/** Runs one store operation under the plugin's deadline; `undefined`: no answer. Never rejects. */
export type StoreRunner = <T>(op: () => Promise<T>) => Promise<{ value: T } | undefined>;

export interface RegistryDependencies {
  store: Keyv;
  run: StoreRunner;
  now: () => number;
}

const DAY = 24 * 60 * 60 * 1000;
const hashOf = (...parts: string[]) => createHash('sha256').update(parts.join('\0')).digest('base64url');
const keyOf = (cid: string) => REGISTRY_CLIENT_PREFIX + hashOf(cid);
const isRejection = (reason: ReasonCode | undefined) =>
  reason !== undefined && (reason.startsWith('rejected:') || reason === 'rate_limited' || reason === 'revoked');

function isStoredClient(value: unknown): value is StoredClient {
  const record = value as Partial<StoredClient> | null;
  return (
    record !== null &&
    typeof record === 'object' &&
    record.v === 1 &&
    typeof record.cid === 'string' &&
    typeof record.firstSeen === 'number' &&
    typeof record.lastSeen === 'number' &&
    Array.isArray(record.users) &&
    record.users.every((user) => typeof user === 'string')
  );
}

function isStoredIndex(value: unknown): value is StoredIndex {
  const index = value as Partial<StoredIndex> | null;
  return index !== null && typeof index === 'object' && index.v === 1 && typeof index.clients === 'object';
}

/** Events that say nothing about how the client fares: operator audit events, and ids that are not CIMD ids. */
function countsAsSighting(reason: ReasonCode): boolean {
  return reason !== 'rejected:url' && !reason.startsWith('operator:');
}

export class ClientRegistry {
  readonly #deps: RegistryDependencies;
  readonly #maxClients: number;
  readonly #maxUsers: number;
  readonly #flushIntervalMs: number;
  readonly #retentionMs: number;
  /**
   * Not yet written to the store: client id → what this process learned since the last flush. A plain Map (on
   * the warm path of every lookup), bounded by `#maxPending`: when full, the oldest sighting makes room.
   */
  readonly #pending = new Map<string, StoredClient>();
  readonly #maxPending: number;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #closed = false;

  constructor(deps: RegistryDependencies, options: RegistryOptions = {}) {
    // Validated by the options table (plugin/options.ts, `registry`); only the defaults are applied here.
    this.#deps = deps;
    this.#maxClients = options.maxClients ?? 1000;
    this.#maxUsers = options.maxUsersPerClient ?? 1000;
    this.#flushIntervalMs = options.flushIntervalMs ?? 10_000;
    this.#retentionMs = options.retentionMs ?? 90 * DAY;
    // Bounded between flushes too, so a flood of junk ids cannot grow the process.
    this.#maxPending = Math.max(this.#maxClients, 100);
  }

  #local(cid: string): StoredClient {
    let record = this.#pending.get(cid);
    if (!record) {
      const now = this.#deps.now();
      record = { v: 1, cid, firstSeen: now, lastSeen: now, users: [], usersCapped: false };
      if (this.#pending.size >= this.#maxPending) {
        const oldest = this.#pending.keys().next().value;
        if (oldest !== undefined) this.#pending.delete(oldest);
      }
      this.#pending.set(cid, record);
      this.#schedule();
    }
    return record;
  }

  #schedule(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, this.#flushIntervalMs);
    this.#timer.unref();
  }

  /** Feeds one plugin event. */
  noteEvent(event: CimdEvent): void {
    this.note(event.reason, event.cid);
  }

  /**
   * Feeds one resolution (reason code and client id, and the wall clock when the caller read it already),
   * without an event object: the plugin calls this on every lookup, the warm ones included, so it is a Map read
   * and two assignments. No store access.
   */
  note(reason: ReasonCode, cid: string, at?: number): void {
    if (this.#closed || !countsAsSighting(reason) || !cid.startsWith('https://')) return;
    const record = this.#local(cid);
    // The caller's clock reading when it has one (the warm path read it for freshness): one read per lookup.
    const now = at ?? this.#deps.now();
    if (now > record.lastSeen) record.lastSeen = now;
    if (reason === 'would_deny') {
      record.lastWouldDenyAt = now;
      return;
    }
    // Said at the token endpoint about an accepted request, not a resolution: the client was seen, that is all.
    if (reason === 'client_assertion_untyped') return;
    record.lastOutcome = reason;
    record.lastOutcomeAt = now;
  }

  /** Counts a user who authorized the client (the account id is hashed at once and never kept). */
  noteUser(cid: string, accountId: string): void {
    if (this.#closed || !cid.startsWith('https://') || typeof accountId !== 'string' || accountId === '') return;
    const record = this.#local(cid);
    record.lastSeen = Math.max(record.lastSeen, this.#deps.now());
    const user = hashOf(cid, accountId).slice(0, 22);
    if (record.users.includes(user)) return;
    if (record.users.length >= this.#maxUsers) record.usersCapped = true;
    else record.users.push(user);
  }

  #merge(stored: StoredClient | undefined, local: StoredClient): StoredClient {
    if (!stored) return { ...local, users: [...local.users] };
    const users = [...stored.users];
    let usersCapped = stored.usersCapped || local.usersCapped;
    for (const user of local.users) {
      if (users.includes(user)) continue;
      if (users.length >= this.#maxUsers) usersCapped = true;
      else users.push(user);
    }
    const localIsNewer = (local.lastOutcomeAt ?? -1) >= (stored.lastOutcomeAt ?? -1);
    const outcome = localIsNewer && local.lastOutcome !== undefined ? local : stored;
    return {
      v: 1,
      cid: stored.cid,
      firstSeen: Math.min(stored.firstSeen, local.firstSeen),
      lastSeen: Math.max(stored.lastSeen, local.lastSeen),
      ...(outcome.lastOutcome !== undefined ? { lastOutcome: outcome.lastOutcome } : {}),
      ...(outcome.lastOutcomeAt !== undefined ? { lastOutcomeAt: outcome.lastOutcomeAt } : {}),
      ...(stored.lastWouldDenyAt !== undefined || local.lastWouldDenyAt !== undefined
        ? { lastWouldDenyAt: Math.max(stored.lastWouldDenyAt ?? 0, local.lastWouldDenyAt ?? 0) }
        : {}),
      users,
      usersCapped,
    };
  }

  /**
   * Writes what this process learned to the store now. Resolves when done (or when the store did not answer:
   * what could not be written is kept for the next flush, unless newer sightings pushed it out).
   */
  flush(): Promise<void> {
    // One flush at a time; a flush requested meanwhile runs after the current one.
    const next = (this.#flushing ?? Promise.resolve()).then(() => this.#flushNow());
    const tracked = next.catch(() => {});
    this.#flushing = tracked;
    void tracked.then(() => {
      if (this.#flushing === tracked) this.#flushing = undefined;
    });
    return next;
  }

  async #flushNow(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#pending.size === 0) return;
    const batch = [...this.#pending.entries()];
    this.#pending.clear();
    const { store, run } = this.#deps;
    const written: StoredClient[] = [];
    const failed: [string, StoredClient][] = [];
    for (const [cid, local] of batch) {
      const read = await run(() => store.get(keyOf(cid)));
      if (!read) {
        failed.push([cid, local]);
        continue;
      }
      const merged = this.#merge(isStoredClient(read.value) ? read.value : undefined, local);
      const wrote = await run(() => store.set(keyOf(cid), merged, this.#retentionMs));
      if (wrote?.value === true) written.push(merged);
      else failed.push([cid, local]);
    }
    if (written.length > 0) await this.#updateIndex(written);
    // Keep what the store did not take, unless this process has newer sightings of the same client.
    for (const [cid, local] of failed) {
      const newer = this.#pending.get(cid);
      this.#pending.set(cid, newer ? this.#merge(local, newer) : local);
    }
    if (failed.length > 0) this.#schedule();
  }

  async #updateIndex(records: StoredClient[]): Promise<void> {
    const { store, run } = this.#deps;
    const read = await run(() => store.get(REGISTRY_INDEX_KEY));
    if (!read) return; // The next flush of these clients adds them.
    const index: StoredIndex = isStoredIndex(read.value) ? read.value : { v: 1, clients: {} };
    for (const record of records) {
      index.clients[hashOf(record.cid)] = [
        record.lastSeen,
        record.users.length > 0 ? 1 : 0,
        isRejection(record.lastOutcome) ? 1 : 0,
      ];
    }
    const evicted = this.#evict(index);
    await run(() => store.set(REGISTRY_INDEX_KEY, index, this.#retentionMs));
    for (const hash of evicted) await run(() => store.delete(REGISTRY_CLIENT_PREFIX + hash));
  }

  /** Drops clients over the bound and past retention; returns their hashes. */
  #evict(index: StoredIndex): string[] {
    const now = this.#deps.now();
    const entries = Object.entries(index.clients);
    const expired = entries.filter(([, [lastSeen]]) => now - lastSeen > this.#retentionMs).map(([hash]) => hash);
    for (const hash of expired) delete index.clients[hash];
    const live = Object.entries(index.clients);
    const excess = live.length - this.#maxClients;
    if (excess <= 0) return expired;
    // Junk first (no users, rejected), then clients without users, then the rest; oldest first in each group.
    const rank = ([, [lastSeen, hasUsers, rejected]]: [string, [number, number, number]]) =>
      (hasUsers ? 2 : rejected ? 0 : 1) * 1e15 + lastSeen;
    live.sort((a, b) => rank(a) - rank(b));
    const dropped = live.slice(0, excess).map(([hash]) => hash);
    for (const hash of dropped) delete index.clients[hash];
    return [...expired, ...dropped];
  }

  /**
   * The clients seen, most recently seen first. Writes this process's pending sightings first. Throws when the
   * store does not answer (an empty list would be a lie).
   */
  async list(): Promise<RegisteredClient[]> {
    await this.flush();
    const { store, run } = this.#deps;
    const read = await run(() => store.get(REGISTRY_INDEX_KEY));
    if (!read)
      throw new Error('oidc-provider-cimd: the shared store did not answer; the client registry cannot be read');
    if (!isStoredIndex(read.value)) return [];
    const keys = Object.keys(read.value.clients).map((hash) => REGISTRY_CLIENT_PREFIX + hash);
    const records = keys.length > 0 ? await run(() => readEach(store, keys)) : { value: [] };
    if (!records)
      throw new Error('oidc-provider-cimd: the shared store did not answer; the client registry cannot be read');
    const clients: RegisteredClient[] = [];
    for (const value of records.value) {
      if (!isStoredClient(value)) continue;
      clients.push({
        clientId: value.cid,
        firstSeen: value.firstSeen,
        lastSeen: value.lastSeen,
        lastOutcome: value.lastOutcome,
        lastOutcomeAt: value.lastOutcomeAt,
        lastWouldDenyAt: typeof value.lastWouldDenyAt === 'number' ? value.lastWouldDenyAt : undefined,
        users: value.users.length,
        usersCapped: value.usersCapped === true,
      });
    }
    return clients.sort((a, b) => b.lastSeen - a.lastSeen);
  }

  /**
   * How many clients the registry holds (every instance's), from its index alone: one store read, no flush, so
   * a metrics scrape costs little. `undefined` when the store did not answer.
   */
  async size(): Promise<number | undefined> {
    const read = await this.#deps.run(() => this.#deps.store.get(REGISTRY_INDEX_KEY));
    if (!read) return undefined;
    return isStoredIndex(read.value) ? Object.keys(read.value.clients).length : 0;
  }

  /** Stops the timer and writes what is pending. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
