/**
 * The plugin object: options in, a configuration transformer and an operator API out.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import Keyv from 'keyv';
import { LRUCache } from 'lru-cache';
import type { AdapterPayload, Configuration } from 'oidc-provider';
import { Provider } from 'oidc-provider';
import type { CacheEntry } from '../cache/document-cache.js';
import { DocumentCache } from '../cache/document-cache.js';
import { createBoundedMemoryStore } from '../cache/memory-store.js';
import { SharedGuard } from '../cache/shared-guard.js';
import { createInvalidationBus, FetchLock, type InvalidationBus } from '../cluster/fetch-lock.js';
import { announceStoreLimits, storeLimits } from '../cluster/limits.js';
import { redisHandleOf } from '../cluster/redis.js';
import { SharedHostBudget } from '../cluster/shared-budget.js';
import {
  type ConsentOptions,
  type ConsentViewModel,
  type ConsentViewModelInput,
  createConsent,
  type DefaultInteractionPolicy,
  type InteractionPolicy,
  type LogoResponse,
} from '../consent/index.js';
import { FetchBudget, type FetchBudgetOptions } from '../fetch/budget.js';
import { createFetcher, type Fetcher, type FetcherOptions } from '../fetch/fetcher.js';
import { createEmitter, type EventListener } from '../observe/events.js';
import { ClientRegistry, type RegisteredClient, type RegistryOptions } from '../observe/registry.js';
import { type CacheInspection, Resolver } from '../resolve/resolver.js';
import { createAddressPolicy, isLoopbackAddress } from '../rules/address-policy.js';
import { createUrlRules, type UrlVerdict } from '../rules/client-id-url.js';
import { DEFAULT_LIFETIME_BOUNDS, type LifetimeBounds } from '../rules/http-cache.js';
import { createTrustPolicy, type TrustPolicyOptions } from '../rules/trust.js';
import { type AdapterConstructor, type AdapterFactory, wrapAdapter } from './adapter.js';
import { developmentAdapter } from './memory-adapter.js';
import { type CapabilityExtras, deriveCapabilities } from './capabilities.js';
import { type GrantWithoutUserRule, grantsWithoutUserPolicy } from '../rules/document.js';
import { type ClientAssertionTypMode, createClientAssertionCheck } from './client-assertion.js';
import { type DiscoveryCheckMode, type DiscoveryReport, runDiscoveryCheck } from './discovery-check.js';

export interface CimdOptions extends CapabilityExtras {
  /** Turn the plugin off entirely: no discovery flag, URL ids are unknown clients. Default true. */
  enabled?: boolean;
  /**
   * The provider's issuer. Needed up front for the development exception; otherwise learned from the provider
   * on its first request (a lookup before that, outside any request, is refused).
   */
  issuer?: string;
  /**
   * Development exception (draft §8.6): accept `localhost` / loopback client ids and dial loopback addresses.
   * Only honoured with a loopback issuer; any other issuer is a startup error.
   */
  allowLoopback?: boolean;
  /** Accept a client_id whose path is exactly `/`. Default false. */
  allowRootPath?: boolean;
  /** Accept a client_id with a query. Default false (every query variant would be a new client). */
  allowQuery?: boolean;
  /** Restrict the ports a client_id may name. Default: any. */
  allowedPorts?: readonly number[];
  /** More addresses or CIDRs never to dial, on top of the public-unicast rule and the built-in `168.63.129.16/32`. */
  denyList?: readonly string[];
  /** Connect (DNS + TCP + TLS) timeout, ms. Default 3000. */
  connectTimeoutMs?: number;
  /** Hard deadline of one name resolution (A and AAAA together), ms. Default 1500. Ignored when `lookup` is given. */
  dnsTimeoutMs?: number;
  /** Whole-fetch timeout, ms. Default 5000. */
  timeoutMs?: number;
  /** Document size cap, bytes. Default 5120. */
  maxBodyBytes?: number;
  /** Also accept documents served as `text/plain`. Default false. */
  acceptTextPlain?: boolean;
  /** Require `client_name` in documents (MCP requires it). Default true. */
  requireClientName?: boolean;
  /**
   * Shared cache tier: any Keyv instance. For Redis use `await createRedisCache(url)` (a client that fails fast
   * while Redis is down); a `KeyvRedis` built by hand works too. Default: a private in-memory Keyv, bounded to
   * 10,000 entries and about 32 MiB.
   */
  cache?: Keyv;
  /** Entries kept in the in-process tier. Default 1000. */
  memoryCacheSize?: number;
  /**
   * Deadline for each shared-cache operation, ms; a slower store reads as a miss, and after such a timeout the
   * shared tier is skipped for one second. Default 150.
   */
  sharedCacheTimeoutMs?: number;
  /**
   * With a Redis store, instances that miss the same CID at once make one fetch between them: one takes a lock,
   * the others wait for its result. Default true. Other stores: one fetch per process.
   */
  fetchLock?: boolean;
  /** Expiry of a fetch lock, ms: the longest a crashed holder can delay the others. Default `timeoutMs` + 1000. */
  fetchLockTtlMs?: number;
  /** Document lifetime bounds. Default: [60 s, 24 h], 300 s when the response says nothing. */
  lifetime?: Partial<LifetimeBounds>;
  /** After a failed fetch the same CID is not fetched again for this long, ms. Default 3000. */
  failureBackoffMs?: number;
  /**
   * Transport fallback, ms past a document's freshness lifetime (at most 7 days). Default 0: off. When a refresh
   * fails for transport reasons only (network errors and timeouts, 5xx, 429, a redirect, a 403/503 challenge page
   * that is not JSON), a client that completed an authorization keeps being served its last valid copy this much
   * longer, with the event `stale_fallback`. Never on 404/410 (revocation) or an invalid document.
   */
  transportFallbackMs?: number;
  /** `refresh()` of one client at most once per this many ms (the operator API). Default 10000. */
  refreshCooldownMs?: number;
  /** A cached document at least this old is refetched once when the request's redirect_uri is not in it, ms. Default 60000. */
  redirectRefetchAfterMs?: number;
  /** Trust policy: allow-list, deny-list (exact ids, `host`, `*.host`) and a hook. Denied ids are never fetched. */
  policy?: TrustPolicyOptions;
  /** Outbound fetch budgets: per-host token bucket and a global cap on concurrent fetches. */
  budget?: FetchBudgetOptions;
  /** Receives one event per resolution (see `Reason`). */
  onEvent?: EventListener;
  /**
   * Also route oidc-provider's own outbound requests (jwks_uri, sector_identifier_uri, backchannel calls)
   * through the guarded fetcher. Default true. A configuration that brings its own `fetch` must turn this off.
   */
  guardProviderFetch?: boolean;
  /** Extra trusted CA certificates for document hosts (tests, private PKI). TLS verification is always on. */
  ca?: FetcherOptions['ca'];
  /** DNS resolver used by the fetcher (dns.lookup-compatible); the address policy still applies to its answers. */
  lookup?: FetcherOptions['lookup'];
  /** Clock for cache freshness, ms since the epoch. For tests only. Default `Date.now`. */
  now?: () => number;
  /** Consent (spec §6): the loopback rule, the new- and changed-client signals, trusted patterns, the logo proxy. See "Consent" in the README. */
  consent?: ConsentOptions;
  /**
   * Grants in which no user takes part (client_credentials, CIBA, token exchange, any extension grant) that
   * the trust policy grants to CIMD clients explicitly: `[{ clients: ['https://agent.example.com/client.json'],
   * grants: ['client_credentials'] }]`. Never to a client that authenticates with `none`. Default: none, so they
   * are dropped from every CIMD client.
   */
  grantsWithoutUser?: readonly GrantWithoutUserRule[];
  /**
   * Client-authentication JWTs of CIMD clients (private_key_jwt) without the explicit
   * `typ: client-authentication+jwt` of draft-03 §6: `'accept'` (default) serves them and emits
   * `client_assertion_untyped`; `'require'` refuses them. Another explicit type is refused either way.
   */
  clientAssertionTyp?: ClientAssertionTypMode;
  /** What `selfCheck()` does when discovery would make CIMD clients fall back to DCR. Default `'warn'`. */
  discoveryCheck?: DiscoveryCheckMode;
  /**
   * The client registry (`clients()`, `cimd clients`): CIMD clients seen, first and last, last outcome, users
   * (hashed). Kept in the shared store. `false` turns it off. See "Client registry" in the README.
   */
  registry?: RegistryOptions | false;
}

