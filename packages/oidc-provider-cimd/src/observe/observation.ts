/**
 * What the exporters (metrics.ts, health.ts) may see of one plugin object, and nothing else: its events, its
 * budget refusals, its shared store's state and the sizes of its cache and client registry. `createCimd`
 * registers it here; the exporters look it up with {@link observationOf}, so the deployment wires them in one
 * line (`cimdMetrics(cimd, ...)`, `cimdHealth(cimd)`) and the plugin's public API gains no internals.
 */
import type { BudgetRefusal, FetchBudget } from '../fetch/budget.js';
import { type CimdEvent, createEmitter, type Emit, type EventListener, timedEmitter } from './events.js';

/** The shared store, as the exporters see it. */
export interface ObservedStore {
  /** False when the plugin runs on its in-process store only (no `cache` option). */
  readonly shared: boolean;
  /** True while the request-path circuit is open: a recent store operation timed out, operations are skipped. */
  circuitOpen(): boolean;
  /**
   * One write to the store under the plugin's deadline: true when the store confirmed it. Never rejects. With
   * the in-process store, always true.
   */
  probe(): Promise<boolean>;
}

export interface Observation {
  /** Receives every plugin event, like `onEvent`; returns the function that unsubscribes. */
  subscribe(listener: EventListener): () => void;
  /** Receives the code of every refusal of the fetch budget (`host_rate`, `cluster_domain_rate`, ...). */
  onBudgetRefusal(listener: (code: BudgetRefusal) => void): () => void;
  readonly store: ObservedStore;
  /** Documents held in this process's memory tier. */
  cacheSize(): number;
  /** Clients in the client registry (every instance's), or undefined when it is off or the store did not answer. */
  registrySize(): Promise<number | undefined>;
}

/** The key the store probe writes (a timestamp, expiring after a minute). */
export const HEALTH_KEY = 'cimd:health';

const observations = new WeakMap<object, Observation>();

export function registerObservation(plugin: object, observation: Observation): void {
  observations.set(plugin, observation);
}

/** The observation of a plugin object made by `createCimd`; throws a clear error for anything else. */
export function observationOf(plugin: object): Observation {
  const observation = observations.get(plugin);
  if (!observation) {
    throw new TypeError('oidc-provider-cimd: expected the plugin object that createCimd() returned');
  }
  return observation;
}

/** A set of listeners, each called in turn; one that throws never stops the others nor the caller. */
export class Listeners<T extends unknown[]> {
  readonly #listeners = new Set<(...args: T) => void>();

  get size(): number {
    return this.#listeners.size;
  }

  add(listener: (...args: T) => void): () => void {
    // Wrapped, so that the same function subscribed twice is called twice and unsubscribes one at a time.
    const own = (...args: T) => listener(...args);
    this.#listeners.add(own);
    return () => {
      this.#listeners.delete(own);
    };
  }

  call(...args: T): void {
    for (const listener of this.#listeners) {
      try {
        listener(...args);
      } catch {}
    }
  }
}

/**
 * The plugin's emitter: events go to the deployment's `onEvent` and to every subscriber. While nobody
 * subscribed, it is the plain emitter of `onEvent`, so that without listeners no event object is built on the
 * warm path (see createEmitter).
 */
export function createObservedEmitter(onEvent: EventListener | undefined, subscribers: Listeners<[CimdEvent]>): Emit {
  const plain = createEmitter(onEvent);
  const fanOut = createEmitter((event) => {
    if (onEvent) {
      try {
        onEvent(event);
      } catch {}
    }
    subscribers.call(event);
  });
  // Named parameters, not a rest array: this runs on every lookup, warm ones included.
  return timedEmitter(
    (reason, cid, startedAt, tier, extra, host) =>
      (subscribers.size === 0 ? plain : fanOut)(reason, cid, startedAt, tier, extra, host),
    () => (subscribers.size > 0 ? performance.now() : plain.start()),
  );
}

/**
 * Reports every refusal of `budget` to `listeners`. The budget's callers (the resolver's loader, the fetcher)
 * all hold this one object, so wrapping its `acquire` sees every refusal, in process and cluster-wide, without
 * the budget knowing about observers.
 */
export function reportBudgetRefusals(budget: FetchBudget, listeners: Listeners<[BudgetRefusal]>): void {
  const acquire = budget.acquire.bind(budget);
  budget.acquire = async (target, options) => {
    const ticket = await acquire(target, options);
    if (!ticket.granted && listeners.size > 0) listeners.call(ticket.code);
    return ticket;
  };
}
