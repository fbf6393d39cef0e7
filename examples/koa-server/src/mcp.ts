/**
 * A protected MCP resource: one tool over Streamable HTTP (stateless), reachable only with an access token
 * that the provider issued for this resource.
 *
 *   GET  /.well-known/oauth-protected-resource/mcp   RFC 9728 metadata: which authorization server to use
 *   POST /mcp                                         MCP JSON-RPC, `Authorization: Bearer <access token>`,
 *                                                     or `Authorization: DPoP <token>` + `DPoP: <proof>`
 *
 * The provider issues JWT access tokens (RFC 9068) for this resource (see provider.ts), so the check here is
 * a signature, issuer, audience, type and scope check against the provider's public keys. A resource server
 * in another process would use `createRemoteJWKSet(new URL(jwks_uri))` instead of the local key set.
 *
 * Sender-constrained tokens (RFC 9449): oidc-provider 9 binds an access token to the client's key whenever the
 * token request carries a DPoP proof, and says so in the token's `cnf.jkt`. Such a token is only accepted with
 * the `DPoP` scheme and a fresh proof of possession of that key (see `verifyDpopProof`); presented as a plain
 * Bearer token it is refused, so a stolen bound token is worthless without the client's private key. Tokens
 * without `cnf` keep working as Bearer tokens.
 *
 * Browsers: both routes answer CORS (preflights included) for any origin. That is safe because nothing here
 * relies on cookies or ambient credentials: a caller must hold a token.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import cors from '@koa/cors';
import Router from '@koa/router';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  decodeProtectedHeader,
  EmbeddedJWK,
  type JWK,
  type JWTPayload,
  jwtVerify,
} from 'jose';
import type { Context } from 'koa';
import { LRUCache } from 'lru-cache';
import { DPOP_SIGNING_ALGS, MCP_SCOPE } from './provider.js';

export interface McpOptions {
  issuer: string;
  /** The resource identifier, e.g. `http://localhost:3000/mcp`; its path is where the endpoint is served. */
  resource: string;
  /** The provider's public signing keys. */
  publicJwks: { keys: JWK[] };
  /** How many DPoP proofs (`jti`) are remembered against replay. Default {@link DPOP_REPLAY_CACHE_SIZE}. */
  dpopReplayCacheSize?: number;
}

/** RFC 9728 §3.1: the metadata of `https://host/mcp` is at `https://host/.well-known/oauth-protected-resource/mcp`. */
export function protectedResourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  return new URL(`/.well-known/oauth-protected-resource${url.pathname}`, url).href;
}

/**
 * How old a DPoP proof may be (its `iat`), and how far in the future a client's clock may put it. RFC 9449
 * §11.1 leaves the window to the server. oidc-provider accepts 5 minutes either way at the token endpoint; here
 * the past is the same 5 minutes, the future only 60 s of clock skew (a proof dated later was made in advance,
 * which is what the window is meant to stop). The replay cache below remembers every `jti` for that long.
 */
export const DPOP_MAX_AGE_S = 300;
export const DPOP_CLOCK_SKEW_S = 60;
/**
 * The widest time a proof stays acceptable after its first use (RFC 9449 §11.1): jose accepts an `iat` up to
 * the skew ahead, and a proof until `iat + max age + skew`; a proof dated the full skew ahead and used at once
 * is acceptable for `max age + 2 × skew`. A `jti` is remembered at least that long.
 */
export const DPOP_REPLAY_WINDOW_S = DPOP_MAX_AGE_S + 2 * DPOP_CLOCK_SKEW_S;

/**
 * How long to remember a proof's `jti` from `nowMs`: until its `iat` leaves the acceptance window, plus a second
 * for rounding; never longer than {@link DPOP_REPLAY_WINDOW_S}.
 */
export function dpopReplayTtlMs(iat: number, nowMs: number): number {
  const acceptableUntilMs = (iat + DPOP_MAX_AGE_S + DPOP_CLOCK_SKEW_S + 1) * 1000;
  return Math.min(DPOP_REPLAY_WINDOW_S * 1000 + 1000, Math.max(1000, acceptableUntilMs - nowMs));
}
/**
 * RFC 9449 §11.1: a proof's `jti` is accepted once. The cache is bounded: past this many proofs within one
 * window, the oldest are forgotten first (and could be replayed until their `iat` leaves the window). Only a
 * caller that holds both a valid token and its private key can fill it.
 */
export const DPOP_REPLAY_CACHE_SIZE = 100_000;

type Scheme = 'Bearer' | 'DPoP';

/** A 401/403 answer: which scheme to challenge with, and the RFC 6750 §3.1 / RFC 9449 §7.1 error. */
class AuthChallenge extends Error {
  constructor(
    readonly status: 401 | 403,
    readonly scheme: Scheme | undefined,
    readonly error?: 'invalid_token' | 'insufficient_scope' | 'invalid_dpop_proof' | 'invalid_request',
    readonly description?: string,
  ) {
    super(description ?? 'authorization required');
  }
}

