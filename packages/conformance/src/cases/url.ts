/**
 * Client identifier URL rules (CIMD -03 §3): each malformed id must be refused before any network activity. The
 * kit serves a valid document (claiming the malformed id) wherever a lenient server could end up after
 * normalising the id, and counts requests there and on the raw path: any request at all fails the case.
 */
import type { CaseContext } from '../context.js';
import { respond } from '../doc-host.js';
import type { Level } from '../types.js';
import { type CaseDef, judgeAccepted, judgeRefused } from './common.js';

interface Origin {
  /** `localhost:4443` */
  host: string;
  hostname: string;
  port: string;
}

function origin(ctx: CaseContext, which: 'primary' | 'secondary' = 'primary'): Origin {
  const url = new URL(ctx.settings.origins[which]);
  return { host: url.host, hostname: url.hostname, port: url.port || '443' };
}

/** `:port`, or nothing for the default port (a canonical id never spells :443). */
const portPart = (o: Origin) => (o.port === '443' ? '' : `:${o.port}`);

/** The path part of a raw id (after the authority, before any fragment), as a naive server would send it. */
function rawPath(raw: string): string | undefined {
  const match = /^[a-zA-Z][a-zA-Z0-9+.-]*:[/\\]{2}[^/\\?#]*([^#]*)/.exec(raw);
  return match?.[1] || undefined;
}

function refusedUrl(
  id: string,
  title: string,
  level: Level,
  cite: string,
  make: (ctx: CaseContext, o: Origin) => string,
): CaseDef {
  return {
    id: `client-id-url.${id}`,
    family: 'client-id-url',
    title,
    level,
    cite,
    async run(ctx) {
      const raw = make(ctx, origin(ctx));
      const parsed = URL.parse(raw);
      const normalised = parsed ? parsed.pathname + parsed.search : undefined;
      if (normalised && normalised !== '/') ctx.serve(normalised, respond.json(ctx.doc(raw)));
      else if (normalised) ctx.watch(normalised, parsed?.hostname);
      const rawOnly = rawPath(raw);
      if (rawOnly && rawOnly !== normalised) ctx.watch(rawOnly);
      const answer = await ctx.authorize(raw);
      return judgeRefused(answer, ctx.fetches(), 'none');
    },
  };
}

const S3 = 'CIMD -03 §3';
const CANON = 'CIMD -03 §3; RFC 3986 §6 (one spelling per client)';

export const urlCases: CaseDef[] = [
  {
    id: 'client-id-url.baseline',
    family: 'client-id-url',
    title: 'a canonical https id with a path, on a non-443 port, is accepted',
    level: 'MUST',
    cite: 'CIMD -03 §3 (port MAY); prerequisite for every other case',
    async run(ctx) {
      const cid = ctx.cid();
      ctx.serve(cid, respond.json(ctx.doc(cid)));
      return judgeAccepted(await ctx.authorize(cid), ctx.fetches());
    },
  },
  {
    id: 'client-id-url.baseline-secondary',
    family: 'client-id-url',
    title: 'the same on the second document origin (dev: an IP literal)',
    level: 'policy',
    cite: 'CIMD -03 §9.6 (development exception)',
    async run(ctx) {
      const cid = ctx.cid('client', 'secondary');
      ctx.serve(cid, respond.json(ctx.doc(cid)));
      return judgeAccepted(await ctx.authorize(cid), ctx.fetches());
    },
  },
  {
    id: 'client-id-url.percent-encoded-path',
    family: 'client-id-url',
    title: 'a canonical percent-encoded path (caf%C3%A9) is accepted',
    level: 'policy',
    cite: 'RFC 3986 §2.1',
    async run(ctx) {
      const cid = `${ctx.settings.origins.primary}${ctx.path('caf%C3%A9')}`;
      ctx.serve(cid, respond.json(ctx.doc(cid)));
      return judgeAccepted(await ctx.authorize(cid), ctx.fetches());
    },
  },
  {
    id: 'client-id-url.long-ok',
    family: 'client-id-url',
    title: 'a 2000-character id is accepted',
    level: 'policy',
    cite: 'CIMD -03 §3 (length bound 2048 is policy)',
    async run(ctx) {
      const base = ctx.cid('');
      const cid = base + 'a'.repeat(2000 - base.length);
      ctx.serve(cid, respond.json(ctx.doc(cid)));
      return judgeAccepted(await ctx.authorize(cid), ctx.fetches());
    },
  },
  refusedUrl('scheme-http', 'http: scheme', 'MUST', S3, (ctx, o) => `http://${o.host}${ctx.path()}`),
  refusedUrl('scheme-upper', 'upper-case HTTPS: scheme', 'policy', CANON, (ctx, o) => `HTTPS://${o.host}${ctx.path()}`),
  refusedUrl('no-path', 'no path component', 'MUST', S3, (_ctx, o) => `https://${o.host}`),
  refusedUrl('root-path', 'a path of exactly /', 'SHOULD', 'CIMD -03 §3 (NOT RECOMMENDED)', (ctx) => {
    const s = origin(ctx, 'secondary');
    return `https://${s.host}/`;
  }),
  refusedUrl('fragment', 'a fragment', 'MUST', S3, (ctx) => `${ctx.cid()}#frag`),
  refusedUrl('fragment-empty', 'an empty fragment (#)', 'MUST', S3, (ctx) => `${ctx.cid()}#`),
  refusedUrl(
    'dot-segment',
    'a single-dot path segment',
    'MUST',
    S3,
    (ctx, o) => `https://${o.host}${ctx.path('sub')}/./client`,
  ),
  refusedUrl(
    'dot-dot-segment',
    'a double-dot path segment',
    'MUST',
    S3,
    (ctx, o) => `https://${o.host}${ctx.path('sub')}/../client`,
  ),
  refusedUrl(
    'dot-encoded-lower',
    'a %2e%2e path segment',
    'MUST',
    S3,
    (ctx, o) => `https://${o.host}${ctx.path('sub')}/%2e%2e/client`,
  ),
  refusedUrl(
    'dot-encoded-upper',
    'a %2E%2E path segment',
    'MUST',
    S3,
    (ctx, o) => `https://${o.host}${ctx.path('sub')}/%2E%2E/client`,
  ),
  refusedUrl(
    'dot-mixed',
    'a .%2e path segment',
    'MUST',
    S3,
    (ctx, o) => `https://${o.host}${ctx.path('sub')}/.%2e/client`,
  ),
  refusedUrl(
    'dot-encoded-single',
    'a %2e path segment',
    'MUST',
    S3,
    (ctx, o) => `https://${o.host}${ctx.path('sub')}/%2e/x`,
  ),
  refusedUrl('userinfo', 'a username', 'MUST', S3, (ctx, o) => `https://user@${o.host}${ctx.path()}`),
  refusedUrl(
    'userinfo-password',
    'a username and password',
    'MUST',
    S3,
    (ctx, o) => `https://user:pw@${o.host}${ctx.path()}`,
  ),
  refusedUrl('userinfo-empty', 'an empty userinfo (@)', 'SHOULD', S3, (ctx, o) => `https://@${o.host}${ctx.path()}`),
  refusedUrl(
    'port-leading-zero',
    'a port with a leading zero',
    'policy',
    CANON,
    (ctx, o) => `https://${o.hostname}:0${o.port}${ctx.path()}`,
  ),
  refusedUrl(
    'trailing-dot',
    'a host ending with a dot',
    'SHOULD',
    'CIMD -03 §3; RFC 6761 (same host, another spelling)',
    (ctx, o) => `https://${o.hostname}.${portPart(o)}${ctx.path()}`,
  ),
  refusedUrl(
    'host-upper',
    'an upper-case host',
    'policy',
    CANON,
    (ctx, o) => `https://${o.hostname.toUpperCase()}${portPart(o)}${ctx.path()}`,
  ),
  refusedUrl('host-percent', 'a percent-encoded host byte', 'policy', CANON, (ctx, o) => {
    const h = o.hostname;
    return `https://%${h.charCodeAt(0).toString(16)}${h.slice(1)}${portPart(o)}${ctx.path()}`;
  }),
  refusedUrl(
    'ipv4-decimal',
    'an IPv4 address written as one decimal number',
    'policy',
    CANON,
    (ctx) => `https://2130706433${portPart(origin(ctx))}${ctx.path()}`,
  ),
  refusedUrl(
    'ipv4-hex',
    'an IPv4 address in hex (0x7f.1)',
    'policy',
    CANON,
    (ctx) => `https://0x7f.1${portPart(origin(ctx))}${ctx.path()}`,
  ),
  refusedUrl(
    'too-long',
    'longer than 2048 characters',
    'policy',
    'CIMD -03 §3 (policy bound, RFC 9110 §4.1)',
    (ctx) => {
      const base = ctx.cid('');
      return base + 'a'.repeat(2100 - base.length);
    },
  ),
  refusedUrl('non-ascii-path', 'a raw non-ASCII character in the path', 'SHOULD', CANON, (ctx) => `${ctx.cid('café')}`),
  refusedUrl('tab', 'a TAB inside the path (URL parsers drop it)', 'SHOULD', CANON, (ctx) => ctx.cid('cli\tent')),
  refusedUrl('space', 'a raw space in the path', 'SHOULD', CANON, (ctx) => ctx.cid('cli ent')),
  refusedUrl(
    'backslash',
    'backslashes instead of slashes',
    'SHOULD',
    CANON,
    (ctx, o) => `https://${o.host}${ctx.path().replaceAll('/', '\\')}`,
  ),
  refusedUrl('query', 'a query string', 'policy', 'CIMD -03 §3 (SHOULD NOT)', (ctx) => `${ctx.cid()}?v=1`),
];
