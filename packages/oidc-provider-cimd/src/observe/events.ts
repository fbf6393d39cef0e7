import diagnosticsChannel from 'node:diagnostics_channel';
import type { ReasonCode } from '../core/errors.js';

/** Where a resolution was answered from. */
export type CacheTier = 'memory' | 'shared' | 'origin' | 'none';

export interface CimdEvent {
  reason: ReasonCode;
  /** The client_id exactly as received (truncated to 2100 characters so a hostile id cannot bloat logs). */
  cid: string;
  /** The CID's host, or `undefined` when the CID did not parse. */
  host: string | undefined;
  durationMs: number;
  tier: CacheTier;
  /** Precise, internal detail of a rejection: may name addresses, never show it to end users. */
  detail?: string;
  /** For document rules: which rule failed. */
  rule?: string;
  /**
   * This caller joined a fetch (or cache read) that another concurrent caller started: its outcome is that
   * caller's. Every caller gets its own event (N concurrent lookups, N events); counting only events without this
   * marker counts fetches.
   */
  joined?: true;
  /**
   * The shared store did not answer (down, slow, or its circuit open), so this resolution went without it
   * (docs/caching.md): with Redis down, events say so instead of looking like ordinary fetches.
   */
  sharedSkipped?: true;
  /**
   * The change this resolution or operator command made to the client's stored entry did not take effect:
   * `superseded` (another writer won: an operator command, or a newer entry), or `unavailable` (the shared store
   * did not confirm it). Absent when it applied, or when nothing was written.
   */
  commit?: 'superseded' | 'unavailable';
}

/** The optional members of an event that callers add. */
export type EventExtra = Pick<CimdEvent, 'detail' | 'rule' | 'joined' | 'sharedSkipped' | 'commit'>;

export type EventListener = (event: CimdEvent) => void;

/** Tracing tools subscribe here without any code change in the deployment. */
export const DIAGNOSTICS_CHANNEL = 'oidc-provider-cimd:resolution';
const channel = diagnosticsChannel.channel(DIAGNOSTICS_CHANNEL);

function hostOf(cid: string): string | undefined {
  return URL.parse(cid)?.host || undefined;
}

/** Emits one event. */
export interface Emit {
  /**
   * `startedAt`: what {@link Emit.start} returned when the work began (0: no duration to report).
   * `host`: the CID's host when the caller has the parsed URL at hand (the warm path does), which spares a
   * URL parse per event: parsing costs more than the rest of a warm lookup.
   * `at`: the wall clock (the plugin's `now`) when the caller has read it already; consumers that need one
   * (the client registry) use it instead of reading the clock again.
   */
  (
    reason: ReasonCode,
    cid: string,
    startedAt: number,
    tier: CacheTier,
    extra?: EventExtra,
    host?: string,
    at?: number,
  ): void;
  /**
   * The `startedAt` of an event to come: `performance.now()` while anyone listens, else 0. A clock read costs
   * about 50 ns on the 2-core VMs the benchmarks run on, a sixth of the plugin's share of a warm lookup; with
   * nobody listening there is no duration to report. An event whose work began before its first listener
   * subscribed reports a duration of 0.
   */
  start(): number;
}

/** An emitter function with its {@link Emit.start}. */
export function timedEmitter(emit: (...args: Parameters<Emit>) => void, start: () => number): Emit {
  return Object.assign(emit, { start });
}

export function createEmitter(listener: EventListener | undefined): Emit {
  return timedEmitter(
    (reason, cid, startedAt, tier, extra, host) => {
      if (!listener && !channel.hasSubscribers) return;
      const event: CimdEvent = {
        reason,
        cid: cid.length > 2100 ? cid.slice(0, 2100) : cid,
        host: host ?? hostOf(cid),
        durationMs: startedAt === 0 ? 0 : performance.now() - startedAt,
        tier,
        ...extra,
      };
      if (channel.hasSubscribers) channel.publish(event);
      if (listener) {
        // A listener that throws must never turn a good resolution into a failed one.
        try {
          listener(event);
        } catch {}
      }
    },
    () => (listener !== undefined || channel.hasSubscribers ? performance.now() : 0),
  );
}
