/**
 * The client_id URL rules of SPEC.clientIdUrl: which strings may be a Client ID Metadata Document URL at all.
 * Pure and synchronous, no I/O. Runs on every client lookup, so the options are compiled once
 * ({@link createUrlRules}) and the cheap checks on the raw string come before the URL parser.
 *
 * Rule names (stable, shown in `rejected:url` events):
 * `type`, `empty`, `length`, `characters`, `scheme`, `userinfo`, `fragment`, `dot_segment`, `root_path`,
 * `query`, `parse`, `ip_literal`, `trailing_dot`, `host_syntax`, `special_use_host`, `single_label`,
 * `own_origin`, `port`, `canonical`.
 */

import type { ServerRuleId, UrlRuleId } from '../core/catalogue.js';
import { isIpLiteral, isLoopbackAddress } from './address-policy.js';

export interface UrlRuleOptions {
  /** The provider's issuer; a CID on the issuer's own origin (host AND port) is refused. */
  issuer: string;
  /**
   * Development exception: allow `localhost` and loopback IP literals (127.0.0.0/8, [::1]) as CID hosts,
   * except on the issuer's own origin. Honoured by the caller only with a loopback issuer; this module just
   * applies it.
   */
  allowLoopback?: boolean;
  /** Allow a path of exactly '/'. Default false. */
  allowRootPath?: boolean;
  /** Allow a query component. Default false. */
  allowQuery?: boolean;
  /** If set, only these ports (443 is written without a port) are allowed. Default: any port. */
  allowedPorts?: readonly number[];
  /** Max length, default 2048. */
  maxLength?: number;
}

/** `rule` is an id of the catalogue (core/catalogue.ts); `issuer_unknown` comes from the plugin, not from these rules. */
/**
 * An accepted CID carries its parsed URL and that URL's `host`, read once: the verdict is remembered for warm
 * lookups, and `URL#host` is a getter that builds a new string on every read.
 */
export type UrlVerdict =
  | { ok: true; url: URL; host: string }
  | { ok: false; rule: UrlRuleId | ServerRuleId; message: string };

const DEFAULT_MAX_LENGTH = 2048;
const PREFIX = 'https://';
const PREFIX_LENGTH = PREFIX.length;

/** Top-level special-use names (RFC 6761, RFC 6762, RFC 7686, RFC 8375 and the `internal` TLD). */
const SPECIAL_USE_TLDS: ReadonlySet<string> = new Set([
  'localhost',
  'local',
  'internal',
  'test',
  'invalid',
  'example',
  'onion',
]);
/** Multi-label special-use suffixes (without the leading dot). */
const SPECIAL_USE_SUFFIXES: readonly string[] = ['home.arpa'];

/** A path segment that is `.` or `..` in any spelling the URL parser understands. */
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;
/** A host label that is a plain LDH label (the parser has already lower-cased it). */
const LDH_LABEL = /^[a-z0-9-]{1,63}$/;

type Rejection = { ok: false; rule: UrlRuleId; message: string };

const reject = (rule: UrlRuleId, message: string): Rejection => Object.freeze({ ok: false, rule, message });

// Fixed rejections are allocated once; the hot path returns these shared, frozen objects.
const R = {
  type: reject('type', 'client_id must be a string'),
  empty: reject('empty', 'client_id must not be empty'),
  characters: reject(
    'characters',
    'client_id must not contain whitespace, control characters, backslashes or non-ASCII characters',
  ),
  scheme: reject('scheme', 'client_id URL must start with lowercase "https://"'),
  userinfo: reject('userinfo', 'client_id URL must not contain a userinfo part ("@")'),
  fragment: reject('fragment', 'client_id URL must not contain a fragment ("#")'),
  dotSegment: reject('dot_segment', 'client_id URL path must not contain "." or ".." segments'),
  rootPath: reject('root_path', 'client_id URL must have a path other than "/"'),
  query: reject('query', 'client_id URL must not contain a query ("?")'),
  parse: reject('parse', 'client_id is not a parseable URL'),
  ipLiteral: reject('ip_literal', 'client_id URL host must be a domain name, not an IP address'),
  trailingDot: reject('trailing_dot', 'client_id URL host must not end with a dot'),
  hostSyntax: reject(
    'host_syntax',
    'client_id URL host must consist of non-empty labels of letters, digits and hyphens (at most 63 each)',
  ),
  specialUse: reject('special_use_host', 'client_id URL host must not be a special-use or local name'),
  singleLabel: reject('single_label', 'client_id URL host must be a fully qualified domain name'),
  ownOrigin: reject('own_origin', "client_id URL must not point at the authorization server's own origin"),
  canonical: reject('canonical', 'client_id URL must be in canonical form (as serialised by the WHATWG URL parser)'),
} as const;

