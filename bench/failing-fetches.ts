/**
 * Benchmark 3 — outbound fetches caused by `/auth` requests for clients whose document fails (a 200 JSON
 * document whose `client_id` names another URL), ours vs oidc-provider's built-in CIMD feature, on otherwise
 * identical providers in this process (the document host counts requests per path).
 *
 * - `failing_document_fetches_per_auth`: each request names a new failing client; fetches per request (goal:
 *   ours exactly 1 — oidc-provider looks a client up more than once while it renders the error of a failed
 *   lookup, and the plugin remembers the failure for the rest of that request);
 * - `failing_document_repeat_fetches`: 20 requests in a row for one failing client, inside the plugin's
 *   failure back-off (default 3 s); total fetches (goal: ours 1 — a failing id is not refetched during its
 *   back-off, while every request of the built-in feature fetches again).
 * Every request must be answered with a 400 error page, never a redirect.
 */
import './lib/quiet.js';
import { getTestCertificate } from '../test/helpers/certs.js';
import { startDocServer } from './lib/doc-server.js';
import { authPath, LoadClient } from './lib/load.js';
import { type BenchProvider, startProvider } from './lib/providers.js';
import { note, report, runMain } from './lib/report.js';

const DISTINCT = 50;
const REPEATS = 20;

async function main(): Promise<void> {
  const { cert } = await getTestCertificate();
  const docs = await startDocServer();
  const providers = {
    plugin: await startProvider({ kind: 'plugin', ca: cert }),
    builtin: await startProvider({ kind: 'builtin', ca: cert }),
  };
  const clients = Object.fromEntries(
    Object.entries(providers).map(([name, p]) => [name, new LoadClient(p.issuer, 1)]),
  ) as Record<keyof typeof providers, LoadClient>;

  try {
    const fetchesFor = async (name: keyof typeof providers, paths: string[]) => {
      let fetches = 0;
      for (const path of paths) {
        const before = docs.hitsFor(path);
        const status = await clients[name].get(authPath(`${docs.url}${path}`));
        if (status !== 400) throw new Error(`${name}: /auth for a failing document answered ${status}, not 400`);
        fetches += docs.hitsFor(path) - before;
      }
      return fetches;
    };
    const perRequest: Record<string, number> = {};
    const repeated: Record<string, number> = {};
    for (const name of ['plugin', 'builtin'] as const) {
      const distinct = Array.from({ length: DISTINCT }, (_, i) => `/invalid/${name}-${i}.json`);
      perRequest[name] = (await fetchesFor(name, distinct)) / DISTINCT;
      const started = performance.now();
      repeated[name] = await fetchesFor(
        name,
        Array.from({ length: REPEATS }, () => `/invalid/${name}-repeat.json`),
      );
      const elapsed = performance.now() - started;
      if (name === 'plugin' && elapsed > 2500) note(`the repeat run took ${Math.round(elapsed)} ms (back-off is 3 s)`);
    }
    note(
      `fetches per failing /auth: plugin ${perRequest.plugin}, built-in ${perRequest.builtin}; ` +
        `${REPEATS} requests for one failing id: plugin ${repeated.plugin}, built-in ${repeated.builtin}`,
    );
    report('failing_document_fetches_per_auth', {
      value: perRequest.plugin!,
      baseline: perRequest.builtin!,
      ratio: perRequest.plugin! / perRequest.builtin!,
      unit: 'fetches/request',
    });
    report('failing_document_repeat_fetches', {
      value: repeated.plugin!,
      baseline: repeated.builtin!,
      ratio: repeated.plugin! / repeated.builtin!,
      unit: `fetches/${REPEATS} requests`,
    });
  } finally {
    await Promise.allSettled(Object.values(clients).map((c) => c.close()));
    await Promise.allSettled(Object.values(providers).map((p: BenchProvider) => p.close()));
    await docs.close();
  }
}

runMain(main);
