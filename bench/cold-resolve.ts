/**
 * Cold path, in process — `cold_resolve_vs_bare_fetch_ratio`: CPU time of this process per `resolve()` of a client
 * nobody has seen (a new id each time: address policy, DNS, TLS handshake, fetch, strict JSON, document rules,
 * both cache tiers written), against the physical limit of a cold resolution: a bare undici GET of the same kind
 * of document over a fresh TLS connection (no keep-alive, no TLS session reuse, as the plugin fetches) plus
 * `JSON.parse`. The document host runs in another process, so its handshakes do not count here.
 * Alternating rounds (lib/stats.ts), median of the per-pair ratios; the A/A line puts the bare fetch against
 * itself. Goal: ratio <= 1.5 (a target from the physical limit, not from what the code does today).
 */
import './lib/quiet.js';
import { createCimd } from 'oidc-provider-cimd';
import { Agent, request } from 'undici';
import { getTestCertificate } from '../test/helpers/certs.js';
import { startDocServerProcess } from './lib/doc-server-process.js';
import { cpuSeconds } from './lib/lookups.js';
import { note, reportRatio, round, runMain } from './lib/report.js';
import { compareRates, spread } from './lib/stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 12);
const PER_ROUND = Number(process.env.BENCH_PER_ROUND ?? 300);
const CONCURRENCY = 4;

/** `count` calls of `work(i)` with CONCURRENCY in flight; calls per CPU-second of this process. */
async function rate(count: number, work: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = process.cpuUsage();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) await work(next++);
    }),
  );
  return count / cpuSeconds(started);
}

async function main(): Promise<void> {
  const { key, cert } = await getTestCertificate();
  const docs = await startDocServerProcess(key, cert);
  const cimd = createCimd({
    issuer: 'http://localhost:1',
    allowLoopback: true,
    ca: cert,
    // Thousands of new clients from one local host on purpose: no budget may refuse them.
    budget: {
      perHostBurst: 1_000_000,
      perDomainBurst: 1_000_000,
      maxConcurrent: 4 * CONCURRENCY,
      maxConcurrentPerDomain: 4 * CONCURRENCY,
    },
  });
  cimd.configure({});
  // The bare fetch, transport like the plugin's: no keep-alive (pipelining 0), no TLS session reuse.
  const agent = new Agent({ connect: { ca: cert, maxCachedSessions: 0 }, pipelining: 0 });
  let round_ = 0;
  const plugin = () => {
    const r = round_++;
    return rate(PER_ROUND, async (i) => {
      if (!(await cimd.resolve(`${docs.url}/cold/p${r}-${i}.json`))) throw new Error('resolve() found nothing');
    });
  };
  const bare = (tag: string) => () => {
    const r = round_++;
    return rate(PER_ROUND, async (i) => {
      const { statusCode, body } = await request(`${docs.url}/cold/${tag}${r}-${i}.json`, { dispatcher: agent });
      const doc = JSON.parse(await body.text()) as { client_id?: string };
      if (statusCode !== 200 || !doc.client_id) throw new Error(`bare GET answered ${statusCode}`);
    });
  };
  try {
    const result = await compareRates(ROUNDS, plugin, bare('b'), 1);
    const aa = await compareRates(Math.max(6, ROUNDS / 2), bare('x'), bare('y'), 1);
    const us = (r: number) => 1e6 / r;
    note(
      `cold resolve() vs bare GET + JSON.parse: ${round(us(result.value), 1)} vs ${round(us(result.baseline), 1)} ` +
        `CPU-µs per client (cost ratio ${round(1 / result.ratio)}, IQR ${round(spread(result.ratios) * 100, 1)}%); ` +
        `A/A ${round(1 / aa.ratio)}`,
    );
    // Reported as cost (CPU-µs per client): ratio = plugin / bare, lower is better.
    reportRatio(
      'cold_resolve_vs_bare_fetch_aa_ratio',
      { value: us(aa.value), baseline: us(aa.baseline), ratio: 1 / aa.ratio, spread: spread(aa.ratios) },
      'CPU-µs/client',
    );
    reportRatio(
      'cold_resolve_vs_bare_fetch_ratio',
      {
        value: us(result.value),
        baseline: us(result.baseline),
        ratio: 1 / result.ratio,
        aa: 1 / aa.ratio,
        spread: spread(result.ratios),
      },
      'CPU-µs/client',
    );
  } finally {
    await cimd.close();
    await agent.close();
    await docs.close();
  }
}

runMain(main);
