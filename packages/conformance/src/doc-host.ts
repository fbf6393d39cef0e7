/**
 * The kit's document host: an HTTPS server that answers each path with a scripted response and counts the
 * requests it receives per path. The counts are how the kit tells "refused before any fetch" from "refused after
 * fetching" and how it observes caching (a refetch is a second request on the same path).
 */
import { once } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { LeafCertificate } from './ca.js';

export interface HostedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Milliseconds since the epoch. */
  at: number;
}

/**
 * Answers one request. `hit` is 1 for the first request on this path, 2 for the second, and so on. A responder
 * may answer slowly (it is awaited); the socket is destroyed when the host closes.
 */
export type Responder = (req: IncomingMessage, res: ServerResponse, hit: number) => void | Promise<void>;

export interface Route {
  /** Path on the host (with the run's prefix), e.g. `/r3f2a/doc-basic`. */
  readonly path: string;
  /** Requests received on this path so far (live). */
  readonly hits: number;
  readonly requests: readonly HostedRequest[];
  /** Replaces the responder (for a document that changes between two requests). */
  respond(responder: Responder): void;
}

export interface DocHost {
  /** The port every listener shares. */
  readonly port: number;
  /** Every request on a path nobody registered. */
  readonly strayRequests: readonly HostedRequest[];
  route(path: string, responder: Responder): Route;
  /**
   * Requests received on `path`, registered or not (query strings are part of the path); with `hostname`, only
   * those whose Host header names it.
   */
  hitsOn(path: string, hostname?: string): number;
  close(): Promise<void>;
}

interface RouteState {
  path: string;
  responder: Responder;
  requests: HostedRequest[];
}

/**
 * Listens on every address in `addresses` with the same port (the first listener picks it when `port` is 0).
 * An address that cannot be bound (for example `::1` on a host without IPv6) is skipped unless it is the first.
 */
export async function startDocHost(
  certificate: LeafCertificate,
  addresses: string[],
  port = 0,
): Promise<DocHost & { boundAddresses: string[] }> {
  const routes = new Map<string, RouteState>();
  const all: HostedRequest[] = [];
  const stray: HostedRequest[] = [];
  const sockets = new Set<Socket>();

  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const record: HostedRequest = {
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      at: Date.now(),
    };
    all.push(record);
    const route = routes.get(record.path);
    if (!route) {
      stray.push(record);
      res.statusCode = 404;
      res.setHeader('content-type', 'text/plain');
      res.end('not a cimd-conformance path\n');
      return;
    }
    route.requests.push(record);
    try {
      await route.responder(req, res, route.requests.length);
    } catch {
      if (!res.headersSent) res.statusCode = 500;
      res.destroy();
    }
  };

  const servers: https.Server[] = [];
  const bound: string[] = [];
  let chosenPort = port;
  for (const [index, address] of addresses.entries()) {
    const server = https.createServer({ key: certificate.key, cert: certificate.cert }, (req, res) => {
      void handler(req, res);
    });
    server.on('tlsClientError', () => {});
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    server.listen(chosenPort, address);
    try {
      await Promise.race([
        once(server, 'listening'),
        once(server, 'error').then(([error]) => {
          throw error;
        }),
      ]);
    } catch (error) {
      if (index === 0) throw error;
      continue;
    }
    chosenPort = (server.address() as AddressInfo).port;
    servers.push(server);
    bound.push(address);
  }

  return {
    port: chosenPort,
    boundAddresses: bound,
    strayRequests: stray,
    route(path, responder) {
      if (routes.has(path)) throw new Error(`cimd-conformance: path ${path} is registered twice`);
      const state: RouteState = { path, responder, requests: [] };
      routes.set(path, state);
      return {
        path,
        get hits() {
          return state.requests.length;
        },
        get requests() {
          return state.requests;
        },
        respond(next) {
          state.responder = next;
        },
      };
    },
    hitsOn(path, hostname) {
      return all.filter(
        (request) =>
          request.path === path &&
          (hostname === undefined || URL.parse(`https://${request.headers.host ?? ''}`)?.hostname === hostname),
      ).length;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all(
        servers.map(
          (server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve())),
        ),
      );
    },
  };
}

/** Responders for the usual answers. */
export const respond = {
  /** A JSON body with `content-type: application/json` (plus `headers`). */
  json(body: unknown, headers: Record<string, string> = {}, status = 200): Responder {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    return (_req, res) => {
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        ...headers,
      });
      res.end(text);
    };
  },
  /** Raw bytes with exactly the headers given (no content-length unless given: chunked). */
  raw(body: string | Buffer, headers: Record<string, string>, status = 200): Responder {
    return (_req, res) => {
      res.writeHead(status, headers);
      res.end(body);
    };
  },
  /** An empty answer with a status and headers. */
  status(status: number, headers: Record<string, string> = {}): Responder {
    return (_req, res) => {
      res.writeHead(status, headers);
      res.end();
    };
  },
};
