/**
 * Minimal, escape-by-default HTML for the interaction pages. Every value interpolated into `html` is escaped
 * unless it is itself the result of `html` (a `SafeHtml`), so a client-supplied string can never become markup.
 */
import { randomBytes } from 'node:crypto';
// The plugin's escaping, so the login page and the plugin's consent page escape exactly alike.
import { escapeHtml } from 'oidc-provider-cimd';

export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type Interpolation = SafeHtml | string | number | boolean | null | undefined | readonly Interpolation[];

function render(value: Interpolation): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Interpolation[]): SafeHtml {
  let out = strings[0]!;
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1]!;
  });
  return new SafeHtml(out);
}

/**
 * The look of the plugin's consent page (oidc-provider-cimd's `renderConsentPage`), so that the login page,
 * the consent page and the error pages read as one sign-in flow: a white card on grey, monospace hostnames,
 * the same buttons. The form controls are the login page's own.
 */
const STYLE = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f3f4f6; color: #1b1b1f; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 36rem; margin: 2rem auto; padding: 1.75rem 2rem; background: #fff; border-radius: 12px; box-shadow: 0 1px 4px rgba(0,0,0,.14); }
h1 { font-size: 1.5rem; margin: 0 0 1rem; }
.party { padding: .8rem 1rem; border: 1px solid #c9ccd3; border-radius: 8px; margin: 0 0 1rem; }
.label { color: #4a4d55; font-size: .85rem; margin: 0; }
.host { font: 700 1.4rem/1.25 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; margin: .1rem 0 0; overflow-wrap: anywhere; }
.supplied { margin: .1rem 0 .75rem; overflow-wrap: anywhere; }
.fine { color: #4a4d55; font-size: .85rem; overflow-wrap: anywhere; }
.warning { border: 2px solid #b00020; border-left-width: 8px; background: #fdecee; color: #4d0010; padding: .8rem 1rem; border-radius: 6px; }
.error { color: #b00020; font-weight: 600; }
label { display: block; margin-top: .75rem; font-weight: 600; }
input { font: inherit; font-weight: 400; padding: .5rem .6rem; width: 100%; border: 1px solid #6b6f78; border-radius: 6px; margin-top: .2rem; }
input:focus-visible { outline: 3px solid #f59e0b; outline-offset: 1px; }
.actions { display: flex; gap: .75rem; margin-top: 1.25rem; }
.actions form { margin: 0; }
button { font: inherit; font-weight: 600; padding: .6rem 1.4rem; border-radius: 6px; border: 1px solid #6b6f78; background: #fff; color: #1b1b1f; cursor: pointer; }
button.primary { background: #1a56db; border-color: #1a56db; color: #fff; }
button:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
`;

export interface Page {
  title: string;
  body: SafeHtml;
  /** Origins (or schemes) a form on the page may end up at after redirects, besides this server. */
  formTargets?: readonly string[];
}

export interface RenderedPage {
  body: string;
  headers: Record<string, string>;
}

/**
 * A complete page with its security headers: a strict CSP (no script at all, the one inline style allowed by
 * nonce, forms only to this origin and the client's redirect target), no framing, no caching, no referrer to other sites.
 */
export function page({ title, body, formTargets = [] }: Page): RenderedPage {
  const nonce = randomBytes(16).toString('base64');
  // Chrome applies form-action to the redirects that follow a form post as well, and the consent form's
  // final redirect goes to the client's redirect_uri, so that origin is allowed too (and nothing else).
  const formAction = ["'self'", ...formTargets].join(' ');
  const csp = [
    "default-src 'none'",
    `style-src 'nonce-${nonce}'`,
    `form-action ${formAction}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
  const document = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style nonce="${nonce}">${new SafeHtml(STYLE)}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
  return {
    body: document.value,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': csp,
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      // `same-origin`, not `no-referrer`: with no-referrer a browser sends `Origin: null` on our own form posts.
      'referrer-policy': 'same-origin',
      'cache-control': 'no-store',
      'cross-origin-opener-policy': 'same-origin',
    },
  };
}

/**
 * The CSP source that covers where a redirect URI points: its origin, its scheme for custom schemes, and its
 * scheme for an IPv6 literal host too: CSP3's host-source grammar has no IPv6 literals, so Chromium drops
 * `http://[::1]:8080` as invalid and then blocks the redirect after the form post (`http:` is the narrowest
 * source that matches).
 */
export function formTargetFor(uri: string | undefined): string | undefined {
  const url = uri === undefined ? null : URL.parse(uri);
  if (!url) return undefined;
  if (url.protocol === 'http:' || url.protocol === 'https:') {
    return url.hostname.startsWith('[') ? url.protocol : url.origin;
  }
  // Private-use schemes of native apps (com.example.app:/callback).
  return /^[a-z][a-z0-9+.-]*:$/.test(url.protocol) ? url.protocol : undefined;
}
