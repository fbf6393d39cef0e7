/**
 * Two provider instances (each its own plugin and its own Redis connection, as two processes would have)
 * sharing one real redis-server: one fetch across the cluster for a herd, failures shared without refetching,
 * a crashed lock holder blocking only until its lock expires, the second instance served from the shared tier
 * with zero fetches, the Redis cost of warm and shared hits, and purge reaching the other instance.
 */
import KeyvRedis, { Keyv } from '@keyv/redis';
import { type CimdOptions, createRedisCache } from 'oidc-provider-cimd';
import { keyLayout } from '../../packages/oidc-provider-cimd/src/cluster/keys.js';
import { startAuthorization } from '../helpers/auth-flow.js';
import { getTestCertificate } from '../helpers/certs.js';
import { startProvider, type TestProvider } from '../helpers/provider.js';
import { startRedisServer, type TestRedisServer } from '../helpers/redis-server.js';
import { clientDoc, configuredCimd, type DocServer, eventually, startDocServer } from './support.js';

describe('two instances sharing Redis', () => {
  let redis: TestRedisServer;
  let docs: DocServer;
  const caches: Keyv[] = [];
  let a: TestProvider;
  let b: TestProvider;

  const instance = async () => {
    const cache = await createRedisCache(redis.url, { maxReconnectDelayMs: 100 });
    caches.push(cache);
    const { cert } = await getTestCertificate();
    return startProvider({
      // A generous per-host budget: this suite fetches many documents from one test host.
      cimd: {
        allowLoopback: true,
        ca: cert,
        cache,
        failureBackoffMs: 3000,
        timeoutMs: 2000,
        // The machine running the tests may be busy: a Redis answer that is merely slow must not count as an
        // outage here (outages have their own tests, with the default deadline).
        sharedCacheTimeoutMs: 1000,
        budget: { perHostBurst: 500 },
      },
    });
  };

  beforeAll(async () => {
    redis = await startRedisServer();
    docs = await startDocServer();
    a = await instance();
    b = await instance();
  });
  afterAll(async () => {
    await Promise.allSettled([a?.close(), b?.close()]);
    await Promise.allSettled(caches.map((cache) => cache.disconnect()));
    await docs.close();
    await redis.close();
  });

  /** GET /auth for a CIMD client on one instance, without following redirects: 303 to the interaction, or 400. */
  const auth = async (op: TestProvider, cid: string, redirectUri = 'https://app.example.com/cb') =>
    (await startAuthorization(op.issuer, cid, redirectUri)).status;

  test('50 concurrent /auth for one new client across both instances: exactly one fetch', async () => {
    const p = '/cluster/herd';
    const cid = docs.route(p, { body: clientDoc(docs.cid(p)), delayMs: 150 });
    const statuses = await Promise.all(Array.from({ length: 50 }, (_, i) => auth(i % 2 ? b : a, cid)));
    expect(statuses).toEqual(Array(50).fill(303));
    expect(docs.hits(p)).toBe(1);
    // One instance fetched; the other learned the result from the shared tier.
    // (The other requests of the fetching instance joined its flight: `joined` events.)
    const fetched = [...a.events, ...b.events].filter(
      (e) => e.cid === cid && e.reason === 'fetched' && !(e as { joined?: boolean }).joined,
    );
    expect(fetched).toHaveLength(1);
  });

  test('the second instance serves a client the first fetched, with zero fetches', async () => {
    const p = '/cluster/second';
    const cid = docs.route(p, { body: clientDoc(docs.cid(p)) });
    expect(await auth(a, cid)).toBe(303);
    expect(docs.hits(p)).toBe(1);
    expect(await auth(b, cid)).toBe(303);
    expect(docs.hits(p)).toBe(1);
    expect(b.events.filter((e) => e.cid === cid)[0]).toMatchObject({ reason: 'cache_hit', tier: 'shared' });
  });

  test('Redis cost: a warm /auth issues no Redis command, a shared-tier hit exactly one', async () => {
    const p = '/cluster/cost';
    const cid = docs.route(p, { body: clientDoc(docs.cid(p)) });
    expect(await auth(a, cid)).toBe(303); // fetched by A, stored in Redis
    await redis.resetStats();
    expect((await b.cimd.resolve(cid))?.cid).toBe(cid); // B: shared-tier hit
    expect(await redis.commandStats()).toEqual(new Map([['get', 1]]));
    await redis.resetStats();
    for (let i = 0; i < 10; i++) expect(await auth(a, cid)).toBe(303);
    for (let i = 0; i < 10; i++) expect(await auth(b, cid)).toBe(303);
    expect(await redis.totalCommands()).toBe(0);
  });

  test('a failing document: one fetch across the herd, every request on both instances rejected', async () => {
    const p = '/cluster/invalid';
    const cid = docs.route(p, {
      body: { client_id: docs.cid(p), redirect_uris: ['https://app.example.com/cb'] },
      delayMs: 150,
    });
    const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => auth(i % 2 ? b : a, cid)));
    expect(statuses).toEqual(Array(20).fill(400));
    expect(docs.hits(p)).toBe(1);
    const reasons = [...a.events, ...b.events].filter((e) => e.cid === cid).map((e) => `${e.reason}/${e.tier}`);
    expect(reasons).toContain('rejected:document/origin');
    expect(reasons).toContain('rejected:document/shared');
    // Never an entry.
    expect(await redis.command('EXISTS', `cimd:doc:${cid}`)).toBe(0);
  });

  test('an origin error is shared the same way', async () => {
    const p = '/cluster/error';
    const cid = docs.route(p, { status: 503, body: '', delayMs: 150 });
    const statuses = await Promise.all(Array.from({ length: 10 }, (_, i) => auth(i % 2 ? b : a, cid)));
    expect(statuses).toEqual(Array(10).fill(400));
    expect(docs.hits(p)).toBe(1);
  });

  test('no-store: nothing is shared; each instance fetches for itself (once each)', async () => {
    const p = '/cluster/no-store';
    const cid = docs.route(p, { body: clientDoc(docs.cid(p)), headers: { 'cache-control': 'no-store' }, delayMs: 300 });
    const statuses = await Promise.all(Array.from({ length: 10 }, (_, i) => auth(i % 2 ? b : a, cid)));
    expect(statuses).toEqual(Array(10).fill(303));
    expect(docs.hits(p)).toBeLessThanOrEqual(2);
    expect(await redis.command('EXISTS', `cimd:doc:${cid}`)).toBe(0);
  });

  test('a crashed holder blocks the others only until its lock expires', async () => {
    const p = '/cluster/dead-holder';
    const cid = docs.route(p, { body: clientDoc(docs.cid(p)) });
    // A holder that took the lock and died: nobody will release it.
    await redis.command('SET', keyLayout('').lock(cid), 'crashed-holder', 'PX', 700);
    const started = performance.now();
    expect(await auth(b, cid)).toBe(303);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(600);
    expect(elapsed).toBeLessThan(2500);
    expect(docs.hits(p)).toBe(1);
  });

  test('purge on one instance removes the entry from Redis and from the other instance’s memory', async () => {
    const p = '/cluster/purge';
    const cid = docs.route(p, { body: clientDoc(docs.cid(p)) });
    expect(await auth(a, cid)).toBe(303);
    expect(await auth(b, cid)).toBe(303);
    expect((await b.cimd.inspect(cid))?.tier).toBe('memory');
    await a.cimd.purge(cid);
    // What stays is a tombstone: no entry, the revision kept (so no lookup started before the purge undoes it).
    const record = JSON.parse(String(await redis.command('GET', `cimd:doc:${cid}`)));
    expect(record.value).toMatchObject({ v: 3, entry: null });
    expect(Number(await redis.command('PTTL', `cimd:doc:${cid}`))).toBeGreaterThan(0);
    await eventually(async () => (await b.cimd.inspect(cid)) === undefined, 2000, 'B dropped its copy');
    expect(await auth(b, cid)).toBe(303);
    expect(docs.hits(p)).toBe(2);
  });

  test('refresh on one instance is seen by the other', async () => {
    const p = '/cluster/refresh';
    let name = 'Before';
    const cid = docs.route(p, () => ({ body: clientDoc(docs.cid(p), { client_name: name }) }));
    expect(await auth(a, cid)).toBe(303);
    expect(await auth(b, cid)).toBe(303);
    name = 'After';
    expect((await a.cimd.refresh(cid)).metadata.client_name).toBe('After');
    await eventually(
      async () => (await b.cimd.inspect(cid))?.entry.metadata.client_name === 'After',
      2000,
      'B sees the refresh',
    );
    expect(docs.hits(p)).toBe(2);
  });
});

