/**
 * A Redis-backed shared tier that behaves when Redis does not, on a single Redis, a Redis Cluster or a
 * Sentinel-managed primary.
 *
 * Why not `new Keyv(new KeyvRedis(url))`? Two pitfalls of `@keyv/redis` with a client it creates itself from a
 * URL (both proved in `test/cache/redis-outage.test.ts`):
 * - the client queues commands while it is disconnected (node-redis' offline queue) and reconnects forever, so a
 *   `get()` made while Redis is down hangs until Redis comes back;
 * - the adapter swallows command errors by default, so `set()` reports `true` for a write that never happened.
 *
 * So we create the node-redis clients ourselves (node-redis' own `createClient`, `createCluster` and
 * `createSentinel`, as re-exported by `@keyv/redis`): offline queue disabled (a command made while disconnected
 * fails at once), a reconnect strategy with capped exponential back-off that never gives up (the tier recovers on
 * its own), a connect timeout, a per-command timeout, and `error` listeners so that connection errors never
 * reach the process as an unhandled 'error' event. The adapter and Keyv are told to throw, so the plugin sees a
 * failure as a failure (a miss, or `false` for a write) instead of a fake success.
 *
 * The topology comes from the server unless the caller says: one short probe connection asks `INFO cluster`,
 * and a node with `cluster_enabled:1` is used through the cluster client, seeded with every node the cluster
 * reports (so that any node's URL works as the seed, and losing the seed node later loses nothing).
 *
 * The plugin's own commands (fetch lock, shared budget, invalidation) go through a `RedisHandle`, which routes
 * each one by its key on a cluster and publishes invalidations on a sharded channel (SPUBLISH/SSUBSCRIBE, Redis
 * 7) there, falling back to classic pub/sub on servers without sharded pub/sub.
 *
 * `@keyv/redis` is a dependency of the plugin (the versions of keyv and @keyv/redis it needs travel with it, so
 * a deployment's own keyv major cannot conflict); it is loaded with a dynamic `import()` only when this helper
 * is called, so deployments using the in-memory default never load it.
 */
import Keyv from 'keyv';
import { checkNamespace, type KeyLayout, keyLayout, keyPrefixFor } from './keys.js';

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

