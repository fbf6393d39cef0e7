/**
 * The shared tier's options: their types, the names `createRedisCache` accepts, reading them from the
 * environment, and the resilience settings every connection gets (see redis.ts for why).
 */
import { checkNamespace } from './keys.js';

export type RedisTopology = 'standalone' | 'cluster' | 'sentinel';

export interface RedisCacheOptions {
  /**
   * `redis://` or `rediss://` URL of the Redis, or of any node of a Redis Cluster (used as the seed). Given as
   * the first argument of `createRedisCache`, or here. Not used with `sentinels`.
   */
  url?: string;
  /**
   * `true`: the URL is a Redis Cluster node; `false`: a single Redis. Default: asked from the server
   * (`INFO cluster`) with one probe connection (at most `connectTimeoutMs`, before `createRedisCache` returns);
   * when the server cannot be reached at startup, a single Redis is assumed (a startup warning says so), and
   * `onError` hears about it if the server turns out to be a cluster node.
   */
  cluster?: boolean;
  /** Sentinel addresses, `host:port` each: an array, or one comma-separated string. Needs `sentinelName`. */
  sentinels?: string | readonly string[];
  /** The name of the primary the sentinels monitor (`sentinel monitor <name> ...`). */
  sentinelName?: string;
  /**
   * Key namespace. Every key the plugin writes (documents, fetch locks, lock outcomes) is prefixed with
   * `<namespace>::`. Instances sharing a cache must use the same namespace. Default: none (keys start `cimd:`).
   * It may not contain `{` or `}` (Redis Cluster hash tags).
   */
  namespace?: string;
  /** Timeout of one connection attempt (TCP + TLS + handshake), ms. Default 1000. */
  connectTimeoutMs?: number;
  /**
   * Safety net for every Redis command, ms: a command not answered in time is rejected and removed from the
   * client's queue. The plugin applies its own, shorter deadline (`sharedCacheTimeoutMs`) on top. Default 1000.
   */
  commandTimeoutMs?: number;
  /** Upper bound of the reconnect back-off, ms (attempts start at 50 ms and double). Default 2000. */
  maxReconnectDelayMs?: number;
  /**
   * How long `createRedisCache` waits for the first connection before returning anyway, ms. The returned cache
   * works either way (a miss while Redis is unreachable). Default: `connectTimeoutMs`.
   */
  initialConnectWaitMs?: number;
  /** Receives connection and command errors. They are never thrown and never logged by the plugin. */
  onError?: (error: Error) => void;
  /**
   * Further node-redis client options (`username`, `password`, `database`, `socket.tls`, ...), applied to every
   * connection (each cluster node; each data node behind sentinels). The resilience settings above take
   * precedence over the same settings given here.
   */
  clientOptions?: Record<string, unknown>;
  /** node-redis client options for the connections to the sentinels themselves (`password`, `socket.tls`, ...). */
  sentinelClientOptions?: Record<string, unknown>;
}

export const OPTION_NAMES = new Set<string>([
  'url',
  'cluster',
  'sentinels',
  'sentinelName',
  'namespace',
  'connectTimeoutMs',
  'commandTimeoutMs',
  'maxReconnectDelayMs',
  'initialConnectWaitMs',
  'onError',
  'clientOptions',
  'sentinelClientOptions',
]);

/** Capped exponential back-off with a little jitter, never giving up: the shared tier must recover on its own. */
export function reconnectDelay(retries: number, maxDelayMs: number): number {
  const base = Math.min(maxDelayMs, 50 * 2 ** Math.min(retries, 16));
  return Math.max(0, Math.round(base - Math.random() * Math.min(50, base / 4)));
}

// ---------------------------------------------------------------------------------------------------------------
// Configuration from the environment

/**
 * The connection settings of the deployment's environment, the same for every program that connects to the
 * shared store (servers, the example, the command line):
 * - `REDIS_URL`: a single Redis, or any node of a cluster;
 * - `REDIS_CLUSTER`: `true` / `false` to say instead of asking the server;
 * - `REDIS_SENTINELS` (`host:port,host:port`) and `REDIS_SENTINEL_NAME`: a Sentinel-managed primary.
 * `undefined` when none is set (no shared store). Throws a TypeError naming the variable for a bad value.
 */
