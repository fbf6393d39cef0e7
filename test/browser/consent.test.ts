/**
 * The consent page in a real browser: Debian's Chromium, driven by playwright-core, through the example
 * server. Login, the consent page of a loopback-only CIMD client (hostnames, warning, the client_name payload
 * inert, the logo from the server's own origin only), approval, and arrival at the loopback redirect URI with
 * a code. Then the client's document changes its redirect URIs and the page asks again, saying what changed.
 *
 * Needs /usr/bin/chromium (`apt-get install chromium`; .ci/run installs it). Without it the test is skipped,
 * except under CI=true, where it fails. `UPDATE_SCREENSHOT=1` also writes docs/consent.png (the README's).
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { circlePng } from '../consent/images.js';
import { type DocumentHost, startDocumentHost } from '../consent/support.js';
import {
  type ClientHost,
  loopbackClientDocument,
  type RunningExample,
  startClientHost,
  startExample,
} from '../example/start-example.js';
import { CHROMIUM, CHROMIUM_PATH, describeNeeding } from '../helpers/capability.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const NAME_PAYLOAD = 'Acme CLI <img src=x onerror=alert(document.domain)><script>window.pwned=1</script>';

describeNeeding([CHROMIUM], 'consent page in Chromium', () => {
  let example: RunningExample;
  let documents: ClientHost;
  let logoHost: DocumentHost;
  let callback: http.Server;
  let callbackOrigin: string;
  const callbackHits: URL[] = [];
  let context: BrowserContext;
  let page: Page;
  let userDataDir: string;
  const requests: string[] = [];
  const dialogs: string[] = [];
  let cid: string;
  let redirectUri: string;

  beforeAll(async () => {
    documents = await startClientHost();
    logoHost = await startDocumentHost();
    logoHost.route('/logo.png', { type: 'image/png', body: circlePng(96) });
    example = await startExample({ allowLoopback: true });

    // The client's loopback listener: where the browser lands with the code.
    callback = http.createServer((req, res) => {
      callbackHits.push(new URL(req.url ?? '/', callbackOrigin));
      res
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end('<!doctype html><title>Done</title><p>Signed in. You can close this window.</p>');
    });
    callback.listen(0, '127.0.0.1');
    await once(callback, 'listening');
    callbackOrigin = `http://127.0.0.1:${(callback.address() as AddressInfo).port}`;
    redirectUri = `${callbackOrigin}/callback`;
    cid = documents.publish('/cli.json', {
      ...loopbackClientDocument(redirectUri, NAME_PAYLOAD),
      logo_uri: `${logoHost.origin}/logo.png`,
      client_uri: 'https://cli.acme.example/',
    });

    userDataDir = await mkdtemp(path.join(tmpdir(), 'cimd-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 760, height: 980 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('request', (request) => requests.push(request.url()));
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
  }, 30_000);

  afterAll(async () => {
    await context?.close();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
    callback?.closeAllConnections();
    await new Promise<void>((resolve) => (callback ? callback.close(() => resolve()) : resolve()));
    await example?.close();
    await documents?.close();
    await logoHost?.close();
  });

  function authorizationUrl(): { url: string; state: string } {
    const state = randomBytes(8).toString('hex');
    const url = new URL('/auth', example.issuer);
    url.search = new URLSearchParams({
      client_id: cid,
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: 'openid profile',
      state,
      code_challenge: createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url'),
      code_challenge_method: 'S256',
    }).toString();
    return { url: url.href, state };
  }

  async function approveAndArrive(state: string): Promise<URL> {
    await Promise.all([
      page.waitForURL((url) => url.origin === callbackOrigin, { timeout: 10_000 }),
      page.getByRole('button', { name: 'Allow' }).click(),
    ]);
    const arrived = new URL(page.url());
    expect(arrived.pathname).toBe('/callback');
    expect(arrived.searchParams.get('state')).toBe(state);
    expect(arrived.searchParams.get('code')).toBeTruthy();
    expect(await page.textContent('p')).toContain('Signed in');
    return arrived;
  }

  it('logs in, shows the consent page, approves, and arrives at the loopback redirect with a code', async () => {
    const { url, state } = authorizationUrl();
    await page.goto(url);
    await page.fill('input[name="login"]', 'alice');
    await page.fill('input[name="password"]', 'demo');
    await Promise.all([
      page.waitForSelector('#loopback-warning'),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);

    // The hostnames, most prominent, and the warning, visible.
    expect(await page.locator('h1').textContent()).toBe('Allow access?');
    expect(await page.locator('#client-host').textContent()).toBe(new URL(cid).host);
    expect(await page.locator('#redirect-host').textContent()).toBe(new URL(redirectUri).host);
    const warning = page.locator('#loopback-warning');
    expect(await warning.isVisible()).toBe(true);
    expect(await warning.getAttribute('role')).toBe('alert');
    expect(await warning.textContent()).toContain('can only return to this computer');
    // (The test runs without DOM types: in-page code is given as strings.)
    const fontSize = (selector: string) =>
      page.evaluate<number>(
        `parseFloat(getComputedStyle(document.querySelector(${JSON.stringify(selector)})).fontSize)`,
      );
    expect(await fontSize('#client-host')).toBeGreaterThan(await fontSize('#client-name'));
    expect(await page.locator('#new-client-notice').isVisible()).toBe(true);

    // The client_name payload is shown as text and does nothing.
    expect(await page.locator('#client-name').textContent()).toBe(`“${NAME_PAYLOAD}”`);
    expect(await page.locator('#client-name *').count()).toBe(0);
    expect(await page.evaluate<number>('document.scripts.length')).toBe(0);
    expect(await page.evaluate<number>("document.querySelectorAll('img').length")).toBe(1);
    expect(await page.evaluate<unknown>('window.pwned')).toBeUndefined();
    expect(dialogs).toEqual([]);

    // The logo comes from the authorization server's own origin, and it rendered.
    const logo = page.locator('img.logo');
    expect(new URL((await logo.getAttribute('src'))!, example.issuer).origin).toBe(example.issuer);
    expect(
      await logo.evaluate((img: { complete: boolean; naturalWidth: number }) => img.complete && img.naturalWidth),
    ).toBe(96);

    await mkdir(path.join(ROOT, 'test-artifacts'), { recursive: true });
    const artifact = path.join(ROOT, 'test-artifacts', 'consent.png');
    await page.screenshot({ path: artifact, fullPage: true });
    if (process.env.UPDATE_SCREENSHOT === '1') {
      await mkdir(path.join(ROOT, 'docs'), { recursive: true });
      await copyFile(artifact, path.join(ROOT, 'docs', 'consent.png'));
    }

    await approveAndArrive(state);
    // The listener itself received the code (a favicon request may follow).
    const arrival = callbackHits.find((hit) => hit.pathname === '/callback');
    expect(arrival?.searchParams.get('code')).toBeTruthy();

    // The browser only ever talked to the authorization server and the loopback redirect target: never to the
    // document host, never to the logo host (which the server itself fetched from).
    const origins = new Set(requests.map((r) => new URL(r).origin));
    expect([...origins].sort()).toEqual([callbackOrigin, example.issuer].sort());
    expect(logoHost.hits('/logo.png')).toBe(1);
    expect(logoHost.server.requests[0]?.headers['user-agent']).toBe('oidc-provider-cimd');
  }, 30_000);

  it('asks again, saying what changed, once the document adds a redirect URI', async () => {
    const added = `${callbackOrigin}/other-callback`;
    documents.publish('/cli.json', {
      ...loopbackClientDocument(redirectUri, NAME_PAYLOAD),
      redirect_uris: [redirectUri, added],
      logo_uri: `${logoHost.origin}/logo.png`,
      client_uri: 'https://cli.acme.example/',
    });
    await example.cimd.refresh(cid);

    const { url, state } = authorizationUrl();
    const before = requests.length;
    // Signed in already: straight to the consent page.
    await page.goto(url);
    await page.waitForSelector('#changed-warning');
    expect(requests.slice(before).some((r) => r.includes('/login'))).toBe(false);
    const changed = page.locator('#changed-warning');
    expect(await changed.isVisible()).toBe(true);
    expect(await changed.textContent()).toContain('changed since you last allowed it');
    expect(await changed.locator('li').allTextContents()).toEqual([`It can now send you back to: ${added}`]);
    expect(await page.locator('#loopback-warning').isVisible()).toBe(true);
    await page.screenshot({ path: path.join(ROOT, 'test-artifacts', 'consent-changed.png'), fullPage: true });

    await approveAndArrive(state);
    const origins = new Set(requests.map((r) => new URL(r).origin));
    expect([...origins].sort()).toEqual([callbackOrigin, example.issuer].sort());
    expect(dialogs).toEqual([]);
  }, 30_000);
});
