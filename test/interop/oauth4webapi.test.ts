/**
 * Interop: oauth4webapi (a strict, spec-following OAuth client) completes authorization code + PKCE with a
 * URL client_id against the example server, and the token it gets opens the protected MCP resource.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import * as oauth from 'oauth4webapi';
import {
  type ClientHost,
  loopbackClientDocument,
  type RunningExample,
  startClientHost,
  startExample,
} from '../example/start-example.js';
import { Browser } from '../helpers/browser.js';

const REDIRECT_URI = 'http://127.0.0.1:47811/callback';

describe('oauth4webapi against the example server', () => {
  let host: ClientHost;
  let example: RunningExample;
  let cid: string;

  beforeAll(async () => {
    host = await startClientHost();
    example = await startExample({ allowLoopback: true });
    cid = host.publish('/oauth4webapi/client.json', loopbackClientDocument(REDIRECT_URI, 'oauth4webapi test client'));
  });
  afterAll(async () => {
    await example.close();
    await host.close();
  });

  it('completes authorization code + PKCE with a URL client_id and calls the MCP tool', async () => {
    const issuer = new URL(example.issuer);
    const insecure = { [oauth.allowInsecureRequests]: true };

    // Discovery (RFC 8414).
    const as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }),
    );
    expect(as.client_id_metadata_document_supported).toBe(true);
    expect(as.code_challenge_methods_supported).toContain('S256');

    // The client is nothing but its metadata document URL.
    const client: oauth.Client = { client_id: cid, token_endpoint_auth_method: 'none' };
    const codeVerifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const authorizationUrl = new URL(as.authorization_endpoint!);
    authorizationUrl.search = new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: 'openid mcp:tools',
      resource: example.mcpResource,
      state,
      code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    }).toString();

    const outcome = await new Browser().authorize(authorizationUrl, { login: 'alice', password: 'demo' });
    expect(outcome.consentPage?.body).toContain('loopback-warning');
    expect(outcome.redirect?.origin).toBe('http://127.0.0.1:47811');
    expect(host.hitsFor('/oauth4webapi/client.json')).toBe(1);
    expect(example.events.some((e) => e.reason === 'fetched' && e.cid === cid)).toBe(true);

    // RFC 9207: oauth4webapi checks `iss` in the authorization response too.
    const params = oauth.validateAuthResponse(as, client, outcome.redirect!, state);
    const tokenResponse = await oauth.authorizationCodeGrantRequest(
      as,
      client,
      oauth.None(),
      params,
      REDIRECT_URI,
      codeVerifier,
      { ...insecure, additionalParameters: { resource: example.mcpResource } },
    );
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, tokenResponse);
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.scope?.split(' ')).toContain('mcp:tools');
    const claims = oauth.getValidatedIdTokenClaims(tokens);
    expect(claims).toMatchObject({ sub: 'alice', aud: cid, iss: example.issuer });

    // The access token opens the MCP resource.
    const transport = new StreamableHTTPClientTransport(new URL(example.mcpResource), {
      requestInit: { headers: { authorization: `Bearer ${tokens.access_token}` } },
    });
    const mcp = new Client({ name: 'oauth4webapi-interop', version: '1.0.0' });
    await mcp.connect(transport);
    try {
      const result = await mcp.callTool({ name: 'whoami', arguments: {} });
      expect(result.content).toEqual([
        { type: 'text', text: `You are alice, calling through client ${cid} with scope "mcp:tools".` },
      ]);
    } finally {
      await mcp.close();
    }
  });
});
