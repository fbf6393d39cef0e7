/**
 * fetchDocument against real HTTPS servers on 127.0.0.1 (development exception on, test certificate trusted).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { CimdError, PUBLIC_RETRIEVAL_MESSAGE } from '../../packages/oidc-provider-cimd/src/core/errors.js';
import {
  createFetcher,
  type Fetcher,
  type FetcherOptions,
} from '../../packages/oidc-provider-cimd/src/fetch/fetcher.js';
import { createAddressPolicy } from '../../packages/oidc-provider-cimd/src/rules/address-policy.js';
import { getTestCertificate } from '../helpers/certs.js';
import {
  startHttpsServer,
  startRawTlsServer,
  startVictim,
  type TestHttpsServer,
  type TestRawTlsServer,
  unusedPort,
} from '../helpers/https-server.js';
import { createResolver } from '../helpers/resolver.js';

const TIMEOUT_MS = 400;
const DOC = JSON.stringify({ client_id: 'https://app.cimd.test/client', client_name: 'App' });

function json(res: ServerResponse, status: number, body: string | Buffer, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** Writes 1 KiB chunks for as long as the client keeps reading. */
function endless(res: ServerResponse) {
  res.writeHead(200, { 'content-type': 'application/json' });
  const chunk = Buffer.alloc(1024, 0x20);
  const pump = () => {
    while (!res.destroyed && res.write(chunk)) {}
    if (!res.destroyed) res.once('drain', pump);
  };
  res.on('close', () => res.removeListener('drain', pump));
  pump();
}

let target: TestHttpsServer;
let elsewhere: TestHttpsServer;

function routes(req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url ?? '/', 'https://x');
  const status = /^\/status\/(\d{3})$/.exec(url.pathname);
  if (status) {
    const code = Number(status[1]);
    const location = `${elsewhere.url}/doc.json`;
    if (code === 204 || code === 304) res.writeHead(code, { location }).end();
    else json(res, code, DOC, { location });
    return;
  }
  const size = /^\/size\/(\d+)$/.exec(url.pathname);
  if (size) {
    const body = Buffer.alloc(Number(size[1]), 0x20);
    if (url.searchParams.has('chunked')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(body.subarray(0, 1));
      res.end(body.subarray(1));
    } else {
      json(res, 200, body);
    }
    return;
  }
  switch (url.pathname) {
    case '/doc.json':
      json(res, 200, DOC, { etag: '"v1"', 'cache-control': 'max-age=60' });
      return;
    case '/type':
      json(res, 200, DOC, { 'content-type': url.searchParams.get('ct') ?? '' });
      return;
    case '/no-type':
      res.writeHead(200, { 'content-length': Buffer.byteLength(DOC) }).end(DOC);
      return;
    case '/encoding': {
      const coding = url.searchParams.get('ce') ?? 'gzip';
      const body = coding === 'gzip' ? gzipSync(DOC) : Buffer.from(DOC);
      json(res, 200, body, { 'content-encoding': coding });
      return;
    }
    case '/declares-huge':
      // Declares far more than the cap and then stalls: reading would run into the timeout, not the size rule.
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '10000000' });
      res.write('{"a":');
      return;
    case '/endless':
      endless(res);
      return;
    case '/stall-headers':
      return;
    case '/stall-body':
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"client_id":');
      return;
    case '/conditional':
      if (
        req.headers['if-none-match'] === '"v1"' ||
        req.headers['if-modified-since'] === 'Wed, 21 Oct 2015 07:28:00 GMT'
      ) {
        res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=120' }).end();
      } else {
        json(res, 200, DOC, { etag: '"v1"', 'last-modified': 'Wed, 21 Oct 2015 07:28:00 GMT' });
      }
      return;
    case '/multi-header':
      res.setHeader('content-type', 'application/json');
      res.setHeader('x-multi', ['a', 'b']);
      res.setHeader('content-length', Buffer.byteLength(DOC));
      res.end(DOC);
      return;
    default:
      json(res, 404, '{}');
  }
}

let ca: string;
const fetchers: Fetcher[] = [];

