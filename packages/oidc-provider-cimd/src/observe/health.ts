/**
 * The health check a deployment mounts (`cimdHealth(cimd)`), and the watch on the shared store that reports its
 * state changes once each (`watchStore`): down when a probe write fails, back up when one succeeds again.
 *
 * The store is probed with one small write under the plugin's own deadline (observation.ts), so a stalled Redis
 * costs the probe one deadline, never more, and a probe never throws. Probes are shared: the health route,
 * the metrics scrape and the watch of one plugin make at most one probe per `maxAgeMs` between them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Listeners, type Observation, observationOf } from './observation.js';

/** A state change of the shared store, reported once per change. */
export interface StoreChange {
  state: 'down' | 'up';
  /** ms since the epoch. */
  at: number;
  /** For `up`: how long the store was down, ms. */
  downForMs?: number;
}

export interface StoreHealth {
  /** `memory`: the plugin has no shared store (no `cache` option), which cannot go down. */
  kind: 'shared' | 'memory';
  up: boolean;
  /** `open`: a recent operation timed out and the plugin skips the store for a moment. */
  circuit: 'closed' | 'open';
  /** When the store last answered a probe (ISO 8601), if ever. */
  lastUpAt: string | undefined;
}

export interface HealthReport {
  /** The HTTP status to answer: 200 healthy, 503 not. */
  status: 200 | 503;
  /** `ok`, `degraded` (store down, `storeRequired: false`), or `unavailable`. */
  state: 'ok' | 'degraded' | 'unavailable';
  details: { store: StoreHealth; cache: { entries: number } };
}

export interface CimdHealthOptions {
  /**
   * Whether a shared store that is down makes the instance unhealthy (503). Default true: an instance that lost
   * Redis serves documents from its own memory only, and cluster-wide budgets and invalidations are off. With
   * false, it answers 200 with `state: 'degraded'`.
   */
  storeRequired?: boolean;
  /** A probe younger than this is reused, ms. Default 1000. */
  maxAgeMs?: number;
}

export interface CimdHealth {
  /** The report; never rejects. */
  check(): Promise<HealthReport>;
  /**
   * A Node http handler (Express accepts it as a route handler): answers the report as JSON with its status,
   * `cache-control: no-store`.
   */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

/** The probing and the state-change reports of one plugin's store. */
export class StoreMonitor {
  readonly #observation: Observation;
  #last: { up: boolean; at: number } | undefined;
  #lastUpAt: number | undefined;
  #downSince: number | undefined;
  #probing: Promise<boolean> | undefined;
  readonly changes = new Listeners<[StoreChange]>();

  constructor(observation: Observation) {
    this.#observation = observation;
  }

  /** Whether the store is up, probing when the last probe is older than `maxAgeMs`. Never rejects. */
  async up(maxAgeMs = 1000): Promise<boolean> {
    const last = this.#last;
    if (last && Date.now() - last.at < maxAgeMs) return last.up;
    this.#probing ??= this.#probe().finally(() => {
      this.#probing = undefined;
    });
    return this.#probing;
  }

  #listening = false;

  /**
   * Also takes the plugin's own reports of the store (`store:down` and `store:up` events, when the plugin makes
   * them) as observations, so that a change is reported as soon as a request meets it, and once, whoever saw it
   * first. Idempotent. Not done for the health check alone: a subscriber makes the plugin build an event object
   * per lookup.
   */
  listen(): void {
    if (this.#listening) return;
    this.#listening = true;
    this.#observation.subscribe((event) => {
      const reason: string = event.reason;
      if (reason === 'store:down') this.#record(false);
      else if (reason === 'store:up') this.#record(true);
    });
  }

  async #probe(): Promise<boolean> {
    let up: boolean;
    try {
      up = await this.#observation.store.probe();
    } catch {
      up = false;
    }
    this.#record(up);
    return up;
  }

  #record(up: boolean): void {
    const at = Date.now();
    const was = this.#last?.up;
    this.#last = { up, at };
    if (up) this.#lastUpAt = at;
    // Reported once per change: the first probe reports only a store that is down (an up store is the norm).
    if (!up && was !== false) {
      this.#downSince = at;
      this.changes.call({ state: 'down', at });
    } else if (up && was === false) {
      const downForMs = this.#downSince === undefined ? undefined : at - this.#downSince;
      this.#downSince = undefined;
      this.changes.call({ state: 'up', at, ...(downForMs === undefined ? {} : { downForMs }) });
    }
  }

  async state(maxAgeMs = 1000): Promise<StoreHealth> {
    const store = this.#observation.store;
    const up = await this.up(maxAgeMs);
    return {
      kind: store.shared ? 'shared' : 'memory',
      up,
      circuit: store.circuitOpen() ? 'open' : 'closed',
      lastUpAt: this.#lastUpAt === undefined ? undefined : new Date(this.#lastUpAt).toISOString(),
    };
  }
}

