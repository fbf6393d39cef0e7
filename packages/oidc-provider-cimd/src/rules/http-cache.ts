/**
 * HTTP caching rules for client metadata documents (SPEC.caching, RFC 9111, RFC 5861), as pure functions of the
 * response headers and the clock.
 */
export interface LifetimeBounds {
  /** Lower clamp, seconds. Default 60. */
  minSeconds: number;
  /** Upper clamp, seconds; also bounds stale-if-error. Default 86400. */
  maxSeconds: number;
  /** Lifetime when the response says nothing, seconds. Default 300. */
  defaultSeconds: number;
}

export const DEFAULT_LIFETIME_BOUNDS: LifetimeBounds = Object.freeze({
  minSeconds: 60,
  maxSeconds: 86_400,
  defaultSeconds: 300,
});

export interface CachePolicy {
  /** false for `no-store`: the document may be used for this lookup only. */
  store: boolean;
  freshForMs: number;
  /** How long after freshness ends a stored copy may stand in for a failed refresh. */
  staleIfErrorMs: number;
  etag: string | undefined;
  lastModified: string | undefined;
}

/** Parses a Cache-Control header into lower-case directive names and unquoted values. */
export function parseCacheControl(header: string | undefined): Map<string, string | true> {
  const directives = new Map<string, string | true>();
  if (!header) return directives;
  // A quoted value may contain commas, so split on commas outside quotes.
  const parts = header.match(/(?:[^,"]+|"(?:[^"\\]|\\.)*")+/g) ?? [];
  for (const part of parts) {
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (!name) continue;
    let value: string | true = true;
    if (eq !== -1) {
      value = part.slice(eq + 1).trim();
      if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    }
    // RFC 9111 §4.2.1: with duplicates, the first one wins for our purposes (the conservative reading).
    if (!directives.has(name)) directives.set(name, value);
  }
  return directives;
}

function seconds(value: string | true | undefined): number | undefined {
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined;
  return Number.parseInt(value, 10);
}

const clamp = (value: number, min: number, max: number): number => Math.min(max, Math.max(min, value));

export function cachePolicy(
  headers: Readonly<Record<string, string | undefined>>,
  now: number,
  bounds: LifetimeBounds = DEFAULT_LIFETIME_BOUNDS,
): CachePolicy {
  const cc = parseCacheControl(headers['cache-control']);
  const etag = headers.etag || undefined;
  const lastModified = headers['last-modified'] || undefined;

  let lifetime = seconds(cc.get('s-maxage')) ?? seconds(cc.get('max-age'));
  if (lifetime === undefined && cc.has('no-cache')) lifetime = 0;
  if (lifetime === undefined && headers.expires !== undefined) {
    const expires = Date.parse(headers.expires);
    const date = headers.date === undefined ? Number.NaN : Date.parse(headers.date);
    // An unparsable Expires means "already expired" (RFC 9111 §5.3).
    lifetime = Number.isNaN(expires) ? 0 : Math.floor((expires - (Number.isNaN(date) ? now : date)) / 1000);
  }
  if (lifetime !== undefined) {
    const age = seconds(headers.age);
    if (age !== undefined) lifetime -= age;
  }
  const fresh = clamp(lifetime ?? bounds.defaultSeconds, bounds.minSeconds, bounds.maxSeconds);
  const staleIfError = clamp(seconds(cc.get('stale-if-error')) ?? 0, 0, bounds.maxSeconds);

  return {
    store: !cc.has('no-store'),
    freshForMs: fresh * 1000,
    staleIfErrorMs: staleIfError * 1000,
    etag,
    lastModified,
  };
}
