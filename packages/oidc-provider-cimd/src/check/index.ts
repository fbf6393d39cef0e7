/**
 * Diagnostics for a Client ID Metadata Document, as the server would judge it: the client_id URL rules (spec
 * §2), the guarded fetch (§3), the caching rules (§5) and the document rules (§4), each reported as pass,
 * warning or failure with the reason code the server would emit and a one-line fix.
 *
 * Nothing here re-implements a rule. It calls the plugin's own `createUrlRules`, guarded fetcher,
 * `cachePolicy`, `validateDocument` and `redirectUriMatches`, and only interprets their verdicts. The `cimd
 * check` command line formats the report; a deployment can serve it from an admin endpoint.
 *
 * The rules stop at the first failure, as the server does. To show a client developer every problem at once,
 * the document stage then repairs a copy of the document (removes or corrects the member that failed) and runs
 * the same rules again, until they pass or nothing more can be repaired. Rules that were never reached are
 * reported as `skip`.
 */

import { createFetcher, type Fetcher, type FetcherOptions, type FetchResult } from '../fetch/fetcher.js';
import { CimdError, isCimdError, Reason, type ReasonCode } from '../observe/errors.js';
import { deriveCapabilities, normaliseResponseType, type ProviderCapabilities } from '../plugin/capabilities.js';
import { createAddressPolicy, isLoopbackAddress } from '../rules/address-policy.js';
import { createUrlRules, type UrlRuleOptions } from '../rules/client-id-url.js';
import {
  type ClientMetadata,
  type DocumentRuleOptions,
  type NormalisedDocument,
  validateDocument,
} from '../rules/document.js';
import { cachePolicy, DEFAULT_LIFETIME_BOUNDS, type LifetimeBounds, parseCacheControl } from '../rules/http-cache.js';
import { redirectUriMatches } from '../rules/redirect-uris.js';

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';
export type CheckStage = 'url' | 'fetch' | 'cache' | 'document' | 'client' | 'redirect_uri';

export interface CheckItem {
  stage: CheckStage;
  /** Stable id, `<stage>:<rule>`, e.g. `url:canonical`, `fetch:content_type`, `document:client_name`. */
  id: string;
  status: CheckStatus;
  /** One line: what the rule requires (pass, skip) or what was found (warn, fail). */
  message: string;
  /** For failures: the reason code the server emits (`rejected:document`, ...). */
  code?: ReasonCode;
  /** For failures: the rule name the server reports with the code (`client_name`, `canonical`, ...). */
  rule?: string;
  /** For failures and warnings: one line on how to fix it. */
  fix?: string;
}

/** What the provider would see: the normalised client, and what normalisation dropped. */
export interface ClientSummary {
  clientName: string | undefined;
  applicationType: 'web' | 'native';
  /** `application_type` was absent and was inferred from the redirect URIs. */
  applicationTypeInferred: boolean;
  /** Every redirect URI is a loopback `http` URI: consent on every authorization, with a warning. */
  loopbackOnly: boolean;
  tokenEndpointAuthMethod: string;
  redirectUris: string[];
  grantTypes: { kept: string[]; dropped: string[] };
  responseTypes: { kept: string[]; dropped: string[] };
  responseModes: { kept: string[]; dropped: string[] } | undefined;
  scope: { kept: string[]; dropped: string[] };
  /** Exactly what the plugin hands to oidc-provider. */
  metadata: ClientMetadata;
}

export interface ResponseSummary {
  status: number;
  contentType: string | undefined;
  bytes: number;
  /** The response headers that decide caching (lower-case names), when present. */
  headers: Record<string, string>;
  cache: {
    /** false for `no-store`. */
    store: boolean;
    /** The lifetime the server applies, after clamping. */
    freshForSeconds: number;
    /** The lifetime the response asked for before clamping; `null` when it says nothing. */
    requestedSeconds: number | null;
    staleIfErrorSeconds: number;
    etag: string | undefined;
    lastModified: string | undefined;
  };
}

export interface CheckReport {
  /** The client_id checked (for a file, the stated or the document's own). */
  clientId: string;
  source: 'url' | 'file';
  /** The issuer the own-origin rule was checked against. */
  issuer: string;
  /** True when the server would accept the client (and, when given, the redirect URI). */
  accepted: boolean;
  /** The first failure as the server reports it: reason code, rule, and what the user is shown. */
  rejection?: { code: ReasonCode | undefined; rule: string | undefined; publicMessage: string | undefined };
  checks: CheckItem[];
  response?: ResponseSummary;
  client?: ClientSummary;
  redirectUri?: { uri: string; accepted: boolean };
}

export interface CheckOptions {
  /** The authorization server's issuer, for the own-origin rule. Default {@link DEFAULT_CHECK_ISSUER}. */
  issuer?: string;
  /** Development exception: loopback client ids and addresses. Needs a loopback issuer, as on the server. */
  allowLoopback?: boolean;
  allowRootPath?: boolean;
  allowQuery?: boolean;
  allowedPorts?: readonly number[];
  requireClientName?: boolean;
  /** What the provider supports. Default: oidc-provider 9's defaults. */
  capabilities?: ProviderCapabilities;
  lifetime?: Partial<LifetimeBounds>;
  /** Also check whether this redirect URI would be accepted. */
  redirectUri?: string;
  /** A guarded fetcher to use (e.g. `cimd.fetcher`); default: one created from the options below, then closed. */
  fetcher?: Fetcher;
  ca?: FetcherOptions['ca'];
  lookup?: FetcherOptions['lookup'];
  denyList?: readonly string[];
  connectTimeoutMs?: number;
  timeoutMs?: number;
  maxBodyBytes?: number;
  acceptTextPlain?: boolean;
  /** Called before long steps (the fetch). */
  onProgress?: (message: string) => void;
  now?: () => number;
}

