/**
 * Real client document shapes (test/fixtures/client-documents/, see its README) through oidc-provider over HTTP:
 * - GitHub Copilot CLI: native, one fixed `http://127.0.0.1:33418/` registered, while the CLI listens on an
 *   ephemeral port: any loopback port must match (RFC 8252 §7.3), nothing else may differ;
 * - Codex: native, portless loopback redirects, and only the plural `token_endpoint_auth_methods_supported:
 *   ["none"]`: a public client;
 * - ChatGPT: the singular `private_key_jwt`, the plural `["none","private_key_jwt"]` and a `jwks_uri`:
 *   draft-ietf-oauth-client-id-metadata-document-03 §6 picks the singular when the provider supports it (the
 *   client then authenticates with a JWT signed by a key from its jwks_uri), and `none` when the provider only
 *   supports that.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authorizationParams, authorize, exchangeCode, pkcePair } from '../helpers/auth-flow.js';
import { getTestCertificate } from '../helpers/certs.js';
import { assertionParams } from '../helpers/client-assertion.js';
import { startHttpsServer, type TestHttpsServer } from '../helpers/https-server.js';
import { startProvider, type TestProvider } from '../helpers/provider.js';

const FIXTURES = new URL('../fixtures/client-documents/', import.meta.url);
const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), 'utf8')) as Record<string, unknown>;

describe('real client shapes', () => {
  const routes = new Map<string, string>();
  let docs: TestHttpsServer;
  let op: TestProvider;
  let key: KeyObject;

  beforeAll(async () => {
    docs = await startHttpsServer((req: IncomingMessage, res: ServerResponse) => {
      const body = routes.get(req.url ?? '');
      if (body === undefined) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    key = pair.privateKey;
    routes.set(
      '/chatgpt/jwks.json',
      JSON.stringify({ keys: [{ ...pair.publicKey.export({ format: 'jwk' }), kid: 'c1', alg: 'ES256', use: 'sig' }] }),
    );
    const { cert } = await getTestCertificate();
    op = await startProvider({ cimd: { allowLoopback: true, ca: cert } });
  });
  afterAll(async () => {
    await op.close();
    await docs.close();
  });

  /** Serves the fixture at `path`, its client_id (and jwks_uri) rewritten to the local URLs. */
  function serve(name: string, path: string, extra: Record<string, unknown> = {}): string {
    const cid = `${docs.url}${path}`;
    routes.set(path, JSON.stringify({ ...fixture(name), client_id: cid, ...extra }));
    return cid;
  }

  async function codeFor(cid: string, redirectUri: string, provider = op) {
    const { verifier, challenge } = pkcePair();
    const flow = await authorize(provider.issuer, {
      ...authorizationParams(cid, redirectUri, { state: 's' }),
      code_challenge: challenge,
    });
    return { flow, verifier, code: flow.leftTo?.searchParams.get('code') ?? undefined };
  }

  test.each(['http://127.0.0.1:54321/', 'http://127.0.0.1:33418/'])(
    'GitHub Copilot CLI authorizes with its loopback redirect on port %s',
    async (redirectUri) => {
      const cid = serve('copilot-cli', `/copilot/${new URL(redirectUri).port}/client-metadata.json`);
      const { flow, verifier, code } = await codeFor(cid, redirectUri);
      expect(flow.leftTo?.origin).toBe(new URL(redirectUri).origin);
      expect(code).toBeTruthy();
      const tokens = await exchangeCode(op.issuer, {
        code: code!,
        redirect_uri: redirectUri,
        client_id: cid,
        code_verifier: verifier,
      });
      expect(tokens.status).toBe(200);
    },
  );

  test.each(['http://127.0.0.1:54321/other', 'http://localhost:54321/', 'https://127.0.0.1:54321/'])(
    'GitHub Copilot CLI: %s (another path, host or scheme) is refused with a 400, never a redirect',
    async (redirectUri) => {
      const cid = serve('copilot-cli', '/copilot/strict/client-metadata.json');
      const { flow } = await codeFor(cid, redirectUri);
      expect(flow.leftTo).toBeUndefined();
      expect(flow.last.status).toBe(400);
    },
  );

  test.each(['http://127.0.0.1:1455/callback', 'http://localhost:41234/callback'])(
    'Codex (portless loopback redirects, only the plural ["none"]) authorizes as a public client via %s',
    async (redirectUri) => {
      const cid = serve('codex', `/codex/${new URL(redirectUri).hostname}/client.json`);
      const { verifier, code } = await codeFor(cid, redirectUri);
      expect(code).toBeTruthy();
      const tokens = await exchangeCode(op.issuer, {
        code: code!,
        redirect_uri: redirectUri,
        client_id: cid,
        code_verifier: verifier,
      });
      expect(tokens.status).toBe(200);
      expect(typeof tokens.body.access_token).toBe('string');
    },
  );

  test('ChatGPT: the singular private_key_jwt is chosen; the client authenticates with a key from its jwks_uri', async () => {
    const redirectUri = 'https://chatgpt.com/connector_platform_oauth_redirect';
    const cid = serve('chatgpt', '/chatgpt/client.json', { jwks_uri: `${docs.url}/chatgpt/jwks.json` });
    const { verifier, code } = await codeFor(cid, redirectUri);
    expect(code).toBeTruthy();
    // Without an assertion the confidential client is refused...
    const bare = await exchangeCode(op.issuer, {
      code: code!,
      redirect_uri: redirectUri,
      client_id: cid,
      code_verifier: verifier,
    });
    expect(bare.status).toBe(401);
    expect(bare.body.error).toBe('invalid_client');
    // ...and with one, signed by the key its jwks_uri publishes, it gets tokens.
    const second = await codeFor(cid, redirectUri);
    const response = await exchangeCode(op.issuer, {
      code: second.code!,
      redirect_uri: redirectUri,
      code_verifier: second.verifier,
      client_id: cid,
      ...assertionParams(key, cid, op.issuer, { kid: 'c1', typ: 'client-authentication+jwt' }),
    });
    expect(response.status).toBe(200);
    expect(typeof response.body.access_token).toBe('string');
  });

  test('ChatGPT on a provider that supports only `none`: the plural list lets it be a public client', async () => {
    const { cert } = await getTestCertificate();
    const publicOnly = await startProvider({
      cimd: { allowLoopback: true, ca: cert },
      config: { clientAuthMethods: ['none'] },
    });
    try {
      const redirectUri = 'https://chatgpt.com/connector_platform_oauth_redirect';
      const cid = serve('chatgpt', '/chatgpt-public/client.json', { jwks_uri: `${docs.url}/chatgpt/jwks.json` });
      const { verifier, code } = await codeFor(cid, redirectUri, publicOnly);
      expect(code).toBeTruthy();
      const tokens = await exchangeCode(publicOnly.issuer, {
        code: code!,
        redirect_uri: redirectUri,
        client_id: cid,
        code_verifier: verifier,
      });
      expect(tokens.status).toBe(200);
    } finally {
      await publicOnly.close();
    }
  });
});
