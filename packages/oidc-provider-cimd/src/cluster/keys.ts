/**
 * The plugin's own Redis keys and channel, in one place: the fetch lock, its outcome, the shared host budget
 * and the invalidation channel. The server (createCimd), the command line (which builds the plugin on the
 * deployment's store) and the example all reach Redis through `createRedisCache`, so they act on exactly these
 * keys by construction.
 *
 * A client's entry is one record under `cimd:doc:<cid>` (core/entry.ts); every change to it is one commit
 * script on that single key (cache/commit-store.ts), which a Redis Cluster runs on the master of the key's slot,
 * so it needs no hash tag. Consent and logo records are each read and written on their own, in any slot. The keys that one script touches
 * together are the lock and the outcome of one CID: both carry the hash tag `{<cid>}`, so they always share a
 * hash slot (Redis Cluster specification, "Hash tags": only the part between the first `{` and the next `}` is
 * hashed). In both keys the first `{` is the one before the CID and the same CID text follows it, so the
 * hashed part is identical for any CID, even one containing `}`. A namespace containing `{` or `}` would move the tag into the namespace for some
 * keys and not others; `createRedisCache` refuses one (see `checkNamespace`).
 */

/** Prefix of the plugin's keys under a namespace: `<namespace>::`, or nothing without a namespace. */
export function keyPrefixFor(namespace: string | undefined): string {
  return namespace ? `${namespace}::` : '';
}

/** Why a namespace cannot be used, or `undefined` when it can. */
export function checkNamespace(namespace: string): string | undefined {
  if (/[{}]/.test(namespace)) {
    return `namespace ${JSON.stringify(namespace)} contains "{" or "}": on Redis Cluster that would change which part of each key is hashed, and keys one script touches together could land in different slots`;
  }
  return undefined;
}

export interface KeyLayout {
  /** Prefix of every key and channel: `<namespace>::` or ``. */
  readonly prefix: string;
  /** The fetch lock of one CID. Shares its hash slot with `outcome(cid)`. */
  lock(cid: string): string;
  /** The outcome a lock holder publishes for the waiters of its round. Shares its hash slot with `lock(cid)`. */
  outcome(cid: string): string;
  /** The fixed-window fetch counter of one host (one key per script call). */
  budget(host: string): string;
  /**
   * The channel carrying invalidations (purge, refresh, revocation) to the other instances. One channel for
   * the deployment: on a cluster it is a sharded channel, owned by the shard of its hash slot.
   */
  readonly invalidationChannel: string;
}

export function keyLayout(prefix: string): KeyLayout {
  return {
    prefix,
    lock: (cid) => `${prefix}cimd:lock:{${cid}}`,
    outcome: (cid) => `${prefix}cimd:outcome:{${cid}}`,
    budget: (host) => `${prefix}cimd:budget:{${host}}`,
    invalidationChannel: `${prefix}cimd:invalidate`,
  };
}
