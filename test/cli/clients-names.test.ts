/**
 * `cimd clients` shows who connected by name: the client's own name from its cached document (quoted, as
 * supplied by the client, with anything a terminal would interpret replaced), else the known-clients catalog's
 * name, else says the name is unknown.
 */
import type { Keyv } from '@keyv/redis';
import { createRedisCache } from 'oidc-provider-cimd';
import { authorizationParams, authorize } from '../helpers/auth-flow.js';
import { getTestCertificate } from '../helpers/certs.js';
import { startProvider } from '../helpers/provider.js';
import { startRedisServer, type TestRedisServer } from '../helpers/redis-server.js';
import { cimd, clientDoc, type DocServer, startDocServer } from './support.js';

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

test('names next to ids: the document name, escaped for the terminal; unknown when not cached', async () => {
  const named = docs.route('/named.json', {
    body: clientDoc(docs.cid('/named.json'), { client_name: 'Acme\u001b[31m Desk' }),
  });
  const missing = docs.cid('/missing.json');
  const namespace = `cli-names-${process.pid}-${Date.now()}`;
  const cache: Keyv = await createRedisCache(redis.url, { maxReconnectDelayMs: 100, namespace });
  const { cert } = await getTestCertificate();
  const op = await startProvider({ cimd: { cache, allowLoopback: true, ca: cert } });
  try {
    const flow = await authorize(op.issuer, authorizationParams(named, 'https://app.example.com/callback'));
    expect(flow.leftTo?.searchParams.get('code')).toBeTruthy();
    await fetch(
      new URL(
        `/auth?${new URLSearchParams(authorizationParams(missing, 'https://app.example.com/callback'))}`,
        op.issuer,
      ),
      { redirect: 'manual' },
    ).then((response) => response.body?.cancel());
  } finally {
    await op.close();
    await cache.disconnect();
  }

  const args = ['clients', '--redis', redis.url, '--namespace', namespace, '--allow-loopback'];
  const text = await cimd(args);
  expect(text.code).toBe(0);
  // The escape character never reaches the terminal; the rest of the name does, quoted, next to the id.
  expect(text.stdout).not.toContain('\u001b');
  expect(text.stdout).toContain(`“Acme\uFFFD[31m Desk”  ${named}`);
  expect(text.stdout).toContain(`(name unknown: not cached)  ${missing}`);

  const json = (await cimd([...args, '--json'])).json<{ clients: Array<Record<string, unknown>> }>();
  const byId = new Map(json.clients.map((client) => [client.clientId, client]));
  expect(byId.get(named)).toMatchObject({ name: 'Acme\u001b[31m Desk', nameFrom: 'document' });
  expect(byId.get(missing)?.name).toBeUndefined();
});
