/**
 * Contract statements of §3 "Fetching" (draft-ietf-oauth-client-id-metadata-document-03 §5 and §8 on fetching the
 * document) that had no test of their own. Each test fails when the code behind its statement is removed (checked
 * by breaking it: noted per test).
 */
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import type tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { clientDoc, configuredCimd, type DocServer, startDocServer } from '../cache/support.js';
import { startRawTlsServer, type TestRawTlsServer } from '../helpers/https-server.js';

let docs: DocServer;
beforeAll(async () => {
  docs = await startDocServer();
});
afterAll(async () => {
  await docs.close();
});

/** A plain TCP server that records connections and never answers: a proxy that would see any proxied request. */
async function startSilentServer(): Promise<{
  url: string;
  port: number;
  connections: number;
  close(): Promise<void>;
}> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get connections() {
      return connections;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('§3: no proxy, whatever the environment says', () => {
  const saved: Record<string, string | undefined> = {};
  const NAMES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'NO_PROXY', 'no_proxy'];
  afterEach(() => {
    for (const name of NAMES) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });

  // Broken by: the fetcher's dispatcher replaced with undici's EnvHttpProxyAgent (red: the proxy gets the CONNECT
  // and the fetch never reaches the document host).
  test('a set HTTPS_PROXY is ignored: the document host is reached directly and the proxy sees nothing', async () => {
    const proxy = await startSilentServer();
    try {
      for (const name of NAMES) saved[name] = process.env[name];
      for (const name of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY']) {
        process.env[name] = proxy.url;
      }
      delete process.env.NO_PROXY;
      delete process.env.no_proxy;
      const path = '/contract/proxy.json';
      const cid = docs.route(path, { body: clientDoc(docs.cid(path)) });
      const { cimd } = await configuredCimd({ timeoutMs: 2000, connectTimeoutMs: 2000 });
      try {
        expect((await cimd.resolve(cid))?.cid).toBe(cid);
      } finally {
        await cimd.close();
      }
      expect(docs.hits(path)).toBe(1);
      expect(proxy.connections).toBe(0);
    } finally {
      await proxy.close();
    }
  });
});

describe('§3: deadlines', () => {
  // Broken by: `connectTimeoutMs` not passed to the connector (red: no connect deadline, the TLS handshake hangs
  // until the whole-fetch deadline, with another error).
  test('the connect deadline (DNS + TCP + TLS): a host that accepts TCP and never speaks TLS fails at it', async () => {
    const silent = await startSilentServer();
    const { cimd, events } = await configuredCimd({ connectTimeoutMs: 300, timeoutMs: 20_000 });
    try {
      const cid = `https://127.0.0.1:${silent.port}/client.json`;
      await expect(cimd.resolve(cid)).rejects.toMatchObject({ code: 'rejected:timeout' });
      const detail = events.find((e) => e.cid === cid && e.reason !== 'fetched')?.detail ?? '';
      // At our deadline, not undici's own default connect timeout (10 s).
      expect(detail).toMatch(/connect timeout.*timeout: 300ms/i);
      expect(silent.connections).toBe(1);
    } finally {
      await cimd.close();
      await silent.close();
    }
  });

  // Broken by: the whole-fetch deadline (headers and body timeouts) not passed to the dispatcher.
  test('the whole-fetch deadline: a host that completes TLS and never answers fails at it', async () => {
    const path = '/contract/hang.json';
    // Answers after the deadline (and soon after it, so no timer outlives the file).
    const cid = docs.route(path, { body: clientDoc(docs.cid(path)), delayMs: 1000 });
    const { cimd } = await configuredCimd({ connectTimeoutMs: 20_000, timeoutMs: 300 });
    try {
      const started = performance.now();
      await expect(cimd.resolve(cid)).rejects.toMatchObject({ code: 'rejected:timeout' });
      // Not before the deadline (a lower bound does not depend on the machine's speed).
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    } finally {
      await cimd.close();
    }
  });

  // Broken by: changing either default in plugin/options.ts (red: the message names the deadline the connector
  // was built with). The connect default is read from undici's own error, which states it.
  test('the defaults are 3 s to connect and 5 s for the whole fetch', async () => {
    const silent = await startSilentServer();
    const { cimd, events } = await configuredCimd();
    try {
      const cid = `https://127.0.0.1:${silent.port}/client.json`;
      const started = performance.now();
      await expect(cimd.resolve(cid)).rejects.toMatchObject({ code: 'rejected:timeout' });
      expect(performance.now() - started).toBeGreaterThanOrEqual(2990);
      const event = events.find((e) => e.cid === cid && e.reason !== 'fetched');
      expect(event?.detail ?? '').toMatch(/timeout: 3000ms/);
    } finally {
      await cimd.close();
      await silent.close();
    }
    const path = '/contract/hang-default.json';
    const hanging = docs.route(path, { body: clientDoc(docs.cid(path)), delayMs: 6000 });
    const second = await configuredCimd();
    try {
      const started = performance.now();
      await expect(second.cimd.resolve(hanging)).rejects.toMatchObject({ code: 'rejected:timeout' });
      expect(performance.now() - started).toBeGreaterThanOrEqual(4990);
    } finally {
      await second.cimd.close();
    }
  }, 30_000);
});