export interface Cimd {
  readonly enabled: boolean;
  /** Returns a new provider configuration with CIMD wired in (or untouched when disabled). */
  configure(configuration?: Configuration): Configuration;
  /** Resolves a client_id as the provider would. `undefined`: not a CIMD id. Throws CimdError on rejection. */
  resolve(clientId: string, hints?: { redirectUri?: string }): Promise<CacheEntry | undefined>;
  /** The cached entry for a client_id and its freshness, or undefined. */
  inspect(clientId: string): Promise<CacheInspection | undefined>;
  /** Fetches now; replaces the cached entry only when the new document is valid. */
  refresh(clientId: string): Promise<CacheEntry>;
  /**
   * Removes a client_id from the shared store and this instance's in-process tier. With Redis, the other
   * instances are told to drop their in-process copies too (pub/sub); one that misses the message keeps its
   * copy until it goes stale.
   */
  purge(clientId: string): Promise<void>;
  /**
   * Pre-registers a client (draft §7.2): validates its document now — fetched from the client_id, or the
   * `document` given (which must name this client_id) — and stores it in the shared store as pinned. A pinned
   * client resolves without any fetch, whatever its host does, until `unpin` (or `purge`). `refresh` of a
   * pinned client refetches and keeps it pinned. Throws CimdError on a rejected id or document, and Error when
   * the shared store does not confirm the write.
   */
  pin(clientId: string, options?: { document?: string | Buffer | Uint8Array }): Promise<CacheEntry>;
  /** Removes a pin and the entry with it: the next lookup fetches. Resolves false when the client was not pinned. */
  unpin(clientId: string): Promise<boolean>;
  /** The guarded fetcher, for fetching other client-supplied URLs under the same address policy. */
  readonly fetcher: Fetcher;
  /**
   * The CIMD clients this deployment has seen (every instance sharing the store), most recently seen first.
   * Throws when the registry is off or the shared store does not answer.
   */
  clients(): Promise<RegisteredClient[]>;
  /**
   * Reads both discovery documents (from the provider, or from a URL such as the public issuer behind a proxy)
   * and reports what would make CIMD clients fall back to DCR. With `discoveryCheck: 'warn'` (default) a failure
   * is also a process warning (code `CIMD_DISCOVERY`); with `'error'` it rejects. Call it after `new Provider`.
   */
  selfCheck(target: Provider | string | URL): Promise<DiscoveryReport>;
  /**
   * Adds the plugin's consent checks to the `consent` prompt of an interaction policy (default: a new
   * `interactionPolicy.base()`), in place and idempotently, and returns it. `configure()` does this by itself
   * unless `consent.policy` is `'manual'`.
   */
  interactionPolicy<P extends InteractionPolicy = DefaultInteractionPolicy>(policy?: P): P;
  /** Everything a consent page needs, as a plain object (see "The view model" in the README); render it with `renderConsentPage`. */
  consentViewModel(input: ConsentViewModelInput): Promise<ConsentViewModel>;
  /**
   * The response for a request to the logo route (`consent.logo.path`, default `/cimd/logo/`), or `undefined`
   * when `path` is not under it. Framework-agnostic; see `serveLogo` for Node's http.
   */
  logoResponse(method: string, path: string): Promise<LogoResponse | undefined>;
  /** Node http handler for the logo route: resolves true when it answered, false for any other path. */
  serveLogo(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /** Releases sockets (and the invalidation subscriber). The shared Keyv store belongs to the caller and is left open. */
  close(): Promise<void>;
}

function isLoopbackIssuer(issuer: string): boolean {
  const url = URL.parse(issuer);
  if (!url) return false;
  return url.hostname === 'localhost' || isLoopbackAddress(url.hostname);
}

export function createCimd(options: CimdOptions = {}): Cimd {
  const enabled = options.enabled !== false;
  const allowLoopback = options.allowLoopback === true;

  if (options.issuer !== undefined && !URL.parse(options.issuer)) {
    throw new TypeError(`oidc-provider-cimd: issuer ${JSON.stringify(options.issuer)} is not a URL`);
  }
  if (allowLoopback) {
    if (options.issuer === undefined) {
      throw new TypeError(
        'oidc-provider-cimd: allowLoopback needs the `issuer` option, so that the development exception can be limited to a loopback issuer',
      );
    }
    if (!isLoopbackIssuer(options.issuer)) {
      throw new TypeError(
        `oidc-provider-cimd: allowLoopback is a development exception and is only honoured with a loopback issuer (localhost, 127.0.0.0/8 or [::1]); the issuer is ${options.issuer}. Remove allowLoopback in production.`,
      );
    }
  }

  // Every fetch made on a client's behalf (documents, jwks_uri, logo_uri, sector_identifier_uri) draws on it.
  const budget = new FetchBudget(options.budget);
  const fetcher = createFetcher({
    addressPolicy: createAddressPolicy({ allowLoopback, ...(options.denyList ? { denyList: options.denyList } : {}) }),
    budget,
    ...(options.dnsTimeoutMs !== undefined ? { dnsTimeoutMs: options.dnsTimeoutMs } : {}),
    ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.maxBodyBytes !== undefined ? { maxBodyBytes: options.maxBodyBytes } : {}),
    ...(options.acceptTextPlain !== undefined ? { acceptTextPlain: options.acceptTextPlain } : {}),
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
    ...(options.lookup !== undefined ? { lookup: options.lookup } : {}),
  });

