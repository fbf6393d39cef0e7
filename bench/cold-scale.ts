/**
 * Cold path across instances — `cold_resolutions_two_instances_ratio`: cold resolutions (new client ids, each a
 * fetch, validation and a write to the shared tier) per second with two plugin instances, each in its own process,
 * sharing one Redis, against one instance alone; each instance saturated (8 resolutions in flight). Rounds of one
 * and of two instances alternate (one, two, two, one, ...), median of the per-pair ratios. The A/A line compares
 * consecutive one-instance rounds. The document host is another process. Goal: >= 1.8 (it scales), a target set
 * from the physical limit (two cores); on a machine shared with other work it says how much of the second core
 * there was to have.
 */
import './lib/quiet.js';
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { getTestCertificate } from '../test/helpers/certs.js';
import { startRedisServer } from '../test/helpers/redis-server.js';
import { startDocServerProcess } from './lib/doc-server-process.js';
import { note, reportRatio, round, runMain } from './lib/report.js';
import { median, spread } from './lib/stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 3000);
const WORKER = fileURLToPath(new URL('./lib/cold-worker.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Done {
  resolved: number;
  failed: number;
  wallMs: number;
  cpuMs: number;
}

async function main(): Promise<void> {
  const { key, cert } = await getTestCertificate();
  const docs = await startDocServerProcess(key, cert);
  const redis = await startRedisServer();
  const workers: ChildProcess[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const child = fork(WORKER, [], {
        cwd: ROOT,
        execArgv: ['--import', 'tsx'],
        env: { ...process.env, REDIS_URL: redis.url, DOCS_URL: docs.url, DOCS_CA: cert },
        stdio: ['ignore', 2, 2, 'ipc'],
      });
      workers.push(child);
      await once(child, 'message');
    }
    let serial = 0;
    const run = async (count: 1 | 2): Promise<number> => {
      const tag = `r${serial++}`;
      const answers = workers.slice(0, count).map(async (worker, w) => {
        const done = once(worker, 'message') as Promise<[Done]>;
        worker.send({ op: 'round', tag: `${tag}-w${w}`, ms: ROUND_MS });
        return (await done)[0];
      });
      const results = await Promise.all(answers);
      const failed = results.reduce((sum, r) => sum + r.failed, 0);
      if (failed) throw new Error(`${failed} cold resolutions failed in a round of ${count}`);
      return results.reduce((sum, r) => sum + r.resolved / (r.wallMs / 1000), 0);
    };
    await run(1);
    await run(2);
    const ones: number[] = [];
    const twos: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      if (i % 2 === 0) {
        ones.push(await run(1));
        twos.push(await run(2));
      } else {
        twos.push(await run(2));
        ones.push(await run(1));
      }
    }
    const ratios = twos.map((two, i) => two / ones[i]!);
    const aaRatios = ones.slice(1).map((one, i) => one / ones[i]!);
    note(
      `cold resolutions per second: one instance ${ones.map((r) => Math.round(r)).join(', ')}; two instances ` +
        `${twos.map((r) => Math.round(r)).join(', ')}; ratios ${ratios.map((r) => round(r)).join(', ')}`,
    );
    const aa = median(aaRatios);
    reportRatio(
      'cold_resolutions_two_instances_aa_ratio',
      { value: median(ones.slice(1)), baseline: median(ones.slice(0, -1)), ratio: aa, spread: spread(aaRatios) },
      'resolutions/s',
    );
    reportRatio(
      'cold_resolutions_two_instances_ratio',
      { value: median(twos), baseline: median(ones), ratio: median(ratios), aa, spread: spread(ratios) },
      'resolutions/s',
    );
  } finally {
    for (const worker of workers) worker.send({ op: 'stop' });
    await Promise.allSettled(workers.map((worker) => (worker.exitCode === null ? once(worker, 'exit') : undefined)));
    await redis.close();
    await docs.close();
  }
}

runMain(main);
