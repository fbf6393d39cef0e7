/**
 * REDIS_URL: documents are shared between instances through Redis, and an unreachable Redis only costs
 * extra fetches (no hang, no crash).
 */
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
      expect(example.events.map((e) => e.reason)).toEqual(['fetched']);
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
});
