/**
 * Peer: oidc-provider's own `features.clientIdMetadataDocument` (draft-02), at the version this workspace pins,
 * with nothing else configured beyond what a deployment needs to reach its interaction pages. Prints one JSON
 * startup line with the issuer. Started with NODE_EXTRA_CA_CERTS pointing at the kit's CA.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

const server = http.createServer();
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const issuer = `http://localhost:${(server.address() as AddressInfo).port}`;
const provider = new Provider(issuer, {
  features: {
    // biome-ignore lint/suspicious/noExplicitAny: the feature is newer than @types/oidc-provider.
    clientIdMetadataDocument: { enabled: true, ack: 'draft-02' } as any,
  },
  pkce: { required: () => true },
  clientAuthMethods: ['none', 'private_key_jwt'],
} as ConstructorParameters<typeof Provider>[1]);
server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ event: 'startup', issuer, oidcProvider: 'builtin' })}\n`);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
