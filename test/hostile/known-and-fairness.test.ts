/**
 * Hostile load, round two (docs/trust-and-budgets.md):
 * - finding 1: "known" is a durable fact (a completed authorization, recorded with the provider's adapter),
 *   never cache presence: a `no-store` client and a client on a new instance keep the reserve;
 * - finding 2: a client whose last refresh failed loses the privilege until a refresh succeeds, and the
 *   over-budget stand-in never outlives the stale-if-error / transport-fallback bound;
 * - finding 3: first-time fairness by ICANN registrable domain (all of duckdns.org is one) and by resolved
 *   address (names pointed at one server are one);
 * - finding 5: the shared store keeps a never-authorized client's document a few minutes, whatever its max-age.
 * Names are answered by an injected resolver with loopback addresses (the development exception); each slow
 * "server" accepts connections and never answers.
 */

import https from 'node:https';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Adapter, AdapterPayload, Configuration } from 'oidc-provider';
import { type CimdEvent, type CimdOptions, createCimd, createRedisCache } from 'oidc-provider-cimd';
import { startRedisServer, type TestRedisServer } from '../helpers/redis-server.js';
import { createResolver } from '../helpers/resolver.js';
import { certificateFor } from './cert.js';

const POPULAR = 'popular.acme-apps.com';
const OTHER = 'legit.other-apps.com';
/** Free private-suffix names, each on an address of its own: only the ICANN grouping holds them. */
const PRIVATE_SUFFIX = Array.from({ length: 40 }, (_, i) => `victim-${i}.duckdns.org`);
/** Forty ICANN domains on one address: only the per-address grouping holds them. */
const ONE_SERVER = Array.from({ length: 40 }, (_, i) => `slow-${i}-cdn.com`);

let docs: https.Server;
let docsPort: number;
let ca: string;
const docSockets = new Set<net.Socket>();
const hits = new Map<string, number>();
/** Per path: what the origin answers. */
const behaviour = new Map<string, { status?: number; cacheControl?: string }>();

interface SlowServer {
  server: net.Server;
  port: number;
  address: string;
  accepted: number;
  sockets: Set<net.Socket>;
}
const slowServers: SlowServer[] = [];

async function slowServer(address: string): Promise<SlowServer> {
  const slow: SlowServer = { server: net.createServer(), port: 0, address, accepted: 0, sockets: new Set() };
  slow.server.on('connection', (socket) => {
    slow.accepted += 1;
    slow.sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => slow.sockets.delete(socket));
  });
  await new Promise<void>((resolve) => slow.server.listen(0, address, resolve));
  slow.port = (slow.server.address() as AddressInfo).port;
  slowServers.push(slow);
  return slow;
}

beforeAll(async () => {
  const { key, cert } = await certificateFor([POPULAR, OTHER]);
  ca = cert;
  docs = https.createServer({ key, cert }, (req, res) => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const how = behaviour.get(path);
    if (!how) return res.writeHead(404).end();
    if (how.status) return res.writeHead(how.status, { 'content-type': 'text/plain' }).end('down');
    const cid = `https://${req.headers.host}${path}`;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': how.cacheControl ?? 'max-age=60' });
    res.end(JSON.stringify({ client_id: cid, client_name: 'Legit', redirect_uris: ['https://app.acme-apps.com/cb'] }));
  });
  docs.on('connection', (socket: net.Socket) => {
    docSockets.add(socket);
    socket.on('close', () => docSockets.delete(socket));
  });
  docs.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => docs.listen(0, '127.0.0.1', resolve));
  docsPort = (docs.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const socket of docSockets) socket.destroy();
  for (const slow of slowServers) {
    for (const socket of slow.sockets) socket.destroy();
    await new Promise((resolve) => slow.server.close(resolve));
  }
  await new Promise((resolve) => docs.close(resolve));
});

/** An oidc-provider adapter kept in a Map that outlives plugin instances: the deployment's database. */
function durableAdapter(): (name: string) => Adapter {
  const tables = new Map<string, Map<string, AdapterPayload>>();
  return (name) => {
    const table = tables.get(name) ?? new Map<string, AdapterPayload>();
    tables.set(name, table);
    return {
      upsert: async (id, payload) => {
        table.set(id, payload);
      },
      find: async (id) => table.get(id),
      findByUid: async () => undefined,
      findByUserCode: async () => undefined,
      consume: async () => {},
      destroy: async (id) => {
        table.delete(id);
      },
      revokeByGrantId: async () => {},
    };
  };
}

