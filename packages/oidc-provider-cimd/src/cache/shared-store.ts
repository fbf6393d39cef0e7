/**
 * The shared tier as the deployment hands it in (`cache` option): the members of a Keyv instance the plugin
 * calls, and nothing else. Structural on purpose: the Keyv class is nominal (it has private members), so a
 * deployment's own `keyv@6` instance would not type-check against the plugin's `keyv@5` class, although every
 * member used here behaves the same in both majors. `createRedisCache` returns a Keyv that satisfies it.
 */
export interface SharedStore {
  get(key: string): Promise<unknown>;
  getMany(keys: string[]): Promise<unknown[]>;
  /** `ttl` in milliseconds, as Keyv 5 and 6 take it. */
  set(key: string, value: never, ttl?: number): Promise<unknown>;
  delete(key: string): Promise<boolean>;
  /** Keyv re-emits its store's errors as an 'error' event; the plugin always listens. */
  on(event: 'error', listener: (error: unknown) => void): unknown;
}

/**
 * Several keys, each read with `get`. Not `getMany`: Keyv 5 and 6 prefix `getMany`'s keys with the namespace
 * unconditionally, while `get` and `set` leave a key that already starts with `<namespace>:` as it is, so with
 * `new Keyv({ namespace: 'cimd' })` (the documented setup) `getMany` reads `cimd:cimd:doc:…` where `set` wrote
 * `cimd:doc:…`, and finds nothing.
 */
export function readEach(store: Pick<SharedStore, 'get'>, keys: readonly string[]): Promise<unknown[]> {
  return Promise.all(keys.map((key) => store.get(key)));
}
