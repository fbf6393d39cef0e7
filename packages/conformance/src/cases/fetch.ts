/** How the server fetches a document (CIMD -03 §5, §9.6, §9.7): one GET, 200 only, JSON only, bounded. */
import { gzipSync } from 'node:zlib';
import type { CaseContext } from '../context.js';
import { type Responder, respond } from '../doc-host.js';
import type { Level } from '../types.js';
import { type CaseDef, judgeAccepted, judgeRefused } from './common.js';

function fetchCase(
  id: string,
  title: string,
  level: Level,
  cite: string,
  responder: (ctx: CaseContext, cid: string) => Responder,
  expect: 'refused' | 'accepted' = 'refused',
  schedule: CaseDef['schedule'] = 'normal',
): CaseDef {
  return {
    id: `fetch.${id}`,
    family: 'fetch',
    title,
    level,
    cite,
    schedule,
    async run(ctx) {
      const cid = ctx.cid();
      ctx.serve(cid, responder(ctx, cid));
      const answer = await ctx.authorize(cid);
      return expect === 'refused' ? judgeRefused(answer, ctx.fetches(), 'some') : judgeAccepted(answer, ctx.fetches());
    },
  };
}

function redirectCase(status: number): CaseDef {
  return {
    id: `fetch.redirect-${status}`,
    family: 'fetch',
    title: `a ${status} redirect to a valid document is not followed`,
    level: 'MUST',
    cite: 'CIMD -03 §5 (redirects are not followed)',
    async run(ctx) {
      const cid = ctx.cid();
      const target = ctx.cid('moved');
      ctx.serve(cid, respond.status(status, { location: target }));
      const moved = ctx.serve(target, respond.json(ctx.doc(cid)));
      const answer = await ctx.authorize(cid);
      if (moved.hits > 0) {
        return {
          pass: false,
          detail: `followed the ${status} to ${target} (${moved.hits} request there), then ${answer.kind}`,
        };
      }
      return judgeRefused(answer, ctx.fetches(), 'some');
    },
  };
}

/** The valid document served with another status: a lax server that ignores the status accepts it. */
function statusCase(status: number, level: Level): CaseDef {
  return fetchCase(
    `status-${status}`,
    `a valid document served with status ${status}`,
    level,
    'CIMD -03 §5 (only 200 OK is success)',
    (ctx, cid) => (status === 204 || status === 304 ? respond.status(status) : respond.json(ctx.doc(cid), {}, status)),
  );
}

function padded(ctx: CaseContext, cid: string, bytes: number): string {
  const base = JSON.stringify({ ...ctx.doc(cid), padding: '' });
  return JSON.stringify({ ...ctx.doc(cid), padding: 'x'.repeat(Math.max(0, bytes - base.length)) });
}

const TEXT_TYPE = 'CIMD -03 §5; RFC 8259 §11 (a JSON document is application/json)';
const SIZE = 'CIMD -03 §9.7 (5 KB response limit)';
const SSRF = 'CIMD -03 §9.6 (fetch timeouts)';

