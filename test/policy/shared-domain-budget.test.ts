/**
 * The cluster-wide fetch budgets on Redis (draft-ietf-oauth-client-id-metadata-document-03 §9.6): per host AND per registrable domain, with a reserve that
 * only refreshes of known clients draw on, so that junk ids sent to any instance cannot lock a known client out.
 */
import type { Keyv } from '@keyv/redis';
import { createRedisCache } from 'oidc-provider-cimd';
import { redisHandleOf } from '../../packages/oidc-provider-cimd/src/cluster/redis.js';
import { budgetKey, SharedFetchBudget } from '../../packages/oidc-provider-cimd/src/cluster/shared-budget.js';
import { SharedGuard } from '../../packages/oidc-provider-cimd/src/core/shared-guard.js';
import { FetchBudget } from '../../packages/oidc-provider-cimd/src/fetch/budget.js';
import { redisCommand, startRedisServer, type TestRedisServer } from '../helpers/redis-server.js';

describe('cluster-wide budgets per registrable domain', () => {
  let redis: TestRedisServer;
  const caches: Keyv[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await Promise.allSettled(caches.map((cache) => cache.disconnect()));
    await redis.close();
  });

  /** An instance: its own in-process budget (roomy, frozen clock) attached to the shared one. */
  const instance = async (namespace: string) => {
    const cache = await createRedisCache(redis.url, { namespace, maxReconnectDelayMs: 100 });
    caches.push(cache);
    const handle = redisHandleOf(cache)!;
    // Generous deadline: a slow CI box must not turn a late answer into "Redis is down".
    const shared = new SharedFetchBudget({
      handle,
      guard: new SharedGuard({ timeoutMs: 5000 }),
      host: { limit: 6, windowMs: 100_000, reserve: 2 },
      domain: { limit: 10, windowMs: 100_000, reserve: 3 },
    });
    const local = new FetchBudget(
      {
        perHostBurst: 1000,
        perDomainBurst: 1000,
        maxConcurrent: 1000,
        maxConcurrentPerDomain: 1000,
        now: () => 0,
      },
      shared,
    );
    return { local, handle };
  };

  const take = async (budget: FetchBudget, target: string, known = false) => {
    const ticket = await budget.acquire(target, { known });
    if (ticket.granted) ticket.release();
    return ticket.granted ? 'ok' : ticket.code;
  };

  test('subdomains of one domain, spread over two instances, share one cluster-wide domain budget', async () => {
    const [a, b] = [await instance('ns1'), await instance('ns1')];
    const outcomes: string[] = [];
    for (let i = 0; i < 16; i += 1)
      outcomes.push(await take(i % 2 ? a.local : b.local, `https://s${i}.slow.example/c`));
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(10);
    expect(outcomes.slice(10)).toEqual(Array(6).fill('cluster_domain_rate'));
    // Another domain is untouched.
    expect(await take(a.local, 'https://legit.other.example/c')).toBe('ok');
  });

  test('per host too, and known clients draw on a reserve that junk cannot take', async () => {
    const [a, b] = [await instance('ns2'), await instance('ns2')];
    const junk: string[] = [];
    for (let i = 0; i < 9; i += 1)
      junk.push(await take(i % 2 ? a.local : b.local, `https://popular.example/junk-${i}`));
    expect(junk.filter((o) => o === 'ok')).toHaveLength(6);
    expect(junk.at(-1)).toBe('cluster_host_rate');
    // A first-time id is refused; a refresh of a known client is not, up to the reserve.
    expect(await take(a.local, 'https://popular.example/new')).toBe('cluster_host_rate');
    expect(await take(b.local, 'https://popular.example/client', true)).toBe('ok');
    expect(await take(a.local, 'https://popular.example/client', true)).toBe('ok');
    expect(await take(a.local, 'https://popular.example/client', true)).toBe('cluster_host_rate');
  });

  test('counters: one key per host, per domain and per reserve, through the key layout, expiring with the window', async () => {
    const { handle } = await instance('ns3');
    const keys = [
      budgetKey(handle, 'host', 'a.example.com', 'any'),
      budgetKey(handle, 'domain', 'example.com', 'any'),
      budgetKey(handle, 'host', 'a.example.com', 'known'),
      budgetKey(handle, 'domain', 'example.com', 'known'),
    ];
    expect(new Set(keys).size).toBe(4);
    for (const key of keys) expect(key.startsWith('ns3::cimd:budget:')).toBe(true);
    expect(keys[0]).toBe(handle.keys.budget('a.example.com'));
    const { local } = await instance('ns3');
    expect(await take(local, 'https://a.example.com/c')).toBe('ok');
    for (const key of keys.slice(0, 2)) {
      const ttl = Number(await redisCommand(redis.port, ['PTTL', key]));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(100_000);
    }
  });
});
