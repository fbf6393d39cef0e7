/**
 * The client registry through the plugin API: a real authorization in oidc-provider feeds it (the saved grant
 * counts its user, hashed), and `cimd.clients()` lists what every instance sharing the store has seen.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Keyv } from '@keyv/redis';
import { createCimd } from 'oidc-provider-cimd';
import { authorizationParams, authorize } from '../helpers/auth-flow.js';
import { getTestCertificate } from '../helpers/certs.js';
import { loadFixture } from '../helpers/fixtures.js';
import { startHttpsServer, type TestHttpsServer } from '../helpers/https-server.js';
import { startProvider, type TestProvider } from '../helpers/provider.js';

describe('client registry through the plugin', () => {
  const documents = new Map<string, string>();
  let docs: TestHttpsServer;
  let op: TestProvider;
  const store = new Keyv();

  beforeAll(async () => {
    docs = await startHttpsServer((req: IncomingMessage, res: ServerResponse) => {
      const body = documents.get(req.url ?? '');
      if (body === undefined) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' }).end(body);
    });
    const { cert } = await getTestCertificate();
    op = await startProvider({ cimd: { allowLoopback: true, ca: cert, cache: store } });
  });
  afterAll(async () => {
    await op.close();
    await docs.close();
  });

  const publish = (path: string): string => {
    const cid = `${docs.url}${path}`;
    documents.set(path, JSON.stringify(loadFixture('zed', cid)));
    return cid;
  };

  test('an authorization lists the client with its user counted; a failing id is listed with its reason', async () => {
    const cid = publish('/zed.json');
    const flow = await authorize(op.issuer, authorizationParams(cid, 'http://127.0.0.1:61000/callback'));
    expect(flow.leftTo?.searchParams.get('code')).toBeTruthy();
    const missing = `${docs.url}/missing.json`;
    const refused = await fetch(
      new URL(
        `/auth?${new URLSearchParams(authorizationParams(missing, 'http://127.0.0.1:61000/callback'))}`,
        op.issuer,
      ),
      { redirect: 'manual' },
    );
    await refused.body?.cancel();
    expect(refused.status).toBe(400);

    const clients = await op.cimd.clients();
    const zed = clients.find((client) => client.clientId === cid);
    expect(zed).toMatchObject({ users: 1, usersCapped: false });
    expect(['fetched', 'cache_hit']).toContain(zed?.lastOutcome);
    expect(zed!.firstSeen).toBeLessThanOrEqual(zed!.lastSeen);
    expect(clients.find((client) => client.clientId === missing)?.lastOutcome).toBe('rejected:status');
    // The account id (`alice`, see test/helpers/provider.ts) is only ever stored hashed.
    const raw = JSON.stringify([...(store as unknown as { store: Map<string, unknown> }).store]);
    expect(raw).not.toMatch(/"alice"/);
  });

  test('another instance on the same store (the command line, say) lists the same clients', async () => {
    const { cert } = await getTestCertificate();
    const other = createCimd({ issuer: op.issuer, allowLoopback: true, ca: cert, cache: store });
    other.configure({});
    try {
      const ids = (await other.clients()).map((client) => client.clientId);
      expect(ids).toContain(`${docs.url}/zed.json`);
    } finally {
      await other.close();
    }
  });

  test('registry: false turns it off', async () => {
    const off = createCimd({ issuer: op.issuer, registry: false });
    await expect(off.clients()).rejects.toThrow(/registry is off/);
    await off.close();
  });
});
