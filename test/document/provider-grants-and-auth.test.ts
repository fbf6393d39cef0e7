/**
 * Through a real oidc-provider 9 with `features.clientCredentials` enabled:
 * - grants in which no user takes part are dropped from CIMD clients: a `none` client and a `private_key_jwt`
 *   client (keys from its own document) both fail `client_credentials`; only `grantsWithoutUser` gives the grant
 *   to an authenticated client, and never to a `none` one (draft-ietf-oauth-client-id-metadata-document-02 §4, RFC 6749 §4.4);
 * - auth method negotiation (draft-ietf-oauth-client-id-metadata-document-03 §6): nothing supported is
 *   `unauthorized_client` on the provider's 400 page; real client shapes (ChatGPT, Codex) work.
 */
import { generateKeyPairSync } from 'node:crypto';
import { type DocumentHost, startDocumentHost } from '../consent/support.js';
import { startAuthorization } from '../helpers/auth-flow.js';
import { getTestCertificate } from '../helpers/certs.js';
import { assertionParams } from '../helpers/client-assertion.js';
import { startProvider, type TestProvider } from '../helpers/provider.js';

const REDIRECT = 'https://app.example.com/cb';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const publicJwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' };

async function token(issuer: string, form: Record<string, string>) {
  const response = await fetch(new URL('/token', issuer), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** oidc-provider 9 answers a grant type the client does not have with a 400 saying so. */
function expectGrantRefused(response: { status: number; body: Record<string, unknown> }): void {
  expect(response.status).toBe(400);
  expect(response.body).toMatchObject({
    error: 'invalid_request',
    error_description: 'requested grant type is not allowed for this client',
  });
}

const publicDocument = {
  client_name: 'Public agent',
  redirect_uris: [REDIRECT],
  grant_types: ['authorization_code', 'client_credentials'],
  token_endpoint_auth_method: 'none',
};
const keyedDocument = {
  client_name: 'Keyed agent',
  redirect_uris: [REDIRECT],
  grant_types: ['authorization_code', 'client_credentials'],
  token_endpoint_auth_method: 'private_key_jwt',
  jwks: { keys: [publicJwk] },
};

describe('grants without a user, through oidc-provider with client_credentials enabled', () => {
  let host: DocumentHost;
  let op: TestProvider;
  let granted: string;

  beforeAll(async () => {
    host = await startDocumentHost();
    const { cert } = await getTestCertificate();
    granted = `${host.origin}/granted.json`;
    op = await startProvider({
      cimd: {
        allowLoopback: true,
        ca: cert,
        grantsWithoutUser: [
          { clients: [granted, `${host.origin}/granted-public.json`], grants: ['client_credentials'] },
        ],
      },
      config: { features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } } },
    });
  });
  afterAll(async () => {
    await op.close();
    await host.close();
  });

  it('a none client gets no client_credentials token', async () => {
    const cid = host.publish('/public.json', publicDocument);
    const response = await token(op.issuer, { grant_type: 'client_credentials', client_id: cid });
    expectGrantRefused(response);
    expect(response.body).not.toHaveProperty('access_token');
  });

  it('a private_key_jwt client with keys from its own document gets no client_credentials token', async () => {
    const cid = host.publish('/keyed.json', keyedDocument);
    const response = await token(op.issuer, {
      grant_type: 'client_credentials',
      client_id: cid,
      ...assertionParams(privateKey, cid, op.issuer, { kid: 'k1' }),
    });
    expectGrantRefused(response);
    expect(response.body).not.toHaveProperty('access_token');
    // The client itself works for what involves a user.
    expect((await startAuthorization(op.issuer, cid, REDIRECT)).status).toBe(303);
  });

  it('the trust policy can grant client_credentials to one authenticated client explicitly', async () => {
    host.publish('/granted.json', keyedDocument);
    const response = await token(op.issuer, {
      grant_type: 'client_credentials',
      client_id: granted,
      ...assertionParams(privateKey, granted, op.issuer, { kid: 'k1' }),
    });
    expect(response.status).toBe(200);
    expect(response.body.token_type).toBe('Bearer');
    expect(typeof response.body.access_token).toBe('string');
  });

  it('but never to a none client, even when the policy names it', async () => {
    const cid = host.publish('/granted-public.json', publicDocument);
    const response = await token(op.issuer, { grant_type: 'client_credentials', client_id: cid });
    expectGrantRefused(response);
  });
});

