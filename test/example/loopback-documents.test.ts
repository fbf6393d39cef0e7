/**
 * The example server and a document on https://localhost: refused without the development exception
 * (before any connection), resolved with it.
 */
import {
  authorizationUrl,
  type ClientHost,
  loopbackClientDocument,
  startClientHost,
  startExample,
} from './start-example.js';

describe('documents on https://localhost', () => {
  let host: ClientHost;
  beforeAll(async () => {
    host = await startClientHost();
  });
  afterAll(() => host.close());

  it('are refused without CIMD_ALLOW_LOOPBACK, and never fetched', async () => {
    const example = await startExample({ allowLoopback: false });
    try {
      const cid = host.publish('/refused.json', loopbackClientDocument('http://127.0.0.1:9/callback'));
      const response = await fetch(authorizationUrl(example.issuer, cid, 'http://127.0.0.1:9/callback'), {
        redirect: 'manual',
      });
      expect(response.status).toBe(400);
      expect(response.headers.get('location')).toBeNull();
      expect(await response.text()).toMatch(/invalid_client/);
      expect(host.hitsFor('/refused.json')).toBe(0);
      expect(example.events.map((e) => e.reason)).toEqual(['rejected:url']);
    } finally {
      await example.close();
    }
  });

  it('are resolved with CIMD_ALLOW_LOOPBACK and a loopback issuer', async () => {
    const example = await startExample({ allowLoopback: true });
    try {
      const cid = host.publish('/resolved.json', loopbackClientDocument('http://127.0.0.1:9/callback'));
      const response = await fetch(authorizationUrl(example.issuer, cid, 'http://127.0.0.1:9/callback'), {
        redirect: 'manual',
      });
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toMatch(/^\/interaction\//);
      await response.body?.cancel();
      expect(host.hitsFor('/resolved.json')).toBe(1);
      expect(example.events[0]).toMatchObject({ reason: 'fetched', cid, host: new URL(cid).host, tier: 'origin' });
    } finally {
      await example.close();
    }
  });

  it('are unknown clients when CIMD is disabled, even with the exception', async () => {
    const example = await startExample({ allowLoopback: true, cimdEnabled: false });
    try {
      const cid = host.publish('/disabled.json', loopbackClientDocument('http://127.0.0.1:9/callback'));
      const response = await fetch(authorizationUrl(example.issuer, cid, 'http://127.0.0.1:9/callback'), {
        redirect: 'manual',
      });
      expect(response.status).toBe(400);
      expect(response.headers.get('location')).toBeNull();
      await response.body?.cancel();
      expect(host.hitsFor('/disabled.json')).toBe(0);
      expect(example.events).toEqual([]);
    } finally {
      await example.close();
    }
  });
});
