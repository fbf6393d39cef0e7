/**
 * Caching (CIMD -03 §5.1, RFC 9111). The `expiry` cases wait for a lifetime to pass between two phases; the
 * kit sends `max-age=1` and waits `--expiry-wait` seconds (default 65: servers clamp short lifetimes up to a
 * minimum, 60 s in this repo's plugin).
 */
import type { CaseContext } from '../context.js';
import { type Responder, respond } from '../doc-host.js';
import type { CaseVerdict, Level } from '../types.js';
import { type CaseDef, describe, judgeAccepted, judgeRefused } from './common.js';

function cacheCase(
  id: string,
  title: string,
  level: Level,
  cite: string,
  run: (ctx: CaseContext) => Promise<CaseVerdict>,
  schedule: CaseDef['schedule'] = 'normal',
): CaseDef {
  return { id: `caching.${id}`, family: 'caching', title, level, cite, schedule, run };
}

/** Two authorization requests for one document served with `headers`; expects `fetches` requests in total. */
function countCase(
  id: string,
  title: string,
  level: Level,
  cite: string,
  headers: Record<string, string>,
  requests: number,
  fetches: number,
) {
  return cacheCase(id, title, level, cite, async (ctx) => {
    const cid = ctx.cid();
    const route = ctx.serve(cid, respond.json(ctx.doc(cid), headers));
    for (let i = 1; i <= requests; i++) {
      const answer = await ctx.authorize(cid, {}, `authorize #${i}`);
      if (answer.kind !== 'accepted')
        return { pass: false, detail: `request ${i}: expected accepted, got ${describe(answer)}` };
    }
    return {
      pass: route.hits === fetches,
      detail: `${requests} requests, ${route.hits} fetch${route.hits === 1 ? '' : 'es'} (expected ${fetches})`,
    };
  });
}

const HTTPCACHE = 'CIMD -03 §5.1; RFC 9111 §4.2';
const MAX_AGE = 'max-age=1';

