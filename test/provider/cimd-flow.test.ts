/**
 * The plugin inside a real oidc-provider 9 over HTTP: CIMD clients reach the interaction and complete the
 * code flow, rejected ones get the provider's 400 page (never a redirect), static and DCR clients keep working.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authorizationParams, authorize, exchangeCode, pkcePair } from '../helpers/auth-flow.js';
import { getTestCertificate } from '../helpers/certs.js';
import { loadFixture } from '../helpers/fixtures.js';
import { startHttpsServer, type TestHttpsServer } from '../helpers/https-server.js';
import { startProvider, type TestProvider } from '../helpers/provider.js';

type Route = { status?: number; type?: string; body: string; headers?: Record<string, string> };

describe('CIMD clients in oidc-provider', () => {
  const routes = new Map<string, Route>();
  const hitsByPath = new Map<string, number>();
  let docs: TestHttpsServer;
  let op: TestProvider;

  const serve = (path: string, doc: Record<string, unknown> | string, extra: Partial<Route> = {}): string => {
    const cid = `${docs.url}${path}`;
    const body = typeof doc === 'string' ? doc : JSON.stringify({ ...doc, client_id: doc.client_id ?? cid });
    routes.set(path, { body, ...extra });
    return cid;
  };
  const hits = (path: string) => hitsByPath.get(path) ?? 0;

  beforeAll(async () => {
    docs = await startHttpsServer((req: IncomingMessage, res: ServerResponse) => {
      const path = req.url ?? '/';
      hitsByPath.set(path, hits(path) + 1);
      const route = routes.get(path);
      if (!route) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(route.status ?? 200, { 'content-type': route.type ?? 'application/json', ...route.headers });
      res.end(route.body);
    });
    const { cert } = await getTestCertificate();
    op = await startProvider({
      // The denial page's operator details (shown in development) are tested in test/ops/denial.test.ts.
      cimd: { allowLoopback: true, ca: cert, denialPage: { showDetails: false } },
      config: {
        clients: [
          {
            // A pre-registered client whose id happens to be an https URL on the document host.
            client_id: `${docs.url}/static-client`,
            client_name: 'Static',
            token_endpoint_auth_method: 'none',
            redirect_uris: ['https://static.acme.com/cb'],
          },
        ],
      },
    });
  });
  afterAll(async () => {
    await op.close();
    await docs.close();
  });

  const authParams = (cid: string, redirectUri: string, extra: Record<string, string> = {}) =>
    authorizationParams(cid, redirectUri, { state: 'st4te', ...extra });

  test('a CIMD client reaches the interaction (303) after one fetch', async () => {
    const cid = serve('/clients/zed.json', loadFixture('zed', `${docs.url}/clients/zed.json`));
    const response = await fetch(
      new URL(`/auth?${new URLSearchParams(authParams(cid, 'http://127.0.0.1:51000/callback'))}`, op.issuer),
      { redirect: 'manual' },
    );
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toMatch(/^\/interaction\//);
    expect(hits('/clients/zed.json')).toBe(1);
    expect(op.events.filter((e) => e.cid === cid).map((e) => e.reason)).toEqual(['fetched']);
  });

  test.each([
    ['claude-code', 'http://localhost:58135/callback'],
    ['claude-code', 'http://127.0.0.1:40000/callback'],
    ['claude', 'https://claude.ai/api/mcp/auth_callback'],
    ['vscode', 'http://127.0.0.1:45678/'],
    ['vscode', 'https://vscode.dev/redirect'],
    ['zed', 'http://127.0.0.1:61000/callback'],
  ] as const)('real client document %s completes code + PKCE to tokens via %s', async (name, redirectUri) => {
    const path = `/flow/${name}/${encodeURIComponent(redirectUri)}`;
    const cid = serve(path, loadFixture(name, `${docs.url}${path}`));
    const { verifier, challenge } = pkcePair();
    const flow = await authorize(op.issuer, {
      ...authParams(cid, redirectUri),
      code_challenge: challenge,
    });
    expect(flow.leftTo).toBeDefined();
    const back = flow.leftTo!;
    expect(`${back.origin}${back.pathname}`).toBe(
      new URL(redirectUri).href.replace(/\/$/, back.pathname === '/' ? '/' : ''),
    );
    expect(back.searchParams.get('state')).toBe('st4te');
    const code = back.searchParams.get('code');
    expect(code).toBeTruthy();
    const tokens = await exchangeCode(op.issuer, {
      code: code!,
      redirect_uri: redirectUri,
      client_id: cid,
      code_verifier: verifier,
    });
    expect(tokens.status).toBe(200);
    expect(typeof tokens.body.access_token).toBe('string');
    expect(typeof tokens.body.id_token).toBe('string');
    // One fetch for the whole flow: /auth, the interaction resumes and /token all hit the cache.
    expect(hits(path)).toBe(1);
  });

  test('Claude Code: a loopback redirect with another path is rejected without a redirect', async () => {
    const path = '/cc-other';
    const cid = serve(path, loadFixture('claude-code', `${docs.url}${path}`));
    const response = await fetch(
      new URL(`/auth?${new URLSearchParams(authParams(cid, 'http://127.0.0.1:40000/other'))}`, op.issuer),
      { redirect: 'manual' },
    );
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    expect(await response.text()).toMatch(/redirect_uri/);
  });

  const rejections: Array<[string, Route | Record<string, unknown>, RegExp, string]> = [
    ['status 404', { status: 404, body: '{}' }, /could not be retrieved/, 'rejected:status'],
    [
      'status 302',
      { status: 302, body: '', headers: { location: 'https://example.com/' } },
      /could not be retrieved/,
      'rejected:status',
    ],
    [
      'html bot page',
      { type: 'text/html', body: '<html>verify you are human</html>' },
      /could not be retrieved/,
      'rejected:content_type',
    ],
    ['oversized', { body: JSON.stringify({ pad: 'x'.repeat(6000) }) }, /could not be retrieved/, 'rejected:size'],
    ['not JSON', { body: '{"client_id":' }, /is invalid/, 'rejected:json'],
    [
      'client_id mismatch',
      {
        body: JSON.stringify({
          client_id: 'https://other.acme.com/x',
          client_name: 'x',
          redirect_uris: ['https://a.com/cb'],
        }),
      },
      /is invalid/,
      'rejected:client_id_mismatch',
    ],
  ];
  test.each(rejections)(
    '%s: a 400 error page, never a redirect, with a uniform message',
    async (label, route, message, reason) => {
      const path = `/bad/${encodeURIComponent(label)}`;
      const cid = `${docs.url}${path}`;
      routes.set(path, route as Route);
      const response = await fetch(
        new URL(`/auth?${new URLSearchParams(authParams(cid, 'https://a.com/cb'))}`, op.issuer),
        { redirect: 'manual' },
      );
      expect(response.status).toBe(400);
      expect(response.headers.get('location')).toBeNull();
      const page = await response.text();
      expect(page).toMatch(/invalid_client/);
      expect(page).toMatch(message);
      // No resolved address and no internal detail: the only address on the page is the client id's own host,
      // which the denial page names (docs/metrics.md "Denial page").
      expect(page.replaceAll(new URL(cid).host, '')).not.toMatch(/127\.0\.0\.1/);
      expect(op.events.filter((e) => e.cid === cid).map((e) => e.reason)).toEqual([reason]);
    },
  );

  test('an invalid document is fetched once per request and is not cached', async () => {
    const path = '/invalid-secret';
    const cid = serve(path, { client_name: 'x', redirect_uris: ['https://a.com/cb'], client_secret: 'hunter2' });
    for (let i = 1; i <= 2; i++) {
      const response = await fetch(
        new URL(`/auth?${new URLSearchParams(authParams(cid, 'https://a.com/cb'))}`, op.issuer),
        { redirect: 'manual' },
      );
      expect(response.status).toBe(400);
      expect(hits(path)).toBe(i);
    }
    expect(await op.cimd.inspect(cid)).toBeUndefined();
  });

  test('a client_id that fails the URL rules is an unknown client and causes no fetch', async () => {
    const before = docs.hits;
    const cid = `${docs.url}/x#frag`;
    const response = await fetch(
      new URL(`/auth?${new URLSearchParams(authParams(cid, 'https://a.com/cb'))}`, op.issuer),
      { redirect: 'manual' },
    );
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(/client is invalid/);
    expect(docs.hits).toBe(before);
    expect(op.events.at(-1)?.reason).toBe('rejected:url');
  });

  test('a static client with an https id is served from the registry and never fetched', async () => {
    routes.set('/static-client', { body: '{}' });
    const response = await fetch(
      new URL(
        `/auth?${new URLSearchParams(authParams(`${docs.url}/static-client`, 'https://static.acme.com/cb'))}`,
        op.issuer,
      ),
      { redirect: 'manual' },
    );
    expect(response.status).toBe(303);
    expect(hits('/static-client')).toBe(0);
  });

  test('DCR still registers clients, with ids that are not URLs', async () => {
    const response = await fetch(new URL('/reg', op.issuer), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['https://dcr.acme.com/cb'], token_endpoint_auth_method: 'none' }),
    });
    expect(response.status).toBe(201);
    const body = (await response.json()) as { client_id: string };
    expect(body.client_id).not.toMatch(/^https:\/\//);
    const auth = await fetch(
      new URL(`/auth?${new URLSearchParams(authParams(body.client_id, 'https://dcr.acme.com/cb'))}`, op.issuer),
      { redirect: 'manual' },
    );
    expect(auth.status).toBe(303);
  });
});

describe('registration ids', () => {
  test('an idFactory that produces https:// ids makes registration fail loudly', async () => {
    const op = await startProvider({
      config: {
        features: {
          devInteractions: { enabled: false },
          registration: { enabled: true, idFactory: () => 'https://shadow.acme.com/client' },
        },
      },
    });
    try {
      const response = await fetch(new URL('/reg', op.issuer), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: ['https://dcr.acme.com/cb'], token_endpoint_auth_method: 'none' }),
      });
      expect(response.status).toBe(500);
      expect(await op.provider.Client.find('https://shadow.acme.com/client').catch(() => undefined)).toBeUndefined();
    } finally {
      await op.close();
    }
  });
});
