/**
 * `fetcher.fetch`, the WHATWG-fetch-compatible function handed to oidc-provider's `fetch` configuration
 * (jwks_uri, sector_identifier_uri, back-channel notifications).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CimdError } from '../../packages/oidc-provider-cimd/src/core/errors.js';
import {
  createFetcher,
  type Fetcher,
  type FetcherOptions,
} from '../../packages/oidc-provider-cimd/src/fetch/fetcher.js';
import { createAddressPolicy } from '../../packages/oidc-provider-cimd/src/rules/address-policy.js';
import { getTestCertificate } from '../helpers/certs.js';
import { startHttpsServer, type TestHttpsServer } from '../helpers/https-server.js';

const JWKS = JSON.stringify({ keys: [] });

let target: TestHttpsServer;
let elsewhere: TestHttpsServer;
let ca: string;
const fetchers: Fetcher[] = [];

function routes(req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url ?? '/', 'https://x');
  switch (url.pathname) {
    case '/jwks':
      res.writeHead(200, { 'content-type': 'application/json' }).end(JWKS);
      return;
    case '/redirect':
      res.writeHead(302, { location: `${elsewhere.url}/jwks` }).end();
      return;
    case '/stall':
      return;
    case '/big': {
      const n = Number(url.searchParams.get('n'));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(n) });
      res.end(Buffer.alloc(n, 0x20));
      return;
    }
    case '/echo': {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ method: req.method, body: Buffer.concat(chunks).toString() }));
      });
      return;
    }
    default:
      res.writeHead(404).end();
  }
}

function makeFetcher(options: Partial<FetcherOptions> & { allowLoopback?: boolean } = {}): Fetcher {
  const { allowLoopback = true, ...rest } = options;
  const fetcher = createFetcher({
    addressPolicy: createAddressPolicy({ allowLoopback }),
    ca,
    timeoutMs: 500,
    connectTimeoutMs: 500,
    ...rest,
  });
  fetchers.push(fetcher);
  return fetcher;
}

/** A stand-in for the dispatcher oidc-provider passes in `init`; it must never be used. */
function decoyDispatcher() {
  const decoy = {
    used: 0,
    dispatch() {
      decoy.used += 1;
      return false;
    },
  };
  return decoy;
}

beforeAll(async () => {
  ca = (await getTestCertificate()).cert;
  target = await startHttpsServer(routes);
  elsewhere = await startHttpsServer(routes);
});

afterAll(async () => {
  await Promise.all(fetchers.map((f) => f.close()));
  await Promise.all([target.close(), elsewhere.close()]);
});

test('returns a Response for an allowed URL, ignoring a caller-supplied dispatcher', async () => {
  const decoy = decoyDispatcher();
  const response = await makeFetcher().fetch(`${target.url}/jwks`, {
    method: 'GET',
    // oidc-provider passes a global Headers instance with an empty user-agent.
    headers: new Headers({ accept: 'application/json', 'user-agent': '' }),
    dispatcher: decoy,
    signal: AbortSignal.timeout(2500),
  });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('application/json');
  expect(await response.json()).toEqual({ keys: [] });
  expect(decoy.used).toBe(0);
  expect(target.requests.at(-1)!.headers.accept).toBe('application/json');
});

test('accepts a URL object', async () => {
  const response = await makeFetcher().fetch(new URL(`${target.url}/jwks`));
  expect(await response.text()).toBe(JWKS);
});

test('refuses a loopback IP when allowLoopback is off, even with a permissive dispatcher supplied', async () => {
  const decoy = decoyDispatcher();
  const hits = target.hits;
  const promise = makeFetcher({ allowLoopback: false }).fetch(`${target.url}/jwks`, { dispatcher: decoy });
  await expect(promise).rejects.toBeInstanceOf(CimdError);
  await expect(promise).rejects.toMatchObject({ code: 'rejected:address' });
  expect(target.hits).toBe(hits);
  expect(decoy.used).toBe(0);
});

test('does not follow redirects, whatever `redirect` the caller asks for', async () => {
  const hits = elsewhere.hits;
  for (const redirect of [undefined, 'follow', 'manual']) {
    const promise = makeFetcher().fetch(`${target.url}/redirect`, { redirect });
    await expect(promise).rejects.toMatchObject({ code: 'rejected:status' });
  }
  expect(elsewhere.hits).toBe(hits);
});

test('the whole request times out', async () => {
  const started = performance.now();
  await expect(makeFetcher().fetch(`${target.url}/stall`)).rejects.toMatchObject({ code: 'rejected:timeout' });
  expect(performance.now() - started).toBeLessThan(900);
});

test('the caller’s signal is honoured', async () => {
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 50);
  const started = performance.now();
  const promise = makeFetcher({ timeoutMs: 5000 }).fetch(`${target.url}/stall`, { signal: controller.signal });
  await expect(promise).rejects.toBeInstanceOf(CimdError);
  expect(performance.now() - started).toBeLessThan(1000);
});

test('POST with a body passes through (back-channel notifications)', async () => {
  const response = await makeFetcher().fetch(`${target.url}/echo`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'logout_token=abc',
  });
  expect(await response.json()).toEqual({ method: 'POST', body: 'logout_token=abc' });
});

test('response bodies are capped by fetchMaxBodyBytes', async () => {
  const fetcher = makeFetcher({ fetchMaxBodyBytes: 1000 });
  const ok = await fetcher.fetch(`${target.url}/big?n=1000`);
  expect((await ok.arrayBuffer()).byteLength).toBe(1000);
  // Declared too large: refused before the body is read.
  await expect(fetcher.fetch(`${target.url}/big?n=1001`)).rejects.toMatchObject({ code: 'rejected:size' });
});

test('an undeclared over-long body errors while it is read', async () => {
  const fetcher = makeFetcher({ fetchMaxBodyBytes: 1000 });
  const endless = await startHttpsServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(1024, 0x20);
    const pump = () => {
      while (!res.destroyed && res.write(chunk)) {}
      if (!res.destroyed) res.once('drain', pump);
    };
    pump();
  });
  try {
    const response = await fetcher.fetch(`${endless.url}/`);
    await expect(response.arrayBuffer()).rejects.toMatchObject({ code: 'rejected:size' });
  } finally {
    await endless.close();
  }
});
