/**
 * Trust policy (draft-ietf-oauth-client-id-metadata-document-03 §9.9): which client ids this server is willing to fetch at all. Decided before any I/O.
 */
import { KNOWN_CLIENTS_TOKEN, knownClientPatterns } from './known-clients.js';

/**
 * A pattern is one of:
 * - an exact client id (`https://app.example.com/client.json`), compared byte for byte;
 * - a URL pattern (`https://chatgpt.com/oauth/*\/client.json`): `*` matches exactly one whole, non-empty path
 *   segment; scheme, host, port and every other segment match exactly; no query, no fragment;
 * - an exact host (`example.com`, `example.com:8443`) or a wildcard host (`*.example.com`: any subdomain, not
 *   the apex). Unsafe on hosts that serve other people's content (github.com): use exact ids or URL patterns;
 * - the word `known`: every pattern of the known-clients catalog (`knownClients`).
 */
export type ClientPattern = string;

export type PolicyDecision = boolean | 'allow' | 'deny';

/**
 * - `open`: any client id the other rules accept (the deny-list still applies);
 * - `allowlist`: only client ids on the allow-list (or that the `decide` hook allows);
 * - `report`: evaluates the allow-list and the hook without enforcing them: a client that `allowlist` would
 *   refuse is served, and its verdict carries `wouldDeny` (the resolver emits the `would_deny` reason code).
 */
export type AdmissionMode = 'open' | 'allowlist' | 'report';

export const ADMISSION_MODES: readonly AdmissionMode[] = Object.freeze(['open', 'allowlist', 'report']);

export interface TrustPolicyOptions {
  /**
   * Default: `allowlist` when `allow` is non-empty or `decide` is set, `open` otherwise (so an allow-list
   * keeps meaning what it says).
   */
  admission?: AdmissionMode;
  /** Client ids accepted in `allowlist` mode (and not reported in `report` mode). */
  allow?: readonly ClientPattern[];
  /** Matching client ids are refused in every mode, whatever else says. */
  deny?: readonly ClientPattern[];
  /** Consulted for client ids no list matched; `true`/`'allow'` accepts, anything else refuses. */
  decide?: (clientId: string, url: URL) => PolicyDecision | Promise<PolicyDecision>;
}

/**
 * `allowed: true` with `wouldDeny`: `report` mode serves a client that `allowlist` mode would refuse, for the
 * reason given.
 */
export type PolicyVerdict = { allowed: true; wouldDeny?: string } | { allowed: false; reason: string };

export type Matcher = (cid: string, url: URL) => boolean;

const OPTION_NAMES = new Set(['admission', 'allow', 'deny', 'decide']);

function badPattern(pattern: string, why: string): TypeError {
  return new TypeError(`oidc-provider-cimd: bad client pattern ${JSON.stringify(pattern)}: ${why}`);
}

/** `https://host[:port]/a/*\/b`: `*` stands for one whole, non-empty path segment. */
function compileUrlPattern(pattern: string): Matcher {
  if (pattern.includes('?')) throw badPattern(pattern, 'a URL pattern cannot have a query');
  if (pattern.includes('#')) throw badPattern(pattern, 'a URL pattern cannot have a fragment');
  const rest = pattern.slice('https://'.length);
  const slash = rest.indexOf('/');
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  if (authority.includes('*')) throw badPattern(pattern, '`*` may stand only for a path segment, never a host or port');
  const segments = path.split('/').slice(1);
  if (segments.length === 0) throw badPattern(pattern, 'a URL pattern needs a path');
  for (const segment of segments) {
    if (segment.includes('*') && segment !== '*') {
      throw badPattern(pattern, '`*` must be a whole path segment (`/*/`), never part of one');
    }
  }
  // The pattern, with a plain segment in place of each `*`, must be a canonical URL, as every CID is (draft-ietf-oauth-client-id-metadata-document-02 §3):
  // otherwise it could never match, and the operator would not find out.
  const probe = `https://${authority}/${segments.map((s) => (s === '*' ? 'x' : s)).join('/')}`;
  const parsed = URL.parse(probe);
  if (!parsed || parsed.href !== probe || parsed.username || parsed.password) {
    const hint = parsed ? ` (did you mean ${JSON.stringify(parsed.href.replace(/\/x(?=\/|$)/g, '/*'))}?)` : '';
    throw badPattern(pattern, `not a canonical https URL${hint}`);
  }
  const host = parsed.host; // lower-case, without a default port
  const expected = segments.map((segment) => (segment === '*' ? undefined : segment));
  return (cid, url) => {
    if (url.protocol !== 'https:' || url.host !== host || url.search !== '' || url.hash !== '') return false;
    // Only the canonical spelling of a CID matches (the resolver only ever passes canonical ones).
    if (url.href !== cid) return false;
    const actual = url.pathname.split('/').slice(1);
    if (actual.length !== expected.length) return false;
    for (let i = 0; i < expected.length; i++) {
      const want = expected[i];
      if (want === undefined ? actual[i] === '' : actual[i] !== want) return false;
    }
    return true;
  };
}