export function redisOptionsFromEnv(
  env: Record<string, string | undefined> = process.env,
): Pick<RedisCacheOptions, 'url' | 'cluster' | 'sentinels' | 'sentinelName'> | undefined {
  const read = (name: string) => {
    const value = env[name]?.trim();
    return value ? value : undefined;
  };
  const url = read('REDIS_URL');
  const cluster = read('REDIS_CLUSTER');
  const sentinels = read('REDIS_SENTINELS');
  const sentinelName = read('REDIS_SENTINEL_NAME');
  let clusterFlag: boolean | undefined;
  if (cluster !== undefined) {
    if (!/^(true|false|1|0|yes|no)$/i.test(cluster)) {
      throw new TypeError(`REDIS_CLUSTER must be true or false, got ${JSON.stringify(cluster)}`);
    }
    clusterFlag = /^(true|1|yes)$/i.test(cluster);
  }
  if (sentinels !== undefined || sentinelName !== undefined) {
    if (sentinels === undefined) throw new TypeError('REDIS_SENTINEL_NAME is set but REDIS_SENTINELS is not');
    if (sentinelName === undefined) throw new TypeError('REDIS_SENTINELS is set but REDIS_SENTINEL_NAME is not');
    if (url !== undefined) {
      throw new TypeError(
        'REDIS_URL and REDIS_SENTINELS are both set: use REDIS_SENTINELS (with REDIS_SENTINEL_NAME) for Sentinel, REDIS_URL otherwise',
      );
    }
    if (clusterFlag) throw new TypeError('REDIS_CLUSTER=true cannot be combined with REDIS_SENTINELS');
    parseSentinels(sentinels, 'REDIS_SENTINELS');
    return { sentinels, sentinelName };
  }
  if (url === undefined) {
    if (clusterFlag !== undefined) throw new TypeError('REDIS_CLUSTER is set but REDIS_URL is not');
    return undefined;
  }
  parseRedisUrl(url, 'REDIS_URL');
  return { url, ...(clusterFlag !== undefined ? { cluster: clusterFlag } : {}) };
}

export function parseRedisUrl(url: string, what: string): URL {
  const parsed = URL.parse(url);
  if (!parsed || (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') || !parsed.hostname) {
    // Never the value itself: it may hold a password.
    const scheme = parsed ? ` (the value given starts with ${parsed.protocol}//)` : ' (the value given is not a URL)';
    throw new TypeError(`${what} must be a redis:// or rediss:// URL with a host${scheme}`);
  }
  return parsed;
}

export function redact(url: string): string {
  const parsed = URL.parse(url);
  if (!parsed?.password) return url;
  parsed.password = '***';
  return parsed.href;
}

export function parseSentinels(value: string | readonly string[], what: string): { host: string; port: number }[] {
  const list = typeof value === 'string' ? value.split(',') : [...value];
  const nodes = list
    .map((entry) => (typeof entry === 'string' ? entry.trim() : entry))
    .filter((entry) => entry !== '')
    .map((entry) => {
      const match = typeof entry === 'string' ? /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/.exec(entry) : null;
      const port = match ? Number(match[2]) : Number.NaN;
      if (!match || port < 1 || port > 65_535) {
        throw new TypeError(`${what}: ${JSON.stringify(entry)} is not host:port`);
      }
      return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
    });
  if (nodes.length === 0) throw new TypeError(`${what} names no sentinel`);
  return nodes;
}

export type RedisModule = typeof import('@keyv/redis');
export function validateOptions(target: string | RedisCacheOptions, maybeOptions: RedisCacheOptions | undefined) {
  let options: RedisCacheOptions;
  if (typeof target === 'string') {
    if (maybeOptions !== undefined && (maybeOptions === null || typeof maybeOptions !== 'object')) {
      throw new TypeError('oidc-provider-cimd: createRedisCache options must be an object');
    }
    if (maybeOptions?.url !== undefined) {
      throw new TypeError('oidc-provider-cimd: createRedisCache got a URL twice (argument and options.url)');
    }
    options = { ...maybeOptions, url: target };
  } else if (target !== null && typeof target === 'object') {
    if (maybeOptions !== undefined) {
      throw new TypeError('oidc-provider-cimd: createRedisCache takes (url, options) or (options), not both objects');
    }
    options = { ...target };
  } else {
    throw new TypeError('oidc-provider-cimd: createRedisCache needs a Redis URL or options');
  }
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.has(name)) {
      throw new TypeError(`oidc-provider-cimd: unknown createRedisCache option ${JSON.stringify(name)}`);
    }
  }
  for (const name of ['connectTimeoutMs', 'commandTimeoutMs', 'maxReconnectDelayMs', 'initialConnectWaitMs'] as const) {
    const value = options[name];
    if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value >= 0)) {
      throw new TypeError(`oidc-provider-cimd: createRedisCache ${name} must be a number of ms >= 0`);
    }
  }
  if (options.cluster !== undefined && typeof options.cluster !== 'boolean') {
    throw new TypeError('oidc-provider-cimd: createRedisCache cluster must be true or false');
  }
  if (options.namespace !== undefined) {
    if (typeof options.namespace !== 'string') {
      throw new TypeError('oidc-provider-cimd: createRedisCache namespace must be a string');
    }
    const problem = checkNamespace(options.namespace);
    if (problem) throw new TypeError(`oidc-provider-cimd: ${problem}`);
  }
  if (options.sentinels !== undefined || options.sentinelName !== undefined) {
    if (options.sentinels === undefined) throw new TypeError('oidc-provider-cimd: sentinelName needs sentinels');
    if (typeof options.sentinelName !== 'string' || options.sentinelName === '') {
      throw new TypeError('oidc-provider-cimd: sentinels need sentinelName (the name of the monitored primary)');
    }
    if (options.url !== undefined) {
      throw new TypeError('oidc-provider-cimd: give either a URL or sentinels, not both');
    }
    if (options.cluster === true)
      throw new TypeError('oidc-provider-cimd: cluster: true cannot be used with sentinels');
    parseSentinels(options.sentinels, 'oidc-provider-cimd: sentinels');
  } else {
    if (typeof options.url !== 'string') {
      throw new TypeError('oidc-provider-cimd: createRedisCache needs a Redis URL (or sentinels and sentinelName)');
    }
    parseRedisUrl(options.url, 'oidc-provider-cimd: the Redis URL');
  }
  return options;
}

