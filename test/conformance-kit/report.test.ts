/** The kit's outputs from a synthetic report: the table, JUnit, and the peers table (packages/conformance). */
import { describe, expect, it } from '@jest/globals';
import { peersTable } from '../../packages/conformance/peers/table.js';
import { classifyAuthorize } from '../../packages/conformance/src/context.js';
import { formatTable, type RunReport, toJunit } from '../../packages/conformance/src/index.js';
import { summarise } from '../../packages/conformance/src/runner.js';

const report = (): RunReport =>
  summarise({
    tool: { name: 'cimd-conformance', version: '0.0.0' },
    issuer: 'http://localhost:1',
    mode: 'dev',
    startedAt: '',
    finishedAt: '',
    results: [
      {
        id: 'fetch.a',
        family: 'fetch',
        title: 'a',
        level: 'MUST',
        cite: 'x',
        status: 'pass',
        detail: 'ok',
        exchanges: [],
        ms: 1,
      },
      {
        id: 'fetch.b',
        family: 'fetch',
        title: 'b <&>',
        level: 'SHOULD',
        cite: 'y',
        status: 'fail',
        detail: 'expected refused, got accepted',
        exchanges: [
          {
            label: 'authorize',
            request: { method: 'GET', url: 'http://localhost:1/auth?x' },
            response: { status: 303, location: '/login', body: '' },
            ms: 2,
          },
        ],
        fetches: 1,
        ms: 2,
      },
      {
        id: 'ssrf.c',
        family: 'ssrf',
        title: 'c',
        level: 'MUST',
        cite: 'z',
        status: 'not-run',
        detail: 'dev mode',
        exchanges: [],
        ms: 0,
      },
    ],
    summary: { total: 0, pass: 0, fail: 0, notRun: 0, mustFailed: 0 },
  });

describe('cimd-conformance reports', () => {
  it('counts, and a SHOULD failure does not fail the run', () => {
    const r = report();
    expect(r.summary).toEqual({ total: 3, pass: 1, fail: 1, notRun: 1, mustFailed: 0 });
    const text = formatTable(r);
    expect(text).toContain('Result: every MUST case passes.');
    expect(text).toContain('> GET http://localhost:1/auth?x');
    expect(text).toContain('< 303 location: /login');
    expect(text).toContain('Not run (1): dev mode');
  });

  it('writes JUnit with escaped names, failures typed by level, skipped cases', () => {
    const xml = toJunit(report());
    expect(xml).toContain('tests="3" failures="1" skipped="1"');
    expect(xml).toContain('b &lt;&amp;&gt;');
    expect(xml).toContain('<failure type="SHOULD"');
    expect(xml).toContain('<skipped message="dev mode"/>');
  });

  it('builds the peers table with a not-run column', () => {
    const table = peersTable(
      [
        { peer: { name: 'A', version: '1' }, report: report() },
        { peer: { name: 'B', version: '-', notRun: 'not run: why' } },
      ],
      new Date('2026-01-02T00:00:00Z'),
    );
    expect(table).toContain('| fetch | 1/2 | not run |');
    expect(table).toContain('- B: - — not run: why');
    expect(table).toContain('| `fetch.b` | SHOULD | **fail** |');
  });

  it('classifies authorization answers', () => {
    const answer = (status: number, location?: string) =>
      classifyAuthorize(
        new Response(null, { status, headers: location ? { location } : {} }),
        '',
        'https://app.example.com/cb',
        'http://as.test/auth',
      );
    expect(answer(303, '/interaction/1').kind).toBe('accepted');
    expect(answer(302, 'https://app.example.com/cb?error=invalid_client').kind).toBe('redirect-error');
    expect(answer(302, 'https://app.example.com/cb?code=x').kind).toBe('redirect-code');
    expect(answer(302, '/error?error=invalid_client').kind).toBe('refused');
    expect(answer(400).kind).toBe('refused');
    expect(answer(500).kind).toBe('server-error');
    // better-auth's navigation answer: 200 JSON standing for a redirect.
    const json = (body: unknown) =>
      classifyAuthorize(
        new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } }),
        JSON.stringify(body),
        'https://app.example.com/cb',
        'http://as.test/auth',
      );
    expect(json({ redirect: true, url: '/login?x=1' }).kind).toBe('accepted');
    expect(json({ redirect: true, url: 'http://as.test/error?error=invalid_redirect' }).kind).toBe('refused');
    expect(json({ redirect: true, url: 'https://app.example.com/cb?error=invalid_scope' }).kind).toBe('redirect-error');
  });
});
