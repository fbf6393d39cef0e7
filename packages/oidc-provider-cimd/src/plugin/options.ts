/**
 * The options of `createCimd`: ONE table, {@link CIMD_OPTIONS}, with each option's documentation, type check
 * and default, and the startup checks that relate options to each other. `createCimd` and `cimd check` both
 * validate through {@link resolveCimdOptions}: an unknown key (with the closest known name suggested), a wrong
 * type, or a wrong type inside `policy`, `budget`, `lifetime` or `consent` throws a {@link CimdOptionError}
 * naming the option, before anything is built.
 *
 * To add an option, add ONE row to CIMD_OPTIONS (its doc comment is the option's documentation, its row type is
 * the option's TypeScript type): `CimdOptions` is derived from the table, and a nested options interface
 * (`TrustPolicyOptions`, ...) that gains a member fails to compile until its table gains the row too.
 */
import type { SharedStore } from '../cache/shared-store.js';
import type { ConsentOptions } from '../consent/index.js';
import type { LogoOptions } from '../consent/logo.js';
import type { FetchBudgetOptions } from '../fetch/budget.js';
import type { FetcherOptions } from '../fetch/fetcher.js';
import type { EventListener } from '../observe/events.js';
import type { RegistryOptions } from '../observe/registry.js';
import { isLoopbackAddress } from '../rules/address-policy.js';
import { createUrlRules } from '../rules/client-id-url.js';
import type { GrantWithoutUserRule } from '../rules/document.js';
import { DEFAULT_LIFETIME_BOUNDS, type LifetimeBounds } from '../rules/http-cache.js';
import { admissionOf, isExactIdPattern, patternProblem, type TrustPolicyOptions } from '../rules/trust.js';
import type { ClientAssertionTypMode } from './client-assertion.js';
import type { DenialPageOptions } from './denial.js';
import type { DiscoveryCheckMode } from './discovery-check.js';

// ---------------------------------------------------------------------------------------------------------------
// Errors

export type CimdConfigErrorCode =
  /** An unknown option, a wrong type, or options that contradict each other. */
  | 'CIMD_INVALID_OPTION'
  /** The provider configuration handed to `configure()` cannot be used with the plugin. */
  | 'CIMD_INVALID_CONFIGURATION'
  /** `configure()` was called a second time on the same plugin object. */
  | 'CIMD_ALREADY_CONFIGURED';

/** A configuration mistake, found at startup. A TypeError, with a stable `code` and the option's path. */
export class CimdOptionError extends TypeError {
  override readonly name = 'CimdOptionError';
  readonly code: CimdConfigErrorCode;
  /** The option concerned, as a path (`timeoutMs`, `policy.allow`, `consent.logo.maxBytes`), when there is one. */
  readonly option: string | undefined;

