/**
 * The example server's trust policy and transport fallback, configured through its environment (parseEnv →
 * createApp, and once as `pnpm start` does it): report mode serves and says `would_deny`, URL patterns admit one
 * path segment, `known` in the deny list keeps the catalog out without a fetch, and CIMD_TRANSPORT_FALLBACK_S
 * serves the last valid copy of a client in use when its host answers with a challenge page.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from '../../examples/koa-server/src/env.js';
import { Browser } from '../helpers/browser.js';
import { getTestCertificate } from '../helpers/certs.js';
import { startHttpsServer, type TestHttpsServer } from '../helpers/https-server.js';
import {
  authorizationUrl,
  type ClientHost,
  loopbackClientDocument,
  startClientHost,
  startExample,
} from './start-example.js';

const EXAMPLE_DIR = fileURLToPath(new URL('../../examples/koa-server/', import.meta.url));
const REDIRECT = 'http://127.0.0.1:9/callback';

/** The options createApp gets from these environment variables (as server.ts passes them). */
function fromEnv(source: Record<string, string>) {
  const { port: _port, issuer: _issuer, ...env } = parseEnv({ CIMD_ALLOW_LOOPBACK: 'true', ...source });
  return env;
}

async function status(url: string): Promise<number> {
  const response = await fetch(url, { redirect: 'manual' });
  await response.body?.cancel();
  return response.status;
}

