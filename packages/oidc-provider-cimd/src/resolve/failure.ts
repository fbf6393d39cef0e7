/**
 * The class of a failed lookup, decided once, where the failure happened, and carried from there through the
 * cluster lock's outcome and the back-off (docs/caching.md "Revocation, stale copies and the transport fallback"), so
 * that every answer depending on it gets the same verdict:
 * - `transport`: network errors and timeouts, 5xx, 429, a redirect, a challenge page (403/503 with a non-JSON
 *   body). The origin's stale-if-error and the operator's transport fallback may answer it.
 * - `refused`: any other response the fetch refused (a wrong content type, too large, a refused address, another
 *   4xx). Only the origin's own stale-if-error may answer it.
 * - `revoked`: a 404 or 410 from the origin. Authoritative: never answered with a stale copy.
 * - `invalid`: the document failed the document rules. Never answered with a stale copy, in the back-off too.
 * - `limited`: no fetch happened (over budget). Not a failure of the client: no back-off.
 */
import { type CimdError, type FailureClass, Reason } from '../core/errors.js';

export type { FailureClass };

const isTransportStatus = (status: number) => status >= 500 || status === 429 || (status >= 300 && status < 400);
const isJsonType = (type: string | undefined) =>
  type !== undefined && (type === 'application/json' || /^application\/[^/]+\+json$/.test(type));

/** The class of a failed fetch (`stage: 'fetch'`) or of a document that failed the rules (`'document'`). */
export function failureClass(error: CimdError, stage: 'fetch' | 'document' = 'fetch'): FailureClass {
  if (stage === 'document') return 'invalid';
  if (error.code === Reason.Revoked) return 'revoked';
  if (error.code === Reason.RateLimited) return 'limited';
  if (error.code === Reason.RejectedNetwork || error.code === Reason.RejectedTimeout) return 'transport';
  const response = error.response;
  if (!response) return 'refused';
  if (response.status === 404 || response.status === 410) return 'revoked';
  if (isTransportStatus(response.status)) return 'transport';
  if ((response.status === 403 || response.status === 503) && !isJsonType(response.mediaType)) return 'transport';
  return 'refused';
}

/** Whether a stale copy may answer a failure of this class: `fallback` for the operator's transport fallback. */
export function mayServeStale(failure: FailureClass, kind: 'stale_if_error' | 'fallback'): boolean {
  if (failure === 'transport') return true;
  return kind === 'stale_if_error' && failure === 'refused';
}
