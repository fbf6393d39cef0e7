/**
 * With no `adapter` configured, the plugin supplies its own development in-memory adapter (oidc-provider's is an
 * internal file), and says so at configure() time as oidc-provider would have. The adapter carries a whole
 * code + PKCE + refresh + revocation flow, and honours expiry, clock tolerance, the grant index and its bound.
 */
import { jest } from '@jest/globals';
import type { AdapterPayload } from 'oidc-provider';
import { createCimd } from 'oidc-provider-cimd';
import { createMemoryAdapter } from '../../packages/oidc-provider-cimd/src/plugin/memory-adapter.js';
import { authorizationParams, authorize, exchangeCode, pkcePair } from '../helpers/auth-flow.js';
import { startProvider, type TestProvider } from '../helpers/provider.js';

const WARNING = /oidc-provider-cimd WARNING: a quick start development-only in-memory adapter is used/;

describe('configure() without an adapter', () => {
  const warnings = (configure: () => unknown): string[] => {
    const spy = jest.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      configure();
      return spy.mock.calls.map((args) => String(args[0]));
    } finally {
      spy.mockRestore();
    }
  };

  test('warns that a development-only in-memory adapter is in use', () => {
    const cimd = createCimd({ issuer: 'https://as.acme.com' });
    const printed = warnings(() => cimd.configure({}));
    expect(printed.filter((line) => WARNING.test(line))).toHaveLength(1);
    expect(printed.join('\n')).toMatch(/MUST configure an adapter .* in production/);
  });

  test('says nothing when the deployment brings its own adapter', () => {
    const cimd = createCimd({ issuer: 'https://as.acme.com' });
    const printed = warnings(() => cimd.configure({ adapter: createMemoryAdapter() }));
    expect(printed.filter((line) => WARNING.test(line))).toHaveLength(0);
  });
});

