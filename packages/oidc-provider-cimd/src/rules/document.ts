/**
 * Validation and normalisation of a fetched Client ID Metadata Document (SPEC.metadataDocument, RFC 7591 §2). Pure: no I/O, no clock.
 *
 * The output is client metadata that node-oidc-provider 9's own client schema accepts on a provider whose
 * capabilities were described to us, so that real client documents (which are written for many servers at
 * once) work without the provider rejecting them for asking about features it lacks.
 *
 * Decisions beyond the letter of SPEC.metadataDocument, RFC 7591 §2:
 * - A member whose value is `null` is treated as absent, except `client_id` (must be the CID) and
 *   `client_secret` / `client_secret_expires_at` (rejected whatever their value).
 * - Only members oidc-provider recognises by default are returned, and of those only the ones a CIMD client
 *   can meaningfully use and that can be checked here without provider configuration we do not know:
 *   `default_acr_values`, `id_token_signed_response_alg`, `subject_type`, `sector_identifier_uri`,
 *   `initiate_login_uri` and `client_id_issued_at` are dropped (provider defaults apply). Everything else
 *   unknown (extensions, language-tagged `client_name#ja`, ...) is ignored (RFC 7591 §2).
 * - URIs must consist of RFC 3986 characters only (no whitespace, controls, backslashes or raw non-ASCII),
 *   because the WHATWG URL parser silently repairs such strings while matching compares them verbatim.
 * - `application_type` absent: `native` when there is at least one redirect URI and each one is a loopback
 *   `http` URI or a private-use scheme (RFC 8252 §7.1/§7.3, apps only), else `web`.
 * - `tls_client_auth` is never selected: it needs `tls_client_auth_*` metadata that a default provider does
 *   not recognise. `self_signed_tls_client_auth`, like `private_key_jwt`, needs `jwks` or `jwks_uri`.
 */

import type { DocumentRuleId } from '../core/catalogue.js';
import { type ClientMetadata, isGrantWithoutUser } from '../core/client-metadata.js';
import { CimdError, type CimdErrorDetails, Reason } from '../core/errors.js';
import { jwkSetProblem } from './jwks.js';
import { isLoopbackOnly, isLoopbackRedirectUri, LOOPBACK_HOSTS } from './redirect-uris.js';
import { parseStrictJson, StrictJsonError } from './strict-json.js';
import { type ClientPattern, compilePatterns } from './trust.js';

export { type ClientMetadata, isGrantWithoutUser } from '../core/client-metadata.js';

/**
 * What the provider supports, as the document rules need it to normalise a client (SPEC.metadataDocument, RFC 7591 §2). Derived by
 * the plugin (plugin/capabilities.ts) from the configuration handed to `configure()`.
 */
export interface ProviderCapabilities {
  /** e.g. `authorization_code`, `refresh_token`. */
  readonly grantTypes: ReadonlySet<string>;
  /** Normalised response types: space-separated values sorted, e.g. `code`, `code id_token`. */
  readonly responseTypes: ReadonlySet<string>;
  /** e.g. `query`, `fragment`, `form_post`. */
  readonly responseModes: ReadonlySet<string>;
  readonly scopes: ReadonlySet<string>;
  /** Token endpoint auth methods the provider accepts. */
  readonly clientAuthMethods: ReadonlySet<string>;
}

export interface DocumentRuleOptions {
  /** Require client_name (MCP requires it). Default true. */
  requireClientName?: boolean;
  /**
   * Whether the trust policy grants `grant` (one in which no user takes part, see `isGrantWithoutUser`) to
   * the authenticated client `cid` explicitly. Absent: never. Never consulted for a client that uses `none`.
   */
  allowGrantWithoutUser?: (cid: string, grant: string) => boolean;
}

/** Grants without a user that the trust policy grants explicitly: to the clients matching `clients`, `grants`. */
export interface GrantWithoutUserRule {
  /** Exact client ids or host patterns (`example.com`, `*.example.com`), as in the trust policy. */
  clients: readonly ClientPattern[];
  /** Grant types, e.g. `client_credentials`. */
  grants: readonly string[];
}