/** A neutral issuer: no real client id is on its origin. */
export const DEFAULT_CHECK_ISSUER = 'https://authorization-server.invalid';
/** The issuer assumed with `allowLoopback` when none is given (the development exception needs a loopback one). */
export const DEFAULT_LOOPBACK_CHECK_ISSUER = 'http://localhost';

// ---------------------------------------------------------------------------------------------------------------
// Rule catalogues: the names the rules report, with what they require and how to fix a failure. The rules
// themselves live in url-rules.ts and document-rules.ts.

interface RuleText {
  rule: string;
  requires: string;
  fix: string | ((cid: string) => string);
}

const URL_RULES: readonly RuleText[] = [
  { rule: 'length', requires: 'at most 2048 characters', fix: 'shorten the URL to 2048 characters or fewer' },
  {
    rule: 'characters',
    requires: 'no whitespace, control, backslash or non-ASCII characters',
    fix: 'percent-encode spaces and non-ASCII characters, and remove backslashes',
  },
  {
    rule: 'scheme',
    requires: 'starts with lowercase https://',
    fix: 'serve the document over https, written https://',
  },
  { rule: 'userinfo', requires: 'no user:password@ part', fix: 'remove the "user@" part from the URL' },
  { rule: 'fragment', requires: 'no #fragment', fix: 'remove the "#..." part from the URL' },
  { rule: 'dot_segment', requires: 'no "." or ".." path segments', fix: 'remove "." and ".." segments from the path' },
  {
    rule: 'root_path',
    requires: 'a path other than "/"',
    fix: 'publish the document at a path such as /oauth/client-metadata.json',
  },
  {
    rule: 'query',
    requires: 'no ?query',
    fix: 'remove the query: every query variant would be a different client (and cache entry)',
  },
  { rule: 'parse', requires: 'an absolute URL', fix: 'use an absolute https URL' },
  { rule: 'ip_literal', requires: 'a DNS name as host, not an IP address', fix: 'use a DNS name for the host' },
  { rule: 'trailing_dot', requires: 'no trailing dot in the host', fix: 'remove the trailing dot from the host name' },
  {
    rule: 'host_syntax',
    requires: 'host labels of letters, digits and hyphens',
    fix: 'use a host name made of letters, digits and hyphens',
  },
  {
    rule: 'special_use_host',
    requires: 'not a special-use name (localhost, .local, .internal, .test, .example, .invalid, .onion, home.arpa)',
    fix: 'use a public DNS name; for local development against a loopback issuer use the development exception (--allow-loopback)',
  },
  { rule: 'single_label', requires: 'a fully qualified host name', fix: 'use a name such as app.example.com' },
  {
    rule: 'own_origin',
    requires: "not on the authorization server's own origin",
    fix: "host the document on the client's own origin, not the authorization server's",
  },
  { rule: 'port', requires: 'a usable port allowed by the server', fix: 'serve the document on port 443' },
  {
    rule: 'canonical',
    requires: 'canonical form (as the WHATWG URL parser writes it)',
    fix: (cid) => {
      const href = URL.parse(cid)?.href;
      return href && href !== cid ? `use the canonical form ${href}` : 'write the URL in canonical form';
    },
  },
];

const HTTPS_MEMBER_FIX = (rule: string) => `make "${rule}" an https URL, or remove it`;