const monitors = new WeakMap<Observation, StoreMonitor>();

/** The one monitor of a plugin's store, shared by its health check, its metrics and its watches. */
export function storeMonitorOf(plugin: object): StoreMonitor {
  const observation = observationOf(plugin);
  let monitor = monitors.get(observation);
  if (!monitor) {
    monitor = new StoreMonitor(observation);
    monitors.set(observation, monitor);
  }
  return monitor;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`oidc-provider-cimd: ${name} must be a positive number of milliseconds, got ${String(value)}`);
  }
  return value;
}

/** The health check of a plugin object (see {@link CimdHealth}). */
export function cimdHealth(plugin: object, options: CimdHealthOptions = {}): CimdHealth {
  for (const name of Object.keys(options)) {
    if (name !== 'storeRequired' && name !== 'maxAgeMs') {
      throw new TypeError(`oidc-provider-cimd: unknown cimdHealth option ${JSON.stringify(name)}`);
    }
  }
  const monitor = storeMonitorOf(plugin);
  const observation = observationOf(plugin);
  const storeRequired = options.storeRequired ?? true;
  const maxAgeMs = positive('cimdHealth maxAgeMs', options.maxAgeMs, 1000);

  async function check(): Promise<HealthReport> {
    const store = await monitor.state(maxAgeMs);
    const state = store.up ? 'ok' : storeRequired ? 'unavailable' : 'degraded';
    return {
      status: state === 'unavailable' ? 503 : 200,
      state,
      details: { store, cache: { entries: observation.cacheSize() } },
    };
  }

  return {
    check,
    async handle(_req, res) {
      const report = await check();
      res.statusCode = report.status;
      res.setHeader('content-type', 'application/json; charset=utf-8');
      res.setHeader('cache-control', 'no-store');
      res.end(JSON.stringify(report));
    },
  };
}

export interface WatchStoreOptions {
  /** Called once per state change of the shared store. */
  onChange: (change: StoreChange) => void;
  /** How often the store is probed, ms. Default 5000. */
  intervalMs?: number;
}

/**
 * Probes the plugin's shared store every `intervalMs` (the timer does not keep the process alive) and calls
 * `onChange` once when it goes down and once when it is back. Returns the function that stops the watch. A
 * plugin without a shared store is never down, so nothing is ever reported for it.
 */
export function watchStore(plugin: object, options: WatchStoreOptions): () => void {
  if (typeof options?.onChange !== 'function') {
    throw new TypeError('oidc-provider-cimd: watchStore needs an onChange function');
  }
  const intervalMs = positive('watchStore intervalMs', options.intervalMs, 5000);
  const monitor = storeMonitorOf(plugin);
  if (!observationOf(plugin).store.shared) return () => {};
  const stop = monitor.changes.add(options.onChange);
  monitor.listen();
  void monitor.up(intervalMs);
  const timer = setInterval(() => void monitor.up(intervalMs / 2), intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    stop();
  };
}
