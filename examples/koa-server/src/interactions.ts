/**
 * The deployment's own login page, and the consent page made by the plugin's view model and renderer
 * (oidc-provider's development interactions are off).
 *
 * Routes:
 *   GET  /interaction/:uid          the page for the current prompt (login or consent)
 *   POST /interaction/:uid/login    form fields `login`, `password` (any login, password `demo`)
 *   POST /interaction/:uid/confirm  approve the consent
 *   POST /interaction/:uid/abort    deny: the client receives `access_denied`
 *
 * Cross-site request forgery: oidc-provider binds every interaction to a SameSite=Lax cookie scoped to
 * `/interaction/<uid>`; `interactionDetails()` only finds the interaction through that cookie, and the uid in
 * the path must match it. On top of that every POST must come from this origin (`Sec-Fetch-Site` and `Origin`
 * are checked whenever the browser sends them), and only POST changes anything.
 */
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context } from 'koa';
import { errors, type Provider } from 'oidc-provider';
import { type Cimd, FINGERPRINT_FIELD, renderConsentPage } from 'oidc-provider-cimd';
import { formTargetFor, html, page, type SafeHtml } from './html.js';
import { hostOf } from './loopback.js';
import { MCP_SCOPE } from './provider.js';

export const DEMO_PASSWORD = 'demo';

type InteractionDetails = Awaited<ReturnType<Provider['interactionDetails']>>;

/** What the login page shows of the client. The consent page uses the plugin's view model instead. */
interface ClientView {
  clientId: string;
  /** Host of a URL client_id (a CIMD client), `undefined` for a registered client. */
  clientHost: string | undefined;
  /** `client_name` as the client supplied it (its document or its registration), display-safe; unverified. */
  clientName: string | undefined;
  redirectUri: string | undefined;
}

/** What the consent page says for each scope, instead of its raw name. */
export const SCOPE_TEXT: Record<string, string> = {
  openid: 'Confirm who you are',
  profile: 'See your name',
  offline_access: 'Stay connected while you are away (refresh tokens)',
  // Shown as "Use <resource host> on your behalf (call its MCP tools)".
  [MCP_SCOPE]: 'call its MCP tools',
};

/**
 * A client-supplied name made safe to show: control and bidirectional-override characters removed (they can
 * make a name read as something else), whitespace collapsed, at most 80 characters. It is escaped on output.
 */
export function displayName(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const cleaned = value
    .replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, '')
    .replace(/\s+/g, ' ')
    .trim();
  if (!cleaned) return undefined;
  return cleaned.length > 80 ? `${cleaned.slice(0, 79)}…` : cleaned;
}

class RequestRejected extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(ctx: Context, status: number, rendered: { headers: Record<string, string>; body: string }): void {
  ctx.status = status;
  ctx.set(rendered.headers);
  ctx.body = rendered.body;
}

function messagePage(title: string, text: string): ReturnType<typeof page> {
  return page({ title, body: html`<h1>${title}</h1><p>${text}</p>` });
}

/** Only POSTs from this origin (when the browser says where they come from). */
function assertSameOrigin(ctx: Context, issuerOrigin: string): void {
  const site = ctx.get('sec-fetch-site');
  if (site && site !== 'same-origin') throw new RequestRejected(403, 'This form must be sent from this site.');
  const origin = ctx.get('origin');
  if (origin && origin !== issuerOrigin) throw new RequestRejected(403, 'This form must be sent from this site.');
}