export const cachingCases: CaseDef[] = [
  countCase(
    'max-age',
    'max-age=3600: no refetch inside the lifetime',
    'SHOULD',
    HTTPCACHE,
    { 'cache-control': 'max-age=3600' },
    3,
    1,
  ),
  countCase('default-lifetime', 'no caching headers: cached for a default time', 'policy', 'CIMD -03 §5.1', {}, 2, 1),
  countCase(
    'no-store',
    'no-store: fetched on every request',
    'MUST',
    'RFC 9111 §5.2.2.5',
    { 'cache-control': 'no-store' },
    3,
    3,
  ),
  countCase(
    'expires-past',
    'an Expires in the past with no-cache: fetched every time',
    'SHOULD',
    'RFC 9111 §5.2.2.4',
    { 'cache-control': 'no-cache, no-store', expires: 'Thu, 01 Jan 1970 00:00:00 GMT' },
    2,
    2,
  ),
  cacheCase(
    'etag-304',
    'after expiry, an ETag is revalidated with If-None-Match and a 304 keeps the client',
    'policy',
    'RFC 9111 §4.3.1; RFC 9110 §13.1.2',
    async (ctx) => {
      const cid = ctx.cid();
      const body = JSON.stringify(ctx.doc(cid));
      const responder: Responder = (req, res) => {
        if (req.headers['if-none-match'] === '"v1"') {
          res.writeHead(304, { etag: '"v1"', 'cache-control': MAX_AGE });
          res.end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json', etag: '"v1"', 'cache-control': MAX_AGE });
        res.end(body);
      };
      const route = ctx.serve(cid, responder);
      const first = await ctx.authorize(cid, {}, 'authorize #1');
      if (first.kind !== 'accepted') return { pass: false, detail: `first request: ${describe(first)}` };
      await ctx.sleep(ctx.settings.expiryWaitMs);
      const second = await ctx.authorize(cid, {}, 'authorize #2 (after expiry)');
      const conditional = route.requests.slice(1).some((r) => r.headers['if-none-match'] === '"v1"');
      if (second.kind !== 'accepted') return { pass: false, detail: `after the 304: ${describe(second)}` };
      return {
        pass: conditional,
        detail: conditional
          ? `revalidated with If-None-Match, accepted (${route.hits} fetches)`
          : `no conditional request (${route.hits} fetches)`,
      };
    },
    'expiry',
  ),
  cacheCase(
    'changed-after-expiry',
    'a changed document is picked up after expiry',
    'SHOULD',
    HTTPCACHE,
    async (ctx) => {
      const cid = ctx.cid();
      const route = ctx.serve(
        cid,
        respond.json(ctx.doc(cid, { redirect_uris: ['https://app.example.com/v1'] }), { 'cache-control': MAX_AGE }),
      );
      const first = await ctx.authorize(cid, { redirect_uri: 'https://app.example.com/v1' }, 'authorize v1');
      if (first.kind !== 'accepted') return { pass: false, detail: `v1: ${describe(first)}` };
      route.respond(
        respond.json(ctx.doc(cid, { redirect_uris: ['https://app.example.com/v2'] }), { 'cache-control': MAX_AGE }),
      );
      await ctx.sleep(ctx.settings.expiryWaitMs);
      const old = await ctx.authorize(cid, { redirect_uri: 'https://app.example.com/v1' }, 'authorize v1 after change');
      const fresh = await ctx.authorize(cid, { redirect_uri: 'https://app.example.com/v2' }, 'authorize v2');
      const oldVerdict = judgeRefused(old, 1, 'any');
      const freshVerdict = judgeAccepted(fresh, route.hits);
      return {
        pass: oldVerdict.pass && freshVerdict.pass,
        detail: `removed URI: ${oldVerdict.detail}; new URI: ${freshVerdict.detail}`,
      };
    },
    'expiry',
  ),
  cacheCase(
    '404-after-expiry',
    'a 404 after expiry is refused (no stale copy)',
    'SHOULD',
    'CIMD -03 §5.1 (failed refresh aborts)',
    async (ctx) => {
      const cid = ctx.cid();
      const route = ctx.serve(cid, respond.json(ctx.doc(cid), { 'cache-control': MAX_AGE }));
      const first = await ctx.authorize(cid, {}, 'authorize #1');
      if (first.kind !== 'accepted') return { pass: false, detail: `first request: ${describe(first)}` };
      route.respond(respond.status(404));
      await ctx.sleep(ctx.settings.expiryWaitMs);
      return judgeRefused(await ctx.authorize(cid, {}, 'authorize after 404'), route.hits, 'some');
    },
    'expiry',
  ),
  cacheCase(
    '500-after-expiry',
    'a 500 after expiry (no stale-if-error) is refused',
    'policy',
    'CIMD -03 §5.1; RFC 5861 §4',
    async (ctx) => {
      const cid = ctx.cid();
      const route = ctx.serve(cid, respond.json(ctx.doc(cid), { 'cache-control': MAX_AGE }));
      const first = await ctx.authorize(cid, {}, 'authorize #1');
      if (first.kind !== 'accepted') return { pass: false, detail: `first request: ${describe(first)}` };
      route.respond(respond.status(500));
      await ctx.sleep(ctx.settings.expiryWaitMs);
      return judgeRefused(await ctx.authorize(cid, {}, 'authorize after 500'), route.hits, 'some');
    },
    'expiry',
  ),
  cacheCase(
    'invalid-not-cached',
    'an invalid document is not cached: fixed later, it is fetched again and accepted',
    'SHOULD',
    'CIMD -03 §4 (only validated documents are used)',
    async (ctx) => {
      const cid = ctx.cid();
      const route = ctx.serve(
        cid,
        respond.json(ctx.doc(cid, { client_id: `${cid}-wrong` }), { 'cache-control': 'max-age=3600' }),
      );
      const first = await ctx.authorize(cid, {}, 'authorize (invalid)');
      const refused = judgeRefused(first, route.hits, 'some');
      if (!refused.pass) return refused;
      route.respond(respond.json(ctx.doc(cid), { 'cache-control': 'max-age=3600' }));
      await ctx.sleep(ctx.settings.expiryWaitMs);
      return judgeAccepted(await ctx.authorize(cid, {}, 'authorize (fixed)'), route.hits);
    },
    'expiry',
  ),
  cacheCase(
    'new-redirect-refetch',
    'a redirect_uri missing from a cached document triggers one refetch',
    'policy',
    'CIMD -03 §5.1',
    async (ctx) => {
      const cid = ctx.cid();
      const route = ctx.serve(cid, respond.json(ctx.doc(cid), { 'cache-control': 'max-age=3600' }));
      const first = await ctx.authorize(cid, {}, 'authorize #1');
      if (first.kind !== 'accepted') return { pass: false, detail: `first request: ${describe(first)}` };
      route.respond(
        respond.json(
          ctx.doc(cid, { redirect_uris: ['https://app.example.com/callback', 'https://app.example.com/added'] }),
          { 'cache-control': 'max-age=3600' },
        ),
      );
      await ctx.sleep(ctx.settings.expiryWaitMs);
      return judgeAccepted(
        await ctx.authorize(cid, { redirect_uri: 'https://app.example.com/added' }, 'authorize (added URI)'),
        route.hits,
      );
    },
    'expiry',
  ),
];
