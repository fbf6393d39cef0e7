/**
 * Benchmark 6 — memory of the in-process tier. Needs `--expose-gc` (run.ts passes it). `resolve()` is called
 * directly for thousands of distinct client ids, each with its own small document from a local host in another
 * process; the shared tier is a private redis-server (another process too), so this process' heap holds only
 * what the plugin keeps. Heap figures are `heapUsed` after two forced full GCs; the heap of a process that has
 * opened thousands of TLS connections wanders by a few MiB either way, so each figure is the slope of a
 * least-squares line through several measurements as the clients are added, starting after a first batch (so that
 * one-time allocations — compiled code, pools, the LRU's own tables — do not count as per-client cost).
 *
 * - `memory_bytes_per_cached_client`: heap growth per client from 1,000 to 10,000 distinct clients cached
 *   (`memoryCacheSize: 10000`): the validated metadata and cache entry, the LRU slots and the remembered URL-rules
 *   verdict (a parsed URL). Goal: under 4 KiB.
 * - `memory_growth_beyond_bound`: with `memoryCacheSize: 1000`, heap growth per client from 1,500 to 5,500
 *   distinct clients (the tier full all along), against the per-client cost above. Goal: ratio <= 0.1 (the tier
 *   is bounded by configuration, not by the number of clients seen).
 * stderr also shows the second figure with the default shared tier (a private in-memory Keyv instead of Redis).
 */
import './lib/quiet.js';
import { type Cimd, type CimdOptions, createCimd, createRedisCache } from 'oidc-provider-cimd';
import { getTestCertificate } from '../test/helpers/certs.js';
import { startRedisServer } from '../test/helpers/redis-server.js';
import { startDocServerProcess } from './lib/doc-server-process.js';
import { note, report, round, runMain } from './lib/report.js';

const CLIENTS = Number(process.env.BENCH_MEMORY_CLIENTS ?? 10_000);
const BOUND = 1000;
const CONCURRENCY = 32;

const gc = (globalThis as { gc?: () => void }).gc;

/**
 * `heapUsed` after full GCs with pauses between them: objects kept by FinalizationRegistry cells (every
 * `AbortSignal.timeout()` — node-redis makes one per command — holds its timer, and the timer holds the async
 * context it was created in, a whole request) are released only once the registry's cleanup task has run,
 * which needs a turn of the event loop after the GC that found the signal dead.
 */
async function heapUsed(): Promise<number> {
  const pause = () => new Promise((resolve) => setTimeout(resolve, 20));
  for (let i = 0; i < 3; i++) {
    await pause();
    gc?.();
  }
  return process.memoryUsage().heapUsed;
}

/** Least-squares slope of y over x. */
function slope(points: readonly [number, number][]): number {
  const n = points.length;
  const mx = points.reduce((sum, [x]) => sum + x, 0) / n;
  const my = points.reduce((sum, [, y]) => sum + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  return sxy / sxx;
}

function plugin(options: CimdOptions): Cimd {
  const cimd = createCimd({
    issuer: 'http://localhost:1',
    allowLoopback: true,
    // Thousands of distinct clients from one local host on purpose: the per-host and per-domain budgets (rate and
    // concurrency) must not refuse them; the budgets have their own tests and the attack benchmark.
    budget: {
      perHostBurst: 1_000_000,
      perDomainBurst: 1_000_000,
      // Room above the fill's own concurrency: part of each limit is reserved for refreshes of known clients.
      maxConcurrent: 2 * CONCURRENCY,
      maxConcurrentPerDomain: 2 * CONCURRENCY,
      // All the documents come from one address (127.0.0.1): its first-time slots must not refuse them either.
      maxConcurrentPerAddress: 2 * CONCURRENCY,
    },
    ...options,
  });
  cimd.configure({});
  return cimd;
}

/** Resolves `count` new distinct clients (`<origin>/<prefix>/<i>.json`). */
async function fill(cimd: Cimd, origin: string, prefix: string, count: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        const i = next++;
        if (!(await cimd.resolve(`${origin}/${prefix}/${i}.json`))) throw new Error(`client ${i} did not resolve`);
      }
    }),
  );
}

/** Heap growth per client (slope) from `first` clients to `last`, measured every `step` clients. */
async function growthPerClient(cimd: Cimd, origin: string, prefix: string, first: number, last: number, step: number) {
  await fill(cimd, origin, `${prefix}-0`, first);
  const points: [number, number][] = [[first, await heapUsed()]];
  for (let count = first + step; count <= last; count += step) {
    await fill(cimd, origin, `${prefix}-${count}`, step);
    points.push([count, await heapUsed()]);
  }
  return slope(points);
}

async function main(): Promise<void> {
  if (!gc) throw new Error('run with node --expose-gc');
  const { key, cert } = await getTestCertificate();
  const docs = await startDocServerProcess(key, cert);
  const redis = await startRedisServer();
  const cache = await createRedisCache(redis.url);
  try {
    let started = performance.now();
    const full = plugin({ ca: cert, cache, memoryCacheSize: CLIENTS });
    const perClient = await growthPerClient(full, docs.url, 'full', BOUND, CLIENTS, (CLIENTS - BOUND) / 6);
    await full.close();
    note(
      `${CLIENTS} clients cached in process: ${Math.round(perClient)} B/client, ` +
        `${round((perClient * CLIENTS) / 1048576, 1)} MiB in all (${Math.round(performance.now() - started)} ms)`,
    );
    report('memory_bytes_per_cached_client', {
      value: Math.round(perClient),
      baseline: null,
      ratio: null,
      unit: `bytes/client at ${CLIENTS} clients`,
    });
    await redis.command('FLUSHALL');

    started = performance.now();
    const bounded = plugin({ ca: cert, cache, memoryCacheSize: BOUND });
    const beyond = await growthPerClient(bounded, docs.url, 'bounded', 1.5 * BOUND, 5.5 * BOUND, BOUND);
    await bounded.close();
    note(
      `memoryCacheSize ${BOUND}: ${Math.round(beyond)} B per client beyond the bound, ${1.5 * BOUND} to ` +
        `${5.5 * BOUND} clients ` +
        `(${Math.round(performance.now() - started)} ms)`,
    );
    report('memory_growth_beyond_bound', {
      value: Math.round(beyond),
      baseline: Math.round(perClient),
      ratio: round(beyond / perClient),
      unit: `bytes/client beyond memoryCacheSize ${BOUND}`,
    });

    const defaults = plugin({ ca: cert, memoryCacheSize: BOUND });
    const defaultBeyond = await growthPerClient(defaults, docs.url, 'default-store', 1.5 * BOUND, 3 * BOUND, BOUND / 2);
    await defaults.close();
    note(
      `memoryCacheSize ${BOUND} with the default shared tier (in-memory Keyv, no Redis): ${Math.round(defaultBeyond)} B ` +
        'per client beyond the bound: that store keeps every document for its lifetime (up to 24 h)',
    );
  } finally {
    await cache.disconnect();
    await redis.close();
    await docs.close();
  }
}

runMain(main);
