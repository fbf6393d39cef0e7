/**
 * Makes docs/metrics.png: the example server's metrics with real data, graphed by Prometheus.
 *
 *     TSX_TSCONFIG_PATH=test/tsconfig.json node --import tsx test/ops/metrics-picture.ts [docs/metrics.png]
 *
 * Runs the example (METRICS on, the development exception, a small fetch budget) on a free port; a local
 * HTTPS host (certificate made now) serves client documents: good ones, a missing one, one that is not JSON,
 * one naming another client_id. Traffic for a few minutes: authorization requests of known clients (cache
 * hits), new clients (fetches), refused ones, bursts over the budget, purges (refetches). Debian's Prometheus
 * (`apt-get install prometheus`) scrapes the example on localhost every 2 s; Debian's Chromium renders
 * Prometheus' own graph page, which is saved as the picture. Nothing leaves the machine.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { createApp } from '../../examples/koa-server/src/app.js';
import { createDemoCertificate } from '../../examples/koa-server/src/demo/certificate.js';
import { authorizationParams } from '../helpers/auth-flow.js';

const out = path.resolve(process.argv[2] ?? 'docs/metrics.png');
const TRAFFIC_MS = Number(process.env.TRAFFIC_MS ?? 180_000);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function listen(server: http.Server | https.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function freePort(): Promise<number> {
  const server = http.createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const certificate = await createDemoCertificate();
const documents = new Map<string, string>();
const host = https.createServer(certificate, (req, res) => {
  const body = documents.get(req.url ?? '');
  if (body === undefined) return void res.writeHead(404).end();
  // Short lifetimes, so that revalidations and refetches show up in a few minutes.
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=20' }).end(body);
});
const origin = `https://localhost:${await listen(host)}`;
const publish = (name: string, body?: string) => {
  const cid = `${origin}/${name}.json`;
  documents.set(
    `/${name}.json`,
    body ??
      JSON.stringify({
        client_id: cid,
        client_name: name,
        redirect_uris: ['http://127.0.0.1:33418/callback'],
        token_endpoint_auth_method: 'none',
      }),
  );
  return cid;
};

const server = http.createServer();
const port = await listen(server);
const issuer = `http://localhost:${port}`;
const example = await createApp({
  issuer,
  allowLoopback: true,
  metrics: true,
  extraCa: certificate.cert,
  log: () => {},
  cimd: { budget: { perHostBurst: 40, perHostPerSecond: 1 } },
});
server.on('request', example.app.callback());

const promPort = await freePort();
const promDir = await mkdtemp(path.join(tmpdir(), 'cimd-prometheus-'));
await writeFile(
  path.join(promDir, 'prometheus.yml'),
  `global:\n  scrape_interval: 2s\nscrape_configs:\n  - job_name: cimd\n    static_configs:\n      - targets: ['localhost:${port}']\n`,
);
const prometheus = spawn(
  'prometheus',
  [
    `--config.file=${path.join(promDir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(promDir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
  ],
  { stdio: 'ignore' },
);

const authorize = async (cid: string) => {
  const url = new URL('/auth', issuer);
  url.search = new URLSearchParams(authorizationParams(cid, 'http://127.0.0.1:33418/callback')).toString();
  const response = await fetch(url, { redirect: 'manual' });
  await response.body?.cancel();
};

try {
  const regulars = ['Claude Desktop', 'Notes CLI', 'Editor Agent', 'Terminal Agent'].map((name) =>
    publish(name.replaceAll(' ', '-')),
  );
  const missing = `${origin}/gone.json`;
  const broken = publish('broken', '{"client_id": ');
  const impostor = publish('impostor', JSON.stringify({ client_id: `${origin}/someone-else.json` }));
  const started = Date.now();
  let tick = 0;
  process.stdout.write(`traffic for ${TRAFFIC_MS / 1000} s against ${issuer}, Prometheus on ${promPort}\n`);
  while (Date.now() - started < TRAFFIC_MS) {
    tick += 1;
    const phase = (Date.now() - started) / TRAFFIC_MS;
    // Steady use by the regular clients.
    await Promise.all(regulars.map(authorize));
    // Now and then a new client (a fetch), and a refused one.
    if (tick % 5 === 0) await authorize(publish(`new-${tick}`));
    if (tick % 7 === 0) await authorize(missing);
    if (tick % 11 === 0) await authorize(broken);
    if (tick % 13 === 0) await authorize(impostor);
    // In the middle third, a flood of junk ids: refusals spike and the budget refuses.
    if (phase > 0.4 && phase < 0.6) {
      await Promise.all(Array.from({ length: 8 }, (_, i) => authorize(`${origin}/junk-${tick}-${i}.json`)));
    }
    // An operator purge now and then: the next lookup fetches again.
    if (tick % 17 === 0) await example.cimd.purge(regulars[tick % regulars.length] as string);
    await sleep(250);
  }
  await sleep(4000);

  const graph = new URL(`http://127.0.0.1:${promPort}/graph`);
  const range = `${Math.ceil(TRAFFIC_MS / 60_000) + 1}m`;
  const panels = [
    'sum by (reason) (rate(cimd_resolutions_total[20s]))',
    'sum by (scope) (rate(cimd_budget_refusals_total[20s]))',
    'histogram_quantile(0.95, sum by (le) (rate(cimd_fetch_duration_seconds_bucket[30s])))',
  ];
  panels.forEach((expr, index) => {
    graph.searchParams.set(`g${index}.expr`, expr);
    graph.searchParams.set(`g${index}.tab`, '0');
    graph.searchParams.set(`g${index}.range_input`, range);
    graph.searchParams.set(`g${index}.stacked`, index === 0 ? '1' : '0');
  });
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1500 }, deviceScaleFactor: 1 });
    await page.goto(graph.href, { waitUntil: 'networkidle' });
    // Prometheus' graph page draws each graph with its legend; wait for all of them.
    await page
      .waitForFunction(`document.querySelectorAll('.graph-legend').length >= ${panels.length}`, undefined, {
        timeout: 30_000,
      })
      .catch(() => process.stderr.write('not every graph drew a legend (a query without data?)\n'));
    // The navigation bar is fixed to the viewport: in a full-page picture it would sit across the first graph.
    await page.addStyleTag({
      content: 'nav.navbar { position: static !important; } body { padding-top: 0 !important; }',
    });
    await sleep(1500);
    await page.screenshot({ path: out, fullPage: true });
  } finally {
    await browser.close();
  }
  process.stdout.write(`wrote ${out}\n`);
} finally {
  prometheus.kill('SIGTERM');
  server.closeAllConnections();
  server.close();
  host.closeAllConnections();
  host.close();
  await example.close();
  await certificate.remove();
  await rm(promDir, { recursive: true, force: true });
}
