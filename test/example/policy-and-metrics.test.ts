/**
 * The example's CIMD_ALLOW / CIMD_DENY trust policy and its METRICS=true endpoint, over HTTP.
 */
import {
  authorizationUrl,
  type ClientHost,
  loopbackClientDocument,
  startClientHost,
  startExample,
} from './start-example.js';

describe('example trust policy and metrics', () => {
  let host: ClientHost;
  beforeAll(async () => {
    host = await startClientHost();
  });
  afterAll(() => host.close());

  it('refuses denied and not-allowed ids without fetching them, and counts every outcome at /metrics', async () => {
    const allowed = host.publish('/allowed.json', loopbackClientDocument('http://127.0.0.1:9/callback'));
    const denied = host.publish('/denied.json', loopbackClientDocument('http://127.0.0.1:9/callback'));
    const other = host.publish('/other.json', loopbackClientDocument('http://127.0.0.1:9/callback'));
    const example = await startExample({
      allowLoopback: true,
      allow: [allowed, denied],
      deny: [denied],
      metrics: true,
    });
    try {
      const responses = await Promise.all(
        [allowed, denied, other].map((cid) => fetch(authorizationUrl(example.issuer, cid), { redirect: 'manual' })),
      );
      for (const response of responses) await response.body?.cancel();
      expect(responses.map((r) => r.status)).toEqual([303, 400, 400]);
      expect([host.hitsFor('/allowed.json'), host.hitsFor('/denied.json'), host.hitsFor('/other.json')]).toEqual([
        1, 0, 0,
      ]);

      const metrics = await fetch(new URL('/metrics', example.issuer));
      expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = await metrics.text();
      expect(text).toMatch(/^cimd_resolutions_total\{reason="fetched",tier="origin"\} 1$/m);
      expect(text).toMatch(/^cimd_resolutions_total\{reason="rejected:policy",tier="none"\} 2$/m);
      expect(text).toMatch(/^cimd_resolution_duration_seconds_count\{reason="fetched"\} 1$/m);
      // Client ids are chosen by strangers: they must never become label values.
      expect(text).not.toContain(host.origin);
    } finally {
      await example.close();
    }
  });

  it('serves no /metrics unless METRICS is on', async () => {
    const example = await startExample();
    try {
      const response = await fetch(new URL('/metrics', example.issuer));
      await response.body?.cancel();
      expect(response.status).toBe(404);
    } finally {
      await example.close();
    }
  });
});
