/**
 * Client-supplied text printed to the operator's terminal (`client_name`, dropped `scope` values, redirect URIs,
 * messages that quote the document) is neutralised first: C0 and C1 controls (so ESC/CSI/OSC sequences, OSC 52
 * clipboard writes and line erasures lose their introducer), bidi embeddings, overrides and isolates, and other
 * invisible format characters each become U+FFFD. The implementation is the plugin's, the one the consent page
 * uses (`neutralizeText`). `--json` output is not passed through here: JSON escapes control characters itself.
 */
import { neutralizeText } from 'oidc-provider-cimd';

export function sanitize(value: string): string {
  return neutralizeText(value);
}

/**
 * A copy of `value` with every string in it (object members and array items, at any depth) neutralised, for a
 * report or entry about to be formatted as text. Object keys are kept: they are the plugin's own names. Values
 * that are not plain objects, arrays or strings are returned as they are.
 */
export function sanitizeDeep<T>(value: T): T {
  if (typeof value === 'string') return sanitize(value) as T;
  if (Array.isArray(value)) return value.map((item) => sanitizeDeep(item)) as T;
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, sanitizeDeep(item)])) as T;
  }
  return value;
}
