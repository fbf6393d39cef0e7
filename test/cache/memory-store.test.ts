/**
 * The default shared tier (no `cache` option) is bounded: many distinct clients cannot grow it without limit,
 * and it still behaves as a Keyv store (values, expiry, delete).
 */
import { Keyv } from '@keyv/redis';
import { createBoundedMemoryStore } from '../../packages/oidc-provider-cimd/src/cache/memory-store.js';

describe('bounded default memory store', () => {
  test('keeps at most maxEntries entries, least recently used out first', async () => {
    const store = createBoundedMemoryStore({ maxEntries: 3 });
    const keyv = new Keyv({ store });
    for (const i of [1, 2, 3]) await keyv.set(`k${i}`, { i });
    await keyv.get('k1'); // k1 is now the most recently used
    await keyv.set('k4', { i: 4 });
    expect(store.size).toBe(3);
    expect(await keyv.get('k2')).toBeUndefined();
    expect(await keyv.get('k1')).toEqual({ i: 1 });
    expect(await keyv.get('k4')).toEqual({ i: 4 });
  });

  test('keeps at most maxBytes of values', async () => {
    const store = createBoundedMemoryStore({ maxEntries: 1000, maxBytes: 10_000 });
    const keyv = new Keyv({ store });
    for (let i = 0; i < 100; i++) await keyv.set(`big${i}`, 'x'.repeat(1000));
    expect(store.size).toBeLessThanOrEqual(10);
    expect(await keyv.get('big99')).toBe('x'.repeat(1000));
  });

  test('honours Keyv expiry and delete', async () => {
    const keyv = new Keyv({ store: createBoundedMemoryStore() });
    await keyv.set('short', 'v', 20);
    await keyv.set('long', 'v');
    await new Promise((r) => setTimeout(r, 40));
    expect(await keyv.get('short')).toBeUndefined();
    expect(await keyv.get('long')).toBe('v');
    await keyv.delete('long');
    expect(await keyv.get('long')).toBeUndefined();
  });
});
