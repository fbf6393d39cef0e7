/**
 * A small HTTP "browser" for driving authorization flows in tests, without a real browser.
 *
 * - One cookie jar per instance (host- and path-aware, honours `Max-Age`/`Expires` deletions), so an
 *   oidc-provider session and its path-scoped interaction cookies work as they would in a browser.
 * - `navigate()` follows redirects only while they stay on the allowed origins (by default: the origin of the
 *   first URL, i.e. the issuer) and stops at the first redirect that leaves them — normally the client's
 *   `redirect_uri` with `code` and `state` — without ever contacting that URL.
 * - `submit()` posts an HTML form found on a page (hidden inputs included) the way a browser would, with
 *   `Origin` and `Sec-Fetch-Site` headers, then follows redirects like `navigate()`.
 * - `authorize()` walks a whole authorization request: login form (`login`/`password` fields), consent form
 *   (approve or deny), until the browser is sent to the client.
 *
 * Requests use undici's `request` directly (no global fetch, no automatic redirects, no connection reuse
 * surprises: pass `dispatcher` to control that).
 *
 * @example
 *   const browser = new Browser();
 *   const outcome = await browser.authorize(authorizationUrl, { login: 'alice', password: 'demo' });
 *   const code = outcome.redirect?.searchParams.get('code');
 */
import { type Dispatcher, request } from 'undici';

export interface BrowserResponse {
  status: number;
  /** The URL that was requested. */
  url: URL;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Resolved `Location` of a redirect response. */
  location: URL | undefined;
}

export interface Navigation {
  /** Every response, in order. */
  responses: BrowserResponse[];
  /** The last response received (a page, an error, or the redirect that left the allowed origins). */
  last: BrowserResponse;
  /** Where the browser was sent when a redirect left the allowed origins (not requested). */
  leftTo: URL | undefined;
}

export interface HtmlForm {
  /** Absolute URL the form posts to. */
  action: URL;
  method: string;
  /** Named `<input>` values as they appear (hidden ones included), before any `fields` override. */
  inputs: Record<string, string>;
}

export interface BrowserOptions {
  /** Origins redirects may be followed on. Default: the origin of the first URL navigated to. */
  allowedOrigins?: readonly string[];
  /** Redirects followed per navigation. Default 20. */
  maxRedirects?: number;
  /** undici dispatcher (e.g. an Agent with a custom `connect.ca`). Default: undici's global dispatcher. */
  dispatcher?: Dispatcher;
  /** Extra headers sent with every request. */
  headers?: Record<string, string>;
}

export interface AuthorizeOptions {
  /** Login form values. Default `alice` / `demo`. */
  login?: string;
  password?: string;
  /** `true` (default): approve consent; `false`: deny it. */
  approve?: boolean;
  /** Consent form actions. Defaults match oidc-provider's conventions (`.../confirm`, `.../abort`). */
  approveAction?: RegExp;
  denyAction?: RegExp;
  /** Steps (pages shown) before giving up. Default 10. */
  maxSteps?: number;
  /** Called with every page shown (login, consent, error), e.g. to make assertions on it. */
  onPage?: (page: BrowserResponse, kind: 'login' | 'consent' | 'other') => void;
}

export interface AuthorizeOutcome {
  /** The client redirect the browser was sent to (with `code`/`state` or `error`), or `undefined`. */
  redirect: URL | undefined;
  /** The login page, when one was shown. */
  loginPage: BrowserResponse | undefined;
  /** The consent page, when one was shown. */
  consentPage: BrowserResponse | undefined;
  /** The last response (an error page when `redirect` is undefined). */
  last: BrowserResponse;
  /** Every response seen, in order. */
  responses: BrowserResponse[];
}

