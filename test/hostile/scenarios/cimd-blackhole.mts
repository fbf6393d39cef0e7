/**
 * Run inside a network namespace by netns.ts (never directly). The whole path through createCimd: our DNS server
 * on 127.0.0.1:53 black-holes every name under `blackhole-*` and answers the `client-docs.net` names with 93.184.216.10, where
 * an HTTPS document server listens (an address of the namespace's own `lo`).
 *
 * It resolves one new client (the baseline), starts BLACKHOLED client ids whose names never get an answer,
 * then, while they are pending, resolves another new client and looks up `localhost` through Node's own
 * dns.lookup (as the deployment's database driver would). STRATEGY=os gives the plugin Node's dns.lookup
 * (the behaviour before the deadline resolver), for the measurement in BENCHMARKS.md.
 */
import dns from 'node:dns';
import https from 'node:https';
import { createCimd } from '../../../packages/oidc-provider-cimd/src/index.js';
import { certificateFor } from '../cert.js';
import { startDnsServer } from '../dns-server.js';

const blackholed = Number(process.env.BLACKHOLED ?? 20);
const strategy = process.env.STRATEGY ?? 'deadline';
const DOC_HOST = '93.184.216.10';
const names = ['legit.client-docs.net', 'baseline.client-docs.net'];
const dnsServer = await startDnsServer({
  host: '127.0.0.1',
  port: 53,
  answers: Object.fromEntries(names.map((n) => [n, [DOC_HOST]])),
  blackHole: (name) => name.includes('blackhole-'),
});
const { key, cert } = await certificateFor(names);
const docs = https.createServer({ key, cert }, (req, res) => {
  const clientId = `https://${req.headers.host}${req.url}`;
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
  res.end(JSON.stringify({ client_id: clientId, client_name: 'Legit', redirect_uris: ['https://app.example.net/cb'] }));
});
await new Promise<void>((resolve) => docs.listen(443, DOC_HOST, resolve));
const cimd = createCimd({
  issuer: 'https://op.provider.net',
  ca: cert,
  ...(strategy === 'os' ? { lookup: dns.lookup } : {}),
  ...(process.env.DNS_TIMEOUT_MS ? { dnsTimeoutMs: Number(process.env.DNS_TIMEOUT_MS) } : {}),
});
cimd.configure({});

const CAP_MS = Number(process.env.CAP_MS ?? 20_000);

async function timed(run: () => Promise<unknown>): Promise<{ ms: number; ok: boolean; error?: string }> {
  const started = performance.now();
  try {
    // Past CAP_MS the operation is reported as still pending rather than waited for.
    const entry = await Promise.race([
      run(),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`still pending after ${CAP_MS} ms`)), CAP_MS)),
    ]);
    if (entry === undefined) throw new Error('not a CIMD client id');
    return { ms: Math.round(performance.now() - started), ok: true };
  } catch (error) {
    return { ms: Math.round(performance.now() - started), ok: false, error: String((error as Error).message) };
  }
}

const baseline = await timed(() => cimd.resolve('https://baseline.client-docs.net/client'));
const attack = Array.from({ length: blackholed }, (_, i) =>
  timed(() => cimd.resolve(`https://c.blackhole-${i}.net/client`)),
);
await new Promise((resolve) => setTimeout(resolve, 200));
const [legit, localhost] = await Promise.all([
  timed(() => cimd.resolve('https://legit.client-docs.net/client')),
  timed(() => dns.promises.lookup('localhost')),
]);
const attackResults = await Promise.race([
  Promise.all(attack),
  new Promise<null>((resolve) => setTimeout(() => resolve(null), Number(process.env.ATTACK_WAIT_MS ?? 8000))),
]);
console.log(
  JSON.stringify({
    strategy,
    blackholed,
    baseline,
    legit,
    localhost,
    attackSettled: attackResults !== null,
    attackFailed: attackResults ? attackResults.filter((r) => !r.ok).length : null,
    attackMaxMs: attackResults ? Math.max(...attackResults.map((r) => r.ms)) : null,
  }),
);
process.exit(0);
void dnsServer;
void docs;
