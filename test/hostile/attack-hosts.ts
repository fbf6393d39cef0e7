/**
 * The attacker's and the legitimate clients' side of the attack measures, inside a network namespace of their own
 * (netns.ts): our DNS server on 127.0.0.1:53 (names containing `blackhole-` never get an answer), one document
 * host at DOC_HOST:443 serving `/client-*` documents (anything else a 404), and a slow host at SLOW_HOST:443 that
 * accepts connections and never answers. Used in process by scenarios/under-attack.mts and in a process of its
 * own by bench/lib/attack-hosts.ts.
 */
import https from 'node:https';
import net from 'node:net';
import { certificateFor } from './cert.js';
import { startDnsServer } from './dns-server.js';

export const DOC_HOST = '93.184.216.10';
export const SLOW_HOST = '93.184.216.20';

export interface AttackHosts {
  /** The CA certificate of the document host (trusted by the plugin under test). */
  cert: string;
  /** Connections the slow host holds now. */
  held(): number;
}

export async function startAttackHosts(docNames: string[], slowNames: string[]): Promise<AttackHosts> {
  await startDnsServer({
    host: '127.0.0.1',
    port: 53,
    answers: {
      ...Object.fromEntries(docNames.map((n) => [n, [DOC_HOST]])),
      ...Object.fromEntries(slowNames.map((n) => [n, [SLOW_HOST]])),
    },
    blackHole: (name) => name.includes('blackhole-'),
  });
  const { key, cert } = await certificateFor(docNames);
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
  return { cert, held: () => held.size };
}
