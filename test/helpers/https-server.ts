/**
 * Throw-away servers for network tests: an HTTPS server using the test certificate, and a plain TCP "victim"
 * that only counts who connects to it. Both bind to an explicit address and `close()` destroys every open
 * socket, so a stalled handler can never keep a test alive.
 */
import { once } from 'node:events';
import type { IncomingHttpHeaders, RequestListener } from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { getTestCertificate } from './certs.js';

export interface LoggedRequest {
  method: string;
  /** Path and query as sent. */
  path: string;
  headers: IncomingHttpHeaders;
}

export interface TestHttpsServer {
  /** Origin, e.g. `https://127.0.0.1:40123` (IPv6 hosts are bracketed). No trailing slash. */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  /** Requests received so far (live). */
  readonly hits: number;
  /** Every request received, in order (live). */
  readonly requests: readonly LoggedRequest[];
  /** TCP connections currently open (live); 0 once the client has dropped its socket. */
  readonly openConnections: number;
  close(): Promise<void>;
}

const urlHost = (host: string) => (host.includes(':') ? `[${host}]` : host);

async function listen(server: net.Server, host: string, port: number): Promise<number> {
  server.listen(port, host);
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([error]) => {
      throw error;
    }),
  ]);
  return (server.address() as AddressInfo).port;
}

function trackSockets(server: net.Server): Set<net.Socket> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return sockets;
}

async function closeServer(server: net.Server, sockets: Set<net.Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  if (!server.listening) return;
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * Starts an HTTPS server on `host` (default 127.0.0.1) and `port` (default: any free port).
 * Rejects with EADDRINUSE when the requested port is taken.
 */
export async function startHttpsServer(
  handler: RequestListener,
  options: { host?: string; port?: number } = {},
): Promise<TestHttpsServer> {
  const host = options.host ?? '127.0.0.1';
  const { key, cert } = await getTestCertificate();
  const requests: LoggedRequest[] = [];
  const server = https.createServer({ key, cert }, (req, res) => {
    requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers });
    handler(req, res);
  });
  // A client that hangs up mid-response is expected in these tests; it is not a server failure.
  server.on('tlsClientError', () => {});
  const sockets = trackSockets(server);
  const port = await listen(server, host, options.port ?? 0);
  return {
    url: `https://${urlHost(host)}:${port}`,
    port,
    host,
    get hits() {
      return requests.length;
    },
    requests,
    get openConnections() {
      return sockets.size;
    },
    close: () => closeServer(server, sockets),
  };
}

export interface TestVictim {
  readonly host: string;
  readonly port: number;
  /** TCP connections accepted so far (live). An SSRF test asserts this stays 0. */
  readonly connections: number;
  close(): Promise<void>;
}

/**
 * A TCP listener standing in for an internal service: counts connections and drops them at once, or with
 * `hold: true` keeps them open and silent (a peer that never completes a TLS handshake) until `close()`.
 */
export async function startVictim(
  host = '127.0.0.2',
  options: { port?: number; hold?: boolean } = {},
): Promise<TestVictim> {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections += 1;
    socket.on('error', () => {});
    if (!options.hold) socket.destroy();
  });
  const sockets = trackSockets(server);
  const port = await listen(server, host, options.port ?? 0);
  return {
    host,
    port,
    get connections() {
      return connections;
    },
    close: () => closeServer(server, sockets),
  };
}

export interface TestRawTlsServer {
  readonly url: string;
  readonly port: number;
  readonly host: string;
  /** TLS connections accepted so far (live). */
  readonly connections: number;
  /** TCP connections currently open (live). */
  readonly openConnections: number;
  close(): Promise<void>;
}

/**
 * A TLS server (test certificate) that hands each connection's socket to `onSocket`, for responses an HTTP
 * server refuses to produce (a body longer than its content-length, contradictory framing headers).
 */
export async function startRawTlsServer(
  onSocket: (socket: tls.TLSSocket) => void,
  options: { host?: string; port?: number } = {},
): Promise<TestRawTlsServer> {
  const host = options.host ?? '127.0.0.1';
  const { key, cert } = await getTestCertificate();
  let connections = 0;
  const server = tls.createServer({ key, cert }, (socket) => {
    connections += 1;
    socket.on('error', () => {});
    onSocket(socket);
  });
  server.on('tlsClientError', () => {});
  const sockets = trackSockets(server);
  const port = await listen(server, host, options.port ?? 0);
  return {
    url: `https://${urlHost(host)}:${port}`,
    port,
    host,
    get connections() {
      return connections;
    },
    get openConnections() {
      return sockets.size;
    },
    close: () => closeServer(server, sockets),
  };
}

/** A port on `host` that nothing listens on (bound once, then released), for connection-refused tests. */
export async function unusedPort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  const port = await listen(server, host, 0);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
