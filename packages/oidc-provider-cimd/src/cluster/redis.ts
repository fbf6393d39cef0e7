/**
 * A Redis-backed shared tier that behaves when Redis does not.
 *
 * Why not `new Keyv(new KeyvRedis(url))`? Two pitfalls of `@keyv/redis` with a client it creates itself from a
 * URL (both proved in `test/cache/redis-outage.test.ts`):
 * - the client queues commands while it is disconnected (node-redis' offline queue) and reconnects forever, so a
 *   `get()` made while Redis is down hangs until Redis comes back;
 * - the adapter swallows command errors by default, so `set()` reports `true` for a write that never happened.
 *
 * So we create the node-redis client ourselves: offline queue disabled (a command made while disconnected fails
 * at once), a reconnect strategy with capped exponential back-off that never gives up (the tier recovers on its
 * own), a connect timeout, a per-command timeout, a bounded command queue, and an `error` listener so that
 * connection errors never reach the process as an unhandled 'error' event. The adapter and Keyv are told to
 * throw, so the plugin sees a failure as a failure (a miss, or `false` for a write) instead of a fake success.
 *
 * `@keyv/redis` is an optional peer dependency: it is loaded with a dynamic `import()` only when this helper
 * is called, so deployments using the in-memory default never need it.
 */
import Keyv from 'keyv';

export interface RedisCacheOptions {
  /**
   * Key namespace. Every key the plugin writes (documents, fetch locks, lock outcomes) is prefixed with
   * `<namespace>::`. Instances sharing a cache must use the same namespace. Default: none (keys start `cimd:`).
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
   * Further node-redis client options (`username`, `password`, `database`, `socket.tls`, ...). The resilience
   * settings above take precedence over the same settings given here.
   */
  clientOptions?: Record<string, unknown>;
}

/** The subset of a node-redis v5 client the plugin uses for fetch locks and invalidation messages. */
export interface RedisCommander {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  sendCommand(args: string[], options?: { timeout?: number }): Promise<unknown>;
  duplicate(): RedisSubscriber;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** The subset of a duplicated node-redis v5 client used to receive invalidation messages. */
export interface RedisSubscriber {
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  destroy(): void;
  readonly isOpen: boolean;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

export interface RedisHandle {
  client: RedisCommander;
  /** Prefix for the plugin's own keys: `<namespace>::` or ``. */
  keyPrefix: string;
}

const handles = new WeakMap<Keyv, RedisHandle>();

/** Capped exponential back-off with a little jitter, never giving up: the shared tier must recover on its own. */
export function reconnectDelay(retries: number, maxDelayMs: number): number {
  const base = Math.min(maxDelayMs, 50 * 2 ** Math.min(retries, 16));
  return Math.max(0, Math.round(base - Math.random() * Math.min(50, base / 4)));
}

/**
 * Creates the shared tier on Redis: `cache: await createRedisCache(process.env.REDIS_URL)`. Never throws for
 * an unreachable Redis (the cache then reads as empty until Redis answers); throws only when `@keyv/redis`
 * is not installed or the URL is malformed. Release it with `await keyv.disconnect()`.
 */
export async function createRedisCache(url: string, options: RedisCacheOptions = {}): Promise<Keyv> {
  let redis: typeof import('@keyv/redis');
  try {
    redis = await import('@keyv/redis');
  } catch (cause) {
    throw new Error(
      'oidc-provider-cimd: createRedisCache needs the optional peer dependency @keyv/redis@5 (npm i @keyv/redis)',
      {
        cause,
      },
    );
  }
  const connectTimeout = options.connectTimeoutMs ?? 1000;
  const commandTimeout = options.commandTimeoutMs ?? 1000;
  const maxDelay = options.maxReconnectDelayMs ?? 2000;
  // The same error can arrive three ways (client, adapter, Keyv); report each one once.
  const reported = new WeakSet<object>();
  const report = (error: unknown): void => {
    const value = error instanceof Error ? error : new Error(String(error));
    if (reported.has(value)) return;
    reported.add(value);
    try {
      options.onError?.(value);
    } catch {}
  };
  const extra = options.clientOptions ?? {};
  const extraSocket = (extra.socket ?? {}) as Record<string, unknown>;
  const extraCommandOptions = (extra.commandOptions ?? {}) as Record<string, unknown>;

  const client = redis.createClient({
    ...extra,
    url,
    disableOfflineQueue: true,
    // Only commands written to a live but silent server can pile up; the per-command timeout drains them.
    commandsQueueMaxLength: 10_000,
    commandOptions: { ...extraCommandOptions, timeout: commandTimeout },
    socket: {
      ...extraSocket,
      connectTimeout,
      keepAlive: true,
      reconnectStrategy: (retries: number) => reconnectDelay(retries, maxDelay),
    },
  } as Parameters<typeof redis.createClient>[0]);
  // Without a listener, an 'error' event (ECONNREFUSED on every reconnect attempt) would crash the process.
  client.on('error', report);

  // Connect now, in the background: `isOpen` becomes true at once, so KeyvRedis never calls connect() itself
  // (that is where the URL-string variant hangs), and the reconnect strategy keeps retrying until Redis answers.
  const connected = client.connect().then(
    () => true,
    () => false,
  );
  const wait = options.initialConnectWaitMs ?? connectTimeout;
  if (wait > 0) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      connected,
      new Promise((resolve) => {
        timer = setTimeout(resolve, wait);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  const store = new redis.default(client as never, {
    ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
    // A failed command is an exception (a miss or a failed write for the plugin), never a silent no-op.
    throwOnErrors: true,
    throwOnConnectError: true,
    connectionTimeout: connectTimeout,
  });
  const keyv = new Keyv({
    store,
    ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
    useKeyPrefix: false,
    throwOnErrors: true,
  });
  if (options.namespace === undefined) keyv.namespace = undefined;
  keyv.on('error', report);
  handles.set(keyv, {
    client: client as unknown as RedisCommander,
    keyPrefix: options.namespace ? `${options.namespace}::` : '',
  });
  return keyv;
}

function looksLikeRedisClient(value: unknown): value is RedisCommander {
  if (value === null || typeof value !== 'object') return false;
  const candidate = value as Partial<RedisCommander> & { options?: unknown };
  return (
    typeof candidate.sendCommand === 'function' &&
    typeof candidate.duplicate === 'function' &&
    typeof candidate.isReady === 'boolean' &&
    typeof candidate.isOpen === 'boolean'
  );
}

/**
 * The raw Redis client behind a Keyv, for fetch locks: the one created by `createRedisCache`, or the client of
 * a `KeyvRedis` store the deployment built itself (a standalone client; clusters and sentinels are not used
 * for locking and degrade to per-process single flight). `undefined` for any other store.
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
  if (!store || typeof store !== 'object') return undefined;
  if (typeof store.isCluster === 'function' && store.isCluster()) return undefined;
  if (typeof store.isSentinel === 'function' && store.isSentinel()) return undefined;
  if (!looksLikeRedisClient(store.client)) return undefined;
  const separator = typeof store.keyPrefixSeparator === 'string' ? store.keyPrefixSeparator : '::';
  const namespace = typeof store.namespace === 'string' && store.namespace ? store.namespace : undefined;
  return { client: store.client, keyPrefix: namespace ? `${namespace}${separator}` : '' };
}
