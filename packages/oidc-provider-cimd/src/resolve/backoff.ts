/**
 * Back-off after a failure (docs/events.md): a failing origin is not asked again on every request.
 * Serving a stale copy (stale-if-error, transport fallback) sets the same back-off, or a dead origin would still
 * be asked on every request that the stale copy answers. It is rate limiting, not a cached result: nothing about
 * the failure is stored but when the next fetch may happen and the failure's class, decided once where the
 * failure happened (load.ts `failureClass`), so that a lookup answered by the back-off gets the same verdict as
 * the failure itself: after an invalid document or a revocation, never a stale copy.
 */
import type { FailureClass } from './failure.js';

export class Backoff {
  readonly #ms: number;
  readonly #now: () => number;
  readonly #until = new Map<string, { until: number; failure: FailureClass }>();

  constructor(ms: number, now: () => number) {
    this.#ms = ms;
    this.#now = now;
  }

  /** The class of the failure that started the back-off while `cid` may not be fetched; undefined otherwise. */
  active(cid: string): FailureClass | undefined {
    const found = this.#until.get(cid);
    if (found === undefined) return undefined;
    if (found.until > this.#now()) return found.failure;
    this.#until.delete(cid);
    return undefined;
  }

  start(cid: string, failure: FailureClass): void {
    if (this.#ms <= 0) return;
    // The map only ever holds CIDs that failed recently; prune lazily so a flood of bad ids cannot grow it.
    if (this.#until.size > 10_000) {
      const now = this.#now();
      for (const [key, found] of this.#until) if (found.until <= now) this.#until.delete(key);
    }
    this.#until.set(cid, { until: this.#now() + this.#ms, failure });
  }

  clear(cid: string): void {
    this.#until.delete(cid);
  }
}
