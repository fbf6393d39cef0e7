/**
 * Legitimate clients under hostile load (README "Revocation, stale copies and the transport fallback", "Rate limits never lock out a known-good client"):
 * - junk ids on a popular client's document host, each a 404, at 5 requests per second: the real client is
 *   still fetched on first use, and still refreshed after its entry expired, even when the junk comes ten
 *   times faster;
 * - 50 slow subdomains of one registrable domain, each accepting connections and never answering: a client on
 *   another domain is still fetched.
 * Document hosts are names answered by an injected resolver with 127.0.0.1 (the development exception), served
 * by local servers; the junk rate runs on a simulated clock, so the test takes no longer than the fetches.
 */

import https from 'node:https';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Adapter, AdapterPayload, Configuration } from 'oidc-provider';
import { type CimdEvent, type CimdOptions, createCimd } from 'oidc-provider-cimd';
import { createResolver } from '../helpers/resolver.js';
import { certificateFor } from './cert.js';

const POPULAR = 'popular.acme-apps.com';
const OTHER = 'legit.other-apps.com';
const SLOW = Array.from({ length: 50 }, (_, i) => `s${i}.slow-cdn.net`);

let docs: https.Server;
let docsPort: number;
let slow: net.Server;
let slowPort: number;
let slowConnections = 0;
let maxOpenSlow = 0;
const slowSockets = new Set<net.Socket>();
const docSockets = new Set<net.Socket>();
let ca: string;
const hits = new Map<string, number>();