function makeFetcher(options: Partial<FetcherOptions> = {}): Fetcher {
  const fetcher = createFetcher({
    addressPolicy: createAddressPolicy({ allowLoopback: true }),
    ca,
    timeoutMs: TIMEOUT_MS,
    connectTimeoutMs: TIMEOUT_MS,
    ...options,
  });
  fetchers.push(fetcher);
  return fetcher;
}

/** Awaits a promise that must reject with a CimdError and returns it with how long it took. */
async function failure(promise: Promise<unknown>): Promise<{ error: CimdError; ms: number }> {
  const started = performance.now();
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(CimdError);
    return { error: error as CimdError, ms: performance.now() - started };
  }
  throw new Error('expected the fetch to fail');
}

let fetcher: Fetcher;

beforeAll(async () => {
  ca = (await getTestCertificate()).cert;
  target = await startHttpsServer(routes);
  elsewhere = await startHttpsServer(routes);
  fetcher = makeFetcher();
});

afterAll(async () => {
  await Promise.all(fetchers.map((f) => f.close()));
  await Promise.all([target.close(), elsewhere.close()]);
});

describe('success', () => {
  test('200 application/json returns status, lower-cased headers and the exact body', async () => {
    const result = await fetcher.fetchDocument(`${target.url}/doc.json`);
    expect(result.status).toBe(200);
    expect(result.body.toString()).toBe(DOC);
    expect(result.headers).toMatchObject({ etag: '"v1"', 'cache-control': 'max-age=60' });
    expect(Object.keys(result.headers).every((name) => name === name.toLowerCase())).toBe(true);
  });

  test('repeated headers are joined', async () => {
    const result = await fetcher.fetchDocument(`${target.url}/multi-header`);
    expect(result.headers['x-multi']).toBe('a, b');
  });

  test('request headers: accept application/json, accept-encoding identity, no cookie or credentials', async () => {
    const before = target.requests.length;
    await fetcher.fetchDocument(`${target.url}/doc.json`);
    const seen = target.requests[before];
    expect(seen).toBeDefined();
    expect(seen!.method).toBe('GET');
    expect(seen!.path).toBe('/doc.json');
    expect(seen!.headers.accept).toBe('application/json');
    expect(seen!.headers['accept-encoding']).toBe('identity');
    expect(seen!.headers['user-agent']).toBe('oidc-provider-cimd');
    expect(seen!.headers.cookie).toBeUndefined();
    expect(seen!.headers.authorization).toBeUndefined();
  });

  test('the query string is sent', async () => {
    const before = target.requests.length;
    await fetcher.fetchDocument(`${target.url}/type?ct=application/json`);
    expect(target.requests[before]!.path).toBe('/type?ct=application/json');
  });

  test('a custom user agent is sent', async () => {
    const custom = makeFetcher({ userAgent: 'test-agent/1' });
    const before = target.requests.length;
    await custom.fetchDocument(`${target.url}/doc.json`);
    expect(target.requests[before]!.headers['user-agent']).toBe('test-agent/1');
  });
});

describe('status', () => {
  test.each([201, 204, 301, 302, 303, 307, 308, 304, 400, 404, 500, 503])('%i is rejected:status', async (code) => {
    const { error } = await failure(fetcher.fetchDocument(`${target.url}/status/${code}`));
    expect(error.code).toBe('rejected:status');
    expect(error.message).toContain(String(code));
    expect(error.publicMessage).toBe(PUBLIC_RETRIEVAL_MESSAGE);
  });

  test('a redirect is not followed: the Location server sees no request', async () => {
    const hits = elsewhere.hits;
    const { error } = await failure(fetcher.fetchDocument(`${target.url}/status/302`));
    expect(error.code).toBe('rejected:status');
    expect(elsewhere.hits).toBe(hits);
  });

  test('an error status with a huge body fails without reading it', async () => {
    const raw = await startRawTlsServer((socket) => {
      socket.write(
        'HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/html\r\ncontent-length: 100000000\r\n\r\n',
      );
      socket.write(Buffer.alloc(1024, 0x20));
    });
    try {
      const { error, ms } = await failure(makeFetcher({ timeoutMs: 5000 }).fetchDocument(`${raw.url}/`));
      expect(error.code).toBe('rejected:status');
      expect(ms).toBeLessThan(1000);
    } finally {
      await raw.close();
    }
  });
});

