/**
 * What happens to a client's cached document over its life (README "Operator API", "Errors and events"): revocation on 404/410, the
 * transport fallback, the last valid copy served over budget, bounded retention in the shared store for clients
 * that never completed an authorization, `no-store` evicting an earlier entry, and the operator API's audit
 * events and refresh cooldown.
 */
import { Keyv } from '@keyv/redis';
import { CimdError } from 'oidc-provider-cimd';
import { clientDoc, HOUR, MINUTE, SECOND } from '../cache/support.js';
import { authorizationParams, authorize, pkcePair } from '../helpers/auth-flow.js';
import { getTestCertificate } from '../helpers/certs.js';
import { startProvider, type TestProvider } from '../helpers/provider.js';
import { useResolverHarness } from './support.js';

describe('document lifecycle', () => {
  const h = useResolverHarness('lifecycle');
  const { path, plugin } = h;

  /** A raw view of a Keyv store's entries: the stored value and its expiry (ms since the epoch, or undefined). */
  function recordingStore() {
    const map = new Map<string, unknown>();
    const keyv = new Keyv({ store: map });
    const expiryOf = (cid: string): number | undefined => {
      for (const [key, raw] of map) {
        if (!key.endsWith(`cimd:doc:${cid}`)) continue;
        const parsed =
          typeof raw === 'string' ? (JSON.parse(raw) as { expires?: number }) : (raw as { expires?: number });
        return parsed.expires ?? Number.POSITIVE_INFINITY;
      }
      return undefined;
    };
    return { keyv, expiryOf };
  }

  describe('revocation (a 404 or 410 from the origin is authoritative)', () => {
    test.each([404, 410])(
      '%i on the refresh of a known client: the entry is removed at once, reason revoked',
      async (status) => {
        const p = path(`revoked-${status}`);
        const cid = h.docs.cid(p);
        let gone = false;
        h.docs.route(p, () =>
          gone
            ? { status, body: 'gone' }
            : { body: clientDoc(cid), headers: { 'cache-control': 'max-age=60, stale-if-error=86400' } },
        );
        const shared = new Keyv();
        const a = await plugin({ cache: shared });
        const b = await plugin({ cache: shared });
        await a.cimd.resolve(cid);
        await b.cimd.resolve(cid);
        gone = true;
        h.clock.advance(61 * SECOND);
        // Never answered with the stale copy that stale-if-error would otherwise allow.
        await expect(a.cimd.resolve(cid)).rejects.toMatchObject({ code: 'revoked' });
        expect(a.reasons(cid)).toEqual(['fetched', 'revoked']);
        expect(await a.cimd.inspect(cid)).toBeUndefined();
        // Gone from the shared store too, for every instance.
        const third = await plugin({ cache: shared });
        expect(await third.cimd.inspect(cid)).toBeUndefined();
      },
    );

    test('a 404 on a first fetch stays rejected:status', async () => {
      const p = path('first-404');
      const cid = h.docs.cid(p);
      h.docs.route(p, { status: 404, body: 'nope' });
      const { cimd, reasons } = await plugin();
      await expect(cimd.resolve(cid)).rejects.toMatchObject({ code: 'rejected:status' });
      expect(reasons(cid)).toEqual(['rejected:status']);
    });

    test('refresh() of a known client answered 404 revokes it', async () => {
      const p = path('refresh-404');
      const cid = h.docs.cid(p);
      let gone = false;
      h.docs.route(p, () => (gone ? { status: 404, body: '' } : { body: clientDoc(cid) }));
      const { cimd } = await plugin();
      await cimd.resolve(cid);
      gone = true;
      await expect(cimd.refresh(cid)).rejects.toMatchObject({ code: 'revoked' });
      expect(await cimd.inspect(cid)).toBeUndefined();
    });
  });

  describe('transport fallback (off by default; transport failures only; clients in use only)', () => {
    let op: TestProvider;
    let down: { status: number; type: string } | undefined;
    const p = '/lifecycle/fallback/client';
    const redirectUri = 'https://app.example.com/cb';
    let cid: string;

    beforeAll(async () => {
      const { cert } = await getTestCertificate();
      op = await startProvider({
        cimd: {
          ca: cert,
          allowLoopback: true,
          now: () => h.clock.now(),
          transportFallbackMs: HOUR,
          failureBackoffMs: 0,
        },
      });
      cid = h.docs.cid(p);
      h.docs.route(p, () =>
        down
          ? {
              status: down.status,
              body: down.type.includes('json') ? '{"error":"x"}' : '<html>challenge</html>',
              headers: { 'content-type': down.type },
            }
          : { body: clientDoc(cid, { redirect_uris: [redirectUri] }), headers: { 'cache-control': 'max-age=60' } },
      );
      // A user completes an authorization: the client is now "in use".
      const { challenge } = pkcePair();
      const flow = await authorize(op.issuer, { ...authorizationParams(cid, redirectUri), code_challenge: challenge });
      expect(flow.leftTo?.searchParams.get('code')).toBeTruthy();
    });
    afterAll(async () => {
      await op.close();
    });

    const reasonsNow = () => op.events.filter((e) => e.cid === cid).map((e) => e.reason);

    test.each([
      [503, 'text/html'],
      [500, 'application/json'],
      [429, 'text/plain'],
      [302, 'text/html'],
      [403, 'text/html'],
    ])('%i %s past freshness: the last valid copy is served, reason stale_fallback', async (status, type) => {
      down = { status, type };
      h.clock.advance(2 * MINUTE);
      const before = reasonsNow().length;
      const entry = await op.cimd.resolve(cid);
      expect(entry?.cid).toBe(cid);
      expect(reasonsNow().slice(before)).toEqual(['stale_fallback']);
    });

    test('a 403 with a JSON body is not a transport failure', async () => {
      down = { status: 403, type: 'application/json' };
      h.clock.advance(2 * MINUTE);
      await expect(op.cimd.resolve(cid)).rejects.toMatchObject({ code: 'rejected:status' });
    });

    test('beyond the fallback window: the failure stands', async () => {
      down = { status: 503, type: 'text/html' };
      h.clock.advance(2 * HOUR);
      await expect(op.cimd.resolve(cid)).rejects.toMatchObject({ code: 'rejected:status' });
    });
  });

  test('a client that never completed an authorization gets no transport fallback', async () => {
    const p = path('unused-fallback');
    const cid = h.docs.cid(p);
    let down = false;
    h.docs.route(p, () =>
      down
        ? { status: 503, body: 'x', headers: { 'content-type': 'text/html' } }
        : { body: clientDoc(cid), headers: { 'cache-control': 'max-age=60' } },
    );
    const { cimd } = await plugin({ transportFallbackMs: HOUR });
    await cimd.resolve(cid);
    down = true;
    h.clock.advance(2 * MINUTE);
    await expect(cimd.resolve(cid)).rejects.toMatchObject({ code: 'rejected:status' });
  });

  test('over the fetch budget, a known-good client is served its last valid copy within stale-if-error (stale_over_budget)', async () => {
    const legit = path('legit');
    const cid = h.docs.cid(legit);
    h.docs.route(legit, { body: clientDoc(cid), headers: { 'cache-control': 'max-age=60, stale-if-error=600' } });
    const { cimd, config, reasons } = await plugin({ budget: { perHostBurst: 3, perHostPerSecond: 0.001 } });
    await cimd.resolve(cid);
    // Known-good is a durable fact: a user completed an authorization (a grant saved through the adapter).
    await (config.adapter as (name: string) => import('oidc-provider').Adapter)('Grant').upsert(
      'grant-legit',
      { clientId: cid, accountId: 'alice' },
      60,
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Junk ids on the same host use up the rest of the host's budget.
    for (let i = 0; i < 4; i++) {
      await cimd.resolve(h.docs.cid(path(`junk-${i}`))).catch(() => undefined);
    }
    // Its refresh draws on the reserve that first-time ids cannot touch …
    h.clock.advance(2 * MINUTE);
    await cimd.resolve(cid);
    // … and once even that is spent, it is served its last valid copy instead of an error.
    h.clock.advance(2 * MINUTE);
    const entry = await cimd.resolve(cid);
    expect(entry?.cid).toBe(cid);
    expect(reasons(cid)).toEqual(['fetched', 'fetched', 'stale_over_budget']);
    // A first-time id over budget is still refused.
    await expect(cimd.resolve(h.docs.cid(path('new')))).rejects.toMatchObject({ code: 'rate_limited' });
  });

  test('retention: a client that never completed an authorization leaves the shared store at its freshness lifetime', async () => {
    const p = path('retention');
    const cid = h.docs.cid(p);
    h.docs.route(p, {
      body: clientDoc(cid),
      headers: { 'cache-control': 'max-age=300, stale-if-error=86400', etag: '"v1"' },
    });
    const store = recordingStore();
    const { cimd } = await plugin({ cache: store.keyv });
    await cimd.resolve(cid);
    const expiry = store.expiryOf(cid);
    expect(expiry).toBeDefined();
    // Keyv stamps expiry with the real clock; the fake clock started at the real time.
    expect(expiry! - Date.now()).toBeLessThanOrEqual(300 * SECOND + 2 * SECOND);
  });

  test('no-store: a response that must not be stored evicts an entry stored earlier', async () => {
    const p = path('no-store');
    const cid = h.docs.cid(p);
    let noStore = false;
    h.docs.route(p, () => ({
      body: clientDoc(cid),
      headers: { 'cache-control': noStore ? 'no-store' : 'max-age=60' },
    }));
    const shared = new Keyv();
    const { cimd } = await plugin({ cache: shared });
    await cimd.resolve(cid);
    expect(await cimd.inspect(cid)).toBeDefined();
    noStore = true;
    h.clock.advance(2 * MINUTE);
    await cimd.resolve(cid);
    expect(await cimd.inspect(cid)).toBeUndefined();
    const other = await plugin({ cache: shared });
    expect(await other.cimd.inspect(cid)).toBeUndefined();
  });

  test('an entry stored by the previous format is read without grants in which no user takes part', async () => {
    const p = path('format-1');
    const cid = h.docs.cid(p);
    h.docs.route(p, { status: 500, body: '' });
    const shared = new Keyv();
    const now = h.clock.now();
    // What version 0.1 stored: a pinned client whose document still named client_credentials.
    await shared.set(`cimd:doc:${cid}`, {
      v: 1,
      cid,
      metadata: { ...clientDoc(cid), grant_types: ['authorization_code', 'client_credentials'] },
      loopbackOnly: false,
      fetchedAt: now,
      freshUntil: now,
      staleIfErrorUntil: now,
      pinned: true,
    });
    const { cimd } = await plugin({ cache: shared });
    const entry = await cimd.resolve(cid);
    expect(entry?.pinned).toBe(true);
    expect(entry?.metadata.grant_types).toEqual(['authorization_code']);
    expect(h.docs.hits(p)).toBe(0);
  });

  test('operator commands emit audit events; refresh has a cooldown per client', async () => {
    const p = path('audit');
    const cid = h.docs.cid(p);
    h.docs.route(p, { body: clientDoc(cid) });
    const { cimd, reasons } = await plugin({ refreshCooldownMs: 30 * SECOND });
    await cimd.pin(cid);
    await cimd.unpin(cid);
    await cimd.refresh(cid);
    const error = await cimd.refresh(cid).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CimdError);
    expect((error as CimdError).code).toBe('rate_limited');
    h.clock.advance(31 * SECOND);
    await cimd.refresh(cid);
    await cimd.purge(cid);
    expect(reasons(cid)).toEqual([
      'operator:pin',
      'operator:unpin',
      'fetched',
      'operator:refresh',
      'rate_limited',
      'fetched',
      'operator:refresh',
      'operator:purge',
    ]);
  });
});