interface StoredCookie {
  name: string;
  value: string;
  host: string;
  path: string;
  expires: number | undefined;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", '#39': "'" };

/** Decodes the HTML character references that appear in attribute values. */
export function decodeEntities(value: string): string {
  return value.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (match, ref: string) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' || ref[1] === 'X' ? Number.parseInt(ref.slice(2), 16) : Number(ref.slice(1));
      return Number.isFinite(code) ? String.fromCodePoint(code) : match;
    }
    return ENTITIES[ref.toLowerCase()] ?? match;
  });
}

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    const name = m[1]!.toLowerCase();
    if (!(name in out)) out[name] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return out;
}

/** Every `<form>` of a page, with its named inputs. Good enough for server-rendered login/consent pages. */
export function parseForms(page: Pick<BrowserResponse, 'body' | 'url'>): HtmlForm[] {
  const forms: HtmlForm[] = [];
  for (const m of page.body.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attrs = attributes(m[1]!);
    const inputs: Record<string, string> = {};
    for (const input of m[2]!.matchAll(/<(?:input|button)\b([^>]*)>/gi)) {
      const a = attributes(input[1]!);
      if (a.name !== undefined) inputs[a.name] = a.value ?? '';
    }
    forms.push({
      action: new URL(attrs.action ?? '', page.url),
      method: (attrs.method ?? 'get').toLowerCase(),
      inputs,
    });
  }
  return forms;
}

export class Browser {
  readonly #cookies: StoredCookie[] = [];
  readonly #options: BrowserOptions;
  #allowed: Set<string> | undefined;

  constructor(options: BrowserOptions = {}) {
    this.#options = options;
    this.#allowed = options.allowedOrigins ? new Set(options.allowedOrigins) : undefined;
  }

  /** `name=value` pairs the jar would send to `url`. */
  cookieHeader(url: URL): string {
    const now = Date.now();
    return this.#cookies
      .filter((c) => c.host === url.host && (c.expires === undefined || c.expires > now))
      .filter((c) => url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  #store(url: URL, setCookie: string | string[] | undefined): void {
    for (const header of [setCookie ?? []].flat()) {
      const [pair, ...attrs] = header.split(';');
      const eq = pair!.indexOf('=');
      if (eq <= 0) continue;
      const cookie: StoredCookie = {
        name: pair!.slice(0, eq).trim(),
        value: pair!.slice(eq + 1).trim(),
        host: url.host,
        path: url.pathname.replace(/\/[^/]*$/, '') || '/',
        expires: undefined,
      };
      for (const attr of attrs) {
        const [key = '', val = ''] = attr.split('=').map((s) => s.trim());
        if (/^path$/i.test(key) && val.startsWith('/')) cookie.path = val;
        if (/^max-age$/i.test(key)) cookie.expires = Date.now() + Number(val) * 1000;
        if (/^expires$/i.test(key) && cookie.expires === undefined) cookie.expires = Date.parse(val);
      }
      const existing = this.#cookies.findIndex(
        (c) => c.name === cookie.name && c.host === cookie.host && c.path === cookie.path,
      );
      if (existing !== -1) this.#cookies.splice(existing, 1);
      if (cookie.expires === undefined || cookie.expires > Date.now()) this.#cookies.push(cookie);
    }
  }

