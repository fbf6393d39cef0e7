/**
 * Bounded shared-store growth (README "Sizing Redis"): documents of client ids that never completed an
 * authorization — what an attacker can mint without limit — leave Redis at their freshness lifetime, however
 * long their responses ask to be kept past it (stale-if-error, validators for the revalidation grace). A client
 * in use keeps the longer windows.
 */
import type { Adapter } from 'oidc-provider';
import { createRedisCache } from 'oidc-provider-cimd';
import { startRedisServer, type TestRedisServer } from '../helpers/redis-server.js';
import { clientDoc, configuredCimd, type DocServer, startDocServer } from './support.js';

// Every document key with its remaining life: { count, longest PTTL, shortest PTTL } in one round trip.
const TTLS = `local keys = redis.call('KEYS', ARGV[1])
local longest, shortest = -3, 9007199254740991
for _, key in ipairs(keys) do
  local ttl = redis.call('PTTL', key)
  if ttl > longest then longest = ttl end
  if ttl < shortest then shortest = ttl end
end
return {#keys, longest, shortest}`;

// Every document's own time to live is what is checked, so a few hundred show it as well as thousands; 5,000
// real TLS fetches took over two minutes with both cores busy, longer than the test's own time limit.
const JUNK = 500;

describe('shared-store retention with Redis', () => {
  let redis: TestRedisServer;
  let docs: DocServer;
  const FRESH_S = 300;

  beforeAll(async () => {
    redis = await startRedisServer();
    docs = await startDocServer();
    docs.route('/used/client.json', {
      body: clientDoc(docs.cid('/used/client.json')),
      headers: { 'cache-control': `max-age=${FRESH_S}, stale-if-error=86400`, etag: '"v1"' },
    });
  });
  afterAll(async () => {
    await docs.close();
    await redis.kill();
  });

  test(`${JUNK} attacker documents expire at their freshness lifetime, not after the stale and grace windows`, async () => {
    const cache = await createRedisCache(redis.url);
    const { cimd, config } = await configuredCimd({
      cache,
      // Not a test of the deadlines: a loaded machine must not turn slow writes into missing keys, nor a slow TLS
      // handshake with the local host (50 at once, in this busy process) into a failed fetch. With the default
      // 3 s connect deadline this test failed when both cores were busy; the deadlines have their own tests.
      sharedCacheTimeoutMs: 10_000,
      connectTimeoutMs: 120_000,
      timeoutMs: 120_000,
      budget: {
        perHostBurst: 100_000,
        perHostPerSecond: 100_000,
        perDomainBurst: 100_000,
        perDomainPerSecond: 100_000,
        maxConcurrent: 64,
        maxConcurrentPerDomain: 64,
        maxConcurrentPerAddress: 64,
      },
    });
    try {
      for (let i = 0; i < JUNK; i++) {
        docs.route(`/junk/${i}`, (req) => ({
          body: clientDoc(docs.cid(req.url ?? '')),
          headers: { 'cache-control': `max-age=${FRESH_S}, stale-if-error=86400`, etag: `"j${i}"` },
        }));
      }
      for (let start = 0; start < JUNK; start += 50) {
        await Promise.all(Array.from({ length: 50 }, (_, k) => cimd.resolve(docs.cid(`/junk/${start + k}`))));
      }
      const [count, longest, shortest] = (await redis.command('EVAL', TTLS, 0, '*cimd:doc:*')) as number[];
      expect(count).toBe(JUNK);
      expect(shortest).toBeGreaterThan(0);
      expect(longest).toBeLessThanOrEqual(FRESH_S * 1000);

      // A client a user approved (a grant saved through the provider's adapter) keeps its longer windows.
      const used = docs.cid('/used/client.json');
      await cimd.resolve(used);
      const grants = (config.adapter as (name: string) => Adapter)('Grant');
      await grants.upsert('grant-1', { clientId: used, accountId: 'alice' }, 60);
      let ttl = 0;
      for (let i = 0; i < 50 && ttl <= FRESH_S * 1000; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        const keys = (await redis.command('KEYS', `*cimd:doc:${used}`)) as string[];
        ttl = (await redis.command('PTTL', keys[0]!)) as number;
      }
      expect(ttl).toBeGreaterThan(24 * 60 * 60 * 1000);
    } finally {
      await cimd.close();
      await cache.disconnect();
    }
  }, 120_000);
});
