/**
 * The plugin's shared document cache: Redis when `REDIS_URL` is set, otherwise `undefined` (the plugin then
 * keeps documents in process memory).
 *
 * The Redis client is created here rather than by @keyv/redis so that its failure behaviour is explicit:
 * - no offline queue: a command made while disconnected fails at once instead of waiting for Redis;
 * - a per-command timeout, so a Redis that accepts connections but never answers cannot hold requests;
 * - reconnection with capped back-off, forever (the cache recovers by itself when Redis is back);
 * - an 'error' listener, so a lost connection is reported, never an unhandled 'error' event that crashes;
 * - the adapter and Keyv throw on failure, so the plugin sees a failed write as failed (not a fake success).
 * The plugin bounds every cache operation itself and falls back to its in-process tier, so Redis going away
 * only costs extra document fetches. (The plugin's `createRedisCache(url)` builds the same thing in one call.)
 */
import KeyvRedis, { createClient } from '@keyv/redis';
import Keyv from 'keyv';

export interface SharedCache {
  keyv: Keyv;
  close(): Promise<void>;
}

export function createRedisCache(url: string, onError: (error: Error) => void): SharedCache {
  const client = createClient({
    url,
    disableOfflineQueue: true,
    commandOptions: { timeout: 1000 },
    socket: {
      connectTimeout: 2000,
      reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2000),
    },
  });
  let lastReported = 0;
  client.on('error', (error: Error) => {
    // A down Redis emits an error per reconnection attempt; one line every 10 s is plenty.
    const now = Date.now();
    if (now - lastReported > 10_000) {
      lastReported = now;
      onError(error);
    }
  });
  // Connect in the background; until it succeeds every cache read is a miss.
  client.connect().catch(() => {});
  const store = new KeyvRedis(client, { namespace: 'oidc-provider-cimd', throwOnErrors: true });
  const keyv = new Keyv({ store, namespace: 'oidc-provider-cimd', throwOnErrors: true });
  // Failures reach the plugin as exceptions (and are reported by the client listener above).
  keyv.on('error', () => {});
  return {
    keyv,
    async close() {
      try {
        client.destroy();
      } catch {
        // Never connected: nothing to release.
      }
    },
  };
}
