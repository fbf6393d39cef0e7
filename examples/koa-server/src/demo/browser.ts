/**
 * Just enough of a browser for the demo: a cookie jar and one request at a time, redirects not followed, so
 * that every hop can be shown.
 */

export interface Hop {
  status: number;
  url: URL;
  location: URL | undefined;
  body: string;
  headers: Headers;
}

export class DemoBrowser {
  readonly #cookies = new Map<string, string>();

  async request(url: string | URL, form?: Record<string, string>): Promise<Hop> {
    const target = new URL(url);
    const headers: Record<string, string> = { accept: 'text/html' };
    if (this.#cookies.size) headers.cookie = [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      // What a browser sends with a form post from the same site.
      headers.origin = target.origin;
      headers['sec-fetch-site'] = 'same-origin';
    }
    const response = await fetch(target, {
      method: form ? 'POST' : 'GET',
      headers,
      redirect: 'manual',
      signal: AbortSignal.timeout(10_000),
      ...(form ? { body: new URLSearchParams(form) } : {}),
    });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair = ''] = cookie.split(';');
      const eq = pair.indexOf('=');
      if (eq > 0) this.#cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    const location = response.headers.get('location');
    return {
      status: response.status,
      url: target,
      location: location ? new URL(location, target) : undefined,
      body: await response.text(),
      headers: response.headers,
    };
  }

  /** Follows redirects while they stay on `origin`; returns the last response and where it pointed. */
  async follow(first: Hop, origin: string): Promise<Hop> {
    let hop = first;
    for (let i = 0; i < 10 && hop.location && hop.location.origin === origin; i++) {
      hop = await this.request(hop.location);
    }
    return hop;
  }
}

/** The `action` of the form whose action ends with `suffix`. */
export function formAction(page: Hop, suffix: string): URL | undefined {
  for (const match of page.body.matchAll(/<form\b[^>]*\baction="([^"]+)"/g)) {
    const action = match[1]!.replace(/&amp;/g, '&');
    if (action.endsWith(suffix)) return new URL(action, page.url);
  }
  return undefined;
}

/** Text of the `<tag id="...">` element (tags stripped, entities of the page left as they are). */
export function textOf(page: Hop, id: string, tag = 'p'): string | undefined {
  const match = new RegExp(`<${tag}\\b[^>]*\\bid="${id}"[^>]*>([\\s\\S]*?)</${tag}>`).exec(page.body);
  return match?.[1]
    ?.replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** A short description of an unexpected page: the provider's error and description, or its first words. */
export function describePage(page: Hop): string {
  const error = textOf(page, 'error');
  if (error) return `${page.status} ${error}: ${textOf(page, 'error-description') ?? ''}`;
  return `${page.status} ${page.body
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200)}`;
}
