/**
 * The client registry on its own: batching, merging between instances, hashed users, the size bound and its
 * eviction order, and a store that does not answer.
 */
import { jest } from '@jest/globals';
import { Keyv } from '@keyv/redis';
import { createCimd } from 'oidc-provider-cimd';
import type { ReasonCode } from '../../packages/oidc-provider-cimd/src/core/errors.js';
import { SharedGuard } from '../../packages/oidc-provider-cimd/src/core/shared-guard.js';
import type { CimdEvent } from '../../packages/oidc-provider-cimd/src/observe/events.js';
import {
  ClientRegistry,
  REGISTRY_INDEX_KEY,
  type RegistryOptions,
} from '../../packages/oidc-provider-cimd/src/observe/registry.js';

const event = (cid: string, reason: ReasonCode): CimdEvent => ({
  reason,
  cid,
  host: URL.parse(cid)?.host,
  durationMs: 1,
  tier: 'origin',
});

function setup(options: RegistryOptions = {}, store = new Keyv()) {
  let clock = 1_000_000;
  const guard = new SharedGuard({ timeoutMs: 200 });
  const registry = new ClientRegistry({ store, run: (op) => guard.run(op), now: () => clock }, options);
  return {
    store,
    registry,
    tick: (ms: number) => {
      clock += ms;
    },
    now: () => clock,
  };
}