function compilePattern(raw: string): Matcher {
  if (typeof raw !== 'string')
    throw new TypeError(`oidc-provider-cimd: client patterns are strings, got ${typeof raw}`);
  const p = raw.trim();
  if (p.startsWith('https://')) {
    if (p.includes('*')) return compileUrlPattern(p);
    // An exact id with a fragment can never match: CIDs never have one (draft-ietf-oauth-client-id-metadata-document-02 §3).
    if (p.includes('#')) throw badPattern(raw, 'a client id never has a fragment');
    return (cid) => cid === p;
  }
  const lower = p.toLowerCase();
  if (lower.startsWith('*.')) {
    const suffix = lower.slice(1); // ".example.com"
    if (suffix.length < 3 || suffix.includes('*'))
      throw new TypeError(`oidc-provider-cimd: bad host pattern ${JSON.stringify(raw)}`);
    const withPort = suffix.includes(':');
    return (_cid, url) => (withPort ? url.host : url.hostname).endsWith(suffix);
  }
  if (!lower || lower.includes('*') || lower.includes('/')) {
    throw badPattern(raw, 'expected a client id, a URL pattern, a host, *.host or `known`');
  }
  return lower.includes(':') ? (_cid, url) => url.host === lower : (_cid, url) => url.hostname === lower;
}

/** The list with the token `known` replaced by the catalog's patterns. */
export function expandPatterns(patterns: readonly ClientPattern[]): string[] {
  return patterns.flatMap((pattern) =>
    // Case does not matter: a host pattern `known` would be a single-label host, which is never a client id's.
    typeof pattern === 'string' && pattern.trim().toLowerCase() === KNOWN_CLIENTS_TOKEN
      ? knownClientPatterns()
      : [pattern],
  );
}

/**
 * Compiles a list of patterns into one predicate. Throws TypeError, naming the pattern, for one that is not
 * valid (so a typo stops startup instead of silently matching nothing).
 */
export function compilePatterns(patterns: readonly ClientPattern[]): Matcher {
  if (!Array.isArray(patterns)) throw new TypeError('oidc-provider-cimd: client patterns must be an array of strings');
  const matchers = expandPatterns(patterns).map(compilePattern);
  return (cid, url) => matchers.some((match) => match(cid, url));
}

const ALLOWED: PolicyVerdict = Object.freeze({ allowed: true });

export function createTrustPolicy(
  options: TrustPolicyOptions = {},
): (cid: string, url: URL) => Promise<PolicyVerdict> | PolicyVerdict {
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.has(name)) {
      throw new TypeError(
        `oidc-provider-cimd: unknown policy option ${JSON.stringify(name)} (expected admission, allow, deny or decide)`,
      );
    }
  }
  const allowList = options.allow ?? [];
  const denyList = options.deny ?? [];
  const { decide } = options;
  if (decide !== undefined && typeof decide !== 'function') {
    throw new TypeError('oidc-provider-cimd: policy.decide must be a function');
  }
  const hasAllowRules = allowList.length > 0 || decide !== undefined;
  const admission = options.admission ?? (hasAllowRules ? 'allowlist' : 'open');
  if (!ADMISSION_MODES.includes(admission)) {
    throw new TypeError(
      `oidc-provider-cimd: policy.admission must be 'open', 'allowlist' or 'report', got ${JSON.stringify(admission)}`,
    );
  }
  if (admission === 'open' && hasAllowRules) {
    throw new TypeError(
      "oidc-provider-cimd: policy.admission 'open' admits every client, so an allow-list or a decide hook would have no effect; use 'allowlist' to enforce it or 'report' to try it out",
    );
  }
  if (admission !== 'open' && !hasAllowRules) {
    throw new TypeError(
      `oidc-provider-cimd: policy.admission '${admission}' needs allow patterns (e.g. 'known') or a decide hook`,
    );
  }

  const denied = compilePatterns(denyList);
  const allowed = compilePatterns(allowList);
  if (admission === 'open' && denyList.length === 0) return () => ALLOWED;

  // `report` serves what `allowlist` would refuse, and says so.
  const refuse = (reason: string): PolicyVerdict =>
    admission === 'report' ? { allowed: true, wouldDeny: reason } : { allowed: false, reason };

  return (cid, url) => {
    if (denied(cid, url)) return { allowed: false, reason: 'client_id matches the deny list' };
    if (admission === 'open') return ALLOWED;
    if (allowList.length > 0 && allowed(cid, url)) return ALLOWED;
    if (decide) {
      return Promise.resolve()
        .then(() => decide(cid, url))
        .then(
          (decision) => (decision === true || decision === 'allow' ? ALLOWED : refuse('refused by the policy hook')),
          // A hook that fails must not let a client through.
          (error: unknown) => refuse(`policy hook failed: ${String(error)}`),
        );
    }
    return refuse('client_id is not on the allow list');
  };
}