describe('example admission modes', () => {
  let host: ClientHost;
  beforeAll(async () => {
    host = await startClientHost();
  });
  afterAll(() => host.close());

  test('CIMD_ADMISSION=report with CIMD_ALLOW=known: an unknown client is served, and the event says would_deny', async () => {
    const cid = host.publish('/report/unknown.json', loopbackClientDocument(REDIRECT));
    const example = await startExample(fromEnv({ CIMD_ADMISSION: 'report', CIMD_ALLOW: 'known' }));
    try {
      expect(await status(authorizationUrl(example.issuer, cid))).toBe(303);
      const reasons = example.events.filter((e) => e.cid === cid).map((e) => e.reason);
      expect(reasons).toEqual(['would_deny', 'fetched']);
      expect(example.events.find((e) => e.reason === 'would_deny')?.detail).toBe('client_id is not on the allow list');
      // The registry keeps both: the lookup's outcome, and that report mode would have refused the client.
      const listed = (await example.cimd.clients()).find((client) => client.clientId === cid);
      expect(listed).toMatchObject({ lastOutcome: 'fetched', lastWouldDenyAt: expect.any(Number) });
    } finally {
      await example.close();
    }
  });

  test('CIMD_ALLOW with a URL pattern: one path segment is admitted, anything else refused without a fetch', async () => {
    const one = host.publish('/connectors/abc123/client.json', loopbackClientDocument(REDIRECT));
    const two = host.publish('/connectors/a/b/client.json', loopbackClientDocument(REDIRECT));
    const example = await startExample(fromEnv({ CIMD_ALLOW: `${host.origin}/connectors/*/client.json` }));
    try {
      expect(await status(authorizationUrl(example.issuer, one))).toBe(303);
      expect(await status(authorizationUrl(example.issuer, two))).toBe(400);
      expect(host.hitsFor('/connectors/a/b/client.json')).toBe(0);
      expect(example.events.filter((e) => e.cid === two).map((e) => e.reason)).toEqual(['rejected:policy']);
    } finally {
      await example.close();
    }
  });

  test('CIMD_DENY=known refuses the catalog before any fetch; other clients stay open', async () => {
    const other = host.publish('/deny-known/other.json', loopbackClientDocument(REDIRECT));
    const example = await startExample(fromEnv({ CIMD_DENY: 'known' }));
    try {
      const claude = 'https://claude.ai/oauth/claude-code-client-metadata';
      const response = await fetch(authorizationUrl(example.issuer, claude, REDIRECT), { redirect: 'manual' });
      expect(response.status).toBe(400);
      expect(await response.text()).toMatch(/not allowed by this authorization server/);
      expect(example.events.filter((e) => e.cid === claude).map((e) => e.reason)).toEqual(['rejected:policy']);
      expect(await status(authorizationUrl(example.issuer, other))).toBe(303);
    } finally {
      await example.close();
    }
  });

  test('`pnpm start` logs each reason code in one JSON line with the exact client id', async () => {
    const cid = host.publish('/report/logged.json', loopbackClientDocument(REDIRECT));
    const dir = await mkdtemp(path.join(tmpdir(), 'cimd-admission-'));
    const caFile = path.join(dir, 'ca.pem');
    await writeFile(caFile, (await getTestCertificate()).cert);
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: EXAMPLE_DIR,
      env: {
        ...process.env,
        PORT: '0',
        CIMD_ALLOW_LOOPBACK: 'true',
        CIMD_EXTRA_CA: caFile,
        CIMD_ADMISSION: 'report',
        CIMD_ALLOW: 'known, https://chatgpt.com/oauth/*/client.json',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: Record<string, unknown>[] = [];
    let buffered = '';
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const startup = new Promise<Record<string, unknown>>((resolve, reject) => {
      child.on('close', (code) => reject(new Error(`server exited ${code}: ${stderr}`)));
      child.stdout.on('data', (chunk) => {
        buffered += chunk;
        let newline = buffered.indexOf('\n');
        while (newline !== -1) {
          const line = JSON.parse(buffered.slice(0, newline)) as Record<string, unknown>;
          buffered = buffered.slice(newline + 1);
          lines.push(line);
          if (line.event === 'startup') resolve(line);
          newline = buffered.indexOf('\n');
        }
      });
    });
    try {
      const { issuer, admission } = (await startup) as { issuer: string; admission: string };
      expect(admission).toBe('report');
      expect(await status(authorizationUrl(issuer, cid))).toBe(303);
      const deadline = Date.now() + 5000;
      while (!lines.some((l) => l.reason === 'fetched') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const wouldDeny = lines.find((l) => l.reason === 'would_deny');
      expect(wouldDeny).toMatchObject({ event: 'cimd', reason: 'would_deny', cid });
      expect(lines.find((l) => l.reason === 'fetched')).toMatchObject({ event: 'cimd', cid });
      expect(lines.some((l) => l.event === 'discovery_check')).toBe(false);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('close', resolve));
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('example CIMD_TRANSPORT_FALLBACK_S', () => {
  let docs: TestHttpsServer;
  let challenge = false;
  const body = new Map<string, string>();
  beforeAll(async () => {
    docs = await startHttpsServer((req: IncomingMessage, res: ServerResponse) => {
      if (challenge) {
        // A bot-protection page, as claude.ai's host serves to datacenter addresses.
        res.writeHead(403, { 'content-type': 'text/html' }).end('<html>Just a moment...</html>');
        return;
      }
      const document = body.get(req.url ?? '');
      if (!document) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' }).end(document);
    });
  });
  afterAll(() => docs.close());

  async function run(fallbackSeconds: string, pathName: string) {
    challenge = false;
    const cid = `https://localhost:${docs.port}${pathName}`;
    body.set(pathName, JSON.stringify({ ...loopbackClientDocument(REDIRECT), client_id: cid }));
    let clock = Date.now();
    const example = await startExample({
      ...fromEnv({ CIMD_TRANSPORT_FALLBACK_S: fallbackSeconds }),
      cimd: { now: () => clock },
    });
    try {
      // A completed authorization: the client is in use, so its copy is kept past its lifetime.
      const outcome = await new Browser().authorize(authorizationUrl(example.issuer, cid));
      expect(outcome.redirect?.searchParams.get('code')).toBeTruthy();
      clock += 10 * 60 * 1000; // well past max-age=60, well within 600 s of fallback
      challenge = true;
      const answer = await status(authorizationUrl(example.issuer, cid));
      return { answer, reasons: example.events.filter((e) => e.cid === cid).map((e) => e.reason) };
    } finally {
      await example.close();
    }
  }

  test('0 (the default) is off: the challenge page is a failed lookup', async () => {
    const { answer, reasons } = await run('0', '/fallback-off.json');
    expect(answer).toBe(400);
    expect(reasons).not.toContain('stale_fallback');
  });

  test('1200 s: the last valid copy is served, with stale_fallback', async () => {
    const { answer, reasons } = await run('1200', '/fallback-on.json');
    expect(answer).toBe(303);
    expect(reasons.at(-1)).toBe('stale_fallback');
  });
});
