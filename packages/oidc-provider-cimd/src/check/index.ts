/**
 * Diagnostics for a Client ID Metadata Document, as the server would judge it: the client_id URL rules, the
 * guarded fetch, the caching rules, the document rules, and the JWK Set at `jwks_uri`, each reported as pass,
 * warning or failure with the reason code the server would emit and a one-line fix.
 *
 * Nothing here re-implements or re-derives a rule. The options are validated by the plugin's own table
 * (plugin/options.ts) and the pipeline is built by its composition root (plugin/pipeline.ts), exactly as
 * `createCimd` builds it. The rules are listed from the one catalogue of rule ids (rules/catalogue.ts) and the
 * fetch steps from the fetcher's own ordered list (fetch/steps.ts); a failure is placed by the structured data
 * of its CimdError (`rule`, `details.step`, `response`), never by its message. The `cimd check` command line
 * formats the report; a deployment can serve it from an admin endpoint.
 *
 * The rules stop at the first failure, as the server does. To show a client developer every problem at once,
 * the document stage then repairs a copy of the document (removes or corrects the member that failed) and runs
 * the same rules again, until they pass or nothing more can be repaired. Rules that were never reached are
 * reported as `skip`.
 *
 * Published as the subpath `oidc-provider-cimd/check`, so that the server's entry point stays small.
 */

import { DEFAULT_FETCH_MAX_BODY_BYTES, type Fetcher, type FetchResult } from '../fetch/fetcher.js';
import { FETCH_STEPS as FETCH_STEP_LIST, type FetchStepId, failedStep } from '../fetch/steps.js';
import { CimdError, isCimdError, Reason, type ReasonCode } from '../observe/errors.js';
import {
  capabilitiesFromServerMetadata,
  type ProviderCapabilities,
  type ServerMetadataCapabilities,
  serverMetadataCapabilities,
} from '../plugin/capabilities.js';
import {
  CIMD_OPTIONS,
  CimdOptionError,
  type CimdOptions,
  type OptionRow,
  type OptionTable,
  resolveCimdOptions,
  validateOptions,
} from '../plugin/options.js';
import { buildPipeline, type Pipeline } from '../plugin/pipeline.js';
import {
  DOCUMENT_RULES,
  type DocumentRuleId,
  JWKS_RULES,
  type RuleId,
  ruleFix,
  URL_RULES,
  type UrlRuleId,
} from '../rules/catalogue.js';
import type { UrlVerdict } from '../rules/client-id-url.js';
import { type NormalisedDocument, validateDocument } from '../rules/document.js';
import { cachePolicy, type LifetimeBounds, parseCacheControl } from '../rules/http-cache.js';
import { jwkSetProblem } from '../rules/jwks.js';
import { redirectUriMatches } from '../rules/redirect-uris.js';

export { FETCH_STEPS, type FetchStep, type FetchStepId } from '../fetch/steps.js';
export type { DocumentRuleId, RuleId, UrlRuleId } from '../rules/catalogue.js';
export { DOCUMENT_RULES, JWKS_RULES, URL_RULES } from '../rules/catalogue.js';
export { capabilitiesFromServerMetadata, type ServerMetadataCapabilities, serverMetadataCapabilities };

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';
export type CheckStage = 'url' | 'policy' | 'fetch' | 'cache' | 'document' | 'client' | 'redirect_uri' | 'jwks';

