/**
 * The ordered steps of a guarded fetch (SPEC.discovery; RFC 9110 for the
 * status, content coding and media type). The fetcher applies them in exactly this order, and `cimd check`
 * reports them in this order: a response failing two steps is rejected at the first one listed here, and the
 * report says so. Reordering this list reorders both.
 *
 * `connect` (name resolution, the address policy on every address and on the peer, TLS) happens in the
 * connector; the response steps are the `check` functions below, run by the fetcher on the response head; the
 * `size` step continues while the body streams.
 */
import { CimdError, type CimdErrorDetails, Reason, type RejectionCode } from '../core/errors.js';

export type FetchStepId = 'connect' | 'status' | 'encoding' | 'content_type' | 'size';

/** What the response steps look at: the head of the response, before any of the body is read. */
export interface ResponseHead {
  status: number;
  /** Lower-case names. */
  headers: Readonly<Record<string, string>>;
  /** The media type, lower case, without parameters ('' when absent). */
  mediaType: string;
  /** Whether the caller accepts this media type (documents: JSON; logos: images). */
  acceptsMediaType: (mediaType: string) => boolean;
  /** Body cap, bytes. */
  maxBytes: number;
}

export interface FetchStep {
  readonly id: FetchStepId;
  /** What the step requires, as one line. */
  readonly requires: string;
  /** The reason codes a failure at this step carries. */
  readonly codes: readonly RejectionCode[];
  /** Response steps: the failure, or undefined when the head passes. `connect` has none (the connector is it). */
  readonly check?: (head: ResponseHead) => CimdError | undefined;
}

const failure = (
  code: RejectionCode,
  message: string,
  step: FetchStepId,
  head: ResponseHead,
  details: CimdErrorDetails,
) =>
  new CimdError(code, message, {
    response: { status: head.status, mediaType: head.mediaType || undefined },
    details: { ...details, step },
  });

export const FETCH_STEPS: readonly FetchStep[] = Object.freeze([
  {
    id: 'connect',
    requires: 'host resolves to allowed addresses only and TLS verifies',
    codes: [Reason.RejectedAddress, Reason.RejectedNetwork, Reason.RejectedTimeout],
  },
  {
    // Only 200 is success; a redirect is never followed (SPEC.discovery).
    id: 'status',
    requires: 'status 200, no redirect',
    codes: [Reason.RejectedStatus],
    check: (head) =>
      head.status === 200
        ? undefined
        : failure(Reason.RejectedStatus, `unexpected status ${head.status}`, 'status', head, {
            value: head.status,
            expected: '200',
          }),
  },
  {
    // A compressed body could inflate far beyond the size cap; identity is asked for, and only it is accepted.
    id: 'encoding',
    requires: 'no content-encoding',
    codes: [Reason.RejectedEncoding],
    check: (head) => {
      const encoding = head.headers['content-encoding']?.trim().toLowerCase();
      return encoding && encoding !== 'identity'
        ? failure(Reason.RejectedEncoding, `content-encoding ${encoding} is not accepted`, 'encoding', head, {
            value: encoding,
            expected: 'identity',
          })
        : undefined;
    },
  },
  {
    id: 'content_type',
    requires: 'a JSON media type (application/json or application/*+json)',
    codes: [Reason.RejectedContentType],
    check: (head) =>
      head.acceptsMediaType(head.mediaType)
        ? undefined
        : failure(
            Reason.RejectedContentType,
            `content-type ${JSON.stringify(head.mediaType)} is not accepted`,
            'content_type',
            head,
            { value: head.mediaType, expected: 'application/json' },
          ),
  },
  {
    // Checked on content-length here, and again while the body streams (the fetcher counts the bytes).
    id: 'size',
    requires: 'within the size limit',
    codes: [Reason.RejectedSize],
    check: (head) => {
      const declared = head.headers['content-length'];
      return declared !== undefined && Number(declared) > head.maxBytes
        ? failure(Reason.RejectedSize, `content-length ${declared} exceeds ${head.maxBytes} bytes`, 'size', head, {
            value: Number(declared),
            limit: head.maxBytes,
          })
        : undefined;
    },
  },
] satisfies FetchStep[]);

/** The body outgrew the cap while streaming: still the `size` step. */
export const bodyTooLarge = (maxBytes: number): CimdError =>
  new CimdError(Reason.RejectedSize, `body exceeds ${maxBytes} bytes`, { details: { step: 'size', limit: maxBytes } });

/** The error, marked with the step it happened at unless it already names one. */
export function atStep(error: CimdError, step: FetchStepId): CimdError {
  if (error.details.step !== undefined) return error;
  return new CimdError(error.code, error.message, {
    rule: error.rule,
    ...(error.response ? { response: error.response } : {}),
    details: { ...error.details, step },
    cause: error.cause ?? error,
  });
}

/** The step a fetch failure happened at (undefined for an error that is not from the fetcher). */
export const failedStep = (error: CimdError): FetchStepId | undefined =>
  FETCH_STEPS.find((step) => step.id === error.details.step)?.id;
