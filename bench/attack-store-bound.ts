/**
 * Attack bench — distinct-domain flood against the shared store (issue 26, finding 5). For FLOOD_MS (default
 * 60 s) new valid documents, each with `max-age=86400, stale-if-error=86400` and each on a host of its own, are
 * resolved as fast as the budgets let them (budgets opened wide: the worst case, an attacker with truly distinct
 * domains and addresses), against a Redis of its own. Then the shared store is measured.
 *
 * - `attack_store_bound_max_ttl_s`: the longest remaining lifetime of any flooded document. Goal <= 300 (the
 *   fixed retention of never-authorized clients, whatever max-age asks).
 * - `attack_store_bound_bytes`: bytes the flooded documents hold in Redis (MEMORY USAGE, summed), against the
 *   stated bound: flood rate x 300 s x measured bytes per entry. Goal: value <= bound.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCimd, createRedisCache } from 'oidc-provider-cimd';
import { startRedisServer } from '../test/helpers/redis-server.js';
import { certificateFor } from '../test/hostile/cert.js';
import { note, report, round, runMain } from './lib/report.js';

const FLOOD_MS = Number(process.env.FLOOD_MS ?? 60_000);
const RETENTION_S = 300;

async function main(): Promise<void> {
  const redis = await startRedisServer();
  const { key, cert } = await certificateFor(['*.flood-net.com']);
  const filler = 'x'.repeat(3000);
  const docs = https.createServer({ key, cert }, (req, res) => {
    const cid = `https://${req.headers.host}${req.url}`;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=86400, stale-if-error=86400' });
    res.end(
      JSON.stringify({
        client_id: cid,
        client_name: 'Flood',
        client_uri: `https://app.example.com/${filler}`,
        redirect_uris: ['https://app.example.com/cb'],
      }),
    );
  });
  docs.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => docs.listen(0, '127.0.0.1', resolve));
  const port = (docs.address() as AddressInfo).port;

  const cache = await createRedisCache(redis.url);
  const cimd = createCimd({
    issuer: 'http://localhost:3000',
    allowLoopback: true,
    ca: cert,
    cache,
    registry: false,
    sharedCacheTimeoutMs: 5000,
    lookup: (_hostname, _options, callback) =>
      (callback as (err: null, list: { address: string; family: number }[]) => void)(null, [
        { address: '127.0.0.1', family: 4 },
      ]),
    budget: {
      perHostBurst: 1e6,
      perHostPerSecond: 1e6,
      perDomainBurst: 1e6,
      perDomainPerSecond: 1e6,
      maxConcurrent: 64,
      maxConcurrentPerDomain: 64,
      maxConcurrentPerAddress: 64,
    },
  });
  cimd.configure({});

  const started = Date.now();
  let made = 0;
  let ok = 0;
  const worker = async () => {
    while (Date.now() - started < FLOOD_MS) {
      const n = made++;
      await cimd.resolve(`https://d${n}.flood-net.com:${port}/c`).then(
        () => {
          ok += 1;
        },
        () => undefined,
      );
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  const seconds = (Date.now() - started) / 1000;
  const rate = ok / seconds;

  const keys = (await redis.command('KEYS', '*cimd:doc:*')) as string[];
  let bytes = 0;
  let maxTtlMs = 0;
  for (const k of keys) {
    bytes += Number(await redis.command('MEMORY', 'USAGE', k));
    maxTtlMs = Math.max(maxTtlMs, Number(await redis.command('PTTL', k)));
  }
  const perEntry = bytes / Math.max(1, keys.length);
  const bound = rate * RETENTION_S * perEntry;
  note(
    `flood ${seconds.toFixed(1)} s: ${ok} documents stored (${rate.toFixed(1)}/s), ${keys.length} keys, ${round(perEntry, 0)} bytes per entry`,
  );
  report({
    name: 'attack_store_bound_max_ttl_s',
    value: round(maxTtlMs / 1000, 1),
    baseline: null,
    ratio: null,
    unit: 's',
    goal: `value <= ${RETENTION_S}`,
    met: maxTtlMs <= RETENTION_S * 1000,
  });
  report({
    name: 'attack_store_bound_bytes',
    value: bytes,
    baseline: round(bound, 0),
    ratio: round(bytes / Math.max(1, bound)),
    unit: 'bytes',
    goal: 'value <= rate x 300 s x bytes per entry',
    met: bytes <= bound,
  });
  note(`bytes per attacker request per second: ${round(RETENTION_S * perEntry, 0)}`);

  await cimd.close();
  await cache.disconnect();
  docs.closeAllConnections();
  docs.close();
  await redis.kill();
}

runMain(main);
