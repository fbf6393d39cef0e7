/**
 * Resolution-level behaviour of the trust policy, fetch budgets, back-off and the event catalogue, against a
 * local HTTPS document server whose hit counter is the witness.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type CimdEvent, type CimdOptions, createCimd, DIAGNOSTICS_CHANNEL, Reason } from 'oidc-provider-cimd';
import { getTestCertificate } from '../helpers/certs.js';
import { startHttpsServer, type TestHttpsServer, unusedPort } from '../helpers/https-server.js';
import { createResolver } from '../helpers/resolver.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const ISSUER = 'http://localhost:3000';
const routes = new Map<string, Handler>();
const hitsByPath = new Map<string, number>();
let docs: TestHttpsServer;
let ca: string;

const hits = (path: string) => hitsByPath.get(path) ?? 0;
const doc = (cid: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ client_id: cid, client_name: 'Test', redirect_uris: ['https://app.acme.com/cb'], ...extra });
const json =
  (body: (cid: string) => string, headers: Record<string, string> = {}): Handler =>
  (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', ...headers });
    res.end(body(`${docs.url}${req.url}`));
  };

beforeAll(async () => {
  ca = (await getTestCertificate()).cert;
  docs = await startHttpsServer((req, res) => {
    const path = (req.url ?? '/').replace(/\?.*$/, '');
    hitsByPath.set(path, hits(path) + 1);
    const handler = routes.get(path) ?? (path.startsWith('/flood/') ? routes.get('/flood/*') : undefined);
    if (handler) handler(req, res);
    else res.writeHead(404).end();
  });
});
afterAll(() => docs.close());

function plugin(options: CimdOptions = {}) {
  const events: CimdEvent[] = [];
  const cimd = createCimd({
    issuer: ISSUER,
    allowLoopback: true,
    ca,
    failureBackoffMs: 0,
    ...options,
    onEvent: (event) => events.push(event),
  });
  const configuration = cimd.configure({});
  return { cimd, events, configuration };
}

describe('trust policy at resolution', () => {
  test('a denied or not-allowed client id is refused before any connection', async () => {
    routes.set(
      '/policy/denied',
      json((cid) => doc(cid)),
    );
    routes.set(
      '/policy/allowed',
      json((cid) => doc(cid)),
    );
    const { cimd, events } = plugin({
      policy: {
        allow: [`${docs.url}/policy/allowed`, `${docs.url}/policy/denied`],
        deny: [`${docs.url}/policy/denied`],
      },
    });
    try {
      await expect(cimd.resolve(`${docs.url}/policy/denied`)).rejects.toMatchObject({ code: 'rejected:policy' });
      await expect(cimd.resolve(`${docs.url}/policy/other`)).rejects.toMatchObject({ code: 'rejected:policy' });
      expect(hits('/policy/denied') + hits('/policy/other')).toBe(0);
      await expect(cimd.resolve(`${docs.url}/policy/allowed`)).resolves.toBeDefined();
      expect(hits('/policy/allowed')).toBe(1);
      expect(events.map((e) => e.reason)).toEqual(['rejected:policy', 'rejected:policy', 'fetched']);
    } finally {
      await cimd.close();
    }
  });

  test('the hook decides the rest, and is not consulted for listed ids', async () => {
    routes.set(
      '/hook/yes',
      json((cid) => doc(cid)),
    );
    const asked: string[] = [];
    const { cimd } = plugin({
      policy: {
        deny: ['*.nowhere.acme.com'],
        decide: async (cid) => {
          asked.push(cid);
          return cid.endsWith('/yes');
        },
      },
    });
    try {
      await expect(cimd.resolve(`${docs.url}/hook/yes`)).resolves.toBeDefined();
      await expect(cimd.resolve(`${docs.url}/hook/no`)).rejects.toMatchObject({ code: 'rejected:policy' });
      expect(hits('/hook/no')).toBe(0);
      expect(asked).toEqual([`${docs.url}/hook/yes`, `${docs.url}/hook/no`]);
    } finally {
      await cimd.close();
    }
  });
});

describe('fetch budgets', () => {
  test('a flood of 2,000 distinct client ids on one host stays within the host budget; a cached client keeps working', async () => {
    routes.set(
      '/flood/*',
      json((cid) => doc(cid)),
    );
    routes.set(
      '/legit',
      json((cid) => doc(cid), { 'cache-control': 'max-age=600' }),
    );
    const { cimd, events } = plugin({ budget: { perHostBurst: 20, perHostPerSecond: 2, maxConcurrent: 32 } });
    try {
      await cimd.resolve(`${docs.url}/legit`);
      const before = docs.hits;
      const started = performance.now();
      const flood = Array.from({ length: 2000 }, (_, i) =>
        cimd.resolve(`${docs.url}/flood/${i}`).then(
          () => 'ok',
          (error: { code?: string }) => error.code,
        ),
      );
      const legit = await cimd.resolve(`${docs.url}/legit`);
      const outcomes = await Promise.all(flood);
      const elapsedSeconds = (performance.now() - started) / 1000;
      const fetched = docs.hits - before;
      // The budget: the burst, plus what refills while the flood runs.
      expect(fetched).toBeLessThanOrEqual(20 + Math.ceil(elapsedSeconds * 2) + 1);
      expect(outcomes.filter((o) => o === 'ok')).toHaveLength(fetched);
      expect(outcomes.filter((o) => o === 'rate_limited').length).toBe(2000 - fetched);
      expect(legit?.metadata.client_id).toBe(`${docs.url}/legit`);
      expect(hits('/legit')).toBe(1);
      expect(events.filter((e) => e.cid === `${docs.url}/legit`).map((e) => e.reason)).toEqual([
        'fetched',
        'cache_hit',
      ]);
    } finally {
      await cimd.close();
    }
  });

  test('global concurrency: over the cap fails fast with rate_limited and no fetch', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    routes.set('/slow/a', (req, res) => {
      gate.then(() => json((cid) => doc(cid))(req, res));
    });
    routes.set(
      '/slow/b',
      json((cid) => doc(cid)),
    );
    const { cimd } = plugin({ budget: { maxConcurrent: 1 } });
    try {
      const first = cimd.resolve(`${docs.url}/slow/a`);
      await new Promise((r) => setTimeout(r, 100));
      await expect(cimd.resolve(`${docs.url}/slow/b`)).rejects.toMatchObject({ code: 'rate_limited' });
      expect(hits('/slow/b')).toBe(0);
      release();
      await expect(first).resolves.toBeDefined();
      await expect(cimd.resolve(`${docs.url}/slow/b`)).resolves.toBeDefined();
    } finally {
      release();
      await cimd.close();
    }
  });

  test('back-off: a failing client id is not refetched inside the window, and is after it', async () => {
    routes.set('/backoff', (_req, res) => res.writeHead(500).end());
    const { cimd, events } = plugin({ failureBackoffMs: 400 });
    const cid = `${docs.url}/backoff`;
    try {
      await expect(cimd.resolve(cid)).rejects.toMatchObject({ code: 'rejected:status' });
      await expect(cimd.resolve(cid)).rejects.toMatchObject({ code: 'rate_limited' });
      expect(hits('/backoff')).toBe(1);
      await new Promise((r) => setTimeout(r, 450));
      routes.set(
        '/backoff',
        json((c) => doc(c)),
      );
      await expect(cimd.resolve(cid)).resolves.toBeDefined();
      expect(hits('/backoff')).toBe(2);
      expect(events.map((e) => e.reason)).toEqual(['rejected:status', 'rate_limited', 'fetched']);
    } finally {
      await cimd.close();
    }
  });
});

describe('event catalogue', () => {
  test('every reason code is produced, and the diagnostics channel sees exactly the hook events', async () => {
    const published: CimdEvent[] = [];
    const onMessage = (message: unknown) => published.push(message as CimdEvent);
    diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNEL, onMessage);
    const { cimd, events } = plugin({
      timeoutMs: 300,
      lifetime: { minSeconds: 0 },
      policy: { deny: ['*.denied.acme.com'] },
      budget: { perHostBurst: 1000 },
    });
    const hostile = plugin({ lookup: createResolver({ 'docs.acme-hostile.com': ['10.0.0.1'] }) as never });
    try {
      const at = (path: string) => `${docs.url}${path}`;
      const attempt = (p: Promise<unknown>) => p.catch(() => undefined);

      routes.set(
        '/cat/ok',
        json((cid) => doc(cid), { 'cache-control': 'max-age=600' }),
      );
      await cimd.resolve(at('/cat/ok')); // fetched
      await cimd.resolve(at('/cat/ok')); // cache_hit

      let etagCalls = 0;
      routes.set('/cat/etag', (req, res) => {
        etagCalls += 1;
        if (req.headers['if-none-match'] === '"v1"') return res.writeHead(304, { etag: '"v1"' }).end();
        res.writeHead(200, { 'content-type': 'application/json', etag: '"v1"', 'cache-control': 'max-age=0' });
        res.end(doc(at('/cat/etag')));
      });
      await cimd.resolve(at('/cat/etag')); // fetched
      await cimd.resolve(at('/cat/etag')); // revalidated
      expect(etagCalls).toBe(2);

      let sieCalls = 0;
      routes.set('/cat/sie', (_req, res) => {
        sieCalls += 1;
        if (sieCalls > 1) return res.writeHead(503).end();
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=0, stale-if-error=60' });
        res.end(doc(at('/cat/sie')));
      });
      await cimd.resolve(at('/cat/sie')); // fetched
      await cimd.resolve(at('/cat/sie')); // stale_if_error

      await cimd.resolve(at('/cat/ok#fragment')); // rejected:url
      await attempt(hostile.cimd.resolve('https://docs.acme-hostile.com/x')); // rejected:address (on the other instance)
      await attempt(cimd.resolve(`https://127.0.0.1:${await unusedPort()}/refused`)); // rejected:network
      routes.set('/cat/stall', () => {}); // never answers
      await attempt(cimd.resolve(at('/cat/stall'))); // rejected:timeout
      await attempt(cimd.resolve(at('/cat/missing'))); // rejected:status
      routes.set('/cat/html', (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<p>hi</p>'));
      await attempt(cimd.resolve(at('/cat/html'))); // rejected:content_type
      routes.set('/cat/gzip', (_req, res) =>
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end('x'),
      );
      await attempt(cimd.resolve(at('/cat/gzip'))); // rejected:encoding
      routes.set(
        '/cat/big',
        json((cid) => doc(cid, { pad: 'x'.repeat(6000) })),
      );
      await attempt(cimd.resolve(at('/cat/big'))); // rejected:size
      routes.set(
        '/cat/dup',
        json(() => '{"client_id":"a","client_id":"a"}'),
      );
      await attempt(cimd.resolve(at('/cat/dup'))); // rejected:json
      routes.set(
        '/cat/mismatch',
        json(() => doc('https://someone-else.acme.com/c')),
      );
      await attempt(cimd.resolve(at('/cat/mismatch'))); // rejected:client_id_mismatch
      routes.set(
        '/cat/secret',
        json((cid) => doc(cid, { client_secret: 's3cret' })),
      );
      await attempt(cimd.resolve(at('/cat/secret'))); // rejected:secret
      routes.set(
        '/cat/noname',
        json((cid) => doc(cid, { client_name: undefined })),
      );
      await attempt(cimd.resolve(at('/cat/noname'))); // rejected:document
      await attempt(cimd.resolve('https://x.denied.acme.com/c')); // rejected:policy
      routes.set(
        '/cat/unauthorized',
        json((cid) => doc(cid, { token_endpoint_auth_methods_supported: ['tls_client_auth'] })),
      );
      await attempt(cimd.resolve(at('/cat/unauthorized'))); // rejected:unauthorized_client (draft-03 §6)

      const limited = plugin({ failureBackoffMs: 10_000 });
      await attempt(limited.cimd.resolve(at('/cat/missing')));
      await attempt(limited.cimd.resolve(at('/cat/missing'))); // rate_limited
      await limited.cimd.close();

      // The document lifecycle and the operator API, on an instance with a clock of its own.
      let t = Date.now();
      const life = createCimd({
        issuer: ISSUER,
        allowLoopback: true,
        ca,
        failureBackoffMs: 0,
        now: () => t,
        transportFallbackMs: 3_600_000,
        budget: { perHostBurst: 1000 },
        policy: { admission: 'report', allow: [at('/cat/life/ok')] },
        onEvent: (event) => events.push(event),
      });
      const lifeConfig = life.configure({});
      let lifeDown: number | undefined;
      routes.set('/cat/life/ok', (req, res) => {
        if (lifeDown) return res.writeHead(lifeDown, { 'content-type': 'text/html' }).end('<p>challenge</p>');
        json((cid) => doc(cid), { 'cache-control': 'max-age=60' })(req, res);
      });
      await life.resolve(at('/cat/life/ok')); // fetched
      await life.resolve(at('/cat/life/other')).catch(() => undefined); // would_deny (report mode), then rejected:status
      // A user approved the client (a Grant saved through the configured adapter): it is now in use.
      const grants = (lifeConfig.adapter as (name: string) => import('oidc-provider').Adapter)('Grant');
      await grants.upsert('grant-1', { clientId: at('/cat/life/ok'), accountId: 'alice' }, 60);
      await new Promise((resolve) => setTimeout(resolve, 20));
      lifeDown = 503;
      t += 120_000;
      await life.resolve(at('/cat/life/ok')); // stale_fallback
      lifeDown = 404;
      t += 3_000;
      await attempt(life.resolve(at('/cat/life/ok'))); // revoked
      lifeDown = undefined;
      await life.pin(at('/cat/life/ok')); // operator:pin
      await life.unpin(at('/cat/life/ok')); // operator:unpin
      await life.refresh(at('/cat/life/ok')); // operator:refresh
      await life.purge(at('/cat/life/ok')); // operator:purge
      await life.close();

      const tight = plugin({ budget: { perHostBurst: 2, perHostPerSecond: 0.001 }, lifetime: { minSeconds: 0 } });
      routes.set(
        '/cat/tight',
        json((cid) => doc(cid), { 'cache-control': 'max-age=0, stale-if-error=600' }),
      );
      await tight.cimd.resolve(at('/cat/tight')); // fetched
      // Known-good: a user completed an authorization (the grant is saved through the configured adapter).
      await (tight.configuration.adapter as (name: string) => import('oidc-provider').Adapter)('Grant').upsert(
        'grant-tight',
        { clientId: at('/cat/tight'), accountId: 'alice' },
        60,
      );
      await new Promise((resolve) => setTimeout(resolve, 20));
      await attempt(tight.cimd.resolve(at('/cat/missing')));
      await tight.cimd.resolve(at('/cat/tight')); // fetched, from the reserve only known clients draw on
      await tight.cimd.resolve(at('/cat/tight')); // stale_over_budget: the reserve is spent too
      await tight.cimd.close();
      events.push(...tight.events);

      const produced = new Set([...events, ...hostile.events, ...limited.events].map((e) => e.reason));
      // Token-time codes need a token request with a client assertion; their own suites produce each one through a
      // real token endpoint: test/policy/client-assertion-typ.test.ts, test/provider/jwks-uri-failure.test.ts and
      // test/hostile/key-sets.test.ts (the key-set codes).
      const producedAtTokenTime = [
        'client_assertion_untyped',
        'rejected:client_assertion_typ',
        'client_fetch_failed',
        'jwks_fetch_failed',
        'jwks_stale',
      ];
      expect([...produced, ...producedAtTokenTime].sort()).toEqual(Object.values(Reason).sort());
      for (const event of [...events, ...hostile.events, ...limited.events]) {
        expect(typeof event.durationMs).toBe('number');
        expect(event.cid.length).toBeGreaterThan(0);
      }
      expect(events.find((e) => e.reason === 'rejected:address')).toBeUndefined();
      expect(hostile.events.find((e) => e.reason === 'rejected:address')?.host).toBe('docs.acme-hostile.com');
      // The channel got every event the hooks got, in the same order, as the same objects.
      expect(published).toEqual(
        [...events, ...hostile.events, ...limited.events].sort((a, b) => published.indexOf(a) - published.indexOf(b)),
      );
      expect(published).toHaveLength(events.length + hostile.events.length + limited.events.length);
    } finally {
      diagnosticsChannel.unsubscribe(DIAGNOSTICS_CHANNEL, onMessage);
      await cimd.close();
      await hostile.cimd.close();
    }
  });
});
