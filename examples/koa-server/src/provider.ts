/**
 * The oidc-provider instance, configured through the CIMD plugin. Everything CIMD-specific is the single
 * `cimd.configure(...)` call; the rest is an ordinary oidc-provider 9 configuration for a deployment that
 * protects one MCP resource.
 */
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { type Configuration, errors, type KoaContextWithOIDC, Provider } from 'oidc-provider';
import type { Cimd } from 'oidc-provider-cimd';
import { html, page } from './html.js';

/** The one scope of the MCP resource. */
export const MCP_SCOPE = 'mcp:tools';

export interface SigningKeys {
  /** Private JWKS for the provider (ID tokens, JWT access tokens). */
  privateJwks: { keys: JWK[] };
  /** The same keys, public parts only: what the MCP resource verifies access tokens with. */
  publicJwks: { keys: JWK[] };
}

/**
 * An RSA signing key made at startup. Tokens do not survive a restart; a production deployment loads its
 * keys from a secret store instead and publishes them at `jwks_uri` (oidc-provider does that part).
 */
export async function generateSigningKeys(): Promise<SigningKeys> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomBytes(8).toString('hex');
  const meta = { kid, alg: 'RS256', use: 'sig' };
  return {
    privateJwks: { keys: [{ ...(await exportJWK(privateKey)), ...meta }] },
    publicJwks: { keys: [{ ...(await exportJWK(publicKey)), ...meta }] },
  };
}

export interface ProviderOptions {
  issuer: string;
  cimd: Cimd;
  dcrEnabled: boolean;
  /** The MCP resource identifier (RFC 8707), e.g. `http://localhost:3000/mcp`. */
  mcpResource: string;
  keys: SigningKeys;
  /** Cookie signing keys. A Koa app that mounts the provider must use the same ones (`app.keys`). */
  cookieKeys: string[];
  /** oidc-provider adapter for sessions, grants, tokens and registered clients; in-memory when omitted. */
  adapter?: Configuration['adapter'];
}

/** Demo accounts: any login name is an account whose subject is that name. */
async function findAccount(_ctx: KoaContextWithOIDC, sub: string) {
  return {
    accountId: sub,
    async claims() {
      return { sub, name: sub, preferred_username: sub };
    },
  };
}

export function createProvider(options: ProviderOptions): Provider {
  const { issuer, cimd, dcrEnabled, mcpResource } = options;

  const configuration: Configuration = {
    ...(options.adapter ? { adapter: options.adapter } : {}),
    findAccount,
    jwks: options.keys.privateJwks as Configuration['jwks'],
    cookies: { keys: options.cookieKeys },
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'] },
    // Listed so that clients may register (DCR) or declare (CIMD `scope`) the MCP scope; what it grants is
    // decided per resource in getResourceServerInfo below.
    scopes: ['openid', 'offline_access', MCP_SCOPE],
    // Authorization code flow only; PKCE (S256, the only method oidc-provider 9 implements) for every client.
    responseTypes: ['code'],
    pkce: { required: () => true },
    // oidc-provider's default interaction policy; `cimd.configure()` below adds the plugin's consent checks to
    // its consent prompt (spec §6): a client whose redirect URIs are all loopback is asked for consent on every
    // authorization, and a client whose redirect URIs, keys or auth method changed since the user's grant is
    // asked again. A deployment with its own policy passes it here; the checks are added to it, not replacing it.
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      // Our own login and consent pages live in interactions.ts.
      devInteractions: { enabled: false },
      // Dynamic Client Registration toggles independently of CIMD.
      registration: { enabled: dcrEnabled },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // A token request without `resource` gets a token for the one resource the code was granted for.
        useGrantedResource: () => true,
        // The MCP resource gets JWT access tokens (RFC 9068) with its own audience, so it can verify them on
        // its own with the provider's public keys: no introspection round-trip, no shared state.
        getResourceServerInfo(_ctx, resourceIndicator) {
          if (resourceIndicator !== mcpResource) throw new errors.InvalidTarget();
          return {
            scope: MCP_SCOPE,
            audience: mcpResource,
            accessTokenFormat: 'jwt',
            accessTokenTTL: 10 * 60,
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    // The provider's own error pages (e.g. an unresolvable client_id at /auth) in the style and with the
    // security headers of the interaction pages. `out` holds `error`, `error_description` and `state`.
    async renderError(ctx, out) {
      const rendered = page({
        title: 'Something went wrong',
        body: html`
<h1>Something went wrong</h1>
<p class="error" id="error">${out.error}</p>
<p id="error-description">${out.error_description ?? ''}</p>
<p class="fine">Go back to the application and try again. If this keeps happening, contact its developer.</p>`,
      });
      ctx.set(rendered.headers);
      ctx.body = rendered.body;
    },
    ttl: {
      AccessToken: 10 * 60,
      AuthorizationCode: 60,
      IdToken: 60 * 60,
      Interaction: 10 * 60,
      Session: 24 * 60 * 60,
      Grant: 14 * 24 * 60 * 60,
      RegistrationAccessToken: 24 * 60 * 60,
    },
  };

  // The plugin adds the CIMD client lookup, the discovery flag, the guarded fetch and the consent checks (or
  // nothing at all when CIMD_ENABLED=false).
  return new Provider(issuer, cimd.configure(configuration));
}
