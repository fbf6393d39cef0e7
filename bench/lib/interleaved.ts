/**
 * The `/auth` comparisons: two kinds of request sent alternately, one at a time (A, B, A, B, ...), each timed by the
 * server itself from the request's arrival to the end of its response (`x-bench-label`, see providers.ts). With
 * one request in flight the server does nothing else meanwhile, so that time is what the request costs the
 * server; alternating request by request gives both kinds the same machine, whatever the neighbours do, which
 * longer rounds cannot (on this 2-core VM, rounds of a few hundred requests vary by 10-50% from one to the next).
 * A rate is requests per second of server time: what one saturated server thread would serve.
 */
import { authPath, type LoadClient } from './load.js';
import { note, round } from './report.js';
import type { ServerProcess } from './server-process.js';
import { median } from './stats.js';

export interface Side {
  /** Provider name in the server process (the timings are keyed by it). */
  provider: string;
  client: LoadClient;
  clientId: string;
}

export interface Interleaved {
  /** Requests per second of server time, A. */
  value: number;
  /** The same, B. */
  baseline: number;
  /** value / baseline over all measured blocks. */
  ratio: number;
  /** The ratio of each block, for the spread. */
  blocks: number[];
}

/**
 * `pairs` pairs of `/auth` requests, one side then the other. `clientIdOf` gives each request's client id (default:
 * the side's own, the same on every request; profile-auth.ts --cold gives a new one each time).
 */
export async function alternate(
  a: Side,
  b: Side,
  pairs: number,
  labels?: [string, string],
  clientIdOf: (side: Side) => string = (side) => side.clientId,
): Promise<void> {
  for (let i = 0; i < pairs; i++) {
    // Which side goes first alternates too, so neither always follows the other.
    const order = i % 2 ? [1, 0] : [0, 1];
    for (const k of order) {
      const side = k === 0 ? a : b;
      const clientId = clientIdOf(side);
      const headers = labels ? { 'x-bench-label': labels[k]! } : undefined;
      const status = await side.client.get(authPath(clientId), 10_000, headers);
      if (status !== 303) throw new Error(`/auth for ${clientId} on ${side.provider} answered ${status}`);
    }
  }
}

export async function compareInterleaved(
  server: ServerProcess,
  name: string,
  a: Side,
  b: Side,
  options: { warmupPairs?: number; blocks?: number; pairsPerBlock?: number } = {},
): Promise<Interleaved> {
  const blocks = options.blocks ?? 4;
  const pairsPerBlock = options.pairsPerBlock ?? 2500;
  await alternate(a, b, options.warmupPairs ?? 3000);
  const label = `${name}-${Math.random().toString(36).slice(2, 8)}`;
  const labels: [string, string] = [`${label}-a`, `${label}-b`];
  const keys = [`${a.provider}:${labels[0]}`, `${b.provider}:${labels[1]}`];
  const ratios: number[] = [];
  const totals = [
    { count: 0, totalMs: 0 },
    { count: 0, totalMs: 0 },
  ];
  let previous = (await server.sample()).timings;
  for (let block = 0; block < blocks; block++) {
    await alternate(a, b, pairsPerBlock, labels);
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
  const result = { value, baseline, ratio: value / baseline, blocks: ratios };
  note(
    `${name}: ${Math.round(value)} vs ${Math.round(baseline)} requests per server-second ` +
      `(${round(1e6 / value, 1)} vs ${round(1e6 / baseline, 1)} µs per request), ratio ${round(result.ratio)}; ` +
      `blocks ${ratios.map((r) => round(r)).join(', ')} (median ${round(median(ratios))})`,
  );
  return result;
}
