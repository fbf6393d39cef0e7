/**
 * Two provider instances configured through the plugin that share one private redis-server (started here on
 * 127.0.0.1, persistence off, killed at the end), as two replicas of a deployment would.
 */
import { type CimdOptions, createRedisCache } from 'oidc-provider-cimd';
import { startRedisServer, type TestRedisServer } from '../../test/helpers/redis-server.js';
import { type BenchProvider, startProvider } from './providers.js';

export interface Cluster {
  redis: TestRedisServer;
  instances: [BenchProvider, BenchProvider];
  close(): Promise<void>;
}

export async function startCluster(ca: string, options: CimdOptions = {}): Promise<Cluster> {
  const redis = await startRedisServer();
  const caches: Awaited<ReturnType<typeof createRedisCache>>[] = [];
  const instances: BenchProvider[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const cache = await createRedisCache(redis.url, { maxReconnectDelayMs: 200 });
      caches.push(cache);
      instances.push(await startProvider({ kind: 'plugin', ca, cimd: { ...options, cache } }));
    }
  } catch (error) {
    await redis.close();
    throw error;
  }
  return {
    redis,
    instances: instances as [BenchProvider, BenchProvider],
    async close() {
      await Promise.allSettled(instances.map((instance) => instance.close()));
      await Promise.allSettled(caches.map((cache) => cache.disconnect()));
      await redis.close();
    },
  };
}
