/**
 * The fetch budgets shared by every instance on one Redis (SPEC.ssrf): without them, N replicas would each grant a
 * flood the full budget. Fixed window counters per host and per registrable domain; the in-process token
 * buckets (fetch/budget.ts) still smooth bursts, these only cap the cluster-wide totals. Each counter has a
 * small reserve counter that only refreshes of client ids that validated before may use, so that junk ids on a
 * popular client's host, sent to any instance, cannot lock that client out.
 */

import type { SharedGuard } from '../core/shared-guard.js';
import type { BudgetRefusal, BudgetScope, SharedBudgetCheck, TakeOptions } from '../fetch/budget.js';
import type { RedisHandle } from './redis.js';

// One round trip per counter; the expiry can never be lost between the INCR and the PEXPIRE, and a refused
// fetch does not count (a counter at its limit is not incremented).
const TAKE = `local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[2]) then return -1 end
n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;

interface Window {
  /** Fetches per window, all instances together. */
  limit: number;
  windowMs: number;
  /** Extra fetches per window for known clients. */
  reserve: number;
}

export interface SharedFetchBudgetOptions {
  handle: RedisHandle;
  guard: SharedGuard;
  host: Window;
  domain: Window;
}

type Scope = 'host' | 'domain';
type Pool = 'any' | 'known';

/**
 * The one place budget key names are made. A domain counter is named after `*.<domain>` and a reserve after a
 * `known/` prefix: neither can be a host name (`host[:port]`), so no counter can collide with another.
 */
export function budgetKey(handle: RedisHandle, scope: Scope, name: string, pool: Pool): string {
  const subject = scope === 'domain' ? `*.${name}` : name;
  return handle.keys.budget(pool === 'known' ? `known/${subject}` : subject);
}

export class SharedFetchBudget implements SharedBudgetCheck {
  readonly #o: SharedFetchBudgetOptions;

  constructor(options: SharedFetchBudgetOptions) {
    this.#o = options;
  }

  /** One counter: `true` granted, `false` at its limit, `undefined` Redis did not answer in time. */
  async #count(key: string, window: Window, limit: number): Promise<boolean | undefined> {
    const { handle, guard } = this.#o;
    // Routed by its key: on a cluster, to the master of that key's slot.
    const answer = await guard.run(() =>
      handle.send(key, ['EVAL', TAKE, '1', key, String(window.windowMs), String(limit)], guard.timeoutMs),
    );
    if (answer === undefined) return undefined;
    const count = Number(answer.value);
    return Number.isFinite(count) ? count > 0 : undefined;
  }

  async #scope(scope: Scope, name: string, window: Window, known: boolean): Promise<boolean | undefined> {
    const { handle } = this.#o;
    const main = await this.#count(budgetKey(handle, scope, name, 'any'), window, window.limit);
    if (main !== false || !known) return main;
    return this.#count(budgetKey(handle, scope, name, 'known'), window, window.reserve);
  }

  async take(
    scope: BudgetScope,
    options: TakeOptions = {},
  ): Promise<{ granted: true } | { granted: false; code: BudgetRefusal; reason: string } | undefined> {
    const known = options.known === true;
    const [host, domain] = await Promise.all([
      this.#scope('host', scope.host, this.#o.host, known),
      this.#scope('domain', scope.domain, this.#o.domain, known),
    ]);
    if (host === false) {
      return {
        granted: false,
        code: 'cluster_host_rate',
        reason: `cluster-wide fetch budget for ${scope.host} exhausted`,
      };
    }
    if (domain === false) {
      return {
        granted: false,
        code: 'cluster_domain_rate',
        reason: `cluster-wide fetch budget for ${scope.domain} exhausted`,
      };
    }
    if (host === undefined && domain === undefined) return undefined;
    return { granted: true };
  }
}
