/**
 * Peer: Cloudflare's workers-oauth-provider with `clientIdMetadataDocumentEnabled`, in workerd through miniflare.
 * Its documented requirement, the `global_fetch_strictly_public` compatibility flag, is on, and the worker's
 * outbound network allows public addresses only, as Cloudflare's edge does; the kit's CA is trusted. The
 * application part is minimal: /authorize calls parseAuthRequest() and shows a login stub, or a 400 page with the
 * library's error. Prints one JSON startup line with the issuer.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Miniflare } from 'miniflare';

const require = createRequire(import.meta.url);
const library = readFileSync(require.resolve('@cloudflare/workers-oauth-provider'), 'utf8');
const port = Number(process.env.PORT ?? 3003);
const ca = process.env.CIMD_CONFORMANCE_CA ? [readFileSync(process.env.CIMD_CONFORMANCE_CA, 'utf8')] : [];
const worker = `
import { OAuthProvider } from './oauth-provider.js';
const defaultHandler = {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === '/authorize') {
      try {
        const info = await env.OAUTH_PROVIDER.parseAuthRequest(request);
        return new Response('<form>login for ' + info.clientId + '</form>', { headers: { 'content-type': 'text/html' } });
      } catch (error) {
        return new Response('<h1>invalid_request</h1><p>' + String(error && error.message) + '</p>', { status: 400, headers: { 'content-type': 'text/html' } });
      }
    }
    return new Response('not found', { status: 404 });
  },
};
export default new OAuthProvider({
  apiRoute: '/api/',
  apiHandler: { fetch: () => new Response('api') },
  defaultHandler,
  authorizeEndpoint: '/authorize',
  tokenEndpoint: '/token',
  clientIdMetadataDocumentEnabled: true,
  resourceMetadata: { resource: 'http://localhost:${port}/api/' },
});
`;
const mf = new Miniflare({
  modules: [
    { type: 'ESModule', path: 'worker.js', contents: worker },
    { type: 'ESModule', path: 'oauth-provider.js', contents: library },
  ],
  compatibilityDate: '2026-07-01',
  compatibilityFlags: ['nodejs_compat', 'global_fetch_strictly_public'],
  kvNamespaces: ['OAUTH_KV'],
  host: '127.0.0.1',
  port,
  outboundService: { network: { allow: ['public'], tlsOptions: { trustedCertificates: ca } } },
});
await mf.ready;
process.stdout.write(`${JSON.stringify({ event: 'startup', issuer: `http://localhost:${port}` })}\n`);
const stop = () => void mf.dispose().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
