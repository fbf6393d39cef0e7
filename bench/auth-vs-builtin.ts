/**
 * Benchmark 2 — `/auth` over HTTP for a warm CIMD client: our plugin vs oidc-provider's built-in experimental
 * `clientIdMetadataDocument` feature, on otherwise identical providers (same adapter, static client, features and
 * keys) in one server process (goal: ratio >= 1.15). Requests alternate between the two providers one by one, each
 * timed by the server (lib/interleaved.ts).
 *
 * How the built-in feature reaches the local document host: it refuses special-use addresses (loopback
 * included) through the undici dispatcher it puts into the request options, and then calls the provider's `fetch`
 * configuration hook; our hook sends the request through an undici Agent that trusts the test certificate (see
 * lib/providers.ts). That only matters for the one warm-up fetch: after it, both providers answer the client from
 * their caches (the built-in caches the document for its max-age, here 3600 s), which is what is measured.
 * BENCH_DETAIL=1 adds the built-in feature's warm client against a static client on its own provider.
 */
import './lib/quiet.js';
import { getTestCertificate } from '../test/helpers/certs.js';
import { startDocServer } from './lib/doc-server.js';
import { compareInterleaved } from './lib/interleaved.js';
import { LoadClient } from './lib/load.js';
import { reportRatio, runMain } from './lib/report.js';
import { startServerProcess } from './lib/server-process.js';

async function main(): Promise<void> {
  const { cert } = await getTestCertificate();
  const docs = await startDocServer();
  const warmCid = `${docs.url}/warm/client.json`;
  const staticId = warmCid.replace('127.0.0.1', '127.0.0.2');
  const server = await startServerProcess({
    ca: cert,
    providers: [
      { name: 'plugin', kind: 'plugin', staticId },
      { name: 'builtin', kind: 'builtin', staticId },
    ],
  });
  const plugin = { provider: 'plugin', client: new LoadClient(server.issuers.plugin!, 1), clientId: warmCid };
  const builtin = { provider: 'builtin', client: new LoadClient(server.issuers.builtin!, 1), clientId: warmCid };
  try {
    const result = await compareInterleaved(server, 'plugin vs built-in, warm CIMD client', plugin, builtin);
    reportRatio('warm_auth_vs_builtin_ratio', result, 'requests/server-s');
    if (process.env.BENCH_DETAIL === '1') {
      await compareInterleaved(server, 'built-in warm CIMD vs static, on the built-in provider', builtin, {
        ...builtin,
        clientId: staticId,
      });
    }
    if (docs.hitsFor('/warm/client.json') !== 2) {
      throw new Error(`expected one fetch per provider, saw ${docs.hitsFor('/warm/client.json')}`);
    }
  } finally {
    await Promise.allSettled([plugin.client.close(), builtin.client.close()]);
    await server.stop();
    await docs.close();
  }
}

runMain(main);
