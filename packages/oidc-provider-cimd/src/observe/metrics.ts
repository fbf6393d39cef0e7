/**
 * Prometheus metrics for prom-client (`oidc-provider-cimd/metrics`; prom-client is an optional peer
 * dependency). The deployment registers them in one line:
 *
 *     cimdMetrics(cimd, { registry, provider });
 *
 * Built on the plugin's own observation (observation.ts): every event, every budget refusal, the shared store's
 * probe and circuit, the sizes of the cache and the client registry; and, given the provider, its interaction
 * events for the consent outcomes. Labels only ever carry bounded vocabularies (reason codes, tiers, refusal
 * codes, the names of the known-clients catalog): never a client id or host, which strangers choose.
 */
import type { EventEmitter } from 'node:events';
import { Counter, Gauge, register as globalRegistry, Histogram, type Registry } from 'prom-client';
import { CHANGED_CHECK, LOOPBACK_CHECK } from '../consent/index.js';
import type { ReasonCode } from '../core/errors.js';
import { type KnownClient, knownClients } from '../rules/known-clients.js';
import { compilePatterns } from '../rules/trust.js';
import type { CimdEvent } from './events.js';
import { storeMonitorOf } from './health.js';
import { observationOf } from './observation.js';

export interface CimdMetricsOptions {
  /** Where the metrics are registered. Default: prom-client's global registry (`register`). */
  registry?: Registry;
  /**
   * The oidc-provider instance, for the consent outcomes (`cimd_consent_total`): the metrics listen to its
   * interaction events. Without it that family stays empty.
   */
  provider?: Pick<EventEmitter, 'on' | 'off'>;
  /** Buckets of the two latency histograms, seconds. Default: 0.1 ms to 10 s. */
  buckets?: number[];
  /** A probe of the shared store younger than this is reused by a scrape, ms. Default 1000. */
  storeProbeMaxAgeMs?: number;
}

export interface CimdMetrics {
  readonly registry: Registry;
  /** Stops listening and removes the metrics from the registry. */
  close(): void;
}

/** The names of the metric families, as served. */
export const METRIC_NAMES = [
  'cimd_resolutions_total',
  'cimd_resolution_duration_seconds',
  'cimd_fetch_duration_seconds',
  'cimd_would_deny_total',
  'cimd_budget_refusals_total',
  'cimd_known_client_resolutions_total',
  'cimd_shared_store_up',
  'cimd_shared_store_circuit_open',
  'cimd_shared_store_changes_total',
  'cimd_memory_cache_entries',
  'cimd_registry_clients',
  'cimd_consent_total',
] as const;