describe('fetch lock with other stores and settings', () => {
  let redis: TestRedisServer;
  let docs: DocServer;

  beforeAll(async () => {
    redis = await startRedisServer();
    docs = await startDocServer();
  });
  afterAll(async () => {
    await docs.close();
    await redis.close();
  });

  /** Two plugins on `caches` (one each), 20 concurrent resolves of one new CID split between them. */
  async function herd(name: string, caches: [Keyv, Keyv], extra: Partial<CimdOptions> = {}) {
    const p = `/stores/${name}`;
    const cid = docs.route(p, { body: clientDoc(docs.cid(p)), delayMs: 100 });
    const plugins = await Promise.all(caches.map((cache) => configuredCimd({ cache, ...extra })));
    try {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => plugins[i % 2]!.cimd.resolve(cid)));
      expect(results.every((entry) => entry?.cid === cid)).toBe(true);
      return docs.hits(p);
    } finally {
      await Promise.all(plugins.map(({ cimd }) => cimd.close()));
    }
  }

  test('a non-Redis store degrades to one fetch per process', async () => {
    const shared = new Keyv();
    expect(await herd('memory', [shared, shared])).toBe(2);
  });

  test('a KeyvRedis built by hand (with a namespace) gets the cluster-wide lock too, under its namespace', async () => {
    const stores = [new KeyvRedis(redis.url), new KeyvRedis(redis.url)];
    const caches = stores.map((store) => {
      const keyv = new Keyv({ store, namespace: 'tenant1', useKeyPrefix: false });
      keyv.on('error', () => {});
      return keyv;
    }) as [Keyv, Keyv];
    try {
      // Connect them (a hand-made KeyvRedis connects on its first command).
      await Promise.all(caches.map((cache) => cache.set('warm-up', 1)));
      expect(await herd('hand-made', caches)).toBe(1);
      const keys = (await redis.command('KEYS', '*')) as string[];
      expect(keys).toContain(`tenant1::cimd:doc:${docs.cid('/stores/hand-made')}`);
      expect(keys).toContain(keyLayout('tenant1::').outcome(docs.cid('/stores/hand-made')));
    } finally {
      await Promise.allSettled(stores.map((store) => store.disconnect()));
    }
  });

  test('fetchLock: false turns the lock off (one fetch per instance)', async () => {
    const caches = [await createRedisCache(redis.url), await createRedisCache(redis.url)] as [Keyv, Keyv];
    try {
      expect(await herd('no-lock', caches, { fetchLock: false })).toBe(2);
      expect(await herd('with-lock', caches)).toBe(1);
    } finally {
      await Promise.allSettled(caches.map((cache) => cache.disconnect()));
    }
  });
});
