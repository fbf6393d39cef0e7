/**
 * How long the shared store keeps a client's entry: the one place that decides it (docs/caching.md,
 * bounded shared-store growth). A client in use keeps its document long enough to serve stale-if-error or the
 * transport fallback, and to revalidate cheaply; any other client keeps it for its freshness lifetime, and never longer than UNUSED_RETENTION_MS.
 * A pinned entry has no expiry (0).
 */
import type { CacheEntry } from '../core/entry.js';

/**
 * The longest the shared store keeps the document of a client that never completed an authorization: long
 * enough for a sign-in in progress and the herd of its requests, whatever freshness lifetime the response asks
 * for. Documents are what anyone can mint without limit; this makes the store's worst case
 * `rate × UNUSED_RETENTION_MS × entry size` (docs/trust-and-budgets.md).
 */
export const UNUSED_RETENTION_MS = 5 * 60 * 1000;

export interface RetentionOptions {
  /** After the fresh (or stale-if-error) window, keep an entry that has validators this much longer. */
  revalidationGraceMs: number;
  /** The transport fallback window past freshness (0: off); a client in use is kept at least this long. */
  transportFallbackMs: number;
}

/** Milliseconds to keep `entry` from `now`; 0 means "no expiry" (pinned). Never negative. */
export function retentionMs(entry: CacheEntry, now: number, options: RetentionOptions): number {
  if (entry.pinned) return 0;
  // A hard bound whatever the response's max-age (bounded shared-store growth, docs/trust-and-budgets.md).
  if (!entry.used) return Math.max(1, Math.min(entry.freshUntil - now, UNUSED_RETENTION_MS));
  const base = Math.max(entry.staleIfErrorUntil, entry.freshUntil + options.transportFallbackMs) - now;
  const grace = entry.etag || entry.lastModified ? options.revalidationGraceMs : 0;
  return Math.max(1, base + grace);
}
