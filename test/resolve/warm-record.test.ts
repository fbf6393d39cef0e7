/**
 * The warm record (resolve/resolver.ts, cache/document-cache.ts `WarmRecord`): a client served warm keeps its URL
 * verdict on the cache's record of it, so the next warm lookup reads one record instead of the URL memo, the
 * cache and the registry in turn. These tests drive the paths where reusing what the record holds would be wrong:
 * - the URL rules in force changed (the provider serving the request has a public issuer while the plugin was
 *   set up for development): the verdict is not reused, the development exception is refused;
 * - the trust policy changed its answer: it is asked on every lookup, warm ones included;
 * - the entry changed (an operator refresh, a purge): the new record carries nothing of the old one;
 * - with somebody listening, every warm lookup has its event; with nobody listening, the registry's sighting
 *   moves at most once a second (it keeps seconds).
 *
 * Broken by: reusing the verdict without comparing the rules (`stamp.regime === urlRegime()`), keeping the policy's
 * answer on the record, stamping the record so that it survives a commit, or skipping events while somebody
 * listens.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Provider } from 'oidc-provider';
import { type CimdEvent, createCimd } from 'oidc-provider-cimd';
import { startAuthorization } from '../helpers/auth-flow.js';
import { getTestCertificate } from '../helpers/certs.js';
import { startHttpsServer, type TestHttpsServer } from '../helpers/https-server.js';

const REDIRECT = 'https://app.example.com/cb';
let docs: TestHttpsServer;
let ca: string;
const hits = new Map<string, number>();
/** The client_name each path serves (a refresh then shows whether the new document was read). */
const names = new Map<string, string>();

beforeAll(async () => {
  ca = (await getTestCertificate()).cert;
  docs = await startHttpsServer((req, res) => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=3600' });
    res.end(
      JSON.stringify({
        client_id: `${docs.url}${path}`,
        client_name: names.get(path) ?? 'Warm',
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: 'none',
      }),
    );
  });
});
afterAll(() => docs.close());

describe('the warm record', () => {
  test('a verdict kept under one set of URL rules is not reused under another (development exception)', async () => {
    const events: CimdEvent[] = [];
    // Set up for development (loopback issuer option), but mounted on a provider with a public issuer.
    const cimd = createCimd({
      issuer: 'http://localhost:4000',
      allowLoopback: true,
      ca,
      failureBackoffMs: 0,
      onEvent: (event) => events.push(event),
    });
    const provider = new Provider('https://op.example.com', cimd.configure({}));
    const server = http.createServer(provider.callback());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const local = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const cid = `${docs.url}/regime.json`;
      // Outside any request the development exception holds: fetched, then served warm (and stamped) twice.
      await cimd.resolve(cid);
      await cimd.resolve(cid);
      await cimd.resolve(cid);
      expect(events.filter((e) => e.reason === 'cache_hit')).toHaveLength(2);
      // Inside a request of the public provider, the rules refuse every id: the record's verdict must not count.
      const response = await startAuthorization(local, cid, REDIRECT);
      expect(response.status).toBe(400);
      expect(response.location).toBeNull();
      expect(events.at(-1)).toMatchObject({ reason: 'rejected:url', rule: 'development_exception' });
      expect(hits.get('/regime.json')).toBe(1);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await cimd.close();
    }
  });

  test('the trust policy is asked on every warm lookup', async () => {
    let allow = true;
    let asked = 0;
    const cimd = createCimd({
      issuer: 'http://localhost:4000',
      allowLoopback: true,
      ca,
      policy: {
        admission: 'allowlist',
        decide: () => {
          asked += 1;
          return allow;
        },
      },
    });
    cimd.configure({});
    try {
      const cid = `${docs.url}/policy.json`;
      await cimd.resolve(cid);
      await cimd.resolve(cid); // warm, stamped
      await cimd.resolve(cid); // warm, from the stamp
      expect(asked).toBe(3);
      allow = false;
      await expect(cimd.resolve(cid)).rejects.toMatchObject({ code: 'rejected:policy' });
      allow = true;
      await expect(cimd.resolve(cid)).resolves.toMatchObject({ cid });
      expect(hits.get('/policy.json')).toBe(1);
    } finally {
      await cimd.close();
    }
  });

  test('a new entry starts a new record: a refresh is served, not the stamped entry before it', async () => {
    const cimd = createCimd({ issuer: 'http://localhost:4000', allowLoopback: true, ca });
    cimd.configure({});
    try {
      const cid = `${docs.url}/refresh.json`;
      await cimd.resolve(cid);
      await cimd.resolve(cid); // stamped
      names.set('/refresh.json', 'Renamed');
      await cimd.refresh(cid);
      expect((await cimd.resolve(cid))?.metadata.client_name).toBe('Renamed');
      expect((await cimd.resolve(cid))?.metadata.client_name).toBe('Renamed');
      await cimd.purge(cid);
      names.set('/refresh.json', 'Again');
      expect((await cimd.resolve(cid))?.metadata.client_name).toBe('Again');
      expect(hits.get('/refresh.json')).toBe(3);
    } finally {
      await cimd.close();
    }
  });

  test('with a listener, every warm lookup has its event; with none, the sighting moves once a second', async () => {
    let clock = Date.parse('2026-06-01T00:00:00Z');
    const events: CimdEvent[] = [];
    const heard = createCimd({
      issuer: 'http://localhost:4000',
      allowLoopback: true,
      ca,
      now: () => clock,
      onEvent: (event) => events.push(event),
    });
    heard.configure({});
    const silent = createCimd({ issuer: 'http://localhost:4000', allowLoopback: true, ca, now: () => clock });
    silent.configure({});
    try {
      const cid = `${docs.url}/sighting.json`;
      for (let i = 0; i < 5; i++) await heard.resolve(cid);
      expect(events.map((e) => e.reason)).toEqual(['fetched', 'cache_hit', 'cache_hit', 'cache_hit', 'cache_hit']);

      const lastSeen = async () => (await silent.clients()).find((client) => client.clientId === cid)?.lastSeen;
      await silent.resolve(cid);
      await silent.resolve(cid); // the first warm hit is reported (and stamps the record)
      const first = clock;
      clock += 400;
      await silent.resolve(cid); // within the second: not reported
      expect(await lastSeen()).toBe(first);
      clock += 700;
      await silent.resolve(cid); // 1.1 s after the last report: reported
      expect(await lastSeen()).toBe(clock);
    } finally {
      await heard.close();
      await silent.close();
    }
  });
});