/**
 * Compiles the rules into `DocumentRuleOptions.allowGrantWithoutUser`. The rules are validated by the options
 * table (plugin/options.ts, `grantsWithoutUser`).
 */
export function grantsWithoutUserPolicy(
  rules: readonly GrantWithoutUserRule[],
): (cid: string, grant: string) => boolean {
  const compiled = rules.map((rule) => ({ matches: compilePatterns(rule.clients), grants: new Set(rule.grants) }));
  return (cid, grant) => {
    const url = URL.parse(cid);
    return url !== null && compiled.some((rule) => rule.grants.has(grant) && rule.matches(cid, url));
  };
}

export interface NormalisedDocument {
  /** What the adapter returns to oidc-provider. */
  metadata: ClientMetadata;
  /** What was dropped during normalisation, for diagnostics (grant types, response types, modes, scopes not supported). */
  dropped: { grantTypes: string[]; responseTypes: string[]; responseModes: string[]; scopes: string[] };
  /** At least one redirect URI, and every one is a loopback `http` URI. */
  loopbackOnly: boolean;
  /** The auth method chosen and why (SPEC.clientAuthentication leaves the choice open): the `fetched` event's detail. */
  authMethod: string;
}

/** Token endpoint auth methods that need a shared secret, which a CIMD client can never have. */
export const SHARED_SECRET_AUTH_METHODS: ReadonlySet<string> = new Set([
  'client_secret_basic',
  'client_secret_post',
  'client_secret_jwt',
]);

/** Auth methods a CIMD client can use only with keys (`jwks` or `jwks_uri`). */
const KEY_AUTH_METHODS: ReadonlySet<string> = new Set(['private_key_jwt', 'self_signed_tls_client_auth']);
/** Needs metadata (`tls_client_auth_*`) that a default provider does not recognise. */
const UNUSABLE_AUTH_METHODS: ReadonlySet<string> = new Set(['tls_client_auth']);

const HTTPS_URI_MEMBERS = ['client_uri', 'logo_uri', 'tos_uri', 'policy_uri', 'jwks_uri'] as const;
/** Never acceptable as a redirect URI scheme, whatever the application type. */
const DANGEROUS_SCHEMES: ReadonlySet<string> = new Set([
  'javascript:',
  'data:',
  'file:',
  'vbscript:',
  'blob:',
  'about:',
]);
/** The characters RFC 3986 allows in a URI reference. */
const URI_CHARACTERS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/;
/** The HTML "valid e-mail address" production (a subset of what oidc-provider accepts for `contacts`). */
const EMAIL =
  /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

// Rule ids come from the catalogue (core/catalogue.ts): the type refuses an id it does not list. The message is
// the problem alone (the code says it is about the document): `cimd check` shows it as it is.
const invalid = (rule: DocumentRuleId, message: string, details?: CimdErrorDetails): CimdError =>
  new CimdError(Reason.RejectedDocument, message, { rule, details });
const secret = (rule: DocumentRuleId, message: string, details?: CimdErrorDetails): CimdError =>
  new CimdError(Reason.RejectedSecret, message, { rule, details });
const json = (rule: DocumentRuleId, message: string, cause?: unknown): CimdError =>
  new CimdError(Reason.RejectedJson, message, { rule, cause });

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isNonEmptyString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

const unique = (values: readonly string[]): string[] => [...new Set(values)];

const parseUrl = (value: string): URL | undefined => {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
};

/** Normalises a response type the way oidc-provider does: space-separated values, deduplicated and sorted. */
const normaliseResponseType = (value: string): string => unique(value.split(' ')).sort().join(' ');

function decode(body: string | Buffer | Uint8Array): string {
  if (typeof body === 'string') return body;
  // isView, not instanceof: a Buffer or Uint8Array from another realm (vm, worker) is still bytes.
  if (!ArrayBuffer.isView(body)) throw new TypeError('validateDocument expects a string or bytes');
  try {
    // ignoreBOM keeps a leading BOM in the text so that the parser rejects it (see strict-json.ts).
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body);
  } catch (cause) {
    throw json('json', 'body is not valid UTF-8', cause);
  }
}

