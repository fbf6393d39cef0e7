/**
 * The resolver under concurrency (README "Operator API", "Errors and events"): each test reproduces a defect of the first resolver, where
 * one single-flight slot per CID was shared by lookups, refreshes and pins, and only the caller that started a
 * flight emitted an event. The document server's hit counter is the witness.
 */
import { Keyv } from '@keyv/redis';
import { CimdError, type CimdEvent } from 'oidc-provider-cimd';
import { clientDoc, MINUTE, SECOND } from '../cache/support.js';
import { useResolverHarness } from './support.js';

describe('resolver concurrency', () => {
  const h = useResolverHarness('concurrency');
  const { path, plugin } = h;

  test('serving stale-if-error sets the back-off: 5 lookups while the origin is down cost 1 origin hit, not 5', async () => {
    const p = path('stale');
    const cid = h.docs.cid(p);
    let down = false;
    h.docs.route(p, () =>
      down
        ? { status: 503, body: 'down' }
        : { body: clientDoc(cid), headers: { 'cache-control': 'max-age=60, stale-if-error=3600' } },
    );
    const { cimd, reasons } = await plugin({ failureBackoffMs: 30 * SECOND });
    await cimd.resolve(cid);
    expect(h.docs.hits(p)).toBe(1);
    down = true;
    h.clock.advance(61 * SECOND);
    for (let i = 0; i < 5; i++) {
      const entry = await cimd.resolve(cid);
      expect(entry?.cid).toBe(cid);
    }
    expect(h.docs.hits(p)).toBe(2);
    expect(reasons(cid)).toEqual(['fetched', ...Array(5).fill('stale_if_error')]);
    // After the back-off, the origin is asked again (once).
    h.clock.advance(31 * SECOND);
    await cimd.resolve(cid);
    expect(h.docs.hits(p)).toBe(3);
  });

  test('refresh() always fetches, even while a lookup that is a shared-tier cache hit is in flight', async () => {
    const p = path('refresh');
    const cid = h.docs.cid(p);
    h.docs.route(p, { body: clientDoc(cid), headers: { 'cache-control': 'max-age=3600' } });
    const shared = new Keyv();
    const first = await plugin({ cache: shared });
    await first.cimd.resolve(cid);
    expect(h.docs.hits(p)).toBe(1);
    // A second instance on the same store: its lookup is a shared-tier hit, answered asynchronously.
    const second = await plugin({ cache: shared });
    const lookup = second.cimd.resolve(cid);
    const refreshed = await second.cimd.refresh(cid);
    await lookup;
    expect(refreshed.cid).toBe(cid);
    expect(h.docs.hits(p)).toBe(2);
    expect(second.reasons(cid)).toEqual(expect.arrayContaining(['cache_hit', 'fetched', 'operator:refresh']));
  });

  test('one event per caller: 10 concurrent cold lookups give 10 events, 9 of them marked joined', async () => {
    const p = path('herd');
    const cid = h.docs.cid(p);
    h.docs.route(p, { body: clientDoc(cid), delayMs: 150 });
    const { cimd, events } = await plugin();
    await Promise.all(Array.from({ length: 10 }, () => cimd.resolve(cid)));
    expect(h.docs.hits(p)).toBe(1);
    const mine = events.filter((e: CimdEvent) => e.cid === cid);
    expect(mine).toHaveLength(10);
    expect(mine.every((e) => e.reason === 'fetched')).toBe(true);
    expect(mine.filter((e) => e.joined === true)).toHaveLength(9);
  });

  test('one event per caller: 10 concurrent failing lookups give 10 rejection events', async () => {
    const p = path('herd-fail');
    const cid = h.docs.cid(p);
    h.docs.route(p, { status: 500, body: 'no', delayMs: 150 });
    const { cimd, events } = await plugin();
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => cimd.resolve(cid)));
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof CimdError)).toBe(true);
    expect(h.docs.hits(p)).toBe(1);
    const mine = events.filter((e) => e.cid === cid);
    expect(mine.map((e) => e.reason)).toEqual(Array(10).fill('rejected:status'));
    expect(mine.filter((e) => e.joined === true)).toHaveLength(9);
  });

  test('a lookup with a new redirect_uri that joins a flight started without it still gets its refetch', async () => {
    const p = path('redirect');
    const cid = h.docs.cid(p);
    const added = 'https://app.example.com/added';
    let version = 1;
    h.docs.route(p, () => ({
      body: clientDoc(cid, {
        redirect_uris: version === 1 ? ['https://app.example.com/cb'] : ['https://app.example.com/cb', added],
      }),
      headers: { 'cache-control': 'max-age=3600' },
    }));
    const shared = new Keyv();
    const first = await plugin({ cache: shared });
    await first.cimd.resolve(cid);
    version = 2;
    h.clock.advance(2 * MINUTE);
    // A second instance: its first lookup (no redirect_uri) reads the shared copy; the second joins that flight.
    const second = await plugin({ cache: shared });
    const [plain, withRedirect] = await Promise.all([
      second.cimd.resolve(cid),
      second.cimd.resolve(cid, { redirectUri: added }),
    ]);
    expect(plain?.metadata.redirect_uris).toEqual(['https://app.example.com/cb']);
    expect(withRedirect?.metadata.redirect_uris).toContain(added);
    expect(h.docs.hits(p)).toBe(2);
  });

  test('a pin is never overwritten by a lookup that was already in flight (same process)', async () => {
    const p = path('pin-local');
    const cid = h.docs.cid(p);
    h.docs.route(p, { body: clientDoc(cid, { client_name: 'Fetched' }), delayMs: 200 });
    const { cimd } = await plugin();
    // The pin fetches the document; a lookup starts while that fetch is under way and ends after the pin.
    let requests = 0;
    h.docs.route(p, () => ({
      body: clientDoc(cid, { client_name: 'Fetched' }),
      delayMs: ++requests === 1 ? 150 : 300,
    }));
    const pin = cimd.pin(cid);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const lookup = cimd.resolve(cid);
    await pin;
    await lookup;
    const seen = await cimd.inspect(cid);
    expect(seen?.entry.pinned).toBe(true);
    const again = await cimd.resolve(cid);
    expect(again).toMatchObject({ pinned: true });
  });

  test('a pin is never overwritten by a lookup in flight on another instance (shared tier)', async () => {
    const p = path('pin-shared');
    const cid = h.docs.cid(p);
    h.docs.route(p, { body: clientDoc(cid, { client_name: 'Fetched' }), delayMs: 200 });
    const shared = new Keyv();
    const a = await plugin({ cache: shared });
    const b = await plugin({ cache: shared });
    const lookup = a.cimd.resolve(cid);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await b.cimd.pin(cid, { document: JSON.stringify(clientDoc(cid, { client_name: 'Pinned' })) });
    await lookup;
    const third = await plugin({ cache: shared });
    const seen = await third.cimd.inspect(cid);
    expect(seen?.entry.pinned).toBe(true);
    expect(seen?.entry.metadata.client_name).toBe('Pinned');
    expect((await a.cimd.inspect(cid))?.entry.pinned).toBe(true);
  });

  test('refresh() and pin() obey the deny-list: a denied CID is never fetched', async () => {
    const p = path('denied');
    const cid = h.docs.cid(p);
    h.docs.route(p, { body: clientDoc(cid) });
    const { cimd, reasons } = await plugin({ policy: { deny: [cid] } });
    await expect(cimd.refresh(cid)).rejects.toMatchObject({ code: 'rejected:policy' });
    await expect(cimd.pin(cid)).rejects.toMatchObject({ code: 'rejected:policy' });
    await expect(cimd.pin(cid, { document: JSON.stringify(clientDoc(cid)) })).rejects.toMatchObject({
      code: 'rejected:policy',
    });
    expect(h.docs.hits(p)).toBe(0);
    expect(reasons(cid)).toEqual(['rejected:policy', 'rejected:policy', 'rejected:policy']);
  });
});
