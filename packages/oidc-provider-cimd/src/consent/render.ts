/**
 * The consent renderer: a complete, accessible, server-rendered page from the consent view model, with no
 * script at all, every client-supplied string escaped, and its security headers (a strict
 * Content-Security-Policy among them). The hostnames come first and largest; the loopback warning is a red
 * block right under them.
 */
import { createHash } from 'node:crypto';
import { FINGERPRINT_FIELD } from './shown.js';
import type { ConsentViewModel, ConsentWarning, ConsentWarningId } from './view-model.js';
import { displayText } from './view-model.js';

export interface ConsentPageOptions {
  /** Where the Allow form posts (a path on this origin, e.g. `/interaction/<uid>/confirm`). */
  approveAction: string;
  /** Where the Deny form posts. */
  denyAction: string;
  /** Hidden fields added to both forms (a CSRF token, for instance). */
  hiddenFields?: Readonly<Record<string, string>>;
  /** Human descriptions of scopes; a scope without one is shown by name. */
  scopeDescriptions?: Readonly<Record<string, string>>;
  /** Shown above the title (the deployment's name). */
  serviceName?: string;
  /**
   * CSP `form-action` sources besides `'self'`. Default: the origin (or private-use scheme) of the view's
   * redirect URI, because Chromium applies `form-action` to the redirects that follow a form post, and the
   * approved form ends at the client's redirect URI.
   */
  formTargets?: readonly string[];
}

export interface RenderedConsentPage {
  /** The complete HTML document. */
  html: string;
  /** The `Content-Security-Policy` value to send with it (also in `headers`). */
  contentSecurityPolicy: string;
  /** Every header to send with the page (lower-case names), the CSP included. */
  headers: Record<string, string>;
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Escapes text for an HTML text node or a double-quoted attribute value. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (char) => ESCAPES[char]!);
}

class Markup {
  constructor(readonly value: string) {}
}
type Part = Markup | string | number | false | null | undefined | readonly Part[];

function part(value: Part): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Markup) return value.value;
  if (Array.isArray(value)) return value.map(part).join('');
  return escapeHtml(String(value));
}

/** Escape-by-default template: only nested `h` results pass through unescaped. */
function h(strings: TemplateStringsArray, ...values: Part[]): Markup {
  let out = strings[0]!;
  values.forEach((value, i) => {
    out += part(value) + strings[i + 1]!;
  });
  return new Markup(out);
}

