/**
 * A private_key_jwt CIMD client whose `jwks_uri` answers 404: the token request fails with `invalid_client`
 * (oidc-provider cannot read the keys), and the plugin says why in an event, `jwks_fetch_failed`, naming the
 * client and the member whose URL failed. Without it the failure leaves no trace a deployment could act on.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authorizationParams, authorize, exchangeCode, pkcePair } from '../helpers/auth-flow.js';
import { getTestCertificate } from '../helpers/certs.js';
import { assertionParams, es256Key, jwksUriClientDocument } from '../helpers/client-assertion.js';
import { startHttpsServer, type TestHttpsServer } from '../helpers/https-server.js';
import { startProvider, type TestProvider } from '../helpers/provider.js';

const REDIRECT = 'https://app.example.com/cb';

describe('jwks_uri failures at token time', () => {
  let docs: TestHttpsServer;
  let op: TestProvider;
  let cid: string;
  const { privateKey } = es256Key();

  beforeAll(async () => {
    docs = await startHttpsServer((req: IncomingMessage, res: ServerResponse) => {
      if (req.url === '/client.json') {
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(jwksUriClientDocument(cid, REDIRECT, `${docs.url}/jwks.json`));
        return;
      }
      res.writeHead(404).end();
    });
    cid = `${docs.url}/client.json`;
    const { cert } = await getTestCertificate();
    op = await startProvider({ cimd: { allowLoopback: true, ca: cert } });
  });
  afterAll(async () => {
    await op.close();
    await docs.close();
  });

  test('the token request fails with invalid_client, and an event names the client and jwks_uri', async () => {
    const { verifier, challenge } = pkcePair();
    const flow = await authorize(op.issuer, { ...authorizationParams(cid, REDIRECT), code_challenge: challenge });
    const code = flow.leftTo?.searchParams.get('code');
    expect(code).toBeTruthy();
    const response = await exchangeCode(op.issuer, {
      code: code!,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      client_id: cid,
      ...assertionParams(privateKey, cid, op.issuer, { kid: 'k1', typ: 'client-authentication+jwt' }),
    });
    expect(response.status).toBe(401);
    expect(response.body.error).toBe('invalid_client');
    const failures = op.events.filter((e) => e.reason === 'jwks_fetch_failed');
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ cid, rule: 'jwks_uri' });
    expect(failures[0]!.detail).toContain('status 404');
  });
});
