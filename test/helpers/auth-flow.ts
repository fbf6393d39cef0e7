/**
 * Drives the authorization endpoint like a browser would, but only within the issuer's origin: follows
 * redirects with a cookie jar and stops at the first response that leaves the issuer (the client's
 * redirect_uri) or is not a redirect.
 */
import { createHash, randomBytes } from 'node:crypto';

export interface FlowStep {
  status: number;
  url: string;
  location: string | undefined;
  body: string;
}

export interface AuthorizeResult {
  /** Every response seen, in order. */
  steps: FlowStep[];
  /** The redirect that left the issuer, if any (e.g. `http://localhost:5555/callback?code=...`). */
  leftTo: URL | undefined;
  /** The last response inside the issuer. */
  last: FlowStep;
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

/** The parameters of a code + PKCE (S256) authorization request; `extra` overrides or adds. */
export function authorizationParams(
  clientId: string,
  redirectUri: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    client_id: clientId,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: 'openid',
    code_challenge: pkcePair().challenge,
    code_challenge_method: 'S256',
    ...extra,
  };
}

/** One GET /auth without following redirects (303 to the interaction, or the 400 page); the body is read. */
export async function startAuthorization(
  issuer: string,
  clientId: string,
  redirectUri = 'https://app.example.com/cb',
  extra: Record<string, string> = {},
): Promise<{ status: number; location: string | null; body: string }> {
  const url = new URL(`/auth?${new URLSearchParams(authorizationParams(clientId, redirectUri, extra))}`, issuer);
  const response = await fetch(url, { redirect: 'manual' });
  return { status: response.status, location: response.headers.get('location'), body: await response.text() };
}

export async function authorize(issuer: string, params: Record<string, string>): Promise<AuthorizeResult> {
  const jar = new Map<string, string>();
  const origin = new URL(issuer).origin;
  let url = new URL('/auth', issuer);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const steps: FlowStep[] = [];
  for (let i = 0; i < 10; i++) {
    const response = await fetch(url, {
      redirect: 'manual',
      headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const eq = pair!.indexOf('=');
      jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    const location = response.headers.get('location') ?? undefined;
    const step = { status: response.status, url: url.href, location, body: await response.text() };
    steps.push(step);
    if (!location || response.status < 300 || response.status >= 400) return { steps, leftTo: undefined, last: step };
    const next = new URL(location, url);
    if (next.origin !== origin) return { steps, leftTo: next, last: step };
    url = next;
  }
  throw new Error(`too many redirects: ${steps.map((s) => s.url).join(' -> ')}`);
}

export async function exchangeCode(
  issuer: string,
  form: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(new URL('/token', issuer), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', ...form }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
