/**
 * Benchmark 1 — `/auth` over HTTP for a warm CIMD client vs a static client on the same provider (goal: ratio
 * >= 0.95), and vs a client stored in the provider's adapter with the same metadata (goal >= 0.98; as a DCR-registered client
 * is), which isolates the plugin's own share: oidc-provider serves every adapter-provided client, ours included,
 * through a slower path than a static one (see BENCHMARKS.md).
 *
 * The provider runs in its own process; the load generator (undici, keep-alive) runs here and alternates the two
 * clients request by request, one request in flight; the server times each request itself (lib/interleaved.ts).
 * The static and stored ids have the same length and shape as the CIMD id (other loopback addresses, same port
 * and path), so every request carries the same bytes and the comparison isolates where the client comes from.
 * BENCH_DETAIL=1 adds the stored client against the static one (oidc-provider alone).
 */
import './lib/quiet.js';
import { getTestCertificate } from '../test/helpers/certs.js';
import { startDocServer, storedClientFor } from './lib/doc-server.js';
import { compareInterleaved } from './lib/interleaved.js';
import { LoadClient } from './lib/load.js';
import { reportRatio, runMain } from './lib/report.js';
import { startServerProcess } from './lib/server-process.js';

async function main(): Promise<void> {
  const { cert } = await getTestCertificate();
  const docs = await startDocServer();
  const warmCid = `${docs.url}/warm/client.json`;
  const staticId = warmCid.replace('127.0.0.1', '127.0.0.2');
  const storedId = warmCid.replace('127.0.0.1', '127.0.0.3');
  const server = await startServerProcess({
    ca: cert,
    providers: [{ name: 'provider', kind: 'plugin', staticId, storedClients: [storedClientFor(storedId)] }],
  });
  const client = new LoadClient(server.issuers.provider!, 1);
  const side = (clientId: string) => ({ provider: 'provider', client, clientId });
  try {
    const vsStatic = await compareInterleaved(server, 'warm CIMD vs static', side(warmCid), side(staticId));
    reportRatio('warm_auth_vs_static_ratio', vsStatic, 'requests/server-s');

    const vsStored = await compareInterleaved(server, 'warm CIMD vs adapter-stored', side(warmCid), side(storedId), {
      warmupPairs: 500,
    });
    // The method's own noise, measured the same way: the adapter-stored client against itself (two labels).
    const aa = await compareInterleaved(server, 'A/A: adapter-stored vs itself', side(storedId), side(storedId), {
      warmupPairs: 500,
    });
    reportRatio('warm_auth_vs_stored_aa_ratio', aa, 'requests/server-s');
    // A CIMD client must cost no more than a client the deployment stored itself, beyond noise.
    reportRatio('warm_auth_vs_stored_ratio', { ...vsStored, aa: aa.ratio }, 'requests/server-s');

    if (process.env.BENCH_DETAIL === '1') {
      await compareInterleaved(
        server,
        'adapter-stored vs static (oidc-provider alone)',
        side(storedId),
        side(staticId),
        {
          warmupPairs: 500,
        },
      );
    }
    if (docs.hits !== 1) throw new Error(`the warm client was fetched ${docs.hits} times`);
  } finally {
    await client.close();
    await server.stop();
    await docs.close();
  }
}

runMain(main);
