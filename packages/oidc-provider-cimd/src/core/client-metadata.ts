/**
 * The client metadata the plugin hands to oidc-provider, and which grants involve a user: shared by the document
 * rules (which build the metadata) and the cache entry (which strips grants without a user from what it serves).
 */
/** Client metadata as oidc-provider's Client model accepts it (snake_case members). */
export type ClientMetadata = Record<string, unknown> & {
  client_id: string;
  redirect_uris?: string[];
  token_endpoint_auth_method: string;
};

/**
 * Grant types in which a user takes part through this server (the authorization endpoint, the device
 * verification page) or that only continue such a grant (`refresh_token`), plus OpenID4VCI's pre-authorized
 * code, which the issuer created for a user who authenticated with it. Every other grant — client_credentials,
 * CIBA (the client names the user), token exchange, JWT/SAML bearer assertions, password, any extension —
 * counts as a grant without a user.
 */
const USER_GRANTS: ReadonlySet<string> = new Set([
  'authorization_code',
  'implicit',
  'refresh_token',
  'urn:ietf:params:oauth:grant-type:device_code',
  'urn:ietf:params:oauth:grant-type:pre-authorized_code',
]);

/** Whether `grant` is a grant in which no user takes part (it is then never given to a CIMD client by default). */
export const isGrantWithoutUser = (grant: string): boolean => !USER_GRANTS.has(grant);
