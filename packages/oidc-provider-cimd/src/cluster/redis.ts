/**
 * A Redis-backed shared tier that behaves when Redis does not, on a single Redis, a Redis Cluster or a
 * Sentinel-managed primary.
 *
 * Why not `new Keyv(new KeyvRedis(url))`? Two pitfalls of `@keyv/redis` with a client it creates itself from a
 * URL (both proved in `test/cache/redis-outage.test.ts`):
 * - the client queues commands while it is disconnected (node-redis' offline queue) and reconnects forever, so a
 *   `get()` made while Redis is down hangs until Redis comes back;
 * - the adapter swallows command errors by default, so `set()` reports `true` for a write that never happened.
 *
 * So we create the node-redis clients ourselves (node-redis' own `createClient`, `createCluster` and
 * `createSentinel`, as re-exported by `@keyv/redis`): offline queue disabled (a command made while disconnected
 * fails at once), a reconnect strategy with capped exponential back-off that never gives up (the tier recovers on
 * its own), a connect timeout, a per-command timeout, and `error` listeners so that connection errors never
 * reach the process as an unhandled 'error' event. The adapter and Keyv are told to throw, so the plugin sees a
 * failure as a failure (a miss, or `false` for a write) instead of a fake success.
 *
 * The topology comes from the server unless the caller says: one short probe connection asks `INFO cluster`,
 * and a node with `cluster_enabled:1` is used through the cluster client, seeded with every node the cluster
 * reports (so that any node's URL works as the seed, and losing the seed node later loses nothing).
 *
 * The plugin's own commands (fetch lock, shared budget, invalidation) go through a `RedisHandle`, which routes
 * each one by its key on a cluster and publishes invalidations on a sharded channel (SPUBLISH/SSUBSCRIBE, Redis
 * 7) there, falling back to classic pub/sub on servers without sharded pub/sub.
 *
 * `@keyv/redis` is a dependency of the plugin (the versions of keyv and @keyv/redis it needs travel with it, so
 * a deployment's own keyv major cannot conflict); it is loaded with a dynamic `import()` only when this helper
 * is called, so deployments using the in-memory default never load it.
 */
import type Keyv from 'keyv';
import { createClusterCache, createSentinelCache, createStandaloneCache } from './clients.js';
import type { StoreLimit } from './handle.js';
import { type RedisCacheOptions, type RedisModule, redact, resolveSettings, validateOptions } from './redis-options.js';
import { probeTopology } from './topology.js';

export { slotOf } from './crc16.js';
export { describeRedisCache, type RedisHandle, redisHandleOf, type StoreLimit, type Subscription } from './handle.js';
export { type RedisCacheOptions, type RedisTopology, reconnectDelay, redisOptionsFromEnv } from './redis-options.js';

/**
 * Creates the shared tier on Redis: `cache: await createRedisCache(process.env.REDIS_URL)`, or with options
 * (`createRedisCache({ url, cluster: true })`, `createRedisCache({ sentinels: 'h1:26379,h2:26379',
 * sentinelName: 'mymaster' })`, `createRedisCache(redisOptionsFromEnv())`). Never throws for an unreachable
 * Redis (the cache then reads as empty until Redis answers); throws only when `@keyv/redis` is not installed or
 * the options are wrong (malformed URL, unknown option, ...). Release it with `await keyv.disconnect()`.
 */
export async function createRedisCache(url: string, options?: RedisCacheOptions): Promise<Keyv>;
export async function createRedisCache(options: RedisCacheOptions): Promise<Keyv>;
export async function createRedisCache(
  target: string | RedisCacheOptions,
  maybeOptions?: RedisCacheOptions,
): Promise<Keyv> {
  const options = validateOptions(target, maybeOptions);
  let redis: RedisModule;
  try {
    redis = await import('@keyv/redis');
  } catch (cause) {
    throw new Error(
      'oidc-provider-cimd: createRedisCache could not load @keyv/redis, a dependency of oidc-provider-cimd (reinstall oidc-provider-cimd)',
      { cause },
    );
  }
  const settings = resolveSettings(options);
  if (options.sentinels !== undefined) return createSentinelCache(redis, options, settings);
  const url = options.url!;
  let cluster = options.cluster;
  let seeds: string[] = [];
  const limits: StoreLimit[] = [];
  if (cluster !== false) {
    const probe = await probeTopology(redis, url, settings);
    if (probe) {
      if (cluster === true && !probe.cluster) {
        throw new Error(
          `oidc-provider-cimd: cluster: true, but ${redact(url)} is not a Redis Cluster node (INFO cluster says cluster_enabled:0)`,
        );
      }
      cluster = probe.cluster;
      seeds = probe.nodes;
    } else if (cluster === undefined) {
      cluster = false;
      settings.verifyStandalone = true;
      limits.push({
        guarantee: 'topology',
        message: `Redis at ${redact(url)} did not answer at startup, so it is assumed to be a single Redis (not a cluster); set cluster: true (REDIS_CLUSTER=true) when it is a Redis Cluster`,
      });
    }
  }
  return cluster
    ? createClusterCache(redis, url, seeds, options, settings, limits)
    : createStandaloneCache(redis, url, options, settings, limits);
}
