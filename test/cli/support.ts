/**
 * Shared pieces of the command line tests: the CLI run in-process with captured output, a local HTTPS document
 * server whose per-path hit counter is the witness of "no network activity", and the test certificate as a
 * PEM file for `--ca`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { main } from '../../packages/cli/src/main.js';
import { getTestCertificate } from '../helpers/certs.js';
import { startHttpsServer } from '../helpers/https-server.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (throws when it is not). */
  // biome-ignore lint/suspicious/noExplicitAny: parsed output is asserted with matchers, field by field
  json<T = Record<string, any>>(): T;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  /** Pretend stdout and stderr are terminals. */
  tty?: boolean;
  cwd?: string;
}

/** Runs `cimd <argv>` in this process and captures what it writes. */
export async function cimd(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (chunk: string) => (stdout += chunk), isTTY: options.tty === true },
    stderr: { write: (chunk: string) => (stderr += chunk), isTTY: options.tty === true },
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
  });
  return {
    code,
    stdout,
    stderr,
    json() {
      return JSON.parse(stdout);
    },
  };
}

export interface DocSpec {
  status?: number;
  headers?: Record<string, string>;
  /** A JSON value (serialised) or a raw string. */
  body?: unknown;
}

export interface DocServer {
  readonly url: string;
  cid(path: string): string;
  /** Serves `spec` at `path` (replacing what was there); returns the CID. */
  route(path: string, spec: DocSpec): string;
  hits(path: string): number;
  readonly totalHits: number;
  close(): Promise<void>;
}

export async function startDocServer(): Promise<DocServer> {
  const routes = new Map<string, DocSpec>();
  const hits = new Map<string, number>();
  const server = await startHttpsServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const spec = routes.get(path);
    if (!spec) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const body =
      spec.body === undefined || typeof spec.body === 'string' ? (spec.body ?? '') : JSON.stringify(spec.body);
    res.writeHead(spec.status ?? 200, { 'content-type': 'application/json', ...spec.headers });
    res.end(body);
  });
  return {
    url: server.url,
    cid: (p) => `${server.url}${p}`,
    route(p, spec) {
      routes.set(p, spec);
      return `${server.url}${p}`;
    },
    hits: (p) => hits.get(p) ?? 0,
    get totalHits() {
      return server.hits;
    },
    close: () => server.close(),
  };
}

/** A valid, ordinary client metadata document for `cid`. */
export function clientDoc(cid: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    client_id: cid,
    client_name: 'Test App',
    redirect_uris: ['https://app.example.com/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    ...extra,
  };
}

/** A temporary directory with the test certificate as `ca.pem`; `cleanup()` removes it. */
export async function tempDir(): Promise<{
  dir: string;
  ca: string;
  write(name: string, content: string): string;
  cleanup(): void;
}> {
  const dir = mkdtempSync(path.join(tmpdir(), 'cimd-cli-'));
  const { cert } = await getTestCertificate();
  const ca = path.join(dir, 'ca.pem');
  writeFileSync(ca, cert);
  return {
    dir,
    ca,
    write(name, content) {
      const file = path.join(dir, name);
      writeFileSync(file, content);
      return file;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Polls `condition` until it holds or `timeoutMs` passes. */
export async function eventually(condition: () => Promise<boolean> | boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
