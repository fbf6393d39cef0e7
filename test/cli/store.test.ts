/**
 * The operator commands against a real redis-server started by the test: inspect, refresh, purge, pin and
 * unpin, each checked from the other side too — a server instance (its own plugin and Redis connection, as a
 * provider process would have) that sees what the command did. Includes a pinned client that resolves while
 * its host is down.
 */
import type { Keyv } from '@keyv/redis';
import { type Cimd, createCimd, createRedisCache } from 'oidc-provider-cimd';
import { startAuthorization } from '../helpers/auth-flow.js';
import { getTestCertificate } from '../helpers/certs.js';
import { unusedPort } from '../helpers/https-server.js';
import { startProvider } from '../helpers/provider.js';
import { startRedisServer, type TestRedisServer } from '../helpers/redis-server.js';
import { cimd, clientDoc, type DocServer, eventually, startDocServer, tempDir } from './support.js';

let redis: TestRedisServer;
let docs: DocServer;
let tmp: Awaited<ReturnType<typeof tempDir>>;
/** `--redis <url> --allow-loopback --ca <test cert>`: what every command against the local servers needs. */
let store: string[];
let lookup: string[];

interface ServerInstance {
  cimd: Cimd;
  close(): Promise<void>;
}
const servers: ServerInstance[] = [];

/** A provider-side plugin on the same Redis, as a server process would run it. */
async function serverInstance(options: { namespace?: string } = {}): Promise<ServerInstance> {
  const cache: Keyv = await createRedisCache(redis.url, {
    maxReconnectDelayMs: 100,
    ...(options.namespace ? { namespace: options.namespace } : {}),
  });
  const { cert } = await getTestCertificate();
  const plugin = createCimd({ cache, issuer: 'http://localhost', allowLoopback: true, ca: cert, failureBackoffMs: 0 });
  plugin.configure({});
  const instance = {
    cimd: plugin,
    async close() {
      await plugin.close();
      await cache.disconnect();
    },
  };
  servers.push(instance);
  return instance;
}

beforeAll(async () => {
  redis = await startRedisServer();
  docs = await startDocServer();
  tmp = await tempDir();
  store = ['--redis', redis.url, '--allow-loopback', '--ca', tmp.ca];
  // inspect, purge and unpin fetch nothing: they take the URL rules' options, not --ca.
  lookup = ['--redis', redis.url, '--allow-loopback'];
});
afterAll(async () => {
  await Promise.allSettled(servers.map((server) => server.close()));
  await docs.close();
  await redis.close();
  tmp.cleanup();
});

