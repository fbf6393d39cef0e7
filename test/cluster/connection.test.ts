/**
 * One way to connect, checked without a cluster: the environment reader shared by the servers, the example and
 * the CLI; the options `createRedisCache` refuses; the key layout's hash slots (against a real server's
 * CLUSTER KEYSLOT); the topology asked from a single Redis; and the startup warning for a store on which the
 * shared-Redis guarantees cannot hold.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jest } from '@jest/globals';
import { Keyv } from '@keyv/redis';
import { createCimd, createRedisCache, describeRedisCache, redisOptionsFromEnv } from 'oidc-provider-cimd';
import { redisConnectionFrom } from '../../packages/cli/src/store.js';
import { keyLayout } from '../../packages/oidc-provider-cimd/src/cluster/keys.js';
import { slotOf } from '../../packages/oidc-provider-cimd/src/cluster/redis.js';
import { unusedPort } from '../helpers/https-server.js';
import { startRedisServer, type TestRedisServer } from '../helpers/redis-server.js';

describe('redisOptionsFromEnv', () => {
  test('nothing set: no shared store', () => {
    expect(redisOptionsFromEnv({})).toBeUndefined();
    expect(redisOptionsFromEnv({ REDIS_URL: '  ' })).toBeUndefined();
  });

  test('a URL, with or without REDIS_CLUSTER', () => {
    expect(redisOptionsFromEnv({ REDIS_URL: 'redis://cache:6379' })).toEqual({ url: 'redis://cache:6379' });
    expect(redisOptionsFromEnv({ REDIS_URL: 'rediss://cache:6379', REDIS_CLUSTER: 'true' })).toEqual({
      url: 'rediss://cache:6379',
      cluster: true,
    });
    expect(redisOptionsFromEnv({ REDIS_URL: 'redis://cache', REDIS_CLUSTER: 'false' })).toEqual({
      url: 'redis://cache',
      cluster: false,
    });
  });

  test('sentinels and the primary name', () => {
    expect(redisOptionsFromEnv({ REDIS_SENTINELS: 's1:26379, s2:26379', REDIS_SENTINEL_NAME: 'main' })).toEqual({
      sentinels: 's1:26379, s2:26379',
      sentinelName: 'main',
    });
  });

  test.each([
    [{ REDIS_URL: 'http://cache:6379' }, /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/],
    [{ REDIS_URL: 'redis://user:hunter2@', REDIS_CLUSTER: 'true' }, /^(?!.*hunter2).*with a host/],
    [{ REDIS_URL: 'redis://cache', REDIS_CLUSTER: 'maybe' }, /REDIS_CLUSTER must be true or false/],
    [{ REDIS_CLUSTER: 'true' }, /REDIS_CLUSTER is set but REDIS_URL is not/],
    [{ REDIS_SENTINELS: 's1:26379' }, /REDIS_SENTINEL_NAME is not/],
    [{ REDIS_SENTINEL_NAME: 'main' }, /REDIS_SENTINELS is not/],
    [{ REDIS_SENTINELS: 's1', REDIS_SENTINEL_NAME: 'main' }, /"s1" is not host:port/],
    [{ REDIS_SENTINELS: 's1:99999', REDIS_SENTINEL_NAME: 'main' }, /is not host:port/],
    [{ REDIS_SENTINELS: 's1:1', REDIS_SENTINEL_NAME: 'm', REDIS_URL: 'redis://x' }, /both set/],
    [{ REDIS_SENTINELS: 's1:1', REDIS_SENTINEL_NAME: 'm', REDIS_CLUSTER: 'true' }, /cannot be combined/],
  ])('%j is refused with a message naming the variable', (env, message) => {
    expect(() => redisOptionsFromEnv(env)).toThrow(message);
  });
});

describe('createRedisCache refuses wrong options before connecting', () => {
  test.each([
    [['redis://cache', { clusterr: true }], /unknown createRedisCache option "clusterr"/],
    [['redis://cache', { namespace: 'tenant{1}' }], /contains "\{" or "\}"/],
    [['redis://cache', { cluster: 'yes' }], /cluster must be true or false/],
    [['redis://cache', { connectTimeoutMs: -1 }], /connectTimeoutMs must be a number/],
    [['redis://cache', { url: 'redis://other' }], /URL twice/],
    [['localhost:6379'], /must be a redis:\/\/ or rediss:\/\/ URL/],
    [[{ sentinels: 's1:26379' }], /sentinels need sentinelName/],
    [[{ sentinelName: 'main' }], /sentinelName needs sentinels/],
    [[{ sentinels: 's1:26379', sentinelName: 'm', url: 'redis://x' }], /either a URL or sentinels/],
    [[{}], /needs a Redis URL/],
  ])('%j', async (args, message) => {
    await expect((createRedisCache as (...a: unknown[]) => Promise<Keyv>)(...args)).rejects.toThrow(message);
  });
});

describe('keys and hash slots', () => {
  let redis: TestRedisServer;
  let node: TestRedisServer;
  let dir: string;
  beforeAll(async () => {
    redis = await startRedisServer();
    dir = mkdtempSync(path.join(os.tmpdir(), 'cimd-keyslot-'));
    // A cluster-enabled node answers CLUSTER KEYSLOT even before it serves any slot.
    node = await startRedisServer({
      args: ['--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, 'nodes.conf'), '--dir', dir],
    });
  });
  afterAll(async () => {
    await redis.close();
    await node.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('slotOf agrees with Redis (CLUSTER KEYSLOT), hash tags included', async () => {
    for (const key of ['foo', '{user1000}.following', 'a{}b', 'a{b}c{d}', 'x{', 'cimd:doc:https://app.example.com/c']) {
      expect(slotOf(key)).toBe(await node.command('CLUSTER', 'KEYSLOT', key));
    }
    expect(slotOf('{user1000}.following')).toBe(slotOf('user1000'));
  });

  test('the lock and the outcome of one CID share a slot, whatever the CID and the namespace', () => {
    const cids = [
      'https://app.example.com/client.json',
      'https://app.example.com/a}b/c.json',
      'https://app.example.com/%7Bx%7D',
      'https://xn--bcher-kva.example/c',
    ];
    for (const prefix of ['', 'tenant1::', 'a:b::']) {
      const keys = keyLayout(prefix);
      for (const cid of cids) expect(slotOf(keys.lock(cid))).toBe(slotOf(keys.outcome(cid)));
    }
    // Different CIDs spread over the cluster (not every lock on one master).
    const slots = new Set(cids.map((cid) => slotOf(keyLayout('').lock(cid))));
    expect(slots.size).toBeGreaterThan(1);
  });

  test('a single Redis is found to be a single Redis; cluster: true against it is refused', async () => {
    const keyv = await createRedisCache(redis.url);
    try {
      expect(describeRedisCache(keyv)).toEqual({ topology: 'standalone', limits: [] });
    } finally {
      await keyv.disconnect();
    }
    await expect(createRedisCache(redis.url, { cluster: true })).rejects.toThrow(/is not a Redis Cluster node/);
  });
});

describe('nothing degrades silently', () => {
  // A process warning: Node.js prints it as a line on stderr and emits 'warning' on the process.
  let emitWarning: jest.Spied<typeof process.emitWarning>;
  beforeEach(() => {
    emitWarning = jest.spyOn(process, 'emitWarning').mockImplementation(() => {});
  });
  afterEach(() => {
    emitWarning.mockRestore();
  });
  const ours = () =>
    emitWarning.mock.calls
      .filter((call: unknown[]) => (call[1] as { code?: string } | undefined)?.code === 'CIMD_STORE_LIMITED')
      .map((call: unknown[]) => ({ message: String(call[0]) }));

  test('a shared store that is not Redis: startup warns once for each guarantee that cannot hold', async () => {
    const cimd = createCimd({ issuer: 'http://localhost:9', cache: new Keyv() });
    await new Promise((resolve) => setImmediate(resolve));
    const messages = ours().map((w: { message: string }) => w.message);
    expect(messages).toEqual([
      expect.stringMatching(/not Redis: .*one fetch per instance/),
      expect.stringMatching(/not Redis: purge, refresh and revocation do not reach the other instances/),
      expect.stringMatching(
        /not Redis: commits of a client's entry are atomic only between the plugins of one process/,
      ),
      expect.stringMatching(/not Redis: each instance has its own per-host fetch budget/),
    ]);
    await cimd.close();
  });

  test('the default in-memory store and a Redis store: no warning', async () => {
    const redis = await startRedisServer();
    const keyv = await createRedisCache(redis.url);
    try {
      const plain = createCimd({ issuer: 'http://localhost:9' });
      const shared = createCimd({ issuer: 'http://localhost:9', cache: keyv });
      await new Promise((resolve) => setImmediate(resolve));
      expect(ours()).toEqual([]);
      await plain.close();
      await shared.close();
    } finally {
      await keyv.disconnect();
      await redis.close();
    }
  });

  test('a Redis unreachable at startup: assumed single, and said so', async () => {
    const port = await unusedPort();
    const keyv = await createRedisCache(`redis://127.0.0.1:${port}`, { initialConnectWaitMs: 0 });
    try {
      const limits = describeRedisCache(keyv)?.limits ?? [];
      expect(limits).toEqual([
        { guarantee: 'topology', message: expect.stringMatching(/did not answer at startup.*REDIS_CLUSTER=true/) },
      ]);
      const cimd = createCimd({ issuer: 'http://localhost:9', cache: keyv });
      await new Promise((resolve) => setImmediate(resolve));
      expect(ours().map((w: { message: string }) => w.message)).toEqual([
        expect.stringMatching(/did not answer at startup/),
      ]);
      await cimd.close();
    } finally {
      await keyv.disconnect();
    }
  });
});

describe('the command line reads the connection like the servers', () => {
  test.each([
    [{ redis: 'redis://node-3:6379' }, {}, { redisUrl: 'redis://node-3:6379' }],
    [{ redis: 'redis://node-3:6379', cluster: true }, {}, { redisUrl: 'redis://node-3:6379', cluster: true }],
    [{}, { REDIS_URL: 'redis://n:1', REDIS_CLUSTER: 'true' }, { redisUrl: 'redis://n:1', cluster: true }],
    [{ redis: 'redis://a:1' }, { REDIS_URL: 'redis://b:1', REDIS_SENTINELS: 'x' }, { redisUrl: 'redis://a:1' }],
    [{ sentinels: 's1:26379', sentinelName: 'main' }, {}, { sentinels: 's1:26379', sentinelName: 'main' }],
    [{}, { REDIS_SENTINELS: 's1:1,s2:2', REDIS_SENTINEL_NAME: 'm' }, { sentinels: 's1:1,s2:2', sentinelName: 'm' }],
  ])('flags %j, environment %j', (flags, env, expected) => {
    expect(redisConnectionFrom(flags, env)).toEqual(expected);
  });

  test.each([
    [{ redis: 'localhost:6379' }, {}, /^--redis must be a redis:\/\/ or rediss:\/\/ URL/],
    [{ sentinels: 's1:1' }, {}, /--sentinels is set but --sentinel-name is not/],
    [{}, { REDIS_SENTINELS: 's1:1' }, /REDIS_SENTINELS is set but REDIS_SENTINEL_NAME is not/],
    [{ cluster: true }, {}, /--cluster is set but REDIS_URL is not|needs the deployment's store/],
    [{}, {}, /^needs the deployment's store: --redis URL or REDIS_URL/],
  ])('flags %j, environment %j: refused', (flags, env, message) => {
    expect(() => redisConnectionFrom(flags, env)).toThrow(message);
  });
});

describe('a cluster or sentinels down at startup', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  beforeAll(() => process.on('unhandledRejection', onUnhandled));
  afterAll(() => process.off('unhandledRejection', onUnhandled));

  test.each([
    ['cluster: true', async (port: number) => ({ url: `redis://127.0.0.1:${port}`, cluster: true })],
    ['sentinels', async (port: number) => ({ sentinels: `127.0.0.1:${port}`, sentinelName: 'main' })],
  ])('%s: createRedisCache returns, reads are quick misses, disconnect is quick', async (_, options) => {
    const port = await unusedPort();
    const errors: Error[] = [];
    let started = performance.now();
    const keyv = await createRedisCache({
      ...(await options(port)),
      initialConnectWaitMs: 200,
      maxReconnectDelayMs: 100,
      onError: (error) => errors.push(error),
    });
    expect(performance.now() - started).toBeLessThan(1500);
    started = performance.now();
    await expect(keyv.get('cimd:doc:x')).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(500);
    expect(errors.length).toBeGreaterThan(0);
    started = performance.now();
    await keyv.disconnect();
    expect(performance.now() - started).toBeLessThan(1500);
    expect(unhandled).toEqual([]);
  });
});