describe('content type', () => {
  test.each([
    'application/json',
    'application/json; charset=utf-8',
    'Application/JSON;charset=UTF-8',
    'application/x+json',
    'application/oauth-client-metadata+json',
  ])('%s is accepted', async (ct) => {
    const result = await fetcher.fetchDocument(`${target.url}/type?ct=${encodeURIComponent(ct)}`);
    expect(result.body.toString()).toBe(DOC);
  });

  test.each([
    'text/html',
    'text/html; charset=utf-8',
    'text/plain',
    'application/jsonx',
    'application/json-seq',
    'application/+json',
    'application/xml',
    'text/json',
    'multipart/form-data',
  ])('%s is rejected:content_type', async (ct) => {
    const { error } = await failure(fetcher.fetchDocument(`${target.url}/type?ct=${encodeURIComponent(ct)}`));
    expect(error.code).toBe('rejected:content_type');
  });

  test('a missing content-type is rejected', async () => {
    const { error } = await failure(fetcher.fetchDocument(`${target.url}/no-type`));
    expect(error.code).toBe('rejected:content_type');
  });

  test('text/plain passes with acceptTextPlain (and text/html still does not)', async () => {
    const lenient = makeFetcher({ acceptTextPlain: true });
    const result = await lenient.fetchDocument(
      `${target.url}/type?ct=${encodeURIComponent('text/plain; charset=utf-8')}`,
    );
    expect(result.body.toString()).toBe(DOC);
    const { error } = await failure(lenient.fetchDocument(`${target.url}/type?ct=text/html`));
    expect(error.code).toBe('rejected:content_type');
  });
});

describe('content encoding', () => {
  test.each(['gzip', 'br', 'deflate', 'identity, gzip'])('%s is rejected:encoding', async (ce) => {
    const { error } = await failure(fetcher.fetchDocument(`${target.url}/encoding?ce=${encodeURIComponent(ce)}`));
    expect(error.code).toBe('rejected:encoding');
  });

  test('explicit identity is fine', async () => {
    const result = await fetcher.fetchDocument(`${target.url}/encoding?ce=identity`);
    expect(result.body.toString()).toBe(DOC);
  });
});

describe('size', () => {
  test.each(['', '?chunked'])('5120 bytes pass (%s)', async (mode) => {
    const result = await fetcher.fetchDocument(`${target.url}/size/5120${mode}`);
    expect(result.body.length).toBe(5120);
  });

  test.each(['', '?chunked'])('5121 bytes fail (%s)', async (mode) => {
    const { error } = await failure(fetcher.fetchDocument(`${target.url}/size/5121${mode}`));
    expect(error.code).toBe('rejected:size');
  });

  test('maxBodyBytes is configurable', async () => {
    const small = makeFetcher({ maxBodyBytes: 100 });
    await expect(small.fetchDocument(`${target.url}/size/100`)).resolves.toMatchObject({ status: 200 });
    await expect(small.fetchDocument(`${target.url}/size/101?chunked`)).rejects.toMatchObject({
      code: 'rejected:size',
    });
  });

  test('a declared content-length over the cap fails at once, without reading the body', async () => {
    const slow = makeFetcher({ timeoutMs: 5000 });
    const { error, ms } = await failure(slow.fetchDocument(`${target.url}/declares-huge`));
    expect(error.code).toBe('rejected:size');
    expect(ms).toBeLessThan(1000);
  });

  test('an endless chunked body fails fast with rejected:size', async () => {
    const slow = makeFetcher({ timeoutMs: 5000 });
    const { error, ms } = await failure(slow.fetchDocument(`${target.url}/endless`));
    expect(error.code).toBe('rejected:size');
    expect(ms).toBeLessThan(1000);
  });

  describe('lying framing', () => {
    let raw: TestRawTlsServer;
    let mode = '';
    beforeAll(async () => {
      raw = await startRawTlsServer((socket) => {
        socket.once('data', () => {
          const head = 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n';
          if (mode === 'longer') {
            // Declares 10 bytes, then keeps sending.
            socket.write(`${head}content-length: 10\r\n\r\n`);
            socket.write(Buffer.alloc(64 * 1024, 0x20));
          } else {
            socket.write(`${head}content-length: 10\r\ntransfer-encoding: chunked\r\n\r\n`);
            socket.write(`2000\r\n${' '.repeat(0x2000)}\r\n`);
          }
        });
      });
    });
    afterAll(() => raw.close());

    test('a body longer than its content-length is cut at the declared length or refused', async () => {
      mode = 'longer';
      let length: number | undefined;
      try {
        length = (await fetcher.fetchDocument(`${raw.url}/`)).body.length;
      } catch (error) {
        expect(error).toBeInstanceOf(CimdError);
      }
      if (length !== undefined) expect(length).toBeLessThanOrEqual(10);
    });

    test('content-length together with transfer-encoding is refused', async () => {
      mode = 'both';
      const { error } = await failure(fetcher.fetchDocument(`${raw.url}/`));
      expect(error.code).toBe('rejected:network');
    });
  });
});