export interface CheckItem {
  stage: CheckStage;
  /**
   * Stable id, `<stage>:<rule or step>`, e.g. `url:canonical`, `fetch:content_type`, `document:client_name`,
   * `jwks:status`, `jwks:jwks_public`.
   */
  id: string;
  status: CheckStatus;
  /** One line: what the rule requires (pass, skip) or what was found (warn, fail). */
  message: string;
  /** For failures: the reason code the server emits (`rejected:document`, ...). */
  code?: ReasonCode;
  /** For failures: the rule id the server reports with the code (`client_name`, `canonical`, ...). */
  rule?: RuleId;
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
  metadata: NormalisedDocument['metadata'];
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

/** The JWK Set at `jwks_uri`, as fetched. */
export interface JwksSummary {
  uri: string;
  /** False when the fetch, the JSON or the keys failed (the items say which). */
  ok: boolean;
  /** Keys in the set, when it parsed. */
  keys?: number;
  /** Their key types (`kty`), when it parsed. */
  keyTypes?: string[];
}

export interface CheckReport {
  /** The client_id checked (for a file, the stated or the document's own). */
  clientId: string;
  source: 'url' | 'file';
  /** The issuer the own-origin rule was checked against. */
  issuer: string;
  /** True when the server would accept the client (and, when given, the redirect URI) and its jwks_uri works. */
  accepted: boolean;
  /**
   * The first failure as the server reports it: reason code, rule, and what the user is shown. `stage` says
   * where: a `jwks` failure does not stop the authorization, it fails the token request (`invalid_client`).
   */
  rejection?: {
    stage: CheckStage;
    code: ReasonCode | undefined;
    rule: RuleId | undefined;
    publicMessage: string | undefined;
  };
  checks: CheckItem[];
  response?: ResponseSummary;
  client?: ClientSummary;
  redirectUri?: { uri: string; accepted: boolean };
  jwks?: JwksSummary;
}

/**
 * `check` takes the server's own options (every option of `createCimd`: same names, types, defaults, startup
 * checks), so that it judges a client with the deployment's trust policy and development exception, plus its
 * own. Options of the running server's state (`cache`, `registry`, `onEvent`, ...) are accepted and unused:
 * `check` never touches the deployment's store.
 */
export interface CheckOptions extends CimdOptions {
  /**
   * The issuer of the provider that serves the requests, when it differs from `issuer` (the development
   * exception is refused while it is not loopback, as the server refuses it). Default: `issuer`.
   */
  providerIssuer?: string | undefined;
  /**
   * What the provider supports. Default: what `createCimd(...).configure({})` derives (oidc-provider 9's
   * defaults plus `extraGrantTypes` / `extraResponseModes`). From a server's metadata:
   * {@link capabilitiesFromServerMetadata}.
   */
  capabilities?: ProviderCapabilities;
  /** Also check whether this redirect URI would be accepted. */
  redirectUri?: string;
  /** A guarded fetcher to use (e.g. `cimd.fetcher`); default: one built by the plugin's pipeline, then closed. */
  fetcher?: Fetcher;
  /** Fetch and check the JWK Set at the document's `jwks_uri` (URL checks only). Default true. */
  jwks?: boolean;
  /** Called before long steps (the fetches). */
  onProgress?: (message: string) => void;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const checkRow = <T>(expected: string, test: (value: unknown) => boolean): OptionRow<T> =>
  Object.freeze({ expected, test });

/** Every row of CIMD_OPTIONS, and the options of `check` itself. */
const CHECK_OPTIONS: OptionTable = Object.freeze({
  ...CIMD_OPTIONS,
  providerIssuer: checkRow<string>('an absolute URL', (v) => typeof v === 'string' && URL.canParse(v)),
  capabilities: checkRow<ProviderCapabilities>(
    'capabilities (see capabilitiesFromServerMetadata)',
    (v) =>
      isObject(v) &&
      ['grantTypes', 'responseTypes', 'responseModes', 'scopes', 'clientAuthMethods'].every(
        (name) => v[name] instanceof Set,
      ),
  ),
  redirectUri: checkRow<string>('a string', (v) => typeof v === 'string'),
  fetcher: checkRow<Fetcher>('a guarded fetcher (cimd.fetcher)', (v) => isObject(v) && typeof v.get === 'function'),
  jwks: checkRow<boolean>('a boolean', (v) => typeof v === 'boolean'),
  onProgress: checkRow<(message: string) => void>('a function', (v) => typeof v === 'function'),
});
const CHECK_DOCUMENT_OPTIONS: OptionTable = Object.freeze({
  ...CHECK_OPTIONS,
  clientId: checkRow<string>('a string', (v) => typeof v === 'string'),
});

/** A neutral issuer: no real client id is on its origin. */
export const DEFAULT_CHECK_ISSUER = 'https://authorization-server.invalid';
/** The issuer assumed with `allowLoopback` when none is given (the development exception needs a loopback one). */
export const DEFAULT_LOOPBACK_CHECK_ISSUER = 'http://localhost';

// ---------------------------------------------------------------------------------------------------------------
// Configuration: the server's own option table and composition root

interface Resolved {
  issuer: string;
  pipeline: Pipeline;
  capabilities: ProviderCapabilities;
  lifetime: LifetimeBounds;
  urlRules: (cid: string) => UrlVerdict;
  allowLoopback: boolean;
  /** Fetch jwks_uri. */
  jwks: boolean;
  /** The fetcher's limits, for the fixes. */
  limits: { timeoutMs: number; connectTimeoutMs: number };
}

/** The options of `check` itself, not the server's. */
const CHECK_ONLY_OPTIONS = new Set([
  'providerIssuer',
  'capabilities',
  'redirectUri',
  'fetcher',
  'jwks',
  'onProgress',
  'clientId',
]);

/** Validates the options as `createCimd` would; throws CimdOptionError (a TypeError) for options the server refuses. */
function resolveOptions(options: CheckOptions, table: OptionTable): Resolved {
  validateOptions(options, table);
  const server: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) {
    if (value !== undefined && !CHECK_ONLY_OPTIONS.has(name)) server[name] = value;
  }
  const allowLoopback = options.allowLoopback === true;
  server.issuer = options.issuer ?? (allowLoopback ? DEFAULT_LOOPBACK_CHECK_ISSUER : DEFAULT_CHECK_ISSUER);
  const resolved = resolveCimdOptions(server);
  const issuer = resolved.issuer as string;
  const servingIssuer = options.providerIssuer ?? issuer;
  // The server's own composition root, without the parts only a running server has (store, lock, registry).
  const pipeline = buildPipeline(resolved, {
    servingIssuer: () => servingIssuer,
    fetcher: options.fetcher,
    stateful: false,
  });
  return {
    issuer,
    pipeline,
    capabilities: options.capabilities ?? pipeline.capabilities(),
    lifetime: pipeline.lifetime,
    urlRules: pipeline.urlRules,
    allowLoopback,
    jwks: options.jwks !== false,
    limits: { timeoutMs: resolved.timeoutMs, connectTimeoutMs: resolved.connectTimeoutMs },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Stages

const URL_RULE_IDS = Object.keys(URL_RULES) as UrlRuleId[];
const DOCUMENT_RULE_IDS = Object.keys(DOCUMENT_RULES) as DocumentRuleId[];

function runUrlRules(cid: string, resolved: Resolved): { items: CheckItem[]; error?: CimdError; url?: URL } {
  const verdict = resolved.urlRules(cid);
  if (verdict.ok) {
    return {
      url: verdict.url,
      items: URL_RULE_IDS.map((rule) => ({
        stage: 'url',
        id: `url:${rule}`,
        status: 'pass',
        message: URL_RULES[rule].requires,
      })),
    };
  }
  const failure: CheckItem = {
    stage: 'url',
    id: `url:${verdict.rule}`,
    status: 'fail',
    message: verdict.message,
    code: Reason.RejectedUrl,
    rule: verdict.rule,
    fix: ruleFix(verdict.rule, cid),
  };
  // The rules run in catalogue order and stop at the first failure: the ones before it passed.
  const failedIndex = URL_RULE_IDS.indexOf(verdict.rule as UrlRuleId);
  const items: CheckItem[] = URL_RULE_IDS.map((rule, index) =>
    index === failedIndex
      ? failure
      : {
          stage: 'url',
          id: `url:${rule}`,
          status: failedIndex !== -1 && index < failedIndex ? 'pass' : 'skip',
          message: URL_RULES[rule].requires,
        },
  );
  if (failedIndex === -1) items.unshift(failure);
  return { items, error: new CimdError(Reason.RejectedUrl, verdict.message, { rule: verdict.rule }) };
}

/**
 * The trust policy, as the server applies it after the URL rules and before any fetch: a refusal is
 * `rejected:policy`; in `report` mode a would-be refusal is served and reported (`would_deny`).
 */
async function runPolicy(
  cid: string,
  url: URL,
  resolved: Resolved,
): Promise<{ items: CheckItem[]; error?: CimdError }> {
  const verdict = await resolved.pipeline.policy(cid, url);
  if (!verdict.allowed) {
    return {
      items: [
        {
          stage: 'policy',
          id: 'policy:admission',
          status: 'fail',
          message: verdict.reason,
          code: Reason.RejectedPolicy,
          fix: 'the deployment must admit this client (policy.allow, policy.decide) and not deny it (policy.deny)',
        },
      ],
      error: new CimdError(Reason.RejectedPolicy, verdict.reason),
    };
  }
  if (verdict.wouldDeny !== undefined) {
    return {
      items: [
        {
          stage: 'policy',
          id: 'policy:admission',
          status: 'warn',
          message: `served in report mode, but policy.admission 'allowlist' would refuse it: ${verdict.wouldDeny}`,
          code: Reason.WouldDeny,
          fix: 'add the client to policy.allow before switching policy.admission to allowlist',
        },
      ],
    };
  }
  return {
    items: [{ stage: 'policy', id: 'policy:admission', status: 'pass', message: 'the trust policy admits the client' }],
  };
}

function fetchFix(error: CimdError, step: FetchStepId, resolved: Resolved, stage: 'fetch' | 'jwks'): string {
  const { timeoutMs, connectTimeoutMs } = resolved.limits;
  switch (step) {
    case 'connect':
      if (error.code === Reason.RejectedTimeout) {
        return `answer within the time limit (${timeoutMs / 1000} s, connecting within ${connectTimeoutMs / 1000} s); bot protection that stalls server requests has the same effect`;
      }
      if (error.code === Reason.RejectedAddress) {
        return resolved.allowLoopback
          ? 'the host must resolve only to public (or, in development, loopback) addresses'
          : 'the host must resolve only to public unicast addresses; for local development use the development exception (allowLoopback, cimd check --allow-loopback)';
      }
      return 'make the host reachable over https with a certificate that verifies (a private CA must be trusted: ca option, cimd check --ca)';
    case 'status': {
      const status = error.response?.status ?? 0;
      if (status >= 300 && status < 400) {
        return 'serve the document at the URL itself with 200: redirects are never followed';
      }
      if (status === 401 || status === 403 || status === 429 || status === 503) {
        return 'answer server-side requests with 200; bot protection or rate limiting blocks the server (or pin the client on the server)';
      }
      return 'serve it with status 200 at exactly this URL';
    }
    case 'encoding':
      return 'serve it uncompressed (no Content-Encoding): the server asks for identity';
    case 'content_type':
      return 'serve it as Content-Type: application/json (an HTML page here is usually bot protection)';
    case 'size':
      if (error.code === Reason.RejectedTimeout) {
        return `send the whole body within the time limit (${timeoutMs / 1000} s)`;
      }
      if (error.code !== Reason.RejectedSize) return 'send the whole body: the connection broke while it was read';
      return stage === 'jwks'
        ? `keep the JWK Set under the size limit (${error.details.limit} bytes): publish only the keys in use`
        : `keep it under the size limit (${error.details.limit} bytes): drop unused members, move keys to jwks_uri`;
  }
}

/** Every step passed: what each found. */
function passedStepItems(stage: 'fetch' | 'jwks', response: FetchResult): CheckItem[] {
  const found: Record<FetchStepId, string> = {
    connect: 'host resolves to allowed addresses only and TLS verifies',
    status: `status ${response.status}`,
    encoding: 'no content-encoding',
    content_type: `content-type ${response.headers['content-type'] ?? '(none)'}`,
    size: `${response.body.length} bytes`,
  };
  return FETCH_STEP_LIST.map((step) => ({ stage, id: `${stage}:${step.id}`, status: 'pass', message: found[step.id] }));
}

/**
 * The fetcher's steps, in its order (fetch/steps.ts): the ones before the failed step passed, the failed one is
 * placed by the error's `details.step` (never by its message), the ones after it were not reached.
 */
function failedStepItems(stage: 'fetch' | 'jwks', error: CimdError, resolved: Resolved): CheckItem[] {
  const failed = failedStep(error) ?? 'connect';
  const failedIndex = FETCH_STEP_LIST.findIndex((step) => step.id === failed);
  return FETCH_STEP_LIST.map((step, index): CheckItem => {
    if (index === failedIndex) {
      return {
        stage,
        id: `${stage}:${step.id}`,
        status: 'fail',
        message: error.message,
        code: error.code,
        ...(error.rule ? { rule: error.rule } : {}),
        fix: fetchFix(error, step.id, resolved, stage),
      };
    }
    return { stage, id: `${stage}:${step.id}`, status: index < failedIndex ? 'pass' : 'skip', message: step.requires };
  });
}

const asCimdError = (cause: unknown): CimdError =>
  isCimdError(cause) ? cause : new CimdError(Reason.RejectedNetwork, String(cause), { cause });

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
  const items: CheckItem[] = passedStepItems('fetch', response);

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
    return {
      ok: true,
      result: validateDocument(body, cid, resolved.capabilities, resolved.pipeline.documentRules),
    };
  } catch (error) {
    if (isCimdError(error)) return { ok: false, error };
    throw error;
  }
}

/** After these, nothing else can be judged: there is no object to read. */
const FATAL_DOCUMENT_RULES: ReadonlySet<RuleId | undefined> = new Set(['json', 'duplicate_member', 'not_object']);

/**
 * Repairs `doc` (in place) so that the rule that failed passes, to let the next run reach later rules.
 * Returns false when there is nothing sensible to repair. Each repair removes or corrects what the rule
 * named; it never adds a value that could make a later rule pass by accident, except placeholders for the
 * two members every rule run needs (`client_id`, `client_name`).
 */
function repair(doc: Record<string, unknown>, rule: RuleId | undefined, cid: string): boolean {
  if (rule === undefined) return false;
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
    if (!single.ok && single.error.rule === 'redirect_uris') offending.push({ uri, message: single.error.message });
  }
  return offending;
}