  /** One request, no redirect following; cookies are sent and stored. */
  async fetch(
    url: string | URL,
    init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {},
  ): Promise<BrowserResponse> {
    const target = new URL(url);
    const headers: Record<string, string> = { accept: 'text/html,*/*', ...this.#options.headers, ...init.headers };
    const cookie = this.cookieHeader(target);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const response = await request(target, {
      method: (init.method ?? (body === undefined ? 'GET' : 'POST')) as Dispatcher.HttpMethod,
      headers,
      ...(body === undefined ? {} : { body }),
      ...(this.#options.dispatcher ? { dispatcher: this.#options.dispatcher } : {}),
    });
    this.#store(target, response.headers['set-cookie']);
    const text = await response.body.text();
    const location = response.headers.location;
    return {
      status: response.statusCode,
      url: target,
      headers: response.headers,
      body: text,
      location: typeof location === 'string' ? new URL(location, target) : undefined,
    };
  }

  async #follow(first: BrowserResponse): Promise<Navigation> {
    const responses = [first];
    let current = first;
    const max = this.#options.maxRedirects ?? 20;
    for (let i = 0; ; i++) {
      const isRedirect = current.status >= 300 && current.status < 400 && current.location !== undefined;
      if (!isRedirect) return { responses, last: current, leftTo: undefined };
      const next = current.location!;
      if (!this.#allowed!.has(next.origin)) return { responses, last: current, leftTo: next };
      if (i >= max) throw new Error(`too many redirects: ${responses.map((r) => r.url.href).join(' -> ')}`);
      current = await this.fetch(next);
      responses.push(current);
    }
  }

  /** GET `url` and follow redirects within the allowed origins. */
  async navigate(url: string | URL): Promise<Navigation> {
    const target = new URL(url);
    this.#allowed ??= new Set([target.origin]);
    return this.#follow(await this.fetch(target));
  }

  /**
   * Submits a form of `page` (the first one whose action matches `select`, or the first form), with `fields`
   * overriding its inputs, then follows redirects within the allowed origins.
   */
  async submit(
    page: BrowserResponse,
    fields: Record<string, string> = {},
    select?: (form: HtmlForm) => boolean,
  ): Promise<Navigation> {
    const forms = parseForms(page);
    const form = select ? forms.find(select) : forms[0];
    if (!form) throw new Error(`no matching form on ${page.url.href} (status ${page.status})`);
    this.#allowed ??= new Set([page.url.origin]);
    const headers = {
      origin: page.url.origin,
      'sec-fetch-site': form.action.origin === page.url.origin ? 'same-origin' : 'cross-site',
    };
    const values = { ...form.inputs, ...fields };
    const response =
      form.method === 'post'
        ? await this.fetch(form.action, { form: values, headers })
        : await this.fetch(Object.assign(new URL(form.action), { search: new URLSearchParams(values).toString() }), {
            headers,
          });
    return this.#follow(response);
  }

  /**
   * Walks an authorization request to its end: signs in through a form with `login`/`password` fields,
   * approves (or denies) a consent form, and stops when the browser is sent off the allowed origins.
   */
  async authorize(authorizationUrl: string | URL, options: AuthorizeOptions = {}): Promise<AuthorizeOutcome> {
    const approve = options.approveAction ?? /\/confirm$/;
    const deny = options.denyAction ?? /\/abort$/;
    const outcome: AuthorizeOutcome = {
      redirect: undefined,
      loginPage: undefined,
      consentPage: undefined,
      last: undefined as unknown as BrowserResponse,
      responses: [],
    };
    let navigation = await this.navigate(authorizationUrl);
    for (let step = 0; ; step++) {
      outcome.responses.push(...navigation.responses);
      outcome.last = navigation.last;
      if (navigation.leftTo) {
        outcome.redirect = navigation.leftTo;
        return outcome;
      }
      const page = navigation.last;
      const forms = page.status < 300 || page.status === 401 ? parseForms(page) : [];
      const loginForm = forms.find((f) => 'password' in f.inputs && 'login' in f.inputs);
      const consentForm = forms.find((f) => approve.test(f.action.pathname));
      const kind = loginForm ? 'login' : consentForm ? 'consent' : 'other';
      options.onPage?.(page, kind);
      if (kind === 'other' || step >= (options.maxSteps ?? 10)) return outcome;
      if (loginForm) {
        outcome.loginPage ??= page;
        navigation = await this.submit(
          page,
          { login: options.login ?? 'alice', password: options.password ?? 'demo' },
          (f) => f.action.href === loginForm.action.href,
        );
      } else {
        outcome.consentPage ??= page;
        const wanted = options.approve === false ? deny : approve;
        navigation = await this.submit(page, {}, (f) => wanted.test(f.action.pathname));
      }
    }
  }
}
