/**
 * The Koa application: the client logo route, the interaction pages, the MCP resource, then oidc-provider
 * (configured through the CIMD plugin) for everything else. `createApp` does not listen; server.ts and the tests do that.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import Router from '@koa/router';
import type Keyv from 'keyv';
import Koa from 'koa';
import mount from 'koa-mount';
import type { Provider } from 'oidc-provider';
import {
  type Cimd,
  type CimdEvent,
  type CimdOptions,
  createCimd,
  createRedisCache,
  type RedisCacheOptions,
  watchStore,
} from 'oidc-provider-cimd';
import { checkRedisUrl, EnvError, type ExampleEnv } from './env.js';
import { createInteractionRoutes } from './interactions.js';
import { jsonLines, type Log } from './log.js';
import { createMcpRoutes } from './mcp.js';
import { addHealthRoute, addMetricsRoute } from './metrics.js';
import { createProvider, generateSigningKeys, type SigningKeys } from './provider.js';

export interface AppOptions extends Partial<Omit<ExampleEnv, 'issuer' | 'port'>> {
  /** The issuer identifier: an origin, e.g. `http://localhost:3000`. */
  issuer: string;
  /** PEM of a CA trusted for document hosts, in addition to `extraCaPath` (tests pass it directly). */
  extraCa?: string;
  /** Receives every plugin event (one per client resolution). */
  onEvent?: (event: CimdEvent) => void;
  /** Operational log lines (Redis trouble, provider server errors). Default: JSON lines on stderr. */
  log?: Log;
  /** Signing keys; generated when omitted. */
  keys?: SigningKeys;
  /** Cookie signing keys (newest first); random per process when omitted, so sessions end with a restart. */
  cookieKeys?: string[];
  /** How many DPoP proofs the MCP resource remembers against replay (mcp.ts). */
  dpopReplayCacheSize?: number;
  /** Further plugin options (timeouts, back-off, trust policy...). */
  cimd?: Omit<CimdOptions, 'issuer' | 'enabled' | 'allowLoopback' | 'cache' | 'ca' | 'onEvent'>;
}

export interface ExampleApp {
  app: Koa;
  provider: Provider;
  cimd: Cimd;
  issuer: string;
  /** The MCP resource identifier (also the endpoint URL). */
  mcpResource: string;
  /** Releases the plugin's sockets and the Redis connection. The HTTP server belongs to the caller. */
  close(): Promise<void>;
}

const stderrLog = jsonLines((line) => process.stderr.write(line));

/**
 * The shared document cache for `REDIS_URL`: the plugin's own `createRedisCache`, so the example writes
 * exactly the keys that `cimd inspect` and every other instance read. It never waits for Redis forever and
 * never throws for an unreachable Redis (reads are misses meanwhile); a malformed URL is an error naming the
 * variable.
 */
async function openRedisCache(
  connection: Pick<RedisCacheOptions, 'url' | 'cluster' | 'sentinels' | 'sentinelName'>,
  log: Log,
): Promise<Keyv> {
  if (connection.url !== undefined) checkRedisUrl(connection.url);
  let lastReported = 0;
  try {
    // A single Redis, any node of a Redis Cluster (detected, or REDIS_CLUSTER), or a primary behind sentinels.
    return await createRedisCache({
      ...connection,
      onError: (error) => {
        // A down Redis reports an error per reconnection attempt: debug lines, one every 10 s at most. That it
        // is down (and back) is said once each by the store watch below (`store_down`, `store_up`).
        const now = Date.now();
        if (now - lastReported < 10_000) return;
        lastReported = now;
        log({
          level: 'debug',
          event: 'redis_error',
          message: error.message,
          note: 'CIMD documents are cached in process meanwhile',
        });
      },
    });
  } catch (error) {
    const variable = connection.sentinels !== undefined ? 'REDIS_SENTINELS' : 'REDIS_URL';
    throw new EnvError(`${variable}: ${(error as Error).message}`, { cause: error });
  }
}

