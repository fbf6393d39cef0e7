/**
 * The load generator: a real HTTP/1.1 client over loopback (an undici Pool with keep-alive connections), so that
 * every request goes through the provider's full HTTP stack.
 */
import { Pool } from 'undici';
import { REDIRECT_URI } from './doc-server.js';

/** An authorization request (code flow with PKCE) for `clientId`, as a path. */
export function authPath(clientId: string, redirectUri = REDIRECT_URI): string {
  const params = new URLSearchParams({
    client_id: clientId,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: 'openid',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  });
  return `/auth?${params}`;
}

export interface LoadResult {
  requests: number;
  wallMs: number;
  /** Count per status code. */
  statuses: Map<number, number>;
  /** Per-request latency, ms (only when asked for). */
  latencies: number[];
}

export class LoadClient {
  readonly #pool: Pool;
  constructor(
    readonly origin: string,
    connections = 8,
  ) {
    this.#pool = new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
  }

  /** One GET; resolves to the status (body read and dropped). */
  async get(path: string, timeoutMs = 10_000, headers?: Record<string, string>): Promise<number> {
    const { statusCode, body } = await this.#pool.request({
      method: 'GET',
      path,
      ...(headers ? { headers } : {}),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    await body.dump();
    return statusCode;
  }

  /**
   * `count` requests for `path` (or `path(i)`) with `concurrency` requests in flight. Throws when a status other
   * than `expect` comes back (unless `expect` is undefined).
   */
  async run(
    path: string | ((i: number) => string),
    count: number,
    concurrency: number,
    options: { expect?: number; latencies?: boolean } = {},
  ): Promise<LoadResult> {
    const statuses = new Map<number, number>();
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const i = next++;
          const t0 = performance.now();
          const status = await this.get(typeof path === 'string' ? path : path(i));
          if (options.latencies) latencies.push(performance.now() - t0);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (options.expect !== undefined && status !== options.expect) {
            throw new Error(`${this.origin}: request ${i} answered ${status}, expected ${options.expect}`);
          }
        }
      }),
    );
    return { requests: count, wallMs: performance.now() - started, statuses, latencies };
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}
