/**
 * The real binary, as a user runs it: the built `packages/cli/dist/bin.js` in a child process, and once through
 * the root `pnpm cimd` script. The suite builds the plugin and the CLI first when their `dist` is missing or older
 * than their sources, so `pnpm test` in a fresh clone needs no `pnpm build` before it.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CheckReport } from 'oidc-provider-cimd/check';
import { startRedisServer, type TestRedisServer } from '../helpers/redis-server.js';
import { clientDoc, type DocServer, startDocServer, tempDir } from './support.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = fileURLToPath(new URL('../../packages/cli/dist/bin.js', import.meta.url));

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd: root, env: { ...process.env, NO_COLOR: '1', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const cli = (args: string[], env?: Record<string, string>) => run(process.execPath, [bin, ...args], env);

/** Newest modification time of the files under `path` (0 when it does not exist). */
function newest(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
}

/** Oldest modification time of the files under `path` (0 when it does not exist or is empty). */
function oldest(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  const times = readdirSync(path).map((name) => oldest(join(path, name)));
  return times.length === 0 || times.includes(0) ? 0 : Math.min(...times);
}

/** `pnpm build` without pnpm: the plugin first (the CLI compiles against its declarations), then the CLI. */
function buildWhenStale(): void {
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  for (const name of ['oidc-provider-cimd', 'cli']) {
    const folder = join(root, 'packages', name);
    const sources = Math.max(
      newest(join(folder, 'src')),
      newest(join(folder, 'tsconfig.json')),
      newest(join(folder, 'tsconfig.build.json')),
    );
    if (oldest(join(folder, 'dist')) > sources) continue;
    try {
      execFileSync(process.execPath, [tsc, '-p', join(folder, 'tsconfig.build.json')], { cwd: folder, stdio: 'pipe' });
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: Buffer; stderr?: Buffer };
      throw new Error(`building packages/${name} failed:\n${String(stdout ?? '')}${String(stderr ?? '')}`);
    }
  }
}

let docs: DocServer;
let redis: TestRedisServer;
let tmp: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  buildWhenStale();
  docs = await startDocServer();
  redis = await startRedisServer();
  tmp = await tempDir();
}, 300_000); // a build from scratch on a busy machine
afterAll(async () => {
  await docs?.close();
  await redis?.close();
  tmp?.cleanup();
});

test('check: exit 0 with JSON that parses, and nothing on stderr', async () => {
  const cid = docs.route('/sub.json', {
    body: clientDoc(docs.cid('/sub.json')),
    headers: { 'cache-control': 'max-age=900' },
  });
  const result = await cli(['check', cid, '--allow-loopback', '--ca', tmp.ca, '--json']);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const report = JSON.parse(result.stdout) as CheckReport;
  expect(report).toMatchObject({ clientId: cid, accepted: true, response: { cache: { freshForSeconds: 900 } } });
});

test('check: exit 1 for a rejected document, exit 2 for a usage error', async () => {
  const cid = docs.route('/sub-bad.json', { body: clientDoc('https://elsewhere.example.com/c.json') });
  const rejected = await cli(['check', cid, '--allow-loopback', '--ca', tmp.ca]);
  expect(rejected.code).toBe(1);
  expect(rejected.stdout).toContain('REJECTED rejected:client_id_mismatch (client_id)');
  const usage = await cli(['check']);
  expect(usage.code).toBe(2);
  expect(usage.stderr).toContain('takes one URL or file');
});

test('pin and inspect through REDIS_URL; the process exits on its own', async () => {
  const cid = docs.route('/sub-pin.json', { body: clientDoc(docs.cid('/sub-pin.json')) });
  const env = { REDIS_URL: redis.url };
  const pin = await cli(['pin', cid, '--allow-loopback', '--ca', tmp.ca], env);
  expect(pin.stderr).toBe('');
  expect(pin.code).toBe(0);
  expect(pin.stdout).toContain(`pinned ${cid}`);
  const inspect = await cli(['inspect', cid, '--allow-loopback', '--json'], env);
  expect(inspect.code).toBe(0);
  expect(JSON.parse(inspect.stdout)).toMatchObject({ cached: true, pinned: true });
});

test('the root script: pnpm cimd', async () => {
  // The pnpm running this suite (a script file run by node, or pnpm's own executable); run by jest directly, the
  // same root script through npm (a pnpm started here could reinstall the workspace under other tests' feet).
  const pnpm = process.env.npm_execpath;
  const result =
    pnpm && /pnpm/.test(pnpm)
      ? /\.[cm]?js$/.test(pnpm)
        ? await run(process.execPath, [pnpm, '-s', 'cimd', '--version'])
        : await run(pnpm, ['-s', 'cimd', '--version'])
      : await run('npm', ['run', '-s', 'cimd', '--', '--version']);
  expect(result.code).toBe(0);
  expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
});

test('piped into a reader that goes away (cimd ... | head): a quiet exit, no EPIPE crash', async () => {
  // The built binary (this suite builds it when stale), as `cimd help | head` runs it.
  const child = spawn(process.execPath, [bin, 'help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy(); // the reader is gone before the first write
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', (status) => resolve(status)));
  expect(stderr).not.toMatch(/EPIPE|Unhandled|Error/);
  expect(code).toBe(0);
}, 30_000);
