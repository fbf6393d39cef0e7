/**
 * Stable reason codes. They appear in events, in `CimdError.code` and in the README; renaming one is a
 * breaking change.
 */
export const Reason = {
  Fetched: 'fetched',
  CacheHit: 'cache_hit',
  Revalidated: 'revalidated',
  StaleIfError: 'stale_if_error',
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
   * (draft-ietf-oauth-client-id-metadata-document-03 §6): the provider answers `unauthorized_client`.
   */
  UnauthorizedClient: 'rejected:unauthorized_client',
  RejectedPolicy: 'rejected:policy',
  RateLimited: 'rate_limited',
} as const;

export type ReasonCode = (typeof Reason)[keyof typeof Reason];
export type RejectionCode = Extract<ReasonCode, `rejected:${string}` | 'rate_limited'>;

/** Failures of retrieval: the user sees one uniform sentence for all of them. */
const RETRIEVAL_CODES: ReadonlySet<ReasonCode> = new Set([
  Reason.RejectedAddress,
  Reason.RejectedNetwork,
  Reason.RejectedTimeout,
  Reason.RejectedStatus,
  Reason.RejectedContentType,
  Reason.RejectedEncoding,
  Reason.RejectedSize,
]);

export const PUBLIC_RETRIEVAL_MESSAGE = 'client metadata document could not be retrieved';

/**
 * Every failure of the plugin is a CimdError. `message` is the precise, internal reason (it may name
 * addresses and is meant for events and logs); `publicMessage` is what a user may be shown.
 */
export class CimdError extends Error {
  override readonly name = 'CimdError';
  readonly code: RejectionCode;
  /** For document rules: which rule failed, e.g. `redirect_uris`. Safe to show. */
  readonly rule: string | undefined;

  constructor(code: RejectionCode, message: string, options: { rule?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.rule = options.rule;
  }

  /** The uniform, non-revealing description of spec §3: never addresses, never internals. */
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
