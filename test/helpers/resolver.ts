/**
 * Injected DNS for tests: a `dns.lookup`-compatible function answering from a fixed table, so a test can make
 * any host name resolve to any address (hostile ones included) without touching real DNS.
 *
 *   const lookup = createResolver({
 *     'app.cimd.test': ['127.0.0.1'],                        // same answer every time
 *     'rebind.cimd.test': sequence(['8.8.8.8'], ['127.0.0.2']), // 1st call, 2nd call (the last one repeats)
 *   });
 *   lookup.calls // every lookup made, in order
 *
 * Unknown names fail with ENOTFOUND. Both callback shapes are honoured: `{ all: true }` gets an array of
 * `{ address, family }`, otherwise `(err, address, family)` with the first address.
 */
import net, { type LookupFunction } from 'node:net';

const SEQUENCE = Symbol('sequence');

export interface AnswerSequence {
  readonly [SEQUENCE]: readonly (readonly string[])[];
}

/** Successive answers for one name: the n-th lookup gets the n-th list; the last list repeats. */
export function sequence(...answers: readonly (readonly string[])[]): AnswerSequence {
  if (answers.length === 0) throw new TypeError('sequence() needs at least one answer');
  return { [SEQUENCE]: answers };
}

export interface RecordingLookup extends LookupFunction {
  /** Every lookup made so far, in order. */
  readonly calls: { hostname: string; all: boolean; family: number | undefined }[];
}

export function createResolver(table: Record<string, readonly string[] | AnswerSequence>): RecordingLookup {
  const calls: RecordingLookup['calls'] = [];
  const served = new Map<string, number>();
  const lookup = ((hostname: string, options: unknown, callback: (...args: unknown[]) => void) => {
    const opts = (typeof options === 'object' && options !== null ? options : {}) as {
      all?: boolean;
      family?: unknown;
    };
    const family = opts.family === 4 || opts.family === 6 ? opts.family : undefined;
    calls.push({ hostname, all: opts.all === true, family });
    const entry = table[hostname];
    let addresses: readonly string[] | undefined;
    if (entry !== undefined && SEQUENCE in entry) {
      const n = served.get(hostname) ?? 0;
      served.set(hostname, n + 1);
      const list = entry[SEQUENCE];
      addresses = list[Math.min(n, list.length - 1)];
    } else {
      addresses = entry as readonly string[] | undefined;
    }
    const answers = (addresses ?? [])
      .map((address) => ({ address, family: net.isIPv6(address) ? 6 : 4 }))
      .filter((answer) => family === undefined || answer.family === family);
    // Real resolvers answer asynchronously; so does this one.
    setImmediate(() => {
      if (answers.length === 0) {
        callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname }));
      } else if (opts.all) {
        callback(null, answers);
      } else {
        callback(null, answers[0]!.address, answers[0]!.family);
      }
    });
  }) as unknown as RecordingLookup;
  Object.defineProperty(lookup, 'calls', { value: calls });
  return lookup;
}
