/** Development mode: the kit's CA and a document host on https://localhost:<port> and https://127.0.0.1:<port>. */
import { ensureCa, issueLeaf, type KitCa } from './ca.js';
import type { DocOrigins } from './context.js';
import { type DocHost, startDocHost } from './doc-host.js';

export interface DevSetup {
  ca: KitCa;
  host: DocHost;
  origins: DocOrigins;
  close(): Promise<void>;
}

export async function startDevHost(caDir: string, port = 0): Promise<DevSetup> {
  const ca = await ensureCa(caDir);
  const leaf = await issueLeaf(ca, ['localhost'], ['127.0.0.1', '::1']);
  const host = await startDocHost(leaf, ['127.0.0.1', '::1'], port);
  return {
    ca,
    host,
    origins: { primary: `https://localhost:${host.port}`, secondary: `https://127.0.0.1:${host.port}` },
    close: () => host.close(),
  };
}

/** What the operator must configure on the server under test for development mode. */
export function devInstructions(ca: KitCa, port: number | undefined): string {
  return [
    'Configure the server under test for development mode:',
    `  1. Trust the kit's CA for document fetches: ${ca.caPath}`,
    `     (a Node server: NODE_EXTRA_CA_CERTS=${ca.caPath}; this repo's example: CIMD_EXTRA_CA=${ca.caPath})`,
    `  2. Allow loopback client ids (documents on https://localhost${port ? `:${port}` : ':<port>'} and https://127.0.0.1${port ? `:${port}` : ':<port>'})`,
    "     (this repo's example: CIMD_ALLOW_LOOPBACK=true; the issuer must itself be on localhost)",
    '  3. Keep the issuer on localhost, and the interaction (login) pages enabled: the kit never logs in.',
    '',
  ].join('\n');
}
