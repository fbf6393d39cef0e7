/**
 * The three client factories (single Redis, Redis Cluster, Sentinel), each wrapped so that the adapter
 * sees an open client and a command fails fast while disconnected (see redis.ts).
 */
import Keyv from 'keyv';
import {
  clusterHandle,
  handles,
  type NodeRedisClient,
  type NodeRedisCluster,
  type NodeRedisSentinel,
  type StoreLimit,
  sentinelHandle,
  standaloneHandle,
} from './handle.js';
import { keyPrefixFor } from './keys.js';
import {
  parseRedisUrl,
  parseSentinels,
  type RedisCacheOptions,
  type RedisModule,
  reconnectDelay,
  redact,
  type Settings,
} from './redis-options.js';
import { waitAtMost } from './topology.js';

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

export async function createStandaloneCache(
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

export async function createClusterCache(
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

export async function createSentinelCache(
  redis: RedisModule,
  options: RedisCacheOptions,
  settings: Settings,
): Promise<Keyv> {
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
