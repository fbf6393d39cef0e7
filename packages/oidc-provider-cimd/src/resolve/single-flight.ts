/**
 * In-process single flight, keyed by purpose as well as by CID (docs/operator-api.md):
 * concurrent lookups of one CID cause one fetch per process, joining a flight never changes what a caller gets,
 * `refresh()` always fetches, and a `pin()` is never overwritten by a lookup that was already in flight.
 *
 * Why the purpose is part of the key: a lookup may be answered from the cache, a refresh must fetch, and a
 * redirect refetch must fetch even when a plain lookup of the same CID is answering from a cached copy. Sharing
 * one slot between them would hand a caller an answer produced for another purpose.
 */
export type FlightPurpose = 'lookup' | 'redirect_refetch' | 'refresh' | 'pin';

export interface Flight<T> {
  promise: Promise<T>;
  /** True when this caller joined a flight another caller started. */
  joined: boolean;
}

export class SingleFlight<T> {
  readonly #flights = new Map<string, Promise<T>>();

  run(purpose: FlightPurpose, cid: string, work: () => Promise<T>): Flight<T> {
    const key = `${purpose} ${cid}`;
    const pending = this.#flights.get(key);
    if (pending) return { promise: pending, joined: true };
    const promise = work().finally(() => this.#flights.delete(key));
    this.#flights.set(key, promise);
    return { promise, joined: false };
  }
}
