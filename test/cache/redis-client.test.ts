/**
 * The Redis client `createRedisCache` builds, against a real redis-server that the test kills and restarts:
 * it fails fast while Redis is down (where `@keyv/redis` from a URL string hangs), reports failed writes as
 * failures (where the adapter's default reports success), never raises an unhandled rejection or error
 * event, and recovers by itself.
 */
import KeyvRedis, { createKeyvNonBlocking, Keyv } from '@keyv/redis';
import { createRedisCache } from 'oidc-provider-cimd';
import { startRedisServer, type TestRedisServer } from '../helpers/redis-server.js';

const PENDING = Symbol('pending');
/** Settles `promise` or gives up after `ms`, without leaving a timer behind. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof PENDING> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<typeof PENDING>((resolve) => (timer = setTimeout(resolve, ms, PENDING))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('createRedisCache against a real redis-server', () => {
  let redis: TestRedisServer;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    redis = await startRedisServer();
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await redis.close();
  });
  beforeEach(async () => {
    if (!redis.running) await redis.restart();
    unhandled.length = 0;
  });

  test('round-trips values while Redis is up', async () => {
    const keyv = await createRedisCache(redis.url, { maxReconnectDelayMs: 100 });
    try {
      expect(await keyv.set('k1', { a: 1 }, 60_000)).toBe(true);
      expect(await keyv.get('k1')).toEqual({ a: 1 });
      expect(await redis.command('PTTL', 'k1')).toBeGreaterThan(59_000);
    } finally {
      await keyv.disconnect();
    }
  });

  test('the pitfalls it avoids: @keyv/redis from a URL hangs get() while Redis is down; a non-blocking one reports a failed set() as success', async () => {
    const fromUrl = new Keyv(new KeyvRedis(redis.url));
    fromUrl.on('error', () => {});
    const nonBlocking = createKeyvNonBlocking(redis.url);
    nonBlocking.on('error', () => {});
    try {
      expect(await fromUrl.set('p', 'v')).toBe(true);
      expect(await fromUrl.get('p')).toBe('v');
      expect(await nonBlocking.set('p', 'w')).toBe(true);
      expect(await nonBlocking.get('p')).toBe('w');
      await redis.kill();

      // Pitfall 1: the command sits in the offline queue; get() does not settle.
      const hanging = fromUrl.get('p');
      expect(await within(hanging, 1000)).toBe(PENDING);

      // Pitfall 2: the write fails, the adapter swallows the error, Keyv says it worked.
      await eventually(() => !((nonBlocking.store as KeyvRedis<unknown>).client as { isReady: boolean }).isReady);
      expect(await nonBlocking.set('q', 'v')).toBe(true);
      await redis.restart();
      expect(await redis.command('GET', 'q')).toBeNull();
      // The queued get() completes once Redis is back (now empty).
      expect(await within(hanging, 5000)).toBeUndefined();
    } finally {
      await Promise.allSettled([
        (fromUrl.store as KeyvRedis<unknown>).disconnect(true),
        (nonBlocking.store as KeyvRedis<unknown>).disconnect(true),
      ]);
    }
  });

  test('ours fails fast while Redis is down, reports failed writes, never crashes, and recovers by itself', async () => {
    const errors: Error[] = [];
    const keyv = await createRedisCache(redis.url, { maxReconnectDelayMs: 100, onError: (e) => errors.push(e) });
    try {
      expect(await keyv.set('k2', 'before', 60_000)).toBe(true);
      await redis.kill();

      const started = performance.now();
      await expect(within(keyv.get('k2'), 1000)).rejects.toThrow();
      await expect(within(keyv.set('k3', 'v'), 1000)).rejects.toThrow();
      expect(performance.now() - started).toBeLessThan(500);
      expect(errors.length).toBeGreaterThan(0);

      await redis.restart();
      await eventually(async () => {
        try {
          return (await keyv.set('k4', 'after', 60_000)) === true;
        } catch {
          return false;
        }
      });
      expect(await redis.command('GET', 'k4')).toContain('after');
      expect(unhandled).toEqual([]);
    } finally {
      await keyv.disconnect();
    }
  });

  test('starts while Redis is down without throwing or waiting beyond the connect wait, and connects later', async () => {
    await redis.kill();
    const started = performance.now();
    const keyv = await createRedisCache(redis.url, { maxReconnectDelayMs: 100, initialConnectWaitMs: 200 });
    try {
      expect(performance.now() - started).toBeLessThan(1000);
      await expect(within(keyv.get('x'), 500)).rejects.toThrow();
      await redis.restart();
      await eventually(async () => {
        try {
          return (await keyv.set('x', 1)) === true;
        } catch {
          return false;
        }
      });
      expect(await keyv.get('x')).toBe(1);
      expect(unhandled).toEqual([]);
    } finally {
      await keyv.disconnect();
    }
  });
});
