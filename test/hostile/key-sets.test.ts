/**
 * Key sets that keep working (issue 26): a confidential CIMD client's `jwks_uri` (ChatGPT authenticates with
 * private_key_jwt and a key set on chatgpt.com) is cached in both tiers with its own lifetime; an unknown `kid`
 * refetches at most once per client per window; a failed refetch serves the last good key set within its bound,
 * with an event, and not past it (`jwks_fetch_failed`); key-set fetches have a budget that junk document ids on
 * the same host cannot exhaust.
 *
 * oidc-provider keeps a client's keys in its own key store for at least 60 s and asks the plugin's fetch hook
 * again only from a new client object, so each step that needs oidc-provider to ask again uses another provider
 * instance on the same shared store: what a cluster (or a restart) does.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Keyv } from '@keyv/redis';
import type { CimdOptions } from 'oidc-provider-cimd';
import { getTestCertificate } from '../helpers/certs.js';
import { assertionParams, es256Key, jwksUriClientDocument } from '../helpers/client-assertion.js';
import { startHttpsServer, type TestHttpsServer } from '../helpers/https-server.js';
import { startProvider, type TestProvider } from '../helpers/provider.js';

const REDIRECT = 'https://app.example.com/cb';

interface KeyHost {
  keys: Record<string, unknown>[];
  status: number;
  cacheControl: string;
  hits: number;
}

describe('key sets of CIMD clients', () => {
  let docs: TestHttpsServer;
  let cert: string;
  const hosts = new Map<string, KeyHost>();
  const providers: TestProvider[] = [];
  const k1 = es256Key('k1');
  const k2 = es256Key('k2');
  const stranger = es256Key('k9');
  /** The plugins' clock runs this far ahead of the real one (oidc-provider keeps the real one). */
  let skew = 0;

  const cidOf = (name: string) => `${docs.url}/c/${name}.json`;
  const host = (name: string, keys = [k1.publicJwk], cacheControl = 'max-age=3600'): KeyHost => {
    const entry = { keys, status: 200, cacheControl, hits: 0 };
    hosts.set(name, entry);
    return entry;
  };

  beforeAll(async () => {
    docs = await startHttpsServer((req: IncomingMessage, res: ServerResponse) => {
      const match = /^\/([ck])\/([\w-]+)\.json$/.exec(req.url ?? '');
      const entry = match ? hosts.get(match[2]!) : undefined;
      if (match?.[1] === 'c' && entry) {
        res
          .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=86400' })
          .end(jwksUriClientDocument(cidOf(match[2]!), REDIRECT, `${docs.url}/k/${match[2]}.json`));
        return;
      }
      if (match?.[1] === 'k' && entry) {
        entry.hits += 1;
        if (entry.status !== 200) {
          res.writeHead(entry.status, { 'content-type': 'text/plain' }).end('down');
          return;
        }
        res
          .writeHead(200, { 'content-type': 'application/json', 'cache-control': entry.cacheControl })
          .end(JSON.stringify({ keys: entry.keys }));
        return;
      }
      res.writeHead(404).end();
    });
    ({ cert } = await getTestCertificate());
  });
  afterAll(async () => {
    for (const op of providers) await op.close();
    await docs.close();
  });

  const start = async (cimd: CimdOptions = {}): Promise<TestProvider> => {
    const op = await startProvider({ cimd: { allowLoopback: true, ca: cert, now: () => Date.now() + skew, ...cimd } });
    providers.push(op);
    return op;
  };

  /** A token request with a made-up code: `invalid_grant` once the client authenticated, `invalid_client` if not. */
  const tokenRequest = async (op: TestProvider, cid: string, key: ReturnType<typeof es256Key>): Promise<string> => {
    const response = await fetch(new URL('/token', op.issuer), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: randomUUID(),
        redirect_uri: REDIRECT,
        code_verifier: 'x'.repeat(43),
        client_id: cid,
        ...assertionParams(key.privateKey, cid, op.issuer, {
          kid: key.publicJwk.kid,
          typ: 'client-authentication+jwt',
        }),
      }),
    });
    return ((await response.json()) as { error: string }).error;
  };

  test('a second instance is served the key set from the shared tier, without a fetch', async () => {
    const keys = host('shared');
    const cache = new Keyv();
    const [a, b] = [await start({ cache }), await start({ cache })];
    expect(await tokenRequest(a, cidOf('shared'), k1)).toBe('invalid_grant');
    expect(keys.hits).toBe(1);
    expect(await tokenRequest(b, cidOf('shared'), k1)).toBe('invalid_grant');
    expect(keys.hits).toBe(1);
  });

  test('an unknown kid refetches once per client per window, not once per token request', async () => {
    const keys = host('rotate');
    const cid = cidOf('rotate');
    const cache = new Keyv();
    const instances = [];
    for (let i = 0; i < 5; i += 1) instances.push(await start({ cache }));
    const [a, b, c, d, e] = instances as [TestProvider, TestProvider, TestProvider, TestProvider, TestProvider];
    expect(await tokenRequest(a, cid, k1)).toBe('invalid_grant');
    expect(keys.hits).toBe(1);

    // The client rotates to k2: the cached key set (fresh for an hour) lacks it, so b refetches and authenticates.
    keys.keys = [k2.publicJwk];
    expect(await tokenRequest(b, cid, k2)).toBe('invalid_grant');
    expect(keys.hits).toBe(2);
    // c finds k2 in the shared tier.
    expect(await tokenRequest(c, cid, k2)).toBe('invalid_grant');
    // A stranger's kid, inside the window: no refetch, and no authentication.
    expect(await tokenRequest(d, cid, stranger)).toBe('invalid_client');
    expect(keys.hits).toBe(2);

    // After the window, an unknown kid may refetch again (once).
    skew += 31_000;
    expect(await tokenRequest(e, cid, stranger)).toBe('invalid_client');
    expect(keys.hits).toBe(3);
  });

  test('a failed refetch serves the last good key set within its bound, with an event, and not past it', async () => {
    const keys = host('flaky', [k1.publicJwk], 'max-age=60');
    const cid = cidOf('flaky');
    const cache = new Keyv();
    const first = await start({ cache });
    expect(await tokenRequest(first, cid, k1)).toBe('invalid_grant');
    keys.status = 503;

    skew += 61_000; // past its freshness (60 s)
    const second = await start({ cache });
    expect(await tokenRequest(second, cid, k1)).toBe('invalid_grant');
    expect(second.events.filter((e) => e.reason === 'jwks_stale')).toEqual([
      expect.objectContaining({ cid, rule: 'jwks_uri', detail: expect.stringContaining('status 503') }),
    ]);
    expect(second.events.filter((e) => e.reason === 'jwks_fetch_failed')).toEqual([]);

    skew += 24 * 60 * 60 * 1000; // past freshness + 24 h
    const third = await start({ cache });
    expect(await tokenRequest(third, cid, k1)).toBe('invalid_client');
    expect(third.events.filter((e) => e.reason === 'jwks_stale')).toEqual([]);
    expect(third.events.filter((e) => e.reason === 'jwks_fetch_failed')).toEqual([
      expect.objectContaining({ cid, rule: 'jwks_uri', detail: expect.stringContaining('status 503') }),
    ]);
  });

  test('junk document ids on the same host do not exhaust the key sets budget', async () => {
    const keys = host('crowded');
    const cid = cidOf('crowded');
    // A host budget that barely refills, and a client that is not known-good.
    const op = await start({
      budget: { perHostBurst: 8, perHostPerSecond: 0.001, perDomainBurst: 8, perDomainPerSecond: 0.001 },
    });
    await op.cimd.resolve(cid);
    const codes: string[] = [];
    for (let i = 0; i < 20; i += 1) {
      await op.cimd.resolve(`${docs.url}/junk-${i}`).catch((error: { code?: string }) => codes.push(error.code ?? ''));
    }
    expect(codes).toContain('rate_limited');
    expect(await tokenRequest(op, cid, k1)).toBe('invalid_grant');
    expect(keys.hits).toBe(1);
  });
});
