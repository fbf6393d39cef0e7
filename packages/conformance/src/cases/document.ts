/** What a document may say (CIMD -03 §4, §6; RFC 7591 §2). Each is fetched, then must be refused (or accepted). */
import { generateKeyPairSync } from 'node:crypto';
import type { CaseContext } from '../context.js';
import { respond } from '../doc-host.js';
import type { Level } from '../types.js';
import { acceptDocument, type CaseDef, judgeRefused, refuseDocument } from './common.js';

type Build = (ctx: CaseContext, cid: string) => unknown;

function refusedDoc(
  id: string,
  title: string,
  level: Level,
  cite: string,
  build: Build,
  extra: Record<string, string> = {},
): CaseDef {
  return {
    id: `document.${id}`,
    family: 'document',
    title,
    level,
    cite,
    run: (ctx) => refuseDocument(ctx, (cid) => build(ctx, cid), {}, extra),
  };
}

function acceptedDoc(
  id: string,
  title: string,
  level: Level,
  cite: string,
  build: Build,
  extra: Record<string, string> = {},
): CaseDef {
  return {
    id: `document.${id}`,
    family: 'document',
    title,
    level,
    cite,
    run: (ctx) => acceptDocument(ctx, (cid) => build(ctx, cid), extra),
  };
}

/** A public EC key (a valid `jwks`), and the same with private parts. */
export function ecJwk(withPrivate = false): Record<string, unknown> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' }) as Record<string, unknown>;
  if (!withPrivate) delete jwk.d;
  return { ...jwk, kid: 'k1', alg: 'ES256', use: 'sig' };
}

const S4 = 'CIMD -03 §4';
const S6 = 'CIMD -03 §6';
const REDIR = 'CIMD -03 §4; RFC 7591 §2; RFC 6749 §3.1.2';

