import type { RuleId } from './catalogue.js';

/**
 * Stable reason codes. They appear in events, in `CimdError.code` and in docs/reason-codes.md; renaming one is a
 * breaking change.
 */
export const Reason = {
  Fetched: 'fetched',
  CacheHit: 'cache_hit',
  Revalidated: 'revalidated',
  StaleIfError: 'stale_if_error',
  /** Transport fallback (option `transportFallbackMs`): the last valid copy, served past its lifetime. */
  StaleFallback: 'stale_fallback',
  /** Over the fetch budget, a client that validated before is served its last valid copy instead of an error. */
  StaleOverBudget: 'stale_over_budget',
  /** A 404 or 410 answered the refresh of a client that had a valid copy: the copy is gone, on every instance. */
  Revoked: 'revoked',
  /** A fetch oidc-provider made for a CIMD client (its `jwks_uri`, `sector_identifier_uri`) failed. */
  ClientFetchFailed: 'client_fetch_failed',
  /**
   * A CIMD client's `jwks_uri` could not be fetched (network, status, budget, not a JSON Web Key Set) and no last
   * good key set could stand in: the token request that needed it fails with `invalid_client`.
   */
  JwksFetchFailed: 'jwks_fetch_failed',
  /** A refetch of a CIMD client's `jwks_uri` failed, and its last good key set is served (bounded: cache/keysets.ts). */
  JwksStale: 'jwks_stale',
  /** `report` admission mode: a client that `allowlist` mode would refuse was served. */
  WouldDeny: 'would_deny',
  /** A CIMD client authenticated with a JWT without the explicit `typ` of SPEC.clientAuthentication (accepted by default). */
  ClientAssertionUntyped: 'client_assertion_untyped',
  /** A CIMD client's authentication JWT was refused for its `typ` (see the `clientAssertionTyp` option). */
  RejectedClientAssertionTyp: 'rejected:client_assertion_typ',
  RejectedUrl: 'rejected:url',
  RejectedAddress: 'rejected:address',
  RejectedNetwork: 'rejected:network',
  RejectedTimeout: 'rejected:timeout',
  RejectedStatus: 'rejected:status',
  RejectedContentType: 'rejected:content_type',
  RejectedEncoding: 'rejected:encoding',
  RejectedSize: 'rejected:size',
  RejectedJson: 'rejected:json',
  RejectedClientIdMismatch: 'rejected:client_id_mismatch',
  RejectedSecret: 'rejected:secret',
  RejectedDocument: 'rejected:document',
  /**
   * The document is valid, but this server supports none of its token endpoint auth methods
   * (SPEC.clientAuthentication): the provider answers `unauthorized_client`.
   */
  UnauthorizedClient: 'rejected:unauthorized_client',
  RejectedPolicy: 'rejected:policy',
  RateLimited: 'rate_limited',
  /** Audit events of the operator API. */
  OperatorPin: 'operator:pin',
  OperatorUnpin: 'operator:unpin',
  OperatorRefresh: 'operator:refresh',
  OperatorPurge: 'operator:purge',
} as const;

/**
 * Events about the shared store itself, not about a client (docs/caching.md): reported once when it
 * stops answering and once when it answers again, not per request. Their `cid` is empty.
 */
export const StoreState = {
  Down: 'store:down',
  Up: 'store:up',
} as const;

export type ReasonCode = (typeof Reason)[keyof typeof Reason] | (typeof StoreState)[keyof typeof StoreState];

/**
 * The class of a failed fetch, decided once where it happened (resolve/failure.ts) and carried through the
 * cluster lock's outcome and the back-off, so that every answer that depends on it gets the same verdict.
 */
export type FailureClass = 'transport' | 'refused' | 'revoked' | 'invalid' | 'limited';
export type RejectionCode = Extract<ReasonCode, `rejected:${string}` | 'rate_limited' | 'revoked'>;

/** Failures of retrieval: the user sees one uniform sentence for all of them. */
const RETRIEVAL_CODES: ReadonlySet<ReasonCode> = new Set([
  Reason.RejectedAddress,
  Reason.RejectedNetwork,
  Reason.RejectedTimeout,
  Reason.RejectedStatus,
  Reason.RejectedContentType,
  Reason.RejectedEncoding,
  Reason.RejectedSize,
  Reason.Revoked,
]);

/** What a refused response said about itself. */
export interface HttpResponseFacts {
  status: number;
  /** The media type, lower case, without parameters; undefined when absent. */
  mediaType: string | undefined;
}