/** The page frame the consent page and the denial page (plugin/denial.ts) share: one look for both. */
export const PAGE_BASE_STYLE = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f3f4f6; color: #1b1b1f; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 36rem; margin: 2rem auto; padding: 1.75rem 2rem; background: #fff; border-radius: 12px; box-shadow: 0 1px 4px rgba(0,0,0,.14); }
.service { color: #4a4d55; font-size: .85rem; margin: 0 0 .25rem; }
h1 { font-size: 1.5rem; margin: 0 0 1rem; }
h2 { font-size: 1rem; margin: 1.25rem 0 .35rem; }
`;

const STYLE = `${PAGE_BASE_STYLE}.parties { display: grid; gap: .75rem; margin: 0 0 1rem; }
.party { display: flex; gap: .9rem; align-items: center; padding: .8rem 1rem; border: 1px solid #c9ccd3; border-radius: 8px; }
.party.loopback { border: 2px solid #b00020; }
.logo { width: 48px; height: 48px; object-fit: contain; border-radius: 6px; flex: none; }
.label { color: #4a4d55; font-size: .85rem; margin: 0; }
.host { font: 700 1.4rem/1.25 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; margin: .1rem 0 0; overflow-wrap: anywhere; }
.warning { border: 2px solid; border-left-width: 8px; padding: .8rem 1rem; border-radius: 6px; margin: 0 0 1rem; }
.warning p { margin: 0; }
.warning .title { font-weight: 700; margin-bottom: .3rem; }
.warning ul { margin: .4rem 0 0; padding-left: 1.2rem; overflow-wrap: anywhere; }
.danger { border-color: #b00020; background: #fdecee; color: #4d0010; }
.caution { border-color: #9a5b00; background: #fff6e5; color: #3f2500; }
.supplied { margin: .1rem 0 .75rem; overflow-wrap: anywhere; }
.scopes { margin: .25rem 0 1rem; padding-left: 1.25rem; }
.fine { color: #4a4d55; font-size: .85rem; overflow-wrap: anywhere; }
.actions { display: flex; gap: .75rem; margin-top: 1.25rem; }
.actions form { margin: 0; }
button { font: inherit; font-weight: 600; padding: .6rem 1.4rem; border-radius: 6px; border: 1px solid #6b6f78; background: #fff; color: #1b1b1f; cursor: pointer; }
button.primary { background: #1a56db; border-color: #1a56db; color: #fff; }
button:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
`;

const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

const DEFAULT_SCOPE_TEXT: Readonly<Record<string, string>> = {
  openid: 'Confirm who you are',
  profile: 'See your name and profile',
  email: 'See your email address',
  offline_access: 'Stay connected while you are away (refresh tokens)',
};

/**
 * The CSP source that covers where a redirect URI points: its origin; its scheme for private-use schemes; and its
 * scheme too for an IPv6 literal host (`http://[::1]:8080/cb`, goose's shape). CSP3's host-source grammar
 * (W3C Content Security Policy Level 3 §2.3.1) has no IPv6 literals: Chromium drops `http://[::1]:8080` from the
 * policy as invalid, and then blocks the redirect that follows the Allow post. `http:` is the narrowest source
 * that matches it. The page has no script and only the plugin's own forms, so this only widens where those
 * forms' redirects may end.
 */
export function formTargetFor(uri: string | undefined): string | undefined {
  const url = uri === undefined ? null : URL.parse(uri);
  if (!url) return undefined;
  if (url.protocol === 'http:' || url.protocol === 'https:') {
    return url.hostname.startsWith('[') ? url.protocol : url.origin;
  }
  return /^[a-z][a-z0-9+.-]*:$/.test(url.protocol) ? url.protocol : undefined;
}

/** A CSP source list entry may not carry separators or quotes; anything else is dropped. */
const isSafeSource = (source: string) => /^[A-Za-z0-9+.\-:/[\]*']+$/.test(source);

/** The element id of each warning block (stable: tests and deployments' stylesheets use them). */
const WARNING_ELEMENT: Readonly<Record<ConsentWarningId, string>> = {
  loopback: 'loopback-warning',
  changed_while_shown: 'changed-while-shown-warning',
  changed_client: 'changed-warning',
  approval_unknown: 'confirm-again-notice',
  new_client: 'new-client-notice',
};

function warningBlock(warning: ConsentWarning): Markup {
  const id = WARNING_ELEMENT[warning.id];
  const role = warning.severity === 'danger' ? 'alert' : 'note';
  const icon = warning.severity === 'danger' ? '⚠ ' : '';
  return h`
<div class="warning ${warning.severity}" id="${id}" role="${role}">
  <p class="title">${icon}${warning.title}</p>
  <p>${warning.text}</p>
  ${warning.details.length ? h`<ul>${warning.details.map((line) => h`<li>${displayText(line)}</li>`)}</ul>` : ''}
</div>`;
}

function hidden(fields: Readonly<Record<string, string>>): Markup {
  return h`${Object.entries(fields).map(([name, value]) => h`<input type="hidden" name="${name}" value="${value}">`)}`;
}

/** Renders the consent page for `view`. Pure; send `headers` with `html`. */
export function renderConsentPage(view: ConsentViewModel, options: ConsentPageOptions): RenderedConsentPage {
  const scopeText = { ...DEFAULT_SCOPE_TEXT, ...options.scopeDescriptions };
  const describe = (scope: string) => scopeText[scope] ?? scope;

  const resourceScopes = new Set(view.resources.flatMap((r) => r.scopes));
  const items: Markup[] = [
    ...view.newScopes.filter((scope) => !resourceScopes.has(scope)).map((scope) => h`<li>${describe(scope)}</li>`),
    ...view.resources.map(
      (r) => h`<li>Use <b>${r.host ?? r.resource}</b> on your behalf (${r.scopes.map(describe).join(', ')})</li>`,
    ),
  ];
  // Nothing new to grant (a loopback client asked again): show what the request asks for.
  if (items.length === 0) items.push(...view.scopes.map((scope) => h`<li>${describe(scope)}</li>`));

  const fields = options.hiddenFields ?? {};
  const who = view.clientHost
    ? h`<p class="host" id="client-host">${view.clientHost}</p>`
    : h`<p class="host" id="client-host">A registered application</p>`;
  const logo = view.logoUrl
    ? h`<img class="logo" src="${view.logoUrl}" alt="Logo supplied by the application" width="48" height="48">`
    : '';
  const title = 'Allow access?';

  const body = h`<main aria-labelledby="consent-title">
${options.serviceName ? h`<p class="service">${options.serviceName}</p>` : ''}
<h1 id="consent-title">${title}</h1>
<section class="parties" aria-label="Who is asking">
  <div class="party">
    ${logo}
    <div>
      <p class="label">Application (from its client ID)</p>
      ${who}
    </div>
  </div>
  <div class="party${view.loopbackOnly || view.loopbackRedirect || view.privateUseRedirect ? ' loopback' : ''}">
    <div>
      <p class="label">You will be sent back to</p>
      <p class="host" id="redirect-host">${view.redirectHost ?? view.redirectUri ?? 'unknown'}</p>
    </div>
  </div>
</section>
${view.warnings.map(warningBlock)}
<p class="label">Name supplied by the application (not verified by this server)</p>
<p class="supplied" id="client-name">${view.clientName ? h`“${view.clientName.display}”` : '(no name given)'}</p>
${
  view.clientUri
    ? h`<p class="label">Website supplied by the application (not verified)</p>
<p class="supplied" id="client-uri">${view.clientUri.display}</p>`
    : ''
}
<h2>It asks to</h2>
<ul class="scopes" id="scopes">${items}</ul>
<p class="fine">${view.accountId ? h`Signed in as <b>${view.accountId}</b>. ` : ''}Client ID: <span id="client-id">${displayText(view.clientId)}</span></p>
<div class="actions">
  <form method="post" action="${options.approveAction}">${hidden({ ...fields, [FINGERPRINT_FIELD]: view.documentFingerprint })}<button class="primary" type="submit">Allow</button></form>
  <form method="post" action="${options.denyAction}">${hidden(fields)}<button type="submit">Deny</button></form>
</div>
</main>`;

  const documentHtml = h`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} – ${view.clientHost ?? 'application'}</title>
<style>${new Markup(STYLE)}</style>
</head>
<body>
${body}
</body>
</html>
`;

  const targets = (options.formTargets ?? [formTargetFor(view.redirectUri)]).filter(
    (source): source is string => typeof source === 'string' && isSafeSource(source),
  );
  const contentSecurityPolicy = [
    "default-src 'none'",
    "img-src 'self'",
    `style-src ${STYLE_HASH}`,
    `form-action ${["'self'", ...new Set(targets)].join(' ')}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');

  return {
    html: documentHtml.value,
    contentSecurityPolicy,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': contentSecurityPolicy,
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      // `same-origin`, not `no-referrer`: with no-referrer a browser sends `Origin: null` on the form posts.
      'referrer-policy': 'same-origin',
      'cache-control': 'no-store',
      'cross-origin-opener-policy': 'same-origin',
    },
  };
}
