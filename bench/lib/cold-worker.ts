/**
 * One plugin instance in a process of its own, for cold-scale.ts: on {op:'round', tag, ms} it resolves new client
 * ids (`<DOCS_URL>/cold/<tag>-<i>.json`) with CONCURRENCY in flight for `ms` milliseconds and answers with the
 * count and the CPU time it used. The shared tier is the Redis at REDIS_URL.
 */
import { createCimd, createRedisCache } from 'oidc-provider-cimd';

const CONCURRENCY = 8;

const cache = await createRedisCache(process.env.REDIS_URL!, { maxReconnectDelayMs: 200 });
const cimd = createCimd({
  issuer: 'http://localhost:1',
  allowLoopback: true,
  ca: process.env.DOCS_CA!,
  cache,
  // Many new clients from one local host on purpose: no budget (local or shared) may refuse them.
  budget: {
    perHostBurst: 1_000_000,
    perDomainBurst: 1_000_000,
    maxConcurrent: 4 * CONCURRENCY,
    maxConcurrentPerDomain: 4 * CONCURRENCY,
    // All the documents come from one address (127.0.0.1): its first-time slots must not refuse them either.
    maxConcurrentPerAddress: 4 * CONCURRENCY,
  },
});
cimd.configure({});

process.on('message', async (message: { op: 'round'; tag: string; ms: number } | { op: 'stop' }) => {
  if (message.op === 'stop') {
    await cimd.close();
    await cache.disconnect();
    process.exit(0);
  }
  const cpu = process.cpuUsage();
  const started = performance.now();
  let next = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() - started < message.ms) {
        const i = next++;
        if (!(await cimd.resolve(`${process.env.DOCS_URL}/cold/${message.tag}-${i}.json`).catch(() => undefined))) {
          failed++;
        }
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  process.send?.({
    op: 'done',
    resolved: next - failed,
    failed,
    wallMs: performance.now() - started,
    cpuMs: (used.user + used.system) / 1000,
  });
});
process.send?.({ op: 'ready' });
