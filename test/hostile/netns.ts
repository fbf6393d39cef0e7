/**
 * Runs a TypeScript script in a network namespace of its own (`unshare -rnm`: a user namespace in which we are
 * root, a network namespace with only a loopback interface, and a mount namespace), with a resolv.conf of ours
 * bind-mounted over /etc/resolv.conf. Nothing the script does can reach another network: its only interface is
 * its own `lo`, to which the public-looking addresses the tests use are added.
 *
 * The script prints one JSON line, its result, as its last line of stdout.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Addresses added to the namespace's `lo`: public unicast to the address policy, reachable only in there. */
export const NAMESPACE_ADDRESSES = ['93.184.216.10', '93.184.216.20', '93.184.216.30'];

let available: string | true | undefined;

/** `true`, or why namespaces cannot be used here. */
export function namespacesAvailable(): string | true {
  if (available !== undefined) return available;
  try {
    execFileSync('unshare', ['-rnm', 'sh', '-c', 'ip link set lo up && mount --bind /dev/null /dev/null'], {
      stdio: 'ignore',
      timeout: 10_000,
    });
    available = true;
  } catch (error) {
    available = `unshare -rnm (user, network and mount namespaces) is not available here: ${(error as Error).message}`;
  }
  return available;
}

export interface NamespaceRun<T> {
  result: T;
  stderr: string;
}

/**
 * `script` is a path relative to the repository root; `resolvConf` the text of the namespace's resolv.conf.
 * Extra environment is passed through. Rejects on a non-zero exit or a missing result line.
 */
export function runInNamespace<T>(
  script: string,
  options: { resolvConf: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<NamespaceRun<T>> {
  const dir = mkdtempSync(path.join(tmpdir(), 'cimd-netns-'));
  const resolv = path.join(dir, 'resolv.conf');
  writeFileSync(resolv, options.resolvConf);
  const addresses = NAMESPACE_ADDRESSES.map((a) => `ip addr add ${a}/32 dev lo`).join(' && ');
  const setup = `ip link set lo up && ${addresses} && mount --bind "${resolv}" /etc/resolv.conf && exec "${process.execPath}" --import tsx "${script}"`;
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', ['-rnm', 'sh', '-c', setup], {
      cwd: ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      const last = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`${script} exited with ${code}\n${stderr}\n${stdout}`));
      try {
        resolve({ result: JSON.parse(last) as T, stderr });
      } catch {
        reject(new Error(`${script} printed no result line\n${stderr}\n${stdout}`));
      }
    });
  });
}
