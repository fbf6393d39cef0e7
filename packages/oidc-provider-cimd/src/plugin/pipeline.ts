/**
 * The composition root: from the validated options (plugin/options.ts) and the facts of the provider, the WHOLE
 * pipeline, stateful parts included: the fetch budget (cluster-wide with Redis, fixed at construction), the
 * guarded fetcher, the client-id URL rules and the development-exception rule, the trust policy, the document
 * rules, the cache tiers, the fetch lock, the invalidation bus, the client registry and the event emitter, the
 * per-request failure memo and the `idFactory` guard. The server (`createCimd`, plugin/create.ts, which only
 * wires the result into oidc-provider) and `cimd check` (check/) both build it here, so what `check` reports for
 * a client (a URL rule, the development exception, a policy refusal) is what the server decides.
 */
import Keyv from 'keyv';
import { LRUCache } from 'lru-cache';
import { DocumentCache } from '../cache/document-cache.js';
import { KeySetCache } from '../cache/keysets.js';
import { createBoundedMemoryStore } from '../cache/memory-store.js';
import { createInvalidationBus, FetchLock, type InvalidationBus } from '../cluster/fetch-lock.js';
import { announceStoreLimits, storeLimits } from '../cluster/limits.js';
import { type RedisHandle, redisHandleOf } from '../cluster/redis.js';
import { SharedFetchBudget } from '../cluster/shared-budget.js';
import { StoreState } from '../core/errors.js';
import { SharedGuard } from '../core/shared-guard.js';
import { type BudgetRefusal, FetchBudget } from '../fetch/budget.js';
import { createFetcher, type Fetcher } from '../fetch/fetcher.js';
import { FETCH_STEPS, type FetchStep } from '../fetch/steps.js';
import { KnownClients } from '../known/record.js';
import { type CimdEvent, type Emit, timedEmitter } from '../observe/events.js';
import { createObservedEmitter, Listeners, reportBudgetRefusals } from '../observe/observation.js';
import { ClientRegistry } from '../observe/registry.js';
import { Resolver } from '../resolve/resolver.js';
import { createAddressPolicy } from '../rules/address-policy.js';
import { createUrlRules, type UrlVerdict } from '../rules/client-id-url.js';
import { type DocumentRuleOptions, grantsWithoutUserPolicy } from '../rules/document.js';
import { DEFAULT_LIFETIME_BOUNDS, type LifetimeBounds } from '../rules/http-cache.js';
import { createTrustPolicy, type PolicyVerdict } from '../rules/trust.js';
import { SPEC } from '../spec.js';
import { type CapabilityConfig, deriveCapabilities, type ProviderCapabilities } from './capabilities.js';
import { isLoopbackIssuer, type ResolvedCimdOptions } from './options.js';

/** What the pipeline needs to know about the provider it serves. */
export interface ProviderFacts {
  /**
   * The issuer of the provider serving the current request (`undefined` outside a request). The server reads
   * it from oidc-provider's request context; `check` states it (its `issuer`, or `providerIssuer`).
   */
  servingIssuer(): string | undefined;
  /** A fetcher to use instead of building one (e.g. `cimd.fetcher`, handed to `check`); the caller owns it. */
  fetcher?: Fetcher | undefined;
  /**
   * Whether to build the parts that only a running server needs (the shared store, the fetch lock, the
   * invalidation bus, the client registry). Default true; `check` builds none of them.
   */
  stateful?: boolean | undefined;
}

