/**
 * One owner of client state (README "Caching and Redis", "Operator API"): every change of a client's entry is
 * one versioned commit, the revision lives in the shared store (so every instance and the command line are
 * fenced), only an operator command replaces or removes a pin, operator commands fail loudly, entries are judged
 * by the rules of the instance serving them, and the failure class travels. One test per defect of the review
 * that found each path writing on its own (numbered as in that review).
 */
import { Keyv } from '@keyv/redis';
import { type CimdEvent, createRedisCache, OperatorCommitError } from 'oidc-provider-cimd';
import { DocumentCache } from '../../packages/oidc-provider-cimd/src/cache/document-cache.js';
import { SharedGuard } from '../../packages/oidc-provider-cimd/src/core/shared-guard.js';
import { clientDoc, type DocServer, eventually, fakeClock, MINUTE, SECOND, startDocServer } from '../cache/support.js';
import { es256Key } from '../helpers/client-assertion.js';
import { createGatedStore } from '../helpers/gated-store.js';
import { openCli, saveGrant, startInstance, startRedisInstances } from '../helpers/instances.js';
import { startRedisServer, type TestRedisServer } from '../helpers/redis-server.js';

let redis: TestRedisServer;
let docs: DocServer;
let n = 0;
const closers: (() => Promise<void>)[] = [];
const path = (name: string) => `/commits/${++n}/${name}`;

beforeAll(async () => {
  redis = await startRedisServer();
  docs = await startDocServer();
});
afterAll(async () => {
  await docs.close();
  await redis.kill();
});
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function redisPair(configs: Parameters<typeof startRedisInstances>[1] = [{}, {}]) {
  const made = await startRedisInstances(redis.url, configs);
  closers.push(made.close);
  return made.instances;
}

/** A route that answers `first` to the first request (after `delayMs`) and `then` to every later one. */
function firstThen(p: string, first: () => object, then: () => object) {
  let count = 0;
  return docs.route(p, () => (count++ === 0 ? first() : then()));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('1. a pin is never removed by a revocation in flight', () => {
  test('a lookup awaiting a 404 when pin() lands leaves the pin in place', async () => {
    const clock = fakeClock();
    const [a, b] = await redisPair([{ options: { now: clock.now } }, { options: { now: clock.now } }]);
    const p = path('pin-revoked');
    const cid = docs.cid(p);
    docs.route(p, { body: clientDoc(cid), headers: { 'cache-control': 'max-age=60' } });
    await a!.cimd.resolve(cid);
    clock.advance(61 * SECOND);
    docs.route(p, { status: 404, body: 'gone', delayMs: 400 });
    const lookup = a!.cimd.resolve(cid).catch((error: unknown) => error);
    await sleep(100);
    await b!.cimd.pin(cid, { document: JSON.stringify(clientDoc(cid, { client_name: 'Pinned' })) });
    await lookup;
    // The pin stands, on both instances, whatever the origin says.
    await eventually(
      async () => (await a!.cimd.resolve(cid))?.metadata.client_name === 'Pinned',
      2000,
      'A serves the pin',
    );
    expect((await b!.cimd.resolve(cid))?.pinned).toBe(true);
  });
});

describe('2. entries are judged by the rules of the instance serving them', () => {
  test('a grant another instance allowed is never served where no rule allows it (shared hit, 304, refresh)', async () => {
    const clock = fakeClock();
    const p = path('grants');
    const cid = docs.cid(p);
    const { publicJwk } = es256Key();
    const document = clientDoc(cid, {
      grant_types: ['authorization_code', 'client_credentials'],
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [publicJwk] },
    });
    docs.route(p, (req) =>
      req.headers['if-none-match'] === '"v1"'
        ? { status: 304 }
        : { body: document, headers: { 'cache-control': 'max-age=60', etag: '"v1"' } },
    );
    const configuration = { features: { clientCredentials: { enabled: true } } };
    const [lenient, strict] = await redisPair([
      {
        options: {
          now: clock.now,
          refreshCooldownMs: 0,
          grantsWithoutUser: [{ clients: [cid], grants: ['client_credentials'] }],
        },
        configuration,
      },
      { options: { now: clock.now, refreshCooldownMs: 0 }, configuration },
    ]);
    expect((await lenient!.cimd.resolve(cid))?.metadata.grant_types).toContain('client_credentials');
    // A shared-tier hit on the strict instance: judged again, without fetching.
    const hits = docs.hits(p);
    expect((await strict!.cimd.resolve(cid))?.metadata.grant_types).not.toContain('client_credentials');
    expect(docs.hits(p)).toBe(hits);
    // A 304 on the lenient instance, then the strict instance reads the shared store again.
    clock.advance(61 * SECOND);
    expect((await lenient!.cimd.resolve(cid))?.metadata.grant_types).toContain('client_credentials');
    expect((await strict!.cimd.resolve(cid))?.metadata.grant_types).not.toContain('client_credentials');
    expect((await strict!.cimd.refresh(cid)).metadata.grant_types).not.toContain('client_credentials');
    expect((await lenient!.cimd.refresh(cid)).metadata.grant_types).toContain('client_credentials');
    expect((await strict!.cimd.resolve(cid))?.metadata.grant_types).not.toContain('client_credentials');
  });
});

