/**
 * The example's protected MCP resource: RFC 9728 metadata, the 401 challenge, the access token checks
 * (signature, issuer, audience, type, expiry, scope), DPoP-bound tokens (RFC 9449 §7) and CORS.
 */
import { createHash, createPrivateKey, randomUUID, sign } from 'node:crypto';
import { type CryptoKey, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { generateSigningKeys, type SigningKeys } from '../../examples/koa-server/src/provider.js';
import { type RunningExample, startExample } from './start-example.js';

function signJwt(keys: SigningKeys, header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const jwk = keys.privateJwks.keys[0]!;
  const encode = (part: Record<string, unknown>) => Buffer.from(JSON.stringify(part)).toString('base64url');
  const input = `${encode({ alg: 'RS256', kid: jwk.kid, ...header })}.${encode(payload)}`;
  const key = createPrivateKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'test', version: '1' } },
};

describe('example MCP resource', () => {
  let example: RunningExample;
  let keys: SigningKeys;
  let metadataUrl: string;

  beforeAll(async () => {
    keys = await generateSigningKeys();
    example = await startExample({ keys });
    metadataUrl = `${example.issuer}/.well-known/oauth-protected-resource/mcp`;
  });
  afterAll(() => example.close());

  const claims = (overrides: Record<string, unknown> = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return {
      iss: example.issuer,
      aud: example.mcpResource,
      sub: 'carol',
      client_id: 'https://client.example.org/meta.json',
      scope: 'mcp:tools',
      iat: now,
      exp: now + 60,
      jti: 'x',
      ...overrides,
    };
  };

  const call = (token?: string) =>
    fetch(example.mcpResource, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(INITIALIZE),
    });

  it('publishes RFC 9728 metadata pointing at the provider', async () => {
    const response = await fetch(metadataUrl);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      resource: example.mcpResource,
      authorization_servers: [example.issuer],
      scopes_supported: ['mcp:tools'],
      bearer_methods_supported: ['header'],
      resource_name: expect.any(String),
      dpop_signing_alg_values_supported: ['ES256', 'Ed25519', 'EdDSA'],
      dpop_bound_access_tokens_required: false,
    });
  });

  it('answers a request without a token with 401 and the resource_metadata challenge', async () => {
    const response = await call();
    expect(response.status).toBe(401);
    // Both schemes are offered (RFC 9449 §7.1), Bearer first: MCP clients read resource_metadata from it.
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${metadataUrl}", scope="mcp:tools", ` +
        `DPoP resource_metadata="${metadataUrl}", scope="mcp:tools", algs="ES256 Ed25519 EdDSA"`,
    );
    await response.body?.cancel();
  });

  it.each([
    ['a garbage token', () => 'not-a-jwt'],
    ['another audience', () => signJwt(keys, { typ: 'at+jwt' }, claims({ aud: 'http://elsewhere.example/api' }))],
    ['another issuer', () => signJwt(keys, { typ: 'at+jwt' }, claims({ iss: 'https://evil.example' }))],
    ['an ID token (wrong typ)', () => signJwt(keys, { typ: 'JWT' }, claims())],
    ['an expired token', () => signJwt(keys, { typ: 'at+jwt' }, claims({ exp: Math.floor(Date.now() / 1000) - 120 }))],
  ])('rejects %s with 401 invalid_token', async (_name, token) => {
    const response = await call(token());
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(
      new RegExp(`^Bearer resource_metadata="${metadataUrl}", scope="mcp:tools", error="invalid_token"`),
    );
    await response.body?.cancel();
  });

  it('rejects a token without the mcp:tools scope with 403 insufficient_scope', async () => {
    const response = await call(signJwt(keys, { typ: 'at+jwt' }, claims({ scope: 'openid' })));
    expect(response.status).toBe(403);
    expect(response.headers.get('www-authenticate')).toMatch(/error="insufficient_scope"/);
    await response.body?.cancel();
  });

  it('serves MCP to a valid token, and only over POST', async () => {
    const token = signJwt(keys, { typ: 'at+jwt' }, claims());
    const response = await call(token);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { result?: { serverInfo?: { name?: string } } };
    expect(body.result?.serverInfo?.name).toBe('oidc-provider-cimd-example');

    const get = await fetch(example.mcpResource, { headers: { authorization: `Bearer ${token}` } });
    expect(get.status).toBe(405);
    await get.body?.cancel();
  });

  describe('DPoP-bound tokens (RFC 9449 §7)', () => {
    let key: { privateKey: CryptoKey; publicJwk: JWK; jkt: string };
    beforeAll(async () => {
      const pair = await generateKeyPair('ES256');
      const publicJwk = await exportJWK(pair.publicKey);
      key = { privateKey: pair.privateKey, publicJwk, jkt: await calculateJwkThumbprint(publicJwk, 'sha256') };
    });

    const boundToken = (jkt = key.jkt) => signJwt(keys, { typ: 'at+jwt' }, claims({ cnf: { jkt } }));
    const ath = (token: string) => createHash('sha256').update(token).digest('base64url');

    interface ProofOptions {
      token: string;
      htm?: string;
      htu?: string;
      iat?: number;
      jti?: string;
      ath?: string | null;
      typ?: string;
      signer?: { privateKey: CryptoKey; publicJwk: JWK };
      headerJwk?: JWK;
    }
    const proof = (o: ProofOptions) => {
      const signer = o.signer ?? key;
      const payload: Record<string, unknown> = {
        htm: o.htm ?? 'POST',
        htu: o.htu ?? example.mcpResource,
        jti: o.jti ?? randomUUID(),
        ...(o.ath === null ? {} : { ath: o.ath ?? ath(o.token) }),
      };
      return new SignJWT(payload)
        .setProtectedHeader({ alg: 'ES256', typ: o.typ ?? 'dpop+jwt', jwk: o.headerJwk ?? signer.publicJwk })
        .setIssuedAt(o.iat ?? Math.floor(Date.now() / 1000))
        .sign(signer.privateKey);
    };

    const callWith = (headers: Record<string, string>, method = 'POST') =>
      fetch(example.mcpResource, {
        method,
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        ...(method === 'POST' ? { body: JSON.stringify(INITIALIZE) } : {}),
      });

    async function expectChallenge(response: Response, scheme: 'DPoP' | 'Bearer', error: string) {
      expect(response.status).toBe(401);
      const header = response.headers.get('www-authenticate') ?? '';
      expect(header.startsWith(`${scheme} resource_metadata="${metadataUrl}"`)).toBe(true);
      expect(header).toContain(`error="${error}"`);
      await response.body?.cancel();
    }

    it('serves a bound token sent with the DPoP scheme and a valid proof', async () => {
      const token = boundToken();
      const response = await callWith({ authorization: `DPoP ${token}`, dpop: await proof({ token }) });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { result?: { serverInfo?: { name?: string } } };
      expect(body.result?.serverInfo?.name).toBe('oidc-provider-cimd-example');
    });

    it('refuses a bound token presented as a plain Bearer token', async () => {
      const token = boundToken();
      // Even with a valid proof alongside: the scheme says Bearer, and a bound token is not a bearer token.
      const response = await callWith({ authorization: `Bearer ${token}`, dpop: await proof({ token }) });
      await expectChallenge(response, 'DPoP', 'invalid_token');
    });

    it('refuses the DPoP scheme without a proof', async () => {
      await expectChallenge(await callWith({ authorization: `DPoP ${boundToken()}` }), 'DPoP', 'invalid_dpop_proof');
    });

    it.each<[string, (token: string) => Promise<string>]>([
      ['for another method (htm)', (token) => proof({ token, htm: 'GET' })],
      ['for another URL (htu)', (token) => proof({ token, htu: `${example.issuer}/other` })],
      ['for another access token (ath)', (token) => proof({ token, ath: ath('another token') })],
      ['without ath', (token) => proof({ token, ath: null })],
      ['issued 10 minutes ago (iat)', (token) => proof({ token, iat: Math.floor(Date.now() / 1000) - 600 })],
      ['issued 10 minutes in the future (iat)', (token) => proof({ token, iat: Math.floor(Date.now() / 1000) + 600 })],
      ['with the wrong typ', (token) => proof({ token, typ: 'JWT' })],
      [
        'whose embedded key is not the signing key',
        async (token) => {
          const other = await generateKeyPair('ES256');
          return proof({ token, signer: { privateKey: other.privateKey, publicJwk: key.publicJwk } });
        },
      ],
      [
        'embedding a private key',
        async (token) => {
          const pair = await generateKeyPair('ES256', { extractable: true });
          const privateJwk = await exportJWK(pair.privateKey);
          return proof({ token, signer: { privateKey: pair.privateKey, publicJwk: privateJwk } });
        },
      ],
      ['that is not a JWT', async () => 'not-a-proof'],
      ['sent twice (two DPoP headers)', async (token) => `${await proof({ token })}, ${await proof({ token })}`],
    ])('refuses a proof %s with invalid_dpop_proof', async (_name, makeProof) => {
      const token = boundToken();
      const response = await callWith({ authorization: `DPoP ${token}`, dpop: await makeProof(token) });
      await expectChallenge(response, 'DPoP', 'invalid_dpop_proof');
    });

    it('accepts a proof once: its jti cannot be replayed', async () => {
      const token = boundToken();
      const dpop = await proof({ token });
      const first = await callWith({ authorization: `DPoP ${token}`, dpop });
      expect(first.status).toBe(200);
      await first.body?.cancel();
      await expectChallenge(await callWith({ authorization: `DPoP ${token}`, dpop }), 'DPoP', 'invalid_dpop_proof');
    });

    it('bounds the replay cache: it remembers at most dpopReplayCacheSize proofs, oldest forgotten first', async () => {
      const small = await startExample({ keys, dpopReplayCacheSize: 2 });
      const post = (token: string, dpop: string) =>
        fetch(small.mcpResource, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            authorization: `DPoP ${token}`,
            dpop,
          },
          body: JSON.stringify(INITIALIZE),
        });
      try {
        const now = Math.floor(Date.now() / 1000);
        const payload = { ...claims(), iss: small.issuer, aud: small.mcpResource, iat: now, exp: now + 60 };
        const token = signJwt(keys, { typ: 'at+jwt' }, { ...payload, cnf: { jkt: key.jkt } });
        const proofs = [];
        for (let i = 0; i < 3; i++) proofs.push(await proof({ token, htu: small.mcpResource }));
        for (const dpop of proofs) {
          const response = await post(token, dpop);
          expect(response.status).toBe(200);
          await response.body?.cancel();
        }
        // The newest two are remembered; the first was evicted to keep the cache at its bound.
        const replayNewest = await post(token, proofs[2]!);
        expect(replayNewest.status).toBe(401);
        await replayNewest.body?.cancel();
        const replayOldest = await post(token, proofs[0]!);
        expect(replayOldest.status).toBe(200);
        await replayOldest.body?.cancel();
      } finally {
        await small.close();
      }
    });

    it('refuses a valid proof made with another key than the token is bound to (cnf.jkt)', async () => {
      const other = await generateKeyPair('ES256');
      const otherJwk = await exportJWK(other.publicKey);
      const token = boundToken();
      const dpop = await proof({ token, signer: { privateKey: other.privateKey, publicJwk: otherJwk } });
      await expectChallenge(await callWith({ authorization: `DPoP ${token}`, dpop }), 'DPoP', 'invalid_token');
    });

    it('refuses an unbound token sent with the DPoP scheme, and keeps accepting it as Bearer', async () => {
      const token = signJwt(keys, { typ: 'at+jwt' }, claims());
      const response = await callWith({ authorization: `DPoP ${token}`, dpop: await proof({ token }) });
      await expectChallenge(response, 'Bearer', 'invalid_token');
      const bearer = await callWith({ authorization: `Bearer ${token}` });
      expect(bearer.status).toBe(200);
      await bearer.body?.cancel();
    });

    it('checks the scope of a bound token too, after its proof', async () => {
      const token = signJwt(keys, { typ: 'at+jwt' }, claims({ cnf: { jkt: key.jkt }, scope: 'openid' }));
      const response = await callWith({ authorization: `DPoP ${token}`, dpop: await proof({ token }) });
      expect(response.status).toBe(403);
      expect(response.headers.get('www-authenticate')).toMatch(/^DPoP .*error="insufficient_scope"/);
      await response.body?.cancel();
    });
  });

  describe('CORS', () => {
    const origin = 'https://app.example.net';

    it('answers a preflight of /mcp with 204 and the CORS headers, before any authentication', async () => {
      const response = await fetch(example.mcpResource, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type, dpop, mcp-protocol-version',
        },
      });
      expect(response.status).toBe(204);
      expect(response.headers.get('access-control-allow-origin')).toBe('*');
      expect(response.headers.get('access-control-allow-methods')).toContain('POST');
      expect(response.headers.get('access-control-allow-headers')).toBe(
        'authorization, content-type, dpop, mcp-protocol-version',
      );
      expect(response.headers.get('access-control-max-age')).toBe('600');
      expect(response.headers.get('www-authenticate')).toBeNull();
    });

    it('lets a browser read the 401 challenge of /mcp (WWW-Authenticate exposed)', async () => {
      const response = await fetch(example.mcpResource, {
        method: 'POST',
        headers: { origin, 'content-type': 'application/json' },
        body: JSON.stringify(INITIALIZE),
      });
      expect(response.status).toBe(401);
      expect(response.headers.get('access-control-allow-origin')).toBe('*');
      expect(response.headers.get('access-control-expose-headers')?.split(',')).toContain('WWW-Authenticate');
      await response.body?.cancel();
    });

    it('serves the MCP response itself with CORS headers', async () => {
      const response = await fetch(example.mcpResource, {
        method: 'POST',
        headers: {
          origin,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          authorization: `Bearer ${signJwt(keys, { typ: 'at+jwt' }, claims())}`,
        },
        body: JSON.stringify(INITIALIZE),
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('access-control-allow-origin')).toBe('*');
      await response.body?.cancel();
    });

    it.each([
      ['protected resource metadata', '/.well-known/oauth-protected-resource/mcp'],
      ['authorization server metadata', '/.well-known/oauth-authorization-server'],
      ['OpenID configuration', '/.well-known/openid-configuration'],
      ['JWKS', '/jwks'],
    ])('serves the %s to browsers (GET and preflight)', async (_name, path) => {
      const get = await fetch(`${example.issuer}${path}`, { headers: { origin } });
      expect(get.status).toBe(200);
      expect([origin, '*']).toContain(get.headers.get('access-control-allow-origin'));
      await get.body?.cancel();
      const preflight = await fetch(`${example.issuer}${path}`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'GET' },
      });
      expect(preflight.status).toBe(204);
      expect([origin, '*']).toContain(preflight.headers.get('access-control-allow-origin'));
      expect(preflight.headers.get('access-control-allow-methods')).toContain('GET');
    });
  });
});
