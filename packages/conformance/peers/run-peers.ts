/**
 * `pnpm conformance:peers`: runs the kit against every peer this machine can run offline and regenerates the
 * side-by-side table in packages/conformance/README.md (between the PEERS markers). A peer that cannot run is a
 * "not run" column with its reason.
 */
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli.js';
import { namespaceSupport } from '../src/netns/run.js';
import type { RunReport } from '../src/types.js';
import { EXAMPLE_DIR, exampleNetnsCommand, launchExample } from './example.js';
import { freshCa, type Launched, launch } from './launch.js';
import { peersTable } from './table.js';

const here = dirname(fileURLToPath(import.meta.url));
const readme = join(here, '..', 'README.md');

export interface Peer {
  name: string;
  version: string;
  /** Development mode: start the server trusting the CA at `caPath`. */
  start?: (caPath: string) => Promise<Launched>;
  /** Namespace mode (preferred where available): the issuer and the start command. */
  netns?: { issuer: string; command: string };
  notRun?: string;
}

const sh = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;

function versionOf(pkg: string, from: string): string {
  try {
    return (createRequire(join(from, 'package.json'))(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

const startupIssuer = (line: string) => {
  try {
    const entry = JSON.parse(line) as { event?: string; issuer?: string };
    return entry.event === 'startup' ? entry.issuer : undefined;
  } catch {
    return undefined;
  }
};

export const PEERS: Peer[] = [
  {
    name: 'oidc-provider-cimd (examples/koa-server)',
    version: `oidc-provider-cimd ${versionOf('oidc-provider-cimd', EXAMPLE_DIR)}, oidc-provider ${versionOf('oidc-provider', EXAMPLE_DIR)}`,
    start: (caPath) => launchExample(caPath),
    netns: { issuer: 'http://localhost:3000', command: exampleNetnsCommand() },
  },
  {
    name: 'oidc-provider built-in (features.clientIdMetadataDocument)',
    version: `oidc-provider ${versionOf('oidc-provider', EXAMPLE_DIR)}`,
    start: (caPath) =>
      launch({
        command: process.execPath,
        args: ['--import', 'tsx', join(here, 'servers', 'oidc-provider-builtin.ts')],
        cwd: EXAMPLE_DIR,
        env: { ...process.env, NODE_EXTRA_CA_CERTS: caPath },
        issuerFrom: startupIssuer,
      }),
    netns: {
      issuer: 'http://localhost:3001',
      command: `cd ${sh(EXAMPLE_DIR)} && PORT=3001 NODE_EXTRA_CA_CERTS="$CIMD_CONFORMANCE_CA" exec ${sh(process.execPath)} --import tsx ${sh(join(here, 'servers', 'oidc-provider-builtin.ts'))}`,
    },
  },
  {
    name: 'better-auth (CIMD plugin)',
    version: '-',
    notRun: 'not run: no launch script yet (its install and CIMD plugin were not evaluated in this round)',
  },
  {
    name: 'Cloudflare workers-oauth-provider (miniflare)',
    version: '-',
    notRun: 'not run: no launch script yet (workerd/miniflare under this kit not evaluated in this round)',
  },
];

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const reports: { peer: Peer; report?: RunReport }[] = [];
  const netns = namespaceSupport() === true;
  for (const peer of PEERS) {
    if (!peer.start && !peer.netns) {
      reports.push({ peer });
      continue;
    }
    const { dir, ca } = await freshCa();
    const file = join(dir, 'report.json');
    const common = ['--ca-dir', dir, '--json', file, '--server-label', peer.name, ...process.argv.slice(2)];
    process.stderr.write(`\n== ${peer.name} (${netns && peer.netns ? 'namespace' : 'development'} mode)\n`);
    try {
      if (netns && peer.netns) {
        await main([
          '--mode',
          'netns',
          '--issuer',
          peer.netns.issuer,
          '--server-command',
          peer.netns.command,
          ...common,
        ]);
      } else if (peer.start) {
        const server = await peer.start(ca.caPath);
        try {
          await main(['--issuer', server.issuer, ...common]);
        } finally {
          await server.stop();
        }
      }
      reports.push({ peer, report: JSON.parse(await readFile(file, 'utf8')) as RunReport });
    } catch (error) {
      reports.push({ peer: { ...peer, notRun: `run failed: ${(error as Error).message}` } });
    }
  }
  const text = await readFile(readme, 'utf8');
  const begin = '<!-- PEERS:BEGIN -->';
  const end = '<!-- PEERS:END -->';
  const table = peersTable(reports, new Date());
  const updated = text.includes(begin)
    ? `${text.slice(0, text.indexOf(begin) + begin.length)}\n${table}\n${text.slice(text.indexOf(end))}`
    : `${text}\n${begin}\n${table}\n${end}\n`;
  await writeFile(readme, updated);
  // The repository's formatter aligns markdown tables; without it `pnpm lint` would flag the regenerated file.
  spawnSync(join(here, '..', '..', '..', 'node_modules', '.bin', 'biome'), ['format', '--write', readme], {
    stdio: 'ignore',
  });
  process.stderr.write(`\nREADME table regenerated: ${readme}\n`);
}