/** Structured data of a {@link CimdError}; every member is optional. */
export interface CimdErrorDetails {
  /** The document member (or the path inside it, e.g. `jwks.keys[0].n`) the failure is about. */
  readonly member?: string;
  /** The offending value, when it is safe to show (never key material, never a resolved address). */
  readonly value?: unknown;
  /** What the rule expected, as a short phrase (`an https URL`, `absent`, `a non-negative integer`). */
  readonly expected?: string;
  /** Fetch failures: the step of the fetch that failed (`FetchStepId` of fetch/steps.ts). */
  readonly step?: string;
  /** Size failures: the limit, in bytes. */
  readonly limit?: number;
}

export const PUBLIC_RETRIEVAL_MESSAGE = 'client metadata document could not be retrieved';

/**
 * Every failure of the plugin is a CimdError. `message` is the precise, internal reason (it may name
 * addresses and is meant for events and logs); `publicMessage` is what a user may be shown.
 */
export class CimdError extends Error {
  override readonly name = 'CimdError';
  readonly code: RejectionCode;
  /** Which rule failed (an id of the catalogue in core/catalogue.ts), e.g. `redirect_uris`. Safe to show. */
  readonly rule: RuleId | undefined;
  /**
   * What failed, as data (never parse `message`): the member and the value concerned, what was expected, and
   * for fetch failures the step of the fetch (`connect`, `status`, ...) and the limit. Empty when there is
   * nothing to add to `code`, `rule` and `response`. `value` may hold client-supplied text: escape it for HTML.
   */
  readonly details: CimdErrorDetails;
  /**
   * For a response that was not accepted (`rejected:status`, `rejected:content_type`): its status and media
   * type. Revocation (404/410) and the transport fallback (5xx, 429, 3xx, a non-JSON 403/503 challenge page) are
   * decided from these, never from the message.
   */
  readonly response: HttpResponseFacts | undefined;

  constructor(
    code: RejectionCode,
    message: string,
    options: {
      rule?: RuleId | undefined;
      cause?: unknown;
      response?: HttpResponseFacts;
      details?: CimdErrorDetails;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.rule = options.rule;
    this.response = options.response;
    this.details = Object.freeze({ ...options.details });
  }

  /** The uniform, non-revealing description of SPEC.ssrf: never addresses, never internals. */
  get publicMessage(): string {
    if (RETRIEVAL_CODES.has(this.code)) return PUBLIC_RETRIEVAL_MESSAGE;
    if (this.code === Reason.RateLimited) return 'client metadata document retrieval is temporarily rate limited';
    if (this.code === Reason.RejectedPolicy) return 'client is not allowed by this authorization server';
    if (this.code === Reason.RejectedUrl) return 'client_id is not a valid client metadata document URL';
    if (this.code === Reason.UnauthorizedClient) {
      return 'this server supports none of the token endpoint auth methods of the client metadata document';
    }
    return `client metadata document is invalid: ${this.rule ?? 'document'}`;
  }
}

export const isCimdError = (value: unknown): value is CimdError => value instanceof CimdError;

/** Why an operator command did not take effect. Stable codes. */
export type OperatorCommitCode = 'CIMD_COMMIT_SUPERSEDED' | 'CIMD_COMMIT_UNCONFIRMED';

/**
 * An operator command (`pin`, `unpin`, `purge`, `refresh`) that did not take effect in the shared store:
 * `CIMD_COMMIT_SUPERSEDED` when another command changed the entry first (e.g. a purge while a refresh was
 * fetching), `CIMD_COMMIT_UNCONFIRMED` when the store did not confirm the write (down, read-only during a
 * failover, timed out). An operator command never reports success unless the shared store holds its result.
 */
export class OperatorCommitError extends Error {
  override readonly name = 'OperatorCommitError';
  readonly code: OperatorCommitCode;
  readonly command: 'pin' | 'unpin' | 'purge' | 'refresh';
  readonly cid: string;

  constructor(code: OperatorCommitCode, command: OperatorCommitError['command'], cid: string) {
    const what = command === 'pin' ? `the pinned entry for ${cid}` : `the ${command} of ${cid}`;
    super(
      code === 'CIMD_COMMIT_SUPERSEDED'
        ? `oidc-provider-cimd: ${what} was superseded: another operator command changed the entry first`
        : `oidc-provider-cimd: the shared store did not confirm ${what}; do not rely on it having changed`,
    );
    this.code = code;
    this.command = command;
    this.cid = cid;
  }
}
