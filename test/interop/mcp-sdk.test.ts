/**
 * Interop: the MCP TypeScript SDK client, with an OAuthClientProvider that sets `clientMetadataUrl`, against
 * the example server's protected MCP resource. With CIMD on it uses its metadata URL as client_id and
 * registers nothing; with CIMD off the same client falls back to Dynamic Client Registration.
 */
import { auth, type OAuthClientProvider, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import { type ClientHost, type RunningExample, startClientHost, startExample } from '../example/start-example.js';
import { Browser } from '../helpers/browser.js';

const REDIRECT_URI = 'http://127.0.0.1:47812/callback';
const DOCUMENT_PATH = '/mcp-sdk/client.json';

/** An in-memory OAuthClientProvider, as a CLI MCP client would implement it. */
class MemoryOAuthProvider implements OAuthClientProvider {
  authorizationUrl: URL | undefined;
  #client: OAuthClientInformationMixed | undefined;
  #tokens: OAuthTokens | undefined;
  #verifier = '';

  constructor(readonly clientMetadataUrl: string) {}

  get redirectUrl() {
    return REDIRECT_URI;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'MCP SDK interop client',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() {
    return this.#client;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.#client = info;
  }
  tokens() {
    return this.#tokens;
  }
  saveTokens(tokens: OAuthTokens) {
    this.#tokens = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string) {
    this.#verifier = verifier;
  }
  codeVerifier() {
    return this.#verifier;
  }
}

/** Every request the SDK makes, for assertions (e.g. that nothing was registered). */
function recordingFetch() {
  const requests: { method: string; url: string }[] = [];
  const fetchFn = (url: string | URL, init?: RequestInit) => {
    requests.push({ method: (init?.method ?? 'GET').toUpperCase(), url: String(url) });
    return fetch(url, init);
  };
  return { requests, fetchFn };
}

/** Connects as a real MCP client would: 401 → OAuth in the browser → finishAuth → reconnect → tool call. */
async function connectAndCallTool(example: RunningExample, authProvider: MemoryOAuthProvider) {
  const { requests, fetchFn } = recordingFetch();
  const serverUrl = new URL(example.mcpResource);

  const first = new StreamableHTTPClientTransport(serverUrl, { authProvider, fetch: fetchFn });
  await expect(new Client({ name: 'interop', version: '1.0.0' }).connect(first)).rejects.toThrow(UnauthorizedError);
  expect(authProvider.authorizationUrl).toBeDefined();

  const outcome = await new Browser().authorize(authProvider.authorizationUrl!, { login: 'bob', password: 'demo' });
  const code = outcome.redirect?.searchParams.get('code');
  expect(code).toBeTruthy();
  await first.finishAuth(code!);
  await first.close();

  const client = new Client({ name: 'interop', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(serverUrl, { authProvider, fetch: fetchFn }));
  try {
    const result = await client.callTool({ name: 'whoami', arguments: {} });
    return { requests, outcome, result, fetchFn, serverUrl };
  } finally {
    await client.close();
  }
}

describe('MCP TypeScript SDK client against the example server', () => {
  let host: ClientHost;
  let cid: string;
  beforeAll(async () => {
    host = await startClientHost();
    // The document the SDK client publishes: its own metadata, at its client_id URL.
    cid = host.publish(DOCUMENT_PATH, new MemoryOAuthProvider('').clientMetadata);
  });
  afterAll(() => host.close());

  it('discovers CIMD support, registers nothing, and reaches the MCP resource', async () => {
    const example = await startExample({ allowLoopback: true });
    try {
      const authProvider = new MemoryOAuthProvider(cid);
      const { requests, outcome, result, fetchFn, serverUrl } = await connectAndCallTool(example, authProvider);

      // It found the authorization server through the resource's metadata and saw the CIMD flag.
      expect(requests).toContainEqual({
        method: 'GET',
        url: `${example.issuer}/.well-known/oauth-protected-resource/mcp`,
      });
      expect(requests.some((r) => r.url.startsWith(`${example.issuer}/.well-known/oauth-authorization-server`))).toBe(
        true,
      );
      // No Dynamic Client Registration: the URL is the client_id.
      expect(requests.filter((r) => r.method === 'POST' && r.url === `${example.issuer}/reg`)).toEqual([]);
      expect(authProvider.clientInformation()?.client_id).toBe(cid);
      expect(authProvider.authorizationUrl?.searchParams.get('client_id')).toBe(cid);
      expect(authProvider.authorizationUrl?.searchParams.get('resource')).toBe(example.mcpResource);
      expect(host.hitsFor(DOCUMENT_PATH)).toBeGreaterThanOrEqual(1);
      expect(outcome.consentPage?.body).toContain('loopback-warning');

      expect(result.content).toEqual([
        { type: 'text', text: `You are bob, calling through client ${cid} with scope "mcp:tools".` },
      ]);

      // SDK 1.x asks for neither offline_access nor prompt=consent, yet gets a refresh token (the example's
      // policy for public clients), and its auth() refreshes with it; the refresh token rotates.
      const before = authProvider.tokens()!;
      expect(before.refresh_token).toBeDefined();
      expect(await auth(authProvider, { serverUrl, fetchFn })).toBe('AUTHORIZED');
      const after = authProvider.tokens()!;
      expect(after.access_token).not.toBe(before.access_token);
      expect(after.refresh_token).toBeDefined();
      expect(after.refresh_token).not.toBe(before.refresh_token);
      const client = new Client({ name: 'interop', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(serverUrl, { authProvider, fetch: fetchFn }));
      try {
        expect((await client.callTool({ name: 'whoami', arguments: {} })).content).toEqual(result.content);
      } finally {
        await client.close();
      }
    } finally {
      await example.close();
    }
  });

  it('falls back to Dynamic Client Registration when CIMD is disabled, and still succeeds', async () => {
    const example = await startExample({ cimdEnabled: false, dcrEnabled: true });
    const hitsBefore = host.hitsFor(DOCUMENT_PATH);
    try {
      const authProvider = new MemoryOAuthProvider(cid);
      const { requests, result } = await connectAndCallTool(example, authProvider);

      expect(requests.filter((r) => r.method === 'POST' && r.url === `${example.issuer}/reg`)).toHaveLength(1);
      const clientId = authProvider.clientInformation()?.client_id;
      expect(clientId).toBeDefined();
      expect(clientId).not.toBe(cid);
      expect(clientId).not.toMatch(/^https:\/\//);
      expect(host.hitsFor(DOCUMENT_PATH)).toBe(hitsBefore);
      expect(example.events).toEqual([]);

      expect(result.content).toEqual([
        { type: 'text', text: `You are bob, calling through client ${clientId} with scope "mcp:tools".` },
      ]);
    } finally {
      await example.close();
    }
  });
});
