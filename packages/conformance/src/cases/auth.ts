/**
 * Client authentication of CIMD clients at the token endpoint (CIMD -03 §6, RFC 7523). The kit sends a bogus
 * authorization code: client authentication runs first, so `invalid_client` means the client (or its assertion)
 * was refused, and `invalid_grant` means it was accepted and only the code was wrong.
 */
import { generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto';
import type { CaseContext } from '../context.js';
import { DEFAULT_REDIRECT } from '../context.js';
import { respond } from '../doc-host.js';
import type { CaseVerdict, Level } from '../types.js';
import type { CaseDef } from './common.js';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

interface Key {
  privateKey: KeyObject;
  jwk: Record<string, unknown>;
}

function es256(kid = 'k1'): Key {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' } };
}

/** An ES256 client assertion (RFC 7523 §3); `aud` is the issuer (draft-ietf-oauth-rfc7523bis). */
export function assertion(key: Key, header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'ES256', kid: key.jwk.kid, ...header })}.${b64({ jti: randomUUID(), iat: now, exp: now + 60, ...claims })}`;
  const signature = sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

function bogusCodeForm(cid: string): Record<string, string> {
  return {
    grant_type: 'authorization_code',
    code: 'cimd-conformance-bogus-code',
    redirect_uri: DEFAULT_REDIRECT,
    code_verifier: 'cimd-conformance-code-verifier-0123456789abcdef',
    client_id: cid,
  };
}

/**
 * `invalid_grant`: the client was authenticated and only the bogus code failed. `refused`: client authentication
 * failed, read from `invalid_client` (RFC 6749 §5.2) or any other error that is not about the grant, such as
 * `invalid_request` for an assertion whose subject is not the client_id parameter.
 */
function judgeToken(answer: { status: number; error?: string }, expect: 'invalid_grant' | 'refused'): CaseVerdict {
  const seen = answer.error ?? `HTTP ${answer.status}, no error code`;
  if (expect === 'invalid_grant') {
    return {
      pass: answer.error === 'invalid_grant',
      detail: `expected invalid_grant (client accepted, bogus code refused), got ${seen}`,
    };
  }
  const refused = answer.error !== undefined && answer.error !== 'invalid_grant' && answer.status >= 400;
  return { pass: refused, detail: `expected the client refused (invalid_client), got ${seen}` };
}

interface PkjwtOptions {
  header?: Record<string, unknown>;
  claims?: (ctx: CaseContext, cid: string) => Record<string, unknown>;
  viaJwksUri?: boolean;
  /** Sign with a key the document does not list. */
  otherKey?: boolean;
  /** Send no assertion at all. */
  omitAssertion?: boolean;
}

function pkjwtCase(
  id: string,
  title: string,
  level: Level,
  cite: string,
  expect: 'invalid_grant' | 'refused',
  options: PkjwtOptions,
): CaseDef {
  return {
    id: `client-auth.${id}`,
    family: 'client-auth',
    title,
    level,
    cite,
    async run(ctx) {
      const cid = ctx.cid();
      const key = es256();
      const keys = { keys: [key.jwk] };
      const document = ctx.doc(cid, { token_endpoint_auth_method: 'private_key_jwt' });
      if (options.viaJwksUri) {
        const jwksUri = ctx.cid('jwks');
        ctx.serve(jwksUri, respond.json(keys));
        document.jwks_uri = jwksUri;
      } else {
        document.jwks = keys;
      }
      ctx.serve(cid, respond.json(document));
      const signer = options.otherKey ? es256('k1') : key;
      const claims = { iss: cid, sub: cid, aud: ctx.issuer, ...options.claims?.(ctx, cid) };
      const form = bogusCodeForm(cid);
      const answer = await ctx.token(
        options.omitAssertion
          ? form
          : {
              ...form,
              client_assertion_type: ASSERTION_TYPE,
              client_assertion: assertion(signer, options.header ?? {}, claims),
            },
      );
      return judgeToken(answer, expect);
    },
  };
}

const S6 = 'CIMD -03 §6';
const TYP = 'CIMD -03 §6; draft-ietf-oauth-rfc7523bis §4; RFC 8725 §3.11';

export const authCases: CaseDef[] = [
  {
    id: 'client-auth.none-bogus-code',
    family: 'client-auth',
    title: 'a public (none) CIMD client reaches the grant check (invalid_grant)',
    level: 'MUST',
    cite: `${S6}; RFC 6749 §5.2`,
    async run(ctx) {
      const cid = ctx.cid();
      ctx.serve(cid, respond.json(ctx.doc(cid)));
      return judgeToken(await ctx.token(bogusCodeForm(cid)), 'invalid_grant');
    },
  },
  {
    id: 'client-auth.unknown-cid',
    family: 'client-auth',
    title: 'a CIMD id whose document is 404 is invalid_client at the token endpoint',
    level: 'MUST',
    cite: `${S6}; RFC 6749 §5.2`,
    async run(ctx) {
      const cid = ctx.cid();
      ctx.serve(cid, respond.status(404));
      return judgeToken(await ctx.token(bogusCodeForm(cid)), 'refused');
    },
  },
  pkjwtCase(
    'typ-oauth-client-auth',
    'private_key_jwt, inline jwks, typ oauth-client-auth+jwt',
    'MUST',
    TYP,
    'invalid_grant',
    {
      header: { typ: 'oauth-client-auth+jwt' },
    },
  ),
  pkjwtCase(
    'typ-client-authentication',
    'private_key_jwt, inline jwks, typ client-authentication+jwt',
    'MUST',
    TYP,
    'invalid_grant',
    {
      header: { typ: 'client-authentication+jwt' },
    },
  ),
  pkjwtCase('typ-application-prefix', 'typ application/oauth-client-auth+jwt', 'SHOULD', TYP, 'invalid_grant', {
    header: { typ: 'application/oauth-client-auth+jwt' },
  }),
  pkjwtCase(
    'typ-case',
    'typ in mixed case (Client-Authentication+JWT)',
    'SHOULD',
    `${TYP}; RFC 7515 §4.1.9`,
    'invalid_grant',
    {
      header: { typ: 'Client-Authentication+JWT' },
    },
  ),
  pkjwtCase('typ-absent', 'no typ (legacy RFC 7523 clients)', 'policy', 'RFC 7523 §3', 'invalid_grant', {}),
  pkjwtCase('typ-jwt', 'typ JWT (generic)', 'policy', 'RFC 7519 §5.1', 'invalid_grant', { header: { typ: 'JWT' } }),
  pkjwtCase('typ-dpop', 'a JWT typed dpop+jwt is refused', 'MUST', TYP, 'refused', {
    header: { typ: 'dpop+jwt' },
  }),
  pkjwtCase('typ-at', 'a JWT typed at+jwt is refused', 'MUST', TYP, 'refused', { header: { typ: 'at+jwt' } }),
  pkjwtCase('typ-secevent', 'a JWT typed secevent+jwt is refused', 'SHOULD', TYP, 'refused', {
    header: { typ: 'secevent+jwt' },
  }),
  pkjwtCase(
    'jwks-uri',
    'private_key_jwt with jwks_uri, typ oauth-client-auth+jwt',
    'MUST',
    `${S6}; RFC 7591 §2`,
    'invalid_grant',
    {
      header: { typ: 'oauth-client-auth+jwt' },
      viaJwksUri: true,
    },
  ),
  pkjwtCase(
    'jwks-uri-client-authentication',
    'private_key_jwt with jwks_uri, typ client-authentication+jwt',
    'MUST',
    TYP,
    'invalid_grant',
    {
      header: { typ: 'client-authentication+jwt' },
      viaJwksUri: true,
    },
  ),
  pkjwtCase('wrong-key', 'an assertion signed by a key the document does not list', 'MUST', 'RFC 7523 §3', 'refused', {
    header: { typ: 'client-authentication+jwt' },
    otherKey: true,
  }),
  pkjwtCase('wrong-iss', 'an assertion whose iss/sub is another client', 'MUST', 'RFC 7523 §3', 'refused', {
    header: { typ: 'client-authentication+jwt' },
    claims: () => ({ iss: 'https://attacker.example.com/client', sub: 'https://attacker.example.com/client' }),
  }),
  pkjwtCase('expired', 'an expired assertion', 'MUST', 'RFC 7523 §3', 'refused', {
    header: { typ: 'client-authentication+jwt' },
    claims: () => ({ iat: Math.floor(Date.now() / 1000) - 3600, exp: Math.floor(Date.now() / 1000) - 1800 }),
  }),
  pkjwtCase('wrong-aud', 'an assertion for another audience', 'MUST', 'RFC 7523 §3', 'refused', {
    header: { typ: 'client-authentication+jwt' },
    claims: () => ({ aud: 'https://other-as.example.com' }),
  }),
  pkjwtCase(
    'missing-assertion',
    'a private_key_jwt client sending no assertion',
    'MUST',
    `${S6}; RFC 7523 §2.2`,
    'refused',
    {
      omitAssertion: true,
    },
  ),
];
