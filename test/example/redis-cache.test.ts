/**
 * REDIS_URL: documents are shared between instances through Redis, and an unreachable Redis only costs
 * extra fetches (no hang, no crash).
 */
import { createCimd, createRedisCache } from 'oidc-provider-cimd';
import { createApp } from '../../examples/koa-server/src/app.js';
import { unusedPort } from '../helpers/https-server.js';
import { startRedisServer, type TestRedisServer } from '../helpers/redis-server.js';
import {
  authorizationUrl,
  type ClientHost,
  loopbackClientDocument,
  startClientHost,
  startExample,
} from './start-example.js';

async function startAuthorization(issuer: string, clientId: string): Promise<number> {
  const response = await fetch(authorizationUrl(issuer, clientId), { redirect: 'manual' });
  await response.body?.cancel();
  return response.status;
}

describe('REDIS_URL', () => {
  let host: ClientHost;
  beforeAll(async () => {
    host = await startClientHost();
  });
  afterAll(() => host.close());

  it('an unreachable Redis degrades to direct fetches', async () => {
    const port = await unusedPort();
    const example = await startExample({ allowLoopback: true, redisUrl: `redis://127.0.0.1:${port}` });
    try {
      const cid = host.publish('/redis-down.json', loopbackClientDocument('http://127.0.0.1:9/callback'));
      const started = Date.now();
      expect(await startAuthorization(example.issuer, cid)).toBe(303);
      expect(Date.now() - started).toBeLessThan(3000);
      // The outage is visible: reported once, and the resolution says it went without the shared tier.
      expect(example.events.map((e) => e.reason)).toEqual(['store:down', 'fetched']);
      expect(example.events.at(-1)?.sharedSkipped).toBe(true);
    } finally {
      await example.close();
    }
  });
});

describe('REDIS_URL with redis-server', () => {
  let host: ClientHost;
  let redis: TestRedisServer;
  beforeAll(async () => {
    host = await startClientHost();
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await host.close();
    await redis.close();
  });

  it('a second instance answers from the shared cache without fetching', async () => {
    const cid = host.publish('/redis-shared.json', loopbackClientDocument('http://127.0.0.1:9/callback'));
    const first = await startExample({ allowLoopback: true, redisUrl: redis.url });
    const second = await startExample({ allowLoopback: true, redisUrl: redis.url });
    try {
      expect(await startAuthorization(first.issuer, cid)).toBe(303);
      expect(first.events.map((e) => e.reason)).toEqual(['fetched']);
      expect(await startAuthorization(second.issuer, cid)).toBe(303);
      expect(second.events).toEqual([expect.objectContaining({ reason: 'cache_hit', tier: 'shared', cid })]);
      expect(host.hitsFor('/redis-shared.json')).toBe(1);
    } finally {
      await first.close();
      await second.close();
    }
  });

  it("stores documents under the plugin's createRedisCache key layout (what cimd inspect reads)", async () => {
    const cid = host.publish('/redis-layout.json', loopbackClientDocument('http://127.0.0.1:9/callback'));
    const example = await startExample({ allowLoopback: true, redisUrl: redis.url });
    // A second plugin instance, built the way the CLI and any deployment build it: createRedisCache(REDIS_URL).
    const cache = await createRedisCache(redis.url);
    const reader = createCimd({ issuer: 'http://127.0.0.1:1', allowLoopback: true, cache });
    reader.configure({});
    try {
      expect(await startAuthorization(example.issuer, cid)).toBe(303);
      const inspection = await reader.inspect(cid);
      expect(inspection).toMatchObject({ tier: 'shared', entry: { cid } });
      // One key per document, with the plugin's prefix once (the example used to double its namespace).
      const keys = (await redis.command('KEYS', '*redis-layout.json*')) as string[];
      expect(keys).toContain(`cimd:doc:${cid}`);
      expect(keys.every((key) => key.startsWith('cimd:'))).toBe(true);
      expect(host.hitsFor('/redis-layout.json')).toBe(1);
    } finally {
      await reader.close();
      await cache.disconnect();
      await example.close();
    }
  });
});

describe('REDIS_URL errors', () => {
  it('a malformed REDIS_URL is refused naming the variable, without echoing the value', async () => {
    const failure = createApp({ issuer: 'http://127.0.0.1:1', redisUrl: 'http://user:secret@cache:6379' });
    await expect(failure).rejects.toThrow(/^REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/);
    await expect(failure).rejects.not.toThrow(/secret/);
  });
});
