/**
 * Attack bench — 40 slow private-suffix names (issue 26, finding 3). Forty `victim-N.duckdns.org` names, each on
 * an address of its own (127.0.1.N, a listener that accepts connections and never answers), are asked for at
 * 5 requests per second with fresh paths; meanwhile new clients on an unrelated domain arrive at 2 per second, and
 * a known-good client (a user completed an authorization) whose document lives 1 s is looked up every second.
 * Names are answered by an injected resolver (loopback; the development exception). A phase without the attack
 * is the baseline; phases alternate.
 *
 * - `attack_private_suffix_new_client_success_rate`: goal 1.
 * - `attack_private_suffix_new_client_p99_ms`: goal value <= fetch timeout + 1 s.
 * - `attack_private_suffix_known_refreshed_rate`: the known client's lookups answered fresh (a refresh from its
 *   origin, `fetched`/`revalidated`, or a still-fresh copy, `cache_hit`), not a stale copy or an error. Goal 1.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { type CimdEvent, createCimd } from 'oidc-provider-cimd';
import { createResolver } from '../test/helpers/resolver.js';
import { certificateFor } from '../test/hostile/cert.js';
import { note, report, round, runMain } from './lib/report.js';

const PHASE_MS = Number(process.env.PHASE_MS ?? 10_000);
const ROUNDS = Number(process.env.ROUNDS ?? 2);
const TIMEOUT_MS = 5000;
const SLOW = Array.from({ length: 40 }, (_, i) => `victim-${i}.duckdns.org`);
const NEW_CLIENTS = Array.from({ length: 400 }, (_, i) => `app-${i}.other-apps.com`);
const KNOWN = 'known.acme-apps.com';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const p99 = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0;
};

async function main(): Promise<void> {
  const { key, cert } = await certificateFor([KNOWN, '*.other-apps.com']);
  const docs = https.createServer({ key, cert }, (req, res) => {
    const cid = `https://${req.headers.host}${req.url}`;
    const maxAge = req.headers.host?.startsWith(KNOWN) ? 1 : 60;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': `max-age=${maxAge}` });
    res.end(JSON.stringify({ client_id: cid, client_name: 'Bench', redirect_uris: ['https://app.example.com/cb'] }));
  });
  docs.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => docs.listen(0, '127.0.0.1', resolve));
  const port = (docs.address() as AddressInfo).port;

  const slow: { server: net.Server; port: number; sockets: Set<net.Socket> }[] = [];
  for (let i = 0; i < SLOW.length; i += 1) {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, `127.0.1.${i + 1}`, resolve));
    slow.push({ server, port: (server.address() as AddressInfo).port, sockets });
  }

  const table: Record<string, string[]> = { [KNOWN]: ['127.0.0.1'] };
  for (const name of NEW_CLIENTS) table[name] = ['127.0.0.1'];
  SLOW.forEach((name, i) => {
    table[name] = [`127.0.1.${i + 1}`];
  });
  const events: CimdEvent[] = [];
  const cimd = createCimd({
    issuer: 'http://localhost:3000',
    allowLoopback: true,
    ca: cert,
    lookup: createResolver(table),
    lifetime: { minSeconds: 0 },
    timeoutMs: TIMEOUT_MS,
    onEvent: (event) => events.push(event),
  });
  const configuration = cimd.configure({});
  const knownCid = `https://${KNOWN}:${port}/client`;
  await cimd.resolve(knownCid);
  const grants = (configuration.adapter as (name: string) => Adapter)('Grant');
  await grants.upsert('bench-grant', { clientId: knownCid, accountId: 'alice' } as AdapterPayload, 3600);
  await sleep(100);

  let next = 0;
  let attackCount = 0;
  async function phase(attack: boolean) {
    const latencies: number[] = [];
    let ok = 0;
    let n = 0;
    const known = { refreshed: 0, n: 0, reasons: {} as Record<string, number> };
    const pending: Promise<unknown>[] = [];
    const started = Date.now();
    let tick = 0;
    while (Date.now() - started < PHASE_MS) {
      if (attack) {
        const name = SLOW[attackCount % SLOW.length]!;
        const target = slow[attackCount % SLOW.length]!;
        attackCount += 1;
        pending.push(cimd.resolve(`https://${name}:${target.port}/x${attackCount}`).catch(() => undefined));
      }
      if (tick % 2 === 0) {
        const cid = `https://${NEW_CLIENTS[next++ % NEW_CLIENTS.length]}:${port}/c${next}`;
        const t0 = performance.now();
        n += 1;
        pending.push(
          cimd.resolve(cid).then(
            () => {
              ok += 1;
              latencies.push(performance.now() - t0);
            },
            () => latencies.push(performance.now() - t0),
          ),
        );
      }
      if (tick % 5 === 0) {
        const before = events.length;
        known.n += 1;
        pending.push(
          cimd
            .resolve(knownCid)
            .then(
              () => undefined,
              () => undefined,
            )
            .then(() => {
              const reason = events.slice(before).find((e) => e.cid === knownCid)?.reason ?? 'none';
              known.reasons[reason] = (known.reasons[reason] ?? 0) + 1;
              if (reason === 'fetched' || reason === 'revalidated' || reason === 'cache_hit') known.refreshed += 1;
            }),
        );
      }
      tick += 1;
      await sleep(200);
    }
    await Promise.all(pending);
    return { n, ok, p99: p99(latencies), known };
  }

  const totals = { base: { n: 0, ok: 0, lat: [] as number[] }, attack: { n: 0, ok: 0, lat: [] as number[] } };
  const knownTotals = { n: 0, refreshed: 0, reasons: {} as Record<string, number> };
  for (let r = 0; r < ROUNDS; r += 1) {
    for (const attack of [false, true]) {
      const result = await phase(attack);
      const bucket = attack ? totals.attack : totals.base;
      bucket.n += result.n;
      bucket.ok += result.ok;
      bucket.lat.push(result.p99);
      if (attack) {
        knownTotals.n += result.known.n;
        knownTotals.refreshed += result.known.refreshed;
        for (const [reason, count] of Object.entries(result.known.reasons)) {
          knownTotals.reasons[reason] = (knownTotals.reasons[reason] ?? 0) + count;
        }
      }
      note(`round ${r} ${attack ? 'attack' : 'baseline'} ${JSON.stringify(result)}`);
    }
  }
  const rate = totals.attack.ok / Math.max(1, totals.attack.n);
  report({
    name: 'attack_private_suffix_new_client_success_rate',
    value: round(rate, 4),
    baseline: round(totals.base.ok / Math.max(1, totals.base.n), 4),
    ratio: null,
    unit: 'fraction',
    goal: 'value = 1',
    met: rate === 1,
  });
  const attackP99 = Math.max(...totals.attack.lat);
  const baseP99 = Math.max(...totals.base.lat);
  report({
    name: 'attack_private_suffix_new_client_p99_ms',
    value: round(attackP99, 1),
    baseline: round(baseP99, 1),
    ratio: round(attackP99 / Math.max(1, baseP99)),
    unit: 'ms',
    goal: `value <= ${TIMEOUT_MS + 1000}`,
    met: attackP99 <= TIMEOUT_MS + 1000,
  });
  const refreshed = knownTotals.refreshed / Math.max(1, knownTotals.n);
  note(`known client reasons under attack ${JSON.stringify(knownTotals.reasons)}`);
  report({
    name: 'attack_private_suffix_known_refreshed_rate',
    value: round(refreshed, 4),
    baseline: null,
    ratio: null,
    unit: 'fraction',
    goal: 'value = 1',
    met: refreshed === 1,
  });

  await cimd.close();
  for (const s of slow) {
    for (const socket of s.sockets) socket.destroy();
    s.server.close();
  }
  docs.closeAllConnections();
  docs.close();
}

runMain(main);
