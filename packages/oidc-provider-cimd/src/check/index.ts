/**
 * Diagnostics for a Client ID Metadata Document, as the server would judge it: the client_id URL rules, the
 * guarded fetch, the caching rules, the document rules, and the JWK Set at `jwks_uri`, each reported as pass,
 * warning or failure with the reason code the server would emit and a one-line fix.
 *
 * Nothing here re-implements or re-derives a rule. The options are validated by the plugin's own table
 * (plugin/options.ts) and the pipeline is built by its composition root (plugin/pipeline.ts), exactly as
 * `createCimd` builds it. The rules are listed from the one catalogue of rule ids (core/catalogue.ts) and the
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

import type { CimdError } from '../core/errors.js';
import type { Fetcher, FetchResult } from '../fetch/fetcher.js';
import {
  capabilitiesFromServerMetadata,
  type ServerMetadataCapabilities,
  serverMetadataCapabilities,
} from '../plugin/capabilities.js';
import { CimdOptionError } from '../plugin/options.js';
import { runPolicy, runPolicySync, runUrlRules } from './admission.js';
import { documentStages, redirectItem } from './document-stage.js';
import { asCimdError, failedStepItems, fetchSuccessItems } from './fetch-stage.js';
import { jwksStage } from './jwks-stage.js';
import { CHECK_DOCUMENT_OPTIONS, CHECK_OPTIONS, type CheckOptions, type Resolved, resolveOptions } from './options.js';
import type { CheckItem, CheckReport } from './report.js';
import { finish, skipStage } from './report.js';

export type { DocumentRuleId, RuleId, UrlRuleId } from '../core/catalogue.js';
export { DOCUMENT_RULES, JWKS_RULES, URL_RULES } from '../core/catalogue.js';
export { FETCH_STEPS, type FetchStep, type FetchStepId } from '../fetch/steps.js';
export { type CheckOptions, DEFAULT_CHECK_ISSUER, DEFAULT_LOOPBACK_CHECK_ISSUER } from './options.js';
export type {
  CheckItem,
  CheckReport,
  CheckStage,
  CheckStatus,
  ClientSummary,
  JwksSummary,
  ResponseSummary,
} from './report.js';
export { capabilitiesFromServerMetadata, type ServerMetadataCapabilities, serverMetadataCapabilities };

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
  const url: { items: CheckItem[]; error?: CimdError; url?: URL } =
    clientId === ''
      ? { items: [skipStage('url', 'not checked: the document names no client_id (state it with --client-id)')] }
      : runUrlRules(clientId, resolved);
  checks.push(...url.items);
  const admitted = url.url ? runPolicySync(clientId, url.url, resolved) : undefined;
  if (admitted) checks.push(...admitted.items);
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
      : admitted?.error
        ? { stage: 'policy', error: admitted.error }
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