export function createInteractionRoutes({
  provider,
  issuer,
  cimd,
}: {
  provider: Provider;
  issuer: string;
  /** The plugin: its consent view model and renderer make the consent page. */
  cimd: Cimd;
}): Router {
  const issuerOrigin = new URL(issuer).origin;
  const router = new Router();
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });

  async function load(ctx: Context): Promise<InteractionDetails> {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    // The cookie names the interaction; the path must name the same one.
    if (details.uid !== ctx.params.uid) throw new errors.SessionNotFound('interaction mismatch');
    return details;
  }

  async function findClient(details: InteractionDetails) {
    const client = await provider.Client.find(String(details.params.client_id));
    if (!client) throw new RequestRejected(400, 'The application is no longer known to this server.');
    return client;
  }

  async function describeClient(details: InteractionDetails): Promise<ClientView> {
    const client = await findClient(details);
    const clientId = client.clientId;
    const requested = details.params.redirect_uri;
    return {
      clientId,
      clientHost: hostOf(clientId.startsWith('https://') ? clientId : undefined),
      clientName: displayName(client.clientName),
      redirectUri: typeof requested === 'string' ? requested : client.redirectUris?.[0],
    };
  }

  const formTargets = (view: ClientView) => {
    const target = formTargetFor(view.redirectUri);
    return target ? [target] : [];
  };

  // Errors of the interaction routes become small pages; anything unexpected stays a 500.
  router.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      if (error instanceof errors.SessionNotFound) {
        send(
          ctx,
          400,
          messagePage(
            'Sign-in expired',
            'This sign-in request has expired or was already completed. Go back to the application and start again.',
          ),
        );
      } else if (error instanceof RequestRejected) {
        send(ctx, error.status, messagePage('Request refused', error.message));
      } else {
        throw error;
      }
    }
  });

  router.get('/interaction/:uid', async (ctx) => {
    const details = await load(ctx);
    if (details.prompt.name === 'login') {
      send(ctx, 200, loginPage(details.uid, await describeClient(details)));
    } else if (details.prompt.name === 'consent') {
      send(ctx, 200, await consentPage(details));
    } else {
      throw new RequestRejected(400, `Unsupported prompt: ${details.prompt.name}`);
    }
  });

  router.post('/interaction/:uid/login', form, async (ctx) => {
    assertSameOrigin(ctx, issuerOrigin);
    const details = await load(ctx);
    if (details.prompt.name !== 'login') throw new RequestRejected(400, 'This sign-in step is already done.');
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    const login = typeof body.login === 'string' ? body.login.trim() : '';
    const password = typeof body.password === 'string' ? body.password : '';
    if (!login || login.length > 64 || password !== DEMO_PASSWORD) {
      const view = await describeClient(details);
      send(ctx, 401, loginPage(details.uid, view, { login, error: 'Wrong login or password.' }));
      return;
    }
    const redirectTo = await provider.interactionResult(
      ctx.req,
      ctx.res,
      { login: { accountId: login } },
      { mergeWithLastSubmission: false },
    );
    ctx.status = 303;
    ctx.redirect(redirectTo);
  });

  router.post('/interaction/:uid/confirm', form, async (ctx) => {
    assertSameOrigin(ctx, issuerOrigin);
    const details = await load(ctx);
    if (details.prompt.name !== 'consent' || !details.session) {
      throw new RequestRejected(400, 'There is nothing to approve.');
    }
    const missing = details.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: String(details.params.client_id) });
    if (!grant) throw new errors.SessionNotFound('grant not found');
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(resource, scopes.join(' '));
    }
    const grantId = await grant.save();
    // The fingerprint of the document the page showed (the renderer's hidden field): the plugin records the
    // approval only when it is still the current document, and asks again otherwise (docs/consent.md).
    const shown = (ctx.request.body as Record<string, unknown> | undefined)?.[FINGERPRINT_FIELD];
    const redirectTo = await provider.interactionResult(
      ctx.req,
      ctx.res,
      {
        consent: {
          ...(details.grantId ? {} : { grantId }),
          ...(typeof shown === 'string' ? { [FINGERPRINT_FIELD]: shown } : {}),
        },
      },
      { mergeWithLastSubmission: true },
    );
    ctx.status = 303;
    ctx.redirect(redirectTo);
  });

  router.post('/interaction/:uid/abort', form, async (ctx) => {
    assertSameOrigin(ctx, issuerOrigin);
    await load(ctx);
    const redirectTo = await provider.interactionResult(
      ctx.req,
      ctx.res,
      { error: 'access_denied', error_description: 'The user denied the request.' },
      { mergeWithLastSubmission: false },
    );
    ctx.status = 303;
    ctx.redirect(redirectTo);
  });

  /**
   * Who the user signs in for, in the consent page's words: the client_id's host (the one name this server
   * verified) for a CIMD client, and the name it supplied, labelled as unverified — for a registered (DCR)
   * client that name is all there is to recognise it by.
   */
  function clientHeading(view: ClientView): SafeHtml {
    const host = view.clientHost
      ? html`<p class="label">Application (from its client ID)</p><p class="host" id="client-host">${view.clientHost}</p>`
      : html`<p class="label">Application</p><p class="host" id="client-host">A registered application</p>`;
    return html`<div class="party">${host}</div>
<p class="label">Name supplied by the application (not verified by this server)</p>
<p class="supplied" id="client-name">${view.clientName ? `“${view.clientName}”` : '(no name given)'}</p>`;
  }

  function loginPage(uid: string, view: ClientView, state: { login?: string; error?: string } = {}) {
    const body = html`
<h1>Sign in</h1>
${clientHeading(view)}
${state.error ? html`<p class="error" role="alert">${state.error}</p>` : ''}
<form method="post" action="/interaction/${uid}/login" autocomplete="off" id="login-form">
  <label>Login <input name="login" required autofocus maxlength="64" value="${state.login ?? ''}"></label>
  <label>Password <input name="password" type="password" required></label>
  <p class="fine">Demo server: any login name works with the password <b>${DEMO_PASSWORD}</b>.</p>
</form>
<div class="actions">
  <button class="primary" type="submit" form="login-form">Sign in</button>
  <form method="post" action="/interaction/${uid}/abort"><button type="submit">Cancel</button></form>
</div>
`;
    return page({ title: 'Sign in', body, formTargets: formTargets(view) });
  }

  /**
   * The plugin's consent page: hostnames first, the loopback / changed-client / new-client warnings, the
   * client's name marked as supplied by it, the logo from this origin only. The forms post to the routes above;
   * their protection (interaction cookie, same-origin check, POST only) is unchanged.
   */
  async function consentPage(details: InteractionDetails) {
    const view = await cimd.consentViewModel({ interaction: details, client: await findClient(details) });
    const rendered = renderConsentPage(view, {
      approveAction: `/interaction/${details.uid}/confirm`,
      denyAction: `/interaction/${details.uid}/abort`,
      scopeDescriptions: SCOPE_TEXT,
    });
    return { headers: rendered.headers, body: rendered.html };
  }

  return router;
}