beforeAll(async () => {
  const { key, cert } = await certificateFor([POPULAR, OTHER, '*.slow-cdn.net']);
  ca = cert;
  docs = https.createServer({ key, cert }, (req, res) => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    if (path === '/client') {
      const cid = `https://${req.headers.host}/client`;
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60, stale-if-error=86400' });
      res.end(
        JSON.stringify({ client_id: cid, client_name: 'Legit', redirect_uris: ['https://app.acme-apps.com/cb'] }),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  docs.on('connection', (socket: net.Socket) => {
    docSockets.add(socket);
    socket.on('close', () => docSockets.delete(socket));
  });
  docs.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => docs.listen(0, '127.0.0.1', resolve));
  docsPort = (docs.address() as AddressInfo).port;
  // Accepts connections and never answers: each fetch holds its slot until the connect timeout.
  slow = net.createServer((socket) => {
    slowConnections += 1;
    slowSockets.add(socket);
    maxOpenSlow = Math.max(maxOpenSlow, slowSockets.size);
    socket.on('error', () => {});
    socket.on('close', () => slowSockets.delete(socket));
  });
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.2', resolve));
  slowPort = (slow.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const socket of [...slowSockets, ...docSockets]) socket.destroy();
  await new Promise((resolve) => slow.close(resolve));
  await new Promise((resolve) => docs.close(resolve));
});

function plugin(options: CimdOptions = {}) {
  const events: CimdEvent[] = [];
  // The slow names live on another address than the documents: caps per resolved address would otherwise
  // (rightly) count them all as one server.
  const lookup = createResolver({
    ...Object.fromEntries([POPULAR, OTHER].map((name) => [name, ['127.0.0.1']])),
    ...Object.fromEntries(SLOW.map((name) => [name, ['127.0.0.2']])),
  });
  const cimd = createCimd({
    issuer: 'http://localhost:3000',
    allowLoopback: true,
    ca,
    lookup,
    ...options,
    onEvent: (event) => events.push(event),
  });
  const configuration = cimd.configure({});
  return { cimd, events, configuration };
}

/** A user completed an authorization of `cid`: the provider saved a grant (what makes a client known-good). */
async function completeAuthorization(configuration: Configuration, cid: string): Promise<void> {
  const adapter = (configuration.adapter as (name: string) => Adapter)('Grant');
  await adapter.upsert(`grant-${cid}`, { clientId: cid, accountId: 'alice' } as AdapterPayload, 600);
  // The known record is written after the grant, off the request's path.
  await new Promise((resolve) => setTimeout(resolve, 50));
}

/** `count` junk ids on the popular host, `perSecond` of them per simulated second. */
async function junk(
  cimd: ReturnType<typeof createCimd>,
  clock: { now: number },
  count: number,
  perSecond: number,
  tag: string,
) {
  const codes = new Map<string, number>();
  for (let i = 0; i < count; i += 1) {
    clock.now += 1000 / perSecond;
    try {
      await cimd.resolve(`https://${POPULAR}:${docsPort}/junk-${tag}-${i}`);
      codes.set('resolved', (codes.get('resolved') ?? 0) + 1);
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'error';
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
  }
  return codes;
}

describe('junk ids on a legitimate client host', () => {
  test('at 5 requests per second: the legitimate client is fetched on first use and served after it expired', async () => {
    const clock = { now: Date.now() };
    const { cimd, events } = plugin({ now: () => clock.now, budget: { now: () => clock.now } });
    try {
      const legit = `https://${POPULAR}:${docsPort}/client`;
      // 12 simulated seconds of junk (60 ids, each a 404 that the host really answers).
      const codes = await junk(cimd, clock, 60, 5, 'a');
      expect(codes.get('rejected:status')).toBe(60);
      await expect(cimd.resolve(legit)).resolves.toMatchObject({ cid: legit });
      expect(events.at(-1)).toMatchObject({ cid: legit, reason: 'fetched' });

      // Another 70 simulated seconds of junk at the same rate: the entry (max-age=60) expires meanwhile.
      await junk(cimd, clock, 350, 5, 'b');
      await expect(cimd.resolve(legit)).resolves.toMatchObject({ cid: legit });
      expect(['fetched', 'revalidated']).toContain(events.at(-1)!.reason);
    } finally {
      await cimd.close();
    }
  }, 120_000);

  test('ten times faster: the host budget runs out for junk, and the known client is still refreshed after expiry', async () => {
    const clock = { now: Date.now() };
    const { cimd, events, configuration } = plugin({ now: () => clock.now, budget: { now: () => clock.now } });
    try {
      const legit = `https://${POPULAR}:${docsPort}/client`;
      await expect(cimd.resolve(legit)).resolves.toMatchObject({ cid: legit });
      await completeAuthorization(configuration, legit);
      const codes = await junk(cimd, clock, 700, 50, 'c');
      // The budget held: most junk was refused without a fetch.
      expect(codes.get('rate_limited') ?? 0).toBeGreaterThan(100);
      // 14 simulated seconds later... and past the entry's freshness.
      clock.now += 60_000;
      await junk(cimd, clock, 200, 50, 'd');
      const fetchesBefore = hits.get('/client') ?? 0;
      await expect(cimd.resolve(legit)).resolves.toMatchObject({ cid: legit });
      // Refreshed from its origin through the capacity junk cannot take, not merely served a stale copy.
      expect(['fetched', 'revalidated']).toContain(events.at(-1)!.reason);
      expect(hits.get('/client')).toBe(fetchesBefore + 1);
    } finally {
      await cimd.close();
    }
  }, 120_000);
});

describe('slow subdomains', () => {
  test('50 slow subdomains of one registrable domain: a client on another domain is still fetched', async () => {
    const { cimd, events } = plugin({ connectTimeoutMs: 1500, timeoutMs: 2000 });
    try {
      const before = slowConnections;
      const attack = SLOW.map((name) =>
        cimd.resolve(`https://${name}:${slowPort}/client`).then(
          () => 'resolved',
          (error: { code?: string }) => error.code ?? 'error',
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      const legit = `https://${OTHER}:${docsPort}/client`;
      await expect(cimd.resolve(legit)).resolves.toMatchObject({ cid: legit });
      expect(events.find((e) => e.cid === legit)).toMatchObject({ reason: 'fetched' });
      // The legitimate client did not wait for the slow ones to time out: they are still holding their sockets.
      expect(slowSockets.size).toBeGreaterThan(0);
      const outcomes = await Promise.all(attack);
      // The per-domain cap: at most 4 of the 50 ever reached the slow server; the rest were refused at once.
      expect(slowConnections - before).toBeLessThanOrEqual(4);
      expect(maxOpenSlow).toBeLessThanOrEqual(4);
      expect(outcomes.filter((o) => o === 'rate_limited').length).toBeGreaterThanOrEqual(46);
    } finally {
      await cimd.close();
    }
  }, 60_000);
});
