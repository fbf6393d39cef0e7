/**
 * Conditional revalidation (ETag / Last-Modified): a 304 refreshes the stored, already-validated document's
 * lifetime without looking at any body; a 200 replaces it. And the redirect-miss refetch: a cached document
 * older than 60 s is refetched once when the request's redirect_uri is not in it, and that refetch is
 * rate-limited.
 */
import type { IncomingMessage } from 'node:http';
import { authorizationParams, authorize } from '../helpers/auth-flow.js';
import { getTestCertificate } from '../helpers/certs.js';
import { startProvider } from '../helpers/provider.js';
import {
  clientDoc,
  configuredCimd,
  type DocServer,
  type FakeClock,
  fakeClock,
  SECOND,
  startDocServer,
} from './support.js';

describe('revalidation', () => {
  let docs: DocServer;
  let clock: FakeClock;
  let plugin: Awaited<ReturnType<typeof configuredCimd>>;

  beforeAll(async () => {
    docs = await startDocServer();
  });
  afterAll(async () => {
    await docs.close();
  });
  beforeEach(async () => {
    clock = fakeClock();
    plugin = await configuredCimd({ now: clock.now });
  });
  afterEach(async () => {
    await plugin.cimd.close();
  });

  test('ETag: If-None-Match is sent, a 304 keeps the validated document and refreshes its lifetime', async () => {
    const p = '/reval/etag';
    const cid = docs.cid(p);
    let current = clientDoc(cid, { client_name: 'Version 1' });
    docs.route(p, (req: IncomingMessage) =>
      req.headers['if-none-match'] === '"v1"'
        ? // A 304 never carries a document; what the origin would serve now is irrelevant to it.
          { status: 304, headers: { etag: '"v1"', 'cache-control': 'max-age=120' } }
        : { body: current, headers: { etag: '"v1"', 'cache-control': 'max-age=60' } },
    );

    const first = await plugin.cimd.resolve(cid);
    current = { not: 'even a document' };
    clock.advance(61 * SECOND);
    const revalidated = await plugin.cimd.resolve(cid);
    expect(docs.hits(p)).toBe(2);
    expect(docs.headers(p)[1]?.['if-none-match']).toBe('"v1"');
    expect(plugin.reasons(cid)).toEqual(['fetched', 'revalidated']);
    expect(revalidated?.metadata).toEqual(first?.metadata);
    expect(revalidated?.metadata.client_name).toBe('Version 1');
    // The 304's own max-age (120 s) now applies from the revalidation.
    expect(revalidated?.freshUntil).toBe(clock.now() + 120 * SECOND);

    clock.advance(119 * SECOND);
    await plugin.cimd.resolve(cid);
    expect(docs.hits(p)).toBe(2);
    clock.advance(2 * SECOND);
    await plugin.cimd.resolve(cid);
    expect(docs.hits(p)).toBe(3);
  });

  test('Last-Modified: If-Modified-Since is sent, a 304 refreshes the lifetime', async () => {
    const p = '/reval/last-modified';
    const cid = docs.cid(p);
    const lastModified = new Date(clock.now() - 3600 * SECOND).toUTCString();
    docs.route(p, (req: IncomingMessage) =>
      req.headers['if-modified-since'] === lastModified
        ? { status: 304, headers: { 'last-modified': lastModified } }
        : { body: clientDoc(cid), headers: { 'last-modified': lastModified, 'cache-control': 'max-age=60' } },
    );
    await plugin.cimd.resolve(cid);
    clock.advance(61 * SECOND);
    await plugin.cimd.resolve(cid);
    expect(docs.headers(p)[1]?.['if-modified-since']).toBe(lastModified);
    expect(docs.headers(p)[1]?.['if-none-match']).toBeUndefined();
    expect(plugin.reasons(cid)).toEqual(['fetched', 'revalidated']);
    // No freshness information on the 304: the default 300 s from now.
    expect((await plugin.cimd.inspect(cid))?.expiresInMs).toBe(300 * SECOND);
    clock.advance(299 * SECOND);
    await plugin.cimd.resolve(cid);
    expect(docs.hits(p)).toBe(2);
  });

  test('a changed document (200 to the conditional request) replaces the entry after validation', async () => {
    const p = '/reval/changed';
    const cid = docs.cid(p);
    let version = 1;
    docs.route(p, (req: IncomingMessage) =>
      req.headers['if-none-match'] === `"v${version}"`
        ? { status: 304, headers: { etag: `"v${version}"` } }
        : {
            body: clientDoc(cid, { client_name: `Version ${version}` }),
            headers: { etag: `"v${version}"`, 'cache-control': 'max-age=60' },
          },
    );
    await plugin.cimd.resolve(cid);
    version = 2;
    clock.advance(61 * SECOND);
    const changed = await plugin.cimd.resolve(cid);
    expect(docs.headers(p)[1]?.['if-none-match']).toBe('"v1"');
    expect(changed?.metadata.client_name).toBe('Version 2');
    expect(changed?.etag).toBe('"v2"');
    expect(plugin.reasons(cid)).toEqual(['fetched', 'fetched']);
    clock.advance(61 * SECOND);
    await plugin.cimd.resolve(cid);
    expect(docs.headers(p)[2]?.['if-none-match']).toBe('"v2"');
    expect(plugin.reasons(cid).at(-1)).toBe('revalidated');
  });
});

