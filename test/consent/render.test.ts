/**
 * The consent renderer: a complete page with no script, every client-supplied string escaped (XSS payloads in
 * client_name, client_uri, the redirect URI and the scope), hostnames first, the loopback warning
 * unmissable, and a strict CSP whose style hash matches the page's one style element.
 */
import { createHash } from 'node:crypto';
import { type ConsentViewModel, escapeHtml, renderConsentPage } from 'oidc-provider-cimd';
import { formTargetFor } from '../../packages/oidc-provider-cimd/src/consent/render.js';
import { buildConsentViewModel, type ConsentFacts } from '../../packages/oidc-provider-cimd/src/consent/view-model.js';

const NAME_PAYLOAD = `"><script>alert(1)</script><img src=x onerror=alert(2)>`;
const URI_PAYLOAD = `https://evil.example/"><svg/onload=alert(3)>`;
const REDIRECT_PAYLOAD = `http://127.0.0.1:47001/cb?x="><script>alert(4)</script>`;
const SCOPE_PAYLOAD = `<iframe/src=javascript:alert(5)>`;

function facts(overrides: Partial<ConsentFacts> = {}): ConsentFacts {
  return {
    uid: 'u1',
    params: {
      client_id: 'https://cli.example.com/client.json',
      redirect_uri: REDIRECT_PAYLOAD,
      scope: `openid ${SCOPE_PAYLOAD}`,
    },
    promptDetails: { missingOIDCScope: ['openid', SCOPE_PAYLOAD] },
    accountId: `alice<b onmouseover=alert(6)>`,
    clientId: 'https://cli.example.com/client.json',
    metadata: {
      client_id: 'https://cli.example.com/client.json',
      client_name: NAME_PAYLOAD,
      client_uri: URI_PAYLOAD,
      redirect_uris: ['http://127.0.0.1/cb'],
    },
    isMetadataDocumentClient: true,
    logoUrl: undefined,
    trusted: false,
    newClient: { known: true, firstSeenAt: new Date().toISOString(), users: 0, isNew: true },
    changes: [],
    documentFingerprint: 'f'.repeat(64),
    now: Date.now(),
    ...overrides,
  };
}

const render = (view: ConsentViewModel, extra: Partial<Parameters<typeof renderConsentPage>[1]> = {}) =>
  renderConsentPage(view, { approveAction: '/interaction/u1/confirm', denyAction: '/interaction/u1/abort', ...extra });

/** Every start tag of the page. Escaped text contains no `<`, so these are the page's real elements. */
const tags = (html: string) => [...html.matchAll(/<[a-zA-Z][^>]*>/g)].map((m) => m[0]);
const textOf = (html: string, id: string) => new RegExp(`id="${id}"[^>]*>([\\s\\S]*?)</`).exec(html)?.[1];