describe('timeouts and aborts', () => {
  test('a server that never sends headers: rejected:timeout within the whole-fetch timeout', async () => {
    const { error, ms } = await failure(fetcher.fetchDocument(`${target.url}/stall-headers`));
    expect(error.code).toBe('rejected:timeout');
    expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(ms).toBeLessThan(TIMEOUT_MS + 300);
  });

  test('a server that stalls the body: rejected:timeout within the whole-fetch timeout, socket closed', async () => {
    const { error, ms } = await failure(fetcher.fetchDocument(`${target.url}/stall-body`));
    expect(error.code).toBe('rejected:timeout');
    expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(ms).toBeLessThan(TIMEOUT_MS + 300);
    const deadline = Date.now() + 1000;
    while (target.openConnections > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(target.openConnections).toBe(0);
  });

  test('a connect that never completes the TLS handshake: rejected:timeout', async () => {
    // Accepts TCP but never speaks TLS.
    const silent = await startVictim('127.0.0.2', { hold: true });
    try {
      const { error, ms } = await failure(
        makeFetcher({ connectTimeoutMs: 200, timeoutMs: 2000 }).fetchDocument(`https://127.0.0.2:${silent.port}/`),
      );
      expect(error.code).toBe('rejected:timeout');
      expect(ms).toBeLessThan(1000);
    } finally {
      await silent.close();
    }
  });

  test('an external signal aborts the fetch', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const slow = makeFetcher({ timeoutMs: 5000 });
    const { error, ms } = await failure(
      slow.fetchDocument(`${target.url}/stall-headers`, undefined, controller.signal),
    );
    expect(error.code).toBe('rejected:timeout');
    expect(ms).toBeLessThan(1000);
  });

  test('an already aborted signal fails without a request', async () => {
    const hits = target.hits;
    const { error } = await failure(fetcher.fetchDocument(`${target.url}/doc.json`, undefined, AbortSignal.abort()));
    expect(error).toBeInstanceOf(CimdError);
    expect(target.hits).toBe(hits);
  });
});

describe('conditional requests', () => {
  test('If-None-Match is sent and a 304 is a success with an empty body', async () => {
    const before = target.requests.length;
    const result = await fetcher.fetchDocument(`${target.url}/conditional`, { etag: '"v1"' });
    expect(target.requests[before]!.headers['if-none-match']).toBe('"v1"');
    expect(result.status).toBe(304);
    expect(result.body.length).toBe(0);
    expect(result.headers['cache-control']).toBe('max-age=120');
  });

  test('If-Modified-Since is sent and a 304 is a success', async () => {
    const before = target.requests.length;
    const lastModified = 'Wed, 21 Oct 2015 07:28:00 GMT';
    const result = await fetcher.fetchDocument(`${target.url}/conditional`, { lastModified });
    expect(target.requests[before]!.headers['if-modified-since']).toBe(lastModified);
    expect(result.status).toBe(304);
  });

  test('a conditional request can still get a 200 with the full body', async () => {
    const result = await fetcher.fetchDocument(`${target.url}/conditional`, { etag: '"v0"' });
    expect(result.status).toBe(200);
    expect(result.body.toString()).toBe(DOC);
  });

  test('without validators no conditional header is sent and a 304 is an error', async () => {
    const before = target.requests.length;
    const { error } = await failure(fetcher.fetchDocument(`${target.url}/status/304`, {}));
    expect(error.code).toBe('rejected:status');
    expect(target.requests[before]!.headers['if-none-match']).toBeUndefined();
    expect(target.requests[before]!.headers['if-modified-since']).toBeUndefined();
  });
});