describe('3. operator commands from another instance or process are fenced', () => {
  test('refresh() on B is not undone by a lookup already in flight on A', async () => {
    const [a, b] = await redisPair();
    const p = path('refresh-fenced');
    const cid = docs.cid(p);
    firstThen(
      p,
      () => ({ body: clientDoc(cid, { client_name: 'old' }), delayMs: 400 }),
      () => ({ body: clientDoc(cid, { client_name: 'new' }) }),
    );
    const lookup = a!.cimd.resolve(cid);
    await sleep(100);
    expect((await b!.cimd.refresh(cid)).metadata.client_name).toBe('new');
    expect((await lookup)?.metadata.client_name).toBe('old');
    const [c] = await redisPair([{}]);
    expect((await c!.cimd.resolve(cid))?.metadata.client_name).toBe('new');
  });

  test('cimd purge (the command line) is not undone by a lookup already in flight on a server', async () => {
    const [a] = await redisPair([{}]);
    const cli = await openCli(redis.url);
    closers.push(cli.close);
    const p = path('purge-fenced');
    const cid = docs.cid(p);
    docs.route(p, { body: clientDoc(cid), headers: { 'cache-control': 'max-age=600' } });
    await a!.cimd.resolve(cid);
    await a!.cimd.purge(cid);
    docs.route(p, { body: clientDoc(cid, { client_name: 'in flight' }), delayMs: 400 });
    const lookup = a!.cimd.resolve(cid);
    await sleep(100);
    await cli.cimd.purge(cid);
    await lookup;
    expect(await cli.cimd.inspect(cid)).toBeUndefined();
  });
});

describe('4. marking a client in use never overwrites a pin', () => {
  test('a user finishing an authorization on A after B pinned keeps B’s pin', async () => {
    const store = new Keyv();
    const a = await startInstance('A', store);
    const b = await startInstance('B', store);
    closers.push(a.close, b.close);
    const p = path('mark-used');
    const cid = docs.cid(p);
    docs.route(p, { body: clientDoc(cid, { client_name: 'fetched' }) });
    await a.cimd.resolve(cid);
    await b.cimd.pin(cid, { document: JSON.stringify(clientDoc(cid, { client_name: 'Pinned' })) });
    await saveGrant(a, cid);
    await sleep(50);
    const c = await startInstance('C', store);
    closers.push(c.close);
    const seen = await c.cimd.resolve(cid);
    expect(seen?.pinned).toBe(true);
    expect(seen?.metadata.client_name).toBe('Pinned');
  });
});

