/**
 * Benchmark 5 — Redis commands per `/auth` (counted by the private redis-server itself: `INFO commandstats`
 * deltas), two provider instances sharing it:
 * - `redis_commands_per_warm_auth`: a client already in each instance's in-process tier (goal 0: the warm path
 *   never leaves the process);
 * - `redis_commands_per_shared_hit`: 50 clients fetched through instance A, then requested for the first time on
 *   instance B, which finds them in the shared tier (goal 1: one GET, and no fetch);
 * - `redis_round_trips_per_cold_resolution` and `redis_round_trips_per_cold_herd_of_two`: what a client never
 *   seen before costs, once on one instance, and once requested on both instances at the same time (one fetch
 *   across them). Counted as the commands the server received from clients (`MONITOR`, leaving out the commands
 *   scripts run inside the server): a commit is one round trip (one EVAL) however many keys it reads.
 */
import { spawn } from 'node:child_process';
import './lib/quiet.js';
import { getTestCertificate } from '../test/helpers/certs.js';
import { startCluster } from './lib/cluster.js';
import { startDocServer } from './lib/doc-server.js';
import { authPath, LoadClient } from './lib/load.js';
import { note, report, round, runMain } from './lib/report.js';

const WARM_REQUESTS = 500;
const SHARED_CLIENTS = 50;
const COLD_CLIENTS = 10;

/** Counts the commands clients send to the server at `port` (not the ones scripts run) until `stop()`. */
async function monitor(
  port: number,
): Promise<{ stop(): Promise<{ total: number; byCommand: Record<string, number> }> }> {
  const child = spawn('redis-cli', ['-p', String(port), 'monitor'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let buffer = '';
  const byCommand: Record<string, number> = {};
  let ready!: () => void;
  const started = new Promise<void>((resolve) => {
    ready = resolve;
  });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffer += chunk;
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === 'OK') ready();
      // `<time> [<db> <client address>] "COMMAND" ...`; commands a script runs show `[<db> lua]`.
      const match = /^\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]+)"/.exec(line);
      if (!match || match[1] === 'lua') continue;
      const command = match[2]!.toUpperCase();
      byCommand[command] = (byCommand[command] ?? 0) + 1;
    }
  });
  await Promise.race([started, new Promise((resolve) => setTimeout(resolve, 2000))]);
  return {
    async stop() {
      await new Promise((resolve) => setTimeout(resolve, 100));
      child.kill();
      const total = Object.values(byCommand).reduce((sum, n) => sum + n, 0);
      return { total, byCommand };
    },
  };
}

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

    // A client never seen before, on one instance: read, fetch lock, host budget, commit, lock release.
    const single = await monitor(redis.port);
    for (let i = 0; i < COLD_CLIENTS; i++) {
      if ((await clients[0].get(authPath(`${docs.url}/cold/${i}.json`))) !== 303) throw new Error('cold failed');
    }
    const singleCount = await single.stop();
    note(
      `cold resolution: ${singleCount.total} round trips for ${COLD_CLIENTS} ${JSON.stringify(singleCount.byCommand)}`,
    );
    report({
      name: 'redis_round_trips_per_cold_resolution',
      value: round(singleCount.total / COLD_CLIENTS, 2),
      baseline: null,
      ratio: null,
      unit: 'round trips/resolution',
      goal: 'report',
      met: true,
    });
    // The same client on both instances at once: one fetch, the other instance waits for the outcome.
    const herd = await monitor(redis.port);
    for (let i = 0; i < COLD_CLIENTS; i++) {
      const cid = `${docs.url}/herd/${i}.json`;
      const statuses = await Promise.all(clients.map((client) => client.get(authPath(cid))));
      if (statuses.some((status) => status !== 303)) throw new Error('herd failed');
    }
    const herdCount = await herd.stop();
    note(`cold herd of two: ${herdCount.total} round trips for ${COLD_CLIENTS} ${JSON.stringify(herdCount.byCommand)}`);
    report({
      name: 'redis_round_trips_per_cold_herd_of_two',
      value: round(herdCount.total / COLD_CLIENTS, 2),
      baseline: null,
      ratio: null,
      unit: 'round trips/herd',
      goal: 'report',
      met: true,
    });
  } finally {
    await Promise.allSettled(clients.map((client) => client.close()));
    await cluster.close();
    await docs.close();
  }
}

runMain(main);
