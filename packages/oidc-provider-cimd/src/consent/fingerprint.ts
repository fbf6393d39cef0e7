/**
 * The security-relevant parts of a client's metadata (SPEC.changedMetadata): where it may send the user back to, how it
 * authenticates, and which keys it authenticates with. A change in any of them since a user's grant means the
 * user is asked again.
 */
import { createHash } from 'node:crypto';

export interface SecurityParts {
  /** Sorted and de-duplicated: order carries no security meaning. */
  redirect_uris: string[];
  token_endpoint_auth_method: string;
  /** The `jwks_uri` as written, when there is one. */
  jwks_uri?: string;
  /** sha256 (base64url) of the canonical JSON of the inline `jwks` keys, when there are any. */
  jwks?: string;
}

/** One security-relevant difference between the document a user approved and the current one. */
export type ClientChange =
  | { field: 'redirect_uris'; added: string[]; removed: string[] }
  | { field: 'token_endpoint_auth_method'; from: string; to: string }
  | { field: 'keys'; from: string; to: string };

/** JSON with object members sorted by name at every level; arrays keep their order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const members = Object.keys(value as Record<string, unknown>)
    .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
  return `{${members.join(',')}}`;
}

const sha256 = (text: string, encoding: 'hex' | 'base64url' = 'base64url') =>
  createHash('sha256').update(text).digest(encoding);

/** Picks the security-relevant parts out of client metadata (snake_case, as oidc-provider's `metadata()`). */
export function securityParts(metadata: Readonly<Record<string, unknown>>): SecurityParts {
  const uris = Array.isArray(metadata.redirect_uris)
    ? metadata.redirect_uris.filter((uri): uri is string => typeof uri === 'string')
    : [];
  const parts: SecurityParts = {
    redirect_uris: [...new Set(uris)].sort(),
    token_endpoint_auth_method:
      typeof metadata.token_endpoint_auth_method === 'string' ? metadata.token_endpoint_auth_method : 'none',
  };
  if (typeof metadata.jwks_uri === 'string') parts.jwks_uri = metadata.jwks_uri;
  const keys = (metadata.jwks as { keys?: unknown } | undefined)?.keys;
  if (Array.isArray(keys) && keys.length > 0) {
    // Key order carries no meaning either.
    parts.jwks = sha256(`[${keys.map(canonicalJson).sort().join(',')}]`);
  }
  return parts;
}

/** sha256 (hex) of the canonical JSON of the parts. */
export function fingerprint(parts: SecurityParts): string {
  return sha256(canonicalJson(parts), 'hex');
}

function describeKeys(parts: SecurityParts): string {
  if (parts.jwks_uri) return `keys published at ${parts.jwks_uri}`;
  if (parts.jwks) return `inline keys (${parts.jwks.slice(0, 12)}…)`;
  return 'no keys';
}

/** What changed from `before` (the approved document) to `after` (the current one); empty when nothing did. */
export function diffParts(before: SecurityParts, after: SecurityParts): ClientChange[] {
  const changes: ClientChange[] = [];
  const was = new Set(before.redirect_uris);
  const is = new Set(after.redirect_uris);
  const added = after.redirect_uris.filter((uri) => !was.has(uri));
  const removed = before.redirect_uris.filter((uri) => !is.has(uri));
  if (added.length || removed.length) changes.push({ field: 'redirect_uris', added, removed });
  if (before.token_endpoint_auth_method !== after.token_endpoint_auth_method) {
    changes.push({
      field: 'token_endpoint_auth_method',
      from: before.token_endpoint_auth_method,
      to: after.token_endpoint_auth_method,
    });
  }
  if (before.jwks_uri !== after.jwks_uri || before.jwks !== after.jwks) {
    changes.push({ field: 'keys', from: describeKeys(before), to: describeKeys(after) });
  }
  return changes;
}

export function isSecurityParts(value: unknown): value is SecurityParts {
  if (value === null || typeof value !== 'object') return false;
  const parts = value as Partial<SecurityParts>;
  return (
    Array.isArray(parts.redirect_uris) &&
    parts.redirect_uris.every((uri) => typeof uri === 'string') &&
    typeof parts.token_endpoint_auth_method === 'string' &&
    (parts.jwks_uri === undefined || typeof parts.jwks_uri === 'string') &&
    (parts.jwks === undefined || typeof parts.jwks === 'string')
  );
}
