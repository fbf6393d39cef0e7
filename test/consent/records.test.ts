/**
 * The first-seen record costs one shared-store read per client per process, not one per authorization; a
 * failed read or write is not remembered, so the record is still written once the store answers.
 */
import { Keyv } from '@keyv/redis';
import { ConsentRecords } from '../../packages/oidc-provider-cimd/src/consent/records.js';
import { SharedGuard } from '../../packages/oidc-provider-cimd/src/core/shared-guard.js';

function countingStore() {
  const map = new Map<string, unknown>();
  const counts = { get: 0, set: 0 };
  let down = false;
  const store = {
    get(key: string) {
      counts.get++;
      if (down) throw new Error('store down');
      return map.get(key);
    },
    set(key: string, value: unknown) {
      counts.set++;
      if (down) throw new Error('store down');
      map.set(key, value);
      return true;
    },
    delete: (key: string) => map.delete(key),
    clear: () => map.clear(),
  };
  return { store, counts, setDown: (value: boolean) => (down = value) };
}

const records = (store: object) =>
  new ConsentRecords({
    store: new Keyv({ store, throwOnErrors: true }),
    guard: new SharedGuard({ timeoutMs: 200 }),
    now: Date.now,
    ttlMs: 60_000,
    maxUsers: 5,
  });

test('noteSeen reads and writes the record once, then answers from this process', async () => {
  const { store, counts } = countingStore();
  const r = records(store);
  for (let i = 0; i < 5; i++) await r.noteSeen('https://app.acme.com/c.json');
  expect(counts).toEqual({ get: 1, set: 1 });
  const stored = await r.client('https://app.acme.com/c.json');
  expect(stored.ok && typeof stored.value?.firstSeen).toBe('number');
});

test('an existing record is read once per process', async () => {
  const { store, counts } = countingStore();
  await records(store).noteSeen('https://app.acme.com/c.json');
  const other = records(store); // another instance sharing the store
  for (let i = 0; i < 3; i++) await other.noteSeen('https://app.acme.com/c.json');
  expect(counts).toEqual({ get: 2, set: 1 });
});

test('while the store is down nothing is remembered, and the record is written once it is back', async () => {
  const { store, counts, setDown } = countingStore();
  const r = records(store);
  setDown(true);
  await r.noteSeen('https://app.acme.com/c.json');
  await r.noteSeen('https://app.acme.com/c.json');
  expect(counts.get).toBe(2);
  setDown(false);
  await r.noteSeen('https://app.acme.com/c.json');
  expect(counts.set).toBe(1);
  expect((await r.client('https://app.acme.com/c.json')).ok).toBe(true);
});
