/**
 * The one catalogue of rule ids. Every id a rule can report (in a `UrlVerdict`, in `CimdError.rule`, in an
 * event) is a key below, with what the rule requires and how to fix a failure. The rules take their ids from
 * the {@link RuleId} union, so a rule cannot report an id missing here (the compiler refuses it), and
 * `cimd check` lists the rules from here, in the order the rules run them.
 *
 * Pure data: no imports, no I/O. Adding a rule is one row in the right table (and the rule that reports it).
 */

export interface RuleText {
  /** What the rule requires, as one line (shown for a rule that passed or was not reached). */
  readonly requires: string;
  /** How to fix a failure, as one line; a function when the fix names the client_id. */
  readonly fix: string | ((clientId: string) => string);
}

/**
 * The client_id URL rules (SPEC.clientIdUrl, RFC 3986, RFC 6761), in the
 * order `createUrlRules` applies them: the first that fails is the one reported.
 */
export const URL_RULES = {
  type: { requires: 'a string', fix: 'send the client_id as a string' },
  empty: { requires: 'not empty', fix: 'send the URL of the client metadata document as client_id' },
  length: { requires: 'at most 2048 characters', fix: 'shorten the URL to 2048 characters or fewer' },
  characters: {
    requires: 'no whitespace, control, backslash or non-ASCII characters',
    fix: 'percent-encode spaces and non-ASCII characters, and remove backslashes',
  },
  scheme: { requires: 'starts with lowercase https://', fix: 'serve the document over https, written https://' },
  userinfo: { requires: 'no user:password@ part', fix: 'remove the "user@" part from the URL' },
  fragment: { requires: 'no #fragment', fix: 'remove the "#..." part from the URL' },
  dot_segment: { requires: 'no "." or ".." path segments', fix: 'remove "." and ".." segments from the path' },
  root_path: {
    requires: 'a path other than "/"',
    fix: 'publish the document at a path such as /oauth/client-metadata.json',
  },
  query: {
    requires: 'no ?query',
    fix: 'remove the query: every query variant would be a different client (and cache entry)',
  },
  parse: { requires: 'an absolute URL', fix: 'use an absolute https URL' },
  ip_literal: { requires: 'a DNS name as host, not an IP address', fix: 'use a DNS name for the host' },
  trailing_dot: { requires: 'no trailing dot in the host', fix: 'remove the trailing dot from the host name' },
  host_syntax: {
    requires: 'host labels of letters, digits and hyphens',
    fix: 'use a host name made of letters, digits and hyphens',
  },
  special_use_host: {
    requires: 'not a special-use name (localhost, .local, .internal, .test, .example, .invalid, .onion, home.arpa)',
    fix: 'use a public DNS name; for local development against a loopback issuer use the development exception (--allow-loopback)',
  },
  single_label: { requires: 'a fully qualified host name', fix: 'use a name such as app.example.com' },
  own_origin: {
    requires: "not on the authorization server's own origin",
    fix: "host the document on the client's own origin, not the authorization server's",
  },
  port: { requires: 'a usable port allowed by the server', fix: 'serve the document on port 443' },
  canonical: {
    requires: 'canonical form (as the WHATWG URL parser writes it)',
    fix: (cid) => {
      const href = URL.parse(cid)?.href;
      return href && href !== cid ? `use the canonical form ${href}` : 'write the URL in canonical form';
    },
  },
} as const satisfies Record<string, RuleText>;

/** Rules about the server's own state rather than the client: never reported by `cimd check`. */
export const SERVER_RULES = {
  issuer_unknown: {
    requires: "the provider's issuer is known",
    fix: 'set the issuer option, or resolve clients only while the provider handles a request',
  },
  development_exception: {
    requires: 'the development exception (allowLoopback) only on a provider whose issuer is loopback',
    fix: 'remove allowLoopback: the provider serving this request has a public issuer',
  },
} as const satisfies Record<string, RuleText>;

const HTTPS_MEMBER = (member: string): RuleText => ({
  requires: `${member} is https`,
  fix: `make "${member}" an https URL, or remove it`,
});

/**
 * The document rules (SPEC.metadataDocument and SPEC.clientAuthentication, RFC 7591 §2), in the order
 * `validateDocument` applies them.
 */