function parseDocument(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = parseStrictJson(text);
  } catch (cause) {
    if (cause instanceof StrictJsonError) {
      if (cause.kind === 'duplicate') throw json('duplicate_member', `duplicate member name (${cause.message})`, cause);
      throw json('json', `not valid JSON (${cause.message})`, cause);
    }
    throw cause;
  }
  if (!isPlainObject(value)) throw json('not_object', 'not a JSON object');
  return value;
}

/** The member's value, with `null` meaning absent. */
const member = (doc: Record<string, unknown>, name: string): unknown =>
  Object.hasOwn(doc, name) && doc[name] !== null ? doc[name] : undefined;

function stringArray(doc: Record<string, unknown>, name: DocumentRuleId): string[] | undefined {
  const value = member(doc, name);
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((entry) => typeof entry === 'string')) {
    throw invalid(name, `${name} must be an array of strings`, { member: name, expected: 'an array of strings' });
  }
  return unique(value as string[]);
}

function optionalString(doc: Record<string, unknown>, name: DocumentRuleId): string | undefined {
  const value = member(doc, name);
  if (value === undefined) return undefined;
  if (!isNonEmptyString(value)) {
    throw invalid(name, `${name} must be a non-empty string`, { member: name, expected: 'a non-empty string' });
  }
  return value;
}

function checkJwks(jwks: unknown): void {
  const problem = jwkSetProblem(jwks, 'jwks');
  if (problem) {
    const fail = problem.kind === 'private' ? secret : invalid;
    throw fail('jwks', problem.message, { member: problem.member, expected: problem.expected });
  }
}

function checkHttpsUri(doc: Record<string, unknown>, name: DocumentRuleId): string | undefined {
  const value = member(doc, name);
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !URI_CHARACTERS.test(value) || parseUrl(value)?.protocol !== 'https:') {
    throw invalid(name, `${name} must be an https URL`, { member: name, value, expected: 'an https URL' });
  }
  return value;
}

interface RedirectUriInfo {
  uri: string;
  url: URL;
}

function parseRedirectUris(doc: Record<string, unknown>): RedirectUriInfo[] {
  const uris = stringArray(doc, 'redirect_uris') ?? [];
  return uris.map((uri) => {
    if (!URI_CHARACTERS.test(uri)) throw invalid('redirect_uris', 'redirect_uris must only contain valid URIs');
    const url = parseUrl(uri);
    if (url === undefined) throw invalid('redirect_uris', 'redirect_uris must only contain absolute URIs');
    if (uri.includes('#')) throw invalid('redirect_uris', 'redirect_uris must not contain fragments');
    if (DANGEROUS_SCHEMES.has(url.protocol)) {
      throw invalid('redirect_uris', `redirect_uris must not use the ${url.protocol.slice(0, -1)} scheme`);
    }
    if (url.protocol === 'http:' && !LOOPBACK_HOSTS.has(url.hostname)) {
      throw invalid('redirect_uris', 'redirect_uris must not use plain http except for loopback');
    }
    return { uri, url };
  });
}

const unauthorized = (message: string): CimdError =>
  new CimdError(Reason.UnauthorizedClient, message, {
    rule: 'token_endpoint_auth_method',
  });

/** The auth method chosen for a client, and why (reported in the `fetched` event's detail). */
export interface AuthMethodChoice {
  method: string;
  /** Plain words: which member decided, and what was passed over. */
  because: string;
}