const DOCUMENT_RULES: readonly RuleText[] = [
  {
    rule: 'json',
    requires: 'UTF-8 JSON',
    fix: 'serve valid UTF-8 JSON, without a byte order mark or trailing content',
  },
  { rule: 'duplicate_member', requires: 'no duplicate member names', fix: 'remove the duplicate member' },
  { rule: 'not_object', requires: 'a single JSON object', fix: 'make the body one JSON object {...}' },
  {
    rule: 'client_id',
    requires: 'client_id equal to the URL, byte for byte',
    fix: (cid) => `set "client_id" to exactly ${JSON.stringify(cid)}`,
  },
  {
    rule: 'client_secret',
    requires: 'no client_secret',
    fix: 'remove "client_secret": the document is public, and a CIMD client has no secret',
  },
  {
    rule: 'client_secret_expires_at',
    requires: 'no client_secret_expires_at',
    fix: 'remove "client_secret_expires_at"',
  },
  {
    rule: 'token_endpoint_auth_method',
    requires: 'no shared-secret auth method; one the server supports',
    fix: 'use "none" (a public client), or "private_key_jwt" with "jwks_uri"',
  },
  {
    rule: 'token_endpoint_auth_methods_supported',
    requires: 'at least one auth method the server supports',
    fix: 'include "none" (or "private_key_jwt" with keys)',
  },
  {
    rule: 'jwks',
    requires: 'public keys only; jwks or jwks_uri, not both; keys for private_key_jwt',
    fix: 'publish public keys only (no d, p, q, dp, dq, qi, oth, k, no kty "oct"), in "jwks" or "jwks_uri" but not both',
  },
  { rule: 'client_name', requires: 'client_name present', fix: 'add "client_name": "<your application name>"' },
  { rule: 'client_uri', requires: 'client_uri is https', fix: HTTPS_MEMBER_FIX('client_uri') },
  { rule: 'logo_uri', requires: 'logo_uri is https', fix: HTTPS_MEMBER_FIX('logo_uri') },
  { rule: 'tos_uri', requires: 'tos_uri is https', fix: HTTPS_MEMBER_FIX('tos_uri') },
  { rule: 'policy_uri', requires: 'policy_uri is https', fix: HTTPS_MEMBER_FIX('policy_uri') },
  { rule: 'jwks_uri', requires: 'jwks_uri is https', fix: HTTPS_MEMBER_FIX('jwks_uri') },
  { rule: 'application_type', requires: 'application_type web or native', fix: 'use "web" or "native", or omit it' },
  {
    rule: 'grant_types',
    requires: 'a grant type the server supports',
    fix: 'include "authorization_code" in "grant_types" (or omit the member)',
  },
  {
    rule: 'response_types',
    requires: 'a response type the server supports',
    fix: 'include "code" in "response_types" (or omit the member)',
  },
  {
    rule: 'response_modes',
    requires: 'a response mode the server supports',
    fix: 'include "query" in "response_modes", or omit the member',
  },
  { rule: 'scope', requires: 'scope is a string', fix: 'make "scope" a space-separated string' },
  {
    rule: 'redirect_uris',
    requires: 'exact redirect URIs: https, or http for loopback only, no fragments',
    fix: 'list absolute redirect URIs: https, or http only for localhost / 127.0.0.1 / [::1], without "#"',
  },
  {
    rule: 'default_max_age',
    requires: 'default_max_age is a non-negative integer',
    fix: 'make "default_max_age" a non-negative integer, or remove it',
  },
  {
    rule: 'require_auth_time',
    requires: 'require_auth_time is a boolean',
    fix: 'make "require_auth_time" true or false, or remove it',
  },
];

const fixText = (text: RuleText | undefined, cid: string, fallback: string): string => {
  if (!text) return fallback;
  return typeof text.fix === 'function' ? text.fix(cid) : text.fix;
};

const DOCUMENT_PREFIX = /^client metadata document: /;
const detail = (error: CimdError): string => error.message.replace(DOCUMENT_PREFIX, '');

// ---------------------------------------------------------------------------------------------------------------
// Configuration

interface Resolved {
  issuer: string;
  capabilities: ProviderCapabilities;
  lifetime: LifetimeBounds;
  documentRules: DocumentRuleOptions;
  urlRules: (cid: string) => ReturnType<ReturnType<typeof createUrlRules>>;
}

const isLoopbackIssuer = (issuer: string): boolean => {
  const host = URL.parse(issuer)?.hostname;
  return host !== undefined && (host === 'localhost' || isLoopbackAddress(host));
};

/** Validates the options as `createCimd` would; throws TypeError for a configuration the server refuses. */
function resolveOptions(options: CheckOptions): Resolved {
  const allowLoopback = options.allowLoopback === true;
  const issuer = options.issuer ?? (allowLoopback ? DEFAULT_LOOPBACK_CHECK_ISSUER : DEFAULT_CHECK_ISSUER);
  if (!URL.parse(issuer)) throw new TypeError(`issuer ${JSON.stringify(issuer)} is not a URL`);
  if (allowLoopback && !isLoopbackIssuer(issuer)) {
    throw new TypeError(
      `the development exception (allowLoopback) is only honoured with a loopback issuer; the issuer is ${issuer}`,
    );
  }
  const ruleOptions: UrlRuleOptions = {
    issuer,
    allowLoopback,
    ...(options.allowRootPath !== undefined ? { allowRootPath: options.allowRootPath } : {}),
    ...(options.allowQuery !== undefined ? { allowQuery: options.allowQuery } : {}),
    ...(options.allowedPorts !== undefined ? { allowedPorts: options.allowedPorts } : {}),
  };
  return {
    issuer,
    capabilities: options.capabilities ?? deriveCapabilities({}),
    lifetime: { ...DEFAULT_LIFETIME_BOUNDS, ...options.lifetime },
    documentRules: { requireClientName: options.requireClientName !== false },
    urlRules: createUrlRules(ruleOptions),
  };
}

/**
 * Capabilities from an authorization server's metadata (RFC 8414 / OpenID discovery), so that a document can
 * be checked against what a real server advertises rather than oidc-provider's defaults.
 */
