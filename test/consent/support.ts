/**
 * A provider configured through the plugin, with an interaction handler the consent tests control: login as
 * the account the test names, then at the consent prompt build the plugin's view model (kept for assertions)
 * and approve or deny. A document host serves the client metadata documents (and logos) over HTTPS.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Adapter, type Configuration, Provider, type Provider as ProviderType } from 'oidc-provider';
import { type Cimd, type CimdOptions, type ConsentViewModel, createCimd } from 'oidc-provider-cimd';
import { Browser } from '../helpers/browser.js';
import { getTestCertificate } from '../helpers/certs.js';
import { startHttpsServer, type TestHttpsServer } from '../helpers/https-server.js';

export interface Route {
  status?: number;
  type?: string;
  body: string | Buffer;
  headers?: Record<string, string>;
  /** Send the body in chunks, without a content-length. */
  chunked?: boolean;
}

export interface DocumentHost {
  server: TestHttpsServer;
  /** `https://127.0.0.1:<port>` */
  origin: string;
  /** Serves `document` at `path` with its client_id set to the URL; returns the URL. */
  publish(path: string, document: Record<string, unknown>): string;
  route(path: string, route: Route): string;
  hits(path: string): number;
  close(): Promise<void>;
}

export async function startDocumentHost(): Promise<DocumentHost> {
  const routes = new Map<string, Route>();
  const hits = new Map<string, number>();
  const server = await startHttpsServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const route = routes.get(path);
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(route.status ?? 200, {
      'content-type': route.type ?? 'application/json',
      'cache-control': 'max-age=300',
      ...route.headers,
    });
    if (route.chunked) {
      const body = Buffer.from(route.body);
      for (let i = 0; i < body.length; i += 4096) res.write(body.subarray(i, i + 4096));
      res.end();
      return;
    }
    res.end(route.body);
  });
  return {
    server,
    origin: server.url,
    publish(path, document) {
      const cid = `${server.url}${path}`;
      routes.set(path, { body: JSON.stringify({ ...document, client_id: cid }) });
      return cid;
    },
    route(path, route) {
      routes.set(path, route);
      return `${server.url}${path}`;
    },
    hits: (path) => hits.get(path) ?? 0,
    close: () => server.close(),
  };
}

export interface ShownPrompt {
  name: string;
  reasons: string[];
  details: Record<string, unknown>;
  view?: ConsentViewModel;
}

export interface ConsentHarness {
  issuer: string;
  provider: ProviderType;
  cimd: Cimd;
  /** Every prompt shown, in order. */
  prompts: ShownPrompt[];
  /** Consent prompts shown since `mark`. */
  consentsSince(mark: number): ShownPrompt[];
  /** Whether the next consent prompts are approved (default) or denied. */
  approve: boolean;
  /**
   * Runs at every consent prompt after the view model was built and before the answer (e.g. to change the
   * client's document while the page is "shown"; setting `approve` here decides this very answer).
   */
  onConsent: ((prompt: ShownPrompt) => Promise<void> | void) | undefined;
  /** Runs at every consent prompt before the view model is built. */
  beforeView: ((prompt: ShownPrompt) => Promise<void> | void) | undefined;
  /** Extra members of the consent result (e.g. the `cimdFingerprint` a consent page passes back). */
  consentResult: ((prompt: ShownPrompt) => Record<string, unknown>) | undefined;
  /** Runs an authorization in `browser` as `account`; resolves to where the browser was sent. */
  authorize(
    browser: Browser,
    clientId: string,
    redirectUri: string,
    options?: { account?: string; prompt?: string; scope?: string },
  ): Promise<URL | undefined>;
  close(): Promise<void>;
}

