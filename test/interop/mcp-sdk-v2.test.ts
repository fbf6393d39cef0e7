/**
 * Interop: the MCP TypeScript SDK 2.x client package (`@modelcontextprotocol/client`) against the example
 * server, as a CLI MCP client would use it:
 * - with CIMD (its `clientMetadataUrl` is the client_id; nothing is registered), then a token refresh;
 * - with DPoP (the SDK's own `DpopSession`): the token is bound to its key, every MCP call carries a proof,
 *   and the same token without a proof is refused;
 * - with CIMD off, the Dynamic Client Registration fallback.
 */
import {
  auth,
  Client,
  DpopSession,
  type OAuthClientInformationMixed,
  type OAuthClientMetadata,
  type OAuthClientProvider,
  type OAuthDiscoveryState,
  type OAuthTokens,
  StreamableHTTPClientTransport,
  UnauthorizedError,
} from '@modelcontextprotocol/client';
import { decodeJwt } from 'jose';
import { type ClientHost, type RunningExample, startClientHost, startExample } from '../example/start-example.js';
import { Browser } from '../helpers/browser.js';

const REDIRECT_URI = 'http://127.0.0.1:47813/callback';
const DOCUMENT_PATH = '/mcp-sdk-v2/client.json';

/** An in-memory OAuthClientProvider, as a CLI MCP client would implement it; optionally with DPoP. */
class MemoryOAuthProvider implements OAuthClientProvider {
  authorizationUrl: URL | undefined;
  #client: OAuthClientInformationMixed | undefined;
  #tokens: OAuthTokens | undefined;
  #verifier = '';
  #discovery: OAuthDiscoveryState | undefined;

  constructor(
    readonly clientMetadataUrl: string,
    readonly session?: DpopSession,
  ) {}

