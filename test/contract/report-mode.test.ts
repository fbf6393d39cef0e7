/**
 * Contract statement of §7 on `report` admission that had no test of its own: every would-be refusal emits one
 * event (and so one count in whatever metric an operator derives from the events), not one per internal lookup:
 * oidc-provider looks a client up more than once while answering one /auth.
 * Broken by: emitting `would_deny` on every Client.find instead of once per verdict (red: two or more per request).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { clientDoc, type DocServer, startDocServer } from '../cache/support.js';
import { startAuthorization } from '../helpers/auth-flow.js';
import { getTestCertificate } from '../helpers/certs.js';
import { startProvider, type TestProvider } from '../helpers/provider.js';

describe('§7: report mode counts each would-be refusal once', () => {
  let docs: DocServer;
  let op: TestProvider;
  beforeAll(async () => {
    docs = await startDocServer();
    const { cert } = await getTestCertificate();
    op = await startProvider({
      cimd: {
        allowLoopback: true,
        ca: cert,
        policy: { admission: 'report', allow: ['https://known.example.com/client.json'] },
      },
    });
  });
  afterAll(async () => {
    await op.close();
    await docs.close();
  });

  test('one /auth of a client the allow-list would refuse: served, and exactly one would_deny; again when warm', async () => {
    const path = '/contract/report/unknown.json';
    const cid = docs.route(path, { body: clientDoc(docs.cid(path)) });
    const wouldDeny = () => op.events.filter((e) => e.cid === cid && e.reason === 'would_deny').length;
    expect((await startAuthorization(op.issuer, cid)).status).toBe(303);
    expect(wouldDeny()).toBe(1);
    // Warm: served from the cache, still a would-be refusal, still one event per request.
    expect((await startAuthorization(op.issuer, cid)).status).toBe(303);
    expect((await startAuthorization(op.issuer, cid)).status).toBe(303);
    expect(wouldDeny()).toBe(3);
    expect(docs.hits(path)).toBe(1);
  });
});
