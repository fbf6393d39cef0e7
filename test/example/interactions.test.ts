/**
 * The example's own login and consent pages: what the consent page shows (draft-ietf-oauth-client-id-metadata-document-03 §9.9, README "Consent"), escaping, CSP, CSRF
 * handling, denial, and the consent prompt on every authorization of a loopback-only client.
 */
import { Browser, type BrowserResponse, parseForms } from '../helpers/browser.js';
import {
  authorizationUrl,
  type ClientHost,
  loopbackClientDocument,
  type RunningExample,
  startClientHost,
  startExample,
} from './start-example.js';

const text = (page: BrowserResponse | undefined, id: string) =>
  new RegExp(`id="${id}"[^>]*>([\\s\\S]*?)</`).exec(page?.body ?? '')?.[1]?.trim();

describe('example login and consent pages', () => {
  let host: ClientHost;
  let example: RunningExample;
  let loopbackCid: string;
  let webCid: string;
  const LOOPBACK_REDIRECT = 'http://127.0.0.1:43123/callback';
  const WEB_REDIRECT = 'https://app.example.org/oauth/callback';

  beforeAll(async () => {
    host = await startClientHost();
    example = await startExample({ allowLoopback: true });
    loopbackCid = host.publish(
      '/cli.json',
      loopbackClientDocument(LOOPBACK_REDIRECT, '<script>alert("x")</script> & "Friends"'),
    );
    webCid = host.publish('/web.json', {
      client_name: 'Web App',
      redirect_uris: [WEB_REDIRECT],
      token_endpoint_auth_method: 'none',
    });
  });
  afterAll(async () => {
    await example.close();
    await host.close();
  });

  it('shows the client_id host, the redirect host, the supplied name escaped, and the loopback warning', async () => {
    const browser = new Browser();
    const outcome = await browser.authorize(
      authorizationUrl(example.issuer, loopbackCid, LOOPBACK_REDIRECT, 'openid profile'),
    );
    expect(outcome.redirect?.origin).toBe('http://127.0.0.1:43123');
    expect(outcome.redirect?.searchParams.get('code')).toBeTruthy();

    const login = outcome.loginPage!;
    expect(text(login, 'client-host')).toBe(new URL(loopbackCid).host);

    const consent = outcome.consentPage!;
    expect(consent.status).toBe(200);
    expect(text(consent, 'client-host')).toBe(new URL(loopbackCid).host);
    expect(text(consent, 'redirect-host')).toBe('127.0.0.1:43123');
    expect(consent.body).toContain('id="loopback-warning"');
    expect(consent.body).toMatch(/Name supplied by the application/);
    expect(text(consent, 'client-name')).toBe(
      '“&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;Friends&quot;”',
    );
    expect(consent.body).not.toContain('<script>');

    for (const page of [login, consent]) {
      const csp = String(page.headers['content-security-policy']);
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toMatch(/form-action 'self' http:\/\/127\.0\.0\.1:43123(;|$)/);
      expect(csp).not.toMatch(/unsafe-inline|script-src/);
      expect(page.headers['x-frame-options']).toBe('DENY');
      expect(page.headers['cache-control']).toBe('no-store');
    }
  });

  it('asks a loopback-only client for consent again on every authorization, not other clients', async () => {
    const browser = new Browser();
    const first = await browser.authorize(
      authorizationUrl(example.issuer, loopbackCid, LOOPBACK_REDIRECT, 'openid profile'),
    );
    expect(first.consentPage).toBeDefined();
    const again = await browser.authorize(
      authorizationUrl(example.issuer, loopbackCid, LOOPBACK_REDIRECT, 'openid profile'),
    );
    expect(again.loginPage).toBeUndefined();
    expect(again.consentPage).toBeDefined();
    expect(again.redirect?.searchParams.get('code')).toBeTruthy();

    const web = await browser.authorize(authorizationUrl(example.issuer, webCid, WEB_REDIRECT, 'openid profile'));
    expect(web.consentPage).toBeDefined();
    expect(web.consentPage!.body).not.toContain('loopback-warning');
    expect(text(web.consentPage, 'redirect-host')).toBe('app.example.org');
    expect(web.redirect?.origin).toBe('https://app.example.org');
    const webAgain = await browser.authorize(authorizationUrl(example.issuer, webCid, WEB_REDIRECT, 'openid profile'));
    expect(webAgain.consentPage).toBeUndefined();
    expect(webAgain.redirect?.searchParams.get('code')).toBeTruthy();
  });

  it('rejects a wrong password and cross-site form posts', async () => {
    const browser = new Browser();
    const start = await browser.navigate(authorizationUrl(example.issuer, webCid, WEB_REDIRECT, 'openid profile'));
    const loginPage = start.last;
    expect(parseForms(loginPage)[0]?.action.pathname).toMatch(/^\/interaction\/[^/]+\/login$/);

    const wrong = await browser.submit(loginPage, { login: 'alice', password: 'nope' });
    expect(wrong.last.status).toBe(401);
    expect(wrong.last.body).toContain('Wrong login or password');

    const action = parseForms(loginPage)[0]!.action;
    const form = { login: 'alice', password: 'demo' };
    const crossOrigin = await browser.fetch(action, { form, headers: { origin: 'https://evil.example' } });
    expect(crossOrigin.status).toBe(403);
    const crossSite = await browser.fetch(action, { form, headers: { 'sec-fetch-site': 'cross-site' } });
    expect(crossSite.status).toBe(403);
    // Without the interaction cookie (another browser), the interaction is not found.
    const stranger = await new Browser().fetch(action, { form });
    expect(stranger.status).toBe(400);
    expect(stranger.body).toContain('Sign-in expired');

    const right = await browser.submit(loginPage, form);
    expect(right.last.status).toBe(200);
    expect(right.last.body).toContain('Allow access?');
  });

  it('sends access_denied to the client when the user denies', async () => {
    const outcome = await new Browser().authorize(
      authorizationUrl(example.issuer, webCid, WEB_REDIRECT, 'openid profile'),
      {
        approve: false,
      },
    );
    expect(outcome.consentPage).toBeDefined();
    expect(outcome.redirect?.origin).toBe('https://app.example.org');
    expect(outcome.redirect?.searchParams.get('error')).toBe('access_denied');
  });
});
