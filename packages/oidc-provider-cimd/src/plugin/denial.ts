/**
 * The denial page: what a user sees when this server refuses a CIMD client at the authorization endpoint (the
 * trust policy, the document rules, a document that cannot be retrieved, the fetch budget). A client does not
 * fall back to Dynamic Client Registration after a refusal, so this page is the user's only clue: it names the
 * client's host (from the client id, never the name the client supplies), says why in plain words, and whom
 * to ask. The operator gets the same facts as a {@link Denial} (option `denialPage.onDenial`), with the internal
 * detail and the configuration line that would admit the client; the page shows those only when the
 * deployment opts in (`denialPage.showDetails`) or in development (`allowLoopback`).
 *
 * Rendered through oidc-provider's `renderError`, which `configure()` wraps: every other error goes to the
 * deployment's own `renderError` (or, without one, to a plain page in the same style).
 */
import { createHash } from 'node:crypto';
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { escapeHtml, PAGE_BASE_STYLE } from '../consent/render.js';
import { RULES, type RuleId, ruleFix } from '../core/catalogue.js';
import { type CimdError, isCimdError, type RejectionCode } from '../core/errors.js';

/** What kind of refusal, for the wording and for whom the user should ask. */
export type DenialKind = 'policy' | 'document' | 'retrieval' | 'rate_limited' | 'auth_method';

/** One refusal at the authorization endpoint, as the operator sees it (`denialPage.onDenial`). */
export interface Denial {
  clientId: string;
  /** The client id's host: what the page names. */
  host: string;
  code: RejectionCode;
  rule: RuleId | undefined;
  kind: DenialKind;
  /** The reason in plain words, as on the page. */
  reason: string;
  /** Whom the page tells the user to ask. */
  ask: string;
  /** The OAuth error the provider answers (`invalid_client`, `unauthorized_client`). */
  error: string;
  /** The uniform public description of the refusal (`CimdError.publicMessage`): never addresses, never internals. */
  publicMessage: string;
  /** The precise, internal reason (may name addresses): for logs, never for users unless `showDetails`. */
  detail: string;
  /**
   * What would admit the client: for a policy refusal, the configuration line (`admitLine`, default a
   * `policy.allow` entry); for a document refusal, the fix its developer must make; otherwise undefined.
   */
  admit: string | undefined;
}

export interface DenialPageOptions {
  /** Whom users should ask about a refused client, e.g. `"the IT help desk (help@example.com)"`. Default: "the administrators of this service". */
  contact?: string;
  /** Shown above the title (the deployment's name). */
  serviceName?: string;
  /**
   * Show the operator's facts on the page (code, rule, internal detail, the line that would admit the
   * client). Default: only in development (`allowLoopback`). They may name internal addresses.
   */
  showDetails?: boolean;
  /** The configuration line that would admit a client the policy refused. Default: `policy.allow: [..., "<client id>"]`. */
  admitLine?: (clientId: string, denial: Omit<Denial, 'admit'>) => string;
  /** Receives every denial (log it: it carries what an operator needs to act). */
  onDenial?: (denial: Denial) => void;
}

const RETRIEVAL: ReadonlySet<string> = new Set([
  'rejected:address',
  'rejected:network',
  'rejected:timeout',
  'rejected:status',
  'rejected:content_type',
  'rejected:encoding',
  'rejected:size',
  'revoked',
]);

function kindOf(code: RejectionCode): DenialKind {
  if (code === 'rejected:policy') return 'policy';
  if (code === 'rate_limited') return 'rate_limited';
  if (code === 'rejected:unauthorized_client') return 'auth_method';
  if (RETRIEVAL.has(code)) return 'retrieval';
  return 'document';
}

/** The facts of a refusal, for the page and the operator. Pure. */
export function describeDenial(
  error: CimdError,
  clientId: string,
  options: Pick<DenialPageOptions, 'contact' | 'admitLine'> = {},
): Denial {
  const host = URL.parse(clientId)?.host || clientId;
  const contact = options.contact ?? 'the administrators of this service';
  const kind = kindOf(error.code);
  const deniedByList = kind === 'policy' && /deny list/.test(error.message);
  let reason: string;
  let ask: string;
  switch (kind) {
    case 'policy':
      reason = deniedByList
        ? `This service has blocked the application at ${host}.`
        : `This service only accepts applications its administrators have approved, and the application at ${host} is not one of them (yet).`;
      ask = `If you need this application, ask ${contact} to allow it, and give them the address ${host}.`;
      break;
    case 'retrieval':
      reason = `This service could not read the application's registration from ${host}: its server did not answer properly.`;
      ask = `Try again later. If it keeps happening, the problem is on the application's side: tell its developer (${host}).`;
      break;
    case 'rate_limited':
      reason = `This service is receiving too many sign-in attempts from applications at ${host} right now.`;
      ask = `Wait a few minutes and try again. If it keeps happening, tell ${contact}.`;
      break;
    case 'auth_method':
      reason = `The application at ${host} signs in with a method this service does not support.`;
      ask = `Tell the application's developer (${host}); ${contact} can tell them which methods this service supports.`;
      break;
    default: {
      const rule = error.rule ? RULES[error.rule] : undefined;
      reason = `The application at ${host} published a registration that this service cannot accept${rule ? `: it must have ${rule.requires}` : ''}.`;
      ask = `The problem is on the application's side: tell its developer (${host}). ${capitalize(contact)} cannot fix it.`;
    }
  }
  const facts: Omit<Denial, 'admit'> = {
    clientId,
    host,
    code: error.code,
    rule: error.rule,
    kind,
    reason,
    ask,
    error: error.code === 'rejected:unauthorized_client' ? 'unauthorized_client' : 'invalid_client',
    publicMessage: error.publicMessage,
    detail: error.message,
  };
  let admit: string | undefined;
  if (kind === 'policy') {
    admit = deniedByList
      ? `remove the policy.deny pattern that matches ${clientId}`
      : (options.admitLine?.(clientId, facts) ?? `policy.allow: [..., ${JSON.stringify(clientId)}]`);
  } else if (kind === 'document' && error.rule) {
    admit = `the client's developer must ${ruleFix(error.rule, clientId)}`;
  }
  return { ...facts, admit };
}