export async function startConsentHarness(
  options: { cimd?: CimdOptions; config?: Configuration } = {},
): Promise<ConsentHarness> {
  const server = http.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const issuer = `http://localhost:${port}`;
  const { cert } = await getTestCertificate();
  const cimd = createCimd({
    issuer,
    allowLoopback: true,
    ca: cert,
    failureBackoffMs: 0,
    budget: { perHostBurst: 10_000 },
    ...options.cimd,
  });
  const provider = new Provider(
    issuer,
    cimd.configure({
      features: { devInteractions: { enabled: false } },
      scopes: ['openid', 'profile'],
      ...options.config,
    }),
  );
  const prompts: ShownPrompt[] = [];
  let nextAccount = 'alice';
  const harness: ConsentHarness = {
    issuer,
    provider,
    cimd,
    prompts,
    approve: true,
    onConsent: undefined,
    beforeView: undefined,
    consentResult: undefined,
    consentsSince: (mark) => prompts.slice(mark).filter((p) => p.name === 'consent'),
    async authorize(browser, clientId, redirectUri, opts = {}) {
      nextAccount = opts.account ?? 'alice';
      const verifier = randomBytes(32).toString('base64url');
      const url = new URL('/auth', issuer);
      url.search = new URLSearchParams({
        client_id: clientId,
        redirect_uri: redirectUri,
        response_type: 'code',
        scope: opts.scope ?? 'openid profile',
        state: 'st',
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
        ...(opts.prompt ? { prompt: opts.prompt } : {}),
      }).toString();
      const navigation = await browser.navigate(url);
      return navigation.leftTo;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await cimd.close();
    },
  };

  const callback = provider.callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!/^\/interaction\//.test(req.url ?? '')) {
      callback(req, res);
      return;
    }
    (async () => {
      const details = await provider.interactionDetails(req, res);
      const shown: ShownPrompt = {
        name: details.prompt.name,
        reasons: [...details.prompt.reasons],
        details: details.prompt.details as Record<string, unknown>,
      };
      prompts.push(shown);
      if (details.prompt.name === 'login') {
        await provider.interactionFinished(
          req,
          res,
          { login: { accountId: nextAccount } },
          { mergeWithLastSubmission: false },
        );
        return;
      }
      await harness.beforeView?.(shown);
      const client = await provider.Client.find(String(details.params.client_id));
      shown.view = await cimd.consentViewModel({ interaction: details, client: client! });
      await harness.onConsent?.(shown);
      if (!harness.approve) {
        await provider.interactionFinished(req, res, { error: 'access_denied' }, { mergeWithLastSubmission: false });
        return;
      }
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
      const missing = details.prompt.details as { missingOIDCScope?: string[] };
      if (missing.missingOIDCScope) grant!.addOIDCScope(missing.missingOIDCScope.join(' '));
      const grantId = await grant!.save();
      await provider.interactionFinished(
        req,
        res,
        { consent: { grantId, ...harness.consentResult?.(shown) } },
        { mergeWithLastSubmission: true },
      );
    })().catch((error: unknown) => {
      res.statusCode = 500;
      res.end(String(error));
    });
  });
  return harness;
}

/** A public client whose only redirect URIs are loopback ones (a CLI, a desktop app). */
export function loopbackDocument(redirectUris: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { client_name: 'Example CLI', redirect_uris: redirectUris, token_endpoint_auth_method: 'none', ...extra };
}

/** A public web client. */
export function webDocument(redirectUris: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { client_name: 'Web App', redirect_uris: redirectUris, token_endpoint_auth_method: 'none', ...extra };
}

export { Browser };

/**
 * An oidc-provider adapter that keeps every model in maps the test can read (`models`), and whose `CimdConsent`
 * model (the approvals) can be made to fail or to lose its rows (`state`).
 */
export function recordingAdapter() {
  const models = new Map<string, Map<string, unknown>>();
  const state = { failConsent: false, dropConsent: false, consentWrites: 0 };
  const adapter = (name: string): Adapter => {
    const rows = models.get(name) ?? new Map<string, unknown>();
    models.set(name, rows);
    const consent = name === 'CimdConsent';
    return {
      async upsert(id, payload) {
        if (consent) state.consentWrites++;
        rows.set(id, payload);
      },
      async find(id) {
        if (consent && state.failConsent) throw new Error('database down');
        if (consent && state.dropConsent) return undefined;
        return rows.get(id) as never;
      },
      async findByUid(uid) {
        for (const value of rows.values()) if ((value as { uid?: string }).uid === uid) return value as never;
        return undefined;
      },
      async findByUserCode() {
        return undefined;
      },
      async consume(id) {
        const row = rows.get(id) as Record<string, unknown> | undefined;
        if (row) row.consumed = Math.floor(Date.now() / 1000);
      },
      async destroy(id) {
        rows.delete(id);
      },
      async revokeByGrantId(grantId) {
        for (const [id, value] of rows) if ((value as { grantId?: string }).grantId === grantId) rows.delete(id);
      },
    };
  };
  return { adapter, models, state };
}
