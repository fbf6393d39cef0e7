/**
 * `new Keyv({ namespace: 'cimd' })` (the setup the docs show) shares the plugin's own key prefix. Keyv's `get` and
 * `set` leave a key that already starts with `cimd:` unprefixed, but its `getMany` prefixes every key, so reads
 * through `getMany` found nothing that `set` wrote: a second instance never saw a pin. Reads use `get` per key.
 */
import { describe, expect, test } from '@jest/globals';
import { Keyv } from '@keyv/redis';
import { createCimd } from 'oidc-provider-cimd';

const clientId = 'https://app.example.com/oauth/client-metadata.json';
const document = JSON.stringify({
  client_id: clientId,
  client_name: 'Example App',
  redirect_uris: ['https://app.example.com/callback'],
  token_endpoint_auth_method: 'none',
});

describe.each(['cimd', 'other', undefined])('a Keyv with namespace %s', (namespace) => {
  test('a second instance reads the pin from the shared store, and a purge deletes it there', async () => {
    const store = new Keyv(namespace ? { namespace } : {});
    const first = createCimd({ issuer: 'https://as.example.com', cache: store });
    first.configure({});
    await first.pin(clientId, { document });
    await first.close();
    const second = createCimd({ issuer: 'https://as.example.com', cache: store });
    second.configure({});
    try {
      const seen = await second.inspect(clientId);
      expect(seen).toMatchObject({ tier: 'shared', entry: { pinned: true, metadata: { client_name: 'Example App' } } });
      await second.purge(clientId);
      expect(await second.inspect(clientId)).toBeUndefined();
    } finally {
      await second.close();
    }
  });
});
