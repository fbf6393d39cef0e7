/**
 * Nothing degrades silently: the guarantees of a shared Redis (one fetch across instances, invalidation of the
 * other instances' in-process copies, one host budget for all instances) do not all hold on every store, and
 * startup says which do not, once per process and store kind, as a Node.js process warning: a `'warning'` event
 * on `process` (code `CIMD_STORE_LIMITED`, for monitoring) that Node.js also prints as one log line on stderr.
 */
import type Keyv from 'keyv';
import type { RedisHandle, StoreLimit } from './redis.js';

export const STORE_LIMIT_WARNING = 'CIMD_STORE_LIMITED';

/** The guarantees that cannot hold with this shared store. The built-in in-memory store has none to lose. */
export function storeLimits(cache: Keyv | undefined, handle: RedisHandle | undefined): StoreLimit[] {
  if (handle) return [...handle.limits];
  if (!cache) return [];
  return [
    {
      guarantee: 'fetch_lock',
      message:
        'the shared store is not Redis: instances that miss the same client at once each fetch its document (one fetch per instance, not one across instances)',
    },
    {
      guarantee: 'invalidation',
      message:
        "the shared store is not Redis: purge, refresh and revocation do not reach the other instances' in-process copies (they keep them until these go stale)",
    },
    {
      guarantee: 'commit',
      message:
        "the shared store is not Redis: commits of a client's entry are atomic only between the plugins of one process; across processes a lookup may overwrite another process' purge or refresh (a pin is never overwritten: it is kept where no lookup writes)",
    },
    {
      guarantee: 'shared_budget',
      message: 'the shared store is not Redis: each instance has its own per-host fetch budget',
    },
  ];
}

const announced = new Set<string>();

/** Emits one process warning per limit (once per process for the same text). */
export function announceStoreLimits(limits: readonly StoreLimit[]): void {
  for (const limit of limits) {
    const text = `oidc-provider-cimd: ${limit.message.replace(/^oidc-provider-cimd: /, '')}`;
    if (announced.has(text)) continue;
    announced.add(text);
    try {
      process.emitWarning(text, { code: STORE_LIMIT_WARNING, detail: `guarantee: ${limit.guarantee}` });
    } catch {}
  }
}
