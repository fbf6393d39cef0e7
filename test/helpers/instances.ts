/**
 * Several provider instances on one shared store, plus a command-line-like third party: the harness of the
 * commit and model tests. On Redis each instance gets its own connection (`createRedisCache`), exactly as
 * separate processes would, and the "CLI" is built by the command line's own `openStore` (packages/cli), so
 * operator commands reach the store the way `cimd pin/purge/refresh` do.
 */
import type { Keyv } from '@keyv/redis';
import type { Adapter, Configuration } from 'oidc-provider';
import { type Cimd, type CimdEvent, type CimdOptions, createCimd, createRedisCache } from 'oidc-provider-cimd';
import { openStore } from '../../packages/cli/src/store.js';
import { getTestCertificate } from './certs.js';

export interface Instance {
  readonly name: string;
  readonly cimd: Cimd;
  readonly keyv: Keyv;
  readonly events: CimdEvent[];
  /** What `configure()` returned: its adapter saves grants (which marks a client in use). */
  readonly config: Configuration;
  /** Reason codes of the events about `cid`, in order. */
  reasons(cid: string): string[];
  close(): Promise<void>;
}

export interface InstanceOptions {
  /** Plugin options of this instance (on top of the harness defaults). */
  options?: CimdOptions;
  /** What `configure()` gets (e.g. features that change the provider's capabilities). */
  configuration?: Configuration;
}

async function baseOptions(): Promise<CimdOptions> {
  const { cert } = await getTestCertificate();
  return { issuer: 'http://localhost:9', allowLoopback: true, ca: cert, failureBackoffMs: 0 };
}

/** One plugin on `keyv`, configured, its events collected. */
export async function startInstance(name: string, keyv: Keyv, o: InstanceOptions = {}): Promise<Instance> {
  const events: CimdEvent[] = [];
  const cimd = createCimd({
    ...(await baseOptions()),
    ...o.options,
    cache: keyv,
    onEvent: (event) => {
      events.push(event);
      o.options?.onEvent?.(event);
    },
  });
  const config = cimd.configure(o.configuration ?? {});
  return {
    name,
    cimd,
    keyv,
    events,
    config,
    reasons: (cid) => events.filter((e) => e.cid === cid).map((e) => e.reason),
    close: () => cimd.close(),
  };
}

/**
 * Instances on one Redis, each on its own connection. `close()` closes the plugins and the connections.
 */
export async function startRedisInstances(
  redisUrl: string,
  configs: InstanceOptions[],
): Promise<{ instances: Instance[]; close(): Promise<void> }> {
  const instances: Instance[] = [];
  const connections: Keyv[] = [];
  for (const [i, config] of configs.entries()) {
    const keyv = await createRedisCache(redisUrl);
    connections.push(keyv);
    instances.push(await startInstance(String.fromCharCode(65 + i), keyv, config));
  }
  return {
    instances,
    async close() {
      for (const instance of instances) await instance.close();
      for (const keyv of connections) await keyv.disconnect().catch(() => {});
    },
  };
}

/** Saves a grant for `cid` through the instance's adapter: a user completed an authorization (client in use). */
export async function saveGrant(instance: Instance, cid: string, id = `grant-${Math.random()}`): Promise<void> {
  const grants = (instance.config.adapter as (name: string) => Adapter)('Grant');
  await grants.upsert(id, { clientId: cid, accountId: 'alice' }, 60);
}

/** The command line's view of the store: its own connection and plugin, as `cimd pin|unpin|purge|refresh` build them. */
export async function openCli(redisUrl: string): Promise<{ cimd: Cimd; close(): Promise<void> }> {
  const { cert } = await getTestCertificate();
  const store = await openStore(
    { redisUrl, issuer: 'http://localhost:9', allowLoopback: true, ca: [cert] },
    { update() {}, done() {} },
  );
  return { cimd: store.cimd, close: () => store.close() };
}
