/**
 * Back-off after a failure (README "Errors and events"): a failing origin is not asked again on every request.
 * Serving a stale copy (stale-if-error, transport fallback) sets the same back-off, or a dead origin would still
 * be asked on every request that the stale copy answers. It is rate limiting, not a cached result: nothing about
 * the failure is stored, only when the next fetch may happen.
 */
export class Backoff {
  readonly #ms: number;
  readonly #now: () => number;
  readonly #until = new Map<string, number>();

  constructor(ms: number, now: () => number) {
    this.#ms = ms;
    this.#now = now;
  }

  /** True while `cid` may not be fetched. */
  active(cid: string): boolean {
    const until = this.#until.get(cid);
    if (until === undefined) return false;
    if (until > this.#now()) return true;
    this.#until.delete(cid);
    return false;
  }

  start(cid: string): void {
    if (this.#ms <= 0) return;
    // The map only ever holds CIDs that failed recently; prune lazily so a flood of bad ids cannot grow it.
    if (this.#until.size > 10_000) {
      const now = this.#now();
      for (const [key, until] of this.#until) if (until <= now) this.#until.delete(key);
    }
    this.#until.set(cid, this.#now() + this.#ms);
  }

  clear(cid: string): void {
    this.#until.delete(cid);
  }
}
