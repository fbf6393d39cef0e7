/**
 * Full consent flows in Debian's Chromium (playwright-core) through the example server, each ending with a code
 * at the redirect URI:
 * - an IPv6 loopback redirect (`http://[::1]:port/callback`, goose's shape): the page's CSP must let the
 *   redirect after Allow through (Chromium rejects IPv6 literals as CSP sources);
 * - a web client that also registers a loopback redirect: approved through its https redirect, then
 *   `prompt=none` on the loopback redirect gets `consent_required`, and a normal request shows the page;
 * - with Redis as the shared store, a client whose document changed is asked again while Redis is down, and
 *   after the shared store was emptied (an eviction): what the user approved is not kept there;
 * - consent is bound to what the user saw: the page is shown, the document behind it changes, Allow is clicked,
 *   and the user is asked again, told what changed; nothing was recorded (prompt=none then gets
 *   consent_required);
 * - a private-use scheme redirect (`com.example.app:/cb`, RFC 8252 §7.1) gets the warning, and the page's CSP
 *   lets Chromium follow the redirect after Allow (shown to fail with a CSP that lacks the scheme).
 *
 * Needs /usr/bin/chromium and redis-server; skipped without Chromium, except under CI=true, where it fails.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import {
  type ClientHost,
  loopbackClientDocument,
  type RunningExample,
  startClientHost,
  startExample,
} from '../example/start-example.js';
import { CHROMIUM, CHROMIUM_PATH, describeNeeding, REDIS_SERVER } from '../helpers/capability.js';
import { startHttpsServer, type TestHttpsServer } from '../helpers/https-server.js';
import { startRedisServer, type TestRedisServer } from '../helpers/redis-server.js';

interface Callback {
  origin: string;
  hits: URL[];
  close(): Promise<void>;
}

/** The client's loopback listener on `host` (`127.0.0.1` or `::1`): where the browser lands with the code. */
async function startCallback(host: string): Promise<Callback> {
  const hits: URL[] = [];
  const server = http.createServer((req, res) => {
    hits.push(new URL(req.url ?? '/', 'http://callback'));
    res
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      .end('<!doctype html><title>Done</title><p>Signed in.</p>');
  });
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    origin: host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`,
    hits,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describeNeeding([CHROMIUM, REDIS_SERVER], 'consent flows in Chromium', () => {
  let context: BrowserContext;
  let page: Page;
  let userDataDir: string;
  // The web client's https redirect target: a local HTTPS server, addressed as https://localhost:<port>.
  let webApp: TestHttpsServer;
  let WEB_REDIRECT: string;
  let webOrigin: string;

  beforeAll(async () => {
    webApp = await startHttpsServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>App</title><p>App.</p>');
    });
    webOrigin = `https://localhost:${webApp.port}`;
    WEB_REDIRECT = `${webOrigin}/cb`;
    userDataDir = await mkdtemp(path.join(tmpdir(), 'cimd-chromium-flows-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      // The test certificate of the web client's local HTTPS server.
      ignoreHTTPSErrors: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking'],
    });
    page = context.pages()[0] ?? (await context.newPage());
  }, 30_000);

  afterAll(async () => {
    await context?.close();
    await webApp?.close();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  });

  function authorizationUrl(
    issuer: string,
    clientId: string,
    redirectUri: string,
    extra: Record<string, string> = {},
  ): { url: string; state: string } {
    const state = randomBytes(8).toString('hex');
    const url = new URL('/auth', issuer);
    url.search = new URLSearchParams({
      client_id: clientId,
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: 'openid profile',
      state,
      code_challenge: createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url'),
      code_challenge_method: 'S256',
      ...extra,
    }).toString();
    return { url: url.href, state };
  }

  /** Signs in when the login page shows, then waits for the consent page. */
  async function reachConsent(url: string, marker = 'h1'): Promise<void> {
    await page.goto(url);
    if (await page.locator('input[name="login"]').count()) {
      await page.fill('input[name="login"]', 'alice');
      await page.fill('input[name="password"]', 'demo');
      await Promise.all([page.waitForSelector(marker), page.getByRole('button', { name: 'Sign in' }).click()]);
    }
    await page.waitForSelector(marker, { timeout: 10_000 });
    expect(await page.locator('h1').textContent()).toBe('Allow access?');
  }

  /** Clicks Allow and waits until the browser is at `redirectUri` with a code and the state. */
  async function allowAndArrive(redirectUri: string, state: string): Promise<URL> {
    const target = new URL(redirectUri);
    await Promise.all([
      page.waitForURL((url) => url.origin === target.origin && url.pathname === target.pathname, { timeout: 10_000 }),
      page.getByRole('button', { name: 'Allow' }).click(),
    ]);
    const arrived = new URL(page.url());
    expect(arrived.searchParams.get('state')).toBe(state);
    expect(arrived.searchParams.get('code')).toBeTruthy();
    return arrived;
  }

  describe('in-memory example', () => {
    let example: RunningExample;
    let documents: ClientHost;
    let v6: Callback;
    let v4: Callback;

    beforeAll(async () => {
      documents = await startClientHost();
      example = await startExample({ allowLoopback: true });
      v6 = await startCallback('::1');
      v4 = await startCallback('127.0.0.1');
    }, 30_000);
    afterAll(async () => {
      await v6?.close();
      await v4?.close();
      await example?.close();
      await documents?.close();
    });

    it('IPv6 loopback redirect (goose): Allow ends at http://[::1]:port with a code', async () => {
      const redirectUri = `${v6.origin}/callback`;
      const cid = documents.publish('/goose.json', loopbackClientDocument(redirectUri, 'goose'));
      const { url, state } = authorizationUrl(example.issuer, cid, redirectUri);
      await reachConsent(url, '#loopback-warning');
      expect(await page.locator('#redirect-host').textContent()).toBe(new URL(redirectUri).host);
      await allowAndArrive(redirectUri, state);
      expect(v6.hits.some((hit) => hit.pathname === '/callback' && hit.searchParams.get('code'))).toBe(true);
    }, 30_000);

    it('binds the approval to the document shown: changed behind the page, Allow asks again and records nothing', async () => {
      const doc = (uris: string[]) => ({
        client_name: 'Bound App',
        redirect_uris: uris,
        token_endpoint_auth_method: 'none',
      });
      const evil = 'https://evil.example.net/cb';
      const cid = documents.publish('/bound.json', doc([WEB_REDIRECT]));
      const first = authorizationUrl(example.issuer, cid, WEB_REDIRECT);
      await reachConsent(first.url);
      expect(await page.locator('#changed-while-shown-warning').count()).toBe(0);

      // While the page is open, the client's document changes and this server fetches it (as a short max-age, or
      // a refresh on another instance, would make it).
      documents.publish('/bound.json', doc([WEB_REDIRECT, evil]));
      await example.cimd.refresh(cid).catch(() => example.cimd.purge(cid));

      await Promise.all([
        page.waitForSelector('#changed-while-shown-warning', { timeout: 10_000 }),
        page.getByRole('button', { name: 'Allow' }).click(),
      ]);
      expect(new URL(page.url()).origin).toBe(example.issuer);
      expect(await page.locator('h1').textContent()).toBe('Allow access?');
      expect(await page.locator('#changed-while-shown-warning li').allTextContents()).toEqual([
        `It can now send you back to: ${evil}`,
      ]);

      // The user declines the changed client; nothing was recorded for the first Allow, so a silent request
      // cannot ride on it.
      await Promise.all([
        page.waitForURL((url) => url.origin === webOrigin, { timeout: 10_000 }),
        page.getByRole('button', { name: 'Deny' }).click(),
      ]);
      expect(new URL(page.url()).searchParams.get('error')).toBe('access_denied');
      const silent = authorizationUrl(example.issuer, cid, WEB_REDIRECT, { prompt: 'none' });
      await page.goto(silent.url);
      await page.waitForURL((url) => url.origin === webOrigin);
      expect(new URL(page.url()).searchParams.get('error')).toBe('consent_required');
    }, 30_000);

    it('private-use scheme redirect: the warning, and a CSP that lets the redirect after Allow through', async () => {
      const appRedirect = 'com.example.app:/oauth/callback';
      const cid = documents.publish('/mobile.json', {
        client_name: 'Mobile App',
        redirect_uris: [appRedirect],
        token_endpoint_auth_method: 'none',
      });

      /**
       * Shows the consent page (its CSP rewritten by `csp` when given) in a new tab, clicks Allow, and reports what
       * happened. A new tab each time: Chromium hands the scheme to the OS, and the tab is left in that state.
       */
      async function allow(csp?: (policy: string) => string) {
        const previous = page;
        page = await context.newPage();
        const schemeRequests: URL[] = [];
        const onRequest = (request: { url(): string }) => {
          if (request.url().startsWith('com.example.app:')) schemeRequests.push(new URL(request.url()));
        };
        page.on('request', onRequest);
        // The CSP the consent page arrived with.
        let policy: string | undefined;
        page.on('response', (response) => {
          if (response.request().method() === 'GET' && response.url().includes('/interaction/')) {
            policy = response.headers()['content-security-policy'];
          }
        });
        try {
          const { url, state } = authorizationUrl(example.issuer, cid, appRedirect);
          await reachConsent(url, '#loopback-warning');
          if (csp) {
            // Playwright routes only the first request of a redirect chain: load the page again, directly.
            await page.route(`${example.issuer}/interaction/**`, async (route) => {
              // Only the page itself; the form posts go to the server untouched, and their redirects are the browser's.
              if (route.request().method() !== 'GET') return route.continue();
              const response = await route.fetch({ maxRedirects: 0 });
              const headers = { ...response.headers() };
              headers['content-security-policy'] = csp(headers['content-security-policy'] ?? '');
              await route.fulfill({ response, headers });
            });
            await page.goto(page.url());
            await page.waitForSelector('#loopback-warning');
          }
          expect(await page.locator('#loopback-warning').textContent()).toContain('an app on this device');
          expect(await page.locator('#redirect-host').textContent()).toBe('com.example.app:');
          await page.getByRole('button', { name: 'Allow' }).click();
          // Chromium hands the scheme to the OS (nothing here handles it); the request shows it followed the redirect.
          await page.waitForTimeout(1_500);
          return { schemeRequests, state, policy };
        } finally {
          await page.close();
          page = previous;
        }
      }

      // Control first: Chromium does not hand a second scheme navigation to the OS right after a first one, so
      // the control must not follow a real hand-off. With the scheme taken out of form-action, Chromium blocks the
      // redirect after Allow: the check below can fail.
      const blocked = await allow((policy) => policy.replace(' com.example.app:', ''));
      expect(blocked.policy).toMatch(/form-action 'self';/);
      expect(blocked.schemeRequests).toHaveLength(0);

      // The page as the plugin sends it: Chromium follows the redirect to the app, with the code and the state.
      const allowed = await allow();
      expect(allowed.policy).toContain("form-action 'self' com.example.app:;");
      expect(allowed.schemeRequests).toHaveLength(1);
      expect(allowed.schemeRequests[0]!.searchParams.get('state')).toBe(allowed.state);
      expect(allowed.schemeRequests[0]!.searchParams.get('code')).toBeTruthy();
    }, 40_000);

    it('web + loopback client: prompt=none on the loopback redirect is consent_required; the page asks; code', async () => {
      const loopback = `${v4.origin}/callback`;
      const cid = documents.publish('/mixed.json', {
        client_name: 'Mixed App',
        redirect_uris: [WEB_REDIRECT, loopback],
        token_endpoint_auth_method: 'none',
      });
      // Approved once through the https redirect.
      const first = authorizationUrl(example.issuer, cid, WEB_REDIRECT);
      await reachConsent(first.url);
      expect(await page.locator('#loopback-warning').count()).toBe(0);
      await allowAndArrive(WEB_REDIRECT, first.state);
      // The grant covers the https redirect: no page.
      const again = authorizationUrl(example.issuer, cid, WEB_REDIRECT, { prompt: 'none' });
      await page.goto(again.url);
      await page.waitForURL((u) => u.origin === webOrigin);
      expect(new URL(page.url()).searchParams.get('code')).toBeTruthy();

      // A local program presenting the same client id with the loopback redirect and prompt=none.
      const silent = authorizationUrl(example.issuer, cid, loopback, { prompt: 'none' });
      await page.goto(silent.url);
      await page.waitForURL((u) => u.origin === v4.origin);
      const answer = new URL(page.url());
      expect(answer.searchParams.get('error')).toBe('consent_required');
      expect(answer.searchParams.get('code')).toBeNull();

      // Without prompt=none, the page asks, with the loopback warning, and Allow ends with a code.
      const asked = authorizationUrl(example.issuer, cid, loopback);
      await reachConsent(asked.url, '#loopback-warning');
      expect(await page.locator('#loopback-warning').textContent()).toContain('program on this computer');
      await allowAndArrive(loopback, asked.state);
    }, 30_000);
  });

  describe('Redis-backed example', () => {
    let redis: TestRedisServer;
    let example: RunningExample;
    let documents: ClientHost;

    beforeAll(async () => {
      redis = await startRedisServer();
      documents = await startClientHost();
      example = await startExample({ allowLoopback: true, redisUrl: redis.url });
    }, 30_000);
    afterAll(async () => {
      await example?.close();
      await documents?.close();
      await redis?.close();
    });

    const web = (uris: string[]) => ({
      client_name: 'Changing App',
      redirect_uris: uris,
      token_endpoint_auth_method: 'none',
    });

    async function changeAndExpectAsked(cid: string, uris: string[], added: string): Promise<void> {
      documents.publish('/changing.json', web(uris));
      // refresh() may be refused by its per-client cool-down; purge() makes the next lookup fetch all the same.
      await example.cimd.refresh(cid).catch(() => example.cimd.purge(cid).catch(() => {}));
      const { url, state } = authorizationUrl(example.issuer, cid, WEB_REDIRECT);
      await reachConsent(url, '#changed-warning');
      expect(await page.locator('#changed-warning li').allTextContents()).toEqual([
        `It can now send you back to: ${added}`,
      ]);
      await allowAndArrive(WEB_REDIRECT, state);
    }

    it('asks again for a changed client while Redis is down, and after the shared store was emptied', async () => {
      const cid = documents.publish('/changing.json', web([WEB_REDIRECT]));
      const first = authorizationUrl(example.issuer, cid, WEB_REDIRECT);
      await reachConsent(first.url);
      await allowAndArrive(WEB_REDIRECT, first.state);

      // Redis down: the changed document must still be shown to the user.
      await redis.kill();
      await changeAndExpectAsked(cid, [WEB_REDIRECT, 'https://evil.example.net/cb'], 'https://evil.example.net/cb');

      // Redis back, then emptied (what an eviction does to every shared entry).
      await redis.restart();
      const settled = authorizationUrl(example.issuer, cid, WEB_REDIRECT, { prompt: 'none' });
      await page.goto(settled.url);
      await page.waitForURL((u) => u.origin === webOrigin);
      expect(new URL(page.url()).searchParams.get('code')).toBeTruthy();
      await redis.command('FLUSHALL');
      await changeAndExpectAsked(
        cid,
        [WEB_REDIRECT, 'https://evil.example.net/cb', 'https://evil.example.org/cb'],
        'https://evil.example.org/cb',
      );
    }, 60_000);
  });
});