/** Warm hits take microseconds, fetches tens of milliseconds, timeouts seconds. */
const DEFAULT_BUCKETS = [0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const isRefusal = (reason: ReasonCode) =>
  reason.startsWith('rejected:') || reason === 'rate_limited' || reason === 'revoked';

/** Events that are not the outcome of a client lookup: they get families of their own, or none. */
const NOT_A_RESOLUTION: ReadonlySet<ReasonCode> = new Set<ReasonCode>([
  // Report mode: the lookup's own outcome follows as an event of its own; counting both counted it twice.
  'would_deny',
  'client_assertion_untyped',
  'rejected:client_assertion_typ',
  'client_fetch_failed',
  'jwks_fetch_failed',
  'jwks_stale',
]);

/** Which catalog entry a client id belongs to: a bounded label. Exact ids first (Codex before ChatGPT's pattern). */
function catalogMatcher(entries: readonly KnownClient[]): (cid: string, host: string | undefined) => string | null {
  const exact = new Map<string, string>();
  const patterns: { name: string; match: ReturnType<typeof compilePatterns> }[] = [];
  for (const entry of entries) {
    for (const pattern of entry.patterns) {
      if (pattern.includes('*')) patterns.push({ name: entry.name, match: compilePatterns([pattern]) });
      else exact.set(pattern, entry.name);
    }
  }
  // Most ids repeat (the same clients, again and again); remember the answer for the last thousand.
  const seen = new Map<string, string | null>();
  return (cid, host) => {
    const known = seen.get(cid);
    if (known !== undefined) return known;
    let name = exact.get(cid) ?? null;
    if (name === null && host !== undefined) {
      const url = URL.parse(cid);
      if (url) name = patterns.find((pattern) => pattern.match(cid, url))?.name ?? null;
    }
    if (seen.size >= 1000) seen.clear();
    seen.set(cid, name);
    return name;
  };
}

interface InteractionContext {
  oidc?: {
    route?: string;
    client?: { clientId?: string };
    params?: { client_id?: unknown };
    result?: { consent?: unknown };
    entities?: { Interaction?: { prompt?: { name?: string } } };
  };
}

const clientIdOf = (ctx: InteractionContext): string | undefined => {
  const id = ctx.oidc?.client?.clientId ?? ctx.oidc?.params?.client_id;
  return typeof id === 'string' ? id : undefined;
};

/** Registers the plugin's metrics (see {@link METRIC_NAMES}) and starts counting. */
export function cimdMetrics(plugin: object, options: CimdMetricsOptions = {}): CimdMetrics {
  for (const name of Object.keys(options)) {
    if (!['registry', 'provider', 'buckets', 'storeProbeMaxAgeMs'].includes(name)) {
      throw new TypeError(`oidc-provider-cimd: unknown cimdMetrics option ${JSON.stringify(name)}`);
    }
  }
  const observation = observationOf(plugin);
  const monitor = storeMonitorOf(plugin);
  const registry = options.registry ?? globalRegistry;
  const registers = [registry];
  const buckets = options.buckets ?? DEFAULT_BUCKETS;
  const probeMaxAgeMs = options.storeProbeMaxAgeMs ?? 1000;

  const resolutions = new Counter({
    name: 'cimd_resolutions_total',
    help: 'Client id lookups, by outcome (reason code) and where they were answered from (memory, shared, origin, none).',
    labelNames: ['reason', 'tier'] as const,
    registers,
  });
  const resolutionDuration = new Histogram({
    name: 'cimd_resolution_duration_seconds',
    help: 'Time to resolve a client id, by outcome.',
    labelNames: ['reason'] as const,
    buckets,
    registers,
  });
  const fetchDuration = new Histogram({
    name: 'cimd_fetch_duration_seconds',
    help: 'Lookups that fetched from the client host (one per fetch: callers that joined a fetch are not counted), by outcome.',
    labelNames: ['outcome'] as const,
    buckets,
    registers,
  });
  const wouldDeny = new Counter({
    name: 'cimd_would_deny_total',
    help: 'Report admission mode: lookups that allowlist mode would have refused (counted once per lookup).',
    registers,
  });
  const budgetRefusals = new Counter({
    name: 'cimd_budget_refusals_total',
    help: 'Fetches refused by the fetch budget, by scope (host_rate, domain_rate, cluster_host_rate, cluster_domain_rate, global_concurrency, domain_concurrency).',
    labelNames: ['scope'] as const,
    registers,
  });
  const knownClientResolutions = new Counter({
    name: 'cimd_known_client_resolutions_total',
    help: 'Lookups of clients of the known-clients catalog, by catalog name and outcome (ok, refused).',
    labelNames: ['client', 'outcome'] as const,
    registers,
  });
  new Gauge({
    name: 'cimd_shared_store_up',
    help: 'Whether the shared store (Redis) answered a write, probed at scrape time (1 up, 0 down); always 1 without a shared store.',
    registers,
    async collect() {
      this.set((await monitor.up(probeMaxAgeMs)) ? 1 : 0);
    },
  });
  new Gauge({
    name: 'cimd_shared_store_circuit_open',
    help: 'Whether the request-path circuit of the shared store is open (a recent operation timed out; the store is skipped).',
    registers,
    collect() {
      this.set(observation.store.circuitOpen() ? 1 : 0);
    },
  });
  const storeChanges = new Counter({
    name: 'cimd_shared_store_changes_total',
    help: 'State changes of the shared store seen by this instance (to: down, up).',
    labelNames: ['to'] as const,
    registers,
  });
  new Gauge({
    name: 'cimd_memory_cache_entries',
    help: "Documents in this instance's in-process cache.",
    registers,
    collect() {
      this.set(observation.cacheSize());
    },
  });
  new Gauge({
    name: 'cimd_registry_clients',
    help: 'Clients in the client registry (all instances); absent while the registry is off or the store does not answer.',
    registers,
    async collect() {
      const size = await observation.registrySize();
      if (size === undefined) this.reset();
      else this.set(size);
    },
  });
  const consent = new Counter({
    name: 'cimd_consent_total',
    help: 'Consent of CIMD clients: approved, denied, reprompted (the client changed since the grant), loopback (asked for a loopback redirect).',
    labelNames: ['outcome'] as const,
    registers,
  });
  for (const outcome of ['approved', 'denied', 'reprompted', 'loopback']) consent.inc({ outcome }, 0);
  for (const to of ['down', 'up']) storeChanges.inc({ to }, 0);
  wouldDeny.inc(0);

  const catalog = catalogMatcher(knownClients);
  const onEvent = (event: CimdEvent) => {
    const { reason } = event;
    if (reason === 'would_deny') {
      wouldDeny.inc();
      return;
    }
    // `store:*`: the plugin's reports of its shared store, counted through the store monitor (once per change).
    if (NOT_A_RESOLUTION.has(reason) || reason.startsWith('operator:') || reason.startsWith('store:')) return;
    const seconds = event.durationMs / 1000;
    resolutions.inc({ reason, tier: event.tier });
    resolutionDuration.observe({ reason }, seconds);
    if (event.tier === 'origin' && !event.joined) fetchDuration.observe({ outcome: reason }, seconds);
    const client = catalog(event.cid, event.host);
    if (client !== null) knownClientResolutions.inc({ client, outcome: isRefusal(reason) ? 'refused' : 'ok' });
  };

  const isCimdClient = (ctx: InteractionContext) => clientIdOf(ctx)?.startsWith('https://') === true;
  const onInteractionStarted = (ctx: InteractionContext, prompt: { name?: string; reasons?: string[] }) => {
    if (prompt?.name !== 'consent' || !isCimdClient(ctx)) return;
    const reasons = prompt.reasons ?? [];
    if (reasons.includes(LOOPBACK_CHECK)) consent.inc({ outcome: 'loopback' });
    if (reasons.includes(CHANGED_CHECK)) consent.inc({ outcome: 'reprompted' });
  };
  const onSuccess = (ctx: InteractionContext) => {
    if (ctx.oidc?.route === 'resume' && ctx.oidc.result?.consent && isCimdClient(ctx)) {
      consent.inc({ outcome: 'approved' });
    }
  };
  const onError = (ctx: InteractionContext, error: { error?: string }) => {
    if (
      error?.error === 'access_denied' &&
      ctx.oidc?.route === 'resume' &&
      ctx.oidc.entities?.Interaction?.prompt?.name === 'consent' &&
      isCimdClient(ctx)
    ) {
      consent.inc({ outcome: 'denied' });
    }
  };

  const stops = [
    observation.subscribe(onEvent),
    observation.onBudgetRefusal((scope) => budgetRefusals.inc({ scope })),
    monitor.changes.add((change) => storeChanges.inc({ to: change.state })),
  ];
  monitor.listen();
  const provider = options.provider;
  if (provider) {
    provider.on('interaction.started', onInteractionStarted);
    provider.on('authorization.success', onSuccess);
    provider.on('authorization.error', onError);
  }

  return {
    registry,
    close() {
      for (const stop of stops) stop();
      if (provider) {
        provider.off('interaction.started', onInteractionStarted);
        provider.off('authorization.success', onSuccess);
        provider.off('authorization.error', onError);
      }
      for (const name of METRIC_NAMES) registry.removeSingleMetric(name);
    },
  };
}