export function capabilitiesFromServerMetadata(metadata: Record<string, unknown>): ProviderCapabilities {
  const list = (name: string, fallback: readonly string[]): string[] => {
    const value = metadata[name];
    return Array.isArray(value) ? value.filter((entry): entry is string => typeof entry === 'string') : [...fallback];
  };
  const defaults = deriveCapabilities({});
  return {
    grantTypes: new Set(list('grant_types_supported', ['authorization_code', 'implicit'])),
    responseTypes: new Set(list('response_types_supported', [...defaults.responseTypes]).map(normaliseResponseType)),
    responseModes: new Set(list('response_modes_supported', ['query', 'fragment'])),
    scopes: new Set(list('scopes_supported', [...defaults.scopes])),
    clientAuthMethods: new Set(list('token_endpoint_auth_methods_supported', ['client_secret_basic'])),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Stages

function runUrlRules(cid: string, resolved: Resolved): { items: CheckItem[]; error?: CimdError } {
  const verdict = resolved.urlRules(cid);
  if (verdict.ok) {
    return {
      items: URL_RULES.map((text) => ({
        stage: 'url',
        id: `url:${text.rule}`,
        status: 'pass',
        message: text.requires,
      })),
    };
  }
  const failed = URL_RULES.find((text) => text.rule === verdict.rule);
  const failure: CheckItem = {
    stage: 'url',
    id: `url:${verdict.rule}`,
    status: 'fail',
    message: verdict.message,
    code: Reason.RejectedUrl,
    rule: verdict.rule,
    fix: fixText(failed, cid, 'use an https URL of the form https://app.example.com/oauth/client-metadata.json'),
  };
  const items: CheckItem[] = [];
  for (const text of URL_RULES) {
    if (text.rule === verdict.rule) items.push(failure);
    else items.push({ stage: 'url', id: `url:${text.rule}`, status: 'skip', message: text.requires });
  }
  if (!failed) items.push(failure);
  return { items, error: new CimdError(Reason.RejectedUrl, verdict.message, { rule: verdict.rule }) };
}

/** Fetch steps in the order the fetcher takes them; a failure at one step means the ones before it passed. */
const FETCH_STEPS = ['connect', 'status', 'encoding', 'content_type', 'size'] as const;
type FetchStep = (typeof FETCH_STEPS)[number] | 'timeout';

const FETCH_STEP_OF: Partial<Record<ReasonCode, FetchStep>> = {
  [Reason.RejectedAddress]: 'connect',
  [Reason.RejectedNetwork]: 'connect',
  [Reason.RejectedTimeout]: 'timeout',
  [Reason.RejectedStatus]: 'status',
  [Reason.RejectedEncoding]: 'encoding',
  [Reason.RejectedContentType]: 'content_type',
  [Reason.RejectedSize]: 'size',
  [Reason.RejectedUrl]: 'connect',
};

function fetchFix(error: CimdError, allowLoopback: boolean): string {
  switch (error.code) {
    case Reason.RejectedAddress:
      return allowLoopback
        ? 'the host must resolve only to public (or, in development, loopback) addresses'
        : 'the host must resolve only to public unicast addresses; for local development use the development exception (allowLoopback, cimd check --allow-loopback)';
    case Reason.RejectedNetwork:
      return 'make the host reachable over https with a certificate that verifies (a private CA must be trusted: ca option, cimd check --ca)';
    case Reason.RejectedTimeout:
      return 'answer within the time limit (5 s, connecting within 3 s, by default); bot protection that stalls server requests has the same effect';
    case Reason.RejectedStatus: {
      const status = Number(/status (\d{3})/.exec(error.message)?.[1]);
      if ((status >= 300 && status < 400) || /redirect/.test(error.message)) {
        return 'serve the document at the client_id URL itself with 200: redirects are never followed';
      }
      if (status === 401 || status === 403 || status === 429 || status === 503) {
        return 'answer server-side requests with 200; bot protection or rate limiting blocks the server (or pin the client on the server)';
      }
      return 'serve the document with status 200 at exactly the client_id URL';
    }
    case Reason.RejectedEncoding:
      return 'serve the document uncompressed (no Content-Encoding): the server asks for identity';
    case Reason.RejectedContentType:
      return 'serve it as Content-Type: application/json (an HTML page here is usually bot protection)';
    case Reason.RejectedSize:
      return 'keep the document under the size limit (5120 bytes): drop unused members, move keys to jwks_uri';
    default:
      return 'serve the document with 200 and Content-Type: application/json';
  }
}

const FETCH_REQUIRES: Record<FetchStep, string> = {
  connect: 'host resolves to allowed addresses and TLS verifies',
  timeout: 'answered in time',
  status: 'status 200, no redirect',
  encoding: 'no content-encoding',
  content_type: 'application/json',
  size: 'within the size limit',
};

function fetchFailureItems(error: CimdError, allowLoopback: boolean): CheckItem[] {
  const failedStep = FETCH_STEP_OF[error.code] ?? 'connect';
  const failedIndex = FETCH_STEPS.indexOf(failedStep as (typeof FETCH_STEPS)[number]);
  const items: CheckItem[] = [];
  FETCH_STEPS.forEach((step, index) => {
    if (step === failedStep) return;
    const passed = failedIndex > index;
    items.push({
      stage: 'fetch',
      id: `fetch:${step}`,
      status: passed ? 'pass' : 'skip',
      message: FETCH_REQUIRES[step],
    });
  });
  const failure: CheckItem = {
    stage: 'fetch',
    id: `fetch:${failedStep}`,
    status: 'fail',
    message: error.message,
    code: error.code,
    fix: fetchFix(error, allowLoopback),
  };
  items.splice(failedIndex === -1 ? 0 : failedIndex, 0, failure);
  return items;
}

const CACHE_HEADERS = ['cache-control', 'expires', 'date', 'age', 'etag', 'last-modified', 'vary'];

const duration = (seconds: number): string => {
  if (seconds % 86_400 === 0 && seconds >= 86_400) return `${seconds / 86_400} d`;
  if (seconds % 3600 === 0 && seconds >= 3600) return `${seconds / 3600} h`;
  if (seconds % 60 === 0 && seconds >= 60) return `${seconds / 60} min`;
  return `${seconds} s`;
};

function fetchSuccessItems(
  response: FetchResult,
  resolved: Resolved,
  now: number,
): {
  items: CheckItem[];
  summary: ResponseSummary;
} {
  const headers = response.headers;
  const contentType = headers['content-type'];
  const bytes = response.body.length;
  const items: CheckItem[] = [
    { stage: 'fetch', id: 'fetch:connect', status: 'pass', message: FETCH_REQUIRES.connect },
    { stage: 'fetch', id: 'fetch:status', status: 'pass', message: `status ${response.status}` },
    { stage: 'fetch', id: 'fetch:encoding', status: 'pass', message: 'no content-encoding' },
    { stage: 'fetch', id: 'fetch:content_type', status: 'pass', message: `content-type ${contentType ?? '(none)'}` },
    { stage: 'fetch', id: 'fetch:size', status: 'pass', message: `${bytes} bytes` },
  ];

  // The lifetime as the server computes it, and (same function, no clamping) as the response asked for it.
  const policy = cachePolicy(headers, now, resolved.lifetime);
  const unclamped = cachePolicy(headers, now, {
    minSeconds: Number.NEGATIVE_INFINITY,
    maxSeconds: Number.POSITIVE_INFINITY,
    defaultSeconds: Number.NaN,
  });
  const requested = Number.isNaN(unclamped.freshForMs) ? null : Math.round(unclamped.freshForMs / 1000);
  const fresh = Math.round(policy.freshForMs / 1000);
  const { minSeconds, maxSeconds, defaultSeconds } = resolved.lifetime;
  const cc = parseCacheControl(headers['cache-control']);

  let lifetime: CheckItem;
  if (!policy.store) {
    lifetime = {
      stage: 'cache',
      id: 'cache:lifetime',
      status: 'warn',
      message: 'Cache-Control: no-store: never cached, fetched again on every authorization request',
      fix: 'send Cache-Control: public, max-age=3600 (or longer) unless the document really changes that often',
    };
  } else if (requested === null) {
    lifetime = {
      stage: 'cache',
      id: 'cache:lifetime',
      status: 'warn',
      message: `no Cache-Control max-age or Expires: cached for ${duration(defaultSeconds)} (the default)`,
      fix: 'send Cache-Control: public, max-age=3600 (or longer) to say how long servers may cache the document',
    };
  } else if (requested < minSeconds) {
    lifetime = {
      stage: 'cache',
      id: 'cache:lifetime',
      status: 'warn',
      message: `${cc.has('no-cache') ? 'no-cache' : `lifetime ${requested} s`} is very short: raised to ${duration(fresh)}`,
      fix: `send Cache-Control: max-age=${Math.max(300, minSeconds)} or more; a changed document is picked up on expiry`,
    };
  } else if (requested > maxSeconds) {
    lifetime = {
      stage: 'cache',
      id: 'cache:lifetime',
      status: 'warn',
      message: `lifetime ${duration(requested)} is very long: capped at ${duration(fresh)}`,
      fix: `send Cache-Control: max-age=${maxSeconds} or less; longer values are not honoured`,
    };
  } else {
    lifetime = {
      stage: 'cache',
      id: 'cache:lifetime',
      status: 'pass',
      message: `cached for ${duration(fresh)}`,
    };
  }
  items.push(lifetime);
  items.push(
    policy.etag || policy.lastModified
      ? {
          stage: 'cache',
          id: 'cache:validators',
          status: 'pass',
          message: `revalidates with ${[policy.etag ? 'ETag' : '', policy.lastModified ? 'Last-Modified' : ''].filter(Boolean).join(' and ')}`,
        }
      : {
          stage: 'cache',
          id: 'cache:validators',
          status: 'warn',
          message: 'no ETag or Last-Modified: every refresh downloads the whole document',
          fix: 'send an ETag (or Last-Modified) header so that refreshes can be answered with 304',
        },
  );

  const cacheHeaders: Record<string, string> = {};
  for (const name of CACHE_HEADERS) if (headers[name] !== undefined) cacheHeaders[name] = headers[name]!;
  return {
    items,
    summary: {
      status: response.status,
      contentType,
      bytes,
      headers: cacheHeaders,
      cache: {
        store: policy.store,
        freshForSeconds: fresh,
        requestedSeconds: requested,
        staleIfErrorSeconds: Math.round(policy.staleIfErrorMs / 1000),
        etag: policy.etag,
        lastModified: policy.lastModified,
      },
    },
  };
}

type Validation = { ok: true; result: NormalisedDocument } | { ok: false; error: CimdError };

function validate(body: string | Uint8Array, cid: string, resolved: Resolved): Validation {
  try {
    return { ok: true, result: validateDocument(body, cid, resolved.capabilities, resolved.documentRules) };
  } catch (error) {
    if (isCimdError(error)) return { ok: false, error };
    throw error;
  }
}

const FATAL_DOCUMENT_RULES = new Set(['json', 'duplicate_member', 'not_object']);

/**
 * Repairs `doc` (in place) so that the rule that failed passes, to let the next run reach later rules.
 * Returns false when there is nothing sensible to repair. Each repair removes or corrects what the rule
 * named; it never adds a value that could make a later rule pass by accident, except placeholders for the
 * two members every rule run needs (`client_id`, `client_name`).
 */
function repair(doc: Record<string, unknown>, rule: string, cid: string): boolean {
  if (rule === 'client_id') {
    if (doc.client_id === cid) return false;
    doc.client_id = cid;
    return true;
  }
  if (rule === 'client_name') {
    if (doc.client_name === 'client') return false;
    doc.client_name = 'client';
    return true;
  }
  if (rule === 'jwks' && !Object.hasOwn(doc, 'jwks')) {
    // A key-based auth method without keys: fall back to the default method.
    const had =
      Object.hasOwn(doc, 'token_endpoint_auth_method') || Object.hasOwn(doc, 'token_endpoint_auth_methods_supported');
    delete doc.token_endpoint_auth_method;
    delete doc.token_endpoint_auth_methods_supported;
    return had;
  }
  if (rule === 'grant_types' && !Object.hasOwn(doc, 'grant_types')) {
    if (!Object.hasOwn(doc, 'response_types')) return false;
    delete doc.response_types;
    return true;
  }
  if (Object.hasOwn(doc, rule)) {
    delete doc[rule];
    return true;
  }
  return false;
}

/** Redirect URIs that fail the rules on their own, each with the rule's message. */
function offendingRedirectUris(
  doc: Record<string, unknown>,
  cid: string,
  resolved: Resolved,
): { uri: string; message: string }[] {
  const uris = doc.redirect_uris;
  if (!Array.isArray(uris)) return [];
  const offending: { uri: string; message: string }[] = [];
  for (const uri of uris) {
    if (typeof uri !== 'string') continue;
    const single = validate(JSON.stringify({ ...doc, redirect_uris: [uri] }), cid, resolved);
    if (!single.ok && single.error.rule === 'redirect_uris') offending.push({ uri, message: detail(single.error) });
  }
  return offending;
}

function documentFailure(error: CimdError, cid: string, message = detail(error)): CheckItem {
  const rule = error.rule ?? 'document';
  return {
    stage: 'document',
    id: `document:${rule}`,
    status: 'fail',
    message,
    code: error.code,
    rule,
    fix: fixText(
      DOCUMENT_RULES.find((text) => text.rule === rule),
      cid,
      'fix the member named by the rule',
    ),
  };
}

interface DocumentOutcome {
  items: CheckItem[];
  validated?: NormalisedDocument;
  firstError?: CimdError;
}

function runDocumentRules(body: string | Uint8Array, cid: string, resolved: Resolved): DocumentOutcome {
  const first = validate(body, cid, resolved);
  const passAll = (failed: CheckItem[], reachedEnd: boolean): CheckItem[] => {
    const items: CheckItem[] = [];
    for (const text of DOCUMENT_RULES) {
      const failures = failed.filter((item) => item.rule === text.rule);
      if (failures.length > 0) items.push(...failures);
      else {
        items.push({
          stage: 'document',
          id: `document:${text.rule}`,
          status: reachedEnd ? 'pass' : 'skip',
          message: text.requires,
        });
      }
    }
    // Rules this catalogue does not know yet still show up.
    for (const item of failed) if (!DOCUMENT_RULES.some((text) => text.rule === item.rule)) items.push(item);
    return items;
  };
  if (first.ok) return { items: passAll([], true), validated: first.result };

  const failures: CheckItem[] = [];
  const firstError = first.error;
  const record = (error: CimdError, doc: Record<string, unknown> | undefined): void => {
    if (error.rule === 'redirect_uris' && doc) {
      const offending = offendingRedirectUris(doc, cid, resolved);
      if (offending.length > 0) {
        for (const { uri, message } of offending) failures.push(documentFailure(error, cid, `${uri}: ${message}`));
        return;
      }
    }
    failures.push(documentFailure(error, cid));
  };

  if (FATAL_DOCUMENT_RULES.has(firstError.rule ?? '')) {
    record(firstError, undefined);
    return { items: passAll(failures, false), firstError };
  }
  // The strict parser accepted the text, so the plain parser reads the same object.
  const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
  const doc = JSON.parse(text) as Record<string, unknown>;
  let error = firstError;
  for (let round = 0; round < 32; round += 1) {
    record(error, doc);
    let repaired: boolean;
    if (error.rule === 'redirect_uris') {
      const offending = new Set(offendingRedirectUris(doc, cid, resolved).map(({ uri }) => uri));
      const uris = Array.isArray(doc.redirect_uris) ? doc.redirect_uris : [];
      const kept = uris.filter((uri) => !offending.has(uri as string));
      repaired = offending.size > 0 && kept.length > 0;
      if (repaired) doc.redirect_uris = kept;
    } else {
      repaired = repair(doc, error.rule ?? '', cid);
    }
    if (!repaired) return { items: passAll(failures, false), firstError };
    const next = validate(JSON.stringify(doc), cid, resolved);
    if (next.ok) return { items: passAll(failures, true), firstError };
    error = next.error;
  }
  return { items: passAll(failures, false), firstError };
}

function summarise(validated: NormalisedDocument, raw: Record<string, unknown>): ClientSummary {
  const { metadata, dropped, loopbackOnly } = validated;
  const list = (value: unknown): string[] => (Array.isArray(value) ? (value as string[]) : []);
  const scope = typeof metadata.scope === 'string' ? metadata.scope.split(' ') : [];
  return {
    clientName: typeof metadata.client_name === 'string' ? metadata.client_name : undefined,
    applicationType: metadata.application_type === 'native' ? 'native' : 'web',
    applicationTypeInferred: raw.application_type === undefined || raw.application_type === null,
    loopbackOnly,
    tokenEndpointAuthMethod: metadata.token_endpoint_auth_method,
    redirectUris: metadata.redirect_uris ?? [],
    grantTypes: { kept: list(metadata.grant_types), dropped: dropped.grantTypes },
    responseTypes: { kept: list(metadata.response_types), dropped: dropped.responseTypes },
    responseModes:
      metadata.response_modes === undefined && dropped.responseModes.length === 0
        ? undefined
        : { kept: list(metadata.response_modes), dropped: dropped.responseModes },
    scope: { kept: scope, dropped: dropped.scopes },
    metadata,
  };
}

function clientItems(client: ClientSummary): CheckItem[] {
  const items: CheckItem[] = [];
  const droppedWarning = (id: string, member: string, values: string[], fix: string): void => {
    if (values.length === 0) return;
    items.push({
      stage: 'client',
      id: `client:${id}`,
      status: 'warn',
      message: `${member}: ${values.join(', ')} ${values.length === 1 ? 'is' : 'are'} not supported by this server and dropped`,
      fix,
    });
  };
  if (client.loopbackOnly) {
    items.push({
      stage: 'client',
      id: 'client:loopback_only',
      status: 'warn',
      message: 'every redirect URI is loopback: users get a consent prompt, with a warning, on every authorization',
      fix: 'expected for native and command-line apps; a web app should register its https redirect URI',
    });
  }
  droppedWarning(
    'grant_types',
    'grant_types',
    client.grantTypes.dropped,
    'harmless unless the client needs them; a request using a dropped grant type fails',
  );
  droppedWarning(
    'response_types',
    'response_types',
    client.responseTypes.dropped,
    'harmless unless the client needs them; use "code"',
  );
  droppedWarning(
    'response_modes',
    'response_modes',
    client.responseModes?.dropped ?? [],
    'harmless unless the client needs them',
  );
  droppedWarning(
    'scope',
    'scope',
    client.scope.dropped,
    'the client can still request them; the server grants only scopes it supports',
  );
  return items;
}

function redirectItem(uri: string, client: ClientSummary | undefined): { item: CheckItem; accepted: boolean } {
  if (!client) {
    return {
      accepted: false,
      item: {
        stage: 'redirect_uri',
        id: 'redirect_uri:match',
        status: 'skip',
        message: `${uri}: not checked, the document is rejected`,
      },
    };
  }
  const native = client.applicationType === 'native';
  const accepted = redirectUriMatches(client.redirectUris, uri, native);
  return {
    accepted,
    item: accepted
      ? {
          stage: 'redirect_uri',
          id: 'redirect_uri:match',
          status: 'pass',
          message: client.redirectUris.includes(uri)
            ? `${uri} is registered`
            : `${uri} matches a loopback redirect URI (any port, native client)`,
        }
      : {
          stage: 'redirect_uri',
          id: 'redirect_uri:match',
          status: 'fail',
          message: `${uri} is not among the redirect URIs (compared exactly${native ? '; loopback http URIs on any port' : ''})`,
          rule: 'redirect_uri',
          fix: `add ${JSON.stringify(uri)} to "redirect_uris" exactly as the client sends it`,
        },
  };
}

function finish(report: Omit<CheckReport, 'accepted' | 'rejection'>, firstError: CimdError | undefined): CheckReport {
  const failed = report.checks.find((item) => item.status === 'fail');
  const accepted = failed === undefined;
  const rejection = accepted
    ? undefined
    : firstError
      ? { code: firstError.code, rule: firstError.rule, publicMessage: firstError.publicMessage }
      : { code: failed.code, rule: failed.rule, publicMessage: undefined };
  return { ...report, accepted, ...(rejection ? { rejection } : {}) };
}

const skipStage = (stage: CheckStage, message: string): CheckItem => ({
  stage,
  id: `${stage}:not_checked`,
  status: 'skip',
  message,
});

function documentStages(
  body: string | Uint8Array,
  cid: string,
  resolved: Resolved,
  redirectUri: string | undefined,
): { items: CheckItem[]; client?: ClientSummary; redirect?: CheckReport['redirectUri']; firstError?: CimdError } {
  const outcome = runDocumentRules(body, cid, resolved);
  const items = [...outcome.items];
  let client: ClientSummary | undefined;
  if (outcome.validated) {
    const raw = JSON.parse(typeof body === 'string' ? body : new TextDecoder().decode(body)) as Record<string, unknown>;
    client = summarise(outcome.validated, raw);
    items.push(...clientItems(client));
  }
  let redirect: CheckReport['redirectUri'];
  if (redirectUri !== undefined) {
    const { item, accepted } = redirectItem(redirectUri, client);
    items.push(item);
    redirect = { uri: redirectUri, accepted };
  }
  return {
    items,
    ...(client ? { client } : {}),
    ...(redirect ? { redirect } : {}),
    ...(outcome.firstError ? { firstError: outcome.firstError } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Entry points

/**
 * Checks a client_id as the server would: URL rules, then (only if they pass) one guarded fetch, the caching
 * headers and the document rules. Never throws for a rejected client (that is a report with `accepted:
 * false`); throws TypeError for options the server itself would refuse.
 */
export async function checkClientId(clientId: string, options: CheckOptions = {}): Promise<CheckReport> {
  const resolved = resolveOptions(options);
  const now = options.now ?? Date.now;
  const checks: CheckItem[] = [];
  const base = { clientId, source: 'url' as const, issuer: resolved.issuer };

  const url = runUrlRules(clientId, resolved);
  checks.push(...url.items);
  if (url.error) {
    checks.push(skipStage('fetch', 'not fetched: the client_id URL is rejected before any network activity'));
    checks.push(skipStage('document', 'not checked'));
    if (options.redirectUri !== undefined) checks.push(redirectItem(options.redirectUri, undefined).item);
    return finish(
      {
        ...base,
        checks,
        ...(options.redirectUri !== undefined ? { redirectUri: { uri: options.redirectUri, accepted: false } } : {}),
      },
      url.error,
    );
  }

  const fetcher =
    options.fetcher ??
    createFetcher({
      addressPolicy: createAddressPolicy({
        allowLoopback: options.allowLoopback === true,
        ...(options.denyList ? { denyList: options.denyList } : {}),
      }),
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
      ...(options.lookup !== undefined ? { lookup: options.lookup } : {}),
      ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.maxBodyBytes !== undefined ? { maxBodyBytes: options.maxBodyBytes } : {}),
      ...(options.acceptTextPlain !== undefined ? { acceptTextPlain: options.acceptTextPlain } : {}),
    });
  let response: FetchResult;
  try {
    options.onProgress?.(`fetching ${clientId}`);
    response = await fetcher.fetchDocument(clientId);
  } catch (cause) {
    const error = isCimdError(cause) ? cause : new CimdError(Reason.RejectedNetwork, String(cause), { cause });
    checks.push(...fetchFailureItems(error, options.allowLoopback === true));
    checks.push(skipStage('document', 'not checked: the document could not be retrieved'));
    if (options.redirectUri !== undefined) checks.push(redirectItem(options.redirectUri, undefined).item);
    return finish(
      {
        ...base,
        checks,
        ...(options.redirectUri !== undefined ? { redirectUri: { uri: options.redirectUri, accepted: false } } : {}),
      },
      error,
    );
  } finally {
    if (!options.fetcher) await fetcher.close();
  }

  const fetched = fetchSuccessItems(response, resolved, now());
  checks.push(...fetched.items);
  const doc = documentStages(response.body, clientId, resolved, options.redirectUri);
  checks.push(...doc.items);
  return finish(
    {
      ...base,
      checks,
      response: fetched.summary,
      ...(doc.client ? { client: doc.client } : {}),
      ...(doc.redirect ? { redirectUri: doc.redirect } : {}),
    },
    doc.firstError,
  );
}

/**
 * Checks a document without fetching it: the URL rules on the client_id it will be served from, and the
 * document rules. Without `clientId`, the document's own `client_id` is used (and the match is not checked).
 */
export function checkDocument(
  body: string | Uint8Array,
  options: CheckOptions & { clientId?: string } = {},
): CheckReport {
  const resolved = resolveOptions(options);
  let clientId = options.clientId;
  const checks: CheckItem[] = [];
  if (clientId === undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(typeof body === 'string' ? body : new TextDecoder().decode(body));
    } catch {}
    const own = (parsed as { client_id?: unknown } | undefined)?.client_id;
    clientId = typeof own === 'string' ? own : '';
    checks.push({
      stage: 'document',
      id: 'document:client_id_source',
      status: 'warn',
      message: 'no client id stated: the document\'s own "client_id" is assumed to be the URL it is served from',
      fix: 'state the URL the document will be served from (--client-id URL) to check that they match',
    });
  }
  const base = { clientId, source: 'file' as const, issuer: resolved.issuer };
  const url: { items: CheckItem[]; error?: CimdError } =
    clientId === ''
      ? { items: [skipStage('url', 'not checked: the document names no client_id (state it with --client-id)')] }
      : runUrlRules(clientId, resolved);
  checks.push(...url.items);
  checks.push(skipStage('fetch', 'not fetched: checking a local document'));
  const doc = documentStages(body, clientId, resolved, options.redirectUri);
  checks.push(...doc.items);
  return finish(
    {
      ...base,
      checks,
      ...(doc.client ? { client: doc.client } : {}),
      ...(doc.redirect ? { redirectUri: doc.redirect } : {}),
    },
    url.error ?? doc.firstError,
  );
}