const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

// The consent page's look (consent/render.ts): the same frame, then the card, host and warning block.
const STYLE = `${PAGE_BASE_STYLE}.party { padding: .8rem 1rem; border: 1px solid #c9ccd3; border-radius: 8px; margin: 0 0 1rem; }
.label { color: #4a4d55; font-size: .85rem; margin: 0; }
.host { font: 700 1.4rem/1.25 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; margin: .1rem 0 0; overflow-wrap: anywhere; }
.warning { border: 2px solid #9a5b00; border-left-width: 8px; padding: .8rem 1rem; border-radius: 6px; margin: 0 0 1rem; background: #fff6e5; color: #3f2500; }
.warning p { margin: 0; }
.fine { color: #4a4d55; font-size: .85rem; overflow-wrap: anywhere; }
dl.details { font-size: .85rem; margin: .25rem 0 0; display: grid; grid-template-columns: max-content 1fr; gap: .2rem .75rem; }
dl.details dt { color: #4a4d55; }
dl.details dd { margin: 0; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
`;

const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

const HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  // No script, no images, no forms: the page only shows text.
  'content-security-policy': `default-src 'none'; style-src ${STYLE_HASH}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function documentOf(title: string, body: string, serviceName: string | undefined): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main aria-labelledby="title">
${serviceName ? `<p class="service">${escapeHtml(serviceName)}</p>` : ''}
${body}
</main>
</body>
</html>
`;
}

/** The denial page for `denial`. Pure: every string is escaped. */
export function renderDenialPage(
  denial: Denial,
  options: { serviceName?: string | undefined; showDetails?: boolean | undefined } = {},
): { html: string; headers: Record<string, string> } {
  const e = escapeHtml;
  const details = options.showDetails
    ? `<h2>For the administrators</h2>
<dl class="details" id="operator-details">
<dt>Code</dt><dd>${e(denial.code)}</dd>
${denial.rule ? `<dt>Rule</dt><dd>${e(denial.rule)}</dd>` : ''}
<dt>Detail</dt><dd>${e(denial.detail)}</dd>
${denial.admit ? `<dt>To admit it</dt><dd id="admit">${e(denial.admit)}</dd>` : ''}
</dl>`
    : '';
  const body = `<h1 id="title">This application cannot sign you in here</h1>
<div class="party">
  <p class="label">Application (from its client ID)</p>
  <p class="host" id="client-host">${e(denial.host)}</p>
</div>
<div class="warning" role="alert" id="denial-reason"><p>${e(denial.reason)}</p></div>
<p id="denial-ask">${e(denial.ask)}</p>
<p class="fine">Client ID: <span id="client-id">${e(denial.clientId)}</span><br>
Error: <span id="error">${e(denial.error)}</span> (<span id="error-description">${e(denial.publicMessage)}</span>)</p>
${details}`;
  return { html: documentOf(`Refused – ${denial.host}`, body, options.serviceName), headers: { ...HEADERS } };
}

type RenderError = NonNullable<Configuration['renderError']>;

/** A plain error page in the same style, for a deployment without a `renderError` of its own. */
const plainRenderError: RenderError = (ctx, out) => {
  const e = escapeHtml;
  const body = `<h1 id="title">Something went wrong</h1>
<p class="warning" id="error">${e(String(out.error ?? 'error'))}</p>
<p id="error-description">${e(String(out.error_description ?? ''))}</p>
<p class="fine">Go back to the application and try again.</p>`;
  ctx.set(HEADERS);
  ctx.body = documentOf('Something went wrong', body, undefined);
};

/**
 * Wraps `renderError`: a CIMD client refused in this request (`failureOf` finds the CimdError the lookup threw)
 * gets the denial page; everything else goes to `next`.
 */
export function denialRenderError(
  next: RenderError | undefined,
  failureOf: (ctx: KoaContextWithOIDC, clientId: string) => unknown,
  options: DenialPageOptions & { development: boolean },
): RenderError {
  const fallback = next ?? plainRenderError;
  return async (ctx, out, error) => {
    const params = (ctx.oidc?.params ?? {}) as Record<string, unknown>;
    const clientId = typeof params.client_id === 'string' ? params.client_id : undefined;
    const failure = clientId ? failureOf(ctx, clientId) : undefined;
    if (!clientId || !isCimdError(failure) || failure.code === 'rejected:url') return fallback(ctx, out, error);
    const denial = describeDenial(failure, clientId, options);
    try {
      options.onDenial?.(denial);
    } catch {}
    const page = renderDenialPage(denial, {
      serviceName: options.serviceName,
      showDetails: options.showDetails ?? options.development,
    });
    ctx.set(page.headers);
    ctx.body = page.html;
  };
}
