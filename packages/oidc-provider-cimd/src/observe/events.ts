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

export function createEmitter(listener: EventListener | undefined) {
  /**
   * `host`: the CID's host when the caller has the parsed URL at hand (the warm path does), which spares a
   * URL parse per event: parsing costs more than the rest of a warm lookup.
   */
  return function emit(
    reason: ReasonCode,
    cid: string,
    startedAt: number,
    tier: CacheTier,
    extra?: EventExtra,
    host?: string,
  ): void {
    if (!listener && !channel.hasSubscribers) return;
    const event: CimdEvent = {
      reason,
      cid: cid.length > 2100 ? cid.slice(0, 2100) : cid,
      host: host ?? hostOf(cid),
      durationMs: performance.now() - startedAt,
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
  };
}

export type Emit = ReturnType<typeof createEmitter>;