describe('§3: no TLS session reuse', () => {
  let server: TestRawTlsServer;
  const reused: boolean[] = [];
  beforeAll(async () => {
    server = await startRawTlsServer((socket: tls.TLSSocket) => {
      socket.once('data', (request) => {
        reused.push(socket.isSessionReused());
        const path = /^GET (\S+)/.exec(request.toString())?.[1] ?? '/';
        const body = JSON.stringify(clientDoc(`${server.url}${path}`));
        socket.end(
          `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
            `connection: close\r\n\r\n${body}`,
        );
      });
    });
  });
  afterAll(async () => {
    await server.close();
  });

  // Broken by: `maxCachedSessions: 0` removed from the connector (red: undici's session cache resumes the
  // session of the first fetch for the next ones).
  test('every fetch makes a full TLS handshake: no session is resumed from an earlier fetch', async () => {
    const { cimd } = await configuredCimd();
    try {
      for (let i = 0; i < 4; i++) {
        const cid = `${server.url}/session-${i}.json`;
        expect((await cimd.resolve(cid))?.cid).toBe(cid);
      }
    } finally {
      await cimd.close();
    }
    expect(reused).toEqual([false, false, false, false]);
    expect(server.connections).toBe(4);
  });
});

describe('§3: what is sent and what is fetched', () => {
  // Nothing in the plugin stores cookies; this guards against adding a cookie-aware client (undici's fetch with
  // a cookie jar, a shared agent with interceptors). Broken by: sending the last Set-Cookie back (red).
  test('a Set-Cookie from the document host is never replayed on the next fetch', async () => {
    const path = '/contract/cookie.json';
    const cid = docs.route(path, {
      body: clientDoc(docs.cid(path)),
      headers: { 'set-cookie': 'session=abc123; Path=/; Secure', 'cache-control': 'no-store' },
    });
    const { cimd } = await configuredCimd();
    try {
      await cimd.resolve(cid);
      await cimd.refresh(cid);
    } finally {
      await cimd.close();
    }
    const sent = docs.headers(path);
    expect(sent.length).toBe(2);
    for (const headers of sent) {
      expect(headers.cookie).toBeUndefined();
      expect(headers.authorization).toBeUndefined();
      expect(headers['proxy-authorization']).toBeUndefined();
    }
  });

  // Broken by: validating redirect URIs by fetching them (red: the callback host counts a request).
  test('redirect_uris are never fetched, not even when they point at a reachable host', async () => {
    const path = '/contract/redirects.json';
    const callback = '/contract/callback';
    docs.route(callback, { body: 'ok' });
    const cid = docs.route(path, {
      body: clientDoc(docs.cid(path), {
        redirect_uris: [docs.cid(callback), `${docs.cid(callback)}?second`],
      }),
    });
    const { cimd } = await configuredCimd();
    try {
      expect((await cimd.resolve(cid))?.cid).toBe(cid);
    } finally {
      await cimd.close();
    }
    expect(docs.hits(callback)).toBe(0);
    expect(docs.hits(`${callback}?second`)).toBe(0);
  });
});