describe('auth method negotiation through oidc-provider (draft-03 §6)', () => {
  let host: DocumentHost;
  let noneOnly: TestProvider;
  let full: TestProvider;

  beforeAll(async () => {
    host = await startDocumentHost();
    const { cert } = await getTestCertificate();
    const cimd = { allowLoopback: true, ca: cert };
    noneOnly = await startProvider({ cimd, config: { clientAuthMethods: ['none'] } });
    full = await startProvider({ cimd });
  });
  afterAll(async () => {
    await noneOnly.close();
    await full.close();
    await host.close();
  });

  it('a lone unsupported singular is unauthorized_client on the 400 page, never a redirect', async () => {
    const cid = host.publish('/lone-pkjwt.json', {
      client_name: 'Lone',
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'private_key_jwt',
      jwks_uri: 'https://app.example.com/jwks.json',
    });
    const response = await startAuthorization(noneOnly.issuer, cid, REDIRECT);
    expect(response.status).toBe(400);
    expect(response.location).toBeNull();
    expect(response.body).toContain('unauthorized_client');
    expect(noneOnly.events.at(-1)).toMatchObject({ reason: 'rejected:unauthorized_client', cid });
  });

  it('ChatGPT: singular private_key_jwt, plural [none, private_key_jwt], jwks_uri', async () => {
    const doc = {
      client_name: 'ChatGPT',
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_methods_supported: ['none', 'private_key_jwt'],
      jwks_uri: 'https://chatgpt.example/oauth/jwks.json',
    };
    const cid = host.publish('/chatgpt.json', doc);
    expect((await startAuthorization(full.issuer, cid, REDIRECT)).status).toBe(303);
    expect((await full.provider.Client.find(cid))?.tokenEndpointAuthMethod).toBe('private_key_jwt');
    // On a provider that offers only none, the same document falls back to none.
    expect((await startAuthorization(noneOnly.issuer, cid, REDIRECT)).status).toBe(303);
  });

  // Issue 22 item 8: oidc-provider keeps one method per client; the client's first choice wins, so a client that
  // signs is not handed `none` (it would get invalid_client), and the fetched event says what was chosen.
  it('plural [private_key_jwt, none] without a singular: private_key_jwt, reported in the fetched event', async () => {
    const cid = host.publish('/signs-first.json', {
      client_name: 'Signs first',
      redirect_uris: [REDIRECT],
      token_endpoint_auth_methods_supported: ['private_key_jwt', 'none'],
      jwks_uri: 'https://app.example.com/jwks.json',
    });
    expect((await startAuthorization(full.issuer, cid, REDIRECT)).status).toBe(303);
    expect((await full.provider.Client.find(cid))?.tokenEndpointAuthMethod).toBe('private_key_jwt');
    expect(full.events.find((e) => e.cid === cid && e.reason === 'fetched')?.detail).toBe(
      'auth method private_key_jwt: the first entry of token_endpoint_auth_methods_supported this server supports',
    );
  });

  it('an empty plural list is a malformed document on the 400 page', async () => {
    const cid = host.publish('/empty-plural.json', {
      client_name: 'Empty',
      redirect_uris: [REDIRECT],
      token_endpoint_auth_methods_supported: [],
    });
    const response = await startAuthorization(full.issuer, cid, REDIRECT);
    expect(response.status).toBe(400);
    expect(response.location).toBeNull();
    expect(full.events.at(-1)).toMatchObject({
      reason: 'rejected:document',
      rule: 'token_endpoint_auth_methods_supported',
      cid,
    });
  });

  it('Codex: only the plural [none]', async () => {
    const cid = host.publish('/codex.json', {
      client_name: 'Codex',
      redirect_uris: ['http://127.0.0.1:1455/auth/callback'],
      token_endpoint_auth_methods_supported: ['none'],
    });
    expect((await startAuthorization(full.issuer, cid, 'http://127.0.0.1:1455/auth/callback')).status).toBe(303);
  });

  it('an unsupported singular with a supported plural entry is served', async () => {
    const cid = host.publish('/fallback.json', {
      client_name: 'Fallback',
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_methods_supported: ['private_key_jwt', 'none'],
      jwks_uri: 'https://app.example.com/jwks.json',
    });
    expect((await startAuthorization(noneOnly.issuer, cid, REDIRECT)).status).toBe(303);
  });
});
