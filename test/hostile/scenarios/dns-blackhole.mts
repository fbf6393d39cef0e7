/**
 * Run inside a network namespace by netns.ts (never directly): our DNS server on 127.0.0.1:53 black-holes
 * every name under `blackhole-*`, answers `legit.cimd.test` with a namespace address.
 *
 * STRATEGY=deadline (the fetcher's default resolver), os (Node's dns.lookup, as before) or pool (a bounded pool
 * of getaddrinfo calls failing fast when full). Issues BLACKHOLED lookups of black-holed names through the
 * strategy, then, while they are pending, a lookup of a legitimate new name through the same strategy and an
 * unrelated `localhost` lookup through Node's own dns.lookup (as the deployment's database driver would).
 */
import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import { createDeadlineLookup } from '../../../packages/oidc-provider-cimd/src/fetch/dns.js';
import { createCheckedLookup } from '../../../packages/oidc-provider-cimd/src/fetch/fetcher.js';
import { createAddressPolicy } from '../../../packages/oidc-provider-cimd/src/rules/address-policy.js';
import { startDnsServer } from '../dns-server.js';

const strategy = process.env.STRATEGY ?? 'deadline';
const blackholed = Number(process.env.BLACKHOLED ?? 20);
const server = await startDnsServer({
  host: '127.0.0.1',
  port: 53,
  answers: { 'legit.cimd.test': ['93.184.216.10'] },
  blackHole: (name) => name.includes('blackhole-'),
});

function boundedPool(size: number): LookupFunction {
  let inFlight = 0;
  return ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
    if (inFlight >= size) return callback(Object.assign(new Error('pool full'), { code: 'EAI_AGAIN' }), '', 0);
    inFlight += 1;
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      inFlight -= 1;
      callback(err, addresses);
    });
  }) as unknown as LookupFunction;
}

const base: LookupFunction =
  strategy === 'os' ? dns.lookup : strategy === 'pool' ? boundedPool(2) : createDeadlineLookup({ timeoutMs: 1500 });
const lookup = createCheckedLookup(createAddressPolicy(), base);

function timed(run: (done: (err: unknown) => void) => void): Promise<{ ms: number; ok: boolean; error?: string }> {
  const started = performance.now();
  return new Promise((resolve) => {
    run((err) =>
      resolve({
        ms: Math.round(performance.now() - started),
        ok: !err,
        ...(err ? { error: String((err as NodeJS.ErrnoException).code ?? (err as Error).message) } : {}),
      }),
    );
  });
}

const attack = Array.from({ length: blackholed }, (_, i) =>
  timed((done) => lookup(`c${i}.blackhole-${i}.example`, { all: true }, (err) => done(err))),
);
// Let every black-holed query reach the server (and the thread pool, for the OS strategies) first.
await new Promise((resolve) => setTimeout(resolve, 200));
const [legit, localhost] = await Promise.all([
  timed((done) => lookup('legit.cimd.test', { all: true }, (err) => done(err))),
  timed((done) => dns.lookup('localhost', (err) => done(err))),
]);
const attackResults = await Promise.race([
  Promise.all(attack),
  new Promise<null>((resolve) => setTimeout(() => resolve(null), Number(process.env.ATTACK_WAIT_MS ?? 4000))),
]);
await server.close();
console.log(
  JSON.stringify({
    strategy,
    blackholed,
    legit,
    localhost,
    attackSettled: attackResults !== null,
    attackMaxMs: attackResults ? Math.max(...attackResults.map((r) => r.ms)) : null,
    queriesSeen: server.queries.length,
  }),
);
process.exit(0);
