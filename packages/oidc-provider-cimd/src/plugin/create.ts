/**
 * The plugin object: options in, a configuration transformer and an operator API out.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import Keyv from 'keyv';
import type { AdapterPayload, Configuration } from 'oidc-provider';
import { Provider } from 'oidc-provider';
import type { CacheEntry } from '../cache/document-cache.js';
import { DocumentCache } from '../cache/document-cache.js';
import { createBoundedMemoryStore } from '../cache/memory-store.js';
import { SharedGuard } from '../cache/shared-guard.js';
import { createInvalidationBus, FetchLock, type InvalidationBus } from '../cluster/fetch-lock.js';
import { announceStoreLimits, storeLimits } from '../cluster/limits.js';
import { redisHandleOf } from '../cluster/redis.js';
import { SharedFetchBudget } from '../cluster/shared-budget.js';
import {
  type ConsentViewModel,
  type ConsentViewModelInput,
  createConsent,
  type DefaultInteractionPolicy,
  type InteractionPolicy,
  type LogoResponse,
} from '../consent/index.js';
import { FetchBudget } from '../fetch/budget.js';
import type { Fetcher } from '../fetch/fetcher.js';
import { KnownClients } from '../known/record.js';
import { createEmitter, type Emit } from '../observe/events.js';
import { ClientRegistry, type RegisteredClient } from '../observe/registry.js';
import { type CacheInspection, Resolver } from '../resolve/resolver.js';
import type { UrlVerdict } from '../rules/client-id-url.js';
import { createTrustPolicy } from '../rules/trust.js';
import { type AdapterConstructor, type AdapterFactory, wrapAdapter } from './adapter.js';
import { createClientAssertionCheck } from './client-assertion.js';
import { type DiscoveryReport, runDiscoveryCheck } from './discovery-check.js';
import { developmentAdapter } from './memory-adapter.js';
import { CimdOptionError, type CimdOptions, isLoopbackIssuer, resolveCimdOptions } from './options.js';
import { buildPipeline } from './pipeline.js';
import { providerFetch } from './provider-fetch.js';

// The options are ONE table, CIMD_OPTIONS in ./options.ts: each option's documentation, type check and default.
// CimdOptions is derived from it; to add an option, add its row there.
export type { CimdOptions } from './options.js';

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
   * is also a process warning (code `CIMD_DISCOVERY`), or goes to `onWarning` when given; with `'error'` it
   * rejects. Call it after `new Provider`.
   */
  selfCheck(
    target: Provider | string | URL,
    options?: { onWarning?: (message: string) => void },
  ): Promise<DiscoveryReport>;
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

