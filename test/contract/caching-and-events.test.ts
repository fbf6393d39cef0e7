/**
 * Contract statements of §5 "Caching" and §8 "Observability" that had no test of their own:
 * - §5: a revocation (404 or 410 from the origin, draft-ietf-oauth-client-id-metadata-document-03 §6) observed
 *   by one instance reaches a running second instance's in-process copy through the shared store's
 *   invalidation, without that instance fetching;
 * - §8: every event carries the CID's host.
 * Each test fails when the code behind its statement is removed (checked by breaking it: noted per test).
 */

import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Keyv } from '@keyv/redis';
import { type CimdEvent, createRedisCache } from 'oidc-provider-cimd';
import { clientDoc, configuredCimd, type DocServer, eventually, startDocServer } from '../cache/support.js';
import { startRedisServer, type TestRedisServer } from '../helpers/redis-server.js';

let docs: DocServer;
beforeAll(async () => {
  docs = await startDocServer();
});
afterAll(async () => {
  await docs.close();
});

describe('§5: a revocation reaches the other instances’ in-process copies', () => {
  let redis: TestRedisServer;
  const caches: Keyv[] = [];
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await Promise.allSettled(caches.map((cache) => cache.disconnect()));
    await redis.close();
  });

  /** One instance: its own plugin and its own Redis connection, as another process would have. */
  const instance = async () => {
    const cache = await createRedisCache(redis.url, { maxReconnectDelayMs: 100 });
    caches.push(cache);
    // A loaded machine must not turn a slow Redis answer into an outage here.
    return configuredCimd({ cache, sharedCacheTimeoutMs: 2000 });
  };

  // Broken by: the resolver not publishing the invalidation when it removes a revoked entry (red: B keeps its
  // copy for the document's max-age, an hour here).
  test.each([404, 410])(
    'a %i seen by instance A drops instance B’s copy, and B does not fetch to learn it',
    async (status) => {
      const path = `/contract/revoked-${status}.json`;
      let gone = false;
      const cid = docs.route(path, () =>
        gone
          ? { status, body: { error: 'gone' } }
          : { body: clientDoc(docs.cid(path)), headers: { 'cache-control': 'max-age=3600' } },
      );
      const a = await instance();
      const b = await instance();
      try {
        expect((await a.cimd.resolve(cid))?.cid).toBe(cid);
        expect((await b.cimd.resolve(cid))?.cid).toBe(cid);
        expect((await b.cimd.inspect(cid))?.tier).toBe('memory');
        expect(docs.hits(path)).toBe(1);

        gone = true;
        await expect(a.cimd.refresh(cid)).rejects.toMatchObject({ code: 'revoked' });
        expect(docs.hits(path)).toBe(2);
        // An awaited condition, not a sleep: the invalidation arrives when Redis delivers it.
        await eventually(async () => (await b.cimd.inspect(cid)) === undefined, 10_000, 'B dropped its copy');
        expect(docs.hits(path)).toBe(2);
      } finally {
        await Promise.allSettled([a.cimd.close(), b.cimd.close()]);
      }
    },
  );
});

describe('§8: the host on every event', () => {
  // Broken by: `host` left out of the event (observe/events.ts) on any path (red: the list of events without it).
  test('fetched, cache hits, refusals by status, by document rule, by policy, by budget: each names the host', async () => {
    const events: CimdEvent[] = [];
    const { cimd } = await configuredCimd({
      onEvent: (event) => events.push(event),
      policy: { deny: ['https://127.0.0.1:1/denied.json'] },
      budget: { perHostBurst: 6, perHostPerSecond: 0.001 },
    });
    const good = docs.route('/contract/events/good.json', { body: clientDoc(docs.cid('/contract/events/good.json')) });
    const invalid = docs.route('/contract/events/invalid.json', {
      body: clientDoc('https://elsewhere.example/x.json'),
    });
    const missing = docs.cid('/contract/events/missing.json');
    const html = docs.route('/contract/events/html.json', {
      body: '<html></html>',
      headers: { 'content-type': 'text/html' },
    });
    try {
      await cimd.resolve(good);
      await cimd.resolve(good);
      for (const cid of [invalid, missing, html, 'https://127.0.0.1:1/denied.json']) {
        await cimd.resolve(cid).catch(() => undefined);
      }
      // Over the host's budget.
      for (let i = 0; i < 6; i++)
        await cimd.resolve(docs.cid(`/contract/events/junk-${i}.json`)).catch(() => undefined);
    } finally {
      await cimd.close();
    }
    const reasons = new Set(events.map((e) => e.reason));
    // The paths this test means to cover did run.
    expect(reasons.size).toBeGreaterThanOrEqual(5);
    expect([...reasons]).toEqual(expect.arrayContaining(['fetched', 'cache_hit', 'rate_limited']));
    const withoutHost = events.filter((e) => e.host !== new URL(e.cid).host).map((e) => `${e.reason} ${e.cid}`);
    expect(withoutHost).toEqual([]);
  });
});
