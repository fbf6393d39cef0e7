/**
 * The operator commands: inspect, refresh, purge, pin and unpin a client in a deployment's shared store.
 * They go through the plugin's own operator API (`createCimd({ cache })`), never through raw keys, so every
 * change is a commit through the same owner of client state as the servers' (the revision lives in the shared
 * store, so a lookup in flight on a server cannot undo a command run here), and the key format, the entry
 * format and the cross-instance invalidation stay the plugin's business. A command the store did not confirm
 * fails with an OperatorCommitError (exit 1, its code in the output).
 */
import type Keyv from 'keyv';
import type { Configuration } from 'oidc-provider';
import {
  type CacheEntry,
  type CacheInspection,
  type Cimd,
  createCimd,
  createRedisCache,
  describeRedisCache,
  isCimdError,
  OperatorCommitError,
  type RedisTopology,
  redisOptionsFromEnv,
} from 'oidc-provider-cimd';
import { serverMetadataCapabilities } from 'oidc-provider-cimd/check';
import type { Io, Progress, Style } from './io.js';
import { sanitize } from './sanitize.js';

export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}

/**
 * How to reach the deployment's Redis, exactly as the servers do (`createRedisCache`): a single Redis or any node
 * of a Redis Cluster (`redisUrl`; the cluster is detected from the server, or forced with `cluster`), or a
 * Sentinel-managed primary (`sentinels` and `sentinelName`).
 */
export interface RedisConnection {
  redisUrl?: string;
  cluster?: boolean;
  /** `host:port,host:port` */
  sentinels?: string;
  sentinelName?: string;
}

export interface StoreOptions extends RedisConnection {
  namespace?: string;
  issuer: string;
  allowLoopback: boolean;
  ca?: string[];
  /** The deployment's discovery document, so that refresh and pin normalise documents as the server does. */
  serverMetadata?: Record<string, unknown>;
}

export interface OpenStore {
  cimd: Cimd;
  /** The store itself, as the servers see it (same client, same namespace): e.g. to list registry records. */
  keyv: Keyv;
  /** What the connection found: a single Redis, a cluster or a Sentinel-managed primary. */
  topology: RedisTopology;
  close(): Promise<void>;
}

/** How long the command line waits for Redis: longer than a server would, an operator is waiting anyway. */
const STORE_TIMEOUT_MS = 5000;
const FATAL_CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const FATAL_CONNECT_TEXT = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|WRONGPASS|NOAUTH|NOPERM/;

const messageOf = (error: unknown): string =>
  (typeof (error as { message?: unknown })?.message === 'string' ? (error as Error).message : String(error)).replace(
    /^Error: /,
    '',
  );

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreUnavailableError(message)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const redactUrl = (url: string): string => {
  const parsed = URL.parse(url);
  if (!parsed) return url;
  if (parsed.password) parsed.password = '***';
  return parsed.href;
};

/**
 * The command line never serves oidc-provider's own models (sessions, grants, tokens): an adapter that keeps
 * nothing, so that configure() neither falls back to the development memory adapter nor warns about it.
 */
const NO_MODELS: Configuration['adapter'] = () => ({
  upsert: async () => {},
  find: async () => undefined,
  findByUserCode: async () => undefined,
  findByUid: async () => undefined,
  consume: async () => {},
  destroy: async () => {},
  revokeByGrantId: async () => {},
});

/**
 * The connection from the command line's flags, falling back to the environment the servers read (REDIS_URL,
 * REDIS_CLUSTER, REDIS_SENTINELS, REDIS_SENTINEL_NAME). Flags win as a whole: `--redis` ignores
 * REDIS_SENTINELS and the reverse. Throws a TypeError with a one-line reason for a bad or missing setting.
 */
export function redisConnectionFrom(
  flags: {
    redis?: string | undefined;
    cluster?: boolean | undefined;
    sentinels?: string | undefined;
    sentinelName?: string | undefined;
  },
  env: Record<string, string | undefined>,
): RedisConnection {
  const fromFlags =
    flags.redis !== undefined || flags.sentinels !== undefined || flags.sentinelName !== undefined
      ? {
          ...(flags.redis !== undefined ? { REDIS_URL: flags.redis } : {}),
          ...(flags.sentinels !== undefined ? { REDIS_SENTINELS: flags.sentinels } : {}),
          ...(flags.sentinelName !== undefined ? { REDIS_SENTINEL_NAME: flags.sentinelName } : {}),
          ...(env.REDIS_CLUSTER !== undefined && flags.redis !== undefined ? { REDIS_CLUSTER: env.REDIS_CLUSTER } : {}),
        }
      : env;
  const source = flags.cluster ? { ...fromFlags, REDIS_CLUSTER: 'true' } : fromFlags;
  // Name what the operator used: the flags when any connection flag was given (the environment is then not read,
  // except REDIS_CLUSTER next to --redis), the variables otherwise.
  const byFlags = fromFlags !== env;
  const rename = (message: string) =>
    message
      .replace(/\bREDIS_URL\b/g, byFlags ? '--redis' : 'REDIS_URL')
      .replace(/\bREDIS_SENTINELS\b/g, byFlags ? '--sentinels' : 'REDIS_SENTINELS')
      .replace(/\bREDIS_SENTINEL_NAME\b/g, byFlags ? '--sentinel-name' : 'REDIS_SENTINEL_NAME')
      .replace(/\bREDIS_CLUSTER(=true)?/g, flags.cluster ? '--cluster' : 'REDIS_CLUSTER$1');
  let found: ReturnType<typeof redisOptionsFromEnv>;
  try {
    found = redisOptionsFromEnv(source);
  } catch (error) {
    throw new TypeError(rename(messageOf(error)));
  }
  if (!found) {
    throw new TypeError(
      "needs the deployment's store: --redis URL or REDIS_URL (a single Redis or any node of a cluster), or --sentinels HOST:PORT,... with --sentinel-name NAME (or REDIS_SENTINELS and REDIS_SENTINEL_NAME)",
    );
  }
  return {
    ...(found.url !== undefined ? { redisUrl: found.url } : {}),
    ...(found.cluster !== undefined ? { cluster: found.cluster } : {}),
    ...(found.sentinels !== undefined ? { sentinels: String(found.sentinels) } : {}),
    ...(found.sentinelName !== undefined ? { sentinelName: found.sentinelName } : {}),
  };
}

