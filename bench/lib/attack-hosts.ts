/**
 * The other side of bench/lib/attack-rounds.ts (test/hostile/attack-hosts.ts: DNS, document host, slow host), in a
 * process of its own inside the same network namespace. Prints one JSON line with the CA certificate once everything
 * listens; answers `held` on stdin with the number of connections the slow host holds. Never run directly.
 */
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startAttackHosts } from '../../test/hostile/attack-hosts.js';

// Index 0 is the popular host the junk ids target; the legitimate load is spread so that no host or domain comes
// near the default fetch budgets (10/s per host, 20/s per domain) on its own.
export const LEGIT_HOSTS = [
  'popular.client-docs.net',
  ...Array.from({ length: 9 }, (_, i) => `apps.legit${i}-docs.net`),
];
export const LOAD_HOSTS = Array.from({ length: 6 }, (_, i) => `apps.newcomer${i}-docs.net`);
export const SLOW_NAMES = Array.from({ length: 40 }, (_, i) => `s${i}.slow-cdn.net`);

async function main(): Promise<void> {
  const hosts = await startAttackHosts([...LEGIT_HOSTS, ...LOAD_HOSTS], SLOW_NAMES);
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line === 'held') process.stdout.write(`${JSON.stringify({ held: hosts.held() })}\n`);
  });
  // The parent going away ends this process too.
  process.stdin.on('end', () => process.exit(0));
  process.stdout.write(`${JSON.stringify({ cert: hosts.cert })}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
