/**
 * With a Redis store, the per-host fetch budget holds for the cluster, not per instance: two instances under
 * one flood fetch no more than one instance's budget. With Redis gone, each falls back to its own budget.
 */
import type { Keyv } from '@keyv/redis';
import { createRedisCache } from 'oidc-provider-cimd';
import { clientDoc, configuredCimd, type DocServer, startDocServer } from '../cache/support.js';
import { startRedisServer, type TestRedisServer } from '../helpers/redis-server.js';

describe('fetch budget shared through Redis', () => {
  let redis: TestRedisServer;
  let docs: DocServer;
  const caches: Keyv[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    docs = await startDocServer();
  });
  afterAll(async () => {
    await Promise.allSettled(caches.map((cache) => cache.disconnect()));
    await docs.close();
    await redis.close();
  });

  /**
   * Independent of the machine's speed: the in-process budget runs on a frozen clock, so nothing refills however
   * long the flood takes (the Redis window is 100 s); concurrency is not what limits here; and with Redis up, a
   * deadline no slow machine reaches, so a busy CI box never turns a late Redis answer into "Redis is down"
   * (which falls back to each instance's own budget: 20 fetches, not 10).
   */
  const instance = async (sharedCacheTimeoutMs?: number) => {
    const cache = await createRedisCache(redis.url, { maxReconnectDelayMs: 100 });
    caches.push(cache);
    return configuredCimd({
      cache,
      budget: {
        perHostBurst: 10,
        perHostPerSecond: 0.1,
        maxConcurrent: 400,
        maxConcurrentPerDomain: 400,
        maxConcurrentPerAddress: 400,
        now: () => 0,
      },
      ...(sharedCacheTimeoutMs === undefined ? {} : { sharedCacheTimeoutMs }),
    });
  };

  const flood = async (cimds: Awaited<ReturnType<typeof instance>>['cimd'][], prefix: string, count: number) => {
    for (let i = 0; i < count; i++) docs.route(`${prefix}/${i}`, (req) => ({ body: clientDoc(docs.cid(req.url!)) }));
    const outcomes = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        cimds[i % cimds.length]!.resolve(docs.cid(`${prefix}/${i}`)).then(
          () => 'ok',
          (error: { code?: string }) => error.code,
        ),
      ),
    );
    const hits = Array.from({ length: count }, (_, i) => docs.hits(`${prefix}/${i}`)).reduce((a, b) => a + b, 0);
    return { outcomes, hits };
  };

  test('two instances together stay within one host budget', async () => {
    const a = await instance(60_000);
    const b = await instance(60_000);
    try {
      const { outcomes, hits } = await flood([a.cimd, b.cimd], '/shared-flood', 200);
      expect(hits).toBeLessThanOrEqual(10);
      expect(hits).toBeGreaterThan(0);
      expect(outcomes.filter((o) => o === 'ok')).toHaveLength(hits);
      expect(outcomes.filter((o) => o === 'rate_limited')).toHaveLength(200 - hits);
      const refusals = [...a.events, ...b.events].filter((e) => e.reason === 'rate_limited');
      expect(refusals.some((e) => /cluster-wide/.test(e.detail ?? ''))).toBe(true);
    } finally {
      await a.cimd.close();
      await b.cimd.close();
    }
  });

  test('with Redis down, each instance keeps its own budget and still resolves new clients', async () => {
    const a = await instance();
    const b = await instance();
    await redis.kill();
    try {
      const { hits } = await flood([a.cimd, b.cimd], '/outage-flood', 60);
      // Each instance grants its own burst of 10, no more.
      expect(hits).toBeGreaterThan(10);
      expect(hits).toBeLessThanOrEqual(20);
    } finally {
      await a.cimd.close();
      await b.cimd.close();
      await redis.restart();
    }
  });
});
