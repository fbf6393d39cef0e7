/**
 * `pnpm conformance`: starts this repo's example server (examples/koa-server) in development mode — loopback
 * client ids allowed, the kit's CA trusted — runs the kit against it and stops it. Extra arguments go to the kit
 * (`pnpm conformance --json out.json`). Exit status: the kit's.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli.js';
import { freshCa, type Launched, launch } from './launch.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const EXAMPLE_DIR = join(root, 'examples', 'koa-server');

/** Starts the example trusting the CA in `caPath`, on a free port; resolves once it has logged its issuer. */
export function launchExample(caPath: string, env: NodeJS.ProcessEnv = {}): Promise<Launched> {
  return launch({
    command: process.execPath,
    args: ['--import', 'tsx', 'src/server.ts'],
    cwd: EXAMPLE_DIR,
    env: { ...process.env, PORT: '0', CIMD_ALLOW_LOOPBACK: 'true', CIMD_EXTRA_CA: caPath, ...env },
    issuerFrom(line) {
      if (!line.startsWith('{')) return undefined;
      try {
        const entry = JSON.parse(line) as { event?: string; issuer?: string };
        return entry.event === 'startup' ? entry.issuer : undefined;
      } catch {
        return undefined;
      }
    },
  });
}

/**
 * The example's start command for namespace mode: its production configuration (no loopback exception), the
 * kit's CA trusted, port 3000 inside the namespace.
 */
export function exampleNetnsCommand(): string {
  return `cd '${EXAMPLE_DIR}' && PORT=3000 CIMD_EXTRA_CA="$CIMD_CONFORMANCE_CA" exec '${process.execPath}' --import tsx src/server.ts`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const label = ['--server-label', 'oidc-provider-cimd examples/koa-server'];
  const modeAt = args.indexOf('--mode');
  if (modeAt !== -1 && args[modeAt + 1] === 'netns') {
    const { dir } = await freshCa();
    process.exitCode = await main([
      '--issuer',
      'http://localhost:3000',
      '--server-command',
      exampleNetnsCommand(),
      '--ca-dir',
      dir,
      ...label,
      ...args,
    ]);
  } else {
    const { dir, ca } = await freshCa();
    const server = await launchExample(ca.caPath);
    process.stderr.write(`example server: ${server.issuer}\n`);
    let code = 2;
    try {
      code = await main(['--issuer', server.issuer, '--ca-dir', dir, ...label, ...args]);
    } finally {
      await server.stop();
    }
    process.exitCode = code;
  }
}
