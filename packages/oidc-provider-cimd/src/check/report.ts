/**
 * The report of `check`: its types (what `checkClientId` and `checkDocument` return, what `cimd check --json`
 * prints) and how the first failure becomes the rejection.
 */

import type { RuleId } from '../core/catalogue.js';
import type { CimdError, ReasonCode } from '../core/errors.js';
import type { NormalisedDocument } from '../rules/document.js';

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

// ---------------------------------------------------------------------------------------------------------------
// The report

export function finish(
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

export const skipStage = (stage: CheckStage, message: string): CheckItem => ({
  stage,
  id: `${stage}:not_checked`,
  status: 'skip',
  message,
});
