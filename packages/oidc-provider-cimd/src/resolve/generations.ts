/**
 * Operator writes (pin, unpin, refresh, purge) start a new generation of a CID. A lookup remembers the generation
 * it started under and stores its result only while that generation is current, so a lookup that was already in
 * flight can never overwrite what an operator wrote meanwhile (README "Operator API"). Only operator commands add entries, so the map stays small.
 */
export class Generations {
  readonly #current = new Map<string, number>();

  current(cid: string): number {
    return this.#current.get(cid) ?? 0;
  }

  next(cid: string): number {
    const generation = this.current(cid) + 1;
    this.#current.set(cid, generation);
    return generation;
  }
}
