/** Inside the namespace: the kit's DNS server, document host and victim listeners (the SSRF lab). */
import { once } from 'node:events';
import net from 'node:net';
import { issueLeaf, type KitCa } from '../ca.js';
import type { SsrfLab } from '../cases/ssrf.js';
import type { DocOrigins } from '../context.js';
import { type DocHost, startDocHost } from '../doc-host.js';
import { DOC_ADDRESSES, KIT_DOMAIN, VICTIM_ADDRESSES } from './addresses.js';
import { type KitDns, startKitDns } from './dns.js';

interface Victim {
  connections: number;
  server: net.Server;
  sockets: Set<net.Socket>;
}

export interface Lab extends SsrfLab {
  host: SsrfLab['host'];
  docHost: DocHost;
  origins: DocOrigins;
  dns: KitDns;
  close(): Promise<void>;
}

async function startVictim(address: string): Promise<Victim> {
  const sockets = new Set<net.Socket>();
  const victim: Victim = { connections: 0, server: net.createServer(), sockets };
  victim.server.on('connection', (socket) => {
    victim.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.destroy();
  });
  victim.server.listen(443, address);
  await once(victim.server, 'listening');
  return victim;
}

export async function startLab(ca: KitCa): Promise<Lab> {
  const dns = await startKitDns();
  const primary = `docs.${KIT_DOMAIN}`;
  const secondary = `alt.${KIT_DOMAIN}`;
  dns.set(primary, [[DOC_ADDRESSES.primary]]);
  dns.set(secondary, [[DOC_ADDRESSES.secondary]]);
  const leaf = await issueLeaf(ca, [primary, secondary, `*.${KIT_DOMAIN}`], []);
  const docHost = await startDocHost(leaf, Object.values(DOC_ADDRESSES), 443);
  const victims = new Map<string, Victim>();
  for (const address of VICTIM_ADDRESSES) victims.set(address, await startVictim(address));
  const victimFor = (address: string) => victims.get(address.replace(/^::ffff:/i, ''));
  return {
    dns,
    docHost,
    origins: { primary: `https://${primary}`, secondary: `https://${secondary}` },
    publicOrigin: `https://${primary}`,
    async host(label, answers, options = {}) {
      const name = `${label.toLowerCase()}.${KIT_DOMAIN}`;
      dns.set(name, answers, options.ttl ?? 60);
      const watched = answers
        .flat()
        .map(victimFor)
        .filter((v): v is Victim => v !== undefined);
      const before = watched.map((v) => v.connections);
      return {
        cid: `https://${name}${options.path ?? '/client'}`,
        connections: () => watched.reduce((sum, v, i) => sum + v.connections - before[i]!, 0),
        close: async () => {},
      };
    },
    async close() {
      for (const victim of victims.values()) {
        for (const socket of victim.sockets) socket.destroy();
        await new Promise<void>((resolve) => victim.server.close(() => resolve()));
      }
      await docHost.close();
      await dns.close();
    },
  };
}
