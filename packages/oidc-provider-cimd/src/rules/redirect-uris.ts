/**
 * Pure redirect URI helpers (SPEC.metadataDocument, RFC 7591 §2, RFC 8252 §7.3, RFC 9700 §2.1).
 *
 * Matching deliberately mirrors node-oidc-provider 9's `Client#redirectUriAllowed`, so that the plugin (which
 * decides, for instance, whether to refetch a document whose redirect URIs do not match) and the provider
 * (which makes the final decision) never disagree: comparison is on the URI strings exactly as written, and
 * the only relaxation is the port of a loopback `http` redirect URI for a native client.
 */

/** Host names that make an `http:` redirect URI a loopback one (the same set oidc-provider uses). */
export const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);

const parseUrl = (uri: string): URL | undefined => {
  try {
    return new URL(uri);
  } catch {
    return undefined;
  }
};

/**
 * Whether `uri` is a loopback redirect URI: the `http` scheme and the host `localhost`, `127.0.0.1` or `[::1]`
 * (compared after WHATWG URL parsing, as oidc-provider does). Any port; `https` loopback URIs are not loopback
 * redirect URIs in the RFC 8252 sense.
 */
export function isLoopbackRedirectUri(uri: string): boolean {
  if (typeof uri !== 'string') return false;
  // An https URI is never a loopback redirect: skip the URL parse, which runs on every authorization request.
  if (/^[\s\0-\x20]*https:/i.test(uri)) return false;
  const url = parseUrl(uri);
  return url !== undefined && url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
}

/** True when there is at least one redirect URI and every one of them is a loopback redirect URI. */
export function isLoopbackOnly(uris: readonly string[]): boolean {
  return uris.length > 0 && uris.every(isLoopbackRedirectUri);
}

/**
 * Whether `uri` is a private-use URI scheme redirect (RFC 8252 §7.1, `com.example.app:/cb`): any scheme but
 * `http` and `https`. Like a loopback redirect, any app on the device can claim the scheme and receive the
 * response (RFC 8252 §8.6), so consent treats both alike. Schemes are compared after WHATWG URL parsing, as
 * oidc-provider does.
 */
export function isPrivateUseRedirectUri(uri: string): boolean {
  if (typeof uri !== 'string' || /^[\s\0-\x20]*https?:/i.test(uri)) return false;
  const url = parseUrl(uri);
  return (
    url !== undefined &&
    /^[a-z][a-z0-9+.-]*:$/.test(url.protocol) &&
    url.protocol !== 'http:' &&
    url.protocol !== 'https:'
  );
}

/**
 * Where a redirect URI hands the response to a program on the user's device rather than to a website:
 * `loopback` (RFC 8252 §7.3), `private-use` (RFC 8252 §7.1), else `undefined`.
 */
export type LocalRedirectKind = 'loopback' | 'private-use';

export function localRedirectKind(uri: string | undefined): LocalRedirectKind | undefined {
  if (uri === undefined) return undefined;
  if (isLoopbackRedirectUri(uri)) return 'loopback';
  return isPrivateUseRedirectUri(uri) ? 'private-use' : undefined;
}

/**
 * For a loopback redirect URI: the URI string as written, minus its port (`:`, digits). A URI without a port
 * is returned unchanged. `undefined` when the URI is not a loopback redirect URI or its port is not numeric,
 * which makes it ineligible for the port exception.
 */
function withoutLoopbackPort(uri: string): string | undefined {
  if (!isLoopbackRedirectUri(uri)) return undefined;
  const schemeEnd = uri.indexOf('://');
  if (schemeEnd === -1) return undefined;
  const authorityStart = schemeEnd + 3;
  const delimiter = /[/?#]/.exec(uri.slice(authorityStart));
  const authorityEnd = delimiter === null ? uri.length : authorityStart + delimiter.index;
  // Host and port are what follows a userinfo part, if any.
  const hostStart = uri.lastIndexOf('@', authorityEnd - 1) + 1;
  const hostPortStart = Math.max(hostStart, authorityStart);
  const hostPort = uri.slice(hostPortStart, authorityEnd);

  let colon: number;
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    if (close === -1 || hostPort[close + 1] !== ':') return uri;
    colon = close + 1;
  } else {
    colon = hostPort.lastIndexOf(':');
    if (colon === -1) return uri;
  }
  if (!/^[0-9]*$/.test(hostPort.slice(colon + 1))) return undefined;
  return uri.slice(0, hostPortStart + colon) + uri.slice(authorityEnd);
}

/**
 * Whether the requested redirect URI is allowed for a client with the `registered` redirect URIs.
 *
 * - Exact string match (RFC 9700 §2.1: no normalisation of either side).
 * - For a native client only (`native === true`), the RFC 8252 §7.3 loopback exception: a requested
 *   `http://localhost|127.0.0.1|[::1]` URI matches a registered loopback URI that differs from it only in the
 *   port (present or absent, any value). Scheme, host, userinfo, path and query must still be identical.
 */
export function redirectUriMatches(registered: readonly string[], requested: string, native: boolean): boolean {
  if (typeof requested !== 'string') return false;
  if (registered.includes(requested)) return true;
  if (!native) return false;
  const stripped = withoutLoopbackPort(requested);
  if (stripped === undefined) return false;
  return registered.some((uri) => withoutLoopbackPort(uri) === stripped);
}