  constructor(message: string, options: { code?: CimdConfigErrorCode; option?: string } = {}) {
    super(`oidc-provider-cimd: ${message}`);
    this.code = options.code ?? 'CIMD_INVALID_OPTION';
    this.option = options.option;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Rows

/** One option: what it must be (in words, for the error), the check, its default, and a nested table. */
export interface OptionRow<T, HasDefault extends boolean = boolean> {
  readonly expected: string;
  readonly test: (value: unknown) => boolean;
  readonly default?: T;
  /** For an object option: the table of its members (validated the same way, unknown keys included). */
  readonly nested?: OptionTable;
  /** For `false | {...}` options: the nested table applies when the value is not `false`. */
  readonly falseAllowed?: boolean;
  /**
   * A closer look once `test` passed: the first problem inside the value, `at` being the path below the option
   * (`[2]`, `[0].clients[1]`), so that the error names the exact element.
   */
  readonly inspect?: (value: unknown) => { at: string; message: string } | undefined;
  /** Type-level only. */
  readonly __type?: T;
  readonly __hasDefault?: HasDefault;
}

// biome-ignore lint/suspicious/noExplicitAny: a table holds rows of every option type
export type OptionTable = Readonly<Record<string, OptionRow<any>>>;
/** The table of an options interface: exactly one row per member, no more, no less. */
type TableOf<T> = { readonly [K in keyof Required<T>]: OptionRow<Exclude<T[K], undefined>> };

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isFiniteNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

function row<T>(expected: string, test: (value: unknown) => boolean): OptionRow<T, false>;
function row<T>(expected: string, test: (value: unknown) => boolean, defaultValue: T): OptionRow<T, true>;
function row<T>(expected: string, test: (value: unknown) => boolean, ...rest: [T?]): OptionRow<T> {
  return Object.freeze({ expected, test, ...(rest.length > 0 ? { default: rest[0] } : {}) });
}

const bool = <D extends boolean | undefined = undefined>(defaultValue?: D) =>
  (defaultValue === undefined
    ? row<boolean>('a boolean', (v) => typeof v === 'boolean')
    : row<boolean>('a boolean', (v) => typeof v === 'boolean', defaultValue)) as OptionRow<
    boolean,
    D extends boolean ? true : false
  >;
const positiveMs = (defaultValue: number) =>
  row<number>('a positive number of milliseconds', (v) => isFiniteNumber(v) && v > 0, defaultValue);
const nonNegativeMs = (defaultValue: number) =>
  row<number>('a number of milliseconds (0 or more)', (v) => isFiniteNumber(v) && v >= 0, defaultValue);
const positiveInteger = <D extends number | undefined = undefined>(defaultValue?: D) =>
  (defaultValue === undefined
    ? row<number>('a positive integer', (v) => Number.isSafeInteger(v) && (v as number) > 0)
    : row<number>(
        'a positive integer',
        (v) => Number.isSafeInteger(v) && (v as number) > 0,
        defaultValue,
      )) as OptionRow<number, D extends number ? true : false>;
const nonNegativeInteger = () =>
  row<number>('an integer (0 or more)', (v) => Number.isSafeInteger(v) && (v as number) >= 0);
const nonNegativeSeconds = () => row<number>('a number of seconds (0 or more)', (v) => isFiniteNumber(v) && v >= 0);
const fn = <F>() => row<F>('a function', (v) => typeof v === 'function');
const strings = () =>
  row<readonly string[]>('an array of strings', (v) => Array.isArray(v) && v.every((s) => typeof s === 'string'));
/**
 * A list of client patterns (rules/trust.ts): each one must compile, so that a typo stops startup instead of
 * silently matching nothing. Exact ids are checked against the client-id URL rules by a startup check.
 */
const patterns = () =>
  Object.freeze({
    ...strings(),
    expected: 'an array of strings (client patterns: client ids, URL patterns, hosts, *.hosts or "known")',
    inspect: (value: unknown) => {
      const list = value as readonly string[];
      for (let i = 0; i < list.length; i += 1) {
        const problem = patternProblem(list[i]);
        if (problem !== undefined) return { at: `[${i}]`, message: problem };
      }
      return undefined;
    },
  }) as OptionRow<readonly string[], false>;
const oneOf = <V extends string>(...values: V[]) =>
  row<V>(values.map((v) => JSON.stringify(v)).join(' or '), (v) => values.includes(v as V));
const withDefault = <T>(option: OptionRow<T, false>, defaultValue: T): OptionRow<T, true> =>
  Object.freeze({ ...option, default: defaultValue }) as OptionRow<T, true>;
/** An options object as a caller writes it: every member optional, `undefined` meaning absent (exactOptionalPropertyTypes). */
export type OptionsInput<T> = { [K in keyof T]?: T[K] | undefined };
const object = <T>(table: TableOf<T>, expected = 'an object'): OptionRow<OptionsInput<T>, false> =>
  Object.freeze({ expected, test: isObject, nested: table as OptionTable });
const falseOr = <T>(inner: OptionRow<T>): OptionRow<false | T, false> =>
  Object.freeze({ ...inner, expected: `false or ${inner.expected}`, falseAllowed: true }) as OptionRow<
    false | T,
    false
  >;

// ---------------------------------------------------------------------------------------------------------------
// The nested tables

const POLICY_OPTIONS: TableOf<TrustPolicyOptions> = {
  admission: oneOf('open', 'allowlist', 'report'),
  allow: patterns(),
  deny: patterns(),
  decide: fn<NonNullable<TrustPolicyOptions['decide']>>(),
};

const atLeast = (min: number, defaultValue: number) =>
  row<number>(`a number of at least ${min}`, (v) => isFiniteNumber(v) && v >= min, defaultValue);

const DENIAL_PAGE_OPTIONS: TableOf<DenialPageOptions> = {
  contact: row<string>('a string', (v) => typeof v === 'string'),
  serviceName: row<string>('a string', (v) => typeof v === 'string'),
  showDetails: bool(),
  admitLine: fn<NonNullable<DenialPageOptions['admitLine']>>(),
  onDenial: fn<NonNullable<DenialPageOptions['onDenial']>>(),
};

const BUDGET_OPTIONS: TableOf<FetchBudgetOptions> = {
  perHostBurst: atLeast(1, 40),
  perHostPerSecond: atLeast(0.001, 10),
  perDomainBurst: atLeast(1, 80),
  perDomainPerSecond: atLeast(0.001, 20),
  maxConcurrent: positiveInteger(32),
  /** Default: min(8, floor(maxConcurrent / 4)). */
  reservedForKnown: nonNegativeInteger(),
  maxConcurrentPerDomain: positiveInteger(4),
  reservedPerDomainForKnown: withDefault(nonNegativeInteger(), 2),
  maxConcurrentPerAddress: positiveInteger(4),
  reservedPerAddressForKnown: withDefault(nonNegativeInteger(), 2),
  maxHosts: positiveInteger(10_000),
  now: fn<() => number>(),
};

const LIFETIME_OPTIONS: TableOf<LifetimeBounds> = {
  minSeconds: withDefault(nonNegativeSeconds(), DEFAULT_LIFETIME_BOUNDS.minSeconds),
  maxSeconds: withDefault(nonNegativeSeconds(), DEFAULT_LIFETIME_BOUNDS.maxSeconds),
  defaultSeconds: withDefault(nonNegativeSeconds(), DEFAULT_LIFETIME_BOUNDS.defaultSeconds),
};

const LOGO_OPTIONS: TableOf<LogoOptions> = {
  maxBytes: positiveInteger(64 * 1024),
  path: row<string>(
    'a path starting and ending with "/"',
    (v) => typeof v === 'string' && v.startsWith('/') && v.endsWith('/'),
    '/cimd/logo/',
  ),
  memoryEntries: positiveInteger(200),
  waitMs: positiveMs(2000),
  failureTtlMs: nonNegativeMs(300_000),
};

const CONSENT_OPTIONS: TableOf<ConsentOptions> = {
  policy: withDefault(oneOf<'auto' | 'manual'>('auto', 'manual'), 'auto'),
  loopback: withDefault(oneOf<'always' | 'once'>('always', 'once'), 'always'),
  registeredClients: bool(false),
  adapter: fn<NonNullable<ConsentOptions['adapter']>>(),
  approvalTimeoutMs: positiveMs(2000),
  trusted: patterns(),
  newClient: falseOr(
    object<{ minAgeMs?: number; minUsers?: number }>(
      { minAgeMs: nonNegativeMs(7 * 24 * 60 * 60 * 1000), minUsers: positiveInteger(5) },
      'an object { minAgeMs, minUsers }',
    ),
  ),
  changedClient: bool(true),
  logo: falseOr(object<LogoOptions>(LOGO_OPTIONS)),
  recordTtlMs: positiveMs(400 * 24 * 60 * 60 * 1000),
};

const REGISTRY_OPTIONS: TableOf<RegistryOptions> = {
  maxClients: positiveInteger(1000),
  maxUsersPerClient: positiveInteger(1000),
  flushIntervalMs: positiveMs(10_000),
  retentionMs: positiveMs(90 * 24 * 60 * 60 * 1000),
};

const isKeyv = (value: unknown): boolean =>
  isObject(value) &&
  typeof value.get === 'function' &&
  typeof value.set === 'function' &&
  typeof value.delete === 'function' &&
  typeof value.getMany === 'function' &&
  typeof value.on === 'function';
const isCertificate = (value: unknown): boolean => typeof value === 'string' || Buffer.isBuffer(value);

// ---------------------------------------------------------------------------------------------------------------
// The table

/**
 * Every option of `createCimd`, with its type check and default. The doc comment of a row is the option's
 * documentation (it is what editors show for `CimdOptions`).
 */
export const CIMD_OPTIONS = {
  /** Turn the plugin off entirely: no discovery flag, URL ids are unknown clients. Default true. */
  enabled: bool(true),
  /**
   * The provider's issuer. Needed up front for the development exception; otherwise learned from the provider
   * on its first request (a lookup before that, outside any request, is refused).
   */
  issuer: row<string>('an absolute URL', (v) => typeof v === 'string' && URL.canParse(v)),
  /**
   * Development exception (SPEC.development): accept `localhost` / loopback
   * client ids and dial loopback addresses. Only honoured with a loopback issuer; any other issuer is a startup
   * error.
   */
  allowLoopback: bool(false),
  /** Accept a client_id whose path is exactly `/`. Default false. */
  allowRootPath: bool(false),
  /** Accept a client_id with a query. Default false (every query variant would be a new client). */
  allowQuery: bool(false),
  /** Restrict the ports a client_id may name. Default: any. */
  allowedPorts: row<readonly number[]>(
    'an array of TCP ports (integers 1-65535)',
    (v) => Array.isArray(v) && v.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535),
  ),
  /** More addresses or CIDRs never to dial, on top of the public-unicast rule and the built-in `168.63.129.16/32`. */
  denyList: strings(),
  /** Connect (DNS + TCP + TLS) timeout, ms. Default 3000. */
  connectTimeoutMs: positiveMs(3000),
  /**
   * Hard deadline of one name resolution (A and AAAA together), ms. Default 1500. Client-supplied names are
   * resolved with c-ares, never in libuv's thread pool, and a lookup gives back everything it holds at this
   * deadline (docs/trust-and-budgets.md "DNS"). Ignored when `lookup` is given.
   */
  dnsTimeoutMs: positiveMs(1500),
  /** Whole-fetch timeout, ms. Default 5000. */
  timeoutMs: positiveMs(5000),
  /** Document size cap, bytes. Default 5120. */
  maxBodyBytes: positiveInteger(5120),
  /** Also accept documents served as `text/plain`. Default false. */
  acceptTextPlain: bool(false),
  /** Require `client_name` in documents (MCP requires it). Default true. */
  requireClientName: bool(true),
  /**
   * Shared cache tier: any Keyv instance (keyv 5 or 6; typed structurally, see `SharedStore`). For Redis use
   * `await createRedisCache(url)` (a client that fails fast while Redis is down). Default: a private in-memory
   * Keyv, bounded to 10,000 entries and about 32 MiB.
   */
  cache: row<SharedStore>('a Keyv instance', isKeyv),
  /** Entries kept in the in-process tier. Default 1000. */
  memoryCacheSize: positiveInteger(1000),
  /**
   * Deadline for each shared-cache operation, ms; a slower store reads as a miss, and after such a timeout the
   * shared tier is skipped for one second. Default 150.
   */
  sharedCacheTimeoutMs: positiveMs(150),
  /**
   * With a Redis store, instances that miss the same CID at once make one fetch between them: one takes a lock,
   * the others wait for its result. Default true. Other stores: one fetch per process.
   */
  fetchLock: bool(true),
  /** Expiry of a fetch lock, ms: the longest a crashed holder can delay the others. Default `timeoutMs` + 1000. */
  fetchLockTtlMs: row<number>('a positive number of milliseconds', (v) => isFiniteNumber(v) && v > 0),
  /** Document lifetime bounds. Default: [60 s, 24 h], 300 s when the response says nothing. */
  lifetime: object<Partial<LifetimeBounds>>(LIFETIME_OPTIONS, 'an object { minSeconds, maxSeconds, defaultSeconds }'),
  /** After a failed fetch the same CID is not fetched again for this long, ms. Default 3000. */
  failureBackoffMs: nonNegativeMs(3000),
  /**
   * Transport fallback, ms past a document's freshness lifetime (at most 7 days). Default 0: off. When a refresh
   * fails for transport reasons only (network errors and timeouts, 5xx, 429, a redirect, a 403/503 challenge page
   * that is not JSON), a client that completed an authorization keeps being served its last valid copy this much
   * longer, with the event `stale_fallback`. Never on 404/410 (revocation) or an invalid document.
   */
  transportFallbackMs: row<number>(
    'a number of milliseconds from 0 to 7 days (604800000)',
    (v) => isFiniteNumber(v) && v >= 0 && v <= 7 * 24 * 60 * 60 * 1000,
    0,
  ),
  /** `refresh()` of one client at most once per this many ms (the operator API). Default 10000. */
  refreshCooldownMs: nonNegativeMs(10_000),
  /** A cached document at least this old is refetched once when the request's redirect_uri is not in it, ms. Default 60000. */
  redirectRefetchAfterMs: nonNegativeMs(60_000),
  /**
   * Trust policy: allow-list, deny-list and a hook; denied ids are never fetched. Patterns: an exact client id
   * (checked with the client-id URL rules at startup: a non-canonical one stops startup with a hint), a URL
   * pattern whose `*` matches one path segment without `%`, a host, `*.host`, or `known`.
   */
  policy: object<TrustPolicyOptions>(POLICY_OPTIONS),
  /** Outbound fetch budgets: per-host token bucket and a global cap on concurrent fetches. */
  budget: object<FetchBudgetOptions>(BUDGET_OPTIONS),
  /** Receives one event per resolution (see `Reason`). */
  onEvent: fn<EventListener>(),
  /**
   * Also route oidc-provider's own outbound requests (jwks_uri, sector_identifier_uri, backchannel calls)
   * through the guarded fetcher. Default true. A configuration that brings its own `fetch` must turn this off.
   */
  guardProviderFetch: bool(true),
  /** Extra trusted CA certificates for document hosts (tests, private PKI). TLS verification is always on. */
  ca: row<NonNullable<FetcherOptions['ca']>>(
    'a PEM string, a Buffer, or an array of them',
    (v) => isCertificate(v) || (Array.isArray(v) && v.every(isCertificate)),
  ),
  /** DNS resolver used by the fetcher (dns.lookup-compatible); the address policy still applies to its answers. */
  lookup: fn<NonNullable<FetcherOptions['lookup']>>(),
  /** Clock for cache freshness, ms since the epoch. For tests only. Default `Date.now`. */
  now: fn<() => number>(),
  /** Consent: the loopback rule, the new- and changed-client signals, trusted patterns, the logo proxy. See docs/consent.md. */
  consent: object<ConsentOptions>(CONSENT_OPTIONS),
  /**
   * The page a user sees when a CIMD client is refused at the authorization endpoint (docs/metrics.md "Denial
   * page"): the client's host, the reason in plain words, whom to ask; `onDenial` gets the same facts and the
   * line that would admit the client. `false`: the deployment's own `renderError` shows every error.
   */
  denialPage: falseOr(object<DenialPageOptions>(DENIAL_PAGE_OPTIONS)),
  /**
   * Grants in which no user takes part (client_credentials, CIBA, token exchange, any extension grant) that
   * the trust policy grants to CIMD clients explicitly: `[{ clients: ['https://agent.example.com/client.json'],
   * grants: ['client_credentials'] }]`. Never to a client that authenticates with `none`. Default: none, so they
   * are dropped from every CIMD client.
   */
  grantsWithoutUser: Object.freeze({
    ...row<readonly GrantWithoutUserRule[]>('an array of { clients: [...patterns], grants: [...grant types] }', (v) =>
      Array.isArray(v),
    ),
    inspect: (value: unknown) => {
      const rules = value as readonly unknown[];
      for (let i = 0; i < rules.length; i += 1) {
        const rule = rules[i];
        if (!isObject(rule))
          return { at: `[${i}]`, message: `must be { clients: [...], grants: [...] }, got ${describe(rule)}` };
        const unknown = Object.keys(rule).find((key) => key !== 'clients' && key !== 'grants');
        if (unknown !== undefined)
          return { at: `[${i}].${unknown}`, message: 'is not an option (expected clients and grants)' };
        for (const key of ['clients', 'grants'] as const) {
          const list = rule[key];
          if (!Array.isArray(list) || !list.every((entry) => typeof entry === 'string')) {
            return { at: `[${i}].${key}`, message: `must be an array of strings, got ${describe(list)}` };
          }
        }
        const clients = rule.clients as string[];
        for (let j = 0; j < clients.length; j += 1) {
          const problem = patternProblem(clients[j]);
          if (problem !== undefined) return { at: `[${i}].clients[${j}]`, message: problem };
        }
      }
      return undefined;
    },
  }) as OptionRow<readonly GrantWithoutUserRule[], false>,
  /**
   * Client-authentication JWTs of CIMD clients (private_key_jwt) without an explicit type
   * (`typ: oauth-client-auth+jwt`, SPEC.clientAuthentication, or
   * `client-authentication+jwt`, rfc7523bis): `'accept'` (default) serves them and emits
   * `client_assertion_untyped`; `'require'` refuses them. Another explicit type is refused either way.
   */
  clientAssertionTyp: withDefault(oneOf<ClientAssertionTypMode>('accept', 'require'), 'accept'),
  /** What `selfCheck()` does when discovery would make CIMD clients fall back to DCR. Default `'warn'`. */
  discoveryCheck: withDefault(oneOf<DiscoveryCheckMode>('warn', 'error', 'off'), 'warn'),
  /**
   * The client registry (`clients()`, `cimd clients`): CIMD clients seen, first and last, last outcome, users
   * (hashed). Kept in the shared store. `false` turns it off. See docs/operator-api.md "Client registry".
   */
  registry: falseOr(object<RegistryOptions>(REGISTRY_OPTIONS)),
  /** Grant types added after construction with `provider.registerGrantType()`. */
  extraGrantTypes: strings(),
  /** Response modes added with `provider.registerResponseMode()`. */
  extraResponseModes: strings(),
} as const;

type Table = typeof CIMD_OPTIONS;
type ValueOf<R> = R extends OptionRow<infer T> ? T : never;

/** The options of `createCimd`, derived from {@link CIMD_OPTIONS} (one row per option). */
export type CimdOptions = { -readonly [K in keyof Table]?: ValueOf<Table[K]> | undefined };

/** The options with their defaults applied: an option with a default is always set. */
export type ResolvedCimdOptions = {
  readonly [K in keyof Table]: Table[K] extends OptionRow<infer T, true> ? T : ValueOf<Table[K]> | undefined;
};

// ---------------------------------------------------------------------------------------------------------------
// Validation

function distance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i += 1) {
    let diagonal = previous[0]!;
    previous[0] = i;
    for (let j = 1; j <= b.length; j += 1) {
      const above = previous[j]!;
      previous[j] = Math.min(above + 1, previous[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return previous[b.length]!;
}

/** The known name a misspelt one most likely meant, if any is close enough. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const d = candidate.toLowerCase() === lower ? 0 : distance(lower, candidate.toLowerCase());
    if (!best || d < best.distance) best = { name: candidate, distance: d };
  }
  if (!best) return undefined;
  return best.distance <= Math.max(2, Math.floor(name.length / 4)) ? best.name : undefined;
}

const describe = (value: unknown): string => {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string')
    return `the string ${JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  return `a ${typeof value}`;
};

/**
 * Checks `input` against `table`: unknown keys and wrong types throw a {@link CimdOptionError} naming the option
 * (its path, for nested ones). `undefined` counts as absent.
 */
export function validateOptions(input: unknown, table: OptionTable, path = ''): void {
  if (!isObject(input)) {
    throw new CimdOptionError(`${path ? `option ${path}` : 'options'} must be an object, got ${describe(input)}`, {
      ...(path ? { option: path } : {}),
    });
  }
  const known = Object.keys(table);
  for (const [key, value] of Object.entries(input)) {
    const name = `${path}${key}`;
    const spec = Object.hasOwn(table, key) ? table[key] : undefined;
    if (!spec) {
      const suggestion = closestName(key, known);
      throw new CimdOptionError(
        `unknown option ${JSON.stringify(name)}${suggestion ? ` (did you mean "${path}${suggestion}"?)` : ''}; known options${path ? ` of ${path.slice(0, -1)}` : ''}: ${known.join(', ')}`,
        { option: name },
      );
    }
    if (value === undefined) continue;
    if (spec.falseAllowed && value === false) continue;
    if (!spec.test(value)) {
      throw new CimdOptionError(`option ${name} must be ${spec.expected}, got ${describe(value)}`, { option: name });
    }
    const problem = spec.inspect?.(value);
    if (problem) {
      throw new CimdOptionError(`option ${name}${problem.at}: ${problem.message}`, { option: `${name}${problem.at}` });
    }
    if (spec.nested) validateOptions(value, spec.nested, `${name}.`);
  }
}

/** Whether an issuer's host is loopback (`localhost`, 127.0.0.0/8, `[::1]`): the development exception's condition. */
export const isLoopbackIssuer = (issuer: string): boolean => {
  const host = URL.parse(issuer)?.hostname;
  return host !== undefined && (host === 'localhost' || isLoopbackAddress(host));
};

/** Every list of client patterns in the options, with its option path. */
function patternLists(o: ResolvedCimdOptions): [string, readonly string[]][] {
  const lists: [string, readonly string[] | undefined][] = [
    ['policy.allow', o.policy?.allow],
    ['policy.deny', o.policy?.deny],
    ['consent.trusted', o.consent?.trusted],
    ...(o.grantsWithoutUser ?? []).map((rule, i): [string, readonly string[]] => [
      `grantsWithoutUser[${i}].clients`,
      rule.clients,
    ]),
  ];
  return lists.filter((entry): entry is [string, readonly string[]] => entry[1] !== undefined);
}

/**
 * The startup checks that relate options to each other. They run after the type checks, on the options with
 * defaults applied.
 */
/** A startup check: the option(s) it concerns (the error's `option` path), what it requires, the check. */
export interface StartupCheck {
  readonly option: string;
  readonly requires: string;
  readonly run: (options: ResolvedCimdOptions) => void;
}

export const STARTUP_CHECKS: readonly StartupCheck[] = [
  {
    option: 'allowLoopback',
    requires: '`allowLoopback` needs the `issuer` option, and a loopback one (localhost, 127.0.0.0/8, [::1])',
    run: (o) => {
      // SPEC.development: loopback client ids are a development exception,
      // so they are only honoured when the server itself runs on loopback.
      if (!o.allowLoopback) return;
      if (o.issuer === undefined) {
        throw new CimdOptionError(
          'allowLoopback needs the `issuer` option, so that the development exception can be limited to a loopback issuer',
          { option: 'allowLoopback' },
        );
      }
      if (!isLoopbackIssuer(o.issuer)) {
        throw new CimdOptionError(
          `allowLoopback is a development exception and is only honoured with a loopback issuer (localhost, 127.0.0.0/8 or [::1]); the issuer is ${o.issuer}. Remove allowLoopback in production.`,
          { option: 'allowLoopback' },
        );
      }
    },
  },
  {
    option: 'policy.admission',
    requires:
      "`policy.admission: 'open'` with `policy.allow` or `policy.decide` (they would have no effect); `'allowlist'` or `'report'` without either",
    run: (o) => {
      // SPEC.domainTrust: an allow-list means what it says.
      const policy = o.policy;
      if (policy === undefined) return;
      const hasAllowRules = (policy.allow ?? []).length > 0 || policy.decide !== undefined;
      const admission = admissionOf(policy as TrustPolicyOptions);
      if (admission === 'open' && hasAllowRules) {
        throw new CimdOptionError(
          "option policy.admission 'open' admits every client, so policy.allow or policy.decide would have no effect; use 'allowlist' to enforce it or 'report' to try it out",
          { option: 'policy.admission' },
        );
      }
      if (admission !== 'open' && !hasAllowRules) {
        throw new CimdOptionError(
          `option policy.admission '${admission}' needs policy.allow patterns (e.g. 'known') or a policy.decide hook`,
          { option: 'policy.admission' },
        );
      }
    },
  },
  {
    option: 'budget.reservedForKnown',
    requires: '`budget.reservedForKnown` must be smaller than `budget.maxConcurrent`',
    run: (o) => {
      const budget = o.budget;
      if (budget?.reservedForKnown === undefined) return;
      const maxConcurrent = budget.maxConcurrent ?? (BUDGET_OPTIONS.maxConcurrent.default as number);
      if (budget.reservedForKnown >= maxConcurrent) {
        throw new CimdOptionError(
          `option budget.reservedForKnown (${budget.reservedForKnown}) must be smaller than budget.maxConcurrent (${maxConcurrent}): unknown clients would get no fetch at all`,
          { option: 'budget.reservedForKnown' },
        );
      }
    },
  },
  {
    option: 'policy.allow[i], policy.deny[i], consent.trusted[i], grantsWithoutUser[i].clients[j]',
    requires:
      'an exact client id in a pattern list must be a canonical client id under the client-id URL rules (the error names the rule and suggests the canonical spelling)',
    run: (o) => {
      // An exact client id in a pattern list is compared byte for byte, so one that is not a canonical client id
      // (SPEC.clientIdUrl rules: `https://Claude.ai/…`, `…:443/…`, `…?x=1`,
      // `…/./…`) could never match: the client would be refused silently. It stops startup, with a hint.
      const rules = createUrlRules({
        // Without an issuer, one no client id can share (the own-origin rule is the server's, not the pattern's).
        issuer: o.issuer ?? 'https://issuer.invalid',
        allowLoopback: o.allowLoopback,
        allowRootPath: o.allowRootPath,
        allowQuery: o.allowQuery,
        ...(o.allowedPorts !== undefined ? { allowedPorts: o.allowedPorts } : {}),
      });
      for (const [path, list] of patternLists(o)) {
        list.forEach((pattern, index) => {
          if (!isExactIdPattern(pattern)) return;
          const id = pattern.trim();
          const verdict = rules(id);
          if (verdict.ok) return;
          const parsed = URL.parse(id);
          if (parsed && !o.allowQuery) parsed.search = '';
          const suggestion = parsed?.href;
          const hint =
            suggestion !== undefined && suggestion !== id && rules(suggestion).ok
              ? ` (did you mean ${JSON.stringify(suggestion)}?)`
              : '';
          throw new CimdOptionError(
            `option ${path}[${index}] ${JSON.stringify(pattern)} can never match: ${verdict.message} (rule ${verdict.rule})${hint}`,
            { option: `${path}[${index}]` },
          );
        });
      }
    },
  },
  {
    option: 'lifetime.minSeconds',
    requires: '`lifetime.minSeconds` must not exceed `lifetime.maxSeconds`',
    run: (o) => {
      const { minSeconds, maxSeconds } = o.lifetime ?? {};
      if (minSeconds !== undefined && maxSeconds !== undefined && minSeconds > maxSeconds) {
        throw new CimdOptionError(
          `option lifetime.minSeconds (${minSeconds}) exceeds lifetime.maxSeconds (${maxSeconds})`,
          {
            option: 'lifetime.minSeconds',
          },
        );
      }
    },
  },
];

/**
 * Validates `input` against the table and the startup checks, and applies the defaults. Throws
 * {@link CimdOptionError} (`code: 'CIMD_INVALID_OPTION'`, `option`: the path) for the first problem.
 */
export function resolveCimdOptions(input: unknown = {}): ResolvedCimdOptions {
  validateOptions(input, CIMD_OPTIONS);
  const given = input as Record<string, unknown>;
  const resolved: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(CIMD_OPTIONS) as [string, OptionRow<unknown>][]) {
    resolved[name] = given[name] !== undefined ? given[name] : spec.default;
  }
  const options = resolved as ResolvedCimdOptions;
  for (const check of STARTUP_CHECKS) check.run(options);
  return Object.freeze(options);
}
