/**
 * The other side of bench/lib/attack-rounds.ts, in a process of its own inside the same network namespace: our
 * DNS server (black-holed names get no answer), the document host of the legitimate and junk ids, and the slow
 * host (accepts connections, never answers). Prints one JSON line with the CA certificate once everything
 * listens; answers `held` on stdin with the number of connections the slow host holds. Never run directly.
 */
import https from 'node:https';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { certificateFor } from '../../test/hostile/cert.js';
import { startDnsServer } from '../../test/hostile/dns-server.js';

const DOC_HOST = '93.184.216.10';
const SLOW_HOST = '93.184.216.20';
// Index 0 is the popular host the junk ids target; the legitimate load is spread so that no host or domain comes
// near the default fetch budgets (10/s per host, 20/s per domain) on its own.
export const LEGIT_HOSTS = [
  'popular.client-docs.net',
  ...Array.from({ length: 9 }, (_, i) => `apps.legit${i}-docs.net`),
];
export const LOAD_HOSTS = Array.from({ length: 6 }, (_, i) => `apps.newcomer${i}-docs.net`);
export const SLOW_NAMES = Array.from({ length: 40 }, (_, i) => `s${i}.slow-cdn.net`);

async function main(): Promise<void> {
  await startDnsServer({
    host: '127.0.0.1',
    port: 53,
    answers: {
      ...Object.fromEntries([...LEGIT_HOSTS, ...LOAD_HOSTS].map((n) => [n, [DOC_HOST]])),
      ...Object.fromEntries(SLOW_NAMES.map((n) => [n, [SLOW_HOST]])),
    },
    blackHole: (name) => name.includes('blackhole-'),
  });
  const { key, cert } = await certificateFor([...LEGIT_HOSTS, ...LOAD_HOSTS]);
  const docs = https.createServer({ key, cert }, (req, res) => {
    const path = req.url ?? '/';
    if (path.startsWith('/client-')) {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
      res.end(
        JSON.stringify({
          client_id: `https://${req.headers.host}${path}`,
          client_name: 'Legit',
          redirect_uris: ['https://app.example.net/cb'],
        }),
      );
    } else res.writeHead(404).end();
  });
  docs.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => docs.listen(443, DOC_HOST, resolve));
  const held = new Set<net.Socket>();
  const slow = net.createServer((socket) => {
    held.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => held.delete(socket));
  });
  await new Promise<void>((resolve) => slow.listen(443, SLOW_HOST, resolve));
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line === 'held') process.stdout.write(`${JSON.stringify({ held: held.size })}\n`);
  });
  // The parent going away ends this process too.
  process.stdin.on('end', () => process.exit(0));
  process.stdout.write(`${JSON.stringify({ cert })}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