export const DOCUMENT_RULES = {
  json: { requires: 'UTF-8 JSON', fix: 'serve valid UTF-8 JSON, without a byte order mark or trailing content' },
  duplicate_member: { requires: 'no duplicate member names', fix: 'remove the duplicate member' },
  not_object: { requires: 'a single JSON object', fix: 'make the body one JSON object {...}' },
  client_id: {
    requires: 'client_id equal to the URL, byte for byte',
    fix: (cid) => `set "client_id" to exactly ${JSON.stringify(cid)}`,
  },
  client_secret: {
    requires: 'no client_secret',
    fix: 'remove "client_secret": the document is public, and a CIMD client has no secret',
  },
  client_secret_expires_at: { requires: 'no client_secret_expires_at', fix: 'remove "client_secret_expires_at"' },
  token_endpoint_auth_method: {
    requires: 'no shared-secret auth method; one the server supports',
    fix: 'use "none" (a public client), or "private_key_jwt" with "jwks_uri"',
  },
  jwks: {
    requires: 'public keys only; jwks or jwks_uri, not both; keys for private_key_jwt',
    fix: 'publish public keys only (no d, p, q, dp, dq, qi, oth, k, no kty "oct"), in "jwks" or "jwks_uri" but not both',
  },
  client_name: { requires: 'client_name present', fix: 'add "client_name": "<your application name>"' },
  client_uri: HTTPS_MEMBER('client_uri'),
  logo_uri: HTTPS_MEMBER('logo_uri'),
  tos_uri: HTTPS_MEMBER('tos_uri'),
  policy_uri: HTTPS_MEMBER('policy_uri'),
  jwks_uri: HTTPS_MEMBER('jwks_uri'),
  application_type: { requires: 'application_type web or native', fix: 'use "web" or "native", or omit it' },
  token_endpoint_auth_methods_supported: {
    requires: 'at least one auth method the server supports',
    fix: 'include "none" (or "private_key_jwt" with keys)',
  },
  grant_types: {
    requires: 'a grant type the server supports',
    fix: 'include "authorization_code" in "grant_types" (or omit the member)',
  },
  response_types: {
    requires: 'a response type the server supports',
    fix: 'include "code" in "response_types" (or omit the member)',
  },
  response_modes: {
    requires: 'a response mode the server supports',
    fix: 'include "query" in "response_modes", or omit the member',
  },
  scope: { requires: 'scope is a string', fix: 'make "scope" a space-separated string' },
  redirect_uris: {
    requires: 'exact redirect URIs: https, or http for loopback only, no fragments',
    fix: 'list absolute redirect URIs: https, or http only for localhost / 127.0.0.1 / [::1], without "#"',
  },
  contacts: {
    requires: 'contacts is an array of strings (entries that are not e-mail addresses are dropped)',
    fix: 'make "contacts" an array of e-mail addresses, or remove it',
  },
  default_max_age: {
    requires: 'default_max_age is a non-negative integer',
    fix: 'make "default_max_age" a non-negative integer, or remove it',
  },
  require_auth_time: {
    requires: 'require_auth_time is a boolean',
    fix: 'make "require_auth_time" true or false, or remove it',
  },
} as const satisfies Record<string, RuleText>;

/**
 * The rules on a JWK Set fetched from `jwks_uri` (RFC 7517 §5; public keys only, as for inline `jwks`:
 * SPEC.metadataDocument). Only `cimd check` fetches it; the provider does so at
 * token time.
 */
export const JWKS_RULES = {
  jwks_set: {
    requires: 'a JWK Set: an object with a "keys" array of JWKs',
    fix: 'serve {"keys": [ ...public JWKs... ]} at jwks_uri',
  },
  jwks_public: {
    requires: 'public keys only (no d, p, q, dp, dq, qi, oth, k, no kty "oct")',
    fix: 'remove the private key members: publish only the public half of each key, and never a symmetric key',
  },
} as const satisfies Record<string, RuleText>;

/** Rules of the authorization request itself (redirect-uris.ts), checked once the client is known. */
export const REQUEST_RULES = {
  redirect_uri: {
    requires: 'the redirect_uri of the request is one of the registered redirect URIs (loopback: any port)',
    fix: 'add the redirect URI to "redirect_uris" exactly as the client sends it',
  },
} as const satisfies Record<string, RuleText>;

export type UrlRuleId = keyof typeof URL_RULES;
export type DocumentRuleId = keyof typeof DOCUMENT_RULES;
export type JwksRuleId = keyof typeof JWKS_RULES;
export type ServerRuleId = keyof typeof SERVER_RULES;
export type RequestRuleId = keyof typeof REQUEST_RULES;
/** Every rule id any rule reports. */
export type RuleId = UrlRuleId | DocumentRuleId | JwksRuleId | ServerRuleId | RequestRuleId;

export const RULES: Readonly<Record<RuleId, RuleText>> = Object.freeze({
  ...URL_RULES,
  ...DOCUMENT_RULES,
  ...JWKS_RULES,
  ...SERVER_RULES,
  ...REQUEST_RULES,
});

/** For ids read back from outside (a shared store, a message from another instance). */
export const isRuleId = (value: unknown): value is RuleId => typeof value === 'string' && Object.hasOwn(RULES, value);

/** The fix for a failed rule, as one line. */
export function ruleFix(rule: RuleId, clientId: string): string {
  const { fix } = RULES[rule];
  return typeof fix === 'function' ? fix(clientId) : fix;
}
