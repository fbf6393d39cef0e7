/**
 * Which clients are known-good (docs/trust-and-budgets.md, docs/trust-and-budgets.md): a client
 * that completed an authorization with a user, recorded durably, and whose last refresh did not fail. Fetches
 * of known-good clients draw on capacity that first-time ids cannot exhaust (draft-ietf-oauth-client-id-metadata-document-03
 * §9.6, "Rate limits never lock out a known-good client").
 *
 * "Known" is a fact about the client's history, never about a cache: the record is kept with the deployment's
 * own persistence — its oidc-provider adapter, as the model `CimdKnown`, keyed by the client id, as consent
 * approvals are (consent/approvals.ts) — where the churn of documents that any unauthenticated caller can
 * present cannot push it out, and where it survives restarts and new instances. A `no-store` client is known
 * all the same: nothing here depends on its document being stored anywhere.
 *
 * An in-process LRU answers repeated questions without I/O; it is consulted only on the fetch path (a warm
 * lookup never asks), and a negative answer is remembered only briefly, so that another instance's "in use"
 * reaches this one soon.
 */
import { LRUCache } from 'lru-cache';
import type { Adapter, AdapterPayload } from 'oidc-provider';

/** The oidc-provider model name the records are stored under. */
export const KNOWN_MODEL = 'CimdKnown';

export interface KnownRecord {
  v: 1;
  clientId: string;
  /** ms since the epoch: the last completed authorization. */
  inUseAt: number;
  /** ms since the epoch: the last refresh failed then, and none succeeded since. Absent: the last refresh did not fail. */
  failedAt?: number;
}

/** What the loader asks and tells (resolve/load.ts). */
export interface KnownClientsView {
  /** True when the client completed an authorization and its last refresh did not fail. Never rejects. */
  isKnown(cid: string): boolean | Promise<boolean>;
  /** The outcome of a fetch of the client's document (a 304 counts as success). Never rejects. */
  refreshed(cid: string, ok: boolean): void;
}

export type AdapterSource = (name: string) => Adapter;

export interface KnownClientsOptions {
  now: () => number;
  /** How long one adapter call may take before it counts as "not known", ms. */
  timeoutMs: number;
  /** How long a record lives after the last completed authorization, ms. Default 90 days. */
  ttlMs?: number;
  /** Client ids remembered in process. Default 10000. */
  maxEntries?: number;
  /** How long an in-process answer is trusted before the adapter is asked again, ms. Default 60 s. */
  memoryTtlMs?: number;
  /** How long a "not known" answer is trusted, ms. Default 10 s. */
  negativeTtlMs?: number;
}

function isKnownRecord(value: unknown, cid: string): value is KnownRecord {
  const record = value as Partial<KnownRecord> | null | undefined;
  return (
    record !== null &&
    typeof record === 'object' &&
    record.v === 1 &&
    record.clientId === cid &&
    typeof record.inUseAt === 'number' &&
    (record.failedAt === undefined || typeof record.failedAt === 'number')
  );
}

async function withDeadline<T>(
  work: () => Promise<T> | T,
  ms: number,
): Promise<{ ok: true; value: T } | { ok: false }> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    Promise.resolve()
      .then(work)
      .then(
        (value) => ({ ok: true as const, value }),
        () => ({ ok: false as const }),
      ),
    new Promise<{ ok: false }>((resolve) => {
      timer = setTimeout(resolve, ms, { ok: false });
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}

const DAY = 24 * 60 * 60 * 1000;

/** In process: the record as last read or written (`null`: the adapter has none). */
type Remembered = { record: KnownRecord | null };

export class KnownClients implements KnownClientsView {
  readonly #o: Required<KnownClientsOptions>;
  readonly #memory: LRUCache<string, Remembered>;
  #adapter: Adapter | undefined;

  constructor(options: KnownClientsOptions) {
    this.#o = {
      ttlMs: 90 * DAY,
      maxEntries: 10_000,
      memoryTtlMs: 60_000,
      negativeTtlMs: 10_000,
      ...options,
    };
    this.#memory = new LRUCache({ max: this.#o.maxEntries, ttl: this.#o.memoryTtlMs, perf: { now: this.#o.now } });
  }

  /** Where the records live: `configure()` passes the adapter the provider uses. */
  use(source: AdapterSource): void {
    this.#adapter = source(KNOWN_MODEL);
  }

  get ready(): boolean {
    return this.#adapter !== undefined;
  }

  #remember(cid: string, record: KnownRecord | null): void {
    this.#memory.set(cid, { record }, record ? {} : { ttl: this.#o.negativeTtlMs });
  }

  /** The durable record (through the in-process LRU); `null` when there is none or the adapter did not answer. */
  async #read(cid: string): Promise<KnownRecord | null> {
    const remembered = this.#memory.get(cid);
    if (remembered) return remembered.record;
    const adapter = this.#adapter;
    if (!adapter) return null;
    const answer = await withDeadline(() => adapter.find(cid), this.#o.timeoutMs);
    // An adapter that did not answer is not remembered: the next fetch asks again.
    if (!answer.ok) return null;
    const record = isKnownRecord(answer.value, cid) ? answer.value : null;
    this.#remember(cid, record);
    return record;
  }

  isKnown(cid: string): boolean | Promise<boolean> {
    const remembered = this.#memory.get(cid);
    if (remembered) return remembered.record !== null && remembered.record.failedAt === undefined;
    return this.#read(cid).then((record) => record !== null && record.failedAt === undefined);
  }

  async #write(record: KnownRecord): Promise<boolean> {
    this.#remember(record.clientId, record);
    const adapter = this.#adapter;
    if (!adapter) return false;
    const expiresIn = Math.ceil(this.#o.ttlMs / 1000);
    const answer = await withDeadline(
      () => adapter.upsert(record.clientId, record as unknown as AdapterPayload, expiresIn),
      this.#o.timeoutMs,
    );
    return answer.ok;
  }

  /**
   * The client completed an authorization with a user (a grant was saved). Resolves whether the adapter
   * confirmed the write; never rejects. Does not clear a failed refresh: only a successful refresh does.
   */
  async markInUse(cid: string): Promise<boolean> {
    const previous = await this.#read(cid);
    const record: KnownRecord = { v: 1, clientId: cid, inUseAt: this.#o.now() };
    if (previous?.failedAt !== undefined) record.failedAt = previous.failedAt;
    return this.#write(record);
  }

  /** Writes only when the state changes: a known client's refreshes cost no adapter write. */
  refreshed(cid: string, ok: boolean): void {
    void this.#read(cid)
      .then((record) => {
        if (!record) return;
        if (ok && record.failedAt !== undefined) {
          const { failedAt: _cleared, ...rest } = record;
          return this.#write(rest);
        }
        if (!ok && record.failedAt === undefined) return this.#write({ ...record, failedAt: this.#o.now() });
        return undefined;
      })
      .catch(() => {});
  }

  /** Drops the in-process answers (tests, and an operator purge on this instance). */
  forgetLocal(cid: string): void {
    this.#memory.delete(cid);
  }
}