const OPTION_NAMES = new Set<string>([
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

/** A guarantee of a single Redis that does not hold on a given store, and why. */
export interface StoreLimit {
  /** Which guarantee: one fetch across instances, invalidation of other instances, or the shared host budget. */
  guarantee: 'fetch_lock' | 'invalidation' | 'shared_budget' | 'topology' | 'commit';
  message: string;
}

export interface Subscription {
  close(): void;
}

/**
 * What the plugin needs from Redis beyond Keyv's get/set/delete, the same on every topology. Every method
 * fails fast (rejects) when the connection is down; none queues work for later.
 */
export interface RedisHandle {
  readonly topology: RedisTopology;
  /** The plugin's key layout under this store's namespace. */
  readonly keys: KeyLayout;
  /** Prefix for the plugin's own keys: `<namespace>::` or ``. Same as `keys.prefix`. */
  readonly keyPrefix: string;
  /** Whether commands can be sent now (connected, and on a cluster: topology known). */
  readonly isReady: boolean;
  /**
   * One command, sent to the node that serves `key` (on a cluster, the master of its hash slot; through
   * sentinels, the current primary). Every key the command touches must share `key`'s hash slot.
   */
  send(key: string, args: string[], timeoutMs: number): Promise<unknown>;
  /** Publishes on a channel: SPUBLISH on a cluster with sharded pub/sub, PUBLISH otherwise. */
  publish(channel: string, message: string, timeoutMs: number): Promise<unknown>;
  /**
   * Subscribes on a dedicated connection (SSUBSCRIBE on a cluster with sharded pub/sub), and subscribes again
   * after an outage, a failover or a slot migration.
   */
  subscribe(channel: string, listener: (message: string) => void): Subscription;
  /** Guarantees that cannot hold on this store (empty when all hold). */
  readonly limits: readonly StoreLimit[];
}

const handles = new WeakMap<Keyv, RedisHandle>();

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

function parseRedisUrl(url: string, what: string): URL {
  const parsed = URL.parse(url);
  if (!parsed || (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') || !parsed.hostname) {
    // Never the value itself: it may hold a password.
    const scheme = parsed ? ` (the value given starts with ${parsed.protocol}//)` : ' (the value given is not a URL)';
    throw new TypeError(`${what} must be a redis:// or rediss:// URL with a host${scheme}`);
  }
  return parsed;
}

function redact(url: string): string {
  const parsed = URL.parse(url);
  if (!parsed?.password) return url;
  parsed.password = '***';
  return parsed.href;
}

function parseSentinels(value: string | readonly string[], what: string): { host: string; port: number }[] {
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

// ---------------------------------------------------------------------------------------------------------------
// createRedisCache

type RedisModule = typeof import('@keyv/redis');

/**
 * Creates the shared tier on Redis: `cache: await createRedisCache(process.env.REDIS_URL)`, or with options
 * (`createRedisCache({ url, cluster: true })`, `createRedisCache({ sentinels: 'h1:26379,h2:26379',
 * sentinelName: 'mymaster' })`, `createRedisCache(redisOptionsFromEnv())`). Never throws for an unreachable
 * Redis (the cache then reads as empty until Redis answers); throws only when `@keyv/redis` is not installed or
 * the options are wrong (malformed URL, unknown option, ...). Release it with `await keyv.disconnect()`.
 */
export async function createRedisCache(url: string, options?: RedisCacheOptions): Promise<Keyv>;
export async function createRedisCache(options: RedisCacheOptions): Promise<Keyv>;
export async function createRedisCache(
  target: string | RedisCacheOptions,
  maybeOptions?: RedisCacheOptions,
): Promise<Keyv> {
  const options = validateOptions(target, maybeOptions);
  let redis: RedisModule;
  try {
    redis = await import('@keyv/redis');
  } catch (cause) {
    throw new Error(
      'oidc-provider-cimd: createRedisCache could not load @keyv/redis, a dependency of oidc-provider-cimd (reinstall oidc-provider-cimd)',
      { cause },
    );
  }
  const settings = resolveSettings(options);
  if (options.sentinels !== undefined) return createSentinelCache(redis, options, settings);
  const url = options.url!;
  let cluster = options.cluster;
  let seeds: string[] = [];
  const limits: StoreLimit[] = [];
  if (cluster !== false) {
    const probe = await probeTopology(redis, url, settings);
    if (probe) {
      if (cluster === true && !probe.cluster) {
        throw new Error(
          `oidc-provider-cimd: cluster: true, but ${redact(url)} is not a Redis Cluster node (INFO cluster says cluster_enabled:0)`,
        );
      }
      cluster = probe.cluster;
      seeds = probe.nodes;
    } else if (cluster === undefined) {
      cluster = false;
      settings.verifyStandalone = true;
      limits.push({
        guarantee: 'topology',
        message: `Redis at ${redact(url)} did not answer at startup, so it is assumed to be a single Redis (not a cluster); set cluster: true (REDIS_CLUSTER=true) when it is a Redis Cluster`,
      });
    }
  }
  return cluster
    ? createClusterCache(redis, url, seeds, options, settings, limits)
    : createStandaloneCache(redis, url, options, settings, limits);
}

function validateOptions(target: string | RedisCacheOptions, maybeOptions: RedisCacheOptions | undefined) {
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

interface Settings {
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

function resolveSettings(options: RedisCacheOptions): Settings {
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

/** Waits for `promise` at most `ms`, without leaving a timer behind. */
async function waitAtMost(promise: Promise<unknown>, ms: number): Promise<void> {
  if (ms <= 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise,
    new Promise((resolve) => {
      timer = setTimeout(resolve, ms);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}

/**
 * One short-lived connection that asks the server what it is. `undefined` when it cannot be reached within one
 * connection attempt. On a cluster node, also the address of every node the cluster reports.
 */
async function probeTopology(
  redis: RedisModule,
  url: string,
  settings: Settings,
): Promise<{ cluster: boolean; nodes: string[] } | undefined> {
  const socket = settings.client.socket as Record<string, unknown>;
  const client = redis.createClient({
    ...settings.client,
    url,
    socket: { ...socket, reconnectStrategy: false },
    commandOptions: { timeout: settings.connectTimeout },
  } as Parameters<RedisModule['createClient']>[0]);
  client.on('error', () => {});
  try {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      // One connection attempt's worth: a stalled server (accepting, never answering) costs no more than that.
      timer = setTimeout(() => reject(new Error('probe timed out')), settings.connectTimeout);
      timer.unref();
    });
    try {
      return await Promise.race([
        (async () => {
          await client.connect();
          const info = String(await client.sendCommand(['INFO', 'cluster']));
          if (!/^cluster_enabled:1\s*$/m.test(info)) return { cluster: false, nodes: [] };
          const nodes = String(await client.sendCommand(['CLUSTER', 'NODES']))
            .split('\n')
            .map((line) => line.split(' ')[1]?.split('@')[0])
            .filter((address): address is string => typeof address === 'string' && /:\d+$/.test(address));
          return { cluster: true, nodes };
        })(),
        deadline,
      ]);
    } finally {
      clearTimeout(timer);
    }
  } catch {
    return undefined;
  } finally {
    try {
      client.destroy();
    } catch {}
  }
}

function storeFor(redis: RedisModule, client: unknown, options: RedisCacheOptions, settings: Settings): Keyv {
  const store = new redis.default(client as never, {
    ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
    // A failed command is an exception (a miss or a failed write for the plugin), never a silent no-op.
    throwOnErrors: true,
    throwOnConnectError: true,
    connectionTimeout: settings.connectTimeout,
  });
  const keyv = new Keyv({
    store,
    ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
    useKeyPrefix: false,
    throwOnErrors: true,
  });
  if (options.namespace === undefined) keyv.namespace = undefined;
  keyv.on('error', settings.report);
  return keyv;
}

async function createStandaloneCache(
  redis: RedisModule,
  url: string,
  options: RedisCacheOptions,
  settings: Settings,
  limits: StoreLimit[],
): Promise<Keyv> {
  const client = redis.createClient({
    ...settings.client,
    url,
    commandOptions: {
      ...((settings.client.commandOptions ?? {}) as Record<string, unknown>),
      timeout: settings.commandTimeout,
    },
  } as Parameters<RedisModule['createClient']>[0]);
  // Without a listener, an 'error' event (ECONNREFUSED on every reconnect attempt) would crash the process.
  client.on('error', settings.report);
  client.on('ready', settings.up);
  if (settings.verifyStandalone) {
    // The topology could not be asked at startup: ask on the first connection, and say so if it is a cluster
    // node (its keys of other slots answer MOVED: those reads are misses, and each process fetches for itself).
    client.once('ready', () => {
      client
        .sendCommand(['INFO', 'cluster'])
        .then((info) => {
          if (/^cluster_enabled:1\s*$/m.test(String(info))) {
            settings.report(
              new Error(
                `oidc-provider-cimd: ${redact(url)} is a Redis Cluster node, but it could not be reached at startup and is used as a single Redis; restart with cluster: true (REDIS_CLUSTER=true)`,
              ),
            );
          }
        })
        .catch(() => {});
    });
  }

  // Connect now, in the background: `isOpen` becomes true at once, so KeyvRedis never calls connect() itself
  // (that is where the URL-string variant hangs), and the reconnect strategy keeps retrying until Redis answers.
  const connected = client.connect().then(
    () => true,
    () => false,
  );
  await waitAtMost(connected, settings.wait);
  const keyv = storeFor(redis, client, options, settings);
  handles.set(keyv, standaloneHandle(client as unknown as NodeRedisClient, keyPrefixFor(options.namespace), limits));
  return keyv;
}

/**
 * A stand-in for a cluster or sentinel client, handed to KeyvRedis: it reads as open from the start, so the
 * adapter never calls `connect()` per request while the first connection is still being retried here in the
 * background (the cluster and sentinel clients, unlike the single-node one, give up on a failed first connect).
 * Commands made meanwhile fail at once: a miss for the plugin. Closing it also stops the retries.
 */
// What KeyvRedis may call on a client that has not connected yet without it being a command.
const LISTENER_METHODS = new Set<PropertyKey>(['on', 'once', 'off', 'removeListener', 'addListener', 'emit']);

function alwaysOpen<T extends object>(target: T, connection: { closed: boolean; up?: boolean }): T {
  const bound = new Map<PropertyKey, unknown>();
  // Before the first connection, a command fails at once: the clients would otherwise hold it until their own
  // connection attempt gives up (seconds, for the sentinel client).
  const notYet = () => Promise.reject(new Error('redis: not connected yet'));
  // Every way of closing destroys: a graceful close waits for each node to answer QUIT, and a dead node never
  // does (node-redis says as much about its own cluster code), so `keyv.disconnect()` would hang after a crash.
  const stop = () => () => {
    connection.closed = true;
    const destroy = (target as { destroy?: () => unknown }).destroy;
    if (typeof destroy !== 'function' || !(target as { isOpen?: boolean }).isOpen) return Promise.resolve();
    try {
      return Promise.resolve(destroy.call(target)).catch(() => {});
    } catch {
      return Promise.resolve();
    }
  };
  return new Proxy(target, {
    get(object, property) {
      if (property === 'isOpen') return !connection.closed;
      if (property === 'connect') return () => Promise.resolve(object);
      if (property === 'close' || property === 'destroy' || property === 'disconnect' || property === 'quit') {
        return stop();
      }
      const value = Reflect.get(object, property, object);
      if (typeof value !== 'function') return value;
      if (!connection.up && !LISTENER_METHODS.has(property)) return notYet;
      let fn = bound.get(property);
      if (!fn) {
        fn = (value as (...args: unknown[]) => unknown).bind(object);
        bound.set(property, fn);
      }
      return fn;
    },
  });
}

/** Retries a first connection with back-off until it succeeds or the store is closed. */
async function connectUntilUp(
  connect: () => Promise<unknown>,
  reset: () => Promise<unknown>,
  connection: { closed: boolean },
  settings: Settings,
): Promise<boolean> {
  for (let attempt = 0; !connection.closed; attempt++) {
    try {
      await connect();
      return true;
    } catch (error) {
      settings.report(error);
      await reset().catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, reconnectDelay(attempt, settings.maxDelay)).unref());
    }
  }
  return false;
}

function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(address.slice(at + 1)) };
}

async function createClusterCache(
  redis: RedisModule,
  url: string,
  seeds: string[],
  options: RedisCacheOptions,
  settings: Settings,
  limits: StoreLimit[],
): Promise<Keyv> {
  const parsed = parseRedisUrl(url, 'the Redis URL');
  // Every node gets the seed's credentials and TLS setting; `url` itself only seeds the discovery.
  const defaults: Record<string, unknown> = { ...settings.client };
  if (parsed.username) defaults.username = decodeURIComponent(parsed.username);
  if (parsed.password) defaults.password = decodeURIComponent(parsed.password);
  if (parsed.protocol === 'rediss:') {
    defaults.socket = { ...(defaults.socket as Record<string, unknown>), tls: true };
  }
  const seedAddress = `${parsed.hostname.replace(/^\[|\]$/g, '')}:${parsed.port || 6379}`;
  const rootNodes = [
    { url },
    ...seeds.filter((address) => address !== seedAddress).map((address) => ({ socket: splitAddress(address) })),
  ];
  const cluster = redis.createCluster({
    rootNodes,
    defaults,
    commandOptions: { timeout: settings.commandTimeout },
  } as unknown as Parameters<RedisModule['createCluster']>[0]);
  cluster.on('error', settings.report);
  cluster.on('node-error', settings.report);
  cluster.on('node-ready', settings.up);
  const connection = { closed: false, up: false };
  const connected = connectUntilUp(
    async () => {
      await cluster.connect();
      connection.up = true;
    },
    async () => {},
    connection,
    settings,
  );
  await waitAtMost(connected, settings.wait);
  const keyv = storeFor(redis, alwaysOpen(cluster, connection), options, settings);
  handles.set(
    keyv,
    clusterHandle(cluster as unknown as NodeRedisCluster, keyPrefixFor(options.namespace), limits, connection),
  );
  return keyv;
}

async function createSentinelCache(redis: RedisModule, options: RedisCacheOptions, settings: Settings): Promise<Keyv> {
  const sentinelClient = (options.sentinelClientOptions ?? {}) as Record<string, unknown>;
  const sentinel = redis.createSentinel({
    name: options.sentinelName!,
    sentinelRootNodes: parseSentinels(options.sentinels!, 'sentinels'),
    nodeClientOptions: settings.client,
    sentinelClientOptions: {
      ...sentinelClient,
      socket: {
        ...((sentinelClient.socket ?? {}) as Record<string, unknown>),
        connectTimeout: settings.connectTimeout,
        reconnectStrategy: (retries: number) => reconnectDelay(retries, settings.maxDelay),
      },
    },
    commandOptions: { timeout: settings.commandTimeout },
    // No retry loop inside node-redis: a first connection that fails is retried here with back-off (its own loop
    // would wait a second per attempt and print each error on stdout), and a command that meets a failover
    // (READONLY) fails at once, a miss for the plugin, while the sentinels' switch-master message moves the
    // client to the new primary.
    maxCommandRediscovers: 0,
    // One connection to the primary reserved for this client: without it, concurrent commands each wait for a
    // lease from the pool (one connection by default) and run one round trip after another, so a burst of
    // lookups overruns the shared-store deadline.
    reserveClient: true,
  } as unknown as Parameters<RedisModule['createSentinel']>[0]);
  sentinel.on('error', settings.report);
  const connection = { closed: false, up: false };
  const connected = connectUntilUp(
    async () => {
      await sentinel.connect();
      connection.up = true;
    },
    () => sentinel.destroy(),
    connection,
    settings,
  );
  await waitAtMost(connected, settings.wait);
  const keyv = storeFor(redis, alwaysOpen(sentinel, connection), options, settings);
  handles.set(
    keyv,
    sentinelHandle(sentinel as unknown as NodeRedisSentinel, keyPrefixFor(options.namespace), [], connected),
  );
  return keyv;
}

// ---------------------------------------------------------------------------------------------------------------
// Handles: the three node-redis client kinds behind one interface

/** The subset of a node-redis v5 single-node client used here. */
interface NodeRedisClient {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  sendCommand(args: string[], options?: { timeout?: number }): Promise<unknown>;
  duplicate(): NodeRedisClient;
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  destroy(): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

interface ClusterNode {
  address: string;
  client?: { isReady: boolean; options?: unknown };
  pubSub?: unknown;
}

/** The subset of a node-redis v5 cluster client used here. */
interface NodeRedisCluster {
  readonly isOpen: boolean;
  readonly masters: ClusterNode[];
  readonly slots: ({ master: ClusterNode } | undefined)[];
  readonly _options?: { rootNodes?: unknown[] };
  readonly _slots?: { rediscover?: (startWith: { options?: unknown }) => Promise<void> };
  sendCommand(firstKey: string, isReadonly: boolean, args: string[], options?: { timeout?: number }): Promise<unknown>;
  publish(channel: string, message: string): Promise<unknown>;
  sSubscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  sUnsubscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  unsubscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** The subset of a node-redis v5 sentinel client used here. */
interface NodeRedisSentinel {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  sendCommand(isReadonly: boolean, args: string[], options?: { timeout?: number }): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  unsubscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
}

const notReady = () => Promise.reject(new Error('redis not ready'));

function standaloneHandle(client: NodeRedisClient, prefix: string, limits: StoreLimit[] = []): RedisHandle {
  return {
    topology: 'standalone',
    keys: keyLayout(prefix),
    keyPrefix: prefix,
    get isReady() {
      return client.isReady;
    },
    // Not connected: fail without a round trip (and without relying on the client's offline queue being
    // disabled, for clients the deployment created itself).
    send: (_key, args, timeout) => (client.isReady ? client.sendCommand(args, { timeout }) : notReady()),
    publish: (channel, message, timeout) =>
      client.isReady ? client.sendCommand(['PUBLISH', channel, message], { timeout }) : notReady(),
    subscribe(channel, listener) {
      // A duplicate of the store's client (same reconnect and offline-queue settings) that resubscribes by
      // itself after an outage.
      let closed = false;
      let subscriber: NodeRedisClient | undefined;
      const destroy = (sub: NodeRedisClient) => {
        try {
          sub.destroy();
        } catch {}
      };
      try {
        const sub = client.duplicate();
        subscriber = sub;
        sub.on('error', () => {});
        sub
          .connect()
          .then(() => {
            // close() during the handshake cannot stop it; drop the connection as soon as it exists.
            if (closed) {
              destroy(sub);
              return;
            }
            return sub.subscribe(channel, listener);
          })
          .catch(() => {});
      } catch {
        subscriber = undefined;
      }
      return {
        close() {
          closed = true;
          if (subscriber?.isOpen) destroy(subscriber);
          subscriber = undefined;
        },
      };
    },
    limits,
  };
}

const UNKNOWN_COMMAND = /unknown command|ERR unknown/i;

function clusterHandle(
  cluster: NodeRedisCluster,
  prefix: string,
  limits: StoreLimit[] = [],
  connection: { closed: boolean } = { closed: false },
): RedisHandle {
  // Sharded pub/sub (Redis 7) keeps invalidations on the shard that owns the channel's slot instead of
  // broadcasting them over the whole cluster bus; older servers answer "unknown command" and get classic pub/sub.
  let sharded = true;
  const topologyKnown = () => cluster.isOpen && cluster.masters.length > 0;

  // Failover: node-redis follows MOVED replies, but when a master dies its slots answer nothing at all (the
  // node's client reconnects to the dead address for ever), so nothing would tell it about the promoted
  // replica. While any node reports connection errors, ask the cluster for its topology again, at most once a
  // second, starting from a node that still answers.
  let rediscovering = false;
  let lastRediscover = 0;
  const rediscover = () => {
    const slots = cluster._slots;
    if (connection.closed || rediscovering || typeof slots?.rediscover !== 'function' || !topologyKnown()) return;
    const now = performance.now();
    if (now - lastRediscover < 1000) return;
    lastRediscover = now;
    rediscovering = true;
    const live = cluster.masters.find((node) => node.client?.isReady)?.client;
    const start = live ?? { options: cluster._options?.rootNodes?.[0] };
    slots
      .rediscover(start as { options?: unknown })
      .catch(() => {})
      .finally(() => {
        rediscovering = false;
      });
  };
  cluster.on('node-error', rediscover);
  cluster.on('node-reconnecting', rediscover);

  return {
    topology: 'cluster',
    keys: keyLayout(prefix),
    keyPrefix: prefix,
    get isReady() {
      return topologyKnown();
    },
    send(key, args, timeout) {
      if (!topologyKnown()) return notReady();
      const sent = cluster.sendCommand(key, false, args, { timeout });
      sent.catch(rediscover);
      return sent;
    },
    async publish(channel, message, timeout) {
      if (!topologyKnown()) return notReady();
      if (sharded) {
        try {
          return await cluster.sendCommand(channel, false, ['SPUBLISH', channel, message], { timeout });
        } catch (error) {
          if (!UNKNOWN_COMMAND.test(String((error as Error)?.message))) {
            rediscover();
            throw error;
          }
          sharded = false;
        }
      }
      return cluster.publish(channel, message);
    },
    subscribe(channel, listener) {
      // node-redis moves a sharded subscription when a slot migrates, but drops it with the connection of a
      // master that is replaced after a failover. A cheap local check each second (no Redis command) notices that
      // the master owning the channel has no subscription connection, and subscribes again there.
      let closed = false;
      let classic = false;
      let pending = false;
      const ensure = () => {
        if (closed || pending || connection.closed || !topologyKnown()) return;
        if (classic) return;
        const slotOwner = cluster.slots[slotOf(channel)]?.master;
        if (!slotOwner || slotOwner.pubSub) return;
        pending = true;
        const subscribed = sharded ? cluster.sSubscribe(channel, listener) : cluster.subscribe(channel, listener);
        subscribed
          .then(() => {
            if (!sharded) classic = true;
          })
          .catch((error: unknown) => {
            if (sharded && UNKNOWN_COMMAND.test(String((error as Error)?.message))) {
              sharded = false;
              classic = true;
              cluster.subscribe(channel, listener).catch(() => {
                classic = false;
              });
            }
          })
          .finally(() => {
            pending = false;
          });
      };
      const timer = setInterval(ensure, 1000);
      timer.unref();
      ensure();
      return {
        close() {
          closed = true;
          clearInterval(timer);
          if (connection.closed || !cluster.isOpen) return;
          (classic ? cluster.unsubscribe(channel, listener) : cluster.sUnsubscribe(channel, listener)).catch(() => {});
        },
      };
    },
    limits,
  };
}

function sentinelHandle(
  sentinel: NodeRedisSentinel,
  prefix: string,
  limits: StoreLimit[] = [],
  connected: Promise<boolean> = Promise.resolve(true),
): RedisHandle {
  return {
    topology: 'sentinel',
    keys: keyLayout(prefix),
    keyPrefix: prefix,
    get isReady() {
      return sentinel.isReady;
    },
    send: (_key, args, timeout) => (sentinel.isReady ? sentinel.sendCommand(false, args, { timeout }) : notReady()),
    publish: (channel, message, timeout) =>
      sentinel.isReady ? sentinel.sendCommand(false, ['PUBLISH', channel, message], { timeout }) : notReady(),
    subscribe(channel, listener) {
      // The sentinel client's pub/sub connection follows the primary across failovers by itself.
      let closed = false;
      let subscribed = false;
      connected
        .then(async (up) => {
          if (!up || closed) return;
          await sentinel.subscribe(channel, listener);
          subscribed = true;
          if (closed) await sentinel.unsubscribe(channel, listener);
        })
        .catch(() => {});
      return {
        close() {
          closed = true;
          if (subscribed && sentinel.isOpen) sentinel.unsubscribe(channel, listener).catch(() => {});
        },
      };
    },
    limits,
  };
}

// CRC16 (XMODEM) of the hash-tagged part of a key: the Redis Cluster slot (Redis Cluster specification, "Key
// distribution model"). Used only to find which master owns the invalidation channel.
const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

export function slotOf(key: string): number {
  let hashed = key;
  const open = key.indexOf('{');
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) hashed = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(hashed)) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ byte) & 0xff]!;
  return crc % 16_384;
}

// ---------------------------------------------------------------------------------------------------------------
// From a Keyv to its handle

function looksLikeRedisClient(value: unknown): value is NodeRedisClient {
  if (value === null || typeof value !== 'object') return false;
  const candidate = value as Partial<NodeRedisClient>;
  return (
    typeof candidate.sendCommand === 'function' &&
    typeof candidate.duplicate === 'function' &&
    typeof candidate.isReady === 'boolean' &&
    typeof candidate.isOpen === 'boolean'
  );
}

/**
 * Which Redis deployment a cache from `createRedisCache` (or a hand-made `KeyvRedis`) talks to, and the
 * guarantees that do not hold on it. `undefined` for a store that is not Redis.
 */
export function describeRedisCache(keyv: Keyv): { topology: RedisTopology; limits: StoreLimit[] } | undefined {
  const handle = redisHandleOf(keyv);
  return handle ? { topology: handle.topology, limits: [...handle.limits] } : undefined;
}

/**
 * The Redis behind a Keyv, for the fetch lock, the shared budget and invalidation: the one created by
 * `createRedisCache`, or the client (single node, cluster or sentinel) of a `KeyvRedis` store the deployment
 * built itself. `undefined` for any other store.
 */
export function redisHandleOf(keyv: Keyv): RedisHandle | undefined {
  const known = handles.get(keyv);
  if (known) return known;
  const store = (keyv as unknown as { store?: unknown }).store as
    | {
        client?: unknown;
        namespace?: unknown;
        keyPrefixSeparator?: unknown;
        isCluster?: () => boolean;
        isSentinel?: () => boolean;
      }
    | undefined;
  if (!store || typeof store !== 'object' || typeof store.isCluster !== 'function') return undefined;
  const separator = typeof store.keyPrefixSeparator === 'string' ? store.keyPrefixSeparator : '::';
  const namespace = typeof store.namespace === 'string' && store.namespace ? store.namespace : undefined;
  const prefix = namespace ? `${namespace}${separator}` : '';
  const limits: StoreLimit[] = [];
  if (namespace && checkNamespace(namespace)) {
    limits.push({ guarantee: 'topology', message: `oidc-provider-cimd: ${checkNamespace(namespace)}` });
  }
  let handle: RedisHandle | undefined;
  if (store.isCluster()) handle = clusterHandle(store.client as NodeRedisCluster, prefix, limits);
  else if (typeof store.isSentinel === 'function' && store.isSentinel()) {
    handle = sentinelHandle(store.client as NodeRedisSentinel, prefix, limits);
  } else if (looksLikeRedisClient(store.client)) handle = standaloneHandle(store.client, prefix, limits);
  if (handle) handles.set(keyv, handle);
  return handle;
}