export const fetchCases: CaseDef[] = [
  ...[301, 302, 303, 307, 308].map(redirectCase),
  statusCase(201, 'MUST'),
  statusCase(203, 'MUST'),
  statusCase(204, 'MUST'),
  statusCase(404, 'MUST'),
  statusCase(410, 'MUST'),
  statusCase(500, 'MUST'),
  statusCase(503, 'MUST'),
  fetchCase('content-type-html', 'a JSON body labelled text/html', 'SHOULD', TEXT_TYPE, (ctx, cid) =>
    respond.raw(JSON.stringify(ctx.doc(cid)), { 'content-type': 'text/html' }),
  ),
  fetchCase('content-type-plain', 'a JSON body labelled text/plain', 'policy', TEXT_TYPE, (ctx, cid) =>
    respond.raw(JSON.stringify(ctx.doc(cid)), { 'content-type': 'text/plain' }),
  ),
  fetchCase('content-type-missing', 'a JSON body without content-type', 'policy', TEXT_TYPE, (ctx, cid) =>
    respond.raw(JSON.stringify(ctx.doc(cid)), {}),
  ),
  fetchCase(
    'content-type-charset',
    'application/json; charset=utf-8 is accepted',
    'MUST',
    'RFC 9110 §8.3 (media type parameters)',
    (ctx, cid) => respond.raw(JSON.stringify(ctx.doc(cid)), { 'content-type': 'application/json; charset=utf-8' }),
    'accepted',
  ),
  fetchCase(
    'content-type-suffix',
    'application/<x>+json is accepted',
    'policy',
    'RFC 6839 §3.1 (+json suffix)',
    (ctx, cid) => respond.raw(JSON.stringify(ctx.doc(cid)), { 'content-type': 'application/client-metadata+json' }),
    'accepted',
  ),
  fetchCase(
    'size-5000',
    'a 5000-byte document is accepted',
    'policy',
    SIZE,
    (ctx, cid) => respond.raw(padded(ctx, cid, 5000), { 'content-type': 'application/json' }),
    'accepted',
  ),
  fetchCase('size-6k-length', 'a 6 KB document with content-length', 'SHOULD', SIZE, (ctx, cid) => {
    const body = padded(ctx, cid, 6144);
    return respond.raw(body, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
  }),
  fetchCase('size-6k-chunked', 'a 6 KB document, chunked (no content-length)', 'SHOULD', SIZE, (ctx, cid) =>
    respond.raw(padded(ctx, cid, 6144), { 'content-type': 'application/json' }),
  ),
  fetchCase('size-lying-length', 'a 6 KB body announced as 4 KB', 'SHOULD', SIZE, (ctx, cid) => (_req, res) => {
    const body = padded(ctx, cid, 6144);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '4096' });
    res.end(body);
  }),
  fetchCase(
    'size-huge',
    'an endless chunked body (stops at 8 MB)',
    'SHOULD',
    SIZE,
    (_ctx, cid) => async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`{"client_id":${JSON.stringify(cid)},"padding":"`);
      const chunk = 'x'.repeat(64 * 1024);
      for (let sent = 0; sent < 8 * 1024 * 1024 && !res.destroyed; sent += chunk.length) {
        if (!res.write(chunk)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              res.off('drain', done);
              res.off('close', done);
              resolve();
            };
            res.once('drain', done);
            res.once('close', done);
          });
        }
      }
      res.end('"}');
    },
  ),
  fetchCase(
    'trickle',
    'a body that trickles one byte every 500 ms',
    'SHOULD',
    SSRF,
    (ctx, cid) => async (_req, res) => {
      const body = JSON.stringify(ctx.doc(cid));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
      for (const char of body) {
        if (res.destroyed) return;
        res.write(char);
        await ctx.sleep(500);
      }
      res.end();
    },
    'refused',
    'slow',
  ),
  fetchCase(
    'stall',
    'no answer at all for 30 s after the request',
    'SHOULD',
    SSRF,
    (ctx) => async (_req, res) => {
      await ctx.sleep(30_000);
      res.destroy();
    },
    'refused',
    'slow',
  ),
  fetchCase(
    'gzip',
    'a gzip-encoded body (content-encoding: gzip)',
    'policy',
    'CIMD -03 §9.7 (a 5 KB gzip body inflates far past the limit)',
    (ctx, cid) =>
      respond.raw(gzipSync(JSON.stringify(ctx.doc(cid))), {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
      }),
  ),
  fetchCase('invalid-json', 'a truncated JSON body', 'MUST', 'CIMD -03 §4', () =>
    respond.raw('{"client_id":', { 'content-type': 'application/json' }),
  ),
  fetchCase(
    'json-array',
    'a JSON array holding the document',
    'MUST',
    'CIMD -03 §4; RFC 7591 §2 (a JSON object)',
    (ctx, cid) => respond.json([ctx.doc(cid)]),
  ),
  fetchCase(
    'duplicate-member',
    'a duplicate client_id member (the last one matches)',
    'policy',
    'RFC 8259 §4; RFC 7591 §2',
    (ctx, cid) => {
      const body = JSON.stringify(ctx.doc(cid)).replace('{', `{"client_id":"https://attacker.example/x",`);
      return respond.raw(body, { 'content-type': 'application/json' });
    },
  ),
  {
    id: 'fetch.no-cookies',
    family: 'fetch',
    title: 'a cookie set by the document host is never sent back',
    level: 'SHOULD',
    cite: 'CIMD -03 §9.6 (fetches carry no ambient credentials)',
    async run(ctx) {
      const cid = ctx.cid();
      const route = ctx.serve(
        cid,
        respond.json(ctx.doc(cid), { 'cache-control': 'no-store', 'set-cookie': 'kit=1; Secure; Path=/' }),
      );
      await ctx.authorize(cid, {}, 'authorize #1');
      await ctx.authorize(cid, {}, 'authorize #2');
      const withCookie = route.requests.filter((request) => request.headers.cookie || request.headers.authorization);
      if (route.hits < 2) return { pass: true, detail: `${route.hits} fetch (no second fetch to inspect)` };
      return {
        pass: withCookie.length === 0,
        detail: withCookie.length
          ? `sent cookie: ${withCookie[0]?.headers.cookie}`
          : `${route.hits} fetches, none with credentials`,
      };
    },
  },
  {
    id: 'fetch.request-headers',
    family: 'fetch',
    title: 'the fetch asks for JSON and no compression',
    level: 'info',
    cite: 'CIMD -03 §5; RFC 9110 §12.5',
    async run(ctx) {
      const cid = ctx.cid();
      const route = ctx.serve(cid, respond.json(ctx.doc(cid)));
      await ctx.authorize(cid);
      const request = route.requests[0];
      if (!request) return { pass: false, detail: 'no fetch' };
      const accept = String(request.headers.accept ?? '');
      const encoding = String(request.headers['accept-encoding'] ?? '');
      return {
        pass: /json/.test(accept) && (encoding === '' || encoding === 'identity'),
        detail: `accept: ${accept || '(none)'}; accept-encoding: ${encoding || '(none)'}; method ${request.method}`,
      };
    },
  },
];
