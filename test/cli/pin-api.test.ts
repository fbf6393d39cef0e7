/**
 * The plugin methods behind `cimd pin` / `cimd unpin`, on the default in-memory store: a pinned client is
 * validated once, then served without any fetch whatever time passes and whatever its host does, until unpinned.
 */
import { Keyv } from '@keyv/redis';
import { type Cimd, CimdError, createCimd } from 'oidc-provider-cimd';
import { getTestCertificate } from '../helpers/certs.js';
import { clientDoc, type DocServer, startDocServer } from './support.js';

let docs: DocServer;
let clock: number;
let plugin: Cimd;

beforeEach(async () => {
  docs = await startDocServer();
  clock = Date.now();
  const { cert } = await getTestCertificate();
  plugin = createCimd({
    issuer: 'http://localhost',
    allowLoopback: true,
    ca: cert,
    failureBackoffMs: 0,
    now: () => clock,
  });
  plugin.configure({});
});
afterEach(async () => {
  await plugin.close();
  await docs.close();
});

test('pin fetches once; the client then resolves with no fetch, days later, host down, any redirect_uri', async () => {
  const cid = docs.route('/p.json', {
    body: clientDoc(docs.cid('/p.json')),
    headers: { 'cache-control': 'max-age=60' },
  });
  const entry = await plugin.pin(cid);
  expect(entry).toMatchObject({ cid, pinned: true, metadata: { client_name: 'Test App' } });
  expect(docs.hits('/p.json')).toBe(1);

  clock += 3 * 24 * 60 * 60 * 1000;
  await docs.close();
  expect(await plugin.resolve(cid, { redirectUri: 'https://app.example.com/unknown' })).toMatchObject({ pinned: true });
  expect(await plugin.inspect(cid)).toMatchObject({ fresh: true, expiresInMs: Number.POSITIVE_INFINITY });

  expect(await plugin.unpin(cid)).toBe(true);
  await expect(plugin.resolve(cid)).rejects.toMatchObject({ code: 'rejected:network' });
  expect(await plugin.unpin(cid)).toBe(false);
});

test('pin with a document: validated against the client_id, never fetched', async () => {
  const cid = docs.cid('/never-served.json');
  const entry = await plugin.pin(cid, { document: Buffer.from(JSON.stringify(clientDoc(cid))) });
  expect(entry.pinned).toBe(true);
  expect(await plugin.resolve(cid)).toMatchObject({ pinned: true });
  expect(docs.totalHits).toBe(0);
});

test('a rejected id or document is not pinned, and an earlier entry is left alone', async () => {
  const cid = docs.route('/keep.json', { body: clientDoc(docs.cid('/keep.json'), { client_name: 'cached' }) });
  await plugin.resolve(cid);

  const mismatch = plugin.pin(cid, { document: JSON.stringify(clientDoc('https://other.example.com/c.json')) });
  await expect(mismatch).rejects.toBeInstanceOf(CimdError);
  await expect(mismatch).rejects.toMatchObject({ code: 'rejected:client_id_mismatch' });
  await expect(plugin.pin(cid, { document: '{"client_id":' })).rejects.toMatchObject({ code: 'rejected:json' });
  await expect(plugin.pin('https://app.example.com/', { document: '{}' })).rejects.toMatchObject({
    code: 'rejected:url',
    rule: 'root_path',
  });
  const kept = await plugin.inspect(cid);
  expect(kept?.entry.pinned).toBeUndefined();
  expect(kept?.entry.metadata.client_name).toBe('cached');
});

test('refresh keeps a pin (with the new document); purge removes it', async () => {
  const cid = docs.route('/r.json', { body: clientDoc(docs.cid('/r.json'), { client_name: 'one' }) });
  await plugin.pin(cid);
  docs.route('/r.json', { body: clientDoc(cid, { client_name: 'two' }) });
  expect(await plugin.refresh(cid)).toMatchObject({ pinned: true, metadata: { client_name: 'two' } });
  await plugin.purge(cid);
  expect(await plugin.inspect(cid)).toBeUndefined();
  expect(await plugin.unpin(cid)).toBe(false);
});

test('a pin the shared store does not confirm is an error, and nothing is kept', async () => {
  const store = new Keyv();
  store.set = async () => false;
  const { cert } = await getTestCertificate();
  const shaky = createCimd({ issuer: 'http://localhost', allowLoopback: true, ca: cert, cache: store });
  shaky.configure({});
  try {
    const cid = docs.cid('/unconfirmed.json');
    await expect(shaky.pin(cid, { document: JSON.stringify(clientDoc(cid)) })).rejects.toThrow(
      /shared store did not confirm the pinned entry/,
    );
    expect(await shaky.inspect(cid)).toBeUndefined();
  } finally {
    await shaky.close();
  }
});