describe('redirect-miss refetch', () => {
  let docs: DocServer;

  beforeAll(async () => {
    docs = await startDocServer();
  });
  afterAll(async () => {
    await docs.close();
  });

  test('a document older than 60 s is refetched once for an unknown redirect_uri, and not again right after', async () => {
    const clock = fakeClock();
    const { cimd, reasons } = await configuredCimd({ now: clock.now });
    try {
      const p = '/redirect/resolve';
      const cid = docs.cid(p);
      let redirects = ['https://app.example.com/cb'];
      docs.route(p, () => ({
        body: clientDoc(cid, { redirect_uris: redirects }),
        headers: { 'cache-control': 'max-age=3600' },
      }));

      await cimd.resolve(cid, { redirectUri: 'https://app.example.com/cb' });
      redirects = ['https://app.example.com/cb', 'https://app.example.com/new'];

      // Younger than 60 s: no refetch, the cached document (without the new URI) answers.
      clock.advance(30 * SECOND);
      const young = await cimd.resolve(cid, { redirectUri: 'https://app.example.com/new' });
      expect(young?.metadata.redirect_uris).toEqual(['https://app.example.com/cb']);
      expect(docs.hits(p)).toBe(1);

      // Older than 60 s: one refetch picks up the new URI.
      clock.advance(31 * SECOND);
      const refetched = await cimd.resolve(cid, { redirectUri: 'https://app.example.com/new' });
      expect(refetched?.metadata.redirect_uris).toContain('https://app.example.com/new');
      expect(docs.hits(p)).toBe(2);

      // Rate-limited: another miss right after does not refetch (the copy is now 1 s old).
      clock.advance(SECOND);
      await cimd.resolve(cid, { redirectUri: 'https://app.example.com/unknown' });
      await cimd.resolve(cid, { redirectUri: 'https://app.example.com/unknown' });
      expect(docs.hits(p)).toBe(2);
      // A known redirect_uri never triggers a refetch, however old the copy.
      clock.advance(10 * 60 * SECOND);
      await cimd.resolve(cid, { redirectUri: 'https://app.example.com/cb' });
      expect(docs.hits(p)).toBe(2);
      expect(reasons(cid)).toEqual(['fetched', 'cache_hit', 'fetched', 'cache_hit', 'cache_hit', 'cache_hit']);
    } finally {
      await cimd.close();
    }
  });

  test('through the provider: /auth with a just-added redirect_uri succeeds after the refetch', async () => {
    const clock = fakeClock();
    const { cert } = await getTestCertificate();
    const op = await startProvider({ cimd: { allowLoopback: true, ca: cert, now: clock.now } });
    try {
      const p = '/redirect/provider';
      const cid = docs.cid(p);
      let redirects = ['https://app.example.com/cb'];
      docs.route(p, () => ({
        body: clientDoc(cid, { redirect_uris: redirects }),
        headers: { 'cache-control': 'max-age=3600' },
      }));
      const auth = (redirectUri: string) => authorize(op.issuer, authorizationParams(cid, redirectUri));

      expect((await auth('https://app.example.com/cb')).leftTo?.origin).toBe('https://app.example.com');
      redirects = ['https://app.example.com/cb', 'https://app.example.com/added'];
      clock.advance(61 * SECOND);
      const flow = await auth('https://app.example.com/added');
      expect(flow.leftTo?.href).toMatch(/^https:\/\/app\.example\.com\/added\?code=/);
      expect(docs.hits(p)).toBe(2);

      // Right after, an unregistered redirect_uri is rejected without another fetch.
      const rejected = await auth('https://app.example.com/never');
      expect(rejected.last.status).toBe(400);
      expect(rejected.leftTo).toBeUndefined();
      expect(docs.hits(p)).toBe(2);
    } finally {
      await op.close();
    }
  });
});