const lookupTable: Record<string, string[]> = { [POPULAR]: ['127.0.0.1'], [OTHER]: ['127.0.0.1'] };

function plugin(options: CimdOptions = {}, adapter = durableAdapter()) {
  const events: CimdEvent[] = [];
  const cimd = createCimd({
    issuer: 'http://localhost:3000',
    allowLoopback: true,
    ca,
    lookup: createResolver(lookupTable),
    failureBackoffMs: 0,
    ...options,
    onEvent: (event) => events.push(event),
  });
  const configuration = cimd.configure({ adapter });
  return { cimd, events, configuration, adapter };
}

/** A user completed an authorization of `cid`: the provider saved a grant through the configured adapter. */
async function completeAuthorization(configuration: Configuration, cid: string): Promise<void> {
  const grants = (configuration.adapter as (name: string) => Adapter)('Grant');
  await grants.upsert(`grant-${cid}`, { clientId: cid, accountId: 'alice' } as AdapterPayload, 600);
  await new Promise((resolve) => setTimeout(resolve, 50));
}

async function junk(cimd: ReturnType<typeof createCimd>, count: number, tag: string, clock?: { now: number }) {
  const codes = new Map<string, number>();
  for (let i = 0; i < count; i += 1) {
    if (clock) clock.now += 100;
    try {
      await cimd.resolve(`https://${POPULAR}:${docsPort}/junk-${tag}-${i}`);
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'error';
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
  }
  return codes;
}

/** A small host budget that barely refills: 8 fetches, of which 2 more only known clients may take. */
const tight = (clock: { now: number }): CimdOptions => ({
  now: () => clock.now,
  budget: {
    perHostBurst: 8,
    perHostPerSecond: 0.001,
    perDomainBurst: 8,
    perDomainPerSecond: 0.001,
    now: () => clock.now,
  },
});

describe('finding 1: known-good is a durable fact, not cache presence', () => {
  test('a no-store client that completed an authorization is refreshed through the reserve while junk empties its host', async () => {
    behaviour.set('/nostore', { cacheControl: 'no-store' });
    const clock = { now: Date.now() };
    const { cimd, events, configuration } = plugin(tight(clock));
    try {
      const cid = `https://${POPULAR}:${docsPort}/nostore`;
      await cimd.resolve(cid);
      await completeAuthorization(configuration, cid);
      const codes = await junk(cimd, 20, 'a', clock);
      expect(codes.get('rate_limited') ?? 0).toBeGreaterThan(0);
      // Nothing is cached (no-store), and the client is known all the same.
      await expect(cimd.resolve(cid)).resolves.toMatchObject({ cid });
      expect(events.at(-1)).toMatchObject({ cid, reason: 'fetched' });
    } finally {
      await cimd.close();
    }
  });

  test('a new instance (restart, scale-out) knows the client from the adapter, with none of its copies', async () => {
    behaviour.set('/restart', { cacheControl: 'max-age=600' });
    const clock = { now: Date.now() };
    const adapter = durableAdapter();
    const first = plugin(tight(clock), adapter);
    const cid = `https://${POPULAR}:${docsPort}/restart`;
    await first.cimd.resolve(cid);
    await completeAuthorization(first.configuration, cid);
    await first.cimd.close();

    const second = plugin(tight(clock), adapter);
    try {
      const codes = await junk(second.cimd, 20, 'b', clock);
      expect(codes.get('rate_limited') ?? 0).toBeGreaterThan(0);
      await expect(second.cimd.resolve(cid)).resolves.toMatchObject({ cid });
      expect(second.events.at(-1)).toMatchObject({ cid, reason: 'fetched' });
    } finally {
      await second.cimd.close();
    }
  });
});

describe('finding 2: the privilege is lost with a failed refresh, and the stand-in is bounded', () => {
  test('a client whose last refresh failed draws on the first-time pool until a refresh succeeds', async () => {
    behaviour.set('/flaky', { cacheControl: 'max-age=60' });
    const clock = { now: Date.now() };
    const { cimd, configuration } = plugin(tight(clock));
    try {
      const cid = `https://${POPULAR}:${docsPort}/flaky`;
      await cimd.resolve(cid);
      await completeAuthorization(configuration, cid);
      behaviour.set('/flaky', { status: 500 });
      clock.now += 120_000;
      await expect(cimd.resolve(cid)).rejects.toMatchObject({ code: 'rejected:status' });
      await new Promise((resolve) => setTimeout(resolve, 50));
      behaviour.set('/flaky', { cacheControl: 'max-age=60' });
      await junk(cimd, 20, 'c', clock);
      // Not known-good any more: the reserve is not its to take.
      await expect(cimd.resolve(cid)).rejects.toMatchObject({ code: 'rate_limited' });
    } finally {
      await cimd.close();
    }
  });

  test('over budget, an expired copy without stale-if-error is not served (no 24 h stale_over_budget)', async () => {
    behaviour.set('/bounded', { cacheControl: 'max-age=60' });
    const clock = { now: Date.now() };
    const { cimd, events, configuration } = plugin(tight(clock));
    try {
      const cid = `https://${POPULAR}:${docsPort}/bounded`;
      await cimd.resolve(cid);
      await completeAuthorization(configuration, cid);
      await junk(cimd, 20, 'd', clock);
      // Spend the known reserve (2) with refreshes.
      for (let i = 0; i < 2; i += 1) {
        clock.now += 120_000;
        await cimd.resolve(cid);
      }
      clock.now += 120_000;
      await expect(cimd.resolve(cid)).rejects.toMatchObject({ code: 'rate_limited' });
      expect(events.some((e) => e.reason === 'stale_over_budget')).toBe(false);
    } finally {
      await cimd.close();
    }
  });
});

describe('finding 3: free names cannot buy first-time slots', () => {
  test.each([
    ['40 slow names under one private suffix (duckdns.org), each on its own address', PRIVATE_SUFFIX, 'own'],
    ['40 slow names on 40 ICANN domains, all on one address', ONE_SERVER, 'shared'],
  ] as const)(
    '%s: a new client on an unrelated domain is fetched',
    async (_label, names, layout) => {
      const targets: { name: string; port: number; server: SlowServer }[] = [];
      const shared = layout === 'shared' ? await slowServer('127.0.0.2') : undefined;
      for (const [i, name] of names.entries()) {
        const server = shared ?? (await slowServer(`127.0.1.${i + 1}`));
        lookupTable[name] = [server.address];
        targets.push({ name, port: server.port, server });
      }
      const { cimd, events } = plugin({ connectTimeoutMs: 1500, timeoutMs: 2000 });
      behaviour.set('/fresh-client', { cacheControl: 'max-age=60' });
      try {
        const before = new Set(targets.map((t) => t.server)).size;
        const attack = targets.map(({ name, port }) =>
          cimd.resolve(`https://${name}:${port}/client`).then(
            () => 'resolved',
            (error: { code?: string }) => error.code ?? 'error',
          ),
        );
        await new Promise((resolve) => setTimeout(resolve, 200));
        const legit = `https://${OTHER}:${docsPort}/fresh-client`;
        await expect(cimd.resolve(legit)).resolves.toMatchObject({ cid: legit });
        expect(events.find((e) => e.cid === legit)).toMatchObject({ reason: 'fetched' });
        const outcomes = await Promise.all(attack);
        const accepted = [...new Set(targets.map((t) => t.server))].reduce((sum, s) => sum + s.accepted, 0);
        // One group: at most its cap (4) of the 40 ever reached a slow server.
        expect(accepted).toBeLessThanOrEqual(4);
        expect(outcomes.filter((o) => o === 'rate_limited').length).toBeGreaterThanOrEqual(36);
        expect(before).toBeGreaterThan(0);
      } finally {
        await cimd.close();
      }
    },
    30_000,
  );
});

describe('finding 5: a hard bound on the shared store', () => {
  let redis: TestRedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.kill();
  });

  test('a never-authorized client is kept minutes whatever its max-age; a client in use keeps its windows', async () => {
    behaviour.set('/day-long', { cacheControl: 'max-age=86400, stale-if-error=86400' });
    behaviour.set('/in-use', { cacheControl: 'max-age=86400' });
    const cache = await createRedisCache(redis.url);
    const { cimd, configuration } = plugin({ cache, sharedCacheTimeoutMs: 5000 });
    try {
      const ttlOf = async (cid: string) => {
        const keys = (await redis.command('KEYS', `*cimd:doc:${cid}`)) as string[];
        return (await redis.command('PTTL', keys[0]!)) as number;
      };
      const unused = `https://${POPULAR}:${docsPort}/day-long`;
      await cimd.resolve(unused);
      const ttl = await ttlOf(unused);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(5 * 60 * 1000);

      const used = `https://${POPULAR}:${docsPort}/in-use`;
      await cimd.resolve(used);
      await completeAuthorization(configuration, used);
      expect(await ttlOf(used)).toBeGreaterThan(60 * 60 * 1000);
    } finally {
      await cimd.close();
      await cache.disconnect();
    }
  });
});
