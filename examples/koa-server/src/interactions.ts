/**
 * The deployment's own login and consent pages (oidc-provider's development interactions are off).
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
import { formTargetFor, html, page, type SafeHtml } from './html.js';
import { hostOf, isLoopbackOnlyClient } from './loopback.js';

export const DEMO_PASSWORD = 'demo';

type InteractionDetails = Awaited<ReturnType<Provider['interactionDetails']>>;

interface ClientView {
  clientId: string;
  /** Host of a URL client_id (a CIMD client), `undefined` for a registered client. */
  clientHost: string | undefined;
  clientName: string | undefined;
  redirectUri: string | undefined;
  redirectHost: string | undefined;
  loopbackOnly: boolean;
}

const SCOPE_TEXT: Record<string, string> = {
  openid: 'Confirm who you are',
  profile: 'Your name',
  offline_access: 'Stay connected while you are away (refresh tokens)',
};

class RequestRejected extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(ctx: Context, status: number, rendered: ReturnType<typeof page>): void {
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

export function createInteractionRoutes({ provider, issuer }: { provider: Provider; issuer: string }): Router {
  const issuerOrigin = new URL(issuer).origin;
  const router = new Router();
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });

  async function load(ctx: Context): Promise<InteractionDetails> {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    // The cookie names the interaction; the path must name the same one.
    if (details.uid !== ctx.params.uid) throw new errors.SessionNotFound('interaction mismatch');
    return details;
  }

  async function describeClient(details: InteractionDetails): Promise<ClientView> {
    const clientId = String(details.params.client_id);
    const client = await provider.Client.find(clientId);
    if (!client) throw new RequestRejected(400, 'The application is no longer known to this server.');
    const requested = details.params.redirect_uri;
    const redirectUri = typeof requested === 'string' ? requested : client.redirectUris?.[0];
    return {
      clientId,
      clientHost: hostOf(clientId.startsWith('https://') ? clientId : undefined),
      clientName: client.clientName,
      redirectUri,
      redirectHost: hostOf(redirectUri),
      loopbackOnly: isLoopbackOnlyClient(client.redirectUris),
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
    const view = await describeClient(details);
    if (details.prompt.name === 'login') {
      send(ctx, 200, loginPage(details.uid, view));
    } else if (details.prompt.name === 'consent') {
      send(ctx, 200, consentPage(details, view));
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
    const redirectTo = await provider.interactionResult(
      ctx.req,
      ctx.res,
      { consent: details.grantId ? {} : { grantId } },
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

  function clientHeading(view: ClientView): SafeHtml {
    return view.clientHost
      ? html`<p class="host" id="client-host">${view.clientHost}</p>`
      : html`<p class="host" id="client-host">A registered application</p>`;
  }

  function loginPage(uid: string, view: ClientView, state: { login?: string; error?: string } = {}) {
    const body = html`
<h1>Sign in</h1>
<p class="label">to continue to</p>
${clientHeading(view)}
${state.error ? html`<p class="error" role="alert">${state.error}</p>` : ''}
<form method="post" action="/interaction/${uid}/login" autocomplete="off">
  <label>Login <input name="login" required autofocus maxlength="64" value="${state.login ?? ''}"></label>
  <label>Password <input name="password" type="password" required></label>
  <p class="fine">Demo server: any login name works with the password <b>${DEMO_PASSWORD}</b>.</p>
  <div class="actions"><button class="primary" type="submit">Sign in</button></div>
</form>
<form method="post" action="/interaction/${uid}/abort"><button type="submit">Cancel</button></form>
`;
    return page({ title: 'Sign in', body, formTargets: formTargets(view) });
  }

  function consentPage(details: InteractionDetails, view: ClientView) {
    const missing = details.prompt.details as {
      missingOIDCScope?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    const items: SafeHtml[] = [];
    const resourceScopes = new Set(Object.values(missing.missingResourceScopes ?? {}).flat());
    for (const scope of missing.missingOIDCScope ?? []) {
      // A resource scope is described with its resource below.
      if (!resourceScopes.has(scope)) items.push(html`<li>${SCOPE_TEXT[scope] ?? scope}</li>`);
    }
    for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      items.push(html`<li>Use <b>${hostOf(resource) ?? resource}</b> on your behalf (${scopes.join(', ')})</li>`);
    }
    const warning = view.loopbackOnly
      ? html`
<div class="warning" id="loopback-warning" role="alert">
  <p><b>Warning: this application can only return to this computer (${view.redirectHost ?? 'localhost'}).</b></p>
  <p>Any program running on your computer can present itself as
  <b>${view.clientHost ?? view.clientId}</b>. Allow only if you started this sign-in yourself just now.</p>
</div>`
      : '';
    const body = html`
<h1>Allow access?</h1>
<p class="label">Application (from its client ID)</p>
${clientHeading(view)}
<p class="label">You will be sent back to</p>
<p class="host" id="redirect-host">${view.redirectHost ?? view.redirectUri ?? 'unknown'}</p>
${warning}
<p class="label">Name supplied by the application (not verified by this server)</p>
<p class="supplied" id="client-name">${view.clientName ? html`“${view.clientName}”` : '(no name given)'}</p>
${items.length ? html`<p class="label">It asks to</p><ul>${items}</ul>` : ''}
<p class="fine">Signed in as <b>${details.session?.accountId ?? ''}</b>. Client ID: ${view.clientId}</p>
<div class="actions">
  <form method="post" action="/interaction/${details.uid}/confirm"><button class="primary" type="submit">Allow</button></form>
  <form method="post" action="/interaction/${details.uid}/abort"><button type="submit">Deny</button></form>
</div>
`;
    return page({ title: 'Allow access?', body, formTargets: formTargets(view) });
  }

  return router;
}
