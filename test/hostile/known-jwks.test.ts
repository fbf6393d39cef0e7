/**
 * Finding 4: a known-good client's `jwks_uri` is charged as known. Junk ids on the client's host empty the
 * host's first-time budget; the client's key set is still fetched (from the reserve only known-good clients
 * draw on), so its private_key_jwt token requests authenticate instead of failing with `invalid_client`.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { getTestCertificate } from '../helpers/certs.js';
import { assertionParams, es256Key, jwksUriClientDocument } from '../helpers/client-assertion.js';
import { startHttpsServer, type TestHttpsServer } from '../helpers/https-server.js';
import { startProvider, type TestProvider } from '../helpers/provider.js';

const REDIRECT = 'https://app.example.com/cb';

describe("a known-good client's key set under junk on its host", () => {
  let docs: TestHttpsServer;
  let op: TestProvider;
  let cid: string;
  let jwksHits = 0;
  const { privateKey, publicJwk } = es256Key();

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
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [publicJwk] }));
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
        // A host budget that barely refills: 8 fetches, 2 more for known-good clients only.
        budget: { perHostBurst: 8, perHostPerSecond: 0.001, perDomainBurst: 8, perDomainPerSecond: 0.001 },
      },
    });
  });
  afterAll(async () => {
    await op.close();
    await docs.close();
  });

  test('its token request authenticates (invalid_grant for a made-up code, not invalid_client)', async () => {
    await op.cimd.resolve(cid);
    // A user approved it: the provider saves a grant (through the adapter the plugin wraps).
    await new op.provider.Grant({ accountId: 'alice', clientId: cid }).save();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const codes: string[] = [];
    for (let i = 0; i < 20; i += 1) {
      await op.cimd.resolve(`${docs.url}/junk-${i}`).catch((error: { code?: string }) => codes.push(error.code ?? ''));
    }
    expect(codes).toContain('rate_limited');

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
    const body = (await response.json()) as { error?: string };
    expect(jwksHits).toBe(1);
    expect(body.error).toBe('invalid_grant');
  });
});
