/**
 * One fetch across the cluster: when several provider processes share a Redis store and all miss the same CID
 * at once, one of them (the holder) fetches, and the others wait for its outcome instead of fetching.
 *
 * Design (and why):
 * - Lock: `SET <prefix>cimd:lock:{<cid>} <random token> NX PX <ttl>`, in a one-line script that also returns the
 *   current holder's token when the lock is taken, so a waiter knows whose outcome it is waiting for even if
 *   the holder finishes before the waiter's first poll. The ttl is the fetch timeout plus a margin: a live
 *   holder never loses the lock mid-fetch, and a holder that dies blocks the others only until the key expires.
 * - Release: a compare-and-delete script deletes the lock only when it still holds our token (a holder that
 *   overran its ttl never deletes a successor's lock) and, in the same atomic step, writes the outcome under
 *   `<prefix>cimd:outcome:{<cid>}` (short-lived, tagged with the holder's token). The `{<cid>}` hash tag puts
 *   both keys in one hash slot, so the script runs on a Redis Cluster too (see keys.ts):
 *     `stored`   — the validated document is in the shared store (its commit applied before the release), read it;
 *     `failed`   — the fetch or the document failed: code, message, rule and the failure's class (transport or
 *                  not, decided once by the holder), so that every waiter rejects the request (or serves its
 *                  own stale copy where the class allows one) exactly as the holder did, without fetching.
 *                  Failures are shared this way rather than cached as entries: an error is never an entry;
 *                  the marker lives a few seconds and is only read by waiters of that very round;
 *     `unstored` — the response was `no-store` (or the commit did not apply): nothing to share, waiters fetch
 *                  for themselves, each once.
 * - Waiters poll `MGET lock outcome` (one command, a few times per fetch — not per request: inside a process,
 *   concurrent lookups of one CID already share one promise). Pub/sub would wake them sooner but needs a
 *   dedicated connection per process and the holder's release is already one round trip away from a poll.
 * - When the lock disappears without an outcome for a token the waiter saw (holder died, its release was lost),
 *   the waiter tries to take the lock itself; after a bounded total wait it fetches directly.
 * - No Redis (any other Keyv store), or Redis down or slow: the lock is skipped and the process fetches directly
 *   (still one fetch per process thanks to the in-process single flight). A lock is an optimisation, never a
 *   dependency.
 *
 * Invalidation: operator commands, revocations and evictions publish the CID and the revision they committed
 * on `<prefix>cimd:invalidate`; every instance subscribed (one extra connection each, made lazily) drops its
 * older in-process copy, so the next lookup there reads the shared store, and a shared read already under way
 * cannot bring the older copy back (the revision is the stamp). This costs nothing on the lookup path. On a cluster the channel is sharded
 * (SPUBLISH/SSUBSCRIBE), and every command is routed to the master of its key's slot (redis.ts).
 */
import { randomBytes } from 'node:crypto';
import { isRuleId, type RuleId } from '../core/catalogue.js';
import type { FailureClass, RejectionCode } from '../core/errors.js';
import type { SharedGuard } from '../core/shared-guard.js';
import type { KeyLayout } from './keys.js';
import type { RedisHandle } from './redis.js';

export type LockOutcome =
  | { kind: 'stored' }
  | { kind: 'unstored' }
  /** `failure`: the class the holder decided (transport or not), so that every waiter answers as it did. */
  | { kind: 'failed'; code: RejectionCode; message: string; failure: FailureClass; rule?: RuleId };

export type TaggedOutcome = LockOutcome & { token: string };

export interface HeldLock {
  kind: 'held';
  token: string;
  /** Publishes the outcome and releases the lock if it is still ours. Never rejects. */
  release(outcome: LockOutcome): Promise<void>;
}

export type Acquired = HeldLock | { kind: 'busy'; holder: string } | { kind: 'unavailable' };

export interface LockPoll {
  /** The current holder's token, or null when nobody holds the lock. */
  holder: string | null;
  /** The last published outcome for this CID, whatever round it belongs to. */
  outcome: TaggedOutcome | null;
}

export interface FetchLockOptions {
  handle: RedisHandle;
  guard: SharedGuard;
  /** Lock expiry, ms. */
  ttlMs: number;
  /** How long an outcome stays readable, ms. */
  outcomeTtlMs?: number;
}

// KEYS[1] = lock, ARGV[1] = token, ARGV[2] = ttl ms. Returns 1 when taken, else the holder's token.
const ACQUIRE = `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
local holder = redis.call('GET', KEYS[1])
if holder then return holder end
return 0`;

