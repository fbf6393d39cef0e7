/**
 * Outbound fetch budgets (SPEC.ssrf): a server that fetches URLs chosen by strangers must not become a traffic
 * reflector, and strangers must not be able to spend the capacity that legitimate clients need.
 *
 * - A token bucket per target host AND per registrable domain (eTLD+1 from the Public Suffix List, private
 *   section included, through `tldts`): fifty subdomains of one domain share one domain budget.
 * - First-time fairness: a cap on concurrent fetches per *site*, the registrable domain under the Public
 *   Suffix List's ICANN section alone (so every free `name.duckdns.org`, `name.vercel.app`, `name.github.io`
 *   is one site), and a cap on concurrent fetches per resolved address (so a thousand names pointed at one
 *   server are one), taken by the fetcher once the name is resolved ({@link FetchBudget.takeAddress}). Names
 *   that cost nothing to create cannot hold the global slots.
 * - A global cap on concurrent fetches, of which `reservedForKnown` slots only fetches of known-good clients
 *   (`known: true`: completed an authorization, recorded durably, last refresh did not fail; known/record.ts)
 *   may use; each bucket and each per-site and per-address cap also keeps a small reserve that only they draw
 *   on. Known clients are capped per site and per address in flight too. First-time ids, which is what an
 *   attacker can mint, cannot exhaust any of it.
 *
 * Over budget means "fail fast": the caller gets no fetch rather than a queue that an attacker can fill.
 */
import { getDomain } from 'tldts';

export interface FetchBudgetOptions {
  /** Fetches allowed per host in a burst (bucket size). Default 40. */
  perHostBurst?: number;
  /** Fetches per host regained per second. Default 10. */
  perHostPerSecond?: number;
  /** Fetches allowed per registrable domain in a burst, all its hosts together. Default 80. */
  perDomainBurst?: number;
  /** Fetches per registrable domain regained per second. Default 20. */
  perDomainPerSecond?: number;
  /** Concurrent outbound fetches, all hosts together. Default 32. */
  maxConcurrent?: number;
  /** Of `maxConcurrent`, slots only refreshes of known clients may take. Default 8. */
  reservedForKnown?: number;
  /** Concurrent fetches to one registrable domain (first-time ids). Default 4. */
  maxConcurrentPerDomain?: number;
  /** Extra concurrent fetches to one registrable domain that only known clients may take. Default 2. */
  reservedPerDomainForKnown?: number;
  /** Concurrent fetches to one resolved address (first-time ids). Default 4. */
  maxConcurrentPerAddress?: number;
  /** Extra concurrent fetches to one resolved address that only known clients may take. Default 2. */
  reservedPerAddressForKnown?: number;
  /** Hosts and domains tracked at most each (least recently used forgotten first). Default 10000. */
  maxHosts?: number;
  now?: () => number;
}

/** Why a fetch was refused; stable, for events and metrics. */
export type BudgetRefusal =
  | 'global_concurrency'
  | 'domain_concurrency'
  | 'address_concurrency'
  | 'host_rate'
  | 'domain_rate'
  | 'cluster_host_rate'
  | 'cluster_domain_rate';

export type BudgetTicket =
  | { granted: true; release: () => void }
  | { granted: false; code: BudgetRefusal; reason: string };

export interface TakeOptions {
  /**
   * A fetch for a known-good client (its document, `jwks_uri` or logo): may use the capacity reserved for
   * them. Known-good is a durable fact (known/record.ts), never whether a copy is cached.
   */
  known?: boolean;
}

/** The cluster-wide counterpart, consulted after the in-process budget granted (cluster/shared-budget.ts). */
export interface SharedBudgetCheck {
  /** `undefined`: the shared store did not answer, and the in-process budget alone decides. */
  take(
    scope: BudgetScope,
    options: TakeOptions,
  ): Promise<{ granted: true } | { granted: false; code: BudgetRefusal; reason: string } | undefined>;
}

/** What one fetch is charged to. */
export interface BudgetScope {
  /** `host[:port]`, lower case. */
  host: string;
  /** Registrable domain (eTLD+1); the host name itself for IP literals, `localhost` and single labels. */
  domain: string;
  /**
   * Registrable domain under the Public Suffix List's ICANN section only: all of `duckdns.org` is one site.
   * Concurrency caps group by it (first-time fairness).
   */
  site: string;
}

