/**
 * Profiling aid behind the `/auth` figures (not part of `pnpm bench`). Runs one provider process under
 * `--cpu-prof` and sends it `/auth` requests for two clients alternately, one at a time, as the benchmark does.
 * The server records when each request started and ended; every profile sample is assigned to the request it
 * fell in, so both clients get their own per-request figures from the same process and the same minutes.
 *
 *   node --import tsx bench/profile-auth.ts                 # warm CIMD client vs static client, same provider
 *   node --import tsx bench/profile-auth.ts --a=stored      # a client stored in the adapter (same metadata) vs static
 *   node --import tsx bench/profile-auth.ts --b=stored      # warm CIMD client vs the stored client
 *   node --import tsx bench/profile-auth.ts --builtin       # our plugin vs oidc-provider's built-in CIMD
 *   node --import tsx bench/profile-auth.ts --builtin --cold  # the same, a client nobody has seen on every request
 *                                                           # (the cold path of bench/cold-path.ts)
 *   options: --pairs=N (default 15000), --interval=µs (sampling interval, default 50)
 *
 * The profile is kept in `.bench/profiles/`. Figures are µs per request; "self" is time in the function itself,
 * "total" includes what it calls. Rows are sorted by the difference; small ones are left out. The profiler's own
 * overhead inflates every figure somewhat (compare the totals with the benchmark's).
 */
import './lib/quiet.js';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { getTestCertificate } from '../test/helpers/certs.js';
import { type FunctionTimes, readProfile } from './lib/cpu-profile.js';
import { startDocServer, storedClientFor } from './lib/doc-server.js';
import { alternate, type Side } from './lib/interleaved.js';
import { LoadClient } from './lib/load.js';
import { runMain } from './lib/report.js';
import { startServerProcess } from './lib/server-process.js';

const option = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const builtin = process.argv.includes('--builtin');
const A = builtin ? 'plugin' : (option('a') ?? 'cimd');
const B = builtin ? 'builtin' : (option('b') ?? 'static');
const cold = process.argv.includes('--cold');
if (cold && !builtin) throw new Error('--cold goes with --builtin');
const PAIRS = Number(option('pairs') ?? (cold ? 1500 : 15_000));
const INTERVAL = Number(option('interval') ?? 50);
const DIR = join(process.cwd(), '.bench', 'profiles', `${A}-vs-${B}${cold ? '-cold' : ''}`);

function table(a: FunctionTimes, b: FunctionTimes, which: 'self' | 'total', labels: string[]) {
  const keys = new Set([...a[which].keys(), ...b[which].keys()]);
  const per = (t: FunctionTimes, key: string) => (t[which].get(key) ?? 0) / PAIRS;
  const rows = [...keys]
    .map((key) => ({ key, a: per(a, key), b: per(b, key) }))
    .filter((row) => Math.abs(row.a - row.b) >= 0.2)
    .sort((x, y) => Math.abs(y.a - y.b) - Math.abs(x.a - x.b))
    .slice(0, which === 'self' ? 25 : 40);
  console.log(`\n${which} µs/request: ${labels[0]} | ${labels[1]} | difference`);
  for (const row of rows) {
    const cells = [row.a, row.b, row.a - row.b].map((v) => v.toFixed(2).padStart(8)).join(' ');
    console.log(`${cells}  ${row.key}`);
  }
}

