/**
 * `cimd clients` against a real redis-server: a provider (its plugin on that Redis) completes an authorization
 * and refuses another id; the command line, a separate plugin instance on the same store, lists both.
 */
import type { Keyv } from '@keyv/redis';
import { createRedisCache } from 'oidc-provider-cimd';
import { cimd, clientDoc, type DocServer, startDocServer } from '../cli/support.js';
import { authorizationParams, authorize } from '../helpers/auth-flow.js';
import { getTestCertificate } from '../helpers/certs.js';
import { unusedPort } from '../helpers/https-server.js';
import { startProvider } from '../helpers/provider.js';
import { startRedisServer, type TestRedisServer } from '../helpers/redis-server.js';

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

describe('cimd clients', () => {
  test('lists what the servers saw: outcome, users (hashed), first and last seen', async () => {
    const good = docs.route('/good.json', { body: clientDoc(docs.cid('/good.json')) });
    const missing = docs.cid('/missing.json');
    // A namespace of its own: a redis-server may start from a dump other tests left.
    const namespace = `cli-clients-${process.pid}-${Date.now()}`;
    const cache: Keyv = await createRedisCache(redis.url, { maxReconnectDelayMs: 100, namespace });
    const { cert } = await getTestCertificate();
    const op = await startProvider({ cimd: { cache, allowLoopback: true, ca: cert } });
    try {
      const flow = await authorize(op.issuer, authorizationParams(good, 'https://app.example.com/callback'));
      expect(flow.leftTo?.searchParams.get('code')).toBeTruthy();
      await fetch(
        new URL(
          `/auth?${new URLSearchParams(authorizationParams(missing, 'https://app.example.com/callback'))}`,
          op.issuer,
        ),
        {
          redirect: 'manual',
        },
      ).then((response) => response.body?.cancel());
    } finally {
      // Closing the plugin writes what the registry has pending.
      await op.close();
      await cache.disconnect();
    }

    const listed = await cimd(['clients', '--redis', redis.url, '--namespace', namespace, '--json']);
    expect(listed.code).toBe(0);
    const clients = listed.json<{ clients: Array<Record<string, unknown>> }>().clients;
    const byId = new Map(clients.map((client) => [client.clientId, client]));
    expect(byId.get(good)).toMatchObject({ users: 1, usersCapped: false });
    expect(['fetched', 'cache_hit']).toContain(byId.get(good)?.lastOutcome);
    expect(byId.get(good)?.lastSeenAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(byId.get(missing)).toMatchObject({ users: 0, lastOutcome: 'rejected:status' });

    const text = await cimd(['clients', '--namespace', namespace], { env: { REDIS_URL: redis.url } });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^2 CIMD clients seen, most recent first$/m);
    expect(text.stdout).toContain(good);
    expect(text.stdout).toMatch(/rejected:status · last seen .* · 0 users/);
    expect(text.stdout).toMatch(/· 1 user$/m);
    expect(text.stdout).not.toContain('would_deny');
  });

  test('usage errors and an unreachable store', async () => {
    const extra = await cimd(['clients', 'https://x.example/c', '--redis', redis.url]);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toMatch(/takes no arguments/);
    const noStore = await cimd(['clients']);
    expect(noStore.code).toBe(2);
    expect(noStore.stderr).toMatch(/--redis URL or REDIS_URL/);
    const down = await cimd(['clients', '--redis', `redis://127.0.0.1:${await unusedPort()}`]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/cannot reach Redis|cannot use the store/);
    const help = await cimd(['clients', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: cimd clients/);
  });
});
