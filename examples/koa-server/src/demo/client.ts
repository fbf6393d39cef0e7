/**
 * The demo client: it publishes its Client ID Metadata Document over HTTPS on localhost (its client_id is
 * that URL) and receives the authorization response on a loopback redirect URI, like a CLI MCP client.
 */
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface DemoClient {
  /** The client_id: `https://localhost:<port>/oauth/client-metadata.json`. */
  clientId: string;
  /** The document as served. */
  document: Record<string, unknown>;
  /** The redirect URI used in this run, on the callback listener's port. */
  redirectUri: string;
  /** How often the document was requested. */
  readonly documentHits: number;
  /** Resolves with the query of the first request to the redirect URI. */
  callback: Promise<URLSearchParams>;
  close(): Promise<void>;
}

async function listen(server: http.Server | https.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

export async function startDemoClient(tls: { key: string; cert: string }): Promise<DemoClient> {
  let documentBody = '';
  let documentHits = 0;
  const documentServer = https.createServer(tls, (req, res) => {
    if (req.method === 'GET' && req.url === '/oauth/client-metadata.json') {
      documentHits += 1;
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' }).end(documentBody);
    } else {
      res.writeHead(404).end();
    }
  });
  const documentPort = await listen(documentServer);
  const clientId = `https://localhost:${documentPort}/oauth/client-metadata.json`;

  let deliver: (query: URLSearchParams) => void = () => {};
  const callback = new Promise<URLSearchParams>((resolve) => {
    deliver = resolve;
  });
  const callbackServer = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    deliver(url.searchParams);
    res.writeHead(200, { 'content-type': 'text/plain' }).end('Authorization received; you can close this window.\n');
  });
  const callbackPort = await listen(callbackServer);

  // RFC 8252 §7.3: a loopback redirect URI is registered without a port and used with any port.
  const document = {
    client_id: clientId,
    client_name: 'CIMD demo CLI',
    client_uri: `https://localhost:${documentPort}/`,
    redirect_uris: ['http://127.0.0.1/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  };
  documentBody = JSON.stringify(document, null, 2);

  return {
    clientId,
    document,
    redirectUri: `http://127.0.0.1:${callbackPort}/callback`,
    get documentHits() {
      return documentHits;
    },
    callback,
    async close() {
      for (const server of [documentServer, callbackServer]) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  };
}