/** Quick pre-filter used on the hot path: true when the string could be a CIMD id at all. */
export function looksLikeClientIdUrl(id: unknown): id is string {
  return typeof id === 'string' && id.startsWith(PREFIX);
}

/** Rules on the client_id's options and issuer, compiled once. */
interface Compiled {
  readonly maxLength: number;
  readonly allowLoopback: boolean;
  readonly allowRootPath: boolean;
  readonly allowQuery: boolean;
  readonly allowedPorts: ReadonlySet<number> | undefined;
  readonly issuerHost: string;
  readonly issuerPort: number;
  readonly issuerIsLoopback: boolean;
}

function defaultPort(protocol: string): number {
  if (protocol === 'https:') return 443;
  if (protocol === 'http:') return 80;
  return 0;
}

const isLoopbackHost = (hostname: string): boolean => hostname === 'localhost' || isLoopbackAddress(hostname);

function compile(options: UrlRuleOptions): Compiled {
  if (options === null || typeof options !== 'object') {
    throw new TypeError('oidc-provider-cimd: URL rule options must be an object');
  }
  let issuer: URL;
  try {
    issuer = new URL(options.issuer);
  } catch {
    throw new TypeError(`oidc-provider-cimd: issuer ${JSON.stringify(options.issuer)} is not a valid URL`);
  }
  const maxLength = options.maxLength ?? DEFAULT_MAX_LENGTH;
  if (!Number.isSafeInteger(maxLength) || maxLength < PREFIX_LENGTH + 1) {
    throw new TypeError(`oidc-provider-cimd: maxLength must be an integer greater than ${PREFIX_LENGTH}`);
  }
  let allowedPorts: ReadonlySet<number> | undefined;
  if (options.allowedPorts !== undefined) {
    for (const port of options.allowedPorts) {
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new TypeError(`oidc-provider-cimd: allowedPorts entry ${JSON.stringify(port)} is not a TCP port`);
      }
    }
    allowedPorts = new Set(options.allowedPorts);
  }
  // A fully qualified issuer host (`as.example.com.`) is the same origin as the host without the dot.
  const issuerHost = issuer.hostname.endsWith('.') ? issuer.hostname.slice(0, -1) : issuer.hostname;
  return Object.freeze({
    maxLength,
    allowLoopback: options.allowLoopback === true,
    allowRootPath: options.allowRootPath === true,
    allowQuery: options.allowQuery === true,
    allowedPorts,
    issuerHost,
    issuerPort: issuer.port === '' ? defaultPort(issuer.protocol) : Number(issuer.port),
    issuerIsLoopback: isLoopbackHost(issuerHost),
  });
}