describe('network failures', () => {
  test('an untrusted certificate is rejected:network and no request is sent', async () => {
    const untrusting = createFetcher({ addressPolicy: createAddressPolicy({ allowLoopback: true }), timeoutMs: 1000 });
    fetchers.push(untrusting);
    const hits = target.hits;
    const { error } = await failure(untrusting.fetchDocument(`${target.url}/doc.json`));
    expect(error.code).toBe('rejected:network');
    expect(target.hits).toBe(hits);
  });

  test('a certificate for another name is rejected:network', async () => {
    // 127.0.0.1 resolved under a name the certificate does not cover.
    const lookup = createResolver({ 'other.example.org': ['127.0.0.1'] });
    const { error } = await failure(
      makeFetcher({ lookup }).fetchDocument(`https://other.example.org:${target.port}/doc.json`),
    );
    expect(error.code).toBe('rejected:network');
    expect(lookup.calls.length).toBeGreaterThan(0);
  });

  test('connection refused is rejected:network', async () => {
    const port = await unusedPort();
    const { error, ms } = await failure(fetcher.fetchDocument(`https://127.0.0.1:${port}/doc.json`));
    expect(error.code).toBe('rejected:network');
    expect(ms).toBeLessThan(TIMEOUT_MS);
  });

  test('a name that does not resolve is rejected:network', async () => {
    const lookup = createResolver({});
    const { error } = await failure(makeFetcher({ lookup }).fetchDocument(`https://nowhere.cimd.test/doc.json`));
    expect(error.code).toBe('rejected:network');
    expect(lookup.calls.map((call) => call.hostname)).toEqual(['nowhere.cimd.test']);
  });

  test('a name resolved by the injected resolver reaches the server', async () => {
    const lookup = createResolver({ 'app.cimd.test': ['127.0.0.1'] });
    const result = await makeFetcher({ lookup }).fetchDocument(`https://app.cimd.test:${target.port}/doc.json`);
    expect(result.body.toString()).toBe(DOC);
  });

  test.each(['http://127.0.0.1/doc.json', 'ftp://example.com/x', 'not a url'])('%s is rejected:url', async (url) => {
    const { error } = await failure(fetcher.fetchDocument(url));
    expect(error.code).toBe('rejected:url');
  });
});

describe('get (generic guarded GET)', () => {
  test('sends the given accept header and applies the caller’s type predicate and cap', async () => {
    const before = target.requests.length;
    const result = await fetcher.get(`${target.url}/type?ct=image/png`, {
      accept: 'image/png, image/jpeg',
      maxBytes: 10_000,
      contentType: (type) => type === 'image/png',
    });
    expect(result.status).toBe(200);
    expect(target.requests[before]!.headers.accept).toBe('image/png, image/jpeg');
    expect(target.requests[before]!.headers['accept-encoding']).toBe('identity');

    const { error } = await failure(
      fetcher.get(`${target.url}/type?ct=image/svg%2Bxml`, {
        accept: 'image/png',
        maxBytes: 10_000,
        contentType: (type) => type === 'image/png',
      }),
    );
    expect(error.code).toBe('rejected:content_type');
  });

  test('maxBytes caps the body', async () => {
    const opts = { accept: '*/*', maxBytes: 6000, contentType: () => true };
    await expect(fetcher.get(`${target.url}/size/6000?chunked`, opts)).resolves.toMatchObject({ status: 200 });
    await expect(fetcher.get(`${target.url}/size/6001?chunked`, opts)).rejects.toMatchObject({ code: 'rejected:size' });
  });

  test('a 304 is an error for get', async () => {
    const { error } = await failure(
      fetcher.get(`${target.url}/conditional`, {
        accept: 'application/json',
        maxBytes: 10_000,
        contentType: () => true,
        headers: { 'if-none-match': '"v1"' },
      }),
    );
    expect(error.code).toBe('rejected:status');
  });
});
