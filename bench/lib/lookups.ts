/** In-process lookup loops: rates per CPU-second of this process. */
import type { Provider } from 'oidc-provider';

/** CPU seconds (user + system) used since `since`. */
export function cpuSeconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}

/** `count` sequential `Client.find` calls; returns lookups per CPU-second. */
export async function findRate(provider: Provider, clientId: string, count: number): Promise<number> {
  const started = process.cpuUsage();
  for (let i = 0; i < count; i++) {
    if (!(await provider.Client.find(clientId))) throw new Error(`Client.find(${clientId}) found nothing`);
  }
  return count / cpuSeconds(started);
}

/** `count` sequential calls of `lookup`; returns calls per CPU-second. */
export async function loopRate(count: number, lookup: () => Promise<unknown>): Promise<number> {
  const started = process.cpuUsage();
  for (let i = 0; i < count; i++) await lookup();
  return count / cpuSeconds(started);
}