function documentFailure(error: CimdError, cid: string, message = error.message): CheckItem {
  return {
    stage: 'document',
    id: `document:${error.rule ?? 'document'}`,
    status: 'fail',
    message,
    code: error.code,
    ...(error.rule ? { rule: error.rule, fix: ruleFix(error.rule, cid) } : { fix: 'fix the member named by the rule' }),
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
    for (const rule of DOCUMENT_RULE_IDS) {
      const failures = failed.filter((item) => item.rule === rule);
      if (failures.length > 0) items.push(...failures);
      else {
        items.push({
          stage: 'document',
          id: `document:${rule}`,
          status: reachedEnd ? 'pass' : 'skip',
          message: DOCUMENT_RULES[rule].requires,
        });
      }
    }
    // A document rule reports only catalogue ids (the type says so); anything else still shows up.
    for (const item of failed) if (!DOCUMENT_RULE_IDS.includes(item.rule as DocumentRuleId)) items.push(item);
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

  if (FATAL_DOCUMENT_RULES.has(firstError.rule)) {
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
      repaired = repair(doc, error.rule, cid);
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

// ---------------------------------------------------------------------------------------------------------------
// jwks_uri: one guarded fetch, with the fetcher and limits the provider's own fetch of it uses

const jwksItem = (
  rule: 'jwks_set' | 'jwks_public',
  status: CheckStatus,
  message: string,
  extra: Partial<CheckItem> = {},
): CheckItem => ({
  stage: 'jwks',
  id: `jwks:${rule}`,
  status,
  message,
  ...extra,
});

async function jwksStage(
  uri: string,
  cid: string,
  resolved: Resolved,
  onProgress: ((message: string) => void) | undefined,
): Promise<{ items: CheckItem[]; summary: JwksSummary; error?: CimdError }> {
  let response: FetchResult;
  onProgress?.(`fetching ${uri}`);
  try {
    // oidc-provider reads jwks_uri through the plugin's fetch hook: the same guarded fetcher and address policy,
    // and the same body cap (DEFAULT_FETCH_MAX_BODY_BYTES). It does not look at the content type, so neither
    // does this check: JSON.parse below decides, as it does on the server.
    response = await resolved.pipeline.fetcher.get(uri, {
      accept: 'application/jwk-set+json, application/json',
      maxBytes: DEFAULT_FETCH_MAX_BODY_BYTES,
      contentType: () => true,
    });
  } catch (cause) {
    const error = asCimdError(cause);
    return {
      items: [
        ...failedStepItems('jwks', error, resolved),
        jwksItem('jwks_set', 'skip', JWKS_RULES.jwks_set.requires),
        jwksItem('jwks_public', 'skip', JWKS_RULES.jwks_public.requires),
      ],
      summary: { uri, ok: false },
      error,
    };
  }
  const items = passedStepItems('jwks', response);
  let value: unknown;
  try {
    value = JSON.parse(response.body.toString('utf8'));
  } catch {
    value = undefined;
  }
  const problem =
    value === undefined
      ? { kind: 'shape' as const, message: 'the JWK Set at jwks_uri is not JSON', member: 'jwks_uri', expected: 'JSON' }
      : jwkSetProblem(value, 'the JWK Set at jwks_uri');
  const keys = Array.isArray((value as { keys?: unknown } | undefined)?.keys)
    ? (value as { keys: unknown[] }).keys
    : undefined;
  const summary: JwksSummary = {
    uri,
    ok: problem === undefined,
    ...(keys
      ? {
          keys: keys.length,
          keyTypes: [...new Set(keys.map((key) => (isObject(key) && typeof key.kty === 'string' ? key.kty : '?')))],
        }
      : {}),
  };
  if (!problem) {
    items.push(jwksItem('jwks_set', 'pass', `${keys?.length ?? 0} ${keys?.length === 1 ? 'key' : 'keys'}`));
    items.push(jwksItem('jwks_public', 'pass', JWKS_RULES.jwks_public.requires));
    return { items, summary };
  }
  const rule = problem.kind === 'private' ? 'jwks_public' : 'jwks_set';
  const code = problem.kind === 'private' ? Reason.RejectedSecret : Reason.RejectedDocument;
  const error = new CimdError(code, problem.message, {
    rule,
    details: { member: problem.member, expected: problem.expected },
  });
  items.push(
    rule === 'jwks_set'
      ? jwksItem('jwks_set', 'fail', problem.message, { code, rule, fix: ruleFix(rule, cid) })
      : jwksItem('jwks_set', 'pass', JWKS_RULES.jwks_set.requires),
  );
  items.push(
    rule === 'jwks_public'
      ? jwksItem('jwks_public', 'fail', problem.message, { code, rule, fix: ruleFix(rule, cid) })
      : jwksItem('jwks_public', 'skip', JWKS_RULES.jwks_public.requires),
  );
  return { items, summary, error };
}

// ---------------------------------------------------------------------------------------------------------------
// The report

function finish(
  report: Omit<CheckReport, 'accepted' | 'rejection'>,
  firstError: { stage: CheckStage; error: CimdError } | undefined,
): CheckReport {
  const failed = report.checks.find((item) => item.status === 'fail');
  const accepted = failed === undefined;
  const rejection: CheckReport['rejection'] = accepted
    ? undefined
    : firstError
      ? {
          stage: firstError.stage,
          code: firstError.error.code,
          rule: firstError.error.rule,
          publicMessage: firstError.error.publicMessage,
        }
      : { stage: failed.stage, code: failed.code, rule: failed.rule, publicMessage: undefined };
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
 * headers and the document rules, and, when the document names a `jwks_uri`, one guarded fetch of it and the
 * JWK Set rules. Never throws for a rejected client (that is a report with `accepted: false`); throws
 * CimdOptionError (a TypeError, `code: 'CIMD_INVALID_OPTION'`) for options the server itself would refuse.
 */
export async function checkClientId(clientId: string, options: CheckOptions = {}): Promise<CheckReport> {
  const resolved = resolveOptions(options, CHECK_OPTIONS);
  try {
    return await checkResolved(clientId, options, resolved);
  } finally {
    await resolved.pipeline.close();
  }
}

async function checkResolved(clientId: string, options: CheckOptions, resolved: Resolved): Promise<CheckReport> {
  const now = options.now ?? Date.now;
  const checks: CheckItem[] = [];
  const base = { clientId, source: 'url' as const, issuer: resolved.issuer };
  const redirectRejected =
    options.redirectUri !== undefined ? { redirectUri: { uri: options.redirectUri, accepted: false } } : {};

  const url = runUrlRules(clientId, resolved);
  checks.push(...url.items);
  if (url.error || !url.url) {
    checks.push(skipStage('fetch', 'not fetched: the client_id URL is rejected before any network activity'));
    checks.push(skipStage('document', 'not checked'));
    if (options.redirectUri !== undefined) checks.push(redirectItem(options.redirectUri, undefined).item);
    return finish({ ...base, checks, ...redirectRejected }, url.error ? { stage: 'url', error: url.error } : undefined);
  }

  const admitted = await runPolicy(clientId, url.url, resolved);
  checks.push(...admitted.items);
  if (admitted.error) {
    checks.push(
      skipStage('fetch', 'not fetched: the trust policy refuses the client_id (denied ids are never fetched)'),
    );
    checks.push(skipStage('document', 'not checked'));
    if (options.redirectUri !== undefined) checks.push(redirectItem(options.redirectUri, undefined).item);
    return finish({ ...base, checks, ...redirectRejected }, { stage: 'policy', error: admitted.error });
  }

  let response: FetchResult;
  try {
    options.onProgress?.(`fetching ${clientId}`);
    response = await resolved.pipeline.fetcher.fetchDocument(clientId);
  } catch (cause) {
    const error = asCimdError(cause);
    checks.push(...failedStepItems('fetch', error, resolved));
    checks.push(skipStage('document', 'not checked: the document could not be retrieved'));
    if (options.redirectUri !== undefined) checks.push(redirectItem(options.redirectUri, undefined).item);
    return finish({ ...base, checks, ...redirectRejected }, { stage: 'fetch', error });
  }

  const fetched = fetchSuccessItems(response, resolved, now());
  checks.push(...fetched.items);
  const doc = documentStages(response.body, clientId, resolved, options.redirectUri);
  checks.push(...doc.items);

  let jwks: Awaited<ReturnType<typeof jwksStage>> | undefined;
  const jwksUri = doc.client?.metadata.jwks_uri;
  if (typeof jwksUri === 'string' && resolved.jwks) {
    jwks = await jwksStage(jwksUri, clientId, resolved, options.onProgress);
    checks.push(...jwks.items);
  }
  const firstError = doc.firstError
    ? { stage: 'document' as const, error: doc.firstError }
    : jwks?.error
      ? { stage: 'jwks' as const, error: jwks.error }
      : undefined;
  return finish(
    {
      ...base,
      checks,
      response: fetched.summary,
      ...(doc.client ? { client: doc.client } : {}),
      ...(doc.redirect ? { redirectUri: doc.redirect } : {}),
      ...(jwks ? { jwks: jwks.summary } : {}),
    },
    firstError,
  );
}

/**
 * Checks a document without fetching it: the URL rules on the client_id it will be served from, and the
 * document rules. Without `clientId`, the document's own `client_id` is used (and the match is not checked).
 * Nothing is fetched, `jwks_uri` included.
 */
export function checkDocument(
  body: string | Uint8Array,
  options: CheckOptions & { clientId?: string } = {},
): CheckReport {
  const resolved = resolveOptions(
    { ...options, ...(options.fetcher ? {} : { fetcher: NO_NETWORK }) },
    CHECK_DOCUMENT_OPTIONS,
  );
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
  if (typeof doc.client?.metadata.jwks_uri === 'string') {
    checks.push(skipStage('jwks', 'jwks_uri not fetched: checking a local document (check the URL to fetch it)'));
  }
  return finish(
    {
      ...base,
      checks,
      ...(doc.client ? { client: doc.client } : {}),
      ...(doc.redirect ? { redirectUri: doc.redirect } : {}),
    },
    url.error
      ? { stage: 'url', error: url.error }
      : doc.firstError
        ? { stage: 'document', error: doc.firstError }
        : undefined,
  );
}

/** `checkDocument` never touches the network: a fetcher that refuses, so that the pipeline builds none. */
const NO_NETWORK: Fetcher = Object.freeze({
  fetchDocument: () => Promise.reject(new Error('checkDocument does not fetch')),
  get: () => Promise.reject(new Error('checkDocument does not fetch')),
  fetch: () => Promise.reject(new Error('checkDocument does not fetch')),
  close: async () => {},
});

export { CimdOptionError };
