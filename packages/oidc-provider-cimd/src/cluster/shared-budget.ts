/**
 * The per-host fetch budget shared by every instance on one Redis: without it, N replicas would each grant a
 * flood the full per-host budget. A fixed window counter (INCR, expiry set by the first fetch of the window) is
 * enough here: the in-process token bucket still smooths bursts, this only caps the cluster-wide total.
 */

import type { SharedGuard } from '../cache/shared-guard.js';
import type { RedisHandle } from './redis.js';

// One round trip, and the expiry can never be lost between the INCR and the PEXPIRE.
const COUNT = `local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;

export interface SharedHostBudgetOptions {
  handle: RedisHandle;
  guard: SharedGuard;
  /** Fetches per host per window, all instances together. */
  limit: number;
  windowMs: number;
}

export class SharedHostBudget {
  readonly #o: SharedHostBudgetOptions;

  constructor(options: SharedHostBudgetOptions) {
    this.#o = options;
  }

  /**
   * `true`/`false`: the cluster's answer. `undefined`: Redis did not answer in time, and the caller relies on
   * its in-process budget alone (an outage must not stop every new client from resolving).
   */
  async take(host: string): Promise<boolean | undefined> {
    const { handle, guard, limit, windowMs } = this.#o;
    const key = `${handle.keyPrefix}cimd:budget:${host}`;
    const answer = await guard.run(() =>
      handle.client.sendCommand(['EVAL', COUNT, '1', key, String(windowMs)], { timeout: guard.timeoutMs }),
    );
    if (answer === undefined) return undefined;
    const count = Number(answer.value);
    return Number.isFinite(count) ? count <= limit : undefined;
  }
}