describe('5. a pin written while a lookup stores its result is kept', () => {
  test('the lookup’s write, held back until after the pin, does not replace it', async () => {
    const gated = createGatedStore();
    const a = await startInstance('A', gated.keyv());
    const b = await startInstance('B', gated.keyv());
    closers.push(a.close, b.close);
    const p = path('pin-race');
    const cid = docs.cid(p);
    docs.route(p, { body: clientDoc(cid, { client_name: 'fetched' }) });
    const gate = gated.hold('set', (key) => key.endsWith(`cimd:doc:${cid}`));
    const lookup = a.cimd.resolve(cid);
    await gate.reached;
    const pin = b.cimd.pin(cid, { document: JSON.stringify(clientDoc(cid, { client_name: 'Pinned' })) });
    await sleep(50);
    gate.release();
    await Promise.all([lookup, pin]);
    const c = await startInstance('C', gated.keyv());
    closers.push(c.close);
    expect((await c.cimd.resolve(cid))?.metadata.client_name).toBe('Pinned');
  });
});

describe('6. lock waiters answer exactly as the lock holder', () => {
  test('with the transport fallback on and the origin answering 503, every instance serves stale_fallback', async () => {
    const clock = fakeClock();
    const options = { now: clock.now, transportFallbackMs: 60 * MINUTE };
    const [a, b] = await redisPair([{ options }, { options }]);
    const p = path('waiters');
    const cid = docs.cid(p);
    docs.route(p, { body: clientDoc(cid), headers: { 'cache-control': 'max-age=60' } });
    await a!.cimd.resolve(cid);
    await saveGrant(a!, cid);
    await eventually(async () => (await b!.cimd.inspect(cid))?.entry.used === true, 2000, 'the client is in use');
    clock.advance(5 * MINUTE);
    docs.route(p, { status: 503, body: 'busy', delayMs: 300 });
    const results = await Promise.allSettled([a!.cimd.resolve(cid), b!.cimd.resolve(cid)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect([...a!.reasons(cid), ...b!.reasons(cid)].filter((r) => r === 'stale_fallback')).toHaveLength(2);
  });
});

describe('7. an invalid document is never followed by a stale copy', () => {
  test('inside the back-off after rejected:client_id_mismatch, no stale_fallback', async () => {
    const clock = fakeClock();
    const store = new Keyv();
    const a = await startInstance('A', store, {
      options: { now: clock.now, transportFallbackMs: 60 * MINUTE, failureBackoffMs: 30 * SECOND },
    });
    closers.push(a.close);
    const p = path('invalid-then-stale');
    const cid = docs.cid(p);
    docs.route(p, { body: clientDoc(cid), headers: { 'cache-control': 'max-age=60' } });
    await a.cimd.resolve(cid);
    await saveGrant(a, cid);
    await eventually(async () => (await a.cimd.inspect(cid))?.entry.used === true, 2000, 'in use');
    clock.advance(5 * MINUTE);
    docs.route(p, { body: clientDoc(`${cid}.other`) });
    await expect(a.cimd.resolve(cid)).rejects.toMatchObject({ code: 'rejected:client_id_mismatch' });
    await expect(a.cimd.resolve(cid)).rejects.toMatchObject({ code: 'rate_limited' });
    expect(a.reasons(cid)).not.toContain('stale_fallback');
  });
});

describe('8. purge, unpin and revocation never report a deletion the store did not make', () => {
  test('with every write refused (READONLY during a failover), purge and unpin throw and the revocation says so', async () => {
    const clock = fakeClock();
    const gated = createGatedStore();
    const a = await startInstance('A', gated.keyv(), { options: { now: clock.now } });
    closers.push(a.close);
    const pinned = docs.cid(path('pinned'));
    docs.route(new URL(pinned).pathname, { body: clientDoc(pinned) });
    await a.cimd.pin(pinned);
    const p = path('revoked');
    const cid = docs.cid(p);
    docs.route(p, { body: clientDoc(cid), headers: { 'cache-control': 'max-age=60' } });
    await a.cimd.resolve(cid);

    gated.fail('set', () => true);
    gated.fail('delete', () => true);
    await expect(a.cimd.purge(cid)).rejects.toBeInstanceOf(OperatorCommitError);
    await expect(a.cimd.purge(cid)).rejects.toMatchObject({ code: 'CIMD_COMMIT_UNCONFIRMED' });
    await expect(a.cimd.unpin(pinned)).rejects.toMatchObject({ code: 'CIMD_COMMIT_UNCONFIRMED' });
    const audits = a.events.filter((e) => e.reason === 'operator:purge' || e.reason === 'operator:unpin');
    expect(audits.every((e) => e.commit === 'unavailable')).toBe(true);

    clock.advance(61 * SECOND);
    docs.route(p, { status: 404, body: 'gone' });
    await expect(a.cimd.resolve(cid)).rejects.toMatchObject({ code: 'revoked' });
    expect(a.events.find((e) => e.cid === cid && e.reason === 'revoked')?.commit).toBe('unavailable');
    gated.heal();
  });
});

describe('9. concurrent pins', () => {
  test('two pin() calls at once both succeed', async () => {
    const [a] = await redisPair([{}]);
    const p = path('two-pins');
    const cid = docs.cid(p);
    docs.route(p, { body: clientDoc(cid), delayMs: 200 });
    const results = await Promise.allSettled([a!.cimd.pin(cid), a!.cimd.pin(cid)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect((await a!.cimd.resolve(cid))?.pinned).toBe(true);
  });
});

describe('10. smaller ones', () => {
  test('an invalidation that arrives during a shared read is not undone by that read', async () => {
    const gated = createGatedStore();
    const keyv = gated.keyv();
    const cache = new DocumentCache({
      shared: keyv,
      maxEntries: 100,
      guard: new SharedGuard({ timeoutMs: 2000 }),
      revalidationGraceMs: 0,
      now: Date.now,
    } as never);
    const cid = 'https://app.example.com/c';
    const now = Date.now();
    const entry = {
      v: 2 as const,
      cid,
      metadata: { client_id: cid, token_endpoint_auth_method: 'none' },
      loopbackOnly: false,
      fetchedAt: now,
      freshUntil: now + 60_000,
      staleIfErrorUntil: now + 60_000,
    };
    const c = cache as unknown as Record<string, (...args: unknown[]) => Promise<unknown> | unknown>;
    // The landed code wrote with set(); this one commits.
    if (typeof c.commit === 'function') await c.commit(cid, { authority: 'lookup', expected: 0, entry });
    else await c.set!(entry);
    cache.forgetLocal(cid);
    const gate = gated.hold('get', (key) => key.includes(cid));
    const read = typeof c.readShared === 'function' ? c.readShared(cid) : c.getShared!(cid);
    await gate.reached;
    // Another instance purged (revision 2) while the read was under way.
    (cache.forgetLocal as (cid: string, rev?: number) => void)(cid, 2);
    gate.release();
    await read;
    expect(cache.peek(cid)).toBeUndefined();
  });

  test('the refresh cooldown is shared, counts from a successful refresh, and a failed refresh can be retried', async () => {
    const options = { refreshCooldownMs: 10 * SECOND };
    const [a, b] = await redisPair([{ options }, { options }]);
    const p = path('cooldown');
    const cid = docs.cid(p);
    docs.route(p, { status: 500, body: 'oops' });
    await expect(a!.cimd.refresh(cid)).rejects.toMatchObject({ code: 'rejected:status' });
    docs.route(p, { body: clientDoc(cid) });
    // Retried at once: the failed refresh did not start the cooldown.
    await expect(a!.cimd.refresh(cid)).resolves.toMatchObject({ cid });
    // Another instance sees the cooldown (it lives in the shared store).
    await expect(b!.cimd.refresh(cid)).rejects.toMatchObject({ code: 'rate_limited' });
  });

  test('every caller of a joined refresh refused by the cooldown gets its event', async () => {
    const store = new Keyv();
    const a = await startInstance('A', store, { options: { refreshCooldownMs: 10 * SECOND } });
    closers.push(a.close);
    const p = path('joined-cooldown');
    const cid = docs.cid(p);
    docs.route(p, { body: clientDoc(cid) });
    await a.cimd.refresh(cid);
    const results = await Promise.allSettled([a.cimd.refresh(cid), a.cimd.refresh(cid)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(a.reasons(cid).filter((r) => r === 'rate_limited')).toHaveLength(2);
  });

  test('a failed pin reports the rule, like every other failure event', async () => {
    const store = new Keyv();
    const a = await startInstance('A', store);
    closers.push(a.close);
    const p = path('pin-rule');
    const cid = docs.cid(p);
    docs.route(p, { body: clientDoc(`${cid}.x`) });
    await expect(a.cimd.pin(cid)).rejects.toMatchObject({ code: 'rejected:client_id_mismatch' });
    const event = a.events.find((e) => e.reason === 'rejected:client_id_mismatch');
    expect(event?.rule).toBe('client_id');
  });
});

describe('11. a shared store outage is visible', () => {
  test('events say the shared tier was skipped; down and back are reported once each; onError does not flood', async () => {
    const own = await startRedisServer();
    const errors: Error[] = [];
    const keyv = await createRedisCache(own.url, { onError: (error) => errors.push(error), maxReconnectDelayMs: 50 });
    const events: CimdEvent[] = [];
    const a = await startInstance('A', keyv, {
      // A lookup every 20 ms for 2 s: budgets out of the way (this test is about the store, not the budget).
      options: {
        sharedCacheTimeoutMs: 200,
        onEvent: (e) => events.push(e),
        budget: { perHostBurst: 1000, perDomainBurst: 1000 },
      },
    });
    try {
      const p = path('outage');
      const cid = docs.cid(p);
      docs.route(p, { body: clientDoc(cid), headers: { 'cache-control': 'no-store' } });
      await a.cimd.resolve(cid);
      expect(events.at(-1)?.sharedSkipped).toBeUndefined();
      await own.kill();
      const before = errors.length;
      const until = Date.now() + 2000;
      while (Date.now() < until) {
        await a.cimd.resolve(cid);
        await sleep(20);
      }
      const during = events.filter((e) => e.cid === cid).slice(-5);
      expect(during.every((e) => e.sharedSkipped === true)).toBe(true);
      expect(events.filter((e) => e.reason === 'store:down')).toHaveLength(1);
      expect(errors.length - before).toBeLessThanOrEqual(3);
      await own.restart();
      await eventually(
        async () => {
          await a.cimd.resolve(cid);
          return events.some((e) => e.reason === 'store:up');
        },
        10_000,
        'store:up',
      );
      expect(events.filter((e) => e.reason === 'store:up')).toHaveLength(1);
    } finally {
      await a.close();
      await keyv.disconnect().catch(() => {});
      await own.kill().catch(() => {});
    }
  }, 30_000);
});

describe('upgrade: entries written by the previous release', () => {
  test('are read in place, judged again under today’s rules without fetching, and their pins stay pins', async () => {
    const keyv = await createRedisCache(redis.url);
    closers.push(() => keyv.disconnect());
    const p = path('legacy');
    const cid = docs.cid(p);
    const pinnedCid = docs.cid(path('legacy-pinned'));
    const now = Date.now();
    const legacy = (id: string, extra: Record<string, unknown> = {}) => ({
      v: 2,
      cid: id,
      metadata: {
        client_id: id,
        client_name: 'Legacy',
        redirect_uris: ['https://app.example.com/cb'],
        grant_types: ['authorization_code', 'client_credentials'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      },
      loopbackOnly: false,
      fetchedAt: now,
      freshUntil: now + 10 * MINUTE,
      staleIfErrorUntil: now + 10 * MINUTE,
      ...extra,
    });
    // Exactly as the previous release stored them: through Keyv, bare entries.
    await keyv.set(`cimd:doc:${cid}`, legacy(cid), 10 * MINUTE);
    await keyv.set(`cimd:doc:${pinnedCid}`, legacy(pinnedCid, { pinned: true, freshUntil: now }));
    const [a] = await redisPair([{}]);
    const served = await a!.cimd.resolve(cid);
    expect(served?.metadata.client_name).toBe('Legacy');
    expect(served?.metadata.grant_types).toEqual(['authorization_code']);
    expect(docs.hits(p)).toBe(0);
    const pinned = await a!.cimd.resolve(pinnedCid);
    expect(pinned?.pinned).toBe(true);
    await expect(a!.cimd.unpin(pinnedCid)).resolves.toBe(true);
  });
});
