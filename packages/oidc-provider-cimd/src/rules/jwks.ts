/**
 * The JWK Set rule, shared by inline `jwks` (document rules) and the set served at `jwks_uri` (`cimd check`).
 * Pure: no I/O.
 *
 * A client metadata document is public, so its keys must be public keys: no private members (`d`, `p`, `q`,
 * `dp`, `dq`, `qi`, `oth` of RFC 7518 §6.3.2, `priv` of AKP keys) and no symmetric `oct` keys, whose `k` is the
 * secret itself (SPEC.metadataDocument). The shape is RFC 7517 §5: an object
 * with a `keys` array of JWKs.
 */

/** JWK members that carry private (or, for `AKP`, seed) key material. */
export const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'priv', 'k'] as const;
const EC_CURVES: ReadonlySet<string> = new Set(['P-256', 'P-384', 'P-521']);
const OKP_CURVES: ReadonlySet<string> = new Set(['Ed25519', 'X25519']);

export interface JwkSetProblem {
  /** `private`: key material that must never be published; `shape`: not a usable JWK Set. */
  kind: 'private' | 'shape';
  /** One sentence, naming `label` (e.g. `jwks must not contain symmetric (oct) keys`). */
  message: string;
  /** Where: `jwks`, `jwks.keys[0].n`, ... (with `label` as the root). */
  member: string;
  /** What was expected there. */
  expected: string;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isNonEmptyString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

/**
 * The first problem of a JWK Set, or undefined when it is a set of public keys. Private material is looked for
 * first, over every key, so that a set leaking a private key is always reported as such.
 *
 * @param label how the set is named in messages: `jwks` for the inline member
 */
export function jwkSetProblem(value: unknown, label: string): JwkSetProblem | undefined {
  if (!isPlainObject(value) || !Array.isArray(value.keys)) {
    return {
      kind: 'shape',
      message: `${label} must be an object with a keys array`,
      member: label,
      expected: 'an object with a keys array',
    };
  }
  const keys: unknown[] = value.keys;
  for (const [index, key] of keys.entries()) {
    if (!isPlainObject(key)) {
      return {
        kind: 'shape',
        message: `${label} keys must be objects`,
        member: `${label}.keys[${index}]`,
        expected: 'a JWK object',
      };
    }
    if (key.kty === 'oct') {
      return {
        kind: 'private',
        message: `${label} must not contain symmetric (oct) keys`,
        member: `${label}.keys[${index}].kty`,
        expected: 'an asymmetric key type',
      };
    }
    for (const name of PRIVATE_JWK_MEMBERS) {
      if (Object.hasOwn(key, name)) {
        return {
          kind: 'private',
          message: `${label} must not contain private key material (${name})`,
          member: `${label}.keys[${index}].${name}`,
          expected: 'absent',
        };
      }
    }
  }
  for (const [index, entry] of keys.entries()) {
    const key = entry as Record<string, unknown>;
    const missing = (...names: string[]): JwkSetProblem | undefined => {
      for (const name of names) {
        if (!isNonEmptyString(key[name])) {
          return {
            kind: 'shape',
            message: `${label}.keys[${index}].${name} must be a non-empty string`,
            member: `${label}.keys[${index}].${name}`,
            expected: 'a non-empty string',
          };
        }
      }
      return undefined;
    };
    const problem =
      missing('kty') ??
      (['alg', 'kid', 'use'] as const)
        .map((name) => (key[name] !== undefined ? missing(name) : undefined))
        .find(Boolean);
    if (problem) return problem;
    if (key.x5c !== undefined && !(Array.isArray(key.x5c) && key.x5c.every(isNonEmptyString))) {
      return {
        kind: 'shape',
        message: `${label}.keys[${index}].x5c must be an array of non-empty strings`,
        member: `${label}.keys[${index}].x5c`,
        expected: 'an array of non-empty strings',
      };
    }
    let members: string[] = [];
    switch (key.kty) {
      case 'RSA':
        members = ['n', 'e'];
        break;
      case 'EC':
        members = EC_CURVES.has(key.crv as string) ? ['crv', 'x', 'y'] : ['crv'];
        break;
      case 'OKP':
        members = OKP_CURVES.has(key.crv as string) ? ['crv', 'x'] : ['crv'];
        break;
      case 'AKP':
        members = ['alg', 'pub'];
        break;
      default:
        // Unknown key types are ignored by the provider.
        break;
    }
    const incomplete = missing(...members);
    if (incomplete) return incomplete;
  }
  return undefined;
}
