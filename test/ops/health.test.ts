/**
 * The health check and the store watch against a real redis-server: 200 while it answers, 503 once it is
 * killed, 200 again when it is back; a stalled (SIGSTOP) Redis costs one deadline and reads as down; the state
 * changes are reported once each. And the example's /health route, over HTTP.
 */
import {
  type CimdEvent,
  cimdHealth,
  createCimd,
  createRedisCache,
  type StoreChange,
  watchStore,
} from 'oidc-provider-cimd';
import { registerObservation } from '../../packages/oidc-provider-cimd/src/observe/observation.js';
import { startExample } from '../example/start-example.js';
import { startRedisServer, type TestRedisServer } from '../helpers/redis-server.js';

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('cimdHealth and watchStore', () => {
  let redis: TestRedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(() => redis.close());

  it('answers 200 while the store is up, 503 while it is down, 200 when it is back; reports down and up once each', async () => {
    const cache = await createRedisCache({ url: redis.url });
    const cimd = createCimd({ issuer: 'https://as.example', cache, sharedCacheTimeoutMs: 300 });
    const health = cimdHealth(cimd, { maxAgeMs: 1 });
    const changes: StoreChange[] = [];
    const stop = watchStore(cimd, { intervalMs: 50, onChange: (change) => changes.push(change) });
    try {
      const up = await health.check();
      expect(up).toMatchObject({ status: 200, state: 'ok', details: { store: { kind: 'shared', up: true } } });

      await redis.kill();
      const down = await until(health.check, (report) => report.status === 503);
      expect(down).toMatchObject({ status: 503, state: 'unavailable', details: { store: { up: false } } });
      // Still down a while later: reported once, however many probes.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(changes.map((change) => change.state)).toEqual(['down']);

      await redis.restart();
      const back = await until(health.check, (report) => report.status === 200);
      expect(back).toMatchObject({ status: 200, state: 'ok', details: { store: { up: true } } });
      await until(
        async () => changes.length,
        (length) => length >= 2,
      );
      expect(changes.map((change) => change.state)).toEqual(['down', 'up']);
      expect(changes[1]?.downForMs).toBeGreaterThan(0);
    } finally {
      stop();
      await cimd.close();
      await cache.disconnect();
    }
  });

  it('reads a stalled store as down within one deadline, and as up once it answers', async () => {
    const cache = await createRedisCache({ url: redis.url });
    const cimd = createCimd({ issuer: 'https://as.example', cache, sharedCacheTimeoutMs: 200 });
    const health = cimdHealth(cimd, { maxAgeMs: 1 });
    try {
      expect((await health.check()).status).toBe(200);
      redis.pause();
      // Past the reuse window (a probe younger than maxAgeMs, 1 ms, is reused: a check in the same millisecond
      // as the last one read the old "up"), and past the signal's delivery.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = performance.now();
      const report = await health.check();
      expect(report.status).toBe(503);
      expect(performance.now() - started).toBeLessThan(5000);
      expect(report.details.store.circuit).toBe('open');
      redis.resume();
      expect((await until(health.check, (r) => r.status === 200)).status).toBe(200);
    } finally {
      redis.resume();
      await cimd.close();
      await cache.disconnect();
    }
  });

  it('is degraded, not unavailable, with storeRequired: false; a plugin without a shared store is always up', async () => {
    const cache = await createRedisCache({ url: redis.url });
    const cimd = createCimd({ issuer: 'https://as.example', cache, sharedCacheTimeoutMs: 300 });
    const memoryOnly = createCimd({ issuer: 'https://as.example' });
    try {
      await redis.kill();
      const report = await until(
        cimdHealth(cimd, { storeRequired: false, maxAgeMs: 1 }).check,
        (r) => !r.details.store.up,
      );
      expect(report).toMatchObject({ status: 200, state: 'degraded' });
      expect(await cimdHealth(memoryOnly).check()).toMatchObject({
        status: 200,
        state: 'ok',
        details: { store: { kind: 'memory', up: true } },
      });
      expect(() => cimdHealth(cimd, { storeRequird: false } as never)).toThrow(/storeRequird/);
      expect(() => cimdHealth({})).toThrow(/createCimd/);
    } finally {
      await redis.restart();
      await cimd.close();
      await memoryOnly.close();
      await cache.disconnect();
    }
  });

  it("the example's /health follows the store, and logs its state changes once each", async () => {
    const lines: Record<string, unknown>[] = [];
    const example = await startExample({ redisUrl: redis.url, log: (entry) => lines.push(entry) });
    const status = async () => {
      const response = await fetch(new URL('/health', example.issuer));
      const body = (await response.json()) as { state: string };
      return { status: response.status, state: body.state, cache: response.headers.get('cache-control') };
    };
    try {
      expect(await status()).toEqual({ status: 200, state: 'ok', cache: 'no-store' });
      await redis.kill();
      expect(await until(status, (s) => s.status === 503)).toMatchObject({ status: 503, state: 'unavailable' });
      await redis.restart();
      expect(await until(status, (s) => s.status === 200)).toMatchObject({ status: 200, state: 'ok' });
      const storeLines = await until(
        async () => lines.filter((line) => String(line.event).startsWith('store_')),
        (found) => found.length >= 2,
      );
      expect(storeLines.map((line) => [line.event, line.level])).toEqual([
        ['store_down', 'warn'],
        ['store_up', 'info'],
      ]);
    } finally {
      await example.close();
    }
  });
});

describe('store monitor', () => {
  it("takes the plugin's own store:down and store:up reports as observations, reporting each change once", () => {
    const listeners: ((event: CimdEvent) => void)[] = [];
    const plugin = {};
    registerObservation(plugin, {
      subscribe: (listener) => {
        listeners.push(listener);
        return () => {};
      },
      onBudgetRefusal: () => () => {},
      store: { shared: true, circuitOpen: () => false, probe: async () => true },
      cacheSize: () => 0,
      registrySize: async () => undefined,
    });
    const changes: string[] = [];
    const stop = watchStore(plugin, { intervalMs: 60_000, onChange: (change) => changes.push(change.state) });
    try {
      const report = (reason: string) => {
        for (const listener of listeners) {
          listener({ reason: reason as CimdEvent['reason'], cid: '', host: undefined, durationMs: 0, tier: 'shared' });
        }
      };
      report('store:down');
      report('store:down');
      report('cache_hit');
      report('store:up');
      report('store:up');
      expect(changes).toEqual(['down', 'up']);
    } finally {
      stop();
    }
  });
});
