/**
 * The plugin object: options in, a configuration transformer and an operator API out.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdapterPayload, Configuration } from 'oidc-provider';
import { Provider } from 'oidc-provider';
import type { CacheEntry } from '../cache/document-cache.js';
import {
  type ConsentViewModel,
  type ConsentViewModelInput,
  createConsent,
  type DefaultInteractionPolicy,
  type InteractionPolicy,
  type LogoResponse,
} from '../consent/index.js';
import type { Fetcher } from '../fetch/fetcher.js';
import { HEALTH_KEY, registerObservation } from '../observe/observation.js';
import type { RegisteredClient } from '../observe/registry.js';
import type { CacheInspection, Resolver } from '../resolve/resolver.js';
import { type AdapterConstructor, type AdapterFactory, wrapAdapter } from './adapter.js';
import { createClientAssertionCheck } from './client-assertion.js';
import { denialRenderError } from './denial.js';
import { type DiscoveryReport, runDiscoveryCheck } from './discovery-check.js';
import { developmentAdapter } from './memory-adapter.js';
import { CimdOptionError, type CimdOptions, resolveCimdOptions } from './options.js';
import { buildPipeline } from './pipeline.js';
import { providerFetch } from './provider-fetch.js';

/** The hints of a lookup with no redirect_uri: one shared frozen object, not one per request. */
const NO_HINTS = Object.freeze({});

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
   * Pre-registers a client (SPEC.preRegistration): validates its document now — fetched from the client_id, or the
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
  /** Everything a consent page needs, as a plain object (see docs/consent.md "The view model"); render it with `renderConsentPage`. */
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

  // The composition root (./pipeline.ts) builds the whole pipeline, stateful parts included, exactly as
  // `cimd check` builds it; this file only wires it into oidc-provider. The serving provider's issuer is the
  // one of the request being handled.
  const pipeline = buildPipeline(resolved, { servingIssuer: () => Provider.ctx?.oidc?.provider?.issuer });
  const { fetcher, emit, registry, failures, known } = pipeline;

  let resolver: Resolver | undefined;
  const needResolver = (): Resolver => {
    if (!resolver) throw new Error('oidc-provider-cimd: call configure() before resolving clients');
    return resolver;
  };

  // Consent (SPEC.domainTrust, MCP authorization): records in the same shared store, under the same deadlines; logos through the fetcher.
  const consent = createConsent({
    options: resolved.consent ?? {},
    store: pipeline.shared,
    guard: pipeline.guard,
    fetcher,
    now: resolved.now ?? Date.now,
    inspect: async (cid) => resolver?.operator.inspect(cid),
    // From the id, never from the cache (SPEC.domainTrust, MCP authorization): a `no-store` document is a CIMD client all the same.
    isMetadataDocumentClient: (cid) => {
      const verdict = pipeline.urlRules(cid);
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

      resolver = pipeline.resolver(pipeline.capabilities(configuration as never));
      const active = resolver;

      // A warm client is answered synchronously (see Resolver.lookup): no promise on the hot path.
      const resolveClient = (id: string): AdapterPayload | undefined | Promise<AdapterPayload | undefined> => {
        // Cheapest possible exit for the ids of ordinary clients.
        if (!id.startsWith('https://')) return undefined;
        const ctx = Provider.ctx;
        const earlier = failures.earlier(ctx, id);
        if (earlier) throw earlier;
        const redirectUri = ctx?.oidc?.params?.redirect_uri;
        let found: CacheEntry | undefined | Promise<CacheEntry | undefined>;
        try {
          found = active.lookup(id, typeof redirectUri === 'string' ? { redirectUri } : NO_HINTS);
        } catch (error) {
          failures.remember(ctx, id, error);
          throw error;
        }
        if (found instanceof Promise) {
          return found.then(
            (entry) => entry?.metadata as AdapterPayload | undefined,
            (error: unknown) => {
              failures.remember(ctx, id, error);
              throw error;
            },
          );
        }
        return found?.metadata as AdapterPayload | undefined;
      };

      const inner = (configuration.adapter ?? developmentAdapter(configuration.clockTolerance)) as
        | AdapterFactory
        | AdapterConstructor;
      // What users approved is kept with the deployment's own persistence (SPEC.domainTrust, MCP authorization): its adapter.
      consent.useAdapter(inner);
      known.use((name) =>
        typeof inner === 'function' && typeof inner.prototype === 'object' && inner.prototype !== null
          ? new (inner as AdapterConstructor)(name)
          : (inner as AdapterFactory)(name),
      );

      // SPEC.clientAuthentication: explicit typing of client-authentication JWTs, checked in oidc-provider's own hook.
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
          ? {
              fetch: providerFetch(fetcher, emit, known, {
                cache: pipeline.keySets,
                budget: pipeline.keySetBudget,
                lifetime: pipeline.lifetime,
                now: resolved.now ?? Date.now,
              }) as Configuration['fetch'],
            }
          : {}),
        interactions: consent.composeInteractions(configuration.interactions),
        assertJwtClientAuthClaimsAndHeader,
        // The denial page (./denial.ts) for a CIMD client this request refused; other errors go to the deployment's.
        ...(options.denialPage === false
          ? {}
          : {
              renderError: denialRenderError(configuration.renderError, (ctx, id) => failures.earlier(ctx, id), {
                ...options.denialPage,
                development: resolved.allowLoopback,
              }),
            }),
      };
      if (registration?.idFactory) {
        next.features = {
          ...configuration.features,
          registration: { ...registration, idFactory: pipeline.guardIdFactory(registration.idFactory) },
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
    close: () => pipeline.close(),
  };
  registerObservation(plugin, {
    subscribe: (listener) => pipeline.observers.events.add(listener),
    onBudgetRefusal: (listener) => pipeline.observers.budgetRefusals.add(listener),
    store: {
      shared: options.cache !== undefined,
      circuitOpen: () => !pipeline.guard.available,
      probe: async () =>
        (await pipeline.guard.run(() => pipeline.shared.set(HEALTH_KEY, (options.now ?? Date.now)(), 60_000)))
          ?.value === true,
    },
    cacheSize: () => pipeline.cache.size,
    registrySize: async () => registry?.size(),
  });
  return plugin;
}
