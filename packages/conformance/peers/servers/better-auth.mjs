/**
 * Peer: better-auth with @better-auth/oauth-provider and @better-auth/cimd (its CIMD plugin, with the plugin's own
 * Node transport: resolve once, public addresses only, pinned connection). In-memory database; the login and
 * consent pages are stubs (the kit never logs in); fetch budgets raised (below). Prints one JSON startup line.
 */
import http from 'node:http';
import { cimd } from '@better-auth/cimd';
import { fetchClientMetadataResource } from '@better-auth/cimd/node';
import { oauthProvider, oauthProviderAuthServerMetadata } from '@better-auth/oauth-provider';
import { betterAuth } from 'better-auth';
import { memoryAdapter } from 'better-auth/adapters/memory';
import { toNodeHandler } from 'better-auth/node';
import { jwt } from 'better-auth/plugins';

const port = Number(process.env.PORT ?? 3002);
const origin = `http://localhost:${port}`;
const auth = betterAuth({
  baseURL: origin,
  secret: 'cimd-conformance-peer-secret-0123456789abcdef',
  database: memoryAdapter(
    Object.fromEntries(
      [
        'user',
        'session',
        'account',
        'verification',
        'jwks',
        'oauthClient',
        'oauthClientAssertion',
        'oauthClientResource',
        'oauthResource',
        'oauthAccessToken',
        'oauthRefreshToken',
        'oauthConsent',
        'oauthAuthorizationCode',
        'rateLimit',
      ].map((m) => [m, []]),
    ),
  ),
  emailAndPassword: { enabled: true },
  plugins: [
    jwt(),
    oauthProvider({ loginPage: '/login', consentPage: '/consent' }),
    // Every kit document is on one origin, so the default per-origin budget (30 fetches a minute) would decide
    // most cases; the budgets are raised so that each case measures the rule it names.
    cimd({
      fetchClientMetadataResource,
      metadataFetchPolicy: { maximumFetchesPerMinute: 10_000, maximumFetchesPerOriginPerMinute: 10_000 },
    }),
  ],
});
const handler = toNodeHandler(auth);
const metadata = oauthProviderAuthServerMetadata(auth);
const server = http.createServer(async (req, res) => {
  if (req.url?.startsWith('/.well-known/oauth-authorization-server')) {
    const response = await metadata(new Request(`${origin}${req.url}`));
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(await response.text());
    return;
  }
  if (req.url?.startsWith('/login') || req.url?.startsWith('/consent')) {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<form>login</form>');
    return;
  }
  handler(req, res);
});
server.listen(port, '127.0.0.1', async () => {
  const m = await metadata(new Request(`${origin}/.well-known/oauth-authorization-server`));
  const issuer = (await m.json()).issuer;
  process.stdout.write(`${JSON.stringify({ event: 'startup', issuer })}\n`);
});