export const documentCases: CaseDef[] = [
  acceptedDoc('baseline', 'a minimal valid document is accepted', 'MUST', S4, (ctx, cid) => ctx.doc(cid)),
  acceptedDoc('unknown-members', 'unknown members are ignored', 'MUST', 'RFC 7591 §2', (ctx, cid) =>
    ctx.doc(cid, { 'x-vendor': { nested: [1, 2] }, software_statement_ext: 'ignored' }),
  ),
  acceptedDoc(
    'language-tags',
    'language-tagged client_name#ja does not break anything',
    'SHOULD',
    'RFC 7591 §2.2',
    (ctx, cid) => ctx.doc(cid, { 'client_name#ja': 'テスト' }),
  ),
  acceptedDoc('auth-absent', 'no token_endpoint_auth_method: a public client (none)', 'MUST', S6, (ctx, cid) =>
    ctx.doc(cid, { token_endpoint_auth_method: undefined }),
  ),
  refusedDoc('client-id-other-path', 'client_id names another path', 'MUST', S4, (ctx, cid) =>
    ctx.doc(cid, { client_id: `${cid}-other` }),
  ),
  refusedDoc('client-id-trailing-slash', 'client_id differs by a trailing slash', 'MUST', S4, (ctx, cid) =>
    ctx.doc(cid, { client_id: `${cid}/` }),
  ),
  refusedDoc('client-id-host-case', 'client_id differs by host case', 'MUST', `${S4} (byte-for-byte)`, (ctx, cid) => {
    const url = new URL(cid);
    return ctx.doc(cid, { client_id: cid.replace(url.hostname, url.hostname.toUpperCase()) });
  }),
  refusedDoc('client-id-other-host', 'client_id names the other document origin', 'MUST', S4, (ctx, cid) =>
    ctx.doc(cid, { client_id: cid.replace(ctx.settings.origins.primary, ctx.settings.origins.secondary) }),
  ),
  refusedDoc('client-id-missing', 'no client_id member', 'MUST', S4, (ctx, cid) =>
    ctx.doc(cid, { client_id: undefined }),
  ),
  refusedDoc('client-id-array', 'client_id as an array', 'MUST', S4, (ctx, cid) => ctx.doc(cid, { client_id: [cid] })),
  refusedDoc('client-secret', 'a client_secret', 'MUST', S4, (ctx, cid) =>
    ctx.doc(cid, { client_secret: 'kit-secret' }),
  ),
  refusedDoc('client-secret-null', 'client_secret: null', 'SHOULD', S4, (ctx, cid) =>
    ctx.doc(cid, { client_secret: null }),
  ),
  refusedDoc('client-secret-expires-at', 'client_secret_expires_at', 'MUST', S4, (ctx, cid) =>
    ctx.doc(cid, { client_secret_expires_at: 0 }),
  ),
  ...['client_secret_basic', 'client_secret_post', 'client_secret_jwt'].map((method) =>
    refusedDoc(
      `auth-${method.replaceAll('_', '-')}`,
      `token_endpoint_auth_method ${method}`,
      'MUST',
      `${S6} (no shared secrets)`,
      (ctx, cid) => ctx.doc(cid, { token_endpoint_auth_method: method }),
    ),
  ),
  refusedDoc(
    'auth-list-secret-only',
    'token_endpoint_auth_methods_supported lists only client_secret_basic',
    'MUST',
    S6,
    (ctx, cid) =>
      ctx.doc(cid, {
        token_endpoint_auth_method: undefined,
        token_endpoint_auth_methods_supported: ['client_secret_basic'],
      }),
  ),
  acceptedDoc(
    'auth-list-negotiation',
    'the first supported entry of the list is chosen ([unknown, none])',
    'SHOULD',
    S6,
    (ctx, cid) =>
      ctx.doc(cid, {
        token_endpoint_auth_method: undefined,
        token_endpoint_auth_methods_supported: ['urn:cimd-conformance:unsupported', 'none'],
      }),
  ),
  refusedDoc(
    'auth-singular-unsupported',
    'a lone unsupported method',
    'SHOULD',
    `${S6} (unauthorized_client)`,
    (ctx, cid) => ctx.doc(cid, { token_endpoint_auth_method: 'urn:cimd-conformance:unsupported' }),
  ),
  {
    id: 'document.auth-unauthorized-client',
    family: 'document',
    title: 'nothing supported is reported as unauthorized_client',
    level: 'policy',
    cite: `${S6}`,
    async run(ctx) {
      const cid = ctx.cid();
      ctx.serve(
        cid,
        respond.json(
          ctx.doc(cid, {
            token_endpoint_auth_method: undefined,
            token_endpoint_auth_methods_supported: ['urn:cimd-conformance:unsupported'],
          }),
        ),
      );
      const answer = await ctx.authorize(cid);
      const verdict = judgeRefused(answer, ctx.fetches(), 'some');
      if (!verdict.pass) return verdict;
      return answer.error === 'unauthorized_client' || /unauthorized_client/.test(answer.body)
        ? { pass: true, detail: 'refused with unauthorized_client' }
        : {
            pass: false,
            detail: `refused, but the answer does not say unauthorized_client (${answer.error ?? 'no code'})`,
          };
    },
  },
  refusedDoc('auth-singular-not-in-list', 'the singular method is missing from the list', 'SHOULD', S6, (ctx, cid) =>
    ctx.doc(cid, {
      token_endpoint_auth_method: 'none',
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      jwks: { keys: [ecJwk()] },
    }),
  ),
  refusedDoc('auth-list-empty', 'an empty token_endpoint_auth_methods_supported', 'policy', S6, (ctx, cid) =>
    ctx.doc(cid, { token_endpoint_auth_method: undefined, token_endpoint_auth_methods_supported: [] }),
  ),
  refusedDoc(
    'pkjwt-no-keys',
    'private_key_jwt with neither jwks nor jwks_uri',
    'MUST',
    `${S6}; RFC 7523 §2.2`,
    (ctx, cid) => ctx.doc(cid, { token_endpoint_auth_method: 'private_key_jwt' }),
  ),
  refusedDoc('jwks-private-key', 'jwks carrying a private key (d)', 'MUST', 'CIMD -03 §4.1', (ctx, cid) =>
    ctx.doc(cid, { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [ecJwk(true)] } }),
  ),
  refusedDoc('jwks-symmetric', 'jwks carrying a symmetric key (kty oct)', 'MUST', 'CIMD -03 §4.1', (ctx, cid) =>
    ctx.doc(cid, {
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ', kid: 'k1' }] },
    }),
  ),
  refusedDoc('jwks-and-jwks-uri', 'both jwks and jwks_uri', 'MUST', 'RFC 7591 §2', (ctx, cid) =>
    ctx.doc(cid, { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [ecJwk()] }, jwks_uri: `${cid}-jwks` }),
  ),
  refusedDoc('jwks-uri-http', 'a plain-http jwks_uri', 'policy', 'CIMD -03 §9.6', (ctx, cid) =>
    ctx.doc(cid, { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: cid.replace('https:', 'http:') + '-jwks' }),
  ),
  refusedDoc('redirect-uris-missing', 'no redirect_uris', 'MUST', REDIR, (ctx, cid) =>
    ctx.doc(cid, { redirect_uris: undefined }),
  ),
  refusedDoc('redirect-uris-empty', 'an empty redirect_uris', 'MUST', REDIR, (ctx, cid) =>
    ctx.doc(cid, { redirect_uris: [] }),
  ),
  refusedDoc('redirect-uris-string', 'redirect_uris as a string', 'MUST', REDIR, (ctx, cid) =>
    ctx.doc(cid, { redirect_uris: 'https://app.example.com/callback' }),
  ),
  refusedDoc('redirect-uris-non-string', 'redirect_uris holding a number', 'MUST', REDIR, (ctx, cid) =>
    ctx.doc(cid, { redirect_uris: ['https://app.example.com/callback', 42] }),
  ),
  refusedDoc(
    'redirect-uri-fragment',
    'a redirect URI with a fragment',
    'MUST',
    'RFC 6749 §3.1.2',
    (ctx, cid) => ctx.doc(cid, { redirect_uris: ['https://app.example.com/callback#f'] }),
    { redirect_uri: 'https://app.example.com/callback#f' },
  ),
  refusedDoc(
    'redirect-uri-http',
    'a plain-http, non-loopback redirect URI',
    'SHOULD',
    'RFC 9700 §2.6; OAuth 2.1 §7.5.1',
    (ctx, cid) => ctx.doc(cid, { redirect_uris: ['http://app.example.com/callback'] }),
    { redirect_uri: 'http://app.example.com/callback' },
  ),
  refusedDoc(
    'redirect-uri-javascript',
    'a javascript: redirect URI',
    'MUST',
    'RFC 9700 §4.1; RFC 6749 §10.6',
    (ctx, cid) => ctx.doc(cid, { redirect_uris: ['javascript:alert(1)'] }),
    { redirect_uri: 'javascript:alert(1)' },
  ),
  refusedDoc(
    'redirect-uri-data',
    'a data: redirect URI',
    'MUST',
    'RFC 9700 §4.1',
    (ctx, cid) => ctx.doc(cid, { redirect_uris: ['data:text/html,hi'] }),
    { redirect_uri: 'data:text/html,hi' },
  ),
  refusedDoc('logo-uri-http', 'a plain-http logo_uri', 'policy', 'CIMD -03 §9.8', (ctx, cid) =>
    ctx.doc(cid, { logo_uri: 'http://app.example.com/logo.png' }),
  ),
  refusedDoc('client-uri-http', 'a plain-http client_uri', 'policy', 'CIMD -03 §4', (ctx, cid) =>
    ctx.doc(cid, { client_uri: 'http://app.example.com/' }),
  ),
  refusedDoc(
    'client-name-missing',
    'no client_name',
    'policy',
    'MCP 2025-11-25 authorization (client_name)',
    (ctx, cid) => ctx.doc(cid, { client_name: undefined }),
  ),
  refusedDoc(
    'client-credentials-only',
    'grant_types [client_credentials] only',
    'policy',
    'CIMD -03 §6; RFC 6749 §4.4',
    (ctx, cid) => ctx.doc(cid, { grant_types: ['client_credentials'] }),
  ),
];
