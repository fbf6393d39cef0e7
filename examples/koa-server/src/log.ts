/**
 * The example's log format: one JSON object per line, each with an ISO 8601 `time`, a `level` and an `event`
 * name first, so that log shippers (and `jq`) can filter without parsing messages.
 */
import type { CimdEvent } from 'oidc-provider-cimd';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogEntry {
  event: string;
  /** Default `info`. */
  level?: LogLevel;
  [key: string]: unknown;
}

export type Log = (entry: LogEntry) => void;

/** A `Log` writing JSON lines to `write` (stdout for `pnpm start`). */
export function jsonLines(write: (line: string) => void, now: () => Date = () => new Date()): Log {
  return ({ event, level = 'info', ...rest }) => {
    write(`${JSON.stringify({ time: now().toISOString(), level, event, ...rest })}\n`);
  };
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export const LOG_LEVELS = Object.keys(LEVELS) as LogLevel[];

/** `log`, keeping only entries at `minimum` or above (`LOG_LEVEL`, default `info`). */
export function atLeast(minimum: LogLevel, log: Log): Log {
  const threshold = LEVELS[minimum];
  return (entry) => {
    if (LEVELS[entry.level ?? 'info'] >= threshold) log(entry);
  };
}

/**
 * Routine lookups: answered from the cache, or a caller that joined a lookup already under way. One
 * authorization looks its client up a dozen times (authorization request, interaction pages, resume, token);
 * these are debug lines, so that an authorization logs at most one info line (the fetch of a new document).
 */
const ROUTINE = new Set<CimdEvent['reason']>(['cache_hit', 'revalidated', 'client_assertion_untyped']);

/**
 * A plugin event as a log entry: refusals and rate limiting are warnings, fetches and operator actions are
 * information, routine lookups (cache hits, revalidations, joined lookups) are debug. `durationMs` is rounded
 * to whole milliseconds for reading; the plugin's events themselves (and the metrics) keep the precise value.
 */
export function cimdLogEntry(event: CimdEvent): LogEntry {
  const warn =
    event.reason.startsWith('rejected:') ||
    event.reason === 'rate_limited' ||
    event.reason === 'revoked' ||
    event.reason === 'client_fetch_failed' ||
    event.reason.startsWith('jwks_') ||
    event.reason === 'would_deny' ||
    event.reason.startsWith('stale_');
  // The shared store's own reports (`store:down`, `store:up`) are logged once each by the store watch (app.ts).
  const storeReport = (event.reason as string).startsWith('store:');
  const level = warn ? 'warn' : ROUTINE.has(event.reason) || event.joined || storeReport ? 'debug' : 'info';
  return { ...event, level, event: 'cimd', durationMs: Math.round(event.durationMs) };
}
