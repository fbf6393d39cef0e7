/**
 * The MCP conformance suite (`@modelcontextprotocol/conformance`, its `authorization` mode) against the example
 * server, as an MCP operator would run it: the suite discovers the authorization server metadata, then runs an
 * authorization code grant (PKCE S256, no `scope`, with and without `resource`) with a CIMD client whose
 * document this test publishes on a local HTTPS host. The suite prints the authorization URL and waits for the
 * browser to come back to its callback server; this test plays the browser (login and consent pages over HTTP,
 * test/helpers/browser.ts) and then delivers the redirect to the suite's callback.
 *
 * The suite comes from npm (a devDependency) and runs offline. It needs Node.js ≥ 24 (it uses APIs that older
 * versions lack); on older versions this file is skipped with a message, and CI runs it in its Node 24 pass.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ClientHost,
  loopbackClientDocument,
  type RunningExample,
  startClientHost,
  startExample,
} from '../example/start-example.js';
import { Browser } from '../helpers/browser.js';
import { unusedPort } from '../helpers/https-server.js';

const SUITE = fileURLToPath(
  new URL('../../node_modules/@modelcontextprotocol/conformance/dist/index.js', import.meta.url),
);
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const SUPPORTED = NODE_MAJOR >= 24;
if (!SUPPORTED) {
  console.warn(
    `test/conformance: skipped: @modelcontextprotocol/conformance needs Node.js >= 24, this is ${process.version} ` +
      '(CI runs it in its Node 24 pass; locally: npx -p node@24 -- node --experimental-vm-modules ' +
      './node_modules/jest/bin/jest.js test/conformance)',
  );
}

interface Check {
  id: string;
  name: string;
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'SKIPPED' | 'INFO';
  errorMessage?: string;
}

interface SuiteRun {
  code: number | null;
  stdout: string;
  stderr: string;
  checks: Check[];
  /** The authorization URLs the suite asked the "user" to open. */
  authorizationUrls: URL[];
  /** Where the browser was sent back (the suite's callback), one per authorization. */
  redirects: URL[];
}

/** Every checks.json the suite wrote under `dir`. */
async function readChecks(dir: string): Promise<Check[]> {
  const found: Check[] = [];
  for (const entry of await readdir(dir, { recursive: true })) {
    if (!entry.endsWith('checks.json')) continue;
    found.push(...(JSON.parse(await readFile(join(dir, entry), 'utf8')) as Check[]));
  }
  return found;
}

/**
 * Runs `conformance authorization` and answers each authorization URL it prints like a user would: sign in,
 * approve, and let the browser follow the redirect to the suite's callback server.
 */
async function runSuite(issuer: string, args: string[]): Promise<SuiteRun> {
  const outputDir = await mkdtemp(join(tmpdir(), 'mcp-conformance-'));
  const run: SuiteRun = { code: null, stdout: '', stderr: '', checks: [], authorizationUrls: [], redirects: [] };
  const pending: Promise<void>[] = [];
  let child: ChildProcess | undefined;
  try {
    child = spawn(process.execPath, [SUITE, 'authorization', '--url', issuer, '--output-dir', outputDir, ...args], {
      cwd: outputDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    let buffered = '';
    child.stdout!.on('data', (chunk: string) => {
      run.stdout += chunk;
      buffered += chunk;
      for (let newline = buffered.indexOf('\n'); newline !== -1; newline = buffered.indexOf('\n')) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (!line.startsWith(`${issuer}/`)) continue;
        const url = new URL(line);
        run.authorizationUrls.push(url);
        pending.push(
          (async () => {
            const outcome = await new Browser().authorize(url, { login: 'conformance', password: 'demo' });
            if (!outcome.redirect) {
              throw new Error(`the authorization did not come back to the client: ${outcome.last.status}`);
            }
            run.redirects.push(outcome.redirect);
            // The browser follows the redirect to the suite's callback server (plain HTTP on 127.0.0.1).
            const delivered = await fetch(outcome.redirect);
            await delivered.body?.cancel();
          })(),
        );
      }
    });
    child.stderr!.on('data', (chunk: string) => {
      run.stderr += chunk;
    });
    run.code = await new Promise<number | null>((resolve, reject) => {
      child!.on('error', reject);
      child!.on('exit', (code) => resolve(code));
    });
    await Promise.all(pending);
    run.checks = await readChecks(outputDir);
    return run;
  } finally {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await rm(outputDir, { recursive: true, force: true });
  }
}

function describeRun(run: SuiteRun): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}

(SUPPORTED ? describe : describe.skip)('MCP conformance suite, authorization server scenarios', () => {
  let host: ClientHost;
  let example: RunningExample;
  let callbackPort: number;
  let clientId: string;

  beforeAll(async () => {
    expect(existsSync(SUITE)).toBe(true);
    host = await startClientHost();
    callbackPort = await unusedPort();
    // A public CIMD client, as an MCP client publishes it; the suite registers nothing.
    clientId = host.publish(
      '/conformance/client.json',
      loopbackClientDocument(`http://127.0.0.1:${callbackPort}/callback`, 'MCP conformance suite'),
    );
    // A loopback issuer with the development exception: the document host is https://localhost:<port>.
    example = await startExample({ allowLoopback: true });
  });
  afterAll(async () => {
    await example?.close();
    await host?.close();
  });

  // The suite lists its scenarios itself; every one of them must run and pass.
  it.each([
    ['without resource (the default resource and the default scope apply)', [] as string[]],
    ['with resource = the MCP resource', ['--resource', 'MCP_RESOURCE']],
  ])(
    'passes every scenario, %s',
    async (_name, extra) => {
      const args = [
        '--client-id',
        clientId,
        '--port',
        String(callbackPort),
        ...extra.map((arg) => (arg === 'MCP_RESOURCE' ? example.mcpResource : arg)),
      ];
      const run = await runSuite(example.issuer, args);
      const diagnosis = describeRun(run);

      expect({ code: run.code, diagnosis }).toEqual({ code: 0, diagnosis });
      // Both authorization-server scenarios ran, and every check succeeded: no failure, no warning (the one
      // warning the suite can give, "client_id_metadata_document_supported" missing, must not appear).
      expect(new Set(run.checks.map((c) => c.id))).toEqual(
        new Set(['authorization-server-metadata', 'authorization-server-metadata-cimd', 'authorization-code-grant']),
      );
      expect(run.checks.filter((c) => c.status !== 'SUCCESS')).toEqual([]);

      // It went through the real interaction: one authorization, answered with a code at its callback.
      expect(run.authorizationUrls).toHaveLength(1);
      expect(run.authorizationUrls[0]!.searchParams.get('client_id')).toBe(clientId);
      expect(run.authorizationUrls[0]!.searchParams.has('scope')).toBe(false);
      expect(run.redirects[0]!.searchParams.get('code')).toBeTruthy();
    },
    120_000,
  );
});
