/**
 * Runs the example Koa application (examples/koa-server) on 127.0.0.1 with any free port, and an HTTPS
 * "client host" that serves client metadata documents, for the example and interop tests.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CimdEvent } from 'oidc-provider-cimd';
import { type AppOptions, createApp, type ExampleApp } from '../../examples/koa-server/src/app.js';
import { generateSigningKeys, type SigningKeys } from '../../examples/koa-server/src/provider.js';
import { authorizationParams } from '../helpers/auth-flow.js';
import { getTestCertificate } from '../helpers/certs.js';
import { startHttpsServer, type TestHttpsServer } from '../helpers/https-server.js';

export interface RunningExample extends ExampleApp {
  port: number;
  /** Every plugin event, in order (live). */
  events: CimdEvent[];
  close(): Promise<void>;
}

// One RSA key per test file is enough, and keeps app start-up fast.
let keys: Promise<SigningKeys> | undefined;

/**
 * Starts the example with issuer `http://127.0.0.1:<port>`. Options default like the environment does
 * (CIMD on, DCR on, no loopback exception); the test certificate is trusted for document hosts.
 */
export async function startExample(options: Omit<Partial<AppOptions>, 'issuer'> = {}): Promise<RunningExample> {
  const server = http.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const events: CimdEvent[] = [];
  keys ??= generateSigningKeys();
  let app: ExampleApp;
  try {
    app = await createApp({
      extraCa: (await getTestCertificate()).cert,
      keys: await keys,
      log: () => {},
      ...options,
      cimd: { failureBackoffMs: 0, ...options.cimd },
      issuer: `http://127.0.0.1:${port}`,
      onEvent: (event) => {
        events.push(event);
        options.onEvent?.(event);
      },
    });
  } catch (error) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw error;
  }
  server.on('request', app.app.callback());
  return {
    ...app,
    port,
    events,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await app.close();
    },
  };
}

export interface ClientHost {
  /** `https://localhost:<port>` */
  origin: string;
  server: TestHttpsServer;
  /** Serves `document` (its `client_id` set to the URL) at `path`; returns that URL, the client_id. */
  publish(path: string, document: Record<string, unknown>): string;
  /** Requests received for `path` so far. */
  hitsFor(path: string): number;
  close(): Promise<void>;
}

/** An HTTPS server on 127.0.0.1, addressed as `https://localhost:<port>`, serving client metadata documents. */
export async function startClientHost(): Promise<ClientHost> {
  const documents = new Map<string, string>();
  const server = await startHttpsServer((req, res) => {
    const body = documents.get(req.url ?? '');
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' }).end(body);
  });
  const origin = `https://localhost:${server.port}`;
  return {
    origin,
    server,
    publish(path, document) {
      const cid = `${origin}${path}`;
      documents.set(path, JSON.stringify({ ...document, client_id: cid }));
      return cid;
    },
    hitsFor: (path) => server.requests.filter((r) => r.path === path).length,
    close: () => server.close(),
  };
}

/** A public client document whose only redirect is loopback (like a CLI or desktop MCP client). */
export function loopbackClientDocument(redirectUri: string, name = 'Example CLI'): Record<string, unknown> {
  return {
    client_name: name,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  };
}

/** An authorization request (code + PKCE S256) for `clientId`, as a URL on the example's issuer. */
export function authorizationUrl(
  issuer: string,
  clientId: string,
  redirectUri = 'http://127.0.0.1:9/callback',
  scope = 'openid',
): string {
  const url = new URL('/auth', issuer);
  url.search = new URLSearchParams(
    authorizationParams(clientId, redirectUri, { scope, state: randomBytes(8).toString('hex') }),
  ).toString();
  return url.href;
}