/**
 * Chooses the token endpoint auth method. RFC 7591's `client_secret_basic` default is ignored.
 *
 * SPEC.clientAuthentication (Client Authentication): "An authorization server MAY
 * restrict the supported methods of client authentication based on its own policies, and SHOULD advertise the
 * supported methods of client authentication in the authorization server metadata"; a client names its methods
 * with `token_endpoint_auth_method` or, to offer several, `token_endpoint_auth_methods_supported` (OpenID
 * Connect RP Metadata Choices 1.0 §2). The draft does not say which entry of the list the server picks, and
 * oidc-provider keeps ONE method per client, so the choice decides whether a signing client can authenticate at
 * all. The choice left open is made as a client expects it: the list is in the client's order of preference,
 * and the first entry this server supports wins (never `none` ahead of the client's own first choice: a client
 * listing `["private_key_jwt", "none"]` signs its requests, and given `none` would get `invalid_client`).
 * - neither member → `none`;
 * - the plural list must not name a shared-secret method, and a singular value must be one of its entries;
 *   an empty list is a malformed document (`rejected:document`, rule `token_endpoint_auth_methods_supported`);
 * - the singular value if the provider supports it, else the first listed method the provider supports; an
 *   unsupported entry is not an error while another one is supported;
 * - nothing supported (a lone unsupported singular included) → `unauthorized_client`. `none` is never assumed
 *   when the list does not name it.
 */
function selectAuthMethod(
  doc: Record<string, unknown>,
  capabilities: ProviderCapabilities,
  singular: string | undefined,
): AuthMethodChoice {
  const usable = (method: string) =>
    capabilities.clientAuthMethods.has(method) &&
    !SHARED_SECRET_AUTH_METHODS.has(method) &&
    !UNUSABLE_AUTH_METHODS.has(method);

  const plural = stringArray(doc, 'token_endpoint_auth_methods_supported');
  if (plural !== undefined) {
    if (plural.length === 0) {
      throw invalid(
        'token_endpoint_auth_methods_supported',
        'token_endpoint_auth_methods_supported is empty; list the methods the client can use, or omit the member',
      );
    }
    const sharedSecret = plural.find((method) => SHARED_SECRET_AUTH_METHODS.has(method));
    if (sharedSecret !== undefined) {
      throw secret(
        'token_endpoint_auth_methods_supported',
        `token_endpoint_auth_methods_supported lists ${sharedSecret}, which needs a shared secret`,
      );
    }
    if (singular !== undefined && !plural.includes(singular)) {
      throw invalid(
        'token_endpoint_auth_method',
        `token_endpoint_auth_method ${singular} is not listed in token_endpoint_auth_methods_supported`,
      );
    }
  }
  if (singular === undefined && plural === undefined) {
    if (!usable('none')) throw unauthorized('this server does not support the auth method none');
    return { method: 'none', because: 'auth method none: the document names no method' };
  }
  if (singular !== undefined && usable(singular)) {
    return { method: singular, because: `auth method ${singular}: token_endpoint_auth_method` };
  }
  const listed = plural ?? [];
  const index = listed.findIndex(usable);
  if (index >= 0) {
    const method = listed[index]!;
    const passed = [...new Set([...(singular === undefined ? [] : [singular]), ...listed.slice(0, index)])];
    return {
      method,
      because: `auth method ${method}: the first entry of token_endpoint_auth_methods_supported this server supports${passed.length > 0 ? ` (not supported: ${passed.join(', ')})` : ''}`,
    };
  }
  const named = [...new Set([...(singular === undefined ? [] : [singular]), ...listed])];
  throw unauthorized(`this server supports none of the client's auth methods (${named.join(', ')})`);
}

/**
 * Validates a client metadata document against SPEC.metadataDocument, RFC 7591 §2 and normalises it for oidc-provider.
 *
 * @param body the response body, bytes (must be UTF-8) or text
 * @param cid the `client_id` exactly as received; the document's `client_id` must equal it byte for byte
 * @throws CimdError `rejected:json`, `rejected:client_id_mismatch`, `rejected:secret` or `rejected:document`,
 *   with `rule` naming the member (or `json`, `duplicate_member`, `not_object`)
 */