export interface Pipeline {
  readonly options: ResolvedCimdOptions;
  /** The budget every fetch made on a client's behalf draws on; cluster-wide with a Redis store. */
  readonly budget: FetchBudget;
  /** The guarded fetcher: the address policy on every address dialled, the timeouts, the caps, the budget. */
  readonly fetcher: Fetcher;
  /** The ordered fetch steps the fetcher applies (fetch/steps.ts). */
  readonly fetchSteps: readonly FetchStep[];
  /**
   * The client_id URL rules for an issuer, compiled once per issuer; accepted ids are remembered (bounded like
   * the in-process tier), rejections are not.
   */
  urlRulesFor(issuer: string): (cid: string) => UrlVerdict;
  /**
   * The URL rules as the server applies them: the development exception first (refused while the serving
   * provider's issuer is not loopback), then the issuer being known, then {@link urlRulesFor}.
   */
  urlRules(cid: string): UrlVerdict;
  /** The trust policy (allow-list, deny-list, hook, admission mode). */
  readonly policy: (cid: string, url: URL) => PolicyVerdict | Promise<PolicyVerdict>;
  /** What the document rules are told beyond the capabilities. */
  readonly documentRules: DocumentRuleOptions;
  /** Lifetime bounds of a cached document. */
  readonly lifetime: LifetimeBounds;
  /** What a provider with this configuration supports, as the document rules need it. */
  capabilities(configuration?: CapabilityConfig): ProviderCapabilities;
  /** The event emitter (the `onEvent` listener, the diagnostics channel, the registry, the observers). */
  readonly emit: Emit;
  /** What exporters subscribe to (observe/observation.ts): every event, and every budget refusal. */
  readonly observers: Observers;
  /** The shared tier (the `cache` option, or a private bounded in-memory Keyv). */
  readonly shared: Keyv;
  /** The shared-store deadline guard of the request path. */
  readonly guard: SharedGuard;
  /** Both cache tiers. */
  readonly cache: DocumentCache;
  /** The Redis handle behind the shared tier, when it is Redis. */
  readonly redis: RedisHandle | undefined;
  /** One fetch per CID across instances (Redis only, `fetchLock`). */
  readonly lock: FetchLock | undefined;
  /** Which clients are known-good: a durable record kept with the provider's adapter (known/record.ts). */
  readonly known: KnownClients;
  /** CIMD clients' key sets (`jwks_uri`), in both tiers apart from documents (cache/keysets.ts). */
  readonly keySets: KeySetCache;
  /** The key sets' own budget ({@link KEYSET_BUDGET}): document fetches and refresh grants cannot exhaust it. */
  readonly keySetBudget: FetchBudget;
  /** The client registry, unless `registry: false` (or `check`). */
  readonly registry: ClientRegistry | undefined;
  /** The resolver for a provider with these capabilities; with Redis, its invalidation bus is made with it. */
  resolver(capabilities: ProviderCapabilities): Resolver;
  /**
   * oidc-provider may look a client up again while rendering the error of a failed lookup; remembering the
   * failure for the rest of that request keeps it to one fetch and one event per request.
   */
  readonly failures: RequestFailureMemo;
  /** Wraps `features.registration.idFactory` so that it never mints an id a CIMD client could hold. */
  guardIdFactory<F extends (ctx: never) => unknown>(idFactory: F): F;
  /** Releases what the pipeline built (the caller's fetcher and Keyv store are left open). */
  close(): Promise<void>;
}

/**
 * The budget of CIMD clients' key-set fetches, apart from the documents' (in process, per instance): an unknown
 * `kid` refetches at most once per client per window (cache/keysets.ts), so a few slots are plenty, and junk
 * document ids on the key set's host, or a flood of refresh grants, cannot spend them. Its own per-host and
 * per-domain rates still bound what strangers can make the server fetch (SPEC.ssrf).
 */
export const KEYSET_BUDGET = Object.freeze({
  maxConcurrent: 8,
  reservedForKnown: 4,
  maxConcurrentPerDomain: 2,
  reservedPerDomainForKnown: 2,
  maxConcurrentPerAddress: 2,
  reservedPerAddressForKnown: 2,
  perHostBurst: 8,
  perHostPerSecond: 1,
  perDomainBurst: 16,
  perDomainPerSecond: 2,
});

/** The listeners exporters (metrics, health) add to. */
export interface Observers {
  readonly events: Listeners<[CimdEvent]>;
  readonly budgetRefusals: Listeners<[BudgetRefusal]>;
}

