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

/**
 * A plugin event as a log entry: refusals and rate limiting are warnings, everything else (fetches, cache
 * hits, operator actions) is information. `durationMs` is rounded to whole milliseconds for reading; the
 * plugin's events themselves (and the metrics) keep the precise value.
 */
export function cimdLogEntry(event: CimdEvent): LogEntry {
  const warn =
    event.reason.startsWith('rejected:') ||
    event.reason === 'rate_limited' ||
    event.reason === 'revoked' ||
    event.reason === 'client_fetch_failed' ||
    event.reason === 'would_deny';
  return { ...event, level: warn ? 'warn' : 'info', event: 'cimd', durationMs: Math.round(event.durationMs) };
}
