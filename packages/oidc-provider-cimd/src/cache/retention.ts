/**
 * How long the shared store keeps a client's entry: the one place that decides it (README "Caching and Redis",
 * bounded shared-store growth). A client in use keeps its document long enough to serve stale-if-error or the
 * transport fallback, and to revalidate cheaply; any other client keeps it for its freshness lifetime, no more.
 * A pinned entry has no expiry (0).
 */
import type { CacheEntry } from './entry.js';

export interface RetentionOptions {
  /** After the fresh (or stale-if-error) window, keep an entry that has validators this much longer. */
  revalidationGraceMs: number;
  /** The transport fallback window past freshness (0: off); a client in use is kept at least this long. */
  transportFallbackMs: number;
}

/** Milliseconds to keep `entry` from `now`; 0 means "no expiry" (pinned). Never negative. */
export function retentionMs(entry: CacheEntry, now: number, options: RetentionOptions): number {
  if (entry.pinned) return 0;
  if (!entry.used) return Math.max(1, entry.freshUntil - now);
  const base = Math.max(entry.staleIfErrorUntil, entry.freshUntil + options.transportFallbackMs) - now;
  const grace = entry.etag || entry.lastModified ? options.revalidationGraceMs : 0;
  return Math.max(1, base + grace);
}