  const now = options.now ?? Date.now;
  const shared = options.cache ?? new Keyv({ store: createBoundedMemoryStore() });
  // Keyv re-emits store errors; without a listener an EventEmitter 'error' would crash the process.
  shared.on('error', () => {});
  const guard = new SharedGuard({ timeoutMs: options.sharedCacheTimeoutMs ?? 150 });
  const cache = new DocumentCache({
    shared,
    maxEntries: options.memoryCacheSize ?? 1000,
    guard,
    revalidationGraceMs: 24 * 60 * 60 * 1000,
    transportFallbackMs: options.transportFallbackMs ?? 0,
    now,
  });
  const redis = redisHandleOf(shared);
  // Contract §9: a guarantee that cannot hold on this store is announced at startup, never lost silently.
  announceStoreLimits(storeLimits(options.cache, redis));
  const fetchLock =
    redis && options.fetchLock !== false
      ? new FetchLock({ handle: redis, guard, ttlMs: options.fetchLockTtlMs ?? (options.timeoutMs ?? 5000) + 1000 })
      : undefined;
  let invalidation: InvalidationBus | undefined;
  const registry =
    options.registry === false
      ? undefined
      : new ClientRegistry({ store: shared, run: (op) => guard.run(op), now }, options.registry ?? {});
  const emit = createEmitter(
    registry
      ? (event) => {
          registry.noteEvent(event);
          options.onEvent?.(event);
        }
      : options.onEvent,
  );
  const policy = createTrustPolicy(options.policy);
  const sharedBudget = redis ? new SharedHostBudget({ handle: redis, guard, ...budget.windows }) : undefined;
  budget.share(sharedBudget?.check);
  const lifetime: LifetimeBounds = { ...DEFAULT_LIFETIME_BOUNDS, ...options.lifetime };