function buildMcpServer(): McpServer {
  const server = new McpServer({ name: 'oidc-provider-cimd-example', version: '1.0.0' });
  server.registerTool(
    'whoami',
    {
      title: 'Who am I?',
      description: 'Tells which user and which client the access token of this call belongs to.',
    },
    async (extra) => {
      const auth = extra.authInfo;
      const sub = typeof auth?.extra?.sub === 'string' ? auth.extra.sub : 'unknown';
      const text = `You are ${sub}, calling through client ${auth?.clientId ?? 'unknown'} with scope "${auth?.scopes.join(' ') ?? ''}".`;
      return { content: [{ type: 'text', text }] };
    },
  );
  return server;
}

/** RFC 9449 §4.2: `ath` is the base64url SHA-256 of the access token's ASCII octets. */
function accessTokenHash(token: string): string {
  return createHash('sha256').update(token, 'ascii').digest('base64url');
}

/** RFC 9449 §4.3: `htu` is compared without query and fragment, after syntax-based normalisation. */
function normaliseHtu(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const url = URL.parse(value);
  if (!url) return undefined;
  url.search = '';
  url.hash = '';
  return url.href;
}

export function createMcpRoutes({
  issuer,
  resource,
  publicJwks,
  dpopReplayCacheSize = DPOP_REPLAY_CACHE_SIZE,
}: McpOptions): Router {
  const router = new Router();
  const endpointPath = new URL(resource).pathname;
  const endpointHtu = normaliseHtu(resource)!;
  const metadataUrl = protectedResourceMetadataUrl(resource);
  const keys = createLocalJWKSet(publicJwks);
  const seenProofs = new LRUCache<string, true>({
    max: dpopReplayCacheSize,
    ttl: (DPOP_REPLAY_WINDOW_S + 1) * 1000,
  });

  const metadata = {
    resource,
    authorization_servers: [issuer],
    scopes_supported: [MCP_SCOPE],
    bearer_methods_supported: ['header'],
    resource_name: 'oidc-provider-cimd example MCP server',
    // RFC 9728 §2: DPoP is accepted, not required (unbound tokens keep working as Bearer tokens).
    dpop_signing_alg_values_supported: [...DPOP_SIGNING_ALGS],
    dpop_bound_access_tokens_required: false,
  };

  // Token-based, no cookies: any origin may call, and browsers may read the challenge (WWW-Authenticate)
  // that tells an MCP client where the authorization server is. Preflights answer 204 before authentication.
  const corsFor = (methods: string) =>
    cors({
      origin: '*',
      allowMethods: methods,
      exposeHeaders: ['WWW-Authenticate', 'Mcp-Session-Id', 'Mcp-Protocol-Version'],
      maxAge: 600,
    });

  router.all(new URL(metadataUrl).pathname, corsFor('GET,HEAD'), (ctx) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.status = 405;
      ctx.set('allow', 'GET, HEAD');
      return;
    }
    ctx.set('cache-control', 'public, max-age=300');
    ctx.body = metadata;
  });

  /**
   * RFC 9449 §4.3 and §7.1: the proof is a `dpop+jwt` signed by the public key in its own header, for this
   * method and URL, recent, never seen before, bound to this access token (`ath`) and to the key the token
   * was issued for (`cnf.jkt`).
   */
  async function verifyDpopProof(ctx: Context, token: string, jkt: string): Promise<void> {
    const invalid = (description: string) => new AuthChallenge(401, 'DPoP', 'invalid_dpop_proof', description);
    const proof = ctx.get('dpop');
    // Node joins repeated headers with ", ", which a compact JWS never contains (RFC 9449 §4.3: exactly one).
    if (!proof) throw invalid('A DPoP proof (the DPoP header) is required with the DPoP scheme');
    if (proof.includes(',')) throw invalid('Exactly one DPoP header is allowed');
    let payload: JWTPayload;
    let jwk: JWK | undefined;
    try {
      jwk = decodeProtectedHeader(proof).jwk;
      ({ payload } = await jwtVerify(proof, EmbeddedJWK, {
        typ: 'dpop+jwt',
        algorithms: [...DPOP_SIGNING_ALGS],
        requiredClaims: ['jti', 'htm', 'htu', 'iat'],
        maxTokenAge: DPOP_MAX_AGE_S,
        clockTolerance: DPOP_CLOCK_SKEW_S,
      }));
    } catch {
      throw invalid('The DPoP proof is malformed, not signed by its embedded public key, or not recent');
    }
    if (payload.htm !== ctx.method) throw invalid('The DPoP proof is for another HTTP method (htm)');
    if (normaliseHtu(payload.htu) !== endpointHtu) throw invalid('The DPoP proof is for another URL (htu)');
    if (payload.ath !== accessTokenHash(token)) throw invalid('The DPoP proof is for another access token (ath)');
    if (typeof payload.jti !== 'string' || !payload.jti || payload.jti.length > 256) {
      throw invalid('The DPoP proof has no usable jti');
    }
    // The key binding: the proof's key must be the one the token was issued to.
    if (!jwk || (await calculateJwkThumbprint(jwk, 'sha256')) !== jkt) {
      throw new AuthChallenge(401, 'DPoP', 'invalid_token', 'The access token is bound to another key');
    }
    const replayKey = `${jkt}:${payload.jti}`;
    if (seenProofs.has(replayKey)) throw invalid('The DPoP proof was already used (jti)');
    seenProofs.set(replayKey, true, {
      ttl: dpopReplayTtlMs(typeof payload.iat === 'number' ? payload.iat : Date.now() / 1000, Date.now()),
    });
  }

  async function authenticate(ctx: Context): Promise<AuthInfo> {
    const match = /^(Bearer|DPoP) ([A-Za-z0-9\-._~+/]+=*)$/i.exec(ctx.get('authorization'));
    // RFC 6750 §3.1: no error code when the request simply carries no token.
    if (!match) throw new AuthChallenge(401, undefined);
    const scheme: Scheme = match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
    const token = match[2]!;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer,
        audience: resource,
        typ: 'at+jwt',
        algorithms: ['RS256'],
        requiredClaims: ['exp', 'sub', 'client_id'],
      }));
    } catch {
      throw new AuthChallenge(
        401,
        scheme,
        'invalid_token',
        'The access token is missing, expired or not for this resource',
      );
    }
    const cnf = payload.cnf as { jkt?: unknown } | undefined;
    const jkt = typeof cnf?.jkt === 'string' ? cnf.jkt : undefined;
    if (jkt) {
      // RFC 9449 §7.1: a DPoP-bound token is only valid with the DPoP scheme and a proof of possession.
      if (scheme !== 'DPoP') {
        throw new AuthChallenge(
          401,
          'DPoP',
          'invalid_token',
          'The access token is DPoP-bound: send it with the DPoP authorization scheme and a DPoP proof',
        );
      }
      await verifyDpopProof(ctx, token, jkt);
    } else if (scheme === 'DPoP') {
      throw new AuthChallenge(401, 'Bearer', 'invalid_token', 'The access token is not DPoP-bound: send it as Bearer');
    }
    const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
    if (!scopes.includes(MCP_SCOPE)) {
      throw new AuthChallenge(403, scheme, 'insufficient_scope', `The access token lacks the ${MCP_SCOPE} scope`);
    }
    return {
      token,
      clientId: String(payload.client_id),
      scopes,
      ...(payload.exp !== undefined ? { expiresAt: payload.exp } : {}),
      resource: new URL(resource),
      extra: { sub: payload.sub, ...(jkt ? { jkt } : {}) },
    };
  }

  /**
   * RFC 6750 §3 and RFC 9449 §7.1 challenges. Without a token both schemes are offered, Bearer first (MCP
   * clients read `resource_metadata` from it); after a failure, the scheme concerned carries the error.
   */
  function challenge(ctx: Context, failure: AuthChallenge): void {
    const common = [`resource_metadata="${metadataUrl}"`, `scope="${MCP_SCOPE}"`];
    const error = failure.error ? [`error="${failure.error}"`, `error_description="${failure.description}"`] : [];
    const algs = `algs="${DPOP_SIGNING_ALGS.join(' ')}"`;
    const challenges =
      failure.scheme === 'DPoP'
        ? [`DPoP ${[...common, ...error, algs].join(', ')}`]
        : failure.scheme === 'Bearer'
          ? [`Bearer ${[...common, ...error].join(', ')}`]
          : [`Bearer ${common.join(', ')}`, `DPoP ${[...common, algs].join(', ')}`];
    ctx.status = failure.status;
    ctx.set('www-authenticate', challenges.join(', '));
    ctx.body = failure.error
      ? { error: failure.error, error_description: failure.description }
      : { error: 'unauthorized', error_description: 'an access token is required' };
  }

  router.all(endpointPath, corsFor('POST,GET,DELETE'), async (ctx) => {
    let auth: AuthInfo;
    try {
      auth = await authenticate(ctx);
    } catch (error) {
      if (error instanceof AuthChallenge) return challenge(ctx, error);
      throw error;
    }
    if (ctx.method !== 'POST') {
      // Stateless server: no standalone SSE stream (GET), no sessions to end (DELETE).
      ctx.status = 405;
      ctx.set('allow', 'POST');
      return;
    }
    // One server and transport per request: the stateless pattern of the MCP SDK.
    const server = buildMcpServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    await server.connect(transport);
    ctx.res.on('close', () => {
      void transport.close();
      void server.close();
    });
    ctx.respond = false;
    (ctx.req as IncomingMessage & { auth?: AuthInfo }).auth = auth;
    await transport.handleRequest(ctx.req, ctx.res);
  });

  return router;
}