async function main(): Promise<void> {
  const { cert } = await getTestCertificate();
  const docs = await startDocServer();
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const windowsFile = join(DIR, 'windows.json');
  process.env.BENCH_WINDOWS = '1';
  process.env.BENCH_WINDOWS_FILE = windowsFile;
  const warmCid = `${docs.url}/warm/client.json`;
  const staticId = warmCid.replace('127.0.0.1', '127.0.0.2');
  // The same metadata as the plugin's for the CIMD client, stored in the adapter under an id of the same length.
  const storedId = warmCid.replace('127.0.0.1', '127.0.0.3');
  const server = await startServerProcess(
    {
      ca: cert,
      providers: [
        { name: 'plugin', kind: 'plugin', staticId, storedClients: [storedClientFor(storedId)] },
        ...(builtin ? [{ name: 'builtin', kind: 'builtin' as const, staticId }] : []),
      ],
    },
    { cpuProfileDir: DIR, cpuProfileIntervalMicros: INTERVAL },
  );
  const ids: Record<string, string> = { cimd: warmCid, static: staticId, stored: storedId };
  const side = (label: string): Side => {
    if (builtin) {
      const provider = label;
      return { provider, client: new LoadClient(server.issuers[provider]!, 1), clientId: warmCid };
    }
    if (!ids[label]) throw new Error(`--a / --b: one of ${Object.keys(ids).join(', ')}`);
    return { provider: 'plugin', client: new LoadClient(server.issuers.plugin!, 1), clientId: ids[label] };
  };
  const a = side(A);
  const b = side(B);
  // --cold: a new client id on every request, so every request fetches and validates a document.
  let serial = 0;
  const newClient = (side: Side) => `${docs.url}/cold/${side.provider}-${serial++}.json`;
  const clientIdOf = cold ? newClient : undefined;
  await alternate(a, b, cold ? 300 : 3000, undefined, clientIdOf);
  await alternate(a, b, PAIRS, [A, B], clientIdOf);
  await Promise.all([a.client.close(), b.client.close()]);
  await server.stop();
  await docs.close();

  const file = readdirSync(DIR).find((name) => name.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no profile written in ${DIR}`);
  const windows = (JSON.parse(readFileSync(windowsFile, 'utf8')) as [string, number, number][]).sort(
    (x, y) => x[1] - y[1],
  );
  const labelAt = (t: number): string | undefined => {
    let lo = 0;
    let hi = windows.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const [label, start, end] = windows[mid]!;
      if (t < start) hi = mid - 1;
      else if (t >= end) lo = mid + 1;
      else return label;
    }
    return undefined;
  };
  const times = readProfile(join(DIR, file), labelAt);
  const [ta, tb] = [times.get(A)!, times.get(B)!];
  const wall = (label: string) =>
    windows.filter((w) => w[0] === label).reduce((sum, w) => sum + (w[2] - w[1]), 0) / PAIRS;
  console.log(`profile: ${join(DIR, file)}`);
  console.log(
    `server time per request (under the profiler): ${A} ${wall(A).toFixed(1)} µs, ${B} ${wall(B).toFixed(1)} µs; ` +
      `sampled: ${A} ${(ta.sampled / PAIRS).toFixed(1)} µs, ${B} ${(tb.sampled / PAIRS).toFixed(1)} µs`,
  );
  table(ta, tb, 'self', [A, B]);
  table(ta, tb, 'total', [A, B]);
  plugin(ta, tb, [A, B]);
}

/** The plugin's own functions, whatever their difference: where its share of a request goes. */
function plugin(a: FunctionTimes, b: FunctionTimes, labels: string[]) {
  const own = (key: string) => /oidc-provider-cimd\/(dist|src)\//.test(key);
  const keys = [...new Set([...a.total.keys(), ...b.total.keys()])].filter(own);
  const per = (t: FunctionTimes, key: string) => (t.total.get(key) ?? 0) / PAIRS;
  const rows = keys
    .map((key) => ({ key, a: per(a, key), b: per(b, key) }))
    .filter((row) => Math.max(row.a, row.b) >= 0.05)
    .sort((x, y) => Math.max(y.a, y.b) - Math.max(x.a, x.b))
    .slice(0, 30);
  console.log(`\nthe plugin's functions, total µs/request: ${labels[0]} | ${labels[1]}`);
  for (const row of rows) console.log(`${[row.a, row.b].map((v) => v.toFixed(2).padStart(8)).join(' ')}  ${row.key}`);
}

runMain(main);
