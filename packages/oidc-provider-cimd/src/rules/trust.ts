/**
 * Trust policy (SPEC.domainTrust): which client ids this server is willing to fetch at all. Decided before any I/O.
 */
import { KNOWN_CLIENTS_TOKEN, knownClientPatterns } from './known-clients.js';

/**
 * A pattern is one of:
 * - an exact client id (`https://app.example.com/client.json`), compared byte for byte;
 * - a URL pattern (`https://chatgpt.com/oauth/*\/client.json`): `*` matches exactly one whole, non-empty path
 *   segment of RFC 3986 `pchar` characters without `%` (so `%2F` and `%5C` never match); scheme, host, port and
 *   every other segment match exactly; no query, no fragment;
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

function badPattern(pattern: string, why: string): TypeError {
  return new TypeError(`oidc-provider-cimd: bad client pattern ${JSON.stringify(pattern)}: ${why}`);
}

/** RFC 3986 §3.3 `pchar` without `pct-encoded`: unreserved, sub-delims, `:` and `@`. */
const PCHAR_WITHOUT_PERCENT = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]+$/;
/** What a `*` of a URL pattern matches: one non-empty segment of `pchar` without `%`, never `.` or `..`. */
const isWildcardSegment = (segment: string): boolean =>
  segment !== '.' && segment !== '..' && PCHAR_WITHOUT_PERCENT.test(segment);

/** `https://host[:port]/a/*\/b`: `*` stands for one whole, non-empty path segment without `%`. */
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
  // The pattern, with a plain segment in place of each `*`, must be a canonical URL, as every CID is (SPEC.clientIdUrl):
  // otherwise it could never match, and the operator would not find out.
  const probe = `https://${authority}/${segments.map((s) => (s === '*' ? 'x' : s)).join('/')}`;
  const parsed = URL.parse(probe);
  if (!parsed || parsed.href !== probe || parsed.username || parsed.password) {
    const hint = parsed ? ` (did you mean ${JSON.stringify(parsed.href.replace(/\/x(?=\/|$)/g, '/*'))}?)` : '';
    throw badPattern(pattern, `not a canonical https URL${hint}`);
  }
  const host = parsed.host; // lower-case, without a default port
  const expected = segments.map((segment) => (segment === '*' ? undefined : segment));
  // `*` stands for one segment of RFC 3986 §3.3 `pchar` characters WITHOUT `%`: a percent-encoded `/` or `\`
  // (`..%2F..%2Fshare`) would be one segment to the matcher but a path escape to an origin or CDN that decodes
  // it, outside the `/oauth/<id>/` containment the pattern promises.
  return (cid, url) => {
    if (url.protocol !== 'https:' || url.host !== host || url.search !== '' || url.hash !== '') return false;
    // Only the canonical spelling of a CID matches (the resolver only ever passes canonical ones).
    if (url.href !== cid) return false;
    const actual = url.pathname.split('/').slice(1);
    if (actual.length !== expected.length) return false;
    for (let i = 0; i < expected.length; i++) {
      const want = expected[i];
      if (want === undefined ? !isWildcardSegment(actual[i]!) : actual[i] !== want) return false;
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
    // An exact id with a fragment can never match: CIDs never have one (SPEC.clientIdUrl).
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

/** Why a pattern is not valid (for the startup checks of plugin/options.ts), or `undefined` when it is. */
export function patternProblem(raw: unknown): string | undefined {
  if (typeof raw === 'string' && raw.trim().toLowerCase() === KNOWN_CLIENTS_TOKEN) return undefined;
  try {
    compilePattern(raw as string);
    return undefined;
  } catch (error) {
    return (error as Error).message.replace(/^oidc-provider-cimd: /, '');
  }
}

/** Whether a (valid) pattern is an exact client id, compared byte for byte: it must then be a canonical client id. */
export function isExactIdPattern(raw: string): boolean {
  const p = raw.trim();
  return p.startsWith('https://') && !p.includes('*');
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

/** The admission mode a policy runs in: the one given, else `allowlist` when there are allow rules, else `open`. */
export function admissionOf(options: TrustPolicyOptions): AdmissionMode {
  const hasAllowRules = (options.allow ?? []).length > 0 || options.decide !== undefined;
  return options.admission ?? (hasAllowRules ? 'allowlist' : 'open');
}

/**
 * The trust policy. Takes options the options table has validated (plugin/options.ts: patterns, the admission
 * mode and its agreement with the allow rules are startup checks there); it checks nothing itself.
 */
export function createTrustPolicy(
  options: TrustPolicyOptions = {},
): (cid: string, url: URL) => Promise<PolicyVerdict> | PolicyVerdict {
  const allowList = options.allow ?? [];
  const denyList = options.deny ?? [];
  const { decide } = options;
  const admission = admissionOf(options);

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