export async function createApp(options: AppOptions): Promise<ExampleApp> {
  const issuer = options.issuer;
  const log = options.log ?? stderrLog;
  const cas = [
    ...(options.extraCaPath ? [await readFile(options.extraCaPath, 'utf8')] : []),
    ...(options.extraCa ? [options.extraCa] : []),
  ];

  const onEvent = options.onEvent;
  const allow = options.allow ?? [];
  const deny = options.deny ?? [];
  // Trust policy (draft-ietf-oauth-client-id-metadata-document-03 §9.9), as the environment gives it: CIMD_ADMISSION unset means allowlist when CIMD_ALLOW is set.
  const admission = options.admission ?? (allow.length > 0 ? 'allowlist' : 'open');
  const policy =
    admission !== 'open' || deny.length > 0 ? { ...options.cimd?.policy, admission, allow, deny } : undefined;

  const shared = options.redisSentinels
    ? await openRedisCache({ sentinels: options.redisSentinels, sentinelName: options.redisSentinelName ?? '' }, log)
    : options.redisUrl
      ? await openRedisCache(
          {
            url: options.redisUrl,
            ...(options.redisCluster !== undefined ? { cluster: options.redisCluster } : {}),
          },
          log,
        )
      : undefined;
  let cimd: Cimd;
  try {
    // Throws at once when the development exception is combined with a non-loopback issuer.
    cimd = createCimd({
      ...options.cimd,
      issuer,
      enabled: options.cimdEnabled ?? true,
      allowLoopback: options.allowLoopback ?? false,
      ...(shared ? { cache: shared } : {}),
      ...(cas.length ? { ca: cas } : {}),
      ...(onEvent ? { onEvent } : {}),
      ...(policy ? { policy } : {}),
      ...(options.transportFallbackS ? { transportFallbackMs: options.transportFallbackS * 1000 } : {}),
      // A refused client's page names its host and whom to ask; the operator's log line says what would admit it.
      denialPage:
        options.cimd?.denialPage === false
          ? false
          : {
              admitLine: (cid) => `CIMD_ALLOW=${[...allow, cid].join(',')}`,
              onDenial: (denial) => log({ level: 'warn', event: 'cimd_denied', ...denial }),
              ...options.cimd?.denialPage,
            },
    });
  } catch (error) {
    await shared?.disconnect();
    throw error;
  }

  const keys = options.keys ?? (await generateSigningKeys());
  const cookieKeys = options.cookieKeys ?? [randomBytes(32).toString('base64url')];
  const mcpResource = `${issuer}/mcp`;
  const provider = createProvider({
    issuer,
    cimd,
    dcrEnabled: options.dcrEnabled ?? true,
    mcpResource,
    keys,
    cookieKeys,
  });
  provider.on('server_error', (_ctx, error: Error) =>
    log({ level: 'error', event: 'server_error', message: error.message }),
  );
  // Would CIMD clients see what they need in discovery (the flag, and `none`)? Otherwise Claude, Codex and
  // opencode silently register with DCR instead; say so at startup.
  await cimd.selfCheck(provider, {
    onWarning: (message) => log({ level: 'warn', event: 'discovery_check', message }),
  });

  const app = new Koa();
  // Mounted with koa-mount, the provider sets its cookies through this app's context, while it reads them
  // through its own: both must sign with the same keys.
  app.keys = cookieKeys;
  const interactions = createInteractionRoutes({ provider, issuer, cimd });
  const mcp = createMcpRoutes({
    issuer,
    resource: mcpResource,
    publicJwks: keys.publicJwks,
    ...(options.dpopReplayCacheSize !== undefined ? { dpopReplayCacheSize: options.dpopReplayCacheSize } : {}),
  });
  // Client logos, fetched and checked by the plugin, served from this origin (`/cimd/logo/<opaque key>`): the
  // consent page never makes the browser contact a client's host.
  app.use(async (ctx, next) => {
    // Koa answers HEAD itself, from the GET response without its body.
    const logo = await cimd.logoResponse(ctx.method === 'HEAD' ? 'GET' : ctx.method, ctx.path);
    if (!logo) return next();
    ctx.status = logo.status;
    ctx.set(logo.headers);
    ctx.body = logo.body ?? '';
  });
  // Browsers ask every page's origin for /favicon.ico; answer it instead of logging a 404 per page view.
  app.use(async (ctx, next) => {
    if (ctx.path !== '/favicon.ico' || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    ctx.status = 204;
    ctx.set('cache-control', 'public, max-age=86400');
  });
  app.use(interactions.routes());
  app.use(mcp.routes());
  const operations = new Router();
  addHealthRoute(operations, cimd);
  const closeMetrics = options.metrics ? addMetricsRoute(operations, cimd, provider) : undefined;
  app.use(operations.routes());
  // The shared store's state changes, once each: a warning when it goes down, a line when it is back.
  const stopWatch = shared
    ? watchStore(cimd, {
        onChange: (change) =>
          change.state === 'down'
            ? log({
                level: 'warn',
                event: 'store_down',
                message: 'the shared store (Redis) does not answer; CIMD documents are cached in process meanwhile',
              })
            : log({
                level: 'info',
                event: 'store_up',
                message: 'the shared store (Redis) answers again',
                downForMs: change.downForMs,
              }),
      })
    : undefined;
  app.use(mount(provider));

  return {
    app,
    provider,
    cimd,
    issuer,
    mcpResource,
    async close() {
      stopWatch?.();
      closeMetrics?.();
      await cimd.close();
      await shared?.disconnect();
    },
  };
}