  get redirectUrl() {
    return REDIRECT_URI;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'MCP SDK 2.x interop client',
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
  dpop() {
    return this.session;
  }
  // SEP-2352: the SDK checks that the code comes back from the authorization server it started with.
  saveDiscoveryState(state: OAuthDiscoveryState) {
    this.#discovery = state;
  }
  discoveryState() {
    return this.#discovery;
  }
}

/** Every request the SDK makes, for assertions (e.g. that nothing was registered, that proofs were sent). */
function recordingFetch() {
  const requests: { method: string; url: string; authorization: string | null; dpop: boolean }[] = [];
  const fetchFn = (url: string | URL, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    requests.push({
      method: (init?.method ?? 'GET').toUpperCase(),
      url: String(url),
      authorization: headers.get('authorization'),
      dpop: headers.has('dpop'),
    });
    return fetch(url, init);
  };
  return { requests, fetchFn };
}

type FetchFn = ReturnType<typeof recordingFetch>['fetchFn'];

async function callWhoami(serverUrl: URL, authProvider: MemoryOAuthProvider, fetchFn: FetchFn) {
  const client = new Client({ name: 'interop-v2', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(serverUrl, { authProvider, fetch: fetchFn }));
  try {
    return await client.callTool({ name: 'whoami', arguments: {} });
  } finally {
    await client.close();
  }
}

/** 401 → authorization in the "browser" → finishAuth → a tool call with the new token. */
async function connect(example: RunningExample, authProvider: MemoryOAuthProvider) {
  const { requests, fetchFn } = recordingFetch();
  const serverUrl = new URL(example.mcpResource);
  const first = new StreamableHTTPClientTransport(serverUrl, { authProvider, fetch: fetchFn });
  await expect(new Client({ name: 'interop-v2', version: '1.0.0' }).connect(first)).rejects.toThrow(UnauthorizedError);
  expect(authProvider.authorizationUrl).toBeDefined();
  const outcome = await new Browser().authorize(authProvider.authorizationUrl!, { login: 'erin', password: 'demo' });
  const code = outcome.redirect?.searchParams.get('code');
  expect(code).toBeTruthy();
  await first.finishAuth(code!, outcome.redirect?.searchParams.get('iss') ?? undefined);
  await first.close();
  const result = await callWhoami(serverUrl, authProvider, fetchFn);
  return { requests, fetchFn, serverUrl, outcome, result };
}

describe('MCP TypeScript SDK 2.x client against the example server', () => {
  let host: ClientHost;
  let cid: string;
  beforeAll(async () => {
    host = await startClientHost();
    cid = host.publish(DOCUMENT_PATH, new MemoryOAuthProvider('').clientMetadata);
  });
  afterAll(() => host.close());

  it('uses its metadata URL as client_id, reaches the MCP resource, and refreshes its token', async () => {
    const example = await startExample({ allowLoopback: true });
    try {
      const authProvider = new MemoryOAuthProvider(cid);
      const { requests, fetchFn, serverUrl, result } = await connect(example, authProvider);

      expect(requests.filter((r) => r.method === 'POST' && r.url === `${example.issuer}/reg`)).toEqual([]);
      expect(authProvider.clientInformation()?.client_id).toBe(cid);
      expect(authProvider.authorizationUrl?.searchParams.get('client_id')).toBe(cid);
      expect(result.content).toEqual([
        { type: 'text', text: `You are erin, calling through client ${cid} with scope "mcp:tools".` },
      ]);

      // SDK 2.x asks for offline_access with prompt=consent itself when the server lists offline_access
      // (SDK 1.x does not: see mcp-sdk.test.ts, where the example's policy for public clients applies).
      expect(authProvider.authorizationUrl?.searchParams.get('scope')).toBe('mcp:tools offline_access');
      expect(authProvider.authorizationUrl?.searchParams.get('prompt')).toBe('consent');
      // auth() refreshes with the refresh token, which rotates.
      const before = authProvider.tokens()!;
      expect(before.refresh_token).toBeDefined();
      expect(await auth(authProvider, { serverUrl, fetchFn })).toBe('AUTHORIZED');
      const after = authProvider.tokens()!;
      expect(after.access_token).not.toBe(before.access_token);
      expect(after.refresh_token).toBeDefined();
      expect(after.refresh_token).not.toBe(before.refresh_token);
      expect(requests.filter((r) => r.method === 'POST' && r.url === `${example.issuer}/token`)).toHaveLength(2);
      const again = await callWhoami(serverUrl, authProvider, fetchFn);
      expect(again.content).toEqual(result.content);
    } finally {
      await example.close();
    }
  });

  it('gets a DPoP-bound token with its DpopSession and presents it with proofs; the bare token is refused', async () => {
    const example = await startExample({ allowLoopback: true });
    try {
      const session = await DpopSession.create();
      const authProvider = new MemoryOAuthProvider(cid, session);
      const { requests, fetchFn, serverUrl, result } = await connect(example, authProvider);

      const tokens = authProvider.tokens()!;
      expect(tokens.token_type).toBe('DPoP');
      expect(decodeJwt(tokens.access_token).cnf).toEqual({ jkt: session.thumbprint });
      expect(result.content).toEqual([
        { type: 'text', text: `You are erin, calling through client ${cid} with scope "mcp:tools".` },
      ]);
      // Every authenticated MCP request used the DPoP scheme with a proof.
      const mcpCalls = requests.filter((r) => r.url === example.mcpResource && r.authorization);
      expect(mcpCalls.length).toBeGreaterThan(0);
      expect(mcpCalls.every((r) => r.authorization!.startsWith('DPoP ') && r.dpop)).toBe(true);

      // Stolen without the key, the token is useless as a Bearer token.
      const stolen = await fetch(example.mcpResource, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${tokens.access_token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      expect(stolen.status).toBe(401);
      expect(stolen.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_token"/);
      await stolen.body?.cancel();

      // Refresh keeps the binding (the refresh token of a public DPoP client is bound to the same key).
      expect(await auth(authProvider, { serverUrl, fetchFn })).toBe('AUTHORIZED');
      const refreshed = authProvider.tokens()!;
      expect(refreshed.access_token).not.toBe(tokens.access_token);
      expect(decodeJwt(refreshed.access_token).cnf).toEqual({ jkt: session.thumbprint });
      expect((await callWhoami(serverUrl, authProvider, fetchFn)).content).toEqual(result.content);
    } finally {
      await example.close();
    }
  });

  it('falls back to Dynamic Client Registration when CIMD is disabled', async () => {
    const example = await startExample({ cimdEnabled: false, dcrEnabled: true });
    const hitsBefore = host.hitsFor(DOCUMENT_PATH);
    try {
      const authProvider = new MemoryOAuthProvider(cid);
      const { requests, outcome, result } = await connect(example, authProvider);
      expect(requests.filter((r) => r.method === 'POST' && r.url === `${example.issuer}/reg`)).toHaveLength(1);
      const clientId = authProvider.clientInformation()?.client_id;
      expect(clientId).toBeDefined();
      expect(clientId).not.toBe(cid);
      expect(host.hitsFor(DOCUMENT_PATH)).toBe(hitsBefore);
      // The login page names the registered client by the name it registered.
      expect(outcome.loginPage?.body).toContain('“MCP SDK 2.x interop client”');
      expect(result.content).toEqual([
        { type: 'text', text: `You are erin, calling through client ${clientId} with scope "mcp:tools".` },
      ]);
    } finally {
      await example.close();
    }
  });
});
