/**
 * The example's protected MCP resource: RFC 9728 metadata, the 401 challenge, and the access token checks
 * (signature, issuer, audience, type, expiry, scope).
 */
import { createPrivateKey, sign } from 'node:crypto';
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
    });
  });

  it('answers a request without a token with 401 and the resource_metadata challenge', async () => {
    const response = await call();
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${metadataUrl}", scope="mcp:tools"`,
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
});