  // URL rules depend on the issuer; compiled once per issuer seen.
  let compiled: { issuer: string; rules: (cid: string) => UrlVerdict } | undefined;
  const urlRulesFor = (issuer: string) => {
    if (compiled?.issuer !== issuer) {
      const rules = createUrlRules({
        issuer,
        allowLoopback,
        ...(options.allowRootPath !== undefined ? { allowRootPath: options.allowRootPath } : {}),
        ...(options.allowQuery !== undefined ? { allowQuery: options.allowQuery } : {}),
        ...(options.allowedPorts !== undefined ? { allowedPorts: options.allowedPorts } : {}),
      });
      // The rules are pure for a given issuer, and run on every lookup, warm ones included: remembering the
      // accepted ids (bounded like the in-process tier, dropped with the issuer) keeps a warm lookup at a Map
      // read. Rejections are not remembered, so hostile ids cannot crowd out the clients in use.
      const accepted = new LRUCache<string, UrlVerdict>({ max: options.memoryCacheSize ?? 1000 });
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
  const currentIssuer = (): string | undefined => options.issuer ?? Provider.ctx?.oidc?.provider?.issuer;
  // The development exception was checked against the `issuer` option at startup; the provider that actually
  // serves the request is what counts (draft-ietf-oauth-client-id-metadata-document-03 §8.6). A provider with a
  // public issuer gets no CIMD client at all while allowLoopback is set: a misconfiguration fails closed, with an
  // event per lookup (rule `development_exception`).
  const developmentExceptionRefused = (): string | undefined => {
    if (!allowLoopback) return undefined;
    const serving = Provider.ctx?.oidc?.provider?.issuer;
    return serving !== undefined && !isLoopbackIssuer(serving) ? serving : undefined;
  };
  const urlRules = (cid: string): UrlVerdict => {
    const publicIssuer = developmentExceptionRefused();
    if (publicIssuer !== undefined) {
      return {
        ok: false,
        rule: 'development_exception',
        message: `allowLoopback is set, but the provider serving this request has the non-loopback issuer ${publicIssuer}; the development exception is refused`,
      };
    }
    const issuer = currentIssuer();
    if (issuer === undefined) {
      return {
        ok: false,
        rule: 'issuer_unknown',
        message: 'the provider issuer is not known yet (set the issuer option)',
      };
    }
    return urlRulesFor(issuer)(cid);
  };

  let resolver: Resolver | undefined;
  const needResolver = (): Resolver => {
    if (!resolver) throw new Error('oidc-provider-cimd: call configure() before resolving clients');
    return resolver;
  };

  // Consent (spec §6): records in the same shared store, under the same deadlines; logos through the fetcher.
  const consent = createConsent({
    options: options.consent ?? {},
    store: shared,
    guard,
    fetcher,
    now,
    inspect: async (cid) => resolver?.inspect(cid),
    // From the id, never from the cache (contract §6): a `no-store` document is a CIMD client all the same.
    isMetadataDocumentClient: (cid) => {
      const verdict = urlRules(cid);
      return verdict.ok || verdict.rule === 'issuer_unknown';
    },
  });

  const plugin: Cimd = {
    enabled,
    fetcher,
    configure(configuration: Configuration = {}): Configuration {
      const features = (configuration.features ?? {}) as Record<string, { enabled?: boolean } | undefined>;
      if (features.clientIdMetadataDocument?.enabled) {
        throw new TypeError(
          "oidc-provider-cimd: the configuration also enables oidc-provider's built-in features.clientIdMetadataDocument; use one or the other, not both",
        );
      }
      if (!enabled) return { ...configuration };

      const authMethods = configuration.clientAuthMethods;
      if (authMethods && ![...authMethods].includes('none')) {
        throw new TypeError(
          "oidc-provider-cimd: clientAuthMethods must include 'none': CIMD clients are public clients without a secret",
        );
      }
      if (configuration.fetch && options.guardProviderFetch !== false) {
        throw new TypeError(
          'oidc-provider-cimd: the configuration brings its own fetch, which would bypass the SSRF guard; remove it or set guardProviderFetch: false',
        );
      }

      const capabilities = deriveCapabilities(configuration as never, options);
      if (redis && !invalidation) invalidation = createInvalidationBus(redis, guard, (cid) => cache.forgetLocal(cid));
      resolver = new Resolver({
        urlRules,
        policy,
        budget,
        sharedBudget,
        fetcher,
        capabilities,
        documentRules: {
          requireClientName: options.requireClientName !== false,
          allowGrantWithoutUser: grantsWithoutUserPolicy(options.grantsWithoutUser ?? []),
        },
        cache,
        emit,
        lifetime,
        failureBackoffMs: options.failureBackoffMs ?? 3000,
        redirectRefetchAfterMs: options.redirectRefetchAfterMs ?? 60_000,
        transportFallbackMs: options.transportFallbackMs ?? 0,
        refreshCooldownMs: options.refreshCooldownMs ?? 10_000,
        now,
        lock: fetchLock,
        invalidation,
      });
      const active = resolver;

      // oidc-provider may look a client up again while rendering the error of a failed lookup; remembering the
      // failure for the rest of that request keeps it to one fetch and one event per request.
      const failedInRequest = new WeakMap<object, Map<string, unknown>>();
      // A warm client is answered synchronously (see Resolver.lookup): no promise on the hot path.
      const resolveClient = (id: string): AdapterPayload | undefined | Promise<AdapterPayload | undefined> => {
        // Cheapest possible exit for the ids of ordinary clients.
        if (!id.startsWith('https://')) return undefined;
        const ctx = Provider.ctx;
        const earlier = ctx ? failedInRequest.get(ctx)?.get(id) : undefined;
        if (earlier) throw earlier;
        const redirectUri = ctx?.oidc?.params?.redirect_uri;
        const remember = (error: unknown): never => {
          if (ctx) {
            const failures = failedInRequest.get(ctx) ?? new Map<string, unknown>();
            failures.set(id, error);
            failedInRequest.set(ctx, failures);
          }
          throw error;
        };
        let found: CacheEntry | undefined | Promise<CacheEntry | undefined>;
        try {
          found = active.lookup(id, typeof redirectUri === 'string' ? { redirectUri } : {});
        } catch (error) {
          return remember(error);
        }
        if (found instanceof Promise) {
          return found.then((entry) => entry?.metadata as AdapterPayload | undefined, remember);
        }
        return found?.metadata as AdapterPayload | undefined;
      };

      const inner = (configuration.adapter ?? developmentAdapter(configuration.clockTolerance)) as
        | AdapterFactory
        | AdapterConstructor;
      // What users approved is kept with the deployment's own persistence (contract §6): its adapter.
      consent.useAdapter(inner);

      // draft-03 §6 explicit typing of client-authentication JWTs, checked in oidc-provider's own hook.
      const staticIds = new Set((configuration.clients ?? []).map((client) => client.client_id));
      const assertJwtClientAuthClaimsAndHeader = createClientAssertionCheck({
        mode: options.clientAssertionTyp ?? 'accept',
        isCimdClient: (id) => id.startsWith('https://') && !staticIds.has(id),
        emit,
        next: configuration.assertJwtClientAuthClaimsAndHeader,
      });

      const registration = configuration.features?.registration;
      const next: Configuration = {
        ...configuration,
        adapter: wrapAdapter(inner, resolveClient, (clientId, accountId) => {
          void active.markUsed(clientId);
          // The client registry counts the user, hashed.
          if (accountId !== undefined) registry?.noteUser(clientId, accountId);
        }),
        discovery: { ...configuration.discovery, client_id_metadata_document_supported: true },
        ...(options.guardProviderFetch !== false ? { fetch: fetcher.fetch as Configuration['fetch'] } : {}),
        interactions: consent.composeInteractions(configuration.interactions),
        assertJwtClientAuthClaimsAndHeader,
      };
      if (registration?.idFactory) {
        const idFactory = registration.idFactory;
        next.features = {
          ...configuration.features,
          registration: {
            ...registration,
            idFactory(ctx) {
              const id = idFactory(ctx);
              if (typeof id === 'string' && id.startsWith('https://')) {
                throw new Error(
                  `oidc-provider-cimd: features.registration.idFactory produced ${JSON.stringify(id)}; ids of registered clients must not start with https:// (draft §7.1)`,
                );
              }
              return id;
            },
          },
        };
      }
      return next;
    },
    resolve: (clientId, hints) => needResolver().resolve(clientId, hints),
    inspect: (clientId) => needResolver().inspect(clientId),
    refresh: (clientId) => needResolver().refresh(clientId),
    purge: (clientId) => needResolver().purge(clientId),
    pin: (clientId, pinOptions) => needResolver().pin(clientId, pinOptions),
    unpin: (clientId) => needResolver().unpin(clientId),
    interactionPolicy: (policy) => consent.interactionPolicy(policy),
    consentViewModel: (input) => consent.viewModel(input),
    logoResponse: async (method, path) => consent.logos?.response(method, path),
    serveLogo: async (req, res) => (consent.logos ? consent.logos.serve(req, res) : false),
    async clients() {
      if (!registry) throw new Error('oidc-provider-cimd: the client registry is off (registry: false)');
      return registry.list();
    },
    selfCheck: (target) => runDiscoveryCheck(target, { cimdEnabled: enabled, mode: options.discoveryCheck ?? 'warn' }),
    async close() {
      await registry?.close();
      invalidation?.close();
      invalidation = undefined;
      await fetcher.close();
    },
  };
  return plugin;
}
