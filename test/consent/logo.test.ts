/**
 * The logo proxy: the server fetches `logo_uri` through the guarded fetcher and serves it from its own origin;
 * only PNG, JPEG, GIF and WebP, checked on content type AND magic bytes, size-capped, never SVG, no redirects,
 * https only. Anything else is simply not shown.
 */
import { Keyv } from '@keyv/redis';
import { createCimd, sniffImageType } from 'oidc-provider-cimd';
import { LogoProxy, type LogoProxyOptions } from '../../packages/oidc-provider-cimd/src/consent/logo.js';
import { SharedGuard } from '../../packages/oidc-provider-cimd/src/core/shared-guard.js';
import { getTestCertificate } from '../helpers/certs.js';
import { circlePng, GIF_BYTES, JPEG_BYTES, SVG_BYTES, WEBP_BYTES } from './images.js';
import { type DocumentHost, startDocumentHost } from './support.js';

const CID = 'https://client.example.com/client.json';

describe('logo proxy', () => {
  let host: DocumentHost;
  let cimd: ReturnType<typeof createCimd>;
  let clock = Date.now();
  const now = () => clock;
  const PNG = circlePng(16);

  beforeAll(async () => {
    host = await startDocumentHost();
    cimd = createCimd({ issuer: 'http://localhost:4000', allowLoopback: true, ca: (await getTestCertificate()).cert });
    host.route('/logo.png', { type: 'image/png', body: PNG });
    host.route('/logo.jpg', { type: 'image/jpeg', body: JPEG_BYTES });
    host.route('/logo.gif', { type: 'image/gif', body: GIF_BYTES });
    host.route('/logo.webp', { type: 'image/webp; charset=binary', body: WEBP_BYTES });
    host.route('/logo.svg', { type: 'image/svg+xml', body: SVG_BYTES });
    host.route('/svg-as-png', { type: 'image/png', body: SVG_BYTES });
    host.route('/png-as-jpeg', { type: 'image/jpeg', body: PNG });
    host.route('/html-as-png', { type: 'image/png', body: '<html><body>hi</body></html>' });
    host.route('/png-as-octets', { type: 'application/octet-stream', body: PNG });
    host.route('/huge.png', { type: 'image/png', body: Buffer.concat([PNG, Buffer.alloc(70 * 1024)]) });
    host.route('/redirect.png', { status: 302, type: 'image/png', body: '', headers: { location: '/logo.png' } });
    host.route('/gzip.png', { type: 'image/png', body: PNG, headers: { 'content-encoding': 'gzip' } });
  });
  afterAll(async () => {
    await cimd.close();
    await host.close();
  });

  const BYTES: Record<string, Buffer> = {
    '/logo.png': PNG,
    '/logo.jpg': JPEG_BYTES,
    '/logo.gif': GIF_BYTES,
    '/logo.webp': WEBP_BYTES,
  };

  const proxy = (store = new Keyv(), options: Partial<LogoProxyOptions> = {}) =>
    new LogoProxy({ fetcher: cimd.fetcher, store, guard: new SharedGuard({ timeoutMs: 100 }), now, ...options });

  it('sniffs the four raster types and nothing else', () => {
    expect(sniffImageType(PNG)).toBe('image/png');
    expect(sniffImageType(JPEG_BYTES)).toBe('image/jpeg');
    expect(sniffImageType(GIF_BYTES)).toBe('image/gif');
    expect(sniffImageType(WEBP_BYTES)).toBe('image/webp');
    expect(sniffImageType(SVG_BYTES)).toBeUndefined();
    expect(sniffImageType(Buffer.from('RIFF\0\0\0\0WAVE'))).toBeUndefined();
    expect(sniffImageType(Buffer.alloc(0))).toBeUndefined();
  });

  it.each([
    ['/logo.png', 'image/png'],
    ['/logo.jpg', 'image/jpeg'],
    ['/logo.gif', 'image/gif'],
    ['/logo.webp', 'image/webp'],
  ])('accepts %s and serves it from its own route', async (path, type) => {
    const logos = proxy();
    const outcome = await logos.ensure(CID, `${host.origin}${path}`, clock + 120_000);
    expect(outcome).toMatchObject({ ok: true, type });
    if (!outcome.ok) return;
    expect(outcome.url).toBe(`/cimd/logo/${outcome.key}`);
    expect(outcome.key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The key says nothing about the client or its host.
    expect(outcome.url).not.toContain('client.example.com');

    const response = await logos.response('GET', outcome.url);
    expect(response?.status).toBe(200);
    expect(response?.headers['content-type']).toBe(type);
    expect(response?.headers['x-content-type-options']).toBe('nosniff');
    expect(response?.headers['cache-control']).toBe('private, max-age=120');
    expect(response?.headers['content-security-policy']).toBe("default-src 'none'; sandbox");
    expect(response?.body?.equals(BYTES[path]!)).toBe(true);
    const head = await logos.response('HEAD', outcome.url);
    expect(head?.status).toBe(200);
    expect(head?.body).toBeUndefined();
  });

  it.each([
    ['/logo.svg', 'content_type'],
    ['/svg-as-png', 'magic_bytes'],
    ['/html-as-png', 'magic_bytes'],
    ['/png-as-jpeg', 'type_mismatch'],
    ['/png-as-octets', 'content_type'],
    ['/huge.png', 'size'],
    ['/redirect.png', 'status'],
    ['/missing.png', 'status'],
    ['/gzip.png', 'encoding'],
  ])('refuses %s (%s)', async (path, reason) => {
    const logos = proxy();
    const outcome = await logos.ensure(CID, `${host.origin}${path}`, clock + 120_000);
    expect(outcome).toEqual({ ok: false, reason });
    // Nothing servable under its key.
    const key = logos.keyFor(CID, `${host.origin}${path}`);
    expect((await logos.response('GET', logos.urlFor(key)))?.status).toBe(404);
  });

  it('refuses a non-https logo_uri and data: URIs without any request', async () => {
    const before = host.server.hits;
    const logos = proxy();
    expect(await logos.ensure(CID, `http://127.0.0.1:${host.server.port}/logo.png`, clock + 60_000)).toEqual({
      ok: false,
      reason: 'url',
    });
    expect(await logos.ensure(CID, `data:image/png;base64,${PNG.toString('base64')}`, clock + 60_000)).toEqual({
      ok: false,
      reason: 'url',
    });
    expect(host.server.hits).toBe(before);
  });

  it('caps the size while streaming too (no content-length)', async () => {
    host.route('/chunked.png', {
      type: 'image/png',
      body: Buffer.concat([PNG, Buffer.alloc(70 * 1024)]),
      chunked: true,
    });
    const sizeHits = host.server.requests.length;
    const logos = proxy(new Keyv(), { maxBytes: 1024 });
    expect(await logos.ensure(CID, `${host.origin}/logo.png`, clock + 60_000)).toMatchObject({ ok: true });
    expect(await logos.ensure(CID, `${host.origin}/chunked.png`, clock + 60_000)).toEqual({
      ok: false,
      reason: 'size',
    });
    const sent = host.server.requests.slice(sizeHits).find((r) => r.path === '/chunked.png');
    expect(sent).toBeDefined();
  });

  it('fetches once per lifetime, remembers failures, and refetches after the document lifetime', async () => {
    const logos = proxy();
    const uri = `${host.origin}/logo.png`;
    const hits = host.hits('/logo.png');
    await Promise.all([logos.ensure(CID, uri, clock + 60_000), logos.ensure(CID, uri, clock + 60_000)]);
    await logos.ensure(CID, uri, clock + 60_000);
    expect(host.hits('/logo.png')).toBe(hits + 1);

    const svgHits = host.hits('/logo.svg');
    await logos.ensure(CID, `${host.origin}/logo.svg`, clock + 60_000);
    await logos.ensure(CID, `${host.origin}/logo.svg`, clock + 60_000);
    expect(host.hits('/logo.svg')).toBe(svgHits + 1);

    clock += 61_000;
    try {
      await logos.ensure(CID, uri, clock + 60_000);
      expect(host.hits('/logo.png')).toBe(hits + 2);
    } finally {
      clock -= 61_000;
    }
  });

  it('shares checked logos through the shared store (base64), and re-checks what it reads', async () => {
    const store = new Keyv();
    const first = proxy(store);
    const uri = `${host.origin}/logo.gif`;
    const outcome = await first.ensure(CID, uri, clock + 60_000);
    if (!outcome.ok) throw new Error('expected a logo');
    const hits = host.hits('/logo.gif');

    // Another instance answers the route from the shared store, without fetching.
    const second = proxy(store);
    const served = await second.response('GET', outcome.url);
    expect(served?.status).toBe(200);
    expect(served?.body?.equals(GIF_BYTES)).toBe(true);
    expect(host.hits('/logo.gif')).toBe(hits);

    // A tampered shared value is not served.
    const raw = (await store.get(`cimd:logo:${outcome.key}`)) as Record<string, unknown>;
    await store.set(`cimd:logo:${outcome.key}`, { ...raw, data: SVG_BYTES.toString('base64') });
    expect((await proxy(store).response('GET', outcome.url))?.status).toBe(404);
  });

  it('answers only under its path; refuses other methods and malformed keys', async () => {
    const logos = proxy();
    expect(await logos.response('GET', '/interaction/abc')).toBeUndefined();
    expect((await logos.response('POST', '/cimd/logo/x'))?.status).toBe(405);
    expect((await logos.response('GET', '/cimd/logo/../../etc/passwd'))?.status).toBe(404);
    expect((await logos.response('GET', `/cimd/logo/${'A'.repeat(43)}`))?.status).toBe(404);
    expect(() => proxy(new Keyv(), { path: 'logo' })).toThrow(/must start and end/);
  });
});