function describeConnection(options: RedisConnection): string {
  if (options.sentinels !== undefined)
    return `Redis primary ${options.sentinelName} via sentinels ${options.sentinels}`;
  return `Redis at ${redactUrl(options.redisUrl ?? '')}`;
}

/**
 * Connects to the deployment's Redis and builds the plugin on it. Unlike a server, which treats an unreachable
 * store as a miss, the command line refuses to run against a store it cannot reach: a purge or a pin that
 * silently went nowhere would be worse than an error.
 */
export async function openStore(options: StoreOptions, progress: Progress): Promise<OpenStore> {
  const where = describeConnection(options);
  progress.update(`connecting to ${where}`);
  // The first connection error that says the store is not there (refused, unknown host, bad password) ends the
  // wait at once; anything else is retried until the deadline.
  let lastError: Error | undefined;
  let fatal: Error | undefined;
  const onError = (error: Error) => {
    if (/ClientOfflineError|client is offline/i.test(`${error.name} ${error.message}`)) return;
    lastError = error;
    // By code, or by message: an error from another realm may arrive re-wrapped, with only its text left.
    const code = (error as NodeJS.ErrnoException).code;
    if ((code && FATAL_CONNECT_CODES.has(code)) || FATAL_CONNECT_TEXT.test(error.message)) fatal ??= error;
  };
  let keyv: Keyv;
  try {
    // The same helper, defaults and key layout as the servers: the command line acts on exactly their entries.
    keyv = await createRedisCache({
      ...(options.sentinels !== undefined
        ? { sentinels: options.sentinels, sentinelName: options.sentinelName ?? '' }
        : { url: options.redisUrl ?? '' }),
      ...(options.cluster !== undefined && options.sentinels === undefined ? { cluster: options.cluster } : {}),
      ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
      connectTimeoutMs: STORE_TIMEOUT_MS,
      commandTimeoutMs: STORE_TIMEOUT_MS,
      initialConnectWaitMs: 0,
      onError,
    });
  } catch (cause) {
    progress.done();
    throw new StoreUnavailableError(`cannot use ${where}: ${messageOf(cause)}`);
  }
  try {
    const deadline = Date.now() + STORE_TIMEOUT_MS;
    for (;;) {
      try {
        await withTimeout(keyv.get('cimd:cli:probe'), STORE_TIMEOUT_MS, `${where} did not answer`);
        break;
      } catch (cause) {
        const reason = fatal ?? (Date.now() >= deadline ? (lastError ?? cause) : undefined);
        if (reason) throw new StoreUnavailableError(`cannot reach ${where}: ${messageOf(reason)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  } catch (error) {
    await keyv.disconnect().catch(() => {});
    throw error;
  } finally {
    progress.done();
  }

  // The same derivation as `cimd check --server-metadata` (one function in the plugin), so that pin and refresh
  // accept exactly the documents that check accepts.
  const { configuration, extras } = options.serverMetadata
    ? serverMetadataCapabilities(options.serverMetadata)
    : { configuration: {}, extras: {} };
  let cimd: Cimd;
  try {
    cimd = createCimd({
      cache: keyv,
      issuer: options.issuer,
      allowLoopback: options.allowLoopback,
      ...(options.ca && options.ca.length > 0 ? { ca: options.ca } : {}),
      ...extras,
      sharedCacheTimeoutMs: STORE_TIMEOUT_MS,
      failureBackoffMs: 0,
      // The refresh cooldown (kept in the shared store) guards origins against refresh() calls wired into a
      // server; an operator typing `cimd refresh` is the deliberate exception, as before.
      refreshCooldownMs: 0,
    });
    cimd.configure({ ...(configuration as Configuration), adapter: NO_MODELS });
  } catch (error) {
    await keyv.disconnect().catch(() => {});
    throw error;
  }
  return {
    cimd,
    keyv,
    topology: describeRedisCache(keyv)?.topology ?? 'standalone',
    async close() {
      await cimd.close();
      await keyv.disconnect().catch(() => {});
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Output

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return 'never';
  const negative = ms < 0;
  let seconds = Math.round(Math.abs(ms) / 1000);
  const parts: string[] = [];
  const days = Math.floor(seconds / 86_400);
  seconds -= days * 86_400;
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  if (days) parts.push(`${days} d`);
  if (hours) parts.push(`${hours} h`);
  if (minutes && !days) parts.push(`${minutes} min`);
  if ((seconds && !days && !hours) || parts.length === 0) parts.push(`${seconds} s`);
  return `${negative ? '-' : ''}${parts.join(' ')}`;
}

function entryRows(entry: CacheEntry, style: Style, now: number): [string, string][] {
  const metadata = entry.metadata;
  const rows: [string, string][] = [];
  rows.push([
    'client',
    `${JSON.stringify(metadata.client_name ?? '(no name)')}, ${String(metadata.application_type ?? 'web')}, auth ${metadata.token_endpoint_auth_method}`,
  ]);
  const grants = Array.isArray(metadata.grant_types) ? (metadata.grant_types as string[]).join(', ') : '';
  if (grants) rows.push(['grant types', grants]);
  (metadata.redirect_uris ?? []).forEach((uri, index) => {
    rows.push([index === 0 ? 'redirect URIs' : '', uri]);
  });
  if (entry.loopbackOnly) rows.push(['consent', style('yellow', 'every authorization (loopback-only client)')]);
  rows.push(['fetched', `${formatDuration(now - entry.fetchedAt)} ago (${new Date(entry.fetchedAt).toISOString()})`]);
  const validators = [
    entry.etag ? `ETag ${entry.etag}` : '',
    entry.lastModified ? `Last-Modified ${entry.lastModified}` : '',
  ]
    .filter(Boolean)
    .join(', ');
  if (validators) rows.push(['validators', validators]);
  return rows;
}

function table(rows: [string, string][]): string[] {
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, value]) => `  ${name.padEnd(width)}  ${value}`);
}

function freshness(inspection: CacheInspection, style: Style): string {
  const { entry } = inspection;
  if (entry.pinned) return style('cyan', 'pinned: served without fetching until unpinned');
  if (inspection.fresh) return `${style('green', 'fresh')}, expires in ${formatDuration(inspection.expiresInMs)}`;
  const staleFor = entry.staleIfErrorUntil - (entry.fetchedAt + inspection.ageMs);
  return `${style('yellow', 'stale')} since ${formatDuration(-inspection.expiresInMs)}${staleFor > 0 ? `, may stand in for a failed refresh for ${formatDuration(staleFor)}` : ''}`;
}

export function formatInspection(cid: string, inspection: CacheInspection, style: Style, now: number): string {
  return `${[
    style('bold', cid),
    ...table([
      ['state', `${freshness(inspection, style)} ${style('dim', `(${inspection.tier} tier)`)}`],
      ...entryRows(inspection.entry, style, now),
    ]),
  ].join('\n')}\n`;
}

export function formatEntry(title: string, entry: CacheEntry, style: Style, now: number): string {
  const state: [string, string] = entry.pinned
    ? ['state', style('cyan', 'pinned: served without fetching until unpinned')]
    : ['state', `${style('green', 'fresh')} for ${formatDuration(entry.freshUntil - now)}`];
  return `${[title, ...table([state, ...entryRows(entry, style, now)])].join('\n')}\n`;
}

/** JSON for an inspection: `Infinity` (a pinned entry never expires) becomes null. */
export function inspectionJson(cid: string, inspection: CacheInspection | undefined): Record<string, unknown> {
  if (!inspection) return { clientId: cid, cached: false };
  return {
    clientId: cid,
    cached: true,
    tier: inspection.tier,
    fresh: inspection.fresh,
    pinned: inspection.entry.pinned === true,
    ageMs: inspection.ageMs,
    expiresInMs: Number.isFinite(inspection.expiresInMs) ? inspection.expiresInMs : null,
    entry: inspection.entry,
  };
}

export function errorJson(error: unknown): Record<string, unknown> {
  if (isCimdError(error)) {
    return {
      code: error.code,
      ...(error.rule ? { rule: error.rule } : {}),
      message: error.message,
      publicMessage: error.publicMessage,
    };
  }
  // A command the shared store did not confirm, or that another command overtook: its stable code.
  if (error instanceof OperatorCommitError) return { code: error.code, message: error.message };
  return { message: messageOf(error) };
}

export function errorLine(error: unknown, style: Style): string {
  if (isCimdError(error)) {
    return `${style('red', error.code)}${error.rule ? ` (${error.rule})` : ''}: ${sanitize(error.message)}`;
  }
  if (error instanceof OperatorCommitError) return `${style('red', error.code)}: ${sanitize(error.message)}`;
  return style('red', sanitize(messageOf(error)));
}

export type { Io };
