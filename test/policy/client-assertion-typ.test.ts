/**
 * Explicit `typ` on client-authentication JWTs of CIMD clients (draft-03 §6), checked through oidc-provider's
 * assertJwtClientAuthClaimsAndHeader at the real token endpoint: accepted without `typ` by default (with an
 * event), refused with `clientAssertionTyp: 'require'`, and a JWT typed for something else is always refused.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type CimdOptions, createCimd } from 'oidc-provider-cimd';
import { classifyTyp } from '../../packages/oidc-provider-cimd/src/plugin/client-assertion.js';
import { authorizationParams, authorize, exchangeCode, pkcePair } from '../helpers/auth-flow.js';
import { getTestCertificate } from '../helpers/certs.js';
import { assertionParams } from '../helpers/client-assertion.js';
import { startHttpsServer, type TestHttpsServer } from '../helpers/https-server.js';
import { startProvider, type TestProvider } from '../helpers/provider.js';

const REDIRECT = 'https://app.example.com/cb';

describe('client-authentication JWT typ of CIMD clients', () => {
  let docs: TestHttpsServer;
  let body = '';
  let privateKey: KeyObject;
  let cid: string;

  beforeAll(async () => {
    docs = await startHttpsServer((_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    privateKey = pair.privateKey;
    const jwk = { ...pair.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' };
    cid = `${docs.url}/confidential.json`;
    body = JSON.stringify({
      client_id: cid,
      client_name: 'Confidential',
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256',
      jwks: { keys: [jwk] },
    });
  });
  afterAll(() => docs.close());

  async function withProvider(options: Partial<CimdOptions>, run: (op: TestProvider) => Promise<void>) {
    const { cert } = await getTestCertificate();
    const op = await startProvider({ cimd: { allowLoopback: true, ca: cert, ...options } });
    try {
      await run(op);
    } finally {
      await op.close();
    }
  }

  async function tokenRequest(op: TestProvider, header: Record<string, unknown>) {
    const { verifier, challenge } = pkcePair();
    const flow = await authorize(op.issuer, { ...authorizationParams(cid, REDIRECT), code_challenge: challenge });
    const code = flow.leftTo?.searchParams.get('code');
    expect(code).toBeTruthy();
    return exchangeCode(op.issuer, {
      code: code!,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      client_id: cid,
      ...assertionParams(privateKey, cid, op.issuer, { kid: 'k1', ...header }),
    });
  }

  test('default: an assertion without typ is accepted and reported; an explicit one silently', async () => {
    await withProvider({}, async (op) => {
      const untyped = await tokenRequest(op, {});
      expect(untyped.status).toBe(200);
      expect(op.events.filter((e) => e.reason === 'client_assertion_untyped').map((e) => e.cid)).toEqual([cid]);
      const generic = await tokenRequest(op, { typ: 'JWT' });
      expect(generic.status).toBe(200);
      expect(op.events.filter((e) => e.reason === 'client_assertion_untyped')).toHaveLength(2);
      const typed = await tokenRequest(op, { typ: 'client-authentication+jwt' });
      expect(typed.status).toBe(200);
      expect(op.events.filter((e) => e.reason === 'client_assertion_untyped')).toHaveLength(2);
    });
  });

  test('a JWT typed for something else is refused in every mode', async () => {
    await withProvider({}, async (op) => {
      const other = await tokenRequest(op, { typ: 'dpop+jwt' });
      expect(other.status).toBe(401);
      expect(other.body.error).toBe('invalid_client');
      expect(op.events.some((e) => e.reason === 'rejected:client_assertion_typ' && e.cid === cid)).toBe(true);
    });
  });

  test("clientAssertionTyp: 'require' refuses an assertion without the explicit typ", async () => {
    await withProvider({ clientAssertionTyp: 'require' }, async (op) => {
      const untyped = await tokenRequest(op, {});
      expect(untyped.status).toBe(401);
      expect(untyped.body.error).toBe('invalid_client');
      const typed = await tokenRequest(op, { typ: 'application/client-authentication+jwt' });
      expect(typed.status).toBe(200);
    });
  });

  test("the type draft-03 §6 recommends (oauth-client-auth+jwt) is explicit, in 'require' mode too, and silent", async () => {
    await withProvider({ clientAssertionTyp: 'require' }, async (op) => {
      const recommended = await tokenRequest(op, { typ: 'oauth-client-auth+jwt' });
      expect(recommended.status).toBe(200);
      const prefixed = await tokenRequest(op, { typ: 'application/OAuth-Client-Auth+JWT' });
      expect(prefixed.status).toBe(200);
      expect(op.events.some((e) => e.reason.includes('client_assertion'))).toBe(false);
    });
  });

  test('a misspelt mode is refused at startup', () => {
    expect(() => createCimd({ issuer: 'http://localhost:3999', clientAssertionTyp: 'required' as never })).toThrow(
      /clientAssertionTyp must be .*accept.*require.*required/,
    );
  });

  test.each([
    [undefined, 'untyped'],
    ['JWT', 'untyped'],
    ['jwt', 'untyped'],
    ['client-authentication+jwt', 'explicit'],
    ['Application/Client-Authentication+JWT', 'explicit'],
    ['oauth-client-auth+jwt', 'explicit'],
    ['application/oauth-client-auth+jwt', 'explicit'],
    ['oauth-client-auth', 'other'],
    ['dpop+jwt', 'other'],
    ['at+jwt', 'other'],
    [7, 'other'],
  ])('typ %j is %s', (typ, kind) => {
    expect(classifyTyp(typ)).toBe(kind);
  });
});
