/**
 * Trust policy (spec §7): which client ids this server is willing to fetch at all. Decided before any I/O.
 */

/**
 * A pattern is an exact client id (`https://app.example.com/client.json`), an exact host (`example.com`,
 * `example.com:8443`) or a wildcard host (`*.example.com`: any subdomain, not the apex).
 */
export type ClientPattern = string;

export type PolicyDecision = boolean | 'allow' | 'deny';

export interface TrustPolicyOptions {
  /** When non-empty, only matching client ids are accepted (unless `decide` says otherwise). */
  allow?: readonly ClientPattern[];
  /** Matching client ids are refused, whatever else says. */
  deny?: readonly ClientPattern[];
  /** Consulted for client ids no list matched; `true`/`'allow'` accepts, anything else refuses. */
  decide?: (clientId: string, url: URL) => PolicyDecision | Promise<PolicyDecision>;
}

export type PolicyVerdict = { allowed: true } | { allowed: false; reason: string };

type Matcher = (cid: string, url: URL) => boolean;

function compilePattern(pattern: string): Matcher {
  const p = pattern.trim();
  if (p.startsWith('https://')) return (cid) => cid === p;
  const lower = p.toLowerCase();
  if (lower.startsWith('*.')) {
    const suffix = lower.slice(1); // ".example.com"
    if (suffix.length < 3 || suffix.includes('*'))
      throw new TypeError(`oidc-provider-cimd: bad host pattern ${JSON.stringify(pattern)}`);
    const withPort = suffix.includes(':');
    return (_cid, url) => (withPort ? url.host : url.hostname).endsWith(suffix);
  }
  if (!lower || lower.includes('*') || lower.includes('/')) {
    throw new TypeError(`oidc-provider-cimd: bad client pattern ${JSON.stringify(pattern)}`);
  }
  return lower.includes(':') ? (_cid, url) => url.host === lower : (_cid, url) => url.hostname === lower;
}

/** Compiles a list of patterns into one predicate. */
export function compilePatterns(patterns: readonly ClientPattern[]): Matcher {
  const matchers = patterns.map(compilePattern);
  return (cid, url) => matchers.some((match) => match(cid, url));
}

const ALLOWED: PolicyVerdict = Object.freeze({ allowed: true });

export function createTrustPolicy(
  options: TrustPolicyOptions = {},
): (cid: string, url: URL) => Promise<PolicyVerdict> | PolicyVerdict {
  const allowList = options.allow ?? [];
  const denyList = options.deny ?? [];
  const { decide } = options;
  if (allowList.length === 0 && denyList.length === 0 && !decide) return () => ALLOWED;

  const denied = compilePatterns(denyList);
  const allowed = compilePatterns(allowList);
  return (cid, url) => {
    if (denied(cid, url)) return { allowed: false, reason: 'client_id matches the deny list' };
    if (allowList.length > 0 && allowed(cid, url)) return ALLOWED;
    if (decide) {
      return Promise.resolve()
        .then(() => decide(cid, url))
        .then(
          (decision) =>
            decision === true || decision === 'allow'
              ? ALLOWED
              : { allowed: false, reason: 'refused by the policy hook' },
          // A hook that fails must not let a client through.
          (error: unknown) => ({ allowed: false, reason: `policy hook failed: ${String(error)}` }),
        );
    }
    return allowList.length > 0 ? { allowed: false, reason: 'client_id is not on the allow list' } : ALLOWED;
  };
}
