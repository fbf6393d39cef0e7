/**
 * Attack bench — junk on a known client's host, the client out of every cache (issue 26, finding 1). A client
 * that completed an authorization serves its document with `no-store` (so no tier ever holds a copy, as after
 * eviction, a restart or a scale-out); junk ids on its host (404s) arrive at 20 per second and empty the host's
 * first-time budget, while the client is looked up twice per second. The phase without junk is the baseline.
 *
 * - `attack_known_host_success_rate`: the known client's lookups that resolved during the junk. Goal 1.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { createCimd } from 'oidc-provider-cimd';
import { createResolver } from '../test/helpers/resolver.js';
import { certificateFor } from '../test/hostile/cert.js';
import { note, report, round, runMain } from './lib/report.js';

const PHASE_MS = Number(process.env.PHASE_MS ?? 10_000);
const HOST = 'popular.acme-apps.com';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const { key, cert } = await certificateFor([HOST]);
  const docs = https.createServer({ key, cert }, (req, res) => {
    if (req.url !== '/client') return res.writeHead(404).end();
    const cid = `https://${req.headers.host}${req.url}`;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ client_id: cid, client_name: 'Known', redirect_uris: ['https://app.example.com/cb'] }));
  });
  docs.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => docs.listen(0, '127.0.0.1', resolve));
  const port = (docs.address() as AddressInfo).port;

  const cimd = createCimd({
    issuer: 'http://localhost:3000',
    allowLoopback: true,
    ca: cert,
    lookup: createResolver({ [HOST]: ['127.0.0.1'] }),
    registry: false,
  });
  const configuration = cimd.configure({});
  const cid = `https://${HOST}:${port}/client`;
  await cimd.resolve(cid);
  const grants = (configuration.adapter as (name: string) => Adapter)('Grant');
  await grants.upsert('bench-grant', { clientId: cid, accountId: 'alice' } as AdapterPayload, 3600);
  await sleep(100);

  let junkId = 0;
  async function phase(junk: boolean) {
    let n = 0;
    let ok = 0;
    const pending: Promise<unknown>[] = [];
    const started = Date.now();
    let tick = 0;
    while (Date.now() - started < PHASE_MS) {
      if (junk) pending.push(cimd.resolve(`https://${HOST}:${port}/junk-${junkId++}`).catch(() => undefined));
      if (tick % 10 === 0) {
        n += 1;
        pending.push(
          cimd.resolve(cid).then(
            () => {
              ok += 1;
            },
            () => undefined,
          ),
        );
      }
      tick += 1;
      await sleep(50);
    }
    await Promise.all(pending);
    return { n, ok };
  }
  const base = await phase(false);
  const attack = await phase(true);
  note(`baseline ${JSON.stringify(base)}; with junk (${junkId} ids) ${JSON.stringify(attack)}`);
  const rate = attack.ok / Math.max(1, attack.n);
  report({
    name: 'attack_known_host_success_rate',
    value: round(rate, 4),
    baseline: round(base.ok / Math.max(1, base.n), 4),
    ratio: null,
    unit: 'fraction',
    goal: 'value = 1',
    met: rate === 1,
  });
  await cimd.close();
  docs.closeAllConnections();
  docs.close();
}

runMain(main);
