/**
 * Benchmark 5 — Redis commands per `/auth` (counted by the private redis-server itself: `INFO commandstats`
 * deltas), two provider instances sharing it:
 * - `redis_commands_per_warm_auth`: a client already in each instance's in-process tier (goal 0: the warm path
 *   never leaves the process);
 * - `redis_commands_per_shared_hit`: 50 clients fetched through instance A, then requested for the first time on
 *   instance B, which finds them in the shared tier (goal 1: one GET, and no fetch).
 */
import './lib/quiet.js';
import { getTestCertificate } from '../test/helpers/certs.js';
import { startCluster } from './lib/cluster.js';
import { startDocServer } from './lib/doc-server.js';
import { authPath, LoadClient } from './lib/load.js';
import { note, report, round, runMain } from './lib/report.js';

const WARM_REQUESTS = 500;
const SHARED_CLIENTS = 50;

async function main(): Promise<void> {
  const { cert } = await getTestCertificate();
  const docs = await startDocServer();
  const cluster = await startCluster(cert);
  const { redis } = cluster;
  const [a, b] = cluster.instances;
  const clients = [new LoadClient(a.issuer, 4), new LoadClient(b.issuer, 4)] as const;
  try {
    const warmCid = `${docs.url}/warm/client.json`;
    for (const client of clients) await client.run(authPath(warmCid), 10, 1, { expect: 303 });
    await redis.resetStats();
    await clients[0].run(authPath(warmCid), WARM_REQUESTS / 2, 4, { expect: 303 });
    await clients[1].run(authPath(warmCid), WARM_REQUESTS / 2, 4, { expect: 303 });
    const warmCommands = await redis.commandStats();
    const warmTotal = [...warmCommands.values()].reduce((sum, calls) => sum + calls, 0);
    note(`warm /auth: ${warmTotal} Redis commands for ${WARM_REQUESTS} requests ${JSON.stringify([...warmCommands])}`);
    report('redis_commands_per_warm_auth', {
      value: round(warmTotal / WARM_REQUESTS, 4),
      baseline: null,
      ratio: null,
      unit: 'commands/request',
    });

    const paths = Array.from({ length: SHARED_CLIENTS }, (_, i) => `/shared/${i}.json`);
    for (const path of paths) {
      if ((await clients[0].get(authPath(`${docs.url}${path}`))) !== 303) throw new Error('shared warm-up failed');
    }
    await redis.resetStats();
    for (const path of paths) {
      if ((await clients[1].get(authPath(`${docs.url}${path}`))) !== 303) throw new Error('shared hit failed');
    }
    const sharedCommands = await redis.commandStats();
    const sharedTotal = [...sharedCommands.values()].reduce((sum, calls) => sum + calls, 0);
    const refetched = paths.filter((path) => docs.hitsFor(path) !== 1).length;
    if (refetched) throw new Error(`${refetched} shared-tier clients were fetched again`);
    note(`shared hits: ${sharedTotal} Redis commands for ${SHARED_CLIENTS} ${JSON.stringify([...sharedCommands])}`);
    report('redis_commands_per_shared_hit', {
      value: round(sharedTotal / SHARED_CLIENTS, 4),
      baseline: null,
      ratio: null,
      unit: 'commands/request',
    });
  } finally {
    await Promise.allSettled(clients.map((client) => client.close()));
    await cluster.close();
    await docs.close();
  }
}

runMain(main);
