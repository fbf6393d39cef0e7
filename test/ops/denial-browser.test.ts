/**
 * The denial page in a real browser: Debian's Chromium, driven by playwright-core, through the example server.
 * A client refused by the allow list: the page shows its host, the reason and whom to ask, styled (its style
 * passes the page's own Content-Security-Policy, which nothing else does), with no script running and no
 * request leaving the server's origin.
 *
 * Needs /usr/bin/chromium (`apt-get install chromium`; .ci/run installs it). Without it the test is skipped,
 * except under CI=true, where it fails.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { authorizationUrl, type RunningExample, startExample } from '../example/start-example.js';

const CHROMIUM = '/usr/bin/chromium';
// In the page (serialized, so self-contained; the test's TypeScript has no DOM types).
type Window = { getComputedStyle(el: unknown): Record<string, string> };
const available = existsSync(CHROMIUM);
if (!available && process.env.CI === 'true') {
  describe('denial page in Chromium', () => {
    it('needs Chromium', () => {
      throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)`);
    });
  });
}

(available ? describe : describe.skip)('denial page in Chromium', () => {
  let example: RunningExample;
  let context: BrowserContext;
  let userDataDir: string;

  beforeAll(async () => {
    example = await startExample({
      allow: ['https://allowed-app.com/client.json'],
      cimd: { denialPage: { contact: 'the IT help desk (help@corp.example)', serviceName: 'Corp sign-in' } },
    });
    userDataDir = await mkdtemp(path.join(tmpdir(), 'cimd-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'],
      viewport: { width: 760, height: 900 },
    });
  });

  afterAll(async () => {
    await context?.close();
    await example?.close();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  });

  it("shows the client's host, the reason and whom to ask, styled under the page's CSP", async () => {
    const page = context.pages()[0] ?? (await context.newPage());
    const console: string[] = [];
    const requests: string[] = [];
    page.on('console', (message) => console.push(message.text()));
    page.on('request', (request) => requests.push(request.url()));
    const cid = 'https://tools.vendorapp.com/oauth/client.json';
    const response = await page.goto(authorizationUrl(example.issuer, cid));
    expect(response?.status()).toBe(400);

    await expect(page.title()).resolves.toBe('Refused – tools.vendorapp.com');
    expect(await page.locator('h1').textContent()).toBe('This application cannot sign you in here');
    expect(await page.locator('#client-host').textContent()).toBe('tools.vendorapp.com');
    expect(await page.locator('#denial-reason').textContent()).toContain('not one of them');
    expect(await page.locator('#denial-ask').textContent()).toContain('ask the IT help desk (help@corp.example)');
    expect(await page.locator('.service').textContent()).toBe('Corp sign-in');
    for (const id of ['#client-host', '#denial-reason', '#denial-ask'])
      expect(await page.locator(id).isVisible()).toBe(true);
    expect(await page.locator('#client-id').textContent()).toBe(cid);
    // Styled: the stylesheet passed the CSP (its hash), so the host is in a monospace font and the card is white.
    const hostFont = await page
      .locator('#client-host')
      .evaluate((el) => (globalThis as unknown as Window).getComputedStyle(el).fontFamily);
    expect(String(hostFont)).toMatch(/monospace/);
    const cardColour = await page
      .locator('main')
      .evaluate((el) => (globalThis as unknown as Window).getComputedStyle(el).backgroundColor);
    expect(cardColour).toBe('rgb(255, 255, 255)');
    expect(console.filter((text) => /Content Security Policy/i.test(text))).toEqual([]);
    expect(requests.every((url) => url.startsWith(example.issuer))).toBe(true);
    expect(await page.locator('#operator-details').count()).toBe(0);
  });
});
