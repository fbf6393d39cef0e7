/**
 * Finding 6: the development exception (draft-ietf-oauth-client-id-metadata-document-03 §8.6) applies only
 * where the provider serving the request has a loopback issuer, for every fetch the plugin makes. With
 * `allowLoopback` and a provider whose issuer is public, a registered (static) client's `jwks_uri` on loopback is
 * refused before any connection, and the token request fails as a client authentication failure.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { describe, expect, test } from '@jest/globals';
import { Provider } from 'oidc-provider';
import { type CimdEvent, createCimd } from 'oidc-provider-cimd';
import { assertionParams, es256Key } from '../helpers/client-assertion.js';

const ISSUER = 'https://op.example.com';

async function tokenRequest(local: string, clientId: string, body: Record<string, string>): Promise<number> {
  const response = await fetch(`${local}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, ...body }),
  });
  await response.arrayBuffer();
  return response.status;
}

describe('the development exception for registered clients', () => {
  test.each([
    ['a public issuer: the loopback jwks_uri is never dialled', ISSUER, 0],
    ['a loopback issuer: the loopback jwks_uri is dialled', 'http://localhost:4000', 1],
  ] as const)('%s', async (_label, issuer, expectedConnections) => {
    // Stands in for a loopback service: counts connections and drops them.
    let connections = 0;
    const target = net.createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    target.listen(0, '127.0.0.1');
    await once(target, 'listening');
    const jwksUri = `https://127.0.0.1:${(target.address() as AddressInfo).port}/jwks.json`;

    const server = http.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const local = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const events: CimdEvent[] = [];
    // The option says loopback (so startup accepts allowLoopback); the provider that serves is what counts.
    const cimd = createCimd({
      issuer: 'http://localhost:4000',
      allowLoopback: true,
      onEvent: (event) => events.push(event),
    });
    const { privateKey } = es256Key();
    const provider = new Provider(
      issuer,
      cimd.configure({
        features: { clientCredentials: { enabled: true } },
        clients: [
          {
            client_id: 'registered-app',
            grant_types: ['client_credentials'],
            redirect_uris: [],
            response_types: [],
            token_endpoint_auth_method: 'private_key_jwt',
            token_endpoint_auth_signing_alg: 'ES256',
            jwks_uri: jwksUri,
          },
        ],
      }),
    );
    server.on('request', provider.callback());
    try {
      const status = await tokenRequest(local, 'registered-app', {
        ...assertionParams(privateKey, 'registered-app', issuer, { kid: 'k1', jti: randomUUID() }),
      });
      // Either way the key set is not usable (the target drops the connection): client authentication fails.
      expect(status).toBe(401);
      expect(connections).toBe(expectedConnections);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await new Promise((resolve) => target.close(resolve));
      await cimd.close();
    }
  });
});