describe('client registry', () => {
  test('first seen, last seen and last outcome, from events; non-CIMD ids and audit events are not clients', async () => {
    const { registry, tick } = setup();
    const cid = 'https://zed.dev/oauth/client-metadata.json';
    registry.noteEvent(event(cid, 'fetched'));
    const first = 1_000_000;
    tick(5000);
    registry.noteEvent(event(cid, 'cache_hit'));
    tick(5000);
    registry.noteEvent(event(cid, 'rejected:status'));
    registry.noteEvent(event('https://junk/', 'rejected:url'));
    registry.noteEvent(event('https://audited.dev/c', 'operator:purge' as ReasonCode));
    tick(1);
    registry.noteEvent(event(cid, 'client_assertion_untyped'));
    const clients = await registry.list();
    expect(clients).toEqual([
      {
        clientId: cid,
        firstSeen: first,
        lastSeen: first + 10_001,
        lastOutcome: 'rejected:status',
        lastOutcomeAt: first + 10_000,
        users: 0,
        usersCapped: false,
      },
    ]);
    await registry.close();
  });

  test('report mode: would_deny is kept apart from the outcome of the lookup that follows it', async () => {
    const { registry, tick } = setup();
    const cid = 'https://tools.acme.dev/client.json';
    registry.noteEvent(event(cid, 'would_deny'));
    registry.noteEvent(event(cid, 'fetched'));
    const reported = 1_000_000;
    tick(1000);
    registry.noteEvent(event(cid, 'cache_hit'));
    const [client] = await registry.list();
    expect(client).toMatchObject({ lastOutcome: 'cache_hit', lastWouldDenyAt: reported, lastSeen: reported + 1000 });
    await registry.close();
  });

  test('users are counted once each, by hash: no account id ever reaches the store', async () => {
    const { registry, store } = setup();
    const cid = 'https://claude.ai/oauth/claude-code-client-metadata';
    for (const account of ['alice-account-7', 'bob-account-9', 'alice-account-7']) registry.noteUser(cid, account);
    const [client] = await registry.list();
    expect(client?.users).toBe(2);
    const everything = JSON.stringify([...((store as unknown as { store: Map<string, unknown> }).store ?? new Map())]);
    expect(everything).toContain('claude-code-client-metadata');
    expect(everything).not.toContain('alice-account-7');
    expect(everything).not.toContain('bob-account-9');
    await registry.close();
  });

  test('instances sharing a store build one registry (users merged, earliest first seen, latest outcome)', async () => {
    const store = new Keyv();
    const a = setup({}, store);
    const b = setup({}, store);
    const cid = 'https://vscode.dev/oauth/client-metadata.json';
    b.tick(1000);
    a.registry.noteEvent(event(cid, 'fetched'));
    a.registry.noteUser(cid, 'alice');
    await a.registry.flush();
    b.tick(9000);
    b.registry.noteEvent(event(cid, 'cache_hit'));
    b.registry.noteUser(cid, 'bob');
    b.registry.noteUser(cid, 'alice');
    await b.registry.flush();
    const [client] = await a.registry.list();
    expect(client).toMatchObject({ clientId: cid, firstSeen: a.now(), lastOutcome: 'cache_hit', users: 2 });
    expect(client?.lastSeen).toBe(b.now());
    await a.registry.close();
    await b.registry.close();
  });

  test('batched: many sightings cost one write per client per flush', async () => {
    const { registry, store } = setup();
    const set = jest.spyOn(store, 'set');
    for (let i = 0; i < 500; i++) registry.noteEvent(event('https://busy.dev/c.json', 'cache_hit'));
    expect(set).not.toHaveBeenCalled();
    await registry.flush();
    // The client's record and the index.
    expect(set).toHaveBeenCalledTimes(2);
    await registry.close();
  });

  test('bounded: when full, junk goes first, then clients without users, oldest first', async () => {
    const { registry, tick, store } = setup({ maxClients: 3 });
    registry.noteEvent(event('https://used-old.dev/c', 'fetched'));
    registry.noteUser('https://used-old.dev/c', 'alice');
    tick(1);
    registry.noteEvent(event('https://unused.dev/c', 'fetched'));
    tick(1);
    registry.noteEvent(event('https://junk-1.dev/c', 'rejected:network'));
    await registry.flush();
    tick(1);
    registry.noteEvent(event('https://junk-2.dev/c', 'rejected:status'));
    await registry.flush();
    expect((await registry.list()).map((c) => c.clientId).sort()).toEqual([
      'https://junk-2.dev/c',
      'https://unused.dev/c',
      'https://used-old.dev/c',
    ]);
    // A flood of junk ids never pushes out the client in use.
    for (let i = 0; i < 20; i++) {
      tick(1);
      registry.noteEvent(event(`https://flood-${i}.dev/c`, 'rejected:network'));
    }
    await registry.flush();
    const ids = (await registry.list()).map((c) => c.clientId);
    expect(ids).toHaveLength(3);
    expect(ids).toContain('https://used-old.dev/c');
    expect(ids).toContain('https://unused.dev/c');
    // The dropped clients' records are gone from the store too.
    const index = (await store.get(REGISTRY_INDEX_KEY)) as { clients: Record<string, unknown> };
    expect(Object.keys(index.clients)).toHaveLength(3);
    const records = [...(store as unknown as { store: Map<string, unknown> }).store.keys()].filter((k) =>
      k.includes('cimd:registry:client:'),
    );
    expect(records).toHaveLength(3);
    await registry.close();
  });

  test('the timer writes on its own, and a client not seen within retentionMs is dropped', async () => {
    const { registry, store, tick } = setup({ flushIntervalMs: 30, retentionMs: 60_000 });
    registry.noteEvent(event('https://old.dev/c', 'fetched'));
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await store.get(REGISTRY_INDEX_KEY)).toMatchObject({ clients: expect.any(Object) });
    tick(61_000);
    registry.noteEvent(event('https://new.dev/c', 'fetched'));
    expect((await registry.list()).map((c) => c.clientId)).toEqual(['https://new.dev/c']);
    await registry.close();
  });

  test('a store that does not answer: listing fails loudly, and what was seen is written once it is back', async () => {
    const store = new Keyv();
    const { registry } = setup({}, store);
    const get = jest.spyOn(store, 'get').mockRejectedValue(new Error('down'));
    registry.noteEvent(event('https://zed.dev/oauth/client-metadata.json', 'fetched'));
    await expect(registry.list()).rejects.toThrow(/did not answer/);
    get.mockRestore();
    expect((await registry.list()).map((c) => c.clientId)).toEqual(['https://zed.dev/oauth/client-metadata.json']);
    await registry.close();
  });

  // The options table validates the registry options (plugin/options.ts); the registry takes validated ones.
  test.each([
    [{ maxClient: 5 }, /unknown option "registry.maxClient"/],
    [{ maxClients: 0 }, /registry.maxClients must be a positive integer/],
    [{ flushIntervalMs: 0 }, /registry.flushIntervalMs must be a positive number/],
  ])('%j is refused', (options, message) => {
    expect(() => createCimd({ registry: options as RegistryOptions })).toThrow(message);
  });
});
