/** Small URL helpers for the example's own pages. The consent rules themselves live in the plugin. */

/** `host[:port]` of a URL, or `undefined` when it is not a URL with a host (e.g. an ordinary client id). */
export function hostOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return URL.parse(value)?.host || undefined;
}