/** Accepts a URL or a `host[:port]`. */
export function budgetScope(target: string): BudgetScope {
  let url: URL | null = URL.parse(target.includes('://') ? target : `https://${target}`);
  if (!url) url = URL.parse('https://invalid.invalid');
  const host = url!.host.toLowerCase();
  const hostname = url!.hostname.toLowerCase();
  if (hostname.startsWith('[') || /^[\d.]+$/.test(hostname)) return { host, domain: hostname, site: hostname };
  const domain = getDomain(hostname, { allowPrivateDomains: true, validateHostname: false }) ?? hostname;
  const site = getDomain(hostname, { allowPrivateDomains: false, validateHostname: false }) ?? hostname;
  return { host, domain, site };
}

interface Bucket {
  tokens: number;
  /** Tokens only known clients draw on, once `tokens` is empty. */
  reserve: number;
  at: number;
}

class Buckets {
  readonly #burst: number;
  readonly #rate: number;
  readonly #reserveBurst: number;
  readonly #max: number;
  readonly #map = new Map<string, Bucket>();

  constructor(burst: number, perSecond: number, max: number) {
    this.#burst = burst;
    this.#rate = perSecond / 1000;
    this.#reserveBurst = Math.max(1, Math.ceil(burst / 4));
    this.#max = max;
  }

