/**
 * Lookup-level view of benchmark 1: `provider.Client.find()` in this process for a warm CIMD client vs a client
 * stored in the provider's adapter with the same metadata (as a DCR-registered one is), in alternating rounds.
 * Both go through oidc-provider's path for adapter-provided clients (it JSON-serialises and SHA-256-hashes the
 * metadata on every find to key its Client instance cache), so the difference is the plugin's own work on a warm
 * lookup: URL rules (remembered), trust policy, in-process cache read. Goal: ratio >= 0.8, i.e. the plugin adds at
 * most a quarter to oidc-provider's own cost of such a lookup. A static client (a Map read in oidc-provider,
 * no adapter, no hashing) is shown on stderr for scale.
 */
import './lib/quiet.js';
import { getTestCertificate } from '../test/helpers/certs.js';
import { startDocServer, storedClientFor } from './lib/doc-server.js';
import { findRate } from './lib/lookups.js';
import { startProvider } from './lib/providers.js';
import { note, reportRatio, round, runMain } from './lib/report.js';
import { compareRates, spread } from './lib/stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const PER_ROUND = 20_000;

async function main(): Promise<void> {
  const { cert } = await getTestCertificate();
  const docs = await startDocServer();
  const cid = `${docs.url}/warm/client.json`;
  const staticId = cid.replace('127.0.0.1', '127.0.0.2');
  const storedId = cid.replace('127.0.0.1', '127.0.0.3');
  const p = await startProvider({
    kind: 'plugin',
    ca: cert,
    staticId,
    storedClients: [storedClientFor(storedId)],
  });
  try {
    for (const id of [cid, staticId, storedId]) if (!(await p.provider.Client.find(id))) throw new Error(id);
    const vsStored = await compareRates(
      ROUNDS,
      () => findRate(p.provider, cid, PER_ROUND),
      () => findRate(p.provider, storedId, PER_ROUND),
      2,
    );
    const ns = (rate: number) => Math.round(1e9 / rate);
    note(
      `Client.find warm CIMD vs adapter-stored: ${ns(vsStored.value)} vs ${ns(vsStored.baseline)} ns/lookup ` +
        `(ratio ${round(vsStored.ratio)}, IQR ${round(spread(vsStored.ratios) * 100, 1)}%)`,
    );
    reportRatio('warm_client_find_vs_stored_ratio', vsStored, 'lookups/cpu-s');
    const vsStatic = await compareRates(
      Math.max(6, ROUNDS / 2),
      () => findRate(p.provider, cid, PER_ROUND),
      () => findRate(p.provider, staticId, PER_ROUND),
      1,
    );
    note(
      `Client.find warm CIMD vs static: ${ns(vsStatic.value)} vs ${ns(vsStatic.baseline)} ns/lookup ` +
        `(ratio ${round(vsStatic.ratio)}; a static client is a Map read, no adapter, no hashing)`,
    );
  } finally {
    await p.close();
    await docs.close();
  }
}

runMain(main);
