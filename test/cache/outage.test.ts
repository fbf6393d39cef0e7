/**
 * Redis going away under two live provider instances: cached clients keep working from the in-process tier,
 * new clients work through direct fetches, every request answers within a bound, nothing is logged as an
 * unhandled rejection, and once Redis is back the shared tier is used again by itself. Also a stalled Redis
 * (accepting connections, answering nothing): each shared operation gives up at its deadline.
 */
import type { Keyv } from '@keyv/redis';
import { createRedisCache } from 'oidc-provider-cimd';
import { startAuthorization } from '../helpers/auth-flow.js';
import { getTestCertificate } from '../helpers/certs.js';
import { startProvider, type TestProvider } from '../helpers/provider.js';
import { startRedisServer, type TestRedisServer } from '../helpers/redis-server.js';
import { clientDoc, type DocServer, eventually, startDocServer, timed } from './support.js';

const BOUND_MS = 1000;

describe('Redis outage', () => {
  let redis: TestRedisServer;
  let docs: DocServer;
  const caches: Keyv[] = [];
  let a: TestProvider;
  let b: TestProvider;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  let n = 0;

  const instance = async () => {
    const cache = await createRedisCache(redis.url, { maxReconnectDelayMs: 100 });
    caches.push(cache);
    const { cert } = await getTestCertificate();
    return startProvider({
      // A generous per-host budget: the recovery probes fetch many documents from one test host.
      cimd: { allowLoopback: true, ca: cert, cache, failureBackoffMs: 3000, budget: { perHostBurst: 500 } },
    });
  };

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    redis = await startRedisServer();
    docs = await startDocServer();
    a = await instance();
    b = await instance();
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    if (redis.running) redis.resume();
    await Promise.allSettled([a?.close(), b?.close()]);
    await Promise.allSettled(caches.map((cache) => cache.disconnect()));
    await docs.close();
    await redis.close();
  });

  const newClient = (name: string) => {
    const p = `/outage/${++n}/${name}`;
    return { path: p, cid: docs.route(p, { body: clientDoc(docs.cid(p)) }) };
  };

  /** One /auth, timed: status and duration. */
  const auth = async (op: TestProvider, cid: string) => {
    const { value: status, ms } = await timed(async () => (await startAuthorization(op.issuer, cid)).status);
    return { status, ms };
  };

  test('killed Redis: cached clients from memory, new clients by direct fetch, bounded, no unhandled rejections; then recovery', async () => {
    const warm = newClient('warm');
    expect((await auth(a, warm.cid)).status).toBe(303);
    expect((await auth(b, warm.cid)).status).toBe(303);
    expect(docs.hits(warm.path)).toBe(1);

    await redis.kill();

    // Cached clients keep working from the in-process tier, with no fetch.
    for (const op of [a, b, a, b]) {
      const { status, ms } = await auth(op, warm.cid);
      expect(status).toBe(303);
      expect(ms).toBeLessThan(BOUND_MS);
    }
    expect(docs.hits(warm.path)).toBe(1);

    // New clients work through direct fetches (one per instance at most).
    const fresh = newClient('during-outage');
    for (const op of [a, b, a, b]) {
      const { status, ms } = await auth(op, fresh.cid);
      expect(status).toBe(303);
      expect(ms).toBeLessThan(BOUND_MS);
    }
    expect(docs.hits(fresh.path)).toBe(2);

    // Concurrency within one instance still shares one fetch.
    const herd = newClient('herd-during-outage');
    const results = await Promise.all(Array.from({ length: 10 }, () => auth(a, herd.cid)));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(303));
    expect(Math.max(...results.map((r) => r.ms))).toBeLessThan(BOUND_MS);
    expect(docs.hits(herd.path)).toBe(1);

    // Redis comes back, empty: without any intervention, an entry written by A is served to B with no fetch.
    await redis.restart();
    await eventually(
      async () => {
        const probe = newClient('after-restart');
        if ((await auth(a, probe.cid)).status !== 303) return false;
        if ((await redis.command('EXISTS', `cimd:doc:${probe.cid}`)) !== 1) return false;
        expect((await auth(b, probe.cid)).status).toBe(303);
        return docs.hits(probe.path) === 1;
      },
      5000,
      'the shared tier is used again',
    );
    const last = b.events.at(-1);
    expect(last).toMatchObject({ reason: 'cache_hit', tier: 'shared' });
    expect(unhandled).toEqual([]);
  });

  test('stalled Redis (SIGSTOP): shared operations give up at their deadline; requests stay bounded', async () => {
    const warm = newClient('warm-stalled');
    expect((await auth(a, warm.cid)).status).toBe(303);

    redis.pause();
    try {
      const fresh = newClient('during-stall');
      for (const op of [a, b, a, b]) {
        const { status, ms } = await auth(op, fresh.cid);
        expect(status).toBe(303);
        expect(ms).toBeLessThan(BOUND_MS);
      }
      expect(docs.hits(fresh.path)).toBe(2);
      const { status, ms } = await auth(b, warm.cid);
      expect(status).toBe(303);
      expect(ms).toBeLessThan(BOUND_MS);
    } finally {
      redis.resume();
    }

    await eventually(
      async () => {
        const probe = newClient('after-stall');
        if ((await auth(a, probe.cid)).status !== 303) return false;
        if ((await redis.command('EXISTS', `cimd:doc:${probe.cid}`)) !== 1) return false;
        expect((await auth(b, probe.cid)).status).toBe(303);
        return docs.hits(probe.path) === 1;
      },
      5000,
      'the shared tier is used again',
    );
    expect(unhandled).toEqual([]);
  });
});
