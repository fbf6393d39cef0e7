/**
 * What the new-client signal remembers, in the plugin's Keyv store (shared between instances when it is Redis):
 * per client id, when this server first saw it, and (hashed) which users granted it, up to the threshold that
 * makes it "not new" (SPEC.domainTrust).
 *
 * These records are advisory and may be evicted: a lost record makes the client look new again, which only adds
 * a notice. What a user approved is never kept here (see approvals.ts): it must not be evictable.
 *
 * Every store operation goes through the plugin's SharedGuard: it has a deadline, and a dead or stalled store
 * reads as "unavailable" rather than hanging a consent. Keys are hashes, so neither client ids nor account ids
 * appear in the store. Read-modify-write of the user list is not atomic across instances: two first grants at
 * the very same moment may count as one, which only delays a client's "not new" by one user.
 */
import { createHash } from 'node:crypto';
import type Keyv from 'keyv';
import { LRUCache } from 'lru-cache';
import type { SharedGuard } from '../core/shared-guard.js';

export const CLIENT_RECORD_PREFIX = 'cimd:consent:client:';

export interface ClientRecord {
  v: 1;
  /** ms since the epoch. */
  firstSeen: number;
  /** Hashes of the accounts that granted the client, at most `maxUsers` of them. */
  users: string[];
}

/** `ok: false`: the store did not answer in time (or failed); `value: undefined`: nothing stored. */
export type Read<T> = { ok: true; value: T | undefined } | { ok: false };

const hash = (...parts: string[]) => createHash('sha256').update(parts.join('\0')).digest('base64url');

function isClientRecord(value: unknown): value is ClientRecord {
  const record = value as Partial<ClientRecord> | null;
  return (
    record !== null &&
    typeof record === 'object' &&
    record.v === 1 &&
    typeof record.firstSeen === 'number' &&
    Array.isArray(record.users) &&
    record.users.every((user) => typeof user === 'string')
  );
}

export interface ConsentRecordsOptions {
  store: Keyv;
  guard: SharedGuard;
  now: () => number;
  /** How long records are kept after their last write, ms. */
  ttlMs: number;
  /** Users remembered per client; more are not needed to decide "not new". */
  maxUsers: number;
}

export class ConsentRecords {
  readonly #o: ConsentRecordsOptions;
  /**
   * Client ids whose first-seen record this process has already read or written. The record never changes
   * its first-seen time, so the consent check of every later authorization can skip the shared-store read.
   */
  readonly #noted = new LRUCache<string, true>({ max: 10_000 });

  constructor(options: ConsentRecordsOptions) {
    this.#o = options;
  }

  async #read<T>(key: string, valid: (value: unknown) => value is T): Promise<Read<T>> {
    const answer = await this.#o.guard.run(() => this.#o.store.get(key));
    if (!answer) return { ok: false };
    // Anything else in the store (another version, a tampered value) counts as nothing stored.
    return { ok: true, value: valid(answer.value) ? answer.value : undefined };
  }

  async #write(key: string, value: unknown): Promise<boolean> {
    const answer = await this.#o.guard.run(() => this.#o.store.set(key, value, this.#o.ttlMs));
    return answer?.value === true;
  }

  client(cid: string): Promise<Read<ClientRecord>> {
    return this.#read(CLIENT_RECORD_PREFIX + hash(cid), isClientRecord);
  }

  /** Remembers that the client was seen now, unless a record exists (pass the read, when there was one). */
  /** True when this process already knows the client has a first-seen record (no store read needed). */
  noted(cid: string): boolean {
    return this.#noted.has(cid);
  }

  async noteSeen(cid: string, known?: Read<ClientRecord>): Promise<ClientRecord | undefined> {
    if (!known && this.#noted.has(cid)) return undefined;
    const read = known ?? (await this.client(cid));
    if (!read.ok) return undefined;
    if (read.value) {
      this.#noted.set(cid, true);
      return read.value;
    }
    const record: ClientRecord = { v: 1, firstSeen: this.#o.now(), users: [] };
    if (await this.#write(CLIENT_RECORD_PREFIX + hash(cid), record)) this.#noted.set(cid, true);
    return record;
  }

  /** Counts `accountId` among the users who granted the client (once per user, up to `maxUsers`). */
  async addUser(cid: string, accountId: string): Promise<void> {
    const read = await this.client(cid);
    if (!read.ok) return;
    const record: ClientRecord = read.value ?? { v: 1, firstSeen: this.#o.now(), users: [] };
    const user = hash(cid, accountId).slice(0, 22);
    if (record.users.includes(user) || record.users.length >= this.#o.maxUsers) return;
    await this.#write(CLIENT_RECORD_PREFIX + hash(cid), { ...record, users: [...record.users, user] });
  }
}
