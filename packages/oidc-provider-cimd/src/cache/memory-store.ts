/**
 * The default shared tier when a deployment brings no Keyv store: bounded, so that a server without Redis that
 * meets many distinct client ids (documents, consent records, logos) cannot grow without limit. Keyv keeps its
 * own expiry inside each value; this store only bounds how many and how large.
 */
import { LRUCache } from 'lru-cache';

export interface BoundedMemoryStoreOptions {
  /** Entries at most. Default 10000. */
  maxEntries?: number;
  /** Approximate bytes at most (string length, or JSON length for other values). Default 32 MiB. */
  maxBytes?: number;
}

function sizeOf(value: unknown): number {
  if (typeof value === 'string') return Math.max(1, value.length);
  try {
    return Math.max(1, JSON.stringify(value)?.length ?? 1);
  } catch {
    return 1024;
  }
}

/** A Map-like store for Keyv (lru-cache's own `set` takes options, not Keyv's ttl argument). */
export function createBoundedMemoryStore(options: BoundedMemoryStoreOptions = {}) {
  const lru = new LRUCache<string, NonNullable<unknown>>({
    max: options.maxEntries ?? 10_000,
    maxSize: options.maxBytes ?? 32 * 1024 * 1024,
    sizeCalculation: sizeOf,
  });
  return {
    get: (key: string) => lru.get(key),
    set(key: string, value: unknown) {
      if (value === undefined || value === null) lru.delete(key);
      else lru.set(key, value);
      return true;
    },
    delete: (key: string) => lru.delete(key),
    has: (key: string) => lru.has(key),
    clear: () => lru.clear(),
    get size() {
      return lru.size;
    },
  };
}