describe('consent renderer', () => {
  it('escapes every client-supplied string; no script, no event handler, no injected element', () => {
    const { html } = render(buildConsentViewModel(facts()), { hiddenFields: { csrf: `"><script>alert(7)</script>` } });
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<(svg|iframe|img)\b/i);
    expect(html).not.toMatch(/href=/i);
    for (const tag of tags(html)) {
      expect(tag).not.toMatch(/\son[a-z]+\s*=/i);
      expect(tag).not.toMatch(/javascript:/i);
    }
    // Each payload is there, escaped.
    expect(textOf(html, 'client-name')).toBe(`“${escapeHtml(NAME_PAYLOAD)}”`);
    expect(textOf(html, 'client-uri')).toBe(escapeHtml(URI_PAYLOAD));
    expect(html).toContain(escapeHtml(SCOPE_PAYLOAD));
    expect(html).toContain(escapeHtml('alice<b onmouseover=alert(6)>'));
    expect(html).toContain(`value="${escapeHtml(`"><script>alert(7)</script>`)}"`);
    // The redirect URI's host is what is shown, not the whole string.
    expect(textOf(html, 'redirect-host')).toBe('127.0.0.1:47001');
  });

  it('shows an unparseable redirect URI as escaped text', () => {
    const view = buildConsentViewModel(facts({ params: { redirect_uri: `<script>x</script>` } }));
    const { html } = render(view);
    expect(textOf(html, 'redirect-host')).toBe('&lt;script&gt;x&lt;/script&gt;');
  });

  it('sends a strict CSP whose style hash is the one style element, and the other security headers', () => {
    const { html, headers, contentSecurityPolicy } = render(buildConsentViewModel(facts()));
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
    const hash = createHash('sha256').update(style).digest('base64');
    expect(contentSecurityPolicy).toBe(
      [
        "default-src 'none'",
        "img-src 'self'",
        `style-src 'sha256-${hash}'`,
        "form-action 'self' http://127.0.0.1:47001",
        "frame-ancestors 'none'",
        "base-uri 'none'",
      ].join('; '),
    );
    expect(headers).toEqual({
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': contentSecurityPolicy,
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'same-origin',
      'cache-control': 'no-store',
      'cross-origin-opener-policy': 'same-origin',
    });
    expect(tags(html).filter((t) => /^<style/.test(t))).toEqual(['<style>']);
  });

  it('takes form-action sources from the option, or the private-use scheme, dropping anything unsafe', () => {
    const view = buildConsentViewModel(facts({ params: { redirect_uri: 'com.example.app:/cb' } }));
    expect(render(view).contentSecurityPolicy).toContain("form-action 'self' com.example.app:;");
    const custom = render(view, { formTargets: ['https://a.example', "x; script-src 'unsafe-inline'"] });
    expect(custom.contentSecurityPolicy).toContain("form-action 'self' https://a.example;");
    expect(custom.contentSecurityPolicy).not.toContain('unsafe-inline');
    expect(render(view, { formTargets: [] }).contentSecurityPolicy).toContain("form-action 'self';");
  });

  it('uses a source Chromium accepts for an IPv6 loopback redirect (no IPv6 literal in the CSP)', () => {
    // CSP3 host-source has no IPv6 literals; Chromium drops `http://[::1]:8080` and then blocks the redirect.
    const v6 = buildConsentViewModel(facts({ params: { redirect_uri: 'http://[::1]:8080/callback' } }));
    const csp = render(v6).contentSecurityPolicy;
    expect(csp).toContain("form-action 'self' http:;");
    expect(csp).not.toContain('[');
    expect(formTargetFor('http://[::1]:8080/callback')).toBe('http:');
    expect(formTargetFor('https://[2001:db8::1]/cb')).toBe('https:');
    expect(formTargetFor('http://127.0.0.1:8080/callback')).toBe('http://127.0.0.1:8080');
    expect(formTargetFor('http://localhost:8080/callback')).toBe('http://localhost:8080');
    expect(formTargetFor('https://app.example.com/cb')).toBe('https://app.example.com');
  });

  it('neutralises disguising characters in every displayed client string', () => {
    const disguised = 'Pay\u200bPal\u2028Support\u00ad\u2029\u200d\u2060\ufeff\u180e\u3164\u{e0041}';
    const view = buildConsentViewModel(
      facts({
        metadata: {
          client_id: 'x',
          client_name: disguised,
          client_uri: `https://a.example/${disguised}`,
          redirect_uris: [],
        },
      }),
    );
    expect(view.clientName?.value).toBe(disguised);
    expect(view.clientName?.display).toBe('Pay\ufffdPal\ufffdSupport\ufffd'.concat('\ufffd'.repeat(7)));
    const { html } = render(view);
    for (const char of ['\u200b', '\u2028', '\u2029', '\u00ad', '\u200d', '\u2060', '\ufeff', '\u3164']) {
      expect(html.includes(char)).toBe(false);
    }
  });

  it('is a complete, accessible page: language, title, landmarks, headings, labelled buttons', () => {
    const { html } = render(buildConsentViewModel(facts()), { serviceName: 'Example AS' });
    expect(html.startsWith('<!doctype html>\n<html lang="en">')).toBe(true);
    expect(html).toMatch(/<title>Allow access\? – cli\.example\.com<\/title>/);
    expect(html).toContain('<meta name="viewport"');
    expect(html).toContain('<main aria-labelledby="consent-title">');
    expect(html).toContain('<h1 id="consent-title">Allow access?</h1>');
    expect(html).toContain('<p class="service">Example AS</p>');
    expect(html).toMatch(
      /<form method="post" action="\/interaction\/u1\/confirm"><input type="hidden" name="cimdFingerprint" value="f{64}"><button class="primary" type="submit">Allow<\/button><\/form>/,
    );
    expect(html).toMatch(
      /<form method="post" action="\/interaction\/u1\/abort"><button type="submit">Deny<\/button><\/form>/,
    );
    expect(html).toMatch(/Name supplied by the application \(not verified by this server\)/);
  });

  it('puts the hostnames first, then the loopback warning, then the supplied name', () => {
    const { html } = render(buildConsentViewModel(facts()));
    const at = (needle: string) => html.indexOf(needle);
    expect(textOf(html, 'client-host')).toBe('cli.example.com');
    expect(at('id="client-host"')).toBeLessThan(at('id="redirect-host"'));
    expect(at('id="redirect-host"')).toBeLessThan(at('id="loopback-warning"'));
    expect(at('id="loopback-warning"')).toBeLessThan(at('id="client-name"'));
    expect(html).toMatch(/<div class="warning danger" id="loopback-warning" role="alert">/);
    expect(html).toContain('Warning: this application can only return to this computer (127.0.0.1:47001).');
    expect(html).toContain('<div class="party loopback">');
  });

  it('shows each signal only when it is on', () => {
    const none = render(
      buildConsentViewModel(
        facts({
          metadata: { client_id: 'x', redirect_uris: ['https://app.example.org/cb'] },
          params: { redirect_uri: 'https://app.example.org/cb', scope: 'openid' },
          newClient: undefined,
        }),
      ),
    ).html;
    expect(none).not.toContain('loopback-warning');
    expect(none).not.toContain('new-client-notice');
    expect(none).not.toContain('changed-warning');
    expect(none).toContain('(no name given)');
    expect(none).not.toContain('id="client-uri"');

    const all = render(
      buildConsentViewModel(
        facts({
          changes: [
            { field: 'redirect_uris', added: ['http://127.0.0.1/new'], removed: ['http://127.0.0.1/old'] },
            { field: 'token_endpoint_auth_method', from: 'none', to: 'private_key_jwt' },
          ],
        }),
      ),
    ).html;
    expect(all).toMatch(/<div class="warning caution" id="new-client-notice" role="note">/);
    expect(all).toMatch(/<div class="warning danger" id="changed-warning" role="alert">/);
    expect(all).toContain('<li>It can now send you back to: http://127.0.0.1/new</li>');
    expect(all).toContain('<li>It no longer sends you back to: http://127.0.0.1/old</li>');
    expect(all).toContain(
      '<li>How it proves its identity changed from &quot;none&quot; to &quot;private_key_jwt&quot;.</li>',
    );
  });

  it('shows the logo only from the view model path, with alternative text', () => {
    const { html } = render(buildConsentViewModel(facts({ logoUrl: '/cimd/logo/abc' })));
    expect(html).toContain(
      '<img class="logo" src="/cimd/logo/abc" alt="Logo supplied by the application" width="48" height="48">',
    );
  });

  it('lists what is asked: new scopes with descriptions, resources, or the request scopes', () => {
    const view = buildConsentViewModel(
      facts({
        promptDetails: {
          missingOIDCScope: ['openid', 'mcp:tools'],
          missingResourceScopes: { 'https://api.example.com/mcp': ['mcp:tools'] },
        },
      }),
    );
    const { html } = render(view, { scopeDescriptions: { 'mcp:tools': 'Use the tools' } });
    expect(html).toContain('<ul class="scopes" id="scopes"><li>Confirm who you are</li><li>Use');
    expect(html).toContain('<li>Use <b>api.example.com</b> on your behalf (Use the tools)</li>');

    const again = render(buildConsentViewModel(facts({ promptDetails: {}, params: { scope: 'openid profile' } }))).html;
    expect(again).toContain('<li>Confirm who you are</li><li>See your name and profile</li>');
  });
});
