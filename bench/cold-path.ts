/**
 * Cold path over HTTP — `cold_auth_vs_builtin_ratio`: the first `/auth` of clients nobody has seen (a new client id
 * on every request, so every request fetches and validates a document), this plugin vs oidc-provider's built-in
 * CIMD feature, on otherwise identical providers in one server process (lib/providers.ts). Requests alternate
 * between the providers one at a time, each timed by the server itself (as lib/interleaved.ts does for warm
 * clients); a rate is requests per second of server time. The document host runs in this process (the load
 * generator's), not the server's. The A/A line puts the built-in provider against a second, identical one.
 * Goal: ratio >= 1.0 (not slower than the built-in; a target, not today's figure).
 */
import './lib/quiet.js';
import { getTestCertificate } from '../test/helpers/certs.js';
import { startDocServer } from './lib/doc-server.js';
import { authPath, LoadClient } from './lib/load.js';
import { note, reportRatio, round, runMain } from './lib/report.js';
import { type ServerProcess, startServerProcess } from './lib/server-process.js';
import { median, spread } from './lib/stats.js';

const BLOCKS = Number(process.env.BENCH_BLOCKS ?? 6);
const PAIRS = Number(process.env.BENCH_PAIRS ?? 150);

interface Side {
  provider: string;
  client: LoadClient;
}

let serial = 0;

/** `pairs` pairs of first-time `/auth` requests, A and B alternating (and which goes first alternating too). */
async function alternate(docsUrl: string, a: Side, b: Side, pairs: number, labels?: [string, string]) {
  for (let i = 0; i < pairs; i++) {
    for (const k of i % 2 ? [1, 0] : [0, 1]) {
      const side = k === 0 ? a : b;
      const cid = `${docsUrl}/cold/${side.provider}-${serial++}.json`;
      const status = await side.client.get(authPath(cid), 10_000, labels ? { 'x-bench-label': labels[k]! } : undefined);
      if (status !== 303) throw new Error(`first /auth for ${cid} on ${side.provider} answered ${status}`);
    }
  }
}

async function compare(server: ServerProcess, docsUrl: string, name: string, a: Side, b: Side) {
  await alternate(docsUrl, a, b, 100);
  const label = `${name}-${Math.random().toString(36).slice(2, 8)}`;
  const labels: [string, string] = [`${label}-a`, `${label}-b`];
  const keys = [`${a.provider}:${labels[0]}`, `${b.provider}:${labels[1]}`];
  const totals = [
    { count: 0, totalMs: 0 },
    { count: 0, totalMs: 0 },
  ];
  const ratios: number[] = [];
  let previous = (await server.sample()).timings;
  for (let block = 0; block < BLOCKS; block++) {
    await alternate(docsUrl, a, b, PAIRS, labels);
    const now = (await server.sample()).timings;
    const rates = keys.map((key, k) => {
      const count = (now[key]?.count ?? 0) - (previous[key]?.count ?? 0);
      const totalMs = (now[key]?.totalMs ?? 0) - (previous[key]?.totalMs ?? 0);
      totals[k]!.count += count;
      totals[k]!.totalMs += totalMs;
      return count / (totalMs / 1000);
    });
    ratios.push(rates[0]! / rates[1]!);
    previous = now;
  }
  const [value, baseline] = totals.map((t) => t.count / (t.totalMs / 1000)) as [number, number];
  note(
    `${name}: ${Math.round(value)} vs ${Math.round(baseline)} first-time /auth per server-second ` +
      `(${round(1000 / value, 2)} vs ${round(1000 / baseline, 2)} ms each); block ratios ` +
      `${ratios.map((r) => round(r)).join(', ')} (median ${round(median(ratios))})`,
  );
  return { value, baseline, ratio: median(ratios), spread: spread(ratios) };
}

async function main(): Promise<void> {
  const { cert } = await getTestCertificate();
  const docs = await startDocServer();
  const staticId = `${docs.url}/warm/client.json`.replace('127.0.0.1', '127.0.0.2');
  const server = await startServerProcess({
    ca: cert,
    providers: [
      { name: 'plugin', kind: 'plugin', staticId },
      { name: 'builtin', kind: 'builtin', staticId },
      { name: 'builtin2', kind: 'builtin', staticId },
    ],
  });
  const sides = Object.fromEntries(
    ['plugin', 'builtin', 'builtin2'].map((provider) => [
      provider,
      { provider, client: new LoadClient(server.issuers[provider]!, 1) },
    ]),
  ) as Record<'plugin' | 'builtin' | 'builtin2', Side>;
  try {
    const aa = await compare(server, docs.url, 'A/A: built-in vs built-in', sides.builtin2, sides.builtin);
    const result = await compare(server, docs.url, 'plugin vs built-in, new clients', sides.plugin, sides.builtin);
    reportRatio('cold_auth_vs_builtin_aa_ratio', aa, 'requests/server-s');
    reportRatio('cold_auth_vs_builtin_ratio', { ...result, aa: aa.ratio }, 'requests/server-s');
  } finally {
    await Promise.allSettled(Object.values(sides).map((side) => side.client.close()));
    await server.stop();
    await docs.close();
  }
}

runMain(main);
