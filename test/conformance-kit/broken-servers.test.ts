/**
 * The kit is not a toy: against a small server with one defect, the case for that defect fails; against the same
 * server without it, the case passes. (packages/conformance; the server is test/conformance-kit/tiny-as.ts.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type DevSetup, runCases, startDevHost } from '../../packages/conformance/src/index.js';
import { type Defects, startTinyAs } from './tiny-as.js';

let dir: string;
let dev: DevSetup;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cimd-kit-test-'));
  dev = await startDevHost(dir);
});

afterAll(async () => {
  await dev?.close();
  await rm(dir, { recursive: true, force: true });
});

async function statusOf(caseId: string, defects: Defects): Promise<{ status: string; detail: string }> {
  const server = await startTinyAs(dev.ca.caCert, defects);
  try {
    const report = await runCases({
      issuer: server.issuer,
      mode: 'dev',
      host: dev.host,
      origins: dev.origins,
      only: [caseId],
      intervalMs: 0,
    });
    const result = report.results.find((r) => r.id === caseId);
    if (!result) throw new Error(`no result for ${caseId}`);
    return { status: result.status, detail: result.detail };
  } finally {
    await server.close();
  }
}

const defects: [keyof Defects, string][] = [
  ['followsRedirects', 'fetch.redirect-302'],
  ['followsRedirects', 'fetch.redirect-307'],
  ['skipsClientIdCheck', 'document.client-id-other-path'],
  ['skipsClientIdCheck', 'document.client-id-trailing-slash'],
  ['cachesNoStore', 'caching.no-store'],
  ['acceptsLargeDocuments', 'fetch.size-6k-length'],
  ['acceptsLargeDocuments', 'fetch.size-6k-chunked'],
  ['acceptsFragments', 'client-id-url.fragment'],
  ['prefixRedirectMatch', 'redirect-uri.path-suffix'],
  ['redirectsErrors', 'document.client-id-other-path'],
  ['acceptsAny2xx', 'fetch.status-201'],
  ['acceptsAny2xx', 'fetch.status-203'],
  ['ignoresContentType', 'fetch.content-type-html'],
  ['ignoresContentType', 'fetch.content-type-missing'],
  ['acceptsSecrets', 'document.client-secret'],
  ['acceptsSecrets', 'document.client-secret-expires-at'],
];

describe('cimd-conformance against one-defect servers', () => {
  it.each(defects)('%s makes %s fail, and the correct server passes it', async (defect, caseId) => {
    const correct = await statusOf(caseId, {});
    expect(correct).toMatchObject({ status: 'pass' });
    const broken = await statusOf(caseId, { [defect]: true });
    expect(broken).toMatchObject({ status: 'fail' });
  });

  it('reports a redirect of an error to an unvalidated client as such', async () => {
    const redirected = await statusOf('document.client-id-missing', { redirectsErrors: true });
    expect(redirected).toMatchObject({ status: 'fail' });
    expect(redirected.detail).toMatch(/redirected to the unvalidated client's redirect_uri/);
  });
});

describe('cimd-conformance command line', () => {
  it('exits 1 when a MUST case fails and shows what was sent and received', async () => {
    const { main } = await import('../../packages/conformance/src/index.js');
    const server = await startTinyAs(dev.ca.caCert, { followsRedirects: true });
    const out: string[] = [];
    try {
      const code = await main(
        ['--issuer', server.issuer, '--ca-dir', dir, '--doc-port', '0', '--only', 'fetch.redirect-301,discovery.flag'],
        { out: (t) => out.push(t), err: () => {} },
      );
      expect(code).toBe(1);
    } finally {
      await server.close();
    }
    const text = out.join('');
    expect(text).toMatch(/FAIL {2}MUST {3}fetch\.redirect-301/);
    expect(text).toMatch(/> GET http:\/\/localhost:\d+\/authorize\?response_type=code/);
    expect(text).toContain('Result: 1 MUST case(s) failed.');
  });

  it('refuses an unknown flag with status 2', async () => {
    const { main } = await import('../../packages/conformance/src/index.js');
    const err: string[] = [];
    expect(
      await main(['--issuer', 'http://localhost:1', '--frobnicate'], { out: () => {}, err: (t) => err.push(t) }),
    ).toBe(2);
    expect(err.join('')).toContain('Usage: cimd-conformance');
  });
});
