/**
 * Spec §5 lifetime rules, each witnessed by the document server's own hit counter, with a fake clock for
 * freshness: max-age, s-maxage precedence, Expires, the [60 s, 24 h] clamp, the 300 s default, no-store,
 * stale-if-error within (and not beyond) its bound, failed refreshes that never overwrite a valid entry, and
 * invalid documents that are never cached.
 */
import { CimdError } from 'oidc-provider-cimd';
import {
  clientDoc,
  configuredCimd,
  type DocServer,
  type FakeClock,
  fakeClock,
  HOUR,
  MINUTE,
  SECOND,
  startDocServer,
} from './support.js';

describe('cache lifetime (hit counter as witness)', () => {
  let docs: DocServer;
  let clock: FakeClock;
  let plugin: Awaited<ReturnType<typeof configuredCimd>>;
  let n = 0;
  /** A fresh path per test, so that no test sees another's cache entries. */
  const path = (name: string) => `/lifetime/${++n}/${name}`;

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

  /** Serves a valid document with these response headers; returns its path. */
  const serve = (name: string, headers: Record<string, string> = {}) => {
    const p = path(name);
    docs.route(p, { body: clientDoc(docs.cid(p)), headers });
    return p;
  };
  const resolve = (p: string) => plugin.cimd.resolve(docs.cid(p));

  /** Resolves at each offset from now (ms, ascending) and returns the hit count after each. */
  async function hitsAt(p: string, offsets: number[]): Promise<number[]> {
    const start = clock.now();
    const out: number[] = [];
    for (const offset of offsets) {
      clock.advance(start + offset - clock.now());
      await resolve(p);
      out.push(docs.hits(p));
    }
    return out;
  }

  test('max-age sets the lifetime', async () => {
    const p = serve('max-age', { 'cache-control': 'max-age=120' });
    expect(await hitsAt(p, [0, 119 * SECOND, 121 * SECOND])).toEqual([1, 1, 2]);
  });

  test('s-maxage takes precedence over max-age', async () => {
    const p = serve('s-maxage', { 'cache-control': 'max-age=120, s-maxage=600' });
    expect(await hitsAt(p, [0, 300 * SECOND, 599 * SECOND, 601 * SECOND])).toEqual([1, 1, 1, 2]);
  });

  test('Expires (relative to Date) sets the lifetime when Cache-Control says nothing', async () => {
    const now = clock.now();
    const p = serve('expires', {
      date: new Date(now).toUTCString(),
      expires: new Date(now + 200 * SECOND).toUTCString(),
    });
    expect(await hitsAt(p, [0, 190 * SECOND, 210 * SECOND])).toEqual([1, 1, 2]);
  });

  test('a lifetime below 60 s is raised to 60 s', async () => {
    const p = serve('min', { 'cache-control': 'max-age=5' });
    expect(await hitsAt(p, [0, 6 * SECOND, 59 * SECOND, 61 * SECOND])).toEqual([1, 1, 1, 2]);
  });

  test('max-age=0 and no-cache are raised to 60 s as well', async () => {
    const zero = serve('zero', { 'cache-control': 'max-age=0' });
    expect(await hitsAt(zero, [0, 59 * SECOND, 61 * SECOND])).toEqual([1, 1, 2]);
    const noCache = serve('no-cache', { 'cache-control': 'no-cache' });
    expect(await hitsAt(noCache, [0, 59 * SECOND, 61 * SECOND])).toEqual([1, 1, 2]);
  });

  test('a lifetime above 24 h is lowered to 24 h', async () => {
    const p = serve('max', { 'cache-control': 'max-age=31536000' });
    expect(await hitsAt(p, [0, 23 * HOUR, 24 * HOUR - SECOND, 24 * HOUR + SECOND])).toEqual([1, 1, 1, 2]);
  });

  test('no caching headers: 300 s', async () => {
    const p = serve('default');
    expect(await hitsAt(p, [0, 299 * SECOND, 301 * SECOND])).toEqual([1, 1, 2]);
  });

  test('Age is subtracted from max-age (still clamped)', async () => {
    const p = serve('age', { 'cache-control': 'max-age=300', age: '200' });
    expect(await hitsAt(p, [0, 99 * SECOND, 101 * SECOND])).toEqual([1, 1, 2]);
  });

  test('no-store: never stored, but concurrent lookups still share one fetch', async () => {
    const p = path('no-store');
    docs.route(p, {
      body: clientDoc(docs.cid(p)),
      headers: { 'cache-control': 'no-store, max-age=600' },
      delayMs: 100,
    });
    await resolve(p);
    expect(docs.hits(p)).toBe(1);
    await resolve(p);
    expect(docs.hits(p)).toBe(2);
    expect(await plugin.cimd.inspect(docs.cid(p))).toBeUndefined();

    const results = await Promise.all(Array.from({ length: 20 }, () => resolve(p)));
    expect(docs.hits(p)).toBe(3);
    expect(new Set(results.map((r) => r?.metadata.client_id))).toEqual(new Set([docs.cid(p)]));
  });

  test('stale-if-error is honoured within its window and not beyond', async () => {
    const p = path('sie');
    let failing = false;
    docs.route(p, () =>
      failing
        ? { status: 503, body: 'down' }
        : { body: clientDoc(docs.cid(p)), headers: { 'cache-control': 'max-age=60, stale-if-error=600' } },
    );
    const cid = docs.cid(p);
    await resolve(p);
    failing = true;

    clock.advance(61 * SECOND);
    const stale = await resolve(p);
    expect(stale?.metadata.client_id).toBe(cid);
    expect(docs.hits(p)).toBe(2);
    expect(plugin.reasons(cid).at(-1)).toBe('stale_if_error');

    clock.advance(600 * SECOND); // now 661 s after the fetch: fresh 60 s + stale-if-error 600 s are over
    await expect(resolve(p)).rejects.toMatchObject({ code: 'rejected:status' });
    expect(docs.hits(p)).toBe(3);
  });

  test('without stale-if-error, a failed refresh of an expired entry is a failed lookup', async () => {
    const p = path('no-sie');
    let failing = false;
    docs.route(p, () =>
      failing
        ? { status: 500, body: '' }
        : { body: clientDoc(docs.cid(p)), headers: { 'cache-control': 'max-age=60' } },
    );
    await resolve(p);
    failing = true;
    clock.advance(61 * SECOND);
    await expect(resolve(p)).rejects.toMatchObject({ code: 'rejected:status' });
    expect(docs.hits(p)).toBe(2);
  });

  test('stale-if-error is bounded by 24 h', async () => {
    const p = path('sie-bound');
    let failing = false;
    docs.route(p, () =>
      failing
        ? { status: 503, body: '' }
        : { body: clientDoc(docs.cid(p)), headers: { 'cache-control': 'max-age=60, stale-if-error=604800' } },
    );
    await resolve(p);
    failing = true;
    clock.advance(60 * SECOND + 24 * HOUR - MINUTE);
    expect((await resolve(p))?.metadata.client_id).toBe(docs.cid(p));
    clock.advance(2 * MINUTE);
    await expect(resolve(p)).rejects.toMatchObject({ code: 'rejected:status' });
  });

  test('a failed refresh never overwrites a valid entry (operator refresh, invalid document, origin error)', async () => {
    const p = path('keep');
    const cid = docs.cid(p);
    let mode: 'ok' | 'invalid' | 'error' = 'ok';
    docs.route(p, () => {
      if (mode === 'invalid')
        return { body: { client_id: cid, client_name: 'Evil', redirect_uris: ['javascript:alert(1)'] } };
      if (mode === 'error') return { status: 500, body: '' };
      return { body: clientDoc(cid), headers: { 'cache-control': 'max-age=60, stale-if-error=3600' } };
    });
    const original = await resolve(p);

    mode = 'invalid';
    await expect(plugin.cimd.refresh(cid)).rejects.toBeInstanceOf(CimdError);
    expect((await plugin.cimd.inspect(cid))?.entry).toEqual(original);

    // Expired, and the origin now serves an invalid document: the lookup fails (the client published it), but
    // the valid copy stays.
    clock.advance(61 * SECOND);
    await expect(resolve(p)).rejects.toBeInstanceOf(CimdError);
    expect((await plugin.cimd.inspect(cid))?.entry).toEqual(original);

    // The origin fails: stale-if-error serves the valid copy, which is still not replaced.
    mode = 'error';
    clock.advance(SECOND);
    expect(await resolve(p)).toEqual(original);
    expect((await plugin.cimd.inspect(cid))?.entry).toEqual(original);
    expect(docs.hits(p)).toBe(4);

    mode = 'ok';
    clock.advance(SECOND);
    const renewed = await resolve(p);
    expect(renewed?.fetchedAt).toBe(clock.now());
    expect(docs.hits(p)).toBe(5);
  });

  test('an invalid document is never cached, in either tier', async () => {
    const shared = new Map<string, unknown>();
    const { Keyv } = await import('@keyv/redis');
    const local = await configuredCimd({ now: clock.now, cache: new Keyv({ store: shared }) });
    try {
      const p = path('invalid');
      const cid = docs.cid(p);
      docs.route(p, { body: { client_id: cid, redirect_uris: ['https://app.example.com/cb'] } }); // no client_name
      await expect(local.cimd.resolve(cid)).rejects.toMatchObject({ code: 'rejected:document' });
      await expect(local.cimd.resolve(cid)).rejects.toMatchObject({ code: 'rejected:document' });
      expect(docs.hits(p)).toBe(2);
      expect(await local.cimd.inspect(cid)).toBeUndefined();
      expect(shared.size).toBe(0);
    } finally {
      await local.cimd.close();
    }
  });

  test('failure back-off: a failed CID is not fetched again for failureBackoffMs (not a cached result)', async () => {
    const backoff = await configuredCimd({ now: clock.now, failureBackoffMs: 3000 });
    try {
      const p = path('backoff');
      const cid = docs.cid(p);
      let failing = true;
      docs.route(p, () => (failing ? { status: 500, body: '' } : { body: clientDoc(cid) }));
      await expect(backoff.cimd.resolve(cid)).rejects.toMatchObject({ code: 'rejected:status' });
      await expect(backoff.cimd.resolve(cid)).rejects.toMatchObject({ code: 'rate_limited' });
      expect(docs.hits(p)).toBe(1);
      failing = false;
      clock.advance(3001);
      expect((await backoff.cimd.resolve(cid))?.metadata.client_id).toBe(cid);
      expect(docs.hits(p)).toBe(2);
    } finally {
      await backoff.cimd.close();
    }
  });
});
