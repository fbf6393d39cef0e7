/** Loopback redirect URIs (RFC 8252 §7.3): any local process can receive them. */

const LOOPBACK_HOSTS = new Set(['localhost', '[::1]']);

export function isLoopbackRedirectUri(uri: string): boolean {
  const url = URL.parse(uri);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) return false;
  const host = url.hostname.toLowerCase();
  return LOOPBACK_HOSTS.has(host) || host.endsWith('.localhost') || /^127(?:\.\d{1,3}){3}$/.test(host);
}

/**
 * True when a client can only ever be redirected to this computer. Such a client gets an explicit consent
 * prompt on every authorization (spec §6): any local program can present a well-known client's id with its
 * own loopback redirect.
 */
export function isLoopbackOnlyClient(redirectUris: readonly string[] | undefined): boolean {
  return redirectUris !== undefined && redirectUris.length > 0 && redirectUris.every(isLoopbackRedirectUri);
}

/** `host[:port]` of a URL, or `undefined` when it is not a URL with a host (e.g. an ordinary client id). */
export function hostOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return URL.parse(value)?.host || undefined;
}
