/**
 * Benchmark 10 — the shared-Redis guarantees on a Redis Cluster (3 masters started here with
 * `redis-cli --cluster create`, two provider instances connected through `createRedisCache(<one node's URL>)`,
 * the topology asked from the server):
 * - `cluster_cold_herd_fetches`: 500 `/auth` in flight at once for one new client, split across both instances
 *   (goal 1: one fetch across the cluster, through the fetch lock whose keys share the CID's hash slot);
 * - `cluster_redis_commands_per_warm_auth`: a client already in each instance's in-process tier, counted by
 *   every master's `INFO commandstats` (goal 0: the warm path never leaves the process).
 */
import './lib/quiet.js';
import { createRedisCache } from 'oidc-provider-cimd';
import { getTestCertificate } from '../test/helpers/certs.js';
import { startRedisCluster } from '../test/helpers/redis-server.js';
import { startDocServer } from './lib/doc-server.js';
import { authPath, LoadClient } from './lib/load.js';
import { type BenchProvider, startProvider } from './lib/providers.js';
import { note, report, round, runMain } from './lib/report.js';

const HERD = 500;
const WARM_REQUESTS = 500;

async function main(): Promise<void> {
  const { cert } = await getTestCertificate();
  const docs = await startDocServer();
  const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 0 });
  const caches: Awaited<ReturnType<typeof createRedisCache>>[] = [];
  const instances: BenchProvider[] = [];
  const clients: LoadClient[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      // Each instance seeded with a different node: any node finds the whole cluster.
      const cache = await createRedisCache(cluster.nodes[i]!.url, { maxReconnectDelayMs: 200 });
      caches.push(cache);
      instances.push(await startProvider({ kind: 'plugin', ca: cert, cimd: { cache } }));
    }
    for (const instance of instances) clients.push(new LoadClient(instance.issuer, HERD / 2));
    // Warm the HTTP stack and open every connection with a request that involves no client.
    for (const client of clients) await client.run('/.well-known/openid-configuration', HERD / 2, HERD / 2);

    const path = '/slow/cluster-herd-client.json';
    const cid = `${docs.url}${path}`;
    const started = performance.now();
    const statuses = await Promise.all(
      Array.from({ length: HERD }, (_, i) => clients[i % 2]!.get(authPath(cid), 10_000)),
    );
    const elapsed = performance.now() - started;
    const failed = statuses.filter((status) => status !== 303).length;
    if (failed) throw new Error(`cluster cold herd: ${failed} requests did not reach the interaction`);
    const fetches = docs.hitsFor(path);
    note(`cluster cold herd: ${HERD} requests on 2 instances in ${Math.round(elapsed)} ms, ${fetches} fetch(es)`);
    report('cluster_cold_herd_fetches', {
      value: fetches,
      baseline: null,
      ratio: null,
      unit: `fetches/${HERD} requests`,
    });

    const warmCid = `${docs.url}/warm/cluster-client.json`;
    for (const client of clients) await client.run(authPath(warmCid), 10, 1, { expect: 303 });
    await cluster.resetStats();
    await clients[0]!.run(authPath(warmCid), WARM_REQUESTS / 2, 4, { expect: 303 });
    await clients[1]!.run(authPath(warmCid), WARM_REQUESTS / 2, 4, { expect: 303 });
    const perMaster = await Promise.all((await cluster.masters()).map(async (m) => [...(await m.commandStats())]));
    const warmTotal = await cluster.totalCommands();
    note(
      `cluster warm /auth: ${warmTotal} Redis commands on all masters for ${WARM_REQUESTS} requests ${JSON.stringify(perMaster.flat())}`,
    );
    report('cluster_redis_commands_per_warm_auth', {
      value: round(warmTotal / WARM_REQUESTS, 4),
      baseline: null,
      ratio: null,
      unit: 'commands/request',
    });
  } finally {
    await Promise.allSettled(clients.map((client) => client.close()));
    await Promise.allSettled(instances.map((instance) => instance.close()));
    await Promise.allSettled(caches.map((cache) => cache.disconnect()));
    await cluster.close();
    await docs.close();
  }
}

runMain(main);