export interface Settings {
  connectTimeout: number;
  commandTimeout: number;
  maxDelay: number;
  wait: number;
  report: (error: unknown) => void;
  /** The connection is ready (again): the next error is news. */
  up: () => void;
  /** Client options for every data connection, resilience settings applied. */
  client: Record<string, unknown>;
  /** Set when the topology could not be probed: check it once connected. */
  verifyStandalone?: boolean;
}

export function resolveSettings(options: RedisCacheOptions): Settings {
  const connectTimeout = options.connectTimeoutMs ?? 1000;
  const commandTimeout = options.commandTimeoutMs ?? 1000;
  const maxDelay = options.maxReconnectDelayMs ?? 2000;
  // The same error can arrive several ways (client, adapter, Keyv); report each one once. And an outage is
  // reported once, not once per reconnect attempt or per command (docs/caching.md: a reconnect loop
  // repeats the same ECONNREFUSED every few ms): the same text again is quiet until the client is ready again
  // (`up`), or for a minute at most.
  const reported = new WeakSet<object>();
  const quiet = new Map<string, number>();
  const report = (error: unknown): void => {
    const value = error instanceof Error ? error : new Error(String(error));
    if (reported.has(value)) return;
    reported.add(value);
    const text = `${value.name}: ${value.message}`;
    const now = performance.now();
    const until = quiet.get(text);
    if (until !== undefined && now < until) return;
    if (quiet.size > 100) quiet.clear();
    quiet.set(text, now + 60_000);
    try {
      options.onError?.(value);
    } catch {}
  };
  const up = (): void => {
    quiet.clear();
  };
  const extra = options.clientOptions ?? {};
  const extraSocket = (extra.socket ?? {}) as Record<string, unknown>;
  return {
    connectTimeout,
    commandTimeout,
    maxDelay,
    wait: options.initialConnectWaitMs ?? connectTimeout,
    report,
    up,
    client: {
      ...extra,
      disableOfflineQueue: true,
      // Only commands written to a live but silent server can pile up; the per-command timeout drains them.
      commandsQueueMaxLength: 10_000,
      socket: {
        ...extraSocket,
        connectTimeout,
        keepAlive: true,
        reconnectStrategy: (retries: number) => reconnectDelay(retries, maxDelay),
      },
    },
  };
}
