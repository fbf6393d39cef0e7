/**
 * Asking the server what it is before choosing a client (see redis.ts).
 */
import type { RedisModule, Settings } from './redis-options.js';

/** Waits for `promise` at most `ms`, without leaving a timer behind. */
export async function waitAtMost(promise: Promise<unknown>, ms: number): Promise<void> {
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
export async function probeTopology(
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
