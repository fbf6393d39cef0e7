/**
 * The budgets cover every fetch made on a client's behalf (draft-ietf-oauth-client-id-metadata-document-03 §9.6): oidc-provider fetches a private_key_jwt
 * client's `jwks_uri` through the `fetch` hook the plugin installs, so a flood of token requests turns into at
 * most the host's budget of GETs, not one GET per request.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, test } from '@jest/globals';
import { getTestCertificate } from '../helpers/certs.js';
import { assertionParams, es256Key, jwksUriClientDocument } from '../helpers/client-assertion.js';
import { startHttpsServer, type TestHttpsServer } from '../helpers/https-server.js';
import { startProvider, type TestProvider } from '../helpers/provider.js';

const REDIRECT = 'https://app.example.com/cb';
const BURST = 10;

describe('jwks_uri flood', () => {
  let docs: TestHttpsServer;
  let op: TestProvider;
  let cid: string;
  let jwksHits = 0;
  const { privateKey } = es256Key();

  beforeAll(async () => {
    docs = await startHttpsServer((req: IncomingMessage, res: ServerResponse) => {
      if (req.url === '/client.json') {
        res
          .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=600' })
          .end(jwksUriClientDocument(cid, REDIRECT, `${docs.url}/jwks.json`));
        return;
      }
      if (req.url === '/jwks.json') {
        jwksHits += 1;
        // A body that is not JSON: oidc-provider marks a key set fresh only once it parsed, so it asks again on
        // every token request, which is what makes one client a reflector (the red team saw 100 GETs in 1-2 s).
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": [');
        return;
      }
      res.writeHead(404).end();
    });
    cid = `${docs.url}/client.json`;
    const { cert } = await getTestCertificate();
    op = await startProvider({
      cimd: {
        allowLoopback: true,
        ca: cert,
        // A small host budget that refills slowly, so that the bound is unmistakable.
        budget: { perHostBurst: BURST, perHostPerSecond: 0.1, perDomainBurst: BURST, perDomainPerSecond: 0.1 },
      },
    });
  });
  afterAll(async () => {
    await op.close();
    await docs.close();
  });

  test('100 token requests of a private_key_jwt client cause at most the host budget of jwks_uri GETs', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 100; i += 1) {
      const response = await fetch(new URL('/token', op.issuer), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: randomUUID(),
          redirect_uri: REDIRECT,
          code_verifier: 'x'.repeat(43),
          client_id: cid,
          ...assertionParams(privateKey, cid, op.issuer, { kid: 'k1', typ: 'client-authentication+jwt' }),
        }),
      });
      statuses.push(response.status);
      await response.arrayBuffer();
    }
    // Every request was answered (no hang, no crash), as a client authentication failure. Without the budget on
    // the fetch hook, every one of them made a GET (seen: 100).
    expect(new Set(statuses)).toEqual(new Set([401]));
    // The document took one token of the host's budget; the key set fetches got the rest, and then none.
    expect(jwksHits).toBeGreaterThan(0);
    expect(jwksHits).toBeLessThanOrEqual(BURST);
  }, 120_000);
});
