/**
 * Name resolution that cannot starve the process (SPEC.ssrf, "Name resolution cannot starve the process").
 *
 * Node's `dns.lookup` runs getaddrinfo on libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE says
 * otherwise), and libuv lets slow work such as getaddrinfo occupy only half of it: 2 calls at once by default.
 * A name whose servers never answer holds its thread for the system
 * resolver's whole timeout (resolv.conf `timeout` × `attempts`, 10 s and more), and nothing can cancel it: a
 * handful of such client ids stall every lookup in the process, the deployment's own database and Redis host
 * names included. The fetch giving up at its connect timeout does not give the thread back.
 *
 * So client-supplied names are resolved with c-ares (`dns.promises.Resolver`): its queries are sockets and
 * timers on the event loop, not threads. Each lookup gets its own channel, A and AAAA are asked in parallel, and
 * at the deadline `cancel()` closes the channel: nothing is left behind. Measured in BENCHMARKS.md ("DNS under
 * black-holed names"): a bounded pool of getaddrinfo calls does not hold, because black-holed names keep the
 * pool full and every legitimate name is then refused.
 *
 * The system resolver (and so /etc/hosts) is used only for the development exception (SPEC.development): with
 * `allowLoopback`, `localhost` names, and names DNS does not know (a hosts-file alias of a local test server),
 * go through getaddrinfo, one at a time, each within the same deadline.
 */
import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import net from 'node:net';

export interface DeadlineLookupOptions {
  /** Hard deadline of one lookup, A and AAAA together, ms. Default 1500. */
  timeoutMs?: number;
  /** The development exception: resolve `localhost` names and hosts-file names through the system resolver. */
  allowLoopback?: boolean;
  /**
   * getaddrinfo calls in flight at most (development exception only); more wait for a slot, within their
   * deadline, 64 at most. Default 1: libuv runs only 2 at once, and the other is left to the deployment.
   */
  maxSystemLookups?: number;
  /** DNS servers (`ip` or `ip:port`) instead of the system's resolv.conf ones. For tests and special deployments. */
  servers?: readonly string[];
}

type Address = { address: string; family: 4 | 6 };
type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | Address[], family?: number) => void;

function dnsError(code: string, hostname: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${message} (${hostname})`), { code, hostname, syscall: 'queryA' });
}

/** RFC 6761 §6.3: `localhost` and names under it are the loopback host, never a DNS question. */
function isLocalhostName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

/** Answers that mean "DNS has no such name", after which a hosts-file name may still exist. */
const NOT_IN_DNS = new Set(['ENOTFOUND', 'ENODATA', 'ECONNREFUSED', 'ESERVFAIL', 'EREFUSED', 'ETIMEOUT']);

/**
 * A `dns.lookup`-compatible function for client-supplied names (always answers with every address, as
 * `all: true`; the address policy's checked lookup filters and picks).
 */
export function createDeadlineLookup(options: DeadlineLookupOptions = {}): LookupFunction {
  const timeoutMs = options.timeoutMs ?? 1500;
  if (!Number.isFinite(timeoutMs) || timeoutMs < 1) {
    throw new TypeError(`oidc-provider-cimd: dnsTimeoutMs must be a positive number of milliseconds, got ${timeoutMs}`);
  }
  const maxSystemLookups = options.maxSystemLookups ?? 1;
  const servers = options.servers ? [...options.servers] : undefined;
  // c-ares doubles its per-try timeout on each retry: two tries at a third of the deadline end within it.
  const perTryMs = Math.max(50, Math.floor(timeoutMs / 3));
  let systemInFlight = 0;

  function resolveWithCares(hostname: string): Promise<Address[]> {
    const resolver = new dns.promises.Resolver({ timeout: perTryMs, tries: 2 });
    if (servers) resolver.setServers(servers);
    const found: Address[] = [];
    const errors: NodeJS.ErrnoException[] = [];
    const ask = (family: 4 | 6) =>
      (family === 4 ? resolver.resolve4(hostname) : resolver.resolve6(hostname)).then(
        (addresses) => {
          for (const address of addresses) found.push({ address, family });
        },
        (err: NodeJS.ErrnoException) => {
          errors.push(err);
        },
      );
    return new Promise<Address[]>((resolve, reject) => {
      let settled = false;
      const finish = (timedOut: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // Gives back the sockets and timers of whatever is still outstanding.
        resolver.cancel();
        // At the deadline, the family that did answer is used; the other one is not waited for.
        if (found.length > 0) return resolve(found);
        if (timedOut) return reject(dnsError('ETIMEOUT', hostname, `no DNS answer within ${timeoutMs} ms`));
        const notFound = errors.find((e) => e.code === 'ENOTFOUND' || e.code === 'ENODATA');
        const first = notFound ?? errors[0];
        return reject(first ?? dnsError('ENOTFOUND', hostname, 'no addresses'));
      };
      const timer = setTimeout(() => finish(true), timeoutMs);
      Promise.all([ask(4), ask(6)]).then(() => finish(false));
    });
  }

  // Waiting system lookups: each gets a slot in turn, and fails at its deadline if it has not had an answer by
  // then, whether it was still waiting or already running.
  const waiting: (() => void)[] = [];
  const MAX_WAITING = 64;

  function startNext(): void {
    while (systemInFlight < maxSystemLookups && waiting.length > 0) waiting.shift()!();
  }

  function resolveWithSystem(hostname: string): Promise<Address[]> {
    if (waiting.length >= MAX_WAITING) {
      return Promise.reject(dnsError('EAI_AGAIN', hostname, 'system resolver busy'));
    }
    return new Promise<Address[]>((resolve, reject) => {
      let settled = false;
      const run = () => {
        if (settled) return;
        systemInFlight += 1;
        dns.lookup(hostname, { all: true }, (err, addresses) => {
          // getaddrinfo cannot be cancelled: the slot is held until it really returns, even after the deadline
          // has answered the caller.
          systemInFlight -= 1;
          startNext();
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (err) return reject(err);
          resolve(addresses.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 })));
        });
      };
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        const queued = waiting.indexOf(run);
        if (queued !== -1) waiting.splice(queued, 1);
        reject(dnsError('ETIMEOUT', hostname, `no answer from the system resolver within ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.push(run);
      startNext();
    });
  }

  async function resolveName(hostname: string): Promise<Address[]> {
    const family = net.isIP(hostname);
    if (family !== 0) return [{ address: hostname, family: family === 6 ? 6 : 4 }];
    if (options.allowLoopback && isLocalhostName(hostname)) return resolveWithSystem(hostname);
    try {
      return await resolveWithCares(hostname);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (options.allowLoopback && code !== undefined && NOT_IN_DNS.has(code)) return resolveWithSystem(hostname);
      throw err;
    }
  }

  const lookup = (hostname: string, opts: unknown, callback?: unknown): void => {
    const cb = (typeof opts === 'function' ? opts : callback) as LookupCallback;
    const wanted = typeof opts === 'object' && opts !== null ? (opts as dns.LookupOptions) : {};
    resolveName(hostname).then(
      (addresses) => {
        const family = wanted.family === 4 || wanted.family === 6 ? wanted.family : undefined;
        const usable = family === undefined ? addresses : addresses.filter((a) => a.family === family);
        if (usable.length === 0) return cb(dnsError('ENOTFOUND', hostname, `no IPv${family} addresses`), '', 0);
        if (wanted.all) return cb(null, usable);
        return cb(null, usable[0]!.address, usable[0]!.family);
      },
      (err: NodeJS.ErrnoException) => cb(err, '', 0),
    );
  };
  return lookup as LookupFunction;
}
