/**
 * `pnpm conformance:peers`: runs the kit against every peer this machine can run offline and regenerates the
 * side-by-side table in packages/conformance/README.md (between the PEERS markers). A peer that cannot run is a
 * "not run" column with its reason.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli.js';
import { namespaceSupport } from '../src/netns/run.js';
import type { RunReport } from '../src/types.js';
import { EXAMPLE_DIR, exampleNetnsCommand, launchExample } from './example.js';
import { freshCa, type Launched } from './launch.js';
import { peersTable } from './table.js';

const here = dirname(fileURLToPath(import.meta.url));
const readme = join(here, '..', 'README.md');
const artifacts = join(here, '..', '..', '..', 'test-artifacts', 'conformance', 'peers');

export interface Peer {
  name: string;
  version: string;
  /** Development mode: start the server trusting the CA at `caPath`. */
  start?: (caPath: string) => Promise<Launched>;
  /** Namespace mode (preferred where available): the issuer and the start command. */
  netns?: { issuer: string; command: string };
  /** Needs packages/conformance/peers/package.json installed. */
  needsPeerDeps?: boolean;
  notRun?: string;
}

const PEER_DEPS = (
  JSON.parse(readFileSync(join(here, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
).dependencies;

const sh = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;

function versionOf(pkg: string, from: string): string {
  try {
    return (createRequire(join(from, 'package.json'))(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

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
    // It refuses loopback document hosts (no development exception): namespace mode only.
    netns: {
      issuer: 'http://localhost:3001',
      command: `cd ${sh(EXAMPLE_DIR)} && PORT=3001 NODE_EXTRA_CA_CERTS="$CIMD_CONFORMANCE_CA" exec ${sh(process.execPath)} --import tsx ${sh(join(here, 'servers', 'oidc-provider-builtin.ts'))}`,
    },
  },
  {
    name: 'better-auth (@better-auth/cimd)',
    version: `better-auth ${PEER_DEPS['better-auth']}, @better-auth/oauth-provider ${PEER_DEPS['@better-auth/oauth-provider']}, @better-auth/cimd ${PEER_DEPS['@better-auth/cimd']}`,
    needsPeerDeps: true,
    // Its transport refuses loopback document hosts: namespace mode only.
    netns: {
      issuer: 'http://localhost:3002/api/auth',
      command: `cd ${sh(here)} && PORT=3002 NODE_EXTRA_CA_CERTS="$CIMD_CONFORMANCE_CA" exec ${sh(process.execPath)} servers/better-auth.mjs`,
    },
  },
  {
    name: 'Cloudflare workers-oauth-provider (miniflare)',
    version: `@cloudflare/workers-oauth-provider ${PEER_DEPS['@cloudflare/workers-oauth-provider']}, miniflare ${PEER_DEPS.miniflare}`,
    needsPeerDeps: true,
    // Document fetches leave workerd through a public-only network: namespace mode only.
    netns: {
      issuer: 'http://localhost:3003',
      command: `cd ${sh(here)} && PORT=3003 exec ${sh(process.execPath)} servers/workers-oauth-provider.mjs`,
    },
  },
];

/** Installs peers/package.json's exact versions with npm, once (they stay out of the workspace install). */
function ensurePeerDeps(): string | undefined {
  const missing = Object.keys(PEER_DEPS).filter(
    (name) => !existsSync(join(here, 'node_modules', name, 'package.json')),
  );
  if (missing.length === 0) return undefined;
  process.stderr.write("installing the peers' dependencies (npm, packages/conformance/peers/package.json)\n");
  const npm = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error'], {
    cwd: here,
    stdio: 'inherit',
  });
  return npm.status === 0
    ? undefined
    : `npm install in packages/conformance/peers failed (${npm.status ?? npm.error?.message})`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const reports: { peer: Peer; report?: RunReport }[] = [];
  const netns = namespaceSupport() === true;
  // `--peer <text>` (repeatable) re-runs only the peers whose name contains it; the others keep the report from
  // their last run (test-artifacts/conformance/peers), so the table stays whole.
  const kitArgs = [...process.argv.slice(2)];
  const only: string[] = [];
  for (let at = kitArgs.indexOf('--peer'); at !== -1; at = kitArgs.indexOf('--peer')) {
    only.push(...kitArgs.splice(at, 2).slice(1));
  }
  const artifactOf = (peer: Peer) => join(artifacts, `${peer.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.json`);
  for (const peer of PEERS) {
    if (only.length && !only.some((text) => peer.name.includes(text)) && existsSync(artifactOf(peer))) {
      reports.push({ peer, report: JSON.parse(await readFile(artifactOf(peer), 'utf8')) as RunReport });
      continue;
    }
    const usable = (netns && peer.netns) || peer.start;
    if (!usable) {
      const why = peer.notRun ?? 'not run: needs namespace mode (it refuses loopback document hosts), unavailable here';
      reports.push({ peer: { ...peer, notRun: why } });
      continue;
    }
    const installProblem = peer.needsPeerDeps ? ensurePeerDeps() : undefined;
    if (installProblem) {
      reports.push({ peer: { ...peer, notRun: `not run: ${installProblem}` } });
      continue;
    }
    const { dir, ca } = await freshCa();
    const file = join(dir, 'report.json');
    const common = ['--ca-dir', dir, '--json', file, '--server-label', peer.name, ...kitArgs];
    if (netns && peer.netns) common.push('--server-log', join(dir, 'server.log'));
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
      const text = await readFile(file, 'utf8');
      // Each peer's full report (every request and answer) stays next to the other test artifacts.
      await mkdir(artifacts, { recursive: true });
      await writeFile(artifactOf(peer), text);
      reports.push({ peer, report: JSON.parse(text) as RunReport });
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
