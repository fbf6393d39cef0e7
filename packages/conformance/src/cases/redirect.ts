/** Redirect URI matching (RFC 9700 §2.1 exact matching; RFC 8252 §7.3 the loopback port exception). */
import { respond } from '../doc-host.js';
import type { Level } from '../types.js';
import { type CaseDef, judgeAccepted, judgeRefused } from './common.js';

const EXACT = 'RFC 9700 §2.1; CIMD -03 §4';
const LOOPBACK = 'RFC 8252 §7.3; RFC 9700 §2.1';

function redirectCase(
  id: string,
  title: string,
  level: Level,
  cite: string,
  registered: string[],
  requested: string,
  expect: 'accepted' | 'refused',
): CaseDef {
  return {
    id: `redirect-uri.${id}`,
    family: 'redirect-uri',
    title,
    level,
    cite,
    async run(ctx) {
      const cid = ctx.cid();
      ctx.serve(cid, respond.json(ctx.doc(cid, { redirect_uris: registered })));
      const answer = await ctx.authorize(cid, { redirect_uri: requested });
      if (expect === 'accepted') return judgeAccepted(answer, ctx.fetches());
      if (answer.kind === 'redirect-error') {
        return { pass: false, detail: `redirected to the unregistered ${requested} (error=${answer.error})` };
      }
      return judgeRefused(answer, ctx.fetches(), 'any');
    },
  };
}

const WEB = 'https://app.example.com/callback';
const V4 = 'http://127.0.0.1/callback';
const V6 = 'http://[::1]/callback';
const LH = 'http://localhost/callback';

export const redirectCases: CaseDef[] = [
  redirectCase('exact', 'the registered URI is accepted', 'MUST', EXACT, [WEB], WEB, 'accepted'),
  redirectCase(
    'second-of-two',
    'the second of two registered URIs is accepted',
    'MUST',
    EXACT,
    ['https://other.example.com/cb', WEB],
    WEB,
    'accepted',
  ),
  redirectCase(
    'other-path',
    'another path on the same host',
    'MUST',
    EXACT,
    [WEB],
    'https://app.example.com/other',
    'refused',
  ),
  redirectCase('path-suffix', 'the registered path plus a suffix', 'MUST', EXACT, [WEB], `${WEB}/extra`, 'refused'),
  redirectCase(
    'trailing-slash',
    'the registered path plus a trailing slash',
    'MUST',
    EXACT,
    [WEB],
    `${WEB}/`,
    'refused',
  ),
  redirectCase(
    'added-query',
    'a query added to the registered URI',
    'MUST',
    EXACT,
    [WEB],
    `${WEB}?next=/admin`,
    'refused',
  ),
  redirectCase(
    'query-exact',
    'a registered query, requested exactly',
    'MUST',
    EXACT,
    [`${WEB}?tenant=a`],
    `${WEB}?tenant=a`,
    'accepted',
  ),
  redirectCase(
    'query-differs',
    'a registered query with another value',
    'MUST',
    EXACT,
    [`${WEB}?tenant=a`],
    `${WEB}?tenant=b`,
    'refused',
  ),
  redirectCase(
    'https-port',
    'a non-loopback URI on another port',
    'MUST',
    EXACT,
    [WEB],
    'https://app.example.com:8443/callback',
    'refused',
  ),
  redirectCase(
    'scheme',
    'the registered URI with http instead of https',
    'MUST',
    EXACT,
    [WEB],
    'http://app.example.com/callback',
    'refused',
  ),
  redirectCase(
    'subdomain',
    'a subdomain of the registered host',
    'MUST',
    EXACT,
    [WEB],
    'https://evil.app.example.com/callback',
    'refused',
  ),
  redirectCase(
    'host-case',
    'the registered host in upper case',
    'policy',
    'RFC 9700 §2.1 (simple string comparison)',
    [WEB],
    'https://APP.example.com/callback',
    'refused',
  ),
  redirectCase(
    'loopback-v4-port',
    'http://127.0.0.1 on any port',
    'MUST',
    LOOPBACK,
    [V4],
    'http://127.0.0.1:53121/callback',
    'accepted',
  ),
  redirectCase(
    'loopback-v6-port',
    'http://[::1] on any port',
    'MUST',
    LOOPBACK,
    [V6],
    'http://[::1]:53121/callback',
    'accepted',
  ),
  redirectCase(
    'loopback-localhost-port',
    'http://localhost on any port',
    'policy',
    'RFC 8252 §8.3 (localhost NOT RECOMMENDED); MCP',
    [LH],
    'http://localhost:53121/callback',
    'accepted',
  ),
  redirectCase(
    'loopback-registered-port',
    'a loopback URI registered with a port, requested on another',
    'SHOULD',
    LOOPBACK,
    ['http://127.0.0.1:8080/callback'],
    'http://127.0.0.1:53121/callback',
    'accepted',
  ),
  redirectCase(
    'loopback-path',
    'loopback, another path',
    'MUST',
    LOOPBACK,
    [V4],
    'http://127.0.0.1:53121/other',
    'refused',
  ),
  redirectCase(
    'loopback-query',
    'loopback, a query added',
    'MUST',
    LOOPBACK,
    [V4],
    'http://127.0.0.1:53121/callback?x=1',
    'refused',
  ),
  redirectCase(
    'loopback-scheme',
    'loopback, https instead of http',
    'SHOULD',
    LOOPBACK,
    [V4],
    'https://127.0.0.1:53121/callback',
    'refused',
  ),
  redirectCase(
    'loopback-host-swap',
    'registered 127.0.0.1, requested localhost',
    'SHOULD',
    LOOPBACK,
    [V4],
    'http://localhost:53121/callback',
    'refused',
  ),
];