/** Failures remembered per request (per oidc-provider context object), dropped with it. */
export interface RequestFailureMemo {
  earlier(request: object | undefined, cid: string): unknown;
  remember(request: object | undefined, cid: string, error: unknown): void;
}

function createRequestFailureMemo(): RequestFailureMemo {
  const failed = new WeakMap<object, Map<string, unknown>>();
  return {
    earlier: (request, cid) => (request ? failed.get(request)?.get(cid) : undefined),
    remember(request, cid, error) {
      if (!request) return;
      const failures = failed.get(request) ?? new Map<string, unknown>();
      failures.set(cid, error);
      failed.set(request, failures);
    },
  };
}

export function buildPipeline(options: ResolvedCimdOptions, facts: ProviderFacts): Pipeline {
  const stateful = facts.stateful !== false;
  const now = options.now ?? Date.now;

  // The shared tier and its guard come first: the cluster-wide budget, the lock and the registry live there.
  // The option is typed structurally (cache/shared-store.ts) so a keyv 5 or 6 instance type-checks; inside, the
  // modules name Keyv's class but call only SharedStore's members on it.
  const shared =
    ((stateful ? options.cache : undefined) as Keyv | undefined) ?? new Keyv({ store: createBoundedMemoryStore() });
  // Keyv re-emits store errors; without a listener an EventEmitter 'error' would crash the process.
  shared.on('error', () => {});
  const guard = new SharedGuard({ timeoutMs: options.sharedCacheTimeoutMs });
  const redis = stateful ? redisHandleOf(shared) : undefined;
  if (stateful) {
    // A guarantee that cannot hold on this store is announced at startup, never lost silently.
    announceStoreLimits(storeLimits(options.cache && shared, redis));
  }

  // Every fetch made on a client's behalf (documents, jwks_uri, logo_uri, sector_identifier_uri) draws on it.
  // With Redis the budgets are cluster-wide too (N instances must not each grant a flood the full budget),
  // decided here, at construction.
  const budget = new FetchBudget(options.budget ?? {}, (windows) =>
    redis ? new SharedFetchBudget({ handle: redis, guard, ...windows }) : undefined,
  );

  const ownsFetcher = facts.fetcher === undefined;
  const fetcher =
    facts.fetcher ??
    createFetcher({
      addressPolicy: createAddressPolicy({
        allowLoopback: options.allowLoopback,
        ...(options.denyList ? { denyList: options.denyList } : {}),
      }),
      budget,
      // The development exception is judged for every fetch, registered clients' jwks_uri and
      // sector_identifier_uri included: loopback only while the provider serving the request has a loopback
      // issuer (called at fetch time, after developmentExceptionRefused below is defined).
      loopbackAllowed: () => developmentExceptionRefused() === undefined,
      dnsTimeoutMs: options.dnsTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
      timeoutMs: options.timeoutMs,
      maxBodyBytes: options.maxBodyBytes,
      acceptTextPlain: options.acceptTextPlain,
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
      ...(options.lookup !== undefined ? { lookup: options.lookup } : {}),
    });

  let compiled: { issuer: string; rules: (cid: string) => UrlVerdict } | undefined;
  const urlRulesFor = (issuer: string) => {
    if (compiled?.issuer !== issuer) {
      const rules = createUrlRules({
        issuer,
        allowLoopback: options.allowLoopback,
        allowRootPath: options.allowRootPath,
        allowQuery: options.allowQuery,
        ...(options.allowedPorts !== undefined ? { allowedPorts: options.allowedPorts } : {}),
      });
      // The rules are pure for a given issuer, and run on every lookup, warm ones included: remembering the
      // accepted ids (bounded like the in-process tier, dropped with the issuer) keeps a warm lookup at a Map
      // read. Rejections are not remembered, so hostile ids cannot crowd out the clients in use.
      const accepted = new LRUCache<string, UrlVerdict>({ max: options.memoryCacheSize });
      compiled = {
        issuer,
        rules: (cid) => {
          const known = accepted.get(cid);
          if (known) return known;
          const verdict = rules(cid);
          if (verdict.ok) accepted.set(cid, verdict);
          return verdict;
        },
      };
    }
    return compiled.rules;
  };

  // The development exception (SPEC.development) was checked against the `issuer` option at startup; the provider that actually
  // serves the request is what counts. A provider with a public issuer gets no CIMD client at all while
  // allowLoopback is set: a misconfiguration fails closed, with an event per lookup (rule
  // `development_exception`). The verdict is remembered for the last issuer seen: parsing it on every lookup
  // cost more than the warm lookup.
  let checkedIssuer: { issuer: string; loopback: boolean } | undefined;
  const developmentExceptionRefused = (): string | undefined => {
    if (!options.allowLoopback) return undefined;
    const serving = facts.servingIssuer();
    if (serving === undefined) return undefined;
    if (checkedIssuer?.issuer !== serving) checkedIssuer = { issuer: serving, loopback: isLoopbackIssuer(serving) };
    return checkedIssuer.loopback ? undefined : serving;
  };
  // The URL rules in force for the request being served, or the refusal that stands for them when none apply.
  // `urlRules` applies them; `urlRegime` names them for the resolver's warm record (an id they accepted is
  // accepted again while they are the same rules). One function, so the two cannot disagree.
  const rulesInForce = (): ((cid: string) => UrlVerdict) | Extract<UrlVerdict, { ok: false }> => {
    const publicIssuer = developmentExceptionRefused();
    if (publicIssuer !== undefined) {
      return {
        ok: false,
        rule: 'development_exception',
        message: `allowLoopback is set, but the provider serving this request has the non-loopback issuer ${publicIssuer}; the development exception is refused`,
      };
    }
    const issuer = options.issuer ?? facts.servingIssuer();
    if (issuer === undefined) {
      return {
        ok: false,
        rule: 'issuer_unknown',
        message: 'the provider issuer is not known yet (set the issuer option)',
      };
    }
    return urlRulesFor(issuer);
  };
  const urlRules = (cid: string): UrlVerdict => {
    const rules = rulesInForce();
    return typeof rules === 'function' ? rules(cid) : rules;
  };
  const urlRegime = (): object | undefined => {
    const rules = rulesInForce();
    return typeof rules === 'function' ? rules : undefined;
  };

  const documentRules: DocumentRuleOptions = Object.freeze({
    requireClientName: options.requireClientName,
    allowGrantWithoutUser: grantsWithoutUserPolicy(options.grantsWithoutUser ?? []),
  });
  const lifetime: LifetimeBounds = Object.freeze({ ...DEFAULT_LIFETIME_BOUNDS, ...options.lifetime });
  const policy = createTrustPolicy(options.policy ?? {});

  const cache = new DocumentCache({
    shared,
    redis,
    maxEntries: options.memoryCacheSize,
    guard,
    revalidationGraceMs: 24 * 60 * 60 * 1000,
    transportFallbackMs: options.transportFallbackMs,
    // The store going down and coming back is reported once each (docs/caching.md); `emit` is defined below and
    // only called later, from a store operation.
    onStoreState: (state) => emit(state === 'down' ? StoreState.Down : StoreState.Up, '', emit.start(), 'shared'),
    now,
  });
  const lock =
    redis && options.fetchLock
      ? new FetchLock({ handle: redis, guard, ttlMs: options.fetchLockTtlMs ?? options.timeoutMs + 1000 })
      : undefined;
  // The registry writes from a timer, off every request's path: it can afford a longer deadline than lookups,
  // and has its own circuit, so a slow request-path operation never makes it drop a batch.
  const registryGuard = new SharedGuard({ timeoutMs: Math.max(2000, options.sharedCacheTimeoutMs) });
  const registry =
    !stateful || options.registry === false
      ? undefined
      : new ClientRegistry({ store: shared, run: (op) => registryGuard.run(op), now }, options.registry ?? {});
  // The registry is fed the reason and the client id directly, so that without an onEvent listener no event
  // object is built on the warm path. Exporters (cimdMetrics, cimdHealth) subscribe through the observers.
  const observers: Observers = {
    events: new Listeners<[CimdEvent]>(),
    budgetRefusals: new Listeners<[BudgetRefusal]>(),
  };
  reportBudgetRefusals(budget, observers.budgetRefusals);
  const emitEvent = createObservedEmitter(options.onEvent, observers.events);
  const emit: Emit = registry
    ? timedEmitter((reason, cid, startedAt, tier, extra, host, at) => {
        registry.note(reason, cid, at);
        emitEvent(reason, cid, startedAt, tier, extra, host);
      }, emitEvent.start)
    : emitEvent;

  // Known-good clients (docs/trust-and-budgets.md): recorded with the provider's adapter when a grant is saved,
  // never inferred from a cached copy.
  // Bounded like the in-process tier: the answers for the ids of one flood ("not known", kept 10 s) held up to
  // 10,000 entries whatever memoryCacheSize said (bench/memory.ts: 150-225 B per client beyond the bound).
  const known = new KnownClients({
    now,
    timeoutMs: Math.max(500, options.sharedCacheTimeoutMs),
    maxEntries: options.memoryCacheSize,
  });
  const keySets = new KeySetCache({ shared, guard, maxEntries: options.memoryCacheSize, now });
  const keySetBudget = new FetchBudget({
    ...KEYSET_BUDGET,
    ...(options.budget?.now ? { now: options.budget.now } : {}),
  });

  let invalidation: InvalidationBus | undefined;
  const resolver = (capabilities: ProviderCapabilities): Resolver => {
    if (redis && !invalidation)
      invalidation = createInvalidationBus(redis, guard, (cid, rev) => cache.forgetLocal(cid, rev));
    return new Resolver({
      urlRules,
      urlRegime,
      policy,
      budget,
      fetcher,
      capabilities,
      documentRules,
      grantsWithoutUser: options.grantsWithoutUser ?? [],
      cache,
      emit,
      lifetime,
      failureBackoffMs: options.failureBackoffMs,
      redirectRefetchAfterMs: options.redirectRefetchAfterMs,
      transportFallbackMs: options.transportFallbackMs,
      refreshCooldownMs: options.refreshCooldownMs,
      now,
      lock,
      invalidation,
      known,
    });
  };

  const guardIdFactory = <F extends (ctx: never) => unknown>(idFactory: F): F =>
    ((ctx: never) => {
      const id = idFactory(ctx);
      if (typeof id === 'string' && id.startsWith('https://')) {
        throw new Error(
          `oidc-provider-cimd: features.registration.idFactory produced ${JSON.stringify(id)}; ids of registered clients must not start with https:// (${SPEC.mixedClients})`,
        );
      }
      return id;
    }) as F;

  return {
    options,
    budget,
    fetcher,
    fetchSteps: FETCH_STEPS,
    urlRulesFor,
    urlRules,
    policy,
    documentRules,
    lifetime,
    capabilities: (configuration = {}) =>
      deriveCapabilities(configuration, {
        ...(options.extraGrantTypes ? { extraGrantTypes: options.extraGrantTypes } : {}),
        ...(options.extraResponseModes ? { extraResponseModes: options.extraResponseModes } : {}),
      }),
    emit,
    observers,
    shared,
    guard,
    cache,
    redis,
    lock,
    registry,
    known,
    keySets,
    keySetBudget,
    resolver,
    failures: createRequestFailureMemo(),
    guardIdFactory,
    async close() {
      await registry?.close();
      invalidation?.close();
      invalidation = undefined;
      if (ownsFetcher) await fetcher.close();
    },
  };
}
