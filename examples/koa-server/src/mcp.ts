/**
 * A protected MCP resource: one tool over Streamable HTTP (stateless), reachable only with an access token
 * that the provider issued for this resource.
 *
 *   GET  /.well-known/oauth-protected-resource/mcp   RFC 9728 metadata: which authorization server to use
 *   POST /mcp                                         MCP JSON-RPC, `Authorization: Bearer <access token>`
 *
 * The provider issues JWT access tokens (RFC 9068) for this resource (see provider.ts), so the check here is
 * a signature, issuer, audience, type and scope check against the provider's public keys. A resource server
 * in another process would use `createRemoteJWKSet(new URL(jwks_uri))` instead of the local key set.
 */
import type { IncomingMessage } from 'node:http';
import Router from '@koa/router';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createLocalJWKSet, type JWK, jwtVerify } from 'jose';
import type { Context } from 'koa';
import { MCP_SCOPE } from './provider.js';

export interface McpOptions {
  issuer: string;
  /** The resource identifier, e.g. `http://localhost:3000/mcp`; its path is where the endpoint is served. */
  resource: string;
  /** The provider's public signing keys. */
  publicJwks: { keys: JWK[] };
}

/** RFC 9728 §3.1: the metadata of `https://host/mcp` is at `https://host/.well-known/oauth-protected-resource/mcp`. */
export function protectedResourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  return new URL(`/.well-known/oauth-protected-resource${url.pathname}`, url).href;
}

class BearerChallenge extends Error {
  constructor(
    readonly status: 401 | 403,
    readonly error?: 'invalid_token' | 'insufficient_scope',
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

export function createMcpRoutes({ issuer, resource, publicJwks }: McpOptions): Router {
  const router = new Router();
  const endpointPath = new URL(resource).pathname;
  const metadataUrl = protectedResourceMetadataUrl(resource);
  const keys = createLocalJWKSet(publicJwks);

  const metadata = {
    resource,
    authorization_servers: [issuer],
    scopes_supported: [MCP_SCOPE],
    bearer_methods_supported: ['header'],
    resource_name: 'oidc-provider-cimd example MCP server',
  };

  router.get(new URL(metadataUrl).pathname, (ctx) => {
    ctx.set('access-control-allow-origin', '*');
    ctx.set('cache-control', 'public, max-age=300');
    ctx.body = metadata;
  });

  async function authenticate(ctx: Context): Promise<AuthInfo> {
    const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(ctx.get('authorization'));
    // RFC 6750 §3.1: no error code when the request simply carries no token.
    if (!match) throw new BearerChallenge(401);
    const token = match[1]!;
    let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer,
        audience: resource,
        typ: 'at+jwt',
        algorithms: ['RS256'],
        requiredClaims: ['exp', 'sub', 'client_id'],
      }));
    } catch {
      throw new BearerChallenge(401, 'invalid_token', 'The access token is missing, expired or not for this resource');
    }
    const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
    if (!scopes.includes(MCP_SCOPE)) {
      throw new BearerChallenge(403, 'insufficient_scope', `The access token lacks the ${MCP_SCOPE} scope`);
    }
    return {
      token,
      clientId: String(payload.client_id),
      scopes,
      ...(payload.exp !== undefined ? { expiresAt: payload.exp } : {}),
      resource: new URL(resource),
      extra: { sub: payload.sub },
    };
  }

  function challenge(ctx: Context, failure: BearerChallenge): void {
    const params = [`resource_metadata="${metadataUrl}"`, `scope="${MCP_SCOPE}"`];
    if (failure.error) params.push(`error="${failure.error}"`, `error_description="${failure.description}"`);
    ctx.status = failure.status;
    ctx.set('www-authenticate', `Bearer ${params.join(', ')}`);
    ctx.body = failure.error
      ? { error: failure.error, error_description: failure.description }
      : { error: 'unauthorized', error_description: 'an access token is required' };
  }

  router.all(endpointPath, async (ctx) => {
    let auth: AuthInfo;
    try {
      auth = await authenticate(ctx);
    } catch (error) {
      if (error instanceof BearerChallenge) return challenge(ctx, error);
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
