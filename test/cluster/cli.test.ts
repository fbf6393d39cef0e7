/**
 * The command line against a Redis Cluster: the example server is connected to one node (as REDIS_URL would
 * say), the CLI is given nothing but another node's URL, and each operator command acts on exactly the
 * entries the server wrote, with the effect seen from the server's side (its in-process copy dropped through
 * the sharded invalidation channel, a pinned client served without fetching). Also: a `KeyvRedis` the
 * deployment built itself on node-redis' `createCluster` gets the same cluster-wide lock and invalidation.
 */
import KeyvRedis, { createCluster, Keyv } from '@keyv/redis';
import { parseEnv } from '../../examples/koa-server/src/env.js';
import { redisHandleOf } from '../../packages/oidc-provider-cimd/src/cluster/redis.js';
import { clientDoc, configuredCimd, startDocServer } from '../cache/support.js';
import { cimd, tempDir } from '../cli/support.js';
import {
  authorizationUrl,
  type ClientHost,
  loopbackClientDocument,
  type RunningExample,
  startClientHost,
  startExample,
} from '../example/start-example.js';
import { startRedisCluster, type TestRedisCluster } from '../helpers/redis-server.js';

let cluster: TestRedisCluster;
let host: ClientHost;
let example: RunningExample;
let tmp: Awaited<ReturnType<typeof tempDir>>;
/** `--redis <a node other than the server's> --allow-loopback --ca <test cert>` */
let store: string[];
let fetching: string[];

async function auth(clientId: string): Promise<number> {
  const response = await fetch(authorizationUrl(example.issuer, clientId), { redirect: 'manual' });
  await response.body?.cancel();
  return response.status;
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 0 });
  host = await startClientHost();
  tmp = await tempDir();
  // The server reads its environment as in production: nothing but REDIS_URL, one node's URL.
  const env = parseEnv({ REDIS_URL: cluster.nodes[0]!.url });
  example = await startExample({ allowLoopback: true, redisUrl: env.redisUrl });
  // inspect, purge and unpin fetch nothing, so they take no --ca; pin and refresh fetch the document.
  store = ['--redis', cluster.nodes[2]!.url, '--allow-loopback'];
  fetching = [...store, '--ca', tmp.ca];
}, 60_000);
afterAll(async () => {
  await example?.close();
  await host?.close();
  await cluster?.close();
  tmp?.cleanup();
});

test('inspect, purge, pin, unpin and refresh act on what the server wrote', async () => {
  const path = '/cluster-cli.json';
  const cid = host.publish(path, loopbackClientDocument('http://127.0.0.1:9/callback', 'Before'));
  expect(await auth(cid)).toBe(303);
  expect(host.hitsFor(path)).toBe(1);

  // inspect: the entry the server stored, found through another node.
  const inspected = await cimd(['inspect', cid, ...store, '--json']);
  expect(inspected.code).toBe(0);
  expect(inspected.json()).toMatchObject({ clientId: cid, cached: true, tier: 'shared', pinned: false });
  // REDIS_CLUSTER=true instead of detection works the same.
  const forced = await cimd(['inspect', cid, '--allow-loopback', '--json'], {
    env: { REDIS_URL: cluster.nodes[1]!.url, REDIS_CLUSTER: 'true' },
  });
  expect(forced.json()).toMatchObject({ clientId: cid, cached: true });

  // purge: gone from the store and from the server's memory; the server fetches again.
  expect((await cimd(['purge', cid, ...store])).code).toBe(0);
  await eventually(async () => (await example.cimd.inspect(cid)) === undefined, 'the server dropped its copy');
  expect(await auth(cid)).toBe(303);
  expect(host.hitsFor(path)).toBe(2);

  // pin: the server answers from the pinned entry without fetching, whatever the host does.
  expect((await cimd(['pin', cid, ...fetching])).code).toBe(0);
  const pinnedHits = host.hitsFor(path);
  await eventually(async () => (await example.cimd.inspect(cid))?.entry.pinned === true, 'the server sees the pin');
  expect(await auth(cid)).toBe(303);
  expect(host.hitsFor(path)).toBe(pinnedHits);

  // unpin: the entry goes with the pin.
  expect((await cimd(['unpin', cid, ...store])).code).toBe(0);
  expect((await cimd(['inspect', cid, ...store, '--json'])).json()).toEqual({ clientId: cid, cached: false });

  // refresh: the new document reaches the server's memory too.
  expect(await auth(cid)).toBe(303);
  host.publish(path, loopbackClientDocument('http://127.0.0.1:9/callback', 'After'));
  expect((await cimd(['refresh', cid, ...fetching])).code).toBe(0);
  await eventually(
    async () => (await example.cimd.inspect(cid))?.entry.metadata.client_name === 'After',
    'the server sees the refresh',
  );
}, 30_000);

test('a cluster node that cannot be reached: exit 1, nothing pretends to succeed', async () => {
  const run = await cimd(['purge', 'https://localhost:1/x.json', '--redis', 'redis://127.0.0.1:1', '--cluster']);
  expect(run.code).toBe(1);
  expect(run.stderr).toMatch(/cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
});

test('a KeyvRedis built by hand on createCluster: one fetch across instances, purges reach the other', async () => {
  const docs = await startDocServer();
  const stores = [0, 1].map(
    (i) =>
      new KeyvRedis(
        createCluster({
          rootNodes: [{ url: cluster.nodes[i]!.url }],
          defaults: { disableOfflineQueue: true },
        }) as never,
        { throwOnErrors: true },
      ),
  );
  const caches = stores.map((store) => {
    const keyv = new Keyv({ store, useKeyPrefix: false });
    keyv.on('error', () => {});
    return keyv;
  });
  try {
    // A hand-made KeyvRedis connects on its first command.
    await Promise.all(caches.map((cache) => cache.set('warm-up', 1)));
    expect(redisHandleOf(caches[0]!)?.topology).toBe('cluster');
    const plugins = await Promise.all(caches.map((cache) => configuredCimd({ cache, sharedCacheTimeoutMs: 1000 })));
    try {
      const cid = docs.route('/hand-made', { body: clientDoc(docs.cid('/hand-made')), delayMs: 100 });
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => plugins[i % 2]!.cimd.resolve(cid)));
      expect(results.every((entry) => entry?.cid === cid)).toBe(true);
      expect(docs.hits('/hand-made')).toBe(1);
      await plugins[1]!.cimd.resolve(cid);
      await eventually(
        async () => (await plugins[1]!.cimd.inspect(cid))?.tier === 'memory',
        'the second instance holds a copy',
      );
      await plugins[0]!.cimd.purge(cid);
      await eventually(async () => (await plugins[1]!.cimd.inspect(cid)) === undefined, 'the purge reached it');
    } finally {
      await Promise.all(plugins.map(({ cimd }) => cimd.close()));
    }
  } finally {
    await Promise.allSettled(stores.map((store) => store.disconnect()));
    await docs.close();
  }
});
