/**
 * The fetch stage: the guarded fetch's ordered steps (fetch/steps.ts), placed by the structured data of the
 * CimdError, and the caching headers as the server applies them.
 */

import { CimdError, isCimdError, Reason } from '../core/errors.js';
import type { FetchResult } from '../fetch/fetcher.js';
import { FETCH_STEPS as FETCH_STEP_LIST, type FetchStepId, failedStep } from '../fetch/steps.js';
import { cachePolicy, parseCacheControl } from '../rules/http-cache.js';
import type { Resolved } from './options.js';
import type { CheckItem, ResponseSummary } from './report.js';

export function fetchFix(error: CimdError, step: FetchStepId, resolved: Resolved, stage: 'fetch' | 'jwks'): string {
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
export function passedStepItems(stage: 'fetch' | 'jwks', response: FetchResult): CheckItem[] {
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
export function failedStepItems(stage: 'fetch' | 'jwks', error: CimdError, resolved: Resolved): CheckItem[] {
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

export const asCimdError = (cause: unknown): CimdError =>
  isCimdError(cause) ? cause : new CimdError(Reason.RejectedNetwork, String(cause), { cause });

export const CACHE_HEADERS = ['cache-control', 'expires', 'date', 'age', 'etag', 'last-modified', 'vary'];

export const duration = (seconds: number): string => {
  if (seconds % 86_400 === 0 && seconds >= 86_400) return `${seconds / 86_400} d`;
  if (seconds % 3600 === 0 && seconds >= 3600) return `${seconds / 3600} h`;
  if (seconds % 60 === 0 && seconds >= 60) return `${seconds / 60} min`;
  return `${seconds} s`;
};

export function fetchSuccessItems(
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
