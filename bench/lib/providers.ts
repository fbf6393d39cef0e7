/**
 * oidc-provider instances for the benchmarks, on 127.0.0.1 with a `http://localhost:<port>` issuer: one
 * configured through our plugin, or one with oidc-provider's built-in experimental CIMD feature. Apart from
 * that switch, both get exactly the same configuration: the same adapter, the same static client, the same
 * features (dev interactions off, so /auth answers 303 to the interaction URL), the same default keys.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type AdapterPayload, type Configuration, Provider } from 'oidc-provider';
import { type Cimd, type CimdOptions, createCimd } from 'oidc-provider-cimd';
import { Agent, fetch as undiciFetch } from 'undici';
import { REDIRECT_URI } from './doc-server.js';

/**
 * A plain Map adapter: oidc-provider's memory adapter is an LRU of 1000 entries, and the thousands of
 * interactions a benchmark creates would evict a DCR-registered client from it mid-run. Each provider gets its
 * own store.
 */
export function mapAdapter(seed: Iterable<[string, AdapterPayload]> = []) {
  const store = new Map<string, AdapterPayload>(seed);
  return class MapAdapter {
    constructor(readonly name: string) {}
    #key(id: string) {
      return `${this.name}:${id}`;
    }
    async find(id: string) {
      return store.get(this.#key(id));
    }
    async upsert(id: string, payload: AdapterPayload) {
      store.set(this.#key(id), payload);
    }
    async destroy(id: string) {
      store.delete(this.#key(id));
    }
    async consume(id: string) {
      const payload = store.get(this.#key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }
    async findByUid(uid: string) {
      for (const [key, payload] of store) if (key.startsWith(`${this.name}:`) && payload.uid === uid) return payload;
      return undefined;
    }
    async findByUserCode() {
      return undefined;
    }
    async revokeByGrantId() {}
    /** Interactions and sessions pile up over a long run; the benchmarks drop them between rounds. */
    static clearTransient() {
      for (const key of store.keys()) if (!key.startsWith('Client:')) store.delete(key);
    }
  };
}

export type ProviderKind = 'plugin' | 'builtin';

/**
 * With BENCH_WINDOWS=1, every labelled request's [label, start, end] (µs, CLOCK_MONOTONIC: the clock of V8 CPU
 * profiles), so that profile samples can be assigned to requests (profile-auth.ts).
 */
export const requestWindows: [string, number, number][] = [];
const recordWindows = process.env.BENCH_WINDOWS === '1';
const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n);

export interface BenchProvider {
  kind: ProviderKind;
  issuer: string;
  provider: Provider;
  /** Our plugin (kind `plugin` only). */
  cimd: Cimd | undefined;
  /** Drops stored interactions and sessions (not clients). */
  clearTransient(): void;
  /**
   * Server-side time of the requests that carried an `x-bench-label` header, by label: from the request's arrival
   * to the end of its response (ms), and how many.
   */
  readonly timings: Map<string, { count: number; totalMs: number }>;
  close(): Promise<void>;
}

export interface ProviderSetup {
  kind: ProviderKind;
  /** Trusted CA for the document host (the test certificate). */
  ca: string;
  /** A pre-registered client with this id (same shape as a CIMD id, so requests carry the same bytes). */
  staticId?: string;
  /** Ids handed out by Dynamic Client Registration. */
  registeredId?: string;
  /** Clients stored in the provider's adapter from the start (as DCR would store them), by their metadata. */
  storedClients?: AdapterPayload[];
  /** Plugin options on top of the bench defaults (plugin only). */
  cimd?: CimdOptions;
}

export async function startProvider(setup: ProviderSetup): Promise<BenchProvider> {
  const server = http.createServer({ keepAliveTimeout: 60_000 });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const issuer = `http://localhost:${port}`;
  const Adapter = mapAdapter(
    (setup.storedClients ?? []).map((payload) => [`Client:${payload.client_id as string}`, payload]),
  );

  const base: Configuration = {
    adapter: Adapter,
    features: {
      devInteractions: { enabled: false },
      registration: {
        enabled: true,
        ...(setup.registeredId ? { idFactory: () => setup.registeredId as string } : {}),
      },
    },
    clients: setup.staticId
      ? [
          {
            client_id: setup.staticId,
            client_name: 'Static',
            token_endpoint_auth_method: 'none',
            redirect_uris: [REDIRECT_URI],
            grant_types: ['authorization_code'],
            response_types: ['code'],
          },
        ]
      : [],
  };

  let cimd: Cimd | undefined;
  let configuration: Configuration;
  let docAgent: Agent | undefined;
  if (setup.kind === 'plugin') {
    cimd = createCimd({
      issuer,
      allowLoopback: true,
      ca: setup.ca,
      // The default per-host and per-domain budgets would rate-limit benchmarks that serve many clients from one
      // local host on purpose (each benchmark that measures the budgets sets its own).
      budget: { perHostBurst: 100_000, perDomainBurst: 100_000, maxConcurrentPerAddress: 64 },
      ...setup.cimd,
    });
    configuration = cimd.configure(base);
  } else {
    // oidc-provider's built-in feature refuses special-use addresses (loopback included) through the dispatcher
    // it puts in `init.dispatcher`; its `fetch` hook is the documented way to change how it fetches. Here the
    // hook sends the request through an undici Agent that trusts the test certificate, and so reaches the local
    // document host. Everything else the feature does (URL check, status, body cap, JSON, client_id, secrets,
    // caching, Client construction) is untouched.
    docAgent = new Agent({ connect: { ca: setup.ca } });
    const dispatcher = docAgent;
    configuration = {
      ...base,
      features: { ...base.features, clientIdMetadataDocument: { enabled: true, ack: 'draft-02' } } as never,
      fetch: ((url: string | URL, init: Record<string, unknown>) =>
        undiciFetch(url, { ...init, dispatcher } as never)) as unknown as Configuration['fetch'],
    };
  }

  const provider = new Provider(issuer, configuration);
  const callback = provider.callback();
  const timings = new Map<string, { count: number; totalMs: number }>();
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const label = req.headers['x-bench-label'];
    if (typeof label === 'string') {
      const started = performance.now();
      const startedMicros = recordWindows ? monotonicMicros() : 0;
      res.once('finish', () => {
        if (recordWindows) requestWindows.push([label, startedMicros, monotonicMicros()]);
        const timing = timings.get(label) ?? { count: 0, totalMs: 0 };
        timing.count += 1;
        timing.totalMs += performance.now() - started;
        timings.set(label, timing);
      });
    }
    callback(req, res);
  });
  return {
    kind: setup.kind,
    issuer,
    provider,
    cimd,
    clearTransient: () => Adapter.clearTransient(),
    timings,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await cimd?.close();
      await docAgent?.close();
    },
  };
}
