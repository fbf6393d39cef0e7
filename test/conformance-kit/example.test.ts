/**
 * The kit against this repo's example server in development mode, through the bin's entry point: every MUST case
 * passes (exit status 0), and the JSON and JUnit reports are written. Takes about two minutes: the cache-expiry
 * cases wait out the plugin's 60 s minimum lifetime.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { launchExample } from '../../packages/conformance/peers/example.js';
import type { Launched } from '../../packages/conformance/peers/launch.js';
import { ensureCa, main, type RunReport } from '../../packages/conformance/src/index.js';

let dir: string;
let server: Launched;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cimd-kit-example-'));
  const ca = await ensureCa(dir);
  server = await launchExample(ca.caPath);
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

it('passes every MUST case in development mode', async () => {
  const out: string[] = [];
  const code = await main(
    ['--issuer', server.issuer, '--ca-dir', dir, '--json', join(dir, 'r.json'), '--junit', join(dir, 'r.xml')],
    { out: (t) => out.push(t), err: () => {} },
  );
  const report = JSON.parse(await readFile(join(dir, 'r.json'), 'utf8')) as RunReport;
  const mustFailures = report.results.filter((r) => r.level === 'MUST' && r.status === 'fail');
  expect(mustFailures.map((r) => `${r.id}: ${r.detail}`)).toEqual([]);
  expect(code).toBe(0);
  expect(report.summary.total).toBeGreaterThanOrEqual(80);
  expect(report.results.filter((r) => r.family === 'ssrf').every((r) => r.status === 'not-run')).toBe(true);
  const junit = await readFile(join(dir, 'r.xml'), 'utf8');
  expect(junit).toContain(`tests="${report.summary.total}"`);
  expect(out.join('')).toContain('Result: every MUST case passes.');
}, 300_000);
