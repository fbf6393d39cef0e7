/**
 * Lookup order (README "What configure() does"): static clients → the deployment's own adapter → CIMD. A client the deployment
 * stores under an https id is served from its adapter, and its URL is never fetched.
 */
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { clientDoc, type DocServer, startDocServer } from '../cache/support.js';
import { getTestCertificate } from '../helpers/certs.js';
import { startProvider, type TestProvider } from '../helpers/provider.js';

describe('lookup order', () => {
  let docs: DocServer;
  let op: TestProvider;
  let cid: string;
  const asked: string[] = [];

  beforeAll(async () => {
    docs = await startDocServer();
    cid = docs.route('/order/client.json', {
      body: clientDoc(docs.cid('/order/client.json'), { client_name: 'Fetched' }),
    });
    const stored = new Map<string, AdapterPayload>([
      [
        `Client:${cid}`,
        {
          client_id: cid,
          client_name: 'Stored by the deployment',
          redirect_uris: ['https://app.example.com/cb'],
          token_endpoint_auth_method: 'none',
          grant_types: ['authorization_code'],
          response_types: ['code'],
        },
      ],
    ]);
    // The deployment's own adapter, holding a client provisioned under an https id (e.g. imported from a database).
    const adapter = (name: string): Adapter => ({
      async find(id) {
        if (name === 'Client') asked.push(id);
        return stored.get(`${name}:${id}`);
      },
      async upsert(id, payload) {
        stored.set(`${name}:${id}`, payload);
      },
      async destroy(id) {
        stored.delete(`${name}:${id}`);
      },
      async consume() {},
      async findByUid() {
        return undefined;
      },
      async findByUserCode() {
        return undefined;
      },
      async revokeByGrantId() {},
    });
    const { cert } = await getTestCertificate();
    op = await startProvider({ cimd: { ca: cert, allowLoopback: true }, config: { adapter } });
  });
  afterAll(async () => {
    await op.close();
    await docs.close();
  });

  test("the deployment's adapter is asked before CIMD: its client is served and the URL is never fetched", async () => {
    const client = await op.provider.Client.find(cid);
    expect(client?.clientName).toBe('Stored by the deployment');
    expect(asked).toContain(cid);
    expect(docs.hits('/order/client.json')).toBe(0);
    expect(op.events.filter((e) => e.cid === cid)).toEqual([]);
  });

  test('an https id the adapter does not know falls through to CIMD', async () => {
    const other = docs.route('/order/other.json', { body: clientDoc(docs.cid('/order/other.json')) });
    const client = await op.provider.Client.find(other);
    expect(client?.clientId).toBe(other);
    expect(docs.hits('/order/other.json')).toBe(1);
  });
});
