/**
 * The `cache` option is typed and checked structurally (cache/shared-store.ts): any object with Keyv's get,
 * getMany, set, delete and on('error') is a shared store, whatever its class or keyv major. Here a store that is
 * not a Keyv at all carries a pinned document from one plugin instance to another; and one lacking a member the
 * plugin calls is refused at startup, naming the option.
 */
import { readFileSync } from 'node:fs';
import { createCimd, type SharedStore } from 'oidc-provider-cimd';

/** Not a Keyv: a Map with Keyv's calling conventions (ttl in ms; undefined for a miss). */
class MapStore implements SharedStore {
  readonly #entries = new Map<string, unknown>();
  readonly calls: string[] = [];
  async get(key: string) {
    this.calls.push('get');
    return this.#entries.get(key);
  }
  async getMany(keys: string[]) {
    this.calls.push('getMany');
    return keys.map((key) => this.#entries.get(key));
  }
  async set(key: string, value: never) {
    this.calls.push('set');
    this.#entries.set(key, structuredClone(value));
    return true;
  }
  async delete(key: string) {
    this.calls.push('delete');
    return this.#entries.delete(key);
  }
  on() {
    return this;
  }
}

const clientId = 'https://app.example.com/oauth/client-metadata.json';
const document = readFileSync(new URL('../../.ci/consumer/client.json', import.meta.url), 'utf8');

test('a store that is not a Keyv works as the shared tier', async () => {
  const store = new MapStore();
  const first = createCimd({ issuer: 'https://as.example.com', cache: store });
  first.configure({});
  await first.pin(clientId, { document });
  await first.close();
  const second = createCimd({ issuer: 'https://as.example.com', cache: store });
  second.configure({});
  try {
    const seen = await second.inspect(clientId);
    expect(seen).toMatchObject({ tier: 'shared', entry: { metadata: { client_name: 'Example App' } } });
    await second.purge(clientId);
    expect(await second.inspect(clientId)).toBeUndefined();
    // Reads go through get (the entry and its pin key), writes through set, purges leave a tombstone.
    expect(store.calls).toEqual(expect.arrayContaining(['set', 'get', 'delete']));
  } finally {
    await second.close();
  }
});

test('an object without a member the plugin calls is refused at startup', () => {
  const { getMany: _dropped, ...partial } = {
    get: async () => undefined,
    getMany: async () => [],
    set: async () => true,
    delete: async () => true,
    on: () => undefined,
  };
  expect(() => createCimd({ cache: partial as unknown as SharedStore })).toThrow(
    expect.objectContaining({ code: 'CIMD_INVALID_OPTION', option: 'cache' }),
  );
});