// KEYS[1] = lock, KEYS[2] = outcome, ARGV[1] = token, ARGV[2] = outcome JSON, ARGV[3] = outcome ttl ms.
const RELEASE = `redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const REJECTION = /^(rejected:[a-z_]+|rate_limited|revoked)$/;
const FAILURE_CLASSES: ReadonlySet<unknown> = new Set(['transport', 'refused', 'revoked', 'invalid', 'limited']);

function parseOutcome(raw: unknown): TaggedOutcome | null {
  if (typeof raw !== 'string') return null;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  if (value === null || typeof value !== 'object') return null;
  const o = value as Record<string, unknown>;
  if (typeof o.token !== 'string') return null;
  if (o.kind === 'stored' || o.kind === 'unstored') return { kind: o.kind, token: o.token };
  if (
    o.kind === 'failed' &&
    typeof o.code === 'string' &&
    REJECTION.test(o.code) &&
    typeof o.message === 'string' &&
    FAILURE_CLASSES.has(o.failure)
  ) {
    return {
      kind: 'failed',
      token: o.token,
      code: o.code as RejectionCode,
      message: o.message,
      failure: o.failure as FailureClass,
      ...(isRuleId(o.rule) ? { rule: o.rule } : {}),
    };
  }
  return null;
}

export class FetchLock {
  readonly #handle: RedisHandle;
  readonly #keys: KeyLayout;
  readonly #guard: SharedGuard;
  readonly ttlMs: number;
  readonly #outcomeTtlMs: number;

  constructor(options: FetchLockOptions) {
    this.#handle = options.handle;
    this.#keys = options.handle.keys;
    this.#guard = options.guard;
    this.ttlMs = options.ttlMs;
    this.#outcomeTtlMs = options.outcomeTtlMs ?? 5000;
  }

  #lockKey(cid: string): string {
    return this.#keys.lock(cid);
  }

  #outcomeKey(cid: string): string {
    return this.#keys.outcome(cid);
  }

  /** Routed by the lock key: on a cluster, to the master of the CID's slot (the outcome key shares it). */
  #send(cid: string, args: string[]): Promise<unknown> {
    // Not connected: the handle answers "unavailable" without a round trip.
    return this.#handle.send(this.#lockKey(cid), args, this.#guard.timeoutMs);
  }

  async acquire(cid: string): Promise<Acquired> {
    const token = randomBytes(12).toString('base64url');
    const answer = await this.#guard.run(() =>
      this.#send(cid, ['EVAL', ACQUIRE, '1', this.#lockKey(cid), token, String(this.ttlMs)]),
    );
    if (!answer) return { kind: 'unavailable' };
    if (answer.value === 1) {
      return { kind: 'held', token, release: (outcome) => this.#release(cid, token, outcome) };
    }
    if (typeof answer.value === 'string') return { kind: 'busy', holder: answer.value };
    // Expired between SET and GET: the next acquire will most likely succeed; let the caller retry.
    return { kind: 'busy', holder: '' };
  }

  async #release(cid: string, token: string, outcome: LockOutcome): Promise<void> {
    const payload = JSON.stringify({ ...outcome, token });
    await this.#guard.run(() =>
      this.#send(cid, [
        'EVAL',
        RELEASE,
        '2',
        this.#lockKey(cid),
        this.#outcomeKey(cid),
        token,
        payload,
        String(this.#outcomeTtlMs),
      ]),
    );
  }

  /** One `MGET lock outcome`. `undefined`: Redis did not answer. */
  async poll(cid: string): Promise<LockPoll | undefined> {
    const answer = await this.#guard.run(() => this.#send(cid, ['MGET', this.#lockKey(cid), this.#outcomeKey(cid)]));
    if (!answer || !Array.isArray(answer.value)) return undefined;
    const [holder, outcome] = answer.value as unknown[];
    return { holder: typeof holder === 'string' ? holder : null, outcome: parseOutcome(outcome) };
  }
}

export interface InvalidationBus {
  /** `rev`: the revision the change committed; receivers never keep (or re-read) an older copy. */
  publish(cid: string, rev?: number): Promise<void>;
  close(): void;
}

/**
 * Cross-instance invalidation of in-process copies over Redis pub/sub: one subscription per instance, on its
 * own connection, subscribed again by the handle after an outage or a failover (redis.ts).
 */
export function createInvalidationBus(
  handle: RedisHandle,
  guard: SharedGuard,
  onInvalidate: (cid: string, rev?: number) => void,
): InvalidationBus {
  const channel = handle.keys.invalidationChannel;
  const self = randomBytes(9).toString('base64url');
  let subscription: { close(): void } | undefined;
  try {
    subscription = handle.subscribe(channel, (message) => {
      try {
        const { from, cid, rev } = JSON.parse(message) as { from?: unknown; cid?: unknown; rev?: unknown };
        if (from !== self && typeof cid === 'string') {
          onInvalidate(cid, typeof rev === 'number' && Number.isSafeInteger(rev) ? rev : undefined);
        }
      } catch {}
    });
  } catch {
    subscription = undefined;
  }
  return {
    async publish(cid, rev) {
      if (!handle.isReady) return;
      const message = JSON.stringify(rev === undefined ? { from: self, cid } : { from: self, cid, rev });
      await guard.run(() => handle.publish(channel, message, guard.timeoutMs));
    },
    close() {
      subscription?.close();
      subscription = undefined;
    },
  };
}
