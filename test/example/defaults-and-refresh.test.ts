/**
 * The example's token policies, end to end through the real login and consent pages:
 * - a request without `scope` gets the MCP scope (RFC 6749 §3.3), one without `resource` the MCP resource
 *   (RFC 8707), so the token works at /mcp;
 * - public clients that may use the refresh_token grant get rotating refresh tokens without offline_access;
 * - a DPoP token request (RFC 9449) gets a bound token that /mcp only accepts with proofs;
 * - what the pages show: scope descriptions, the client's name on the login page, one style, a favicon.
 */
import { createHash, randomUUID } from 'node:crypto';
import { type CryptoKey, calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { pkcePair } from '../helpers/auth-flow.js';
import { Browser } from '../helpers/browser.js';
import {
  type ClientHost,
  loopbackClientDocument,
  type RunningExample,
  startClientHost,
  startExample,
} from './start-example.js';

const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'test', version: '1' } },
};

interface DpopKey {
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function dpopKey(): Promise<DpopKey> {
  const pair = await generateKeyPair('ES256');
  return { privateKey: pair.privateKey, publicJwk: await exportJWK(pair.publicKey) };
}

function dpopProof(key: DpopKey, htm: string, htu: string, accessToken?: string): Promise<string> {
  return new SignJWT({
    htm,
    htu,
    jti: randomUUID(),
    ...(accessToken ? { ath: createHash('sha256').update(accessToken).digest('base64url') } : {}),
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.publicJwk })
    .setIssuedAt()
    .sign(key.privateKey);
}

describe('example token policies', () => {
  let host: ClientHost;
  let example: RunningExample;
  beforeAll(async () => {
    host = await startClientHost();
    example = await startExample({ allowLoopback: true });
  });
  afterAll(async () => {
    await example.close();
    await host.close();
  });

  /** Authorization request with exactly `params` (plus PKCE), through login and consent; returns the code. */
  async function authorize(clientId: string, params: Record<string, string> = {}) {
    const pkce = pkcePair();
    const url = new URL('/auth', example.issuer);
    url.search = new URLSearchParams({
      client_id: clientId,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
      state: randomUUID(),
      ...params,
    }).toString();
    const outcome = await new Browser().authorize(url, { login: 'dana', password: 'demo' });
    return { outcome, verifier: pkce.verifier, code: outcome.redirect?.searchParams.get('code') ?? undefined };
  }

  async function token(form: Record<string, string>, headers: Record<string, string> = {}) {
    const response = await fetch(`${example.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form),
    });
    return { status: response.status, body: (await response.json()) as Record<string, string> };
  }

  async function callMcp(authorization: string, dpop?: string) {
    const response = await fetch(example.mcpResource, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization,
        ...(dpop ? { dpop } : {}),
      },
      body: JSON.stringify(INITIALIZE),
    });
    await response.body?.cancel();
    return { status: response.status, challenge: response.headers.get('www-authenticate') };
  }

  it('gives a request without scope and resource the MCP scope and resource: the token works at /mcp', async () => {
    const cid = host.publish('/defaults/plain.json', loopbackClientDocument(REDIRECT_URI, 'Plain MCP client'));
    const { outcome, code, verifier } = await authorize(cid);
    expect(code).toBeTruthy();
    // The consent page asked for the default scope, in words.
    expect(outcome.consentPage?.body).toContain('on your behalf (call its MCP tools)');
    expect(outcome.consentPage?.body).not.toContain('mcp:tools');

    const { status, body } = await token({
      grant_type: 'authorization_code',
      client_id: cid,
      code: code!,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
    });
    expect(status).toBe(200);
    expect(body.scope).toBe('mcp:tools');
    expect(body.token_type).toBe('Bearer');
    const claims = decodeJwt(body.access_token!);
    expect(claims).toMatchObject({ aud: example.mcpResource, scope: 'mcp:tools', client_id: cid, sub: 'dana' });
    expect((await callMcp(`Bearer ${body.access_token}`)).status).toBe(200);
  });

  it('applies the default scope to a pushed authorization request (PAR) too', async () => {
    const cid = host.publish('/defaults/par.json', loopbackClientDocument(REDIRECT_URI, 'PAR client'));
    const pkce = pkcePair();
    const pushed = await fetch(`${example.issuer}/request`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: cid,
        redirect_uri: REDIRECT_URI,
        response_type: 'code',
        code_challenge: pkce.challenge,
        code_challenge_method: 'S256',
      }),
    });
    expect(pushed.status).toBe(201);
    const { request_uri: requestUri } = (await pushed.json()) as { request_uri: string };
    const url = new URL('/auth', example.issuer);
    url.search = new URLSearchParams({ client_id: cid, request_uri: requestUri }).toString();
    const outcome = await new Browser().authorize(url, { login: 'dana', password: 'demo' });
    const code = outcome.redirect?.searchParams.get('code');
    expect(code).toBeTruthy();
    const { body } = await token({
      grant_type: 'authorization_code',
      client_id: cid,
      code: code!,
      redirect_uri: REDIRECT_URI,
      code_verifier: pkce.verifier,
    });
    expect(decodeJwt(body.access_token!)).toMatchObject({ aud: example.mcpResource, scope: 'mcp:tools' });
  });

  it('keeps an explicit scope and resource as asked', async () => {
    const cid = host.publish('/defaults/explicit.json', loopbackClientDocument(REDIRECT_URI));
    const { code, verifier } = await authorize(cid, { scope: 'openid mcp:tools', resource: example.mcpResource });
    const { body } = await token({
      grant_type: 'authorization_code',
      client_id: cid,
      code: code!,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
      resource: example.mcpResource,
    });
    expect(body.id_token).toBeDefined();
    expect(decodeJwt(body.access_token!).scope).toBe('mcp:tools');
  });

  it('answers invalid_scope when the default scope is not among the scopes a client declared', async () => {
    const cid = host.publish('/defaults/openid-only.json', {
      ...loopbackClientDocument(REDIRECT_URI),
      scope: 'openid profile',
    });
    const pkce = pkcePair();
    const url = new URL('/auth', example.issuer);
    url.search = new URLSearchParams({
      client_id: cid,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
    }).toString();
    const navigation = await new Browser().navigate(url);
    expect(navigation.leftTo?.searchParams.get('error')).toBe('invalid_scope');
  });

  it('issues rotating refresh tokens to a public client without offline_access', async () => {
    const cid = host.publish('/defaults/refresh.json', loopbackClientDocument(REDIRECT_URI));
    const { code, verifier } = await authorize(cid);
    const first = await token({
      grant_type: 'authorization_code',
      client_id: cid,
      code: code!,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
    });
    expect(first.body.refresh_token).toBeDefined();

    const refreshed = await token({
      grant_type: 'refresh_token',
      client_id: cid,
      refresh_token: first.body.refresh_token!,
    });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.refresh_token).toBeDefined();
    expect(refreshed.body.refresh_token).not.toBe(first.body.refresh_token);
    expect(decodeJwt(refreshed.body.access_token!)).toMatchObject({ aud: example.mcpResource, scope: 'mcp:tools' });
    expect((await callMcp(`Bearer ${refreshed.body.access_token}`)).status).toBe(200);

    // Rotation: the used refresh token is spent (and reusing it revokes the grant).
    const reused = await token({
      grant_type: 'refresh_token',
      client_id: cid,
      refresh_token: first.body.refresh_token!,
    });
    expect(reused.status).toBe(400);
    expect(reused.body.error).toBe('invalid_grant');
  });

  it('issues no refresh token to a client whose document does not list the refresh_token grant', async () => {
    const cid = host.publish('/defaults/no-refresh.json', {
      ...loopbackClientDocument(REDIRECT_URI),
      grant_types: ['authorization_code'],
    });
    const { code, verifier } = await authorize(cid);
    const { status, body } = await token({
      grant_type: 'authorization_code',
      client_id: cid,
      code: code!,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
    });
    expect(status).toBe(200);
    expect(body.refresh_token).toBeUndefined();
  });

  it('binds tokens to a DPoP key on request, and /mcp then needs proofs with that key (refresh included)', async () => {
    const cid = host.publish('/defaults/dpop.json', loopbackClientDocument(REDIRECT_URI, 'DPoP client'));
    const key = await dpopKey();
    const jkt = await calculateJwkThumbprint(key.publicJwk, 'sha256');
    const tokenUrl = `${example.issuer}/token`;
    const { code, verifier } = await authorize(cid);
    const { status, body } = await token(
      {
        grant_type: 'authorization_code',
        client_id: cid,
        code: code!,
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier,
      },
      { dpop: await dpopProof(key, 'POST', tokenUrl) },
    );
    expect(status).toBe(200);
    expect(body.token_type).toBe('DPoP');
    expect(decodeJwt(body.access_token!).cnf).toEqual({ jkt });

    const asBearer = await callMcp(`Bearer ${body.access_token}`);
    expect(asBearer.status).toBe(401);
    expect(asBearer.challenge).toMatch(/^DPoP .*error="invalid_token"/);
    const withProof = await callMcp(
      `DPoP ${body.access_token}`,
      await dpopProof(key, 'POST', example.mcpResource, body.access_token),
    );
    expect(withProof.status).toBe(200);

    // The refresh token of a DPoP-bound public client is bound too: refreshing needs a proof with the same key.
    const withoutProof = await token({
      grant_type: 'refresh_token',
      client_id: cid,
      refresh_token: body.refresh_token!,
    });
    expect(withoutProof.status).toBe(400);
    const otherKey = await token(
      { grant_type: 'refresh_token', client_id: cid, refresh_token: body.refresh_token! },
      { dpop: await dpopProof(await dpopKey(), 'POST', tokenUrl) },
    );
    expect(otherKey.status).toBe(400);
    const refreshed = await token(
      { grant_type: 'refresh_token', client_id: cid, refresh_token: body.refresh_token! },
      { dpop: await dpopProof(key, 'POST', tokenUrl) },
    );
    expect(refreshed.status).toBe(200);
    expect(decodeJwt(refreshed.body.access_token!).cnf).toEqual({ jkt });
    const again = await callMcp(
      `DPoP ${refreshed.body.access_token}`,
      await dpopProof(key, 'POST', example.mcpResource, refreshed.body.access_token),
    );
    expect(again.status).toBe(200);
  });

  it("shows a registered (DCR) client's name on the login page, cleaned, in the consent page's style", async () => {
    const registration = await fetch(`${example.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_name: 'Registered\u202e Tool <b>',
        redirect_uris: [REDIRECT_URI],
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      }),
    });
    expect(registration.status).toBe(201);
    const { client_id: clientId } = (await registration.json()) as { client_id: string };
    const { outcome } = await authorize(clientId);
    const login = outcome.loginPage?.body ?? '';
    expect(login).toContain('<p class="supplied" id="client-name">“Registered Tool &lt;b&gt;”</p>');
    expect(login).toContain('A registered application');
    // One look for the whole flow: the login page is a card like the consent page.
    expect(login).toContain('<main>');
    expect(login).toContain('background: #f3f4f6');
    expect(outcome.consentPage?.body).toContain('background: #f3f4f6');
  });

  it('answers the favicon request instead of 404', async () => {
    const response = await fetch(`${example.issuer}/favicon.ico`);
    expect(response.status).toBe(204);
    expect(response.headers.get('cache-control')).toContain('max-age');
  });
});
