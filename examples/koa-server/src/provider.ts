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

/**
 * DPoP proof algorithms (RFC 9449), the same list at the token endpoint (oidc-provider) and at the MCP
 * resource (mcp.ts): oidc-provider 9's default.
 */
export const DPOP_SIGNING_ALGS = ['ES256', 'Ed25519', 'EdDSA'] as const;

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

/**
 * Refresh-token policy. MCP clients rarely ask for `offline_access` with `prompt=consent` (oidc-provider's
 * default condition), and with 10-minute access tokens their users would sign in again every 10 minutes. So a
 * client gets a refresh token when it may use the `refresh_token` grant (its metadata lists it) and either
 * - it was granted `offline_access` (the default rule: the refresh token outlives the sign-in session), or
 * - it is a public client (`token_endpoint_auth_method: none`: every CIMD client of an MCP application, and
 *   DCR clients registered that way). Its refresh token rotates on every use (see `rotateRefreshToken`) and
 *   stays bound to the user's sign-in session (oidc-provider's `expiresWithSession`): it ends when the session
 *   ends (24 hours, or sign-out), and whenever the grant is revoked.
 */
async function refreshTokenPolicy(
  _ctx: KoaContextWithOIDC,
  client: { grantTypeAllowed(type: string): boolean; clientAuthMethod?: string | undefined },
  code: { scopes: Set<string> },
): Promise<boolean> {
  if (!client.grantTypeAllowed('refresh_token')) return false;
  return code.scopes.has('offline_access') || client.clientAuthMethod === 'none';
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
    // A request without `scope` asks for the MCP scope. RFC 6749 §3.3: the server "MUST either process the
    // request using a pre-defined default value or fail". MCP clients often send no scope (the MCP conformance
    // suite never does), and an empty request would end in an empty consent and a useless token. The validator
    // runs at the authorization and PAR endpoints after the client, the scope and the resource were checked,
    // and before the prompts are decided, so the default shows on the consent page like a requested scope.
    extraParams: {
      async scope(ctx, value, client) {
        if (value !== undefined || !ctx.oidc.params) return;
        // A client that declared its scopes (DCR `scope`, CIMD document `scope`) without the MCP scope gets
        // the RFC 6749 §3.3 error rather than a scope it may not use.
        if (client?.scope && !client.scope.split(' ').includes(MCP_SCOPE)) {
          throw new errors.InvalidScope(
            'no scope was requested and the default scope is not allowed for this client',
            MCP_SCOPE,
          );
        }
        ctx.oidc.params.scope = MCP_SCOPE;
      },
    },
    // Refresh tokens for MCP clients: see `refreshTokenPolicy` below.
    issueRefreshToken: refreshTokenPolicy,
    // Public clients (CIMD clients, and DCR clients with `token_endpoint_auth_method: none`) get a new refresh
    // token on every use and the old one stops working (OAuth 2.1 §4.3.1); using a rotated one again revokes
    // the grant (oidc-provider's reuse detection). Confidential clients keep theirs until 70% of its lifetime.
    rotateRefreshToken(ctx) {
      const refreshToken = ctx.oidc.entities.RefreshToken!;
      if (ctx.oidc.client?.clientAuthMethod === 'none') return true;
      return refreshToken.ttlPercentagePassed() >= 70;
    },
    enabledJWA: { dPoPSigningAlgValues: [...DPOP_SIGNING_ALGS] },
    // oidc-provider's default interaction policy; `cimd.configure()` below adds the plugin's consent checks to
    // its consent prompt (draft-ietf-oauth-client-id-metadata-document-03 §9.9, MCP authorization): a client whose redirect URIs are all loopback is asked for consent on every
    // authorization, and a client whose redirect URIs, keys or auth method changed since the user's grant is
    // asked again. A deployment with its own policy passes it here; the checks are added to it, not replacing it.
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      // Our own login and consent pages live in interactions.ts.
      devInteractions: { enabled: false },
      // Dynamic Client Registration toggles independently of CIMD.
      registration: { enabled: dcrEnabled },
      revocation: { enabled: true },
      // DPoP (RFC 9449) is on by default in oidc-provider 9: a token request with a DPoP proof gets an access
      // token bound to the proof's key (`cnf.jkt`), which the MCP resource then only accepts with a proof.
      dPoP: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // RFC 8707 §2: a client that sends no `resource` gets a token for the MCP resource, the one resource
        // this server protects (MCP SDK 1.x omits it when the protected resource metadata cannot be read).
        defaultResource: async (_ctx, _client, oneOf) => oneOf ?? mcpResource,
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
