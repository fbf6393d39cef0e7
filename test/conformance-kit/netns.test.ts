/**
 * Namespace mode: against the tiny server started by the kit inside a network namespace, a server that dials
 * whatever a name resolves to fails the SSRF cases (its victim listener counts the connection); the same server
 * checking and pinning addresses passes them. Needs user and network namespaces (unshare -rnm).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { main, type RunReport } from '../../packages/conformance/src/index.js';
import { namespaceSupport } from '../../packages/conformance/src/netns/run.js';

const support = namespaceSupport();
const root = fileURLToPath(new URL('../..', import.meta.url));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cimd-kit-netns-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SSRF = ['ssrf.private-10', 'ssrf.metadata', 'ssrf.loopback-v4-other', 'ssrf.mapped-v6', 'ssrf.mixed-answers'];
const ALL = [...SSRF, 'ssrf.rebinding', 'client-id-url.baseline'];

async function run(defects: Record<string, boolean>, name: string): Promise<RunReport> {
  const command = `cd '${root}' && PORT=3005 DEFECTS='${JSON.stringify(defects)}' exec '${process.execPath}' --import tsx test/conformance-kit/tiny-as-main.ts`;
  const file = join(dir, `${name}.json`);
  const code = await main(
    [
      '--mode',
      'netns',
      '--issuer',
      'http://localhost:3005',
      '--server-command',
      command,
      '--ca-dir',
      dir,
      '--json',
      file,
      '--only',
      ALL.join(','),
    ],
    { out: () => {}, err: () => {} },
  );
  expect([0, 1]).toContain(code);
  return JSON.parse(await readFile(file, 'utf8')) as RunReport;
}

const statuses = (report: RunReport) => Object.fromEntries(report.results.map((r) => [r.id, r.status]));

if (support !== true && process.env.CI !== 'true') {
  it.skip(`namespace mode (${support})`, () => {});
} else {
  it('catches a server that dials private addresses, and passes one that checks and pins them', async () => {
    expect(support).toBe(true);
    const correct = statuses(await run({}, 'correct'));
    const broken = statuses(await run({ dialsPrivate: true }, 'broken'));
    const rebinds = statuses(await run({ resolvesTwice: true }, 'rebinds'));
    for (const id of ALL) expect([id, correct[id]]).toEqual([id, 'pass']);
    expect(broken['client-id-url.baseline']).toBe('pass');
    for (const id of SSRF) expect([id, broken[id]]).toEqual([id, 'fail']);
    // Checking the addresses and then dialling by name again lets TTL-0 rebinding through, and only that.
    expect(rebinds['ssrf.rebinding']).toBe('fail');
    for (const id of SSRF) expect([id, rebinds[id]]).toEqual([id, 'pass']);
  }, 120_000);
}