/** Checks of the raw string, before any parsing. Returns a rejection or undefined. */
function checkRaw(cid: string, c: Compiled): Rejection | undefined {
  const length = cid.length;
  if (length > c.maxLength) {
    return reject('length', `client_id must not be longer than ${c.maxLength} characters`);
  }
  for (let i = 0; i < length; i++) {
    const code = cid.charCodeAt(i);
    // ≤ 0x20: controls and space; ≥ 0x7F: DEL and every non-ASCII code unit; 0x5C: backslash.
    if (code <= 0x20 || code >= 0x7f || code === 0x5c) return R.characters;
  }
  if (!cid.startsWith(PREFIX)) return R.scheme;

  // The authority ends at the first '/', '?' or '#' (backslash is already excluded).
  let authorityEnd = PREFIX_LENGTH;
  while (authorityEnd < length) {
    const code = cid.charCodeAt(authorityEnd);
    if (code === 0x2f /* / */ || code === 0x3f /* ? */ || code === 0x23 /* # */) break;
    authorityEnd++;
  }
  const at = cid.indexOf('@', PREFIX_LENGTH);
  if (at !== -1 && at < authorityEnd) return R.userinfo;
  if (cid.indexOf('#', PREFIX_LENGTH) !== -1) return R.fragment;

  const queryStart = cid.indexOf('?', authorityEnd);
  const pathEnd = queryStart === -1 ? length : queryStart;
  // The raw path (empty when the CID has no path at all: the canonical check reports that).
  const path = cid.slice(authorityEnd, pathEnd);
  if (path.includes('.') || path.includes('%')) {
    const segments = path.split('/');
    for (let i = 1; i < segments.length; i++) {
      if (DOT_SEGMENT.test(segments[i]!)) return R.dotSegment;
    }
  }
  if (path === '/' && !c.allowRootPath) return R.rootPath;
  if (queryStart !== -1 && !c.allowQuery) return R.query;
  return undefined;
}

/** Checks of the parsed host and port. `hostname` is the parser's (lower-cased, IPv6 in brackets). */
function checkHost(url: URL, c: Compiled): Rejection | undefined {
  const hostname = url.hostname;
  const port = url.port === '' ? 443 : Number(url.port);
  const loopbackAllowed = c.allowLoopback && isLoopbackHost(hostname);

  if (!loopbackAllowed) {
    const last = hostname.charCodeAt(hostname.length - 1);
    // After parsing, an IP host is either bracketed IPv6 or dotted-decimal IPv4 (ending in a digit).
    if ((hostname.startsWith('[') || (last >= 0x30 && last <= 0x39)) && isIpLiteral(hostname)) return R.ipLiteral;
    if (last === 0x2e /* . */) return R.trailingDot;
    const labels = hostname.split('.');
    for (const label of labels) {
      if (!LDH_LABEL.test(label)) return R.hostSyntax;
    }
    if (SPECIAL_USE_TLDS.has(labels[labels.length - 1]!)) return R.specialUse;
    for (const suffix of SPECIAL_USE_SUFFIXES) {
      if (hostname === suffix || hostname.endsWith(`.${suffix}`)) return R.specialUse;
    }
    if (labels.length < 2) return R.singleLabel;
  }

  // Own origin: same host and same effective port, regardless of scheme. With a loopback issuer every
  // loopback name (localhost, 127.0.0.0/8, [::1]) counts as the issuer's host: they reach the same server.
  if (port === c.issuerPort) {
    if (hostname === c.issuerHost) return R.ownOrigin;
    if (c.issuerIsLoopback && loopbackAllowed) return R.ownOrigin;
  }

  if (port === 0) return reject('port', 'client_id URL port 0 is not a usable port');
  if (c.allowedPorts !== undefined && !c.allowedPorts.has(port)) {
    return reject('port', `client_id URL port ${port} is not allowed`);
  }
  return undefined;
}

/** Compiles options once (parse issuer, etc.) for speed: returns (cid) => UrlVerdict. */
export function createUrlRules(options: UrlRuleOptions): (cid: unknown) => UrlVerdict {
  const compiled = compile(options);
  return (cid: unknown): UrlVerdict => {
    if (typeof cid !== 'string') return R.type;
    if (cid.length === 0) return R.empty;
    const raw = checkRaw(cid, compiled);
    if (raw) return raw;

    let url: URL;
    try {
      url = new URL(cid);
    } catch {
      return R.parse;
    }
    const host = checkHost(url, compiled);
    if (host) return host;
    // The one rule that catches everything the parser normalises: upper case, `:443`, a missing path,
    // percent-encoded host bytes, numeric IPv4 spellings (when loopback is allowed) and so on.
    if (url.href !== cid) return R.canonical;
    return { ok: true, url, host: url.host };
  };
}

/** Checks one CID against SPEC.clientIdUrl (compiles the options on every call; prefer {@link createUrlRules}). */
export function checkClientIdUrl(cid: unknown, options: UrlRuleOptions): UrlVerdict {
  return createUrlRules(options)(cid);
}