  get window(): { limit: number; windowMs: number; reserve: number } {
    return {
      limit: this.#burst,
      windowMs: Math.max(1, Math.round(this.#burst / this.#rate)),
      reserve: this.#reserveBurst,
    };
  }

  /** The bucket refilled to `now`, moved to the most recently used end. */
  #get(key: string, now: number): Bucket {
    let bucket = this.#map.get(key);
    if (bucket) {
      this.#map.delete(key); // re-inserted below: Map order doubles as LRU order
      const elapsed = Math.max(0, now - bucket.at);
      bucket.tokens = Math.min(this.#burst, bucket.tokens + elapsed * this.#rate);
      // The reserve refills at the same proportion of its size.
      bucket.reserve = Math.min(
        this.#reserveBurst,
        bucket.reserve + (elapsed * this.#rate * this.#reserveBurst) / this.#burst,
      );
      bucket.at = now;
    } else {
      bucket = { tokens: this.#burst, reserve: this.#reserveBurst, at: now };
      if (this.#map.size >= this.#max) {
        const oldest = this.#map.keys().next().value;
        if (oldest !== undefined) this.#map.delete(oldest);
      }
    }
    this.#map.set(key, bucket);
    return bucket;
  }

  /** Which pool a fetch would draw from, or undefined when none has a token. Takes nothing. */
  peek(key: string, now: number, known: boolean): 'tokens' | 'reserve' | undefined {
    const bucket = this.#get(key, now);
    if (bucket.tokens >= 1) return 'tokens';
    if (known && bucket.reserve >= 1) return 'reserve';
    return undefined;
  }

  spend(key: string, pool: 'tokens' | 'reserve'): void {
    const bucket = this.#map.get(key);
    if (bucket) bucket[pool] -= 1;
  }
}

function decrement(map: Map<string, number>, key: string): void {
  const left = (map.get(key) ?? 1) - 1;
  if (left > 0) map.set(key, left);
  else map.delete(key);
}

export class FetchBudget {
  readonly #maxConcurrent: number;
  readonly #reservedForKnown: number;
  readonly #perDomain: number;
  readonly #perDomainKnown: number;
  readonly #now: () => number;
  readonly #hosts: Buckets;
  readonly #domains: Buckets;
  readonly #perAddress: number;
  readonly #perAddressKnown: number;
  /** In flight per site (ICANN registrable domain). */
  readonly #domainInflight = new Map<string, number>();
  readonly #addressInflight = new Map<string, number>();
  #inflight = 0;
  readonly #shared: SharedBudgetCheck | undefined;

  /**
   * `shared`: the cluster-wide budget {@link acquire} consults, or a factory given this budget's windows (the
   * composition root, plugin/pipeline.ts, builds it from them). Fixed at construction: never attached later.
   */
  constructor(
    options: FetchBudgetOptions = {},
    shared?: SharedBudgetCheck | ((windows: FetchBudget['windows']) => SharedBudgetCheck | undefined),
  ) {
    // Validated by the options table (plugin/options.ts: types, minimums, reservedForKnown < maxConcurrent).
    const positive = (name: Exclude<keyof FetchBudgetOptions, 'now'>, fallback: number): number =>
      options[name] ?? fallback;
    const maxHosts = positive('maxHosts', 10_000);
    this.#hosts = new Buckets(positive('perHostBurst', 40), positive('perHostPerSecond', 10), maxHosts);
    this.#domains = new Buckets(positive('perDomainBurst', 80), positive('perDomainPerSecond', 20), maxHosts);
    this.#maxConcurrent = positive('maxConcurrent', 32);
    this.#reservedForKnown = positive('reservedForKnown', Math.min(8, Math.floor(this.#maxConcurrent / 4)));
    this.#perDomain = positive('maxConcurrentPerDomain', 4);
    this.#perDomainKnown = this.#perDomain + positive('reservedPerDomainForKnown', 2);
    this.#perAddress = positive('maxConcurrentPerAddress', 4);
    this.#perAddressKnown = this.#perAddress + positive('reservedPerAddressForKnown', 2);
    this.#now = options.now ?? Date.now;
    this.#shared = typeof shared === 'function' ? shared(this.windows) : shared;
  }

  /** The per-host and per-domain rates as fixed windows (a full bucket per refill time), for a cluster-wide counter. */
  get windows(): {
    host: { limit: number; windowMs: number; reserve: number };
    domain: { limit: number; windowMs: number; reserve: number };
  } {
    return { host: this.#hosts.window, domain: this.#domains.window };
  }

  /** The per-host window alone (kept for callers of the first edition). */
  get window(): { limit: number; windowMs: number } {
    const { limit, windowMs } = this.#hosts.window;
    return { limit, windowMs };
  }

  get inflight(): number {
    return this.#inflight;
  }

  /**
   * Takes one fetch from the host's and the domain's budgets, one global and one per-domain concurrency slot,
   * or nothing at all. `target`: a URL or `host[:port]`. In-process only; see {@link acquire}.
   */
  take(target: string, options: TakeOptions = {}): BudgetTicket {
    const known = options.known === true;
    const scope = budgetScope(target);
    const globalCap = known ? this.#maxConcurrent : this.#maxConcurrent - this.#reservedForKnown;
    if (this.#inflight >= globalCap) {
      return {
        granted: false,
        code: 'global_concurrency',
        reason: known
          ? `${this.#maxConcurrent} outbound fetches already in flight`
          : `${globalCap} outbound fetches for new clients already in flight`,
      };
    }
    const domainInflight = this.#domainInflight.get(scope.site) ?? 0;
    if (domainInflight >= (known ? this.#perDomainKnown : this.#perDomain)) {
      return {
        granted: false,
        code: 'domain_concurrency',
        reason: `${domainInflight} fetches to ${scope.site} already in flight`,
      };
    }
    const now = this.#now();
    const hostPool = this.#hosts.peek(scope.host, now, known);
    if (!hostPool) return { granted: false, code: 'host_rate', reason: `fetch budget for ${scope.host} exhausted` };
    const domainPool = this.#domains.peek(scope.domain, now, known);
    if (!domainPool) {
      return { granted: false, code: 'domain_rate', reason: `fetch budget for ${scope.domain} exhausted` };
    }
    this.#hosts.spend(scope.host, hostPool);
    this.#domains.spend(scope.domain, domainPool);
    this.#inflight += 1;
    this.#domainInflight.set(scope.site, domainInflight + 1);
    let released = false;
    return {
      granted: true,
      release: () => {
        if (released) return;
        released = true;
        this.#inflight -= 1;
        decrement(this.#domainInflight, scope.site);
      },
    };
  }

  /**
   * One concurrency slot at a resolved address (first-time fairness): taken by the fetcher once the name is
   * resolved, after {@link take} granted. `address`: the addresses a name resolved to, sorted and joined, or
   * one address.
   */
  takeAddress(address: string, options: TakeOptions = {}): BudgetTicket {
    const known = options.known === true;
    const inflight = this.#addressInflight.get(address) ?? 0;
    if (inflight >= (known ? this.#perAddressKnown : this.#perAddress)) {
      // The address is not named: refusals reach events, and resolved addresses are never revealed.
      return {
        granted: false,
        code: 'address_concurrency',
        reason: `${inflight} fetches to the address this name resolves to already in flight`,
      };
    }
    this.#addressInflight.set(address, inflight + 1);
    let released = false;
    return {
      granted: true,
      release: () => {
        if (released) return;
        released = true;
        decrement(this.#addressInflight, address);
      },
    };
  }

  /**
   * {@link take}, then the cluster-wide budget when one is attached (Redis stores). A shared store that does
   * not answer leaves the decision to the in-process budget: an outage must not stop every fetch.
   */
  async acquire(target: string, options: TakeOptions = {}): Promise<BudgetTicket> {
    const ticket = this.take(target, options);
    if (!ticket.granted || !this.#shared) return ticket;
    let verdict: Awaited<ReturnType<SharedBudgetCheck['take']>>;
    try {
      verdict = await this.#shared.take(budgetScope(target), options);
    } catch {
      verdict = undefined;
    }
    if (verdict && !verdict.granted) {
      ticket.release();
      return verdict;
    }
    return ticket;
  }
}
