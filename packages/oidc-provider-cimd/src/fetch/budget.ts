/**
 * Outbound fetch budgets (spec §5): a server that fetches URLs chosen by strangers must not become a traffic
 * reflector. Each target host gets a token bucket, and all hosts together a cap on concurrent fetches. Over
 * budget means "fail fast": the caller gets no fetch rather than a queue that an attacker can fill.
 */
export interface FetchBudgetOptions {
  /** Fetches allowed per host in a burst (bucket size). Default 20. */
  perHostBurst?: number;
  /** Fetches per host regained per second. Default 2. */
  perHostPerSecond?: number;
  /** Concurrent outbound fetches, all hosts together. Default 32. */
  maxConcurrent?: number;
  /** Hosts tracked at most (least recently used forgotten first). Default 10000. */
  maxHosts?: number;
  now?: () => number;
}

export type BudgetTicket = { granted: true; release: () => void } | { granted: false; reason: string };

interface Bucket {
  tokens: number;
  at: number;
}

export class FetchBudget {
  readonly #burst: number;
  readonly #rate: number;
  readonly #maxConcurrent: number;
  readonly #maxHosts: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();
  #inflight = 0;

  constructor(options: FetchBudgetOptions = {}) {
    this.#burst = options.perHostBurst ?? 20;
    this.#rate = (options.perHostPerSecond ?? 2) / 1000;
    this.#maxConcurrent = options.maxConcurrent ?? 32;
    this.#maxHosts = options.maxHosts ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** The same per-host rate as a fixed window (a full bucket per refill time), for a cluster-wide counter. */
  get window(): { limit: number; windowMs: number } {
    return { limit: this.#burst, windowMs: Math.max(1, Math.round(this.#burst / this.#rate)) };
  }

  get inflight(): number {
    return this.#inflight;
  }

  /** Takes one fetch from `host`'s budget and one concurrency slot, or neither. */
  take(host: string): BudgetTicket {
    if (this.#inflight >= this.#maxConcurrent) {
      return { granted: false, reason: `${this.#maxConcurrent} outbound fetches already in flight` };
    }
    const now = this.#now();
    let bucket = this.#buckets.get(host);
    if (bucket) {
      this.#buckets.delete(host); // re-inserted below: Map order doubles as LRU order
      bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.at) * this.#rate);
      bucket.at = now;
    } else {
      bucket = { tokens: this.#burst, at: now };
      if (this.#buckets.size >= this.#maxHosts) {
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
    }
    this.#buckets.set(host, bucket);
    if (bucket.tokens < 1) return { granted: false, reason: `fetch budget for ${host} exhausted` };
    bucket.tokens -= 1;
    this.#inflight += 1;
    let released = false;
    return {
      granted: true,
      release: () => {
        if (released) return;
        released = true;
        this.#inflight -= 1;
      },
    };
  }
}
