/**
 * What the plugin sends to Redis beyond Keyv's get/set/delete (fetch lock, shared budget, invalidation), the
 * same `RedisHandle` on the three node-redis client kinds, and how to find it from a Keyv (see redis.ts).
 */
import type Keyv from 'keyv';
import { slotOf } from './crc16.js';
import { checkNamespace, type KeyLayout, keyLayout } from './keys.js';
import type { RedisTopology } from './redis-options.js';

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

export const handles = new WeakMap<Keyv, RedisHandle>();
// ---------------------------------------------------------------------------------------------------------------
// Handles: the three node-redis client kinds behind one interface

/** The subset of a node-redis v5 single-node client used here. */
export interface NodeRedisClient {
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
export interface NodeRedisCluster {
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
export interface NodeRedisSentinel {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  sendCommand(isReadonly: boolean, args: string[], options?: { timeout?: number }): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  unsubscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
}

const notReady = () => Promise.reject(new Error('redis not ready'));

export function standaloneHandle(client: NodeRedisClient, prefix: string, limits: StoreLimit[] = []): RedisHandle {
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

export function clusterHandle(
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

export function sentinelHandle(
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
