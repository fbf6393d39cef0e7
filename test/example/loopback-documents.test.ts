/**
 * The example server and a document on https://localhost: refused without the development exception
 * (before any connection), resolved with it.
 */
import { startHttpsServer, type TestHttpsServer } from '../helpers/https-server.js';
import {
  authorizationUrl,
  type ClientHost,
  loopbackClientDocument,
  startClientHost,
  startExample,
} from './start-example.js';

describe('documents on https://localhost', () => {
  let host: ClientHost;
  beforeAll(async () => {
    host = await startClientHost();
  });
  afterAll(() => host.close());

  it('are refused without CIMD_ALLOW_LOOPBACK, and never fetched', async () => {
    const example = await startExample({ allowLoopback: false });
    try {
      const cid = host.publish('/refused.json', loopbackClientDocument('http://127.0.0.1:9/callback'));
      const response = await fetch(authorizationUrl(example.issuer, cid, 'http://127.0.0.1:9/callback'), {
        redirect: 'manual',
      });
      expect(response.status).toBe(400);
      expect(response.headers.get('location')).toBeNull();
      expect(await response.text()).toMatch(/invalid_client/);
      expect(host.hitsFor('/refused.json')).toBe(0);
      expect(example.events.map((e) => e.reason)).toEqual(['rejected:url']);
    } finally {
      await example.close();
    }
  });

  it('are resolved with CIMD_ALLOW_LOOPBACK and a loopback issuer', async () => {
    const example = await startExample({ allowLoopback: true });
    try {
      const cid = host.publish('/resolved.json', loopbackClientDocument('http://127.0.0.1:9/callback'));
      const response = await fetch(authorizationUrl(example.issuer, cid, 'http://127.0.0.1:9/callback'), {
        redirect: 'manual',
      });
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toMatch(/^\/interaction\//);
      await response.body?.cancel();
      expect(host.hitsFor('/resolved.json')).toBe(1);
      expect(example.events[0]).toMatchObject({ reason: 'fetched', cid, host: new URL(cid).host, tier: 'origin' });
    } finally {
      await example.close();
    }
  });

  it('are unknown clients when CIMD is disabled, even with the exception', async () => {
    const example = await startExample({ allowLoopback: true, cimdEnabled: false });
    try {
      const cid = host.publish('/disabled.json', loopbackClientDocument('http://127.0.0.1:9/callback'));
      const response = await fetch(authorizationUrl(example.issuer, cid, 'http://127.0.0.1:9/callback'), {
        redirect: 'manual',
      });
      expect(response.status).toBe(400);
      expect(response.headers.get('location')).toBeNull();
      await response.body?.cancel();
      expect(host.hitsFor('/disabled.json')).toBe(0);
      expect(example.events).toEqual([]);
    } finally {
      await example.close();
    }
  });
});

/**
 * Exactly what the development exception admits (the example README documents this list): client ids on
 * `localhost`, on 127.0.0.0/8 and on [::1], on any port but the issuer's; not other names for loopback.
 */
describe('the development exception, exactly', () => {
  const servers: TestHttpsServer[] = [];
  afterAll(async () => {
    for (const server of servers) await server.close();
  });

  /** Serves one document at `/dev.json` on `listenHost`; its client_id is `https://<idHost>:<port>/dev.json`. */
  async function documentOn(listenHost: string, idHost: string): Promise<{ cid: string; server: TestHttpsServer }> {
    let body = '';
    const server = await startHttpsServer(
      (req, res) => {
        if (req.url !== '/dev.json') return void res.writeHead(404).end();
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      },
      { host: listenHost },
    );
    servers.push(server);
    const cid = `https://${idHost}:${server.port}/dev.json`;
    body = JSON.stringify({ ...loopbackClientDocument('http://127.0.0.1:9/callback'), client_id: cid });
    return { cid, server };
  }

  async function authorizationStatus(issuer: string, cid: string): Promise<number> {
    const response = await fetch(authorizationUrl(issuer, cid, 'http://127.0.0.1:9/callback'), { redirect: 'manual' });
    await response.body?.cancel();
    return response.status;
  }

  it.each([
    ['https://127.0.0.1:<port>', '127.0.0.1', '127.0.0.1'],
    ['https://127.0.0.2:<port> (all of 127.0.0.0/8)', '127.0.0.2', '127.0.0.2'],
    ['https://[::1]:<port>', '::1', '[::1]'],
  ])('admits a client id on %s', async (_name, listenHost, idHost) => {
    const example = await startExample({ allowLoopback: true });
    try {
      const { cid, server } = await documentOn(listenHost, idHost);
      expect(await authorizationStatus(example.issuer, cid)).toBe(303);
      expect(server.requests.filter((r) => r.path === '/dev.json')).toHaveLength(1);
      expect(example.events[0]).toMatchObject({ reason: 'fetched', cid });
    } finally {
      await example.close();
    }
  });

  it.each([
    ['another name for loopback (app.localhost)', (port: number) => `https://app.localhost:${port}/dev.json`],
    ['a numeric spelling of 127.0.0.1', (port: number) => `https://2130706433:${port}/dev.json`],
    ['a private address', (port: number) => `https://10.0.0.1:${port}/dev.json`],
  ])('still refuses %s, without fetching', async (_name, makeCid) => {
    const example = await startExample({ allowLoopback: true });
    try {
      const cid = makeCid(8443);
      expect(await authorizationStatus(example.issuer, cid)).toBe(400);
      expect(example.events[0]).toMatchObject({ reason: 'rejected:url', cid });
    } finally {
      await example.close();
    }
  });

  it("refuses a client id on the issuer's own port, under any loopback name", async () => {
    const example = await startExample({ allowLoopback: true });
    try {
      for (const host of ['localhost', '127.0.0.1', '[::1]']) {
        const cid = `https://${host}:${example.port}/dev.json`;
        expect(await authorizationStatus(example.issuer, cid)).toBe(400);
      }
      expect(example.events.map((e) => e.reason)).toEqual(['rejected:url', 'rejected:url', 'rejected:url']);
    } finally {
      await example.close();
    }
  });
});