export function validateDocument(
  body: string | Buffer | Uint8Array,
  cid: string,
  capabilities: ProviderCapabilities,
  options: DocumentRuleOptions = {},
): NormalisedDocument {
  const doc = parseDocument(decode(body));

  // client_id, byte for byte (no normalisation of either side).
  if (typeof doc.client_id !== 'string' || doc.client_id !== cid) {
    throw new CimdError(Reason.RejectedClientIdMismatch, 'client_id does not match the URL', {
      rule: 'client_id',
      details: { member: 'client_id', value: doc.client_id, expected: cid },
    });
  }

  // Secrets, in any form.
  for (const name of ['client_secret', 'client_secret_expires_at'] as const) {
    if (Object.hasOwn(doc, name)) {
      throw secret(name, `${name} must not be present`, { member: name, expected: 'absent' });
    }
  }
  const singularMethod = optionalString(doc, 'token_endpoint_auth_method');
  if (singularMethod !== undefined && SHARED_SECRET_AUTH_METHODS.has(singularMethod)) {
    throw secret('token_endpoint_auth_method', `token_endpoint_auth_method ${singularMethod} needs a shared secret`);
  }
  const jwks = member(doc, 'jwks');
  if (jwks !== undefined) checkJwks(jwks);

  // Informational strings and URIs.
  const clientName = member(doc, 'client_name');
  if (clientName !== undefined && !(typeof clientName === 'string' && clientName.trim().length > 0)) {
    throw invalid('client_name', 'client_name must be a non-empty string');
  }
  if (clientName === undefined && (options.requireClientName ?? true)) {
    throw invalid('client_name', 'client_name is required');
  }
  const uris: Partial<Record<(typeof HTTPS_URI_MEMBERS)[number], string>> = {};
  for (const name of HTTPS_URI_MEMBERS) {
    const value = checkHttpsUri(doc, name);
    if (value !== undefined) uris[name] = value;
  }
  if (jwks !== undefined && uris.jwks_uri !== undefined) {
    throw invalid('jwks', 'jwks and jwks_uri must not both be present');
  }

  const applicationType = member(doc, 'application_type');
  if (applicationType !== undefined && applicationType !== 'web' && applicationType !== 'native') {
    throw invalid('application_type', 'application_type must be web or native');
  }

  // Grant types, response types and response modes: keep what the provider supports.
  const dropped: NormalisedDocument['dropped'] = { grantTypes: [], responseTypes: [], responseModes: [], scopes: [] };

  // Token endpoint authentication (decides which grants the client may keep).
  const authMethodChoice = selectAuthMethod(doc, capabilities, singularMethod);
  const authMethod = authMethodChoice.method;
  if (KEY_AUTH_METHODS.has(authMethod) && jwks === undefined && uris.jwks_uri === undefined) {
    throw invalid('jwks', `${authMethod} requires jwks or jwks_uri`);
  }

  const grantTypes: string[] = [];
  for (const grant of stringArray(doc, 'grant_types') ?? ['authorization_code']) {
    // A document is self-asserted: anyone with a web server could publish one that asks for machine tokens.
    // Grants without a user are never kept for a public client (RFC 6749 §4.4: confidential clients only), and
    // for an authenticated one only when the trust policy grants them to this very client.
    const withoutUser = isGrantWithoutUser(grant);
    const allowed =
      capabilities.grantTypes.has(grant) &&
      (!withoutUser || (authMethod !== 'none' && options.allowGrantWithoutUser?.(cid, grant) === true));
    if (allowed) grantTypes.push(grant);
    else dropped.grantTypes.push(grant);
  }
  if (grantTypes.length === 0) {
    throw invalid('grant_types', 'grant_types has no value this server allows for this client');
  }

  const responseTypes: string[] = [];
  for (const type of stringArray(doc, 'response_types') ?? ['code']) {
    const normalised = normaliseResponseType(type);
    if (capabilities.responseTypes.has(normalised)) {
      if (!responseTypes.includes(normalised)) responseTypes.push(normalised);
    } else {
      dropped.responseTypes.push(type);
    }
  }
  // A provider without any response type (no authorization endpoint flows) gets a client without any.
  if (responseTypes.length === 0 && capabilities.responseTypes.size > 0) {
    throw invalid('response_types', 'response_types has no value supported by this server');
  }
  if (responseTypes.some((type) => type.split(' ').includes('code')) && !grantTypes.includes('authorization_code')) {
    throw invalid('grant_types', 'response type code requires the authorization_code grant type');
  }

  let responseModes: string[] | undefined;
  const requestedModes = stringArray(doc, 'response_modes');
  if (requestedModes !== undefined) {
    responseModes = [];
    for (const mode of requestedModes) {
      if (capabilities.responseModes.has(mode)) responseModes.push(mode);
      else dropped.responseModes.push(mode);
    }
    if (responseTypes.length === 0) responseModes = undefined;
    else if (responseModes.length === 0) {
      throw invalid('response_modes', 'response_modes has no value supported by this server');
    }
  }

  // Scope: reduce to supported scopes; omit when nothing is left.
  let scope: string | undefined;
  const requestedScope = member(doc, 'scope');
  if (requestedScope !== undefined) {
    if (typeof requestedScope !== 'string') throw invalid('scope', 'scope must be a string');
    const kept: string[] = [];
    for (const token of unique(requestedScope.split(' ').filter(Boolean))) {
      if (capabilities.scopes.has(token)) kept.push(token);
      else dropped.scopes.push(token);
    }
    if (kept.length > 0) scope = kept.join(' ');
  }

  // Redirect URIs.
  const redirects = parseRedirectUris(doc);
  if (redirects.length === 0 && responseTypes.length > 0) {
    throw invalid('redirect_uris', 'redirect_uris must contain at least one URI');
  }
  const redirectUris = redirects.map(({ uri }) => uri);
  const loopbackOnly = isLoopbackOnly(redirectUris);
  const appOnly = (info: RedirectUriInfo) =>
    isLoopbackRedirectUri(info.uri) || (info.url.protocol !== 'http:' && info.url.protocol !== 'https:');
  const resolvedType =
    (applicationType as 'web' | 'native' | undefined) ??
    (redirects.length > 0 && redirects.every(appOnly) ? 'native' : 'web');
  for (const { url } of redirects) {
    if (resolvedType === 'web') {
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw invalid('redirect_uris', 'redirect_uris of a web client must use https or loopback http');
      }
      if (grantTypes.includes('implicit') && (url.protocol !== 'https:' || url.hostname === 'localhost')) {
        throw invalid('redirect_uris', 'redirect_uris of a web client using the implicit grant must be https');
      }
    } else if (url.protocol === 'https:' && LOOPBACK_HOSTS.has(url.hostname)) {
      throw invalid('redirect_uris', 'redirect_uris of a native client must not use https with a loopback host');
    }
  }

  // Other members oidc-provider recognises and validates.
  let contacts: string[] | undefined;
  const requestedContacts = stringArray(doc, 'contacts');
  if (requestedContacts !== undefined) {
    contacts = requestedContacts.filter((contact) => EMAIL.test(contact));
    if (contacts.length === 0) contacts = undefined;
  }
  const defaultMaxAge = member(doc, 'default_max_age');
  if (defaultMaxAge !== undefined && !(Number.isSafeInteger(defaultMaxAge) && (defaultMaxAge as number) >= 0)) {
    throw invalid('default_max_age', 'default_max_age must be a non-negative integer');
  }
  const requireAuthTime = member(doc, 'require_auth_time');
  if (requireAuthTime !== undefined && typeof requireAuthTime !== 'boolean') {
    throw invalid('require_auth_time', 'require_auth_time must be a boolean');
  }

  const metadata: ClientMetadata = {
    client_id: cid,
    ...(clientName === undefined ? {} : { client_name: clientName }),
    application_type: resolvedType,
    redirect_uris: redirectUris,
    grant_types: grantTypes,
    response_types: responseTypes,
    ...(responseModes === undefined ? {} : { response_modes: responseModes }),
    ...(scope === undefined ? {} : { scope }),
    token_endpoint_auth_method: authMethod,
    ...(jwks === undefined ? {} : { jwks }),
    ...uris,
    ...(contacts === undefined ? {} : { contacts }),
    ...(defaultMaxAge === undefined ? {} : { default_max_age: defaultMaxAge }),
    ...(requireAuthTime === undefined ? {} : { require_auth_time: requireAuthTime }),
  };

  return { metadata, dropped, loopbackOnly, authMethod: authMethodChoice.because };
}
