/**
 * The JWK Set at `jwks_uri`: one guarded fetch and the JWK Set rules.
 */

import { JWKS_RULES, ruleFix } from '../core/catalogue.js';
import { CimdError, Reason } from '../core/errors.js';
import { DEFAULT_FETCH_MAX_BODY_BYTES, type FetchResult } from '../fetch/fetcher.js';
import { jwkSetProblem } from '../rules/jwks.js';
import { asCimdError, failedStepItems, passedStepItems } from './fetch-stage.js';
import { isObject, type Resolved } from './options.js';
import type { CheckItem, CheckStatus, JwksSummary } from './report.js';

// jwks_uri: one guarded fetch, with the fetcher and limits the provider's own fetch of it uses

export const jwksItem = (
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

export async function jwksStage(
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
