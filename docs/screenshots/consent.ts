/**
 * Takes docs/consent.png: the consent page of the example server (examples/koa-server) in headless Chromium,
 * for Claude Code, a real loopback client, with its published document (test/fixtures/client-documents). The
 * document is served on this machine under its real client id: an injected resolver sends `claude.ai` to
 * 127.0.0.1 (the example's development exception admits loopback addresses) and a certificate made here for
 * `claude.ai` is trusted by the example only. Nothing leaves the machine.
 *
 *   node --import tsx docs/screenshots/consent.ts      (needs /usr/bin/chromium; binds 127.0.0.1:443)
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, LookupFunction } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { generate } from 'selfsigned';
import { createApp } from '../../examples/koa-server/src/app.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const document = readFileSync(path.join(ROOT, 'test/fixtures/client-documents/claude-code.json'), 'utf8');
const clientId: string = JSON.parse(document).client_id;
const documentHost = new URL(clientId).hostname;

const pems = await generate([{ name: 'commonName', value: documentHost }], {
  keyType: 'ec',
  curve: 'P-256',
  algorithm: 'sha256',
  extensions: [
    { name: 'basicConstraints', cA: false },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 2, value: documentHost }] },
  ],
});
const documents = https.createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
  if (req.url !== new URL(clientId).pathname) return void res.writeHead(404).end();
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' }).end(document);
});
await new Promise<void>((resolve) => documents.listen(443, '127.0.0.1', resolve));

// Only the document's host is redirected; any other name fails to resolve.
const lookup = ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
  if (hostname !== documentHost)
    return callback(Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
  if (options.all) return callback(null, [{ address: '127.0.0.1', family: 4 }]);
  return callback(null, '127.0.0.1', 4);
}) as unknown as LookupFunction;

const server = http.createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const example = await createApp({ issuer, allowLoopback: true, extraCa: pems.cert, log: () => {}, cimd: { lookup } });
server.on('request', example.app.callback());

const userDataDir = await mkdtemp(path.join(tmpdir(), 'cimd-screenshot-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  viewport: { width: 760, height: 900 },
  deviceScaleFactor: 1,
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  const url = new URL('/auth', issuer);
  url.search = new URLSearchParams({
    client_id: clientId,
    // What Claude Code sends: its portless loopback redirect URI with the port it listens on.
    redirect_uri: 'http://localhost:58135/callback',
    response_type: 'code',
    scope: 'openid profile',
    state: randomBytes(8).toString('hex'),
    code_challenge: createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  await page.goto(url.href);
  await page.fill('input[name="login"]', 'alice');
  await page.fill('input[name="password"]', 'demo');
  await Promise.all([page.waitForSelector('#loopback-warning'), page.getByRole('button', { name: 'Sign in' }).click()]);
  const name = await page.locator('#client-name').textContent();
  if (!name?.includes('Claude Code')) throw new Error(`unexpected client name on the page: ${name}`);
  await page.screenshot({ path: path.join(ROOT, 'docs', 'consent.png'), fullPage: true });
  console.log(`docs/consent.png: the consent page of ${clientId}`);
} finally {
  await context.close();
  await rm(userDataDir, { recursive: true, force: true });
  await example.close();
  server.close();
  documents.close();
}