describe('the store', () => {
  test.each(['inspect', 'refresh', 'purge', 'pin', 'unpin'])(
    '%s without --redis or REDIS_URL is a usage error',
    async (command) => {
      const run = await cimd([command, 'https://app.example.com/c.json']);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`cimd ${command}: needs the deployment's store: --redis URL or REDIS_URL`);
    },
  );

  test('a Redis that cannot be reached: exit 1 with the reason, nothing pretends to succeed', async () => {
    const port = await unusedPort();
    const started = Date.now();
    const run = await cimd(['purge', 'https://app.example.com/c.json', '--redis', `redis://127.0.0.1:${port}`]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+\/?: connect ECONNREFUSED/);
    expect(run.stdout).toBe('');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  test('a malformed --redis is a usage error; --from-file is only for pin', async () => {
    expect((await cimd(['inspect', 'https://app.example.com/c.json', '--redis', 'localhost:6379'])).code).toBe(2);
    const run = await cimd(['inspect', 'https://app.example.com/c.json', '--from-file', 'x.json', ...lookup]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("Unknown option '--from-file'");
  });
});

describe('inspect', () => {
  test('shows what a server cached; exit 1 for a client that is not cached', async () => {
    const cid = docs.route('/inspect.json', {
      body: clientDoc(docs.cid('/inspect.json')),
      headers: { 'cache-control': 'max-age=600', etag: '"i1"' },
    });
    const missing = await cimd(['inspect', cid, ...lookup, '--json']);
    expect(missing.code).toBe(1);
    expect(missing.json()).toEqual({ clientId: cid, cached: false });
    expect((await cimd(['inspect', cid, ...lookup])).stdout).toBe(`${cid}: not cached\n`);

    const server = await serverInstance();
    await server.cimd.resolve(cid);
    const run = await cimd(['inspect', cid, ...lookup, '--json']);
    expect(run.code).toBe(0);
    const inspection = run.json();
    expect(inspection).toMatchObject({ clientId: cid, cached: true, tier: 'shared', fresh: true, pinned: false });
    expect(inspection.expiresInMs).toBeGreaterThan(590_000);
    expect(inspection.entry).toMatchObject({ cid, etag: '"i1"', metadata: { client_name: 'Test App' } });

    const human = await cimd(['inspect', cid, ...lookup]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/state\s+fresh, expires in (9 min \d+ s|10 min)/);
    expect(human.stdout).toMatch(/client\s+"Test App", web, auth none/);
    expect(human.stdout).toMatch(/validators\s+ETag "i1"/);
  });

  test('REDIS_URL stands in for --redis', async () => {
    const run = await cimd(['inspect', 'https://app.example.com/none.json', '--json'], {
      env: { REDIS_URL: redis.url },
    });
    expect(run.code).toBe(1);
    expect(run.json()).toEqual({ clientId: 'https://app.example.com/none.json', cached: false });
  });
});

describe('refresh and purge', () => {
  test('refresh replaces the entry with a valid new document, which a server then uses without fetching', async () => {
    const path = '/refresh.json';
    const cid = docs.route(path, { body: clientDoc(docs.cid(path), { client_name: 'v1' }) });
    const server = await serverInstance();
    expect((await server.cimd.resolve(cid))?.metadata.client_name).toBe('v1');

    docs.route(path, { body: clientDoc(cid, { client_name: 'v2' }) });
    const run = await cimd(['refresh', cid, ...store, '--json']);
    expect(run.code).toBe(0);
    expect(run.json()).toMatchObject({ clientId: cid, refreshed: true, entry: { metadata: { client_name: 'v2' } } });

    const hits = docs.hits(path);
    const other = await serverInstance();
    expect((await other.cimd.resolve(cid))?.metadata.client_name).toBe('v2');
    // The running server was told to drop its copy and reads the new one from Redis.
    await eventually(async () => (await server.cimd.resolve(cid))?.metadata.client_name === 'v2');
    expect(docs.hits(path)).toBe(hits);
  });

  test('a failed refresh: exit 1 with the reason code, the cached entry unchanged', async () => {
    const path = '/refresh-fail.json';
    const cid = docs.route(path, { body: clientDoc(docs.cid(path), { client_name: 'good' }) });
    expect((await cimd(['refresh', cid, ...store])).code).toBe(0);

    docs.route(path, { status: 500, body: 'oops' });
    const run = await cimd(['refresh', cid, ...store, '--json']);
    expect(run.code).toBe(1);
    expect(run.json()).toMatchObject({ clientId: cid, refreshed: false, error: { code: 'rejected:status' } });
    const human = await cimd(['refresh', cid, ...store]);
    expect(human.stdout).toContain(`not refreshed ${cid}: rejected:status: unexpected status 500`);

    docs.route(path, { body: clientDoc(cid, { client_name: 'good', client_secret: 'x' }) });
    const invalid = await cimd(['refresh', cid, ...store, '--json']);
    expect(invalid.code).toBe(1);
    expect(invalid.json().error).toMatchObject({ code: 'rejected:secret', rule: 'client_secret' });

    const inspection = (await cimd(['inspect', cid, ...lookup, '--json'])).json();
    expect(inspection.entry.metadata.client_name).toBe('good');
  });

  test('purge removes the entry; the next lookup fetches again', async () => {
    const path = '/purge.json';
    const cid = docs.route(path, { body: clientDoc(docs.cid(path)) });
    const server = await serverInstance();
    await server.cimd.resolve(cid);
    expect(docs.hits(path)).toBe(1);

    const run = await cimd(['purge', cid, ...lookup, '--json']);
    expect(run.code).toBe(0);
    expect(run.json()).toEqual({ clientId: cid, purged: true, wasCached: true, wasPinned: false });
    expect((await cimd(['inspect', cid, ...lookup])).code).toBe(1);
    await eventually(async () => {
      await server.cimd.resolve(cid);
      return docs.hits(path) === 2;
    });
    // Purging what is not cached is not an error.
    await cimd(['purge', cid, ...lookup]);
    const again = await cimd(['purge', cid, ...lookup]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('(it was not cached)');
  });
});

describe('pin and unpin', () => {
  test('a pinned client resolves while its host is down, with no fetch, until it is unpinned', async () => {
    const host = await startDocServer();
    const path = '/pinned.json';
    const cid = host.route(path, {
      body: clientDoc(host.cid(path), { client_name: 'Pinned App' }),
      headers: { 'cache-control': 'max-age=60', etag: '"p1"' },
    });
    try {
      const run = await cimd(['pin', cid, ...store, '--json']);
      expect(run.code).toBe(0);
      expect(run.json()).toMatchObject({
        clientId: cid,
        pinned: true,
        source: 'fetched',
        entry: { pinned: true, metadata: { client_name: 'Pinned App' } },
      });
      expect(host.hits(path)).toBe(1);

      const inspection = (await cimd(['inspect', cid, ...lookup, '--json'])).json();
      expect(inspection).toMatchObject({ cached: true, pinned: true, fresh: true, expiresInMs: null });
      expect((await cimd(['inspect', cid, ...lookup])).stdout).toMatch(/state\s+pinned: served without fetching/);

      const server = await serverInstance();
      expect((await server.cimd.resolve(cid))?.metadata.client_name).toBe('Pinned App');
      expect(host.hits(path)).toBe(1);
      await host.close();
      // Host down: still served, also by an instance that never saw the client, also with an unknown redirect_uri.
      const fresh = await serverInstance();
      const resolved = await fresh.cimd.resolve(cid, { redirectUri: 'https://app.example.com/not-registered' });
      expect(resolved).toMatchObject({ cid, pinned: true, metadata: { client_name: 'Pinned App' } });
      expect(await server.cimd.resolve(cid)).toMatchObject({ pinned: true });

      const unpin = await cimd(['unpin', cid, ...lookup, '--json']);
      expect(unpin.code).toBe(0);
      expect(unpin.json()).toEqual({ clientId: cid, unpinned: true });
      expect((await cimd(['inspect', cid, ...lookup])).code).toBe(1);
      // The running servers drop their copies: the next lookup fetches, and the host is down.
      for (const instance of [server, fresh]) {
        await eventually(() =>
          instance.cimd.resolve(cid).then(
            () => false,
            (error) => error.code === 'rejected:network',
          ),
        );
      }

      const again = await cimd(['unpin', cid, ...lookup]);
      expect(again.code).toBe(1);
      expect(again.stdout).toBe(`${cid}: not pinned, nothing changed\n`);
    } finally {
      await host.close();
    }
  });

  test('pin --from-file: a client whose host cannot be reached at all (e.g. bot protection)', async () => {
    const port = await unusedPort();
    const cid = `https://127.0.0.1:${port}/oauth/client.json`;
    const file = tmp.write('pin.json', JSON.stringify(clientDoc(cid, { client_name: 'From File' })));
    const run = await cimd(['pin', cid, '--from-file', file, ...store]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`pinned ${cid} (from ${file})`);
    expect(run.stdout).toContain(
      `the server serves this client without fetching its document until "cimd unpin ${cid}"`,
    );

    const server = await serverInstance();
    expect(await server.cimd.resolve(cid)).toMatchObject({ pinned: true, metadata: { client_name: 'From File' } });
    // refresh of a pinned client fetches, fails here, and leaves the pin alone.
    const refresh = await cimd(['refresh', cid, ...store, '--json']);
    expect(refresh.code).toBe(1);
    expect(refresh.json().error.code).toBe('rejected:network');
    expect((await cimd(['inspect', cid, ...lookup, '--json'])).json()).toMatchObject({ pinned: true });
    // purge removes a pin too, and says so.
    const purge = await cimd(['purge', cid, ...lookup]);
    expect(purge.stdout).toContain('(it was pinned; the pin is gone)');
  });

  test('an oidc-provider on the same Redis starts an authorization for a pinned client whose host is down', async () => {
    const port = await unusedPort();
    const cid = `https://127.0.0.1:${port}/mcp/client.json`;
    const redirectUri = 'https://app.example.com/callback';
    const cache = await createRedisCache(redis.url, { maxReconnectDelayMs: 100 });
    const { cert } = await getTestCertificate();
    const op = await startProvider({ cimd: { allowLoopback: true, ca: cert, cache } });
    const auth = () => startAuthorization(op.issuer, cid, redirectUri);
    try {
      expect((await auth()).status).toBe(400);
      const file = tmp.write('provider-pin.json', JSON.stringify(clientDoc(cid)));
      expect((await cimd(['pin', cid, '--from-file', file, ...store])).code).toBe(0);
      const response = await auth();
      expect(response.status).toBe(303);
      expect(response.location).toMatch(/^\/interaction\//);
      expect((await cimd(['unpin', cid, ...lookup])).code).toBe(0);
      await eventually(async () => (await auth()).status === 400);
    } finally {
      await op.close();
      await cache.disconnect();
    }
  });

  test('refresh of a pinned client replaces its document and keeps the pin', async () => {
    const path = '/repin.json';
    const cid = docs.route(path, { body: clientDoc(docs.cid(path), { client_name: 'old' }) });
    expect((await cimd(['pin', cid, ...store])).code).toBe(0);
    docs.route(path, { body: clientDoc(cid, { client_name: 'new' }) });
    const run = await cimd(['refresh', cid, ...store, '--json']);
    expect(run.code).toBe(0);
    expect(run.json().entry).toMatchObject({ pinned: true, metadata: { client_name: 'new' } });
    await cimd(['unpin', cid, ...lookup]);
  });

  test('a document that fails the rules is not pinned: exit 1 with the reason code', async () => {
    const cid = 'https://app.example.com/oauth/client.json';
    const file = tmp.write('wrong.json', JSON.stringify(clientDoc('https://app.example.com/other.json')));
    const mismatch = await cimd(['pin', cid, '--from-file', file, ...store, '--json']);
    expect(mismatch.code).toBe(1);
    expect(mismatch.json()).toMatchObject({
      clientId: cid,
      pinned: false,
      error: { code: 'rejected:client_id_mismatch', rule: 'client_id' },
    });
    const human = await cimd(['pin', cid, '--from-file', file, ...store]);
    expect(human.stdout).toContain(`"cimd check ${file} --client-id ${cid}" shows every rule and its fix`);
    expect((await cimd(['inspect', cid, ...lookup])).code).toBe(1);

    const badUrl = await cimd(['pin', 'https://app.example.com/', '--from-file', file, ...store, '--json']);
    expect(badUrl.code).toBe(1);
    expect(badUrl.json().error).toMatchObject({ code: 'rejected:url', rule: 'root_path' });

    const unreachable = await cimd(['pin', docs.cid('/missing.json'), ...store, '--json']);
    expect(unreachable.code).toBe(1);
    expect(unreachable.json().error.code).toBe('rejected:status');
  });

  test('--namespace: the command sees exactly what servers using that namespace see', async () => {
    const path = '/namespaced.json';
    const cid = docs.route(path, { body: clientDoc(docs.cid(path)) });
    expect((await cimd(['pin', cid, ...store, '--namespace', 'tenant-a'])).code).toBe(0);
    expect((await cimd(['inspect', cid, ...lookup])).code).toBe(1);
    expect((await cimd(['inspect', cid, ...lookup, '--namespace', 'tenant-a'])).code).toBe(0);

    const inside = await serverInstance({ namespace: 'tenant-a' });
    const outside = await serverInstance();
    const hits = docs.hits(path);
    expect(await inside.cimd.resolve(cid)).toMatchObject({ pinned: true });
    expect(docs.hits(path)).toBe(hits);
    expect((await outside.cimd.resolve(cid))?.pinned).toBeUndefined();
    expect(docs.hits(path)).toBe(hits + 1);
  });
});
