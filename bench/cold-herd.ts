/**
 * Benchmark 4 — cold herd: 500 `/auth` requests in flight at once for one client nobody has seen yet, split
 * across two provider instances that share Redis (250 keep-alive connections each, all requests sent before any
 * is answered; the document host takes 50 ms to answer, so the herd is complete before the first fetch ends).
 * Goal: exactly one document fetch for the whole herd (one per process by single-flight, one across processes
 * by the Redis fetch lock), and every request reaches the interaction (303).
 */
import './lib/quiet.js';
import { getTestCertificate } from '../test/helpers/certs.js';
import { startCluster } from './lib/cluster.js';
import { startDocServer } from './lib/doc-server.js';
import { authPath, LoadClient } from './lib/load.js';
import { note, report, runMain } from './lib/report.js';

const HERD = 500;

async function main(): Promise<void> {
  const { cert } = await getTestCertificate();
  const docs = await startDocServer();
  const cluster = await startCluster(cert);
  const clients = cluster.instances.map((instance) => new LoadClient(instance.issuer, HERD / 2));
  try {
    // Warm the HTTP stack and open every connection with a request that involves no client.
    for (const client of clients) await client.run('/.well-known/openid-configuration', HERD / 2, HERD / 2);
    const path = '/slow/herd-client.json';
    const cid = `${docs.url}${path}`;
    const started = performance.now();
    const statuses = await Promise.all(
      Array.from({ length: HERD }, (_, i) => clients[i % 2]!.get(authPath(cid), 10_000)),
    );
    const elapsed = performance.now() - started;
    const failed = statuses.filter((status) => status !== 303).length;
    if (failed) throw new Error(`cold herd: ${failed} requests did not reach the interaction`);
    const fetches = docs.hitsFor(path);
    note(`cold herd: ${HERD} requests on 2 instances in ${Math.round(elapsed)} ms, ${fetches} fetch(es)`);
    report('cold_herd_fetches', {
      value: fetches,
      baseline: null,
      ratio: null,
      unit: `fetches/${HERD} requests`,
    });
  } finally {
    await Promise.allSettled(clients.map((client) => client.close()));
    await cluster.close();
    await docs.close();
  }
}

runMain(main);