describe('the development adapter in a real provider', () => {
  const clientId = 'public-app';
  const redirectUri = 'https://app.acme.com/cb';
  let op: TestProvider;

  beforeAll(async () => {
    op = await startProvider({
      config: {
        clients: [
          {
            client_id: clientId,
            client_name: 'Public app',
            token_endpoint_auth_method: 'none',
            grant_types: ['authorization_code', 'refresh_token'],
            redirect_uris: [redirectUri],
          },
        ],
        issueRefreshToken: async () => true,
        features: {
          devInteractions: { enabled: false },
          revocation: { enabled: true },
        },
      },
    });
  });
  afterAll(async () => {
    await op.close();
  });

  const post = async (path: string, form: Record<string, string>) => {
    const response = await fetch(new URL(path, op.issuer), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };
  const userinfo = async (accessToken: string) =>
    (await fetch(new URL('/me', op.issuer), { headers: { authorization: `Bearer ${accessToken}` } })).status;

  const codeFlow = async () => {
    const { verifier, challenge } = pkcePair();
    const result = await authorize(
      op.issuer,
      authorizationParams(clientId, redirectUri, { code_challenge: challenge, scope: 'openid' }),
    );
    const code = result.leftTo?.searchParams.get('code');
    expect(code).toEqual(expect.any(String));
    return { code: code!, verifier };
  };

  test('code + PKCE, refresh with rotation, reuse detection and revocation', async () => {
    const { code, verifier } = await codeFlow();
    const form = { code, client_id: clientId, redirect_uri: redirectUri, code_verifier: verifier };
    const first = await exchangeCode(op.issuer, form);
    expect(first.status).toBe(200);
    const accessToken = first.body.access_token as string;
    const refreshToken = first.body.refresh_token as string;
    expect(refreshToken).toEqual(expect.any(String));
    expect(await userinfo(accessToken)).toBe(200);

    // The code was consumed: a second exchange fails, and oidc-provider revokes what the code issued (the grant
    // index at work: revokeByGrantId).
    const replay = await exchangeCode(op.issuer, form);
    expect(replay.body.error).toBe('invalid_grant');
    expect(await userinfo(accessToken)).toBe(401);
    const afterReplay = await post('/token', {
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: clientId,
    });
    expect(afterReplay.body.error).toBe('invalid_grant');
  });

  test('refresh rotates, a reused refresh token revokes the grant, the revocation endpoint works', async () => {
    const { code, verifier } = await codeFlow();
    const tokens = await exchangeCode(op.issuer, {
      code,
      client_id: clientId,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    });
    expect(tokens.status).toBe(200);

    const refreshed = await post('/token', {
      grant_type: 'refresh_token',
      refresh_token: tokens.body.refresh_token as string,
      client_id: clientId,
    });
    expect(refreshed.status).toBe(200);
    const rotated = refreshed.body.refresh_token as string;
    expect(rotated).not.toBe(tokens.body.refresh_token);
    expect(await userinfo(refreshed.body.access_token as string)).toBe(200);

    // Revocation endpoint: the access token stops working at once.
    const revoked = await post('/token/revocation', {
      token: refreshed.body.access_token as string,
      token_type_hint: 'access_token',
      client_id: clientId,
    });
    expect(revoked.status).toBe(200);
    expect(await userinfo(refreshed.body.access_token as string)).toBe(401);

    // The old refresh token was consumed by the rotation; presenting it again revokes the whole grant.
    const reuse = await post('/token', {
      grant_type: 'refresh_token',
      refresh_token: tokens.body.refresh_token as string,
      client_id: clientId,
    });
    expect(reuse.body.error).toBe('invalid_grant');
    const afterReuse = await post('/token', {
      grant_type: 'refresh_token',
      refresh_token: rotated,
      client_id: clientId,
    });
    expect(afterReuse.body.error).toBe('invalid_grant');
  });
});

describe('createMemoryAdapter', () => {
  const payload = (extra: Record<string, unknown> = {}): AdapterPayload => ({ jti: 'x', ...extra }) as AdapterPayload;

  test('expiry is expiresIn plus clockTolerance', async () => {
    let now = 1_000_000;
    const adapter = createMemoryAdapter({ clockTolerance: 5, now: () => now })('AccessToken');
    await adapter.upsert('a', payload({ jti: 'a' }), 10);
    now += 14_999;
    expect(await adapter.find('a')).toMatchObject({ jti: 'a' });
    now += 2;
    expect(await adapter.find('a')).toBeUndefined();
  });

  test('findByUid, findByUserCode, consume and destroy', async () => {
    const factory = createMemoryAdapter();
    const sessions = factory('Session');
    await sessions.upsert('s1', payload({ uid: 'u1' }), 60);
    expect(await sessions.findByUid('u1')).toMatchObject({ uid: 'u1' });
    await sessions.destroy('s1');
    expect(await sessions.findByUid('u1')).toBeUndefined();

    const devices = factory('DeviceCode');
    await devices.upsert('d1', payload({ userCode: 'ABCD-EFGH' }), 60);
    expect(await devices.findByUserCode('ABCD-EFGH')).toMatchObject({ userCode: 'ABCD-EFGH' });
    await devices.consume('d1');
    expect((await devices.find('d1'))?.consumed).toEqual(expect.any(Number));
    await expect(devices.consume('missing')).resolves.toBeUndefined();
    expect(await devices.findByUserCode('nope')).toBeUndefined();
  });

  test('a stored record is a copy: changing the caller object or a found one does not change the store', async () => {
    const adapter = createMemoryAdapter()('Grant');
    const original = payload({ accountId: 'alice' });
    await adapter.upsert('g', original, 60);
    original.accountId = 'mallory';
    const found = await adapter.find('g');
    found!.accountId = 'eve';
    expect((await adapter.find('g'))?.accountId).toBe('alice');
  });

  test('revokeByGrantId removes every grantable record of the grant, in every model, and nothing else', async () => {
    const factory = createMemoryAdapter();
    await factory('AccessToken').upsert('at1', payload({ grantId: 'g1' }), 60);
    await factory('RefreshToken').upsert('rt1', payload({ grantId: 'g1' }), 60);
    await factory('AccessToken').upsert('at2', payload({ grantId: 'g2' }), 60);
    await factory('AccessToken').revokeByGrantId('g1');
    expect(await factory('AccessToken').find('at1')).toBeUndefined();
    expect(await factory('RefreshToken').find('rt1')).toBeUndefined();
    expect(await factory('AccessToken').find('at2')).toBeDefined();
  });

  test('bounded: what the LRU pushes out is forgotten, and a lost grant index takes its tokens with it', async () => {
    const factory = createMemoryAdapter({ maxEntries: 4 });
    const tokens = factory('AccessToken');
    await tokens.upsert('at1', payload({ grantId: 'g1' }), 60); // at1 + grant:g1
    expect(await tokens.find('at1')).toBeDefined(); // at1 is now more recent than its grant index
    const interactions = factory('Interaction');
    for (let i = 0; i < 3; i++) await interactions.upsert(`i${i}`, payload(), 60);
    // The third interaction pushed out the least recently used entry, the grant index; at1 went with it rather
    // than stay behind, unrevocable.
    expect(await tokens.find('at1')).toBeUndefined();
    for (let i = 0; i < 3; i++) expect(await interactions.find(`i${i}`)).toBeDefined();
  });

  test('refuses a bad clockTolerance or bound', () => {
    expect(() => createMemoryAdapter({ clockTolerance: -1 })).toThrow(/clockTolerance/);
    expect(() => createMemoryAdapter({ maxEntries: 0 })).toThrow(/maxEntries/);
  });
});