export function createCimd(options: CimdOptions = {}): Cimd {
  // Unknown keys, wrong types (nested options included) and contradicting options throw here, naming the option.
  const resolved = resolveCimdOptions(options);
  const enabled = resolved.enabled;
  const allowLoopback = resolved.allowLoopback;

  // Every fetch made on a client's behalf (documents, jwks_uri, logo_uri, sector_identifier_uri) draws on it.
  const budget = new FetchBudget(options.budget);
  // The composition root (./pipeline.ts): the same fetcher, URL rules, document-rule options and lifetime
  // bounds that `cimd check` builds.
  // The development exception is judged for every fetch, registered clients' jwks_uri and
  // sector_identifier_uri included: loopback only while the provider serving the request has a loopback issuer.
  const pipeline = buildPipeline(resolved, {
    budget,
    loopbackAllowed: () => developmentExceptionRefused() === undefined,
  });
  const fetcher = pipeline.fetcher;

  const now = options.now ?? Date.now;
  const shared = options.cache ?? new Keyv({ store: createBoundedMemoryStore() });
  // Keyv re-emits store errors; without a listener an EventEmitter 'error' would crash the process.
  shared.on('error', () => {});
  const guard = new SharedGuard({ timeoutMs: resolved.sharedCacheTimeoutMs });
  const cache = new DocumentCache({
    shared,
    maxEntries: resolved.memoryCacheSize,
    guard,
    revalidationGraceMs: 24 * 60 * 60 * 1000,
    transportFallbackMs: resolved.transportFallbackMs,
    now,
  });
  const redis = redisHandleOf(shared);
  // README "Caching and Redis": a guarantee that cannot hold on this store is announced at startup, never lost silently.
  announceStoreLimits(storeLimits(options.cache, redis));
  const fetchLock =
    redis && resolved.fetchLock
      ? new FetchLock({ handle: redis, guard, ttlMs: resolved.fetchLockTtlMs ?? resolved.timeoutMs + 1000 })
      : undefined;
  let invalidation: InvalidationBus | undefined;
  // The registry writes from a timer, off every request's path: it can afford a longer deadline than lookups,
  // and has its own circuit, so a slow request-path operation never makes it drop a batch.
  const registryGuard = new SharedGuard({ timeoutMs: Math.max(2000, resolved.sharedCacheTimeoutMs) });
  const registry =
    options.registry === false
      ? undefined
      : new ClientRegistry({ store: shared, run: (op) => registryGuard.run(op), now }, options.registry ?? {});
  // The registry is fed the reason and the client id directly, so that without an onEvent listener no event
  // object is built on the warm path.
  const emitEvent = createEmitter(options.onEvent);
  const emit: Emit = registry
    ? (reason, cid, startedAt, tier, extra, host) => {
        registry.note(reason, cid);
        emitEvent(reason, cid, startedAt, tier, extra, host);
      }
    : emitEvent;
  const policy = createTrustPolicy(options.policy);
  // Known-good clients (docs/trust-and-budgets.md): recorded with the provider's adapter when a grant is saved,
  // never inferred from a cached copy.
  const known = new KnownClients({ now, timeoutMs: Math.max(500, resolved.sharedCacheTimeoutMs) });
  // With Redis, the budgets are cluster-wide too: N instances must not each grant a flood the full budget.
  budget.share(redis ? new SharedFetchBudget({ handle: redis, guard, ...budget.windows }) : undefined);
  const lifetime = pipeline.lifetime;

  // URL rules depend on the issuer; compiled once per issuer seen.
  const urlRulesFor = pipeline.urlRulesFor;
  const currentIssuer = (): string | undefined => options.issuer ?? Provider.ctx?.oidc?.provider?.issuer;
  // The development exception was checked against the `issuer` option at startup; the provider that actually
  // serves the request is what counts (draft-ietf-oauth-client-id-metadata-document-03 §9.6). A provider with a
  // public issuer gets no CIMD client at all while allowLoopback is set: a misconfiguration fails closed, with an
  // event per lookup (rule `development_exception`).
  // The verdict is remembered for the last issuer seen: parsing it on every lookup cost more than the warm lookup.
  let checkedIssuer: { issuer: string; loopback: boolean } | undefined;
  const developmentExceptionRefused = (): string | undefined => {
    if (!allowLoopback) return undefined;
    const serving = Provider.ctx?.oidc?.provider?.issuer;
    if (serving === undefined) return undefined;
    if (checkedIssuer?.issuer !== serving) checkedIssuer = { issuer: serving, loopback: isLoopbackIssuer(serving) };
    return checkedIssuer.loopback ? undefined : serving;
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

  // Consent (draft-ietf-oauth-client-id-metadata-document-03 §9.9, MCP authorization): records in the same shared store, under the same deadlines; logos through the fetcher.
  const consent = createConsent({
    options: options.consent ?? {},
    store: shared,
    guard,
    fetcher,
    now,
    inspect: async (cid) => resolver?.operator.inspect(cid),
    // From the id, never from the cache (draft-ietf-oauth-client-id-metadata-document-03 §9.9, MCP authorization): a `no-store` document is a CIMD client all the same.
    isMetadataDocumentClient: (cid) => {
      const verdict = urlRules(cid);
      return verdict.ok || verdict.rule === 'issuer_unknown';
    },
  });

  let configured = false;
  const plugin: Cimd = {
    enabled,
    fetcher,
    configure(configuration: Configuration = {}): Configuration {
      // One plugin object serves one provider: a second call would build a second resolver over the same cache
      // and, handed the first call's result, trip over the fetch hook the first call installed.
      if (configured) {
        throw new CimdOptionError(
          'configure() was already called on this plugin object; call it once, and pass its result to new Provider() (create another plugin with createCimd() for another provider)',
          { code: 'CIMD_ALREADY_CONFIGURED' },
        );
      }
      const features = (configuration.features ?? {}) as Record<string, { enabled?: boolean } | undefined>;
      if (features.clientIdMetadataDocument?.enabled) {
        throw new CimdOptionError(
          "the configuration also enables oidc-provider's built-in features.clientIdMetadataDocument; use one or the other, not both",
          { code: 'CIMD_INVALID_CONFIGURATION' },
        );
      }
      if (!enabled) {
        configured = true;
        return { ...configuration };
      }

      const authMethods = configuration.clientAuthMethods;
      if (authMethods && ![...authMethods].includes('none')) {
        throw new CimdOptionError(
          "clientAuthMethods must include 'none': CIMD clients are public clients without a secret",
          { code: 'CIMD_INVALID_CONFIGURATION' },
        );
      }
      if (configuration.fetch && resolved.guardProviderFetch) {
        throw new CimdOptionError(
          'the configuration brings its own fetch, which would bypass the SSRF guard; remove it or set guardProviderFetch: false',
          { code: 'CIMD_INVALID_CONFIGURATION' },
        );
      }
      configured = true;

      const capabilities = pipeline.capabilities(configuration as never);
      if (redis && !invalidation) invalidation = createInvalidationBus(redis, guard, (cid) => cache.forgetLocal(cid));
      resolver = new Resolver({
        urlRules,
        policy,
        budget,
        fetcher,
        capabilities,
        documentRules: pipeline.documentRules,
        cache,
        emit,
        lifetime,
        failureBackoffMs: resolved.failureBackoffMs,
        redirectRefetchAfterMs: resolved.redirectRefetchAfterMs,
        transportFallbackMs: resolved.transportFallbackMs,
        refreshCooldownMs: resolved.refreshCooldownMs,
        now,
        lock: fetchLock,
        invalidation,
        known,
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
      // What users approved is kept with the deployment's own persistence (draft-ietf-oauth-client-id-metadata-document-03 §9.9, MCP authorization): its adapter.
      consent.useAdapter(inner);
      known.use((name) =>
        typeof inner === 'function' && typeof inner.prototype === 'object' && inner.prototype !== null
          ? new (inner as AdapterConstructor)(name)
          : (inner as AdapterFactory)(name),
      );

      // draft-03 §6 explicit typing of client-authentication JWTs, checked in oidc-provider's own hook.
      const staticIds = new Set((configuration.clients ?? []).map((client) => client.client_id));
      const assertJwtClientAuthClaimsAndHeader = createClientAssertionCheck({
        mode: resolved.clientAssertionTyp,
        isCimdClient: (id) => id.startsWith('https://') && !staticIds.has(id),
        emit,
        next: configuration.assertJwtClientAuthClaimsAndHeader,
      });

      const registration = configuration.features?.registration;
      const next: Configuration = {
        ...configuration,
        adapter: wrapAdapter(inner, resolveClient, (clientId, accountId) => {
          void active.markUsed(clientId);
          void known.markInUse(clientId);
          // The client registry counts the user, hashed.
          if (accountId !== undefined) registry?.noteUser(clientId, accountId);
        }),
        discovery: { ...configuration.discovery, client_id_metadata_document_supported: true },
        ...(resolved.guardProviderFetch
          ? { fetch: providerFetch(fetcher, emit, known) as Configuration['fetch'] }
          : {}),
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
    inspect: (clientId) => needResolver().operator.inspect(clientId),
    refresh: (clientId) => needResolver().operator.refresh(clientId),
    purge: (clientId) => needResolver().operator.purge(clientId),
    pin: (clientId, pinOptions) => needResolver().operator.pin(clientId, pinOptions),
    unpin: (clientId) => needResolver().operator.unpin(clientId),
    interactionPolicy: (policy) => consent.interactionPolicy(policy),
    consentViewModel: (input) => consent.viewModel(input),
    logoResponse: async (method, path) => consent.logos?.response(method, path),
    serveLogo: async (req, res) => (consent.logos ? consent.logos.serve(req, res) : false),
    async clients() {
      if (!registry) throw new Error('oidc-provider-cimd: the client registry is off (registry: false)');
      return registry.list();
    },
    selfCheck: (target, checkOptions) =>
      runDiscoveryCheck(target, {
        cimdEnabled: enabled,
        mode: resolved.discoveryCheck,
        ...(checkOptions?.onWarning ? { warn: checkOptions.onWarning } : {}),
      }),
    async close() {
      await registry?.close();
      invalidation?.close();
      invalidation = undefined;
      await fetcher.close();
    },
  };
  return plugin;
}
