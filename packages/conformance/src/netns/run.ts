/**
 * Namespace mode (Linux, root or unprivileged user namespaces). The outer half re-runs the kit inside
 * `unshare -rnm` (own user, network and mount namespaces) with the kit's DNS server in resolv.conf and the
 * address plan on `lo`; the inner half starts the lab, starts the server's own start command (`--server-command`,
 * run with `sh -c`, the kit's CA path in CIMD_CONFORMANCE_CA), waits for its discovery document, runs every case
 * (SSRF included) and stops the server. Nothing inside can reach any other network.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureCa } from '../ca.js';
import type { CliIo } from '../cli.js';
import { readMetadata, runCases } from '../runner.js';
import type { RunReport } from '../types.js';
import { addressSetup } from './addresses.js';
import { startLab } from './lab.js';

const INNER = 'CIMD_CONFORMANCE_NETNS_INNER';

export interface NetnsOptions {
  issuer: string;
  serverCommand: string;
  caDir: string;
  io: CliIo;
  only: string[];
  expiryWaitMs: number;
  intervalMs: number;
  serverLabel?: string;
  /** Where the server's output goes (default: kept in memory, shown if it exits with an error). */
  serverLog?: string;
}

/** True inside the namespace that the outer half created. */
export const insideNamespace = () => process.env[INNER] === '1';

/** `true`, or why namespace mode cannot run here. */
export function namespaceSupport(): true | string {
  if (process.platform !== 'linux') return `namespace mode needs Linux (this is ${process.platform})`;
  const probe = spawnSync('unshare', ['-rnm', 'sh', '-c', 'ip link set lo up'], { stdio: 'ignore', timeout: 10_000 });
  if (probe.error) return `unshare is not available: ${probe.error.message}`;
  if (probe.status !== 0) return 'unshare -rnm failed (user and network namespaces are not permitted here)';
  return true;
}

/**
 * Outer half: runs the inner half in the namespace with the same arguments and returns its exit status. The
 * inner half prints the table and writes the reports itself (the file system is shared).
 */
export async function runNetnsOuter(argv: string[], io: CliIo): Promise<number> {
  const support = namespaceSupport();
  if (support !== true) {
    io.err(`cimd-conformance: ${support}\n`);
    return 2;
  }
  const dir = mkdtempSync(join(tmpdir(), 'cimd-conformance-netns-'));
  const resolv = join(dir, 'resolv.conf');
  writeFileSync(resolv, 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
  const self = fileURLToPath(import.meta.url);
  const entry = join(self, '..', self.endsWith('.ts') ? 'inner.ts' : 'inner.js');
  const node = [process.execPath, ...(self.endsWith('.ts') ? ['--import', 'tsx'] : []), entry];
  const quoted = node.map((part) => `'${part.replaceAll("'", "'\\''")}'`).join(' ');
  const setup = `${addressSetup()} && mount --bind '${resolv}' /etc/resolv.conf && exec ${quoted}`;
  const child = spawn('unshare', ['-rnm', 'sh', '-c', setup], {
    env: { ...process.env, [INNER]: '1', CIMD_CONFORMANCE_ARGS: JSON.stringify(argv) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk: Buffer) => io.out(chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => io.err(chunk.toString()));
  const code = await new Promise<number>((resolve) => {
    child.once('error', () => resolve(2));
    child.once('close', (status) => resolve(status ?? 2));
  });
  rmSync(dir, { recursive: true, force: true });
  return code;
}

function startServer(command: string, caPath: string, io: CliIo, logFile?: string): ChildProcess {
  const child = spawn('sh', ['-c', command], {
    env: { ...process.env, [INNER]: undefined, CIMD_CONFORMANCE_ARGS: undefined, CIMD_CONFORMANCE_CA: caPath },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const tail: string[] = [];
  const log = logFile ? createWriteStream(logFile) : undefined;
  const keep = (chunk: Buffer) => {
    log?.write(chunk);
    tail.push(...chunk.toString().split('\n'));
    tail.splice(0, Math.max(0, tail.length - 30));
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.once('exit', (code, signal) => {
    if (code !== null && code !== 0) io.err(`server command exited (${code ?? signal}):\n${tail.join('\n')}\n`);
  });
  return child;
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {}
  }, 5000);
  await exited;
  clearTimeout(timer);
}

async function waitForIssuer(issuer: string, child: ChildProcess, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`the server command exited (${child.exitCode}) before serving ${issuer}`);
    try {
      await readMetadata(issuer, 2000);
      return;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`the server did not serve its metadata within ${timeoutMs / 1000} s: ${last}`);
}

/** Inner half: lab, server, cases. */
export async function runNetnsInner(options: NetnsOptions): Promise<RunReport> {
  const ca = await ensureCa(options.caDir);
  const lab = await startLab(ca);
  const server = startServer(options.serverCommand, ca.caPath, options.io, options.serverLog);
  try {
    await waitForIssuer(options.issuer, server);
    options.io.err(`server up at ${options.issuer}; documents on ${lab.origins.primary}\n`);
    const report = await runCases({
      issuer: options.issuer,
      mode: 'netns',
      host: lab.docHost,
      origins: lab.origins,
      lab,
      only: options.only,
      expiryWaitMs: options.expiryWaitMs,
      intervalMs: options.intervalMs,
      ...(options.serverLabel ? { server: options.serverLabel } : {}),
      onResult: (r) => options.io.err(r.status === 'pass' ? '.' : r.status === 'fail' ? 'F' : '-'),
    });
    options.io.err('\n');
    return report;
  } finally {
    await stopServer(server);
    await lab.close();
  }
}
