/**
 * A local HTTPS host of client metadata documents (the test certificate, 127.0.0.x), cheap enough to serve
 * tens of thousands of distinct ids. What it answers depends on the path:
 *
 * - `/invalid/...`  a 200 JSON document whose `client_id` names another URL (rejected: client_id mismatch);
 * - `/missing/...`  404;
 * - `/hostile/big...`, `/hostile/html...`, `/hostile/redirect...`, `/hostile/secret...`, `/hostile/gzip...`:
 *   an oversized body, an HTML page, a 302, a document with a client_secret, a gzip-encoded body;
 * - `/slow/...`     a valid document after 50 ms (a cold herd has time to pile up);
 * - anything else   a valid document for `<origin><path>`, `cache-control: max-age=3600`.
 *
 * `hang()` makes every later request hang without an answer (a host that stopped responding) until `close()`.
 * Requests are counted in total and, unless `countPaths` is false, per path.
 */
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { AdapterPayload } from 'oidc-provider';
import { getTestCertificate } from '../../test/helpers/certs.js';

export const REDIRECT_URI = 'https://app.example.com/cb';

export interface DocServer {
  /** e.g. `https://127.0.0.1:40123` */
  readonly url: string;
  readonly hits: number;
  /** Requests for one path (0 when per-path counting is off). */
  hitsFor(path: string): number;
  /** From now on, requests get no answer at all. */
  hang(): void;
  readonly hanging: number;
  close(): Promise<void>;
}

export function documentFor(clientId: string): Record<string, unknown> {
  return {
    client_id: clientId,
    client_name: 'Bench client',
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  };
}

/**
 * The metadata the plugin derives from `documentFor(clientId)` (it adds `application_type`), as a client stored
 * in the provider's adapter would carry it.
 */
export function storedClientFor(clientId: string): AdapterPayload {
  return { ...documentFor(clientId), application_type: 'web' } as AdapterPayload;
}

export async function startDocServer(
  options: { host?: string; countPaths?: boolean; certificate?: { key: string; cert: string } } = {},
): Promise<DocServer> {
  const host = options.host ?? '127.0.0.1';
  const countPaths = options.countPaths !== false;
  const { key, cert } = options.certificate ?? (await getTestCertificate());
  const perPath = new Map<string, number>();
  const sockets = new Set<Socket>();
  let hits = 0;
  let hangs = false;
  let hanging = 0;
  let origin = '';

  const json = (res: import('node:http').ServerResponse, status: number, body: unknown, extra = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'max-age=3600', ...extra });
    res.end(JSON.stringify(body));
  };

  const server = https.createServer({ key, cert }, (req, res) => {
    hits += 1;
    const path = req.url ?? '/';
    if (countPaths) perPath.set(path, (perPath.get(path) ?? 0) + 1);
    if (hangs) {
      hanging += 1;
      return; // never answered; the socket is destroyed on close()
    }
    const cid = `${origin}${path}`;
    if (path.startsWith('/invalid/')) return json(res, 200, documentFor(`${cid}-not-me`));
    if (path.startsWith('/missing/')) return json(res, 404, { error: 'not found' });
    if (path.startsWith('/hostile/big')) return json(res, 200, { ...documentFor(cid), pad: 'x'.repeat(8000) });
    if (path.startsWith('/hostile/html')) {
      res.writeHead(200, { 'content-type': 'text/html' });
      return res.end('<html><body>Checking your browser...</body></html>');
    }
    if (path.startsWith('/hostile/redirect')) {
      res.writeHead(302, { location: `${origin}/elsewhere.json` });
      return res.end();
    }
    if (path.startsWith('/hostile/secret')) return json(res, 200, { ...documentFor(cid), client_secret: 's3cret' });
    if (path.startsWith('/hostile/gzip')) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      return res.end(gzipSync(JSON.stringify(documentFor(cid))));
    }
    if (path.startsWith('/slow/')) {
      setTimeout(() => json(res, 200, documentFor(cid)), 50);
      return;
    }
    json(res, 200, documentFor(cid));
  });
  server.on('tlsClientError', () => {});
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  origin = `https://${host}:${port}`;

  return {
    url: origin,
    get hits() {
      return hits;
    },
    hitsFor: (path) => perPath.get(path) ?? 0,
    hang() {
      hangs = true;
    },
    get hanging() {
      return hanging;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
